// The S3 lake: artifacts as objects `<prefix><key>` in one bucket (DigitalOcean
// Spaces in production, any S3-compatible server). One PUT per artifact, so a
// reader sees the old object or the new one; copies run server-side. Every call
// is bounded: the SDK's timeouts fail one attempt, our deadline the whole call.
import type { Readable } from "node:stream";
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  type GetObjectCommandOutput,
} from "@aws-sdk/client-s3";
import type { ArtifactBody } from "../artifact/artifact.ts";
import { ArtifactError, ConfigError, errorMessage, SourceError, UserError } from "../core/errors.ts";
import {
  checkFolder, checkKey, checkDocumentName, isArtifactKey, isOurFolder, StorageError, type ArtifactInfo, type ByteRanges, type Lake, type Listing, type WriteOptions,
} from "./keys.ts";
import { redact } from "../core/redact.ts";

export interface S3Settings {
  endpoint: string;
  accessKeyId: string | undefined;
  secretAccessKey: string | undefined;
  /** Idle timeout of one request, in ms: no byte for this long fails the attempt. */
  timeoutMs: number;
  /** Total deadline of one call, in ms: connect, answer, body and the SDK's own retries together. */
  deadlineMs: number;
  /** Largest object read, in bytes: a larger one fails at once. */
  maxBytes: number;
}

// The lockfile pins an SDK release that supports Node 20; its notice about future releases is not for our users.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

/** The SDK would print warnings of its own (timeouts, busy sockets) beside the one line our errors give. */
const QUIET = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

const clients = new Map<string, S3Client>();

/** One client per endpoint, key and timeout: lakes in the same endpoint share connections. */
function clientFor(settings: S3Settings): S3Client {
  const id = `${settings.endpoint}\n${settings.accessKeyId}\n${settings.timeoutMs}\n${settings.deadlineMs}`;
  let client = clients.get(id);
  if (!client) {
    const host = new URL(settings.endpoint).hostname;
    client = new S3Client({
      endpoint: settings.endpoint,
      // Spaces and most S3-compatible servers ignore the region, but the signature needs one.
      region: process.env.AWS_REGION ?? "us-east-1",
      // Virtual-host addressing needs DNS per bucket: only AWS itself is sure to have it.
      forcePathStyle: !host.endsWith("amazonaws.com"),
      credentials: { accessKeyId: settings.accessKeyId!, secretAccessKey: settings.secretAccessKey! },
      // Newer SDKs add CRC checksums that some S3-compatible servers reject; MD5/ETag are enough here.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      logger: QUIET,
      requestHandler: {
        connectionTimeout: Math.min(10_000, settings.timeoutMs),
        // Idle: a server that accepts and never answers, or stops sending, fails the attempt.
        socketTimeout: settings.timeoutMs,
        // Until the answer's headers (an upload included); without throwOnRequestTimeout the SDK only logs it.
        requestTimeout: settings.deadlineMs,
        throwOnRequestTimeout: true,
        logger: QUIET,
      },
    });
    clients.set(id, client);
  }
  return client;
}

export function s3Lake(bucket: string, prefix: string, label: string, settings: S3Settings): S3Lake {
  if (!settings.accessKeyId || !settings.secretAccessKey) {
    throw new ConfigError(`${label}: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set to use an S3 lake`);
  }
  return new S3Lake(clientFor(settings), bucket, prefix, label, settings);
}

/** Our deadline for one call ran out. */
class DeadlineExceeded extends Error {}

export class S3Lake implements Lake {
  readonly endpoint: string;
  constructor(
    private readonly client: S3Client,
    readonly bucket: string,
    /** Empty, or ends with `/`. */
    readonly prefix: string,
    readonly label: string,
    private readonly settings: Pick<S3Settings, "endpoint" | "timeoutMs" | "deadlineMs" | "maxBytes">,
  ) {
    this.endpoint = settings.endpoint;
  }

