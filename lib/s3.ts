// The S3 lake: artifacts as objects `<prefix><key>` in one bucket (DigitalOcean
// Spaces in production, any S3-compatible server). One PUT per artifact, so a
// reader sees the old object or the new one; copies run server-side.
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import type { ArtifactBody } from "./artifact.ts";
import { ArtifactError, ConfigError, errorMessage, SourceError } from "./errors.ts";
import { checkFolder, checkKey, checkDocumentName, isArtifactKey, isOurFolder, type ArtifactInfo, type Lake, type Listing } from "./lake.ts";

export interface S3Settings {
  endpoint: string;
  accessKeyId: string | undefined;
  secretAccessKey: string | undefined;
  /** Per request, in ms. */
  timeoutMs: number;
}

// The lockfile pins an SDK release that supports Node 20; its notice about future releases is not for our users.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const clients = new Map<string, S3Client>();

/** One client per endpoint and key: lakes in the same endpoint share connections. */
function clientFor(settings: S3Settings): S3Client {
  const id = `${settings.endpoint}\n${settings.accessKeyId}`;
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
      requestHandler: { requestTimeout: settings.timeoutMs, connectionTimeout: 10_000 },
    });
    clients.set(id, client);
  }
  return client;
}

export function s3Lake(bucket: string, prefix: string, label: string, settings: S3Settings): S3Lake {
  if (!settings.accessKeyId || !settings.secretAccessKey) {
    throw new ConfigError(`${label}: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set to use an S3 lake`);
  }
  return new S3Lake(clientFor(settings), bucket, prefix, label, settings.endpoint);
}

export class S3Lake implements Lake {
  constructor(
    private readonly client: S3Client,
    readonly bucket: string,
    /** Empty, or ends with `/`. */
    readonly prefix: string,
    readonly label: string,
    readonly endpoint: string,
  ) {}

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
      const page = await this.send("list", () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: delimiter, ContinuationToken: token })));
      yield page;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async read(key: string): Promise<Buffer | undefined> {
    return this.get(this.prefix + checkKey(key), key);
  }

  async write(key: string, bytes: Uint8Array | ArtifactBody): Promise<void> {
    const body = bytes instanceof Uint8Array ? bytes : Buffer.concat([...bytes.chunks()], bytes.length);
    await this.put(this.prefix + checkKey(key), body, key);
  }

  async copy(fromKey: string, toKey: string): Promise<void> {
    await this.copyFrom(this, fromKey, toKey);
  }

  /**
   * Server-side copy from a lake on the same endpoint (another bucket too); false when the
   * source is elsewhere. `ifMatch`: the ETag the source must still have (quoted MD5 of one PUT).
   */
  async copyFrom(source: Lake, fromKey: string, toKey: string, ifMatch?: string): Promise<"server-side" | false> {
    if (!(source instanceof S3Lake) || source.client !== this.client) return false;
    const from = `${source.bucket}/${source.prefix}${checkKey(fromKey)}`;
    await this.send(`copy ${fromKey} to ${toKey}`, () =>
      this.client.send(new CopyObjectCommand({
        Bucket: this.bucket,
        Key: this.prefix + checkKey(toKey),
        CopySource: from.split("/").map(encodeURIComponent).join("/"),
        CopySourceIfMatch: ifMatch,
      })), source === this ? undefined : source);
    return "server-side";
  }

  async delete(key: string): Promise<void> {
    await this.send(`delete ${key}`, () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + checkKey(key) })));
  }

  folder(name: string): S3Lake {
    return new S3Lake(this.client, this.bucket, `${this.prefix}${checkFolder(name)}/`, `${this.label}/${name}`, this.endpoint);
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
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: objectKey }));
      return Buffer.from(await answer.Body!.transformToByteArray());
    } catch (error) {
      if (error instanceof S3ServiceException && (error.name === "NoSuchKey" || error.$metadata.httpStatusCode === 404) && error.name !== "NoSuchBucket") {
        return undefined;
      }
      throw this.failure(`read ${name}`, error);
    }
  }

  private async put(objectKey: string, body: Uint8Array, name: string): Promise<void> {
    await this.send(`write ${name}`, () => this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: objectKey, Body: body, ContentLength: body.length })));
  }

  private async send<T>(what: string, request: () => Promise<T>, other?: S3Lake): Promise<T> {
    try {
      return await request();
    } catch (error) {
      throw this.failure(what, error, other);
    }
  }

  /** One line that says what failed where; never the credentials. */
  private failure(what: string, error: unknown, other?: S3Lake): Error {
    const where = `${this.label}${other ? ` (from ${other.label})` : ""}`;
    if (error instanceof S3ServiceException) {
      const status = error.$metadata.httpStatusCode;
      const detail = `${error.name}${status ? ` (HTTP ${status})` : ""}`;
      if (error.name === "NoSuchBucket") return new ArtifactError(`${where}: cannot ${what}: bucket ${other && error.message.includes(other.bucket) ? other.bucket : this.bucket} does not exist at ${this.endpoint}`);
      if (["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden"].includes(error.name) || status === 403) {
        return new ConfigError(`${where}: cannot ${what}: ${detail}: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`);
      }
      if (error.name === "PreconditionFailed" || status === 412) return new ArtifactError(`${where}: cannot ${what}: the source changed since it was checked`);
      if (error.name === "NoSuchKey" || status === 404) return new ArtifactError(`${where}: cannot ${what}: no such artifact`);
      return new SourceError(`${where}: cannot ${what}: ${detail}`, status === undefined || status === 429 || status >= 500);
    }
    const code = (error as { code?: string }).code;
    return new SourceError(`${where}: cannot ${what}: ${this.endpoint} did not answer (${code ?? errorMessage(error)})`, true);
  }
}
