// HTTP to sources. Every request is bounded: an idle timeout (no byte for that long), a total
// deadline (connect, headers and the whole body) and a cap on the answer's size. Failures are
// classified here, in one place (statusError, for lib/sources/polygon.ts too): network errors, timeouts,
// a body cut short or not JSON, HTTP 408, 429 and 5xx are transient (lib/run/retry.ts retries them);
// other 4xx, 402, redirects, an answer over the cap and a Retry-After over its cap are permanent.
// Messages name the source by origin and path only, redacted: never a query string.
import { isAscii } from "node:buffer";
import type { Dispatcher } from "undici";
import type { Config } from "../config/config.ts";
import { errorMessage, SourceError } from "../core/errors.ts";
import { redact } from "../core/redact.ts";
import type { Turn } from "../core/turns.ts";
import { undici } from "../core/undici.ts";

/** The limits of one request, from the configuration (see httpBounds). */
export interface HttpBounds {
  /** Idle timeout: no byte for this long fails the request (DATA_PIPELINES_HTTP_TIMEOUT_SECONDS). */
  timeoutMs: number;
  /** Total deadline: connect, headers and the whole body (DATA_PIPELINES_HTTP_DEADLINE_SECONDS). */
  deadlineMs: number;
  /** Largest answer accepted, in bytes (DATA_PIPELINES_HTTP_MAX_MB). */
  maxBytes: number;
  /** Longest Retry-After honoured (DATA_PIPELINES_RETRY_AFTER_MAX_SECONDS). */
  retryAfterMaxMs: number;
}

export function httpBounds(config: Pick<Config, "httpTimeoutMs" | "httpDeadlineMs" | "httpMaxBytes" | "retryAfterMaxMs">): HttpBounds {
  return {
    timeoutMs: timerMs(config.httpTimeoutMs),
    deadlineMs: timerMs(config.httpDeadlineMs),
    maxBytes: config.httpMaxBytes,
    retryAfterMaxMs: config.retryAfterMaxMs,
  };
}

/** Node's timers fire at once past 2^31 - 1 ms (24.8 days): a longer bound is that long. */
function timerMs(ms: number): number {
  return Math.min(ms, 2 ** 31 - 1);
}

export interface PostOptions extends HttpBounds {
  /** What is being asked, for messages: "Verra window 2021-03". */
  what: string;
  query?: Record<string, string>;
  /** Aborted when the request is no longer wanted (another request of the run failed): a permanent failure. */
  signal?: AbortSignal;
  /** In a build of many flows in one process: the answer is decoded and parsed on the flow's turn (lib/core/turns.ts). */
  turn?: Turn;
}

/** How much of an error answer is read, for its message. */
const ERROR_BODY_BYTES = 4096;

export async function postJson(url: string, body: unknown, options: PostOptions): Promise<unknown> {
  const target = new URL(url);
  for (const [k, v] of Object.entries(options.query ?? {})) target.searchParams.set(k, v);
  const where = `${options.what} (${redact(`${target.origin}${target.pathname}`)})`;
  // One signal stops the request, for the deadline or for the caller; which one it was decides the message.
  const stop = new AbortController();
  let pastDeadline = false;
  const timer = setTimeout(() => {
    pastDeadline = true;
    stop.abort();
  }, options.deadlineMs);
  const cancel = () => stop.abort();
  options.signal?.addEventListener("abort", cancel);
  const stopped = (): SourceError | undefined => {
    if (pastDeadline) return new SourceError(`${where}: no complete answer within ${seconds(options.deadlineMs)} s (DATA_PIPELINES_HTTP_DEADLINE_SECONDS)`, true);
    if (options.signal?.aborted) return new SourceError(`${where}: cancelled, another request of this run failed`, false);
    return undefined;
  };
  try {
    if (options.signal?.aborted) throw stopped()!;
    let response: Dispatcher.ResponseData;
    try {
      const { request } = undici();
      response = await request(target, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify(body),
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
        signal: stop.signal,
      });
    } catch (error) {
      throw stopped() ?? new SourceError(`${where}: ${describeNetworkError(error, options.timeoutMs)}`, true);
    }
    return await readAnswer(response, target, where, options);
  } catch (error) {
    if (error instanceof SourceError) throw error;
    throw stopped() ?? new SourceError(`${where}: answer ${describeBodyError(error, options.timeoutMs)}`, true);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", cancel);
  }
}