  async list(): Promise<Listing> {
    const artifacts: ArtifactInfo[] = [];
    const refused: string[] = [];
    for await (const page of this.pages(this.prefix)) {
      for (const object of page.Contents ?? []) {
        const name = object.Key!.slice(this.prefix.length);
        if (isOurFolder(name.split("/")[0]!) && name.includes("/")) continue; // promote backups
        if (!isArtifactKey(name)) refused.push(name);
        else artifacts.push({ key: name, size: object.Size ?? 0, lastModified: object.LastModified ?? new Date(0), etag: object.ETag });
      }
    }
    artifacts.sort((a, b) => (a.key < b.key ? -1 : 1));
    return { artifacts, refused };
  }

  /** The answers of a listing, following continuation tokens: a lake holds far more than the 1,000 keys of one answer. */
  private async *pages(prefix: string, delimiter?: string) {
    let token: string | undefined;
    do {
      const page = await this.call("list", (abortSignal) =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: delimiter, ContinuationToken: token }), { abortSignal }));
      yield page;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** The bucket answers a listing of the lake's prefix with these keys: one small, bounded request. */
  async checkUsable(): Promise<void> {
    await this.call(`list bucket ${this.bucket}`, (abortSignal) =>
      this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, MaxKeys: 1 }), { abortSignal }), undefined, true);
  }

  async read(key: string): Promise<Buffer | undefined> {
    return this.get(this.prefix + checkKey(key), key);
  }

  /** Ranges by GET with a Range header, each only while the object keeps the ETag its HEAD gave (else it fails). */
  async readRanges<T>(key: string, use: (ranges: ByteRanges) => Promise<T>): Promise<T | undefined> {
    const objectKey = this.prefix + checkKey(key);
    const head = await this.call(`read ${key}`, async (abortSignal) => {
      try {
        return await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }), { abortSignal });
      } catch (error) {
        if (isMissingKey(error)) return undefined;
        throw error;
      }
    });
    if (!head) return undefined;
    const size = head.ContentLength ?? 0;
    return use({
      size,
      read: (start, end) => this.call(`read ${key}`, async (abortSignal) => {
        const answer = await this.client.send(new GetObjectCommand({
          Bucket: this.bucket, Key: objectKey, Range: `bytes=${start}-${end - 1}`, IfMatch: head.ETag,
        }), { abortSignal });
        // A server that ignores If-Match (s3rver does) sends the new version: its ETag says so.
        if (answer.ETag !== head.ETag) {
          (answer.Body as Readable).destroy();
          throw new ArtifactError(`${this.label}: cannot read ${key}: it changed while it was read`);
        }
        const bytes = await this.body(answer, key, abortSignal);
        // A server that ignores Range answers with the whole object: not what was asked.
        if (bytes.length !== end - start) throw new ArtifactError(`${this.label}: cannot read ${key}: asked for ${end - start} bytes at ${start}, the server sent ${bytes.length}`);
        return bytes;
      }),
    });
  }

  async write(key: string, bytes: Uint8Array | ArtifactBody, options: WriteOptions = {}): Promise<void> {
    const body = bytes instanceof Uint8Array ? bytes : Buffer.concat([...bytes.chunks()], bytes.length);
    try {
      await this.put(this.prefix + checkKey(key), body, key, options.exclusive);
    } catch (error) {
      // If-None-Match: * refused: the key exists (servers that ignore the header just overwrite).
      if (options.exclusive && error instanceof ArtifactError && /changed since it was checked/.test(error.message)) {
        throw new StorageError(`${this.label}: cannot write ${key}: it already exists (EEXIST)`, "EEXIST");
      }
      throw error;
    }
  }

  async copy(fromKey: string, toKey: string): Promise<void> {
    await this.copyFrom(this, fromKey, toKey);
  }

  /**
   * Server-side copy from a lake on the same endpoint (another bucket too); false when the
   * source is elsewhere. `ifMatch`: the ETag the source must still have (quoted MD5 of one PUT).
   * A server that ignores that condition (s3rver does) copies whatever the source holds now:
   * the copy's own ETag then differs, and the copy is refused as a changed source would be.
   */
  async copyFrom(source: Lake, fromKey: string, toKey: string, ifMatch?: string): Promise<"server-side" | false> {
    if (!(source instanceof S3Lake) || source.client !== this.client) return false;
    const from = `${source.bucket}/${source.prefix}${checkKey(fromKey)}`;
    const what = `copy ${fromKey} to ${toKey}`;
    const other = source === this ? undefined : source;
    const answer = await this.call(what, (abortSignal) =>
      this.client.send(new CopyObjectCommand({
        Bucket: this.bucket,
        Key: this.prefix + checkKey(toKey),
        CopySource: from.split("/").map(encodeURIComponent).join("/"),
        CopySourceIfMatch: ifMatch,
      }), { abortSignal }), other);
    const copied = answer.CopyObjectResult?.ETag;
    if (ifMatch && copied && isSinglePutEtag(ifMatch) && isSinglePutEtag(copied) && copied !== ifMatch) {
      throw new ArtifactError(`${this.where(other)}: cannot ${what}: the source changed since it was checked (the server copied other bytes)`);
    }
    return "server-side";
  }

  async delete(key: string): Promise<void> {
    await this.call(`delete ${key}`, (abortSignal) =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + checkKey(key) }), { abortSignal }));
  }

  folder(name: string): S3Lake {
    return new S3Lake(this.client, this.bucket, `${this.prefix}${checkFolder(name)}/`, `${this.label}/${name}`, this.settings);
  }

  async folders(name: string): Promise<string[]> {
    const prefix = `${this.prefix}${checkFolder(name)}/`;
    const found: string[] = [];
    for await (const page of this.pages(prefix, "/")) {
      for (const common of page.CommonPrefixes ?? []) found.push(common.Prefix!.slice(prefix.length, -1));
    }
    return found.sort();
  }

  async readDocument(name: string): Promise<string | undefined> {
    return (await this.get(this.prefix + checkDocumentName(name), name))?.toString("utf8");
  }

  async writeDocument(name: string, text: string): Promise<void> {
    await this.put(this.prefix + checkDocumentName(name), Buffer.from(text), name);
  }

  private async get(objectKey: string, name: string): Promise<Buffer | undefined> {
    return this.call(`read ${name}`, async (abortSignal) => {
      let answer: GetObjectCommandOutput;
      try {
        answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: objectKey }), { abortSignal });
      } catch (error) {
        if (isMissingKey(error)) {
          return undefined;
        }
        throw error;
      }
      return this.body(answer, name, abortSignal);
    });
  }

  /** An object's bytes, refused at once when it is larger than the cap (by its length, else as it arrives). */
  private async body(answer: GetObjectCommandOutput, name: string, abortSignal: AbortSignal): Promise<Buffer> {
    const stream = answer.Body as Readable;
    const tooLarge = (size: number) => {
      stream.destroy();
      const mb = (bytes: number) => `${Math.ceil(bytes / 1e6)} MB`;
      return new SourceError(`${this.label}: cannot read ${name}: it is ${mb(size)}${answer.ContentLength === undefined ? " or more" : ""}, more than the ${mb(this.settings.maxBytes)} DATA_PIPELINES_HTTP_MAX_MB allows`, false);
    };
    if (answer.ContentLength !== undefined && answer.ContentLength > this.settings.maxBytes) throw tooLarge(answer.ContentLength);
    abortSignal.addEventListener("abort", () => stream.destroy(), { once: true }); // a body that stalls must not hold the process
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of stream) {
      size += (chunk as Buffer).length;
      if (size > this.settings.maxBytes) throw tooLarge(size);
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks, size);
  }

  private async put(objectKey: string, body: Uint8Array, name: string, onlyIfNew = false): Promise<void> {
    await this.call(`write ${name}`, (abortSignal) =>
      this.client.send(new PutObjectCommand({
        Bucket: this.bucket, Key: objectKey, Body: body, ContentLength: body.length, IfNoneMatch: onlyIfNew ? "*" : undefined,
      }), { abortSignal }));
  }

  /**
   * One SDK call, bounded by our deadline (the SDK's timeouts bound each attempt, not its
   * retries nor the body); its failure becomes one line. `other`: the lake a copy reads from.
   */
  private async call<T>(what: string, request: (abortSignal: AbortSignal) => Promise<T>, other?: S3Lake, nameEndpoint = false): Promise<T> {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new DeadlineExceeded();
        controller.abort(error); // the SDK destroys the request, so no socket keeps the process waiting
        reject(error);
      }, this.settings.deadlineMs);
    });
    try {
      return await Promise.race([request(controller.signal), expired]);
    } catch (error) {
      const failure = this.failure(what, error, other);
      if (nameEndpoint && !failure.message.includes(this.endpoint)) failure.message += ` (${this.endpoint})`;
      throw failure;
    } finally {
      clearTimeout(timer);
    }
  }

  private where(other?: S3Lake): string {
    return `${this.label}${other ? ` (from ${other.label})` : ""}`;
  }

  /** One line that says what failed where; never the credentials. */
  private failure(what: string, error: unknown, other?: S3Lake): Error {
    if (error instanceof UserError) return error; // ours already (an object over the cap)
    const cannot = `${this.where(other)}: cannot ${what}`;
    if (error instanceof DeadlineExceeded) {
      return new SourceError(`${cannot}: ${this.endpoint} did not answer within ${seconds(this.settings.deadlineMs)} (DATA_PIPELINES_HTTP_DEADLINE_SECONDS)`, true);
    }
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    // S3's own error codes (from its XML); an answer that is not S3's XML has none, or the SDK's "Unknown".
    const code = error instanceof S3ServiceException && !["Unknown", "UnknownError"].includes(error.name) ? error.name : undefined;
    const detail = code ? `${code}${status ? ` (HTTP ${status})` : ""}` : `HTTP ${status} from ${this.endpoint} (${serverSaid(error)})`;
    if (code === "NoSuchBucket") {
      return new ArtifactError(`${cannot}: bucket ${other && errorMessage(error).includes(other.bucket) ? other.bucket : this.bucket} does not exist at ${this.endpoint}`);
    }
    if (status !== undefined) {
      if (["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden"].includes(code ?? "") || status === 403) {
        return new ConfigError(`${cannot}: ${detail}: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`);
      }
      if (code === "PreconditionFailed" || status === 412) return new ArtifactError(`${cannot}: the source changed since it was checked`);
      if (code === "NoSuchKey" || status === 404) return new ArtifactError(`${cannot}: no such artifact`);
      return new SourceError(`${cannot}: ${detail}`, status === 408 || status === 429 || status >= 500);
    }
    const name = (error as { name?: string }).name;
    if (name === "TimeoutError") {
      return new SourceError(`${cannot}: ${this.endpoint} did not answer within ${seconds(this.settings.timeoutMs)} (DATA_PIPELINES_HTTP_TIMEOUT_SECONDS)`, true);
    }
    const errno = (error as { code?: string }).code;
    return new SourceError(`${cannot}: ${this.endpoint} did not answer (${errno ?? firstLine(errorMessage(error))})`, true);
  }
}

/** The object is not there (a GET's NoSuchKey, a HEAD's bare 404), as opposed to its bucket. */
function isMissingKey(error: unknown): boolean {
  return error instanceof S3ServiceException && (error.name === "NoSuchKey" || error.$metadata.httpStatusCode === 404) && error.name !== "NoSuchBucket";
}

/** `"<32 hex>"`: the ETag of an object made by one PUT or a copy (a multipart upload's has a `-<parts>` suffix). */
function isSinglePutEtag(etag: string): boolean {
  return /^"[0-9a-f]{32}"$/i.test(etag);
}

/** The reason and the start of the body of an answer that is not S3's XML (a proxy's HTML page), in one short line. */
function serverSaid(error: unknown): string {
  const reason = (error as { $response?: { reason?: string } }).$response?.reason;
  const body = (error as { $responseBodyText?: string }).$responseBodyText ?? "";
  let text = body.replace(/<(head|script|style)\b[^>]*>[\s\S]*?<\/\1>/gi, " ").replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim();
  if (reason && text.startsWith(reason)) text = text.slice(reason.length).trim();
  if (text.length > 160) text = `${text.slice(0, 159)}…`;
  return redact([reason ?? "no reason given", text].filter(Boolean).join(": "));
}

function firstLine(text: string): string {
  return text.split("\n")[0]!.trim();
}

function seconds(ms: number): string {
  return `${ms / 1000} s`;
}