/** The JSON of a 2xx answer, read once and within the cap; any other answer as a SourceError. */
async function readAnswer(response: Dispatcher.ResponseData, target: URL, where: string, bounds: PostOptions): Promise<unknown> {
  const { statusCode: status, headers, body } = response;
  // Stopping a body early (body.destroy()) makes undici emit an abort error: expected here, never a crash.
  // Errors while reading still reach the loops below, which read the body as an async iterator.
  body.on("error", () => {});
  if (status >= 300 && status < 400) {
    body.destroy();
    throw redirectError(where, status, headerValue(headers.location), target);
  }
  if (status >= 400) {
    const text = (await readUpTo(body, ERROR_BODY_BYTES)).toString("utf8");
    throw statusError(where, status, parseRetryAfter(headers["retry-after"]), bounds.retryAfterMaxMs, snippet(text));
  }
  const declared = Number(headerValue(headers["content-length"]) ?? Number.NaN);
  if (declared > bounds.maxBytes) {
    body.destroy();
    throw tooLargeError(where, bounds.maxBytes, `its Content-Length says ${megabytes(declared)} MB`);
  }
  const { text, size } = await readText(body, bounds.maxBytes, Number.isSafeInteger(declared) ? declared : undefined, where, bounds.turn);
  try {
    return JSON.parse(text);
  } catch {
    throw new SourceError(`${where}: answer is not valid JSON (${size} bytes${snippet(unescaped(text.slice(0, 1000)))})`, true);
  }
}

/** The body as JSON text (see asciiJson) and its size in bytes. Its bytes are not referenced once decoded, so that JSON.parse does not run beside them. */
async function readText(body: Dispatcher.ResponseData["body"], maxBytes: number, declared: number | undefined, where: string, turn?: Turn): Promise<{ text: string; size: number }> {
  const bytes = await readCapped(body, maxBytes, declared, where);
  if (turn) await turn();
  try {
    return { text: asciiJson(bytes), size: bytes.length };
  } catch (error) {
    // V8 strings hold at most ~536 M characters: asking again would fail the same way.
    throw new SourceError(`${where}: answer of ${megabytes(bytes.length)} MB cannot be decoded (${errorMessage(error)}); lower DATA_PIPELINES_HTTP_MAX_MB`, false);
  }
}

const HEX = "0123456789abcdef";
const ASCII_BLOCK = 512;

/**
 * UTF-8 JSON as text that JSON.parse reads to the same value, in ASCII: each character past ASCII
 * written as its \u escape (outside a JSON string such a character is an error either way). One
 * character past Latin-1 makes V8 hold a whole decoded answer at two bytes per character; in ASCII
 * it takes one, and decoding and parsing it are faster (docs/architecture.md §6). Bytes that are
 * not UTF-8 become U+FFFD, as a decoding of the whole answer makes them.
 */
export function asciiJson(bytes: Buffer): string {
  if (isAscii(bytes)) return bytes.toString("latin1");
  const parts: string[] = [];
  let copied = 0;
  for (let block = 0; block < bytes.length; block += ASCII_BLOCK) {
    const end = Math.min(block + ASCII_BLOCK, bytes.length);
    if (isAscii(bytes.subarray(block, end))) continue;
    for (let i = Math.max(block, copied); i < end; i++) {
      if (bytes[i]! < 0x80) continue;
      // A run of bytes past ASCII holds whole characters: an ASCII byte never continues one.
      let stop = i + 1;
      while (stop < bytes.length && bytes[stop]! >= 0x80) stop++;
      parts.push(bytes.toString("latin1", copied, i));
      const chars = bytes.toString("utf8", i, stop);
      let escaped = "";
      for (let c = 0; c < chars.length; c++) {
        const code = chars.charCodeAt(c);
        escaped += `\\u${HEX[code >> 12]}${HEX[(code >> 8) & 15]}${HEX[(code >> 4) & 15]}${HEX[code & 15]}`;
      }
      parts.push(escaped);
      copied = i = stop;
    }
  }
  parts.push(bytes.toString("latin1", copied));
  return parts.join("");
}

/** JSON text with \u escapes as the characters they stand for (for a message quoting an answer). */
function unescaped(text: string): string {
  return text.replace(/\\u([0-9a-f]{4})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/**
 * The whole body, stopped as soon as it passes `maxBytes`. With a declared length the bytes go
 * straight into one buffer of that size: no list of chunks, no second copy.
 */
async function readCapped(body: Dispatcher.ResponseData["body"], maxBytes: number, declared: number | undefined, where: string): Promise<Buffer> {
  let into = declared === undefined ? undefined : Buffer.allocUnsafe(declared);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (size + chunk.length > maxBytes) {
      body.destroy();
      throw tooLargeError(where, maxBytes, "reading stopped there");
    }
    if (into && size + chunk.length <= into.length) {
      chunk.copy(into, size);
    } else {
      if (into) chunks.push(into.subarray(0, size)); // longer than declared: collect from here on
      into = undefined;
      chunks.push(chunk);
    }
    size += chunk.length;
  }
  return into ? into.subarray(0, size) : Buffer.concat(chunks, size);
}

/** At most about `limit` bytes of a body; the rest is not read. */
async function readUpTo(body: Dispatcher.ResponseData["body"], limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= limit) break; // leaving the loop destroys the body
    }
  } catch {
    // An error answer cut short still has its status: that is what gets reported.
  }
  return Buffer.concat(chunks).subarray(0, limit);
}

/**
 * An HTTP error status as a SourceError: the one place that decides what a status means.
 * 408, 429 and 5xx are transient, honouring a Retry-After up to `retryAfterMaxMs`; a source that
 * asks for a longer wait fails the attempt at once. 402 and other 4xx are permanent.
 */
export function statusError(where: string, status: number, retryAfterMs: number | undefined, retryAfterMaxMs: number, detail = ""): SourceError {
  if (status === 402) {
    return new SourceError(
      `${where}: HTTP 402 Payment Required${detail}; the source refuses to answer until paid (for The Graph: the API key is out of query credits, see its billing or set another GRAPH_API_KEY)`,
      false,
    );
  }
  const transient = status === 408 || status === 429 || status >= 500;
  if (transient && retryAfterMs !== undefined && retryAfterMs > retryAfterMaxMs) {
    return new SourceError(
      `${where}: HTTP ${status}, asked to wait ${seconds(retryAfterMs)} s (Retry-After), more than DATA_PIPELINES_RETRY_AFTER_MAX_SECONDS=${seconds(retryAfterMaxMs)}`,
      false,
    );
  }
  return new SourceError(`${where}: HTTP ${status}${detail}`, transient, transient ? retryAfterMs : undefined);
}

/** A 3xx: never followed (a moved source must be configured at its new address), never retried. */
export function redirectError(where: string, status: number, location: string | undefined, from: URL | string): SourceError {
  let to: string | undefined;
  try {
    to = location === undefined ? undefined : new URL(location, from).origin;
  } catch {
    to = undefined;
  }
  const target = to === undefined ? "another address (no valid Location)" : redact(to);
  return new SourceError(`${where}: redirected to ${target} (HTTP ${status}); not followed — point the URL at the final address`, false);
}

/** An answer over the cap: `detail` says how we know ("its Content-Length says 600 MB"). Never retried: it would be as large. */
export function tooLargeError(where: string, maxBytes: number, detail: string): SourceError {
  return new SourceError(`${where}: answer over the cap of ${megabytes(maxBytes)} MB set by DATA_PIPELINES_HTTP_MAX_MB (${detail}); not retried`, false);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat ? `: ${redact(flat.slice(0, 160))}${flat.length > 160 ? "…" : ""}` : "";
}

function describeNetworkError(error: unknown, timeoutMs: number): string {
  const code = (error as { code?: string }).code;
  if (code === "UND_ERR_HEADERS_TIMEOUT") return `no answer within ${seconds(timeoutMs)} s`;
  if (code === "ECONNREFUSED") return "connection refused (is the source up?)";
  return redact(code ? `${code}: ${errorMessage(error)}` : errorMessage(error));
}

function describeBodyError(error: unknown, timeoutMs: number): string {
  const code = (error as { code?: string }).code;
  if (code === "UND_ERR_BODY_TIMEOUT") return `stalled: no byte for ${seconds(timeoutMs)} s`;
  return `cut short (${describeNetworkError(error, timeoutMs)})`;
}

/** Seconds for messages: 900, 0.3. */
export function seconds(ms: number): string {
  return String(Math.round(ms) / 1000);
}

function megabytes(bytes: number): string {
  return String(Math.round(bytes / 1e5) / 10);
}

/** Retry-After in ms: seconds or an HTTP date. */
export function parseRetryAfter(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
