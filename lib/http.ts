// HTTP to sources, with failures classified: network errors, timeouts, 408,
// 429 and 5xx are transient (retried); other 4xx are permanent; a body that
// is cut short or is not JSON has failed (transient: the next try may be whole).
import type { request as Request } from "undici";
import { errorMessage, SourceError } from "./errors.ts";
import { redact } from "./redact.ts";

export interface PostOptions {
  timeoutMs: number;
  /** What is being asked, for messages: "Verra window 2021-03". */
  what: string;
  query?: Record<string, string>;
}

export async function postJson(url: string, body: unknown, options: PostOptions): Promise<unknown> {
  const target = new URL(url);
  for (const [k, v] of Object.entries(options.query ?? {})) target.searchParams.set(k, v);
  const where = `${options.what} (${redact(`${target.origin}${target.pathname}`)})`;
  let response: Awaited<ReturnType<typeof Request>>;
  try {
    // Loaded on the first request, not at import: it is most of a flow's start-up (--help).
    const { request } = await import("undici");
    response = await request(target, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(body),
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
  } catch (error) {
    throw new SourceError(`${where}: ${describeNetworkError(error)}`, true);
  }
  let text: string;
  try {
    text = await response.body.text();
  } catch (error) {
    throw new SourceError(`${where}: answer cut short (${describeNetworkError(error)})`, true);
  }
  const status = response.statusCode;
  if (status >= 400) {
    const transient = status === 408 || status === 429 || status >= 500;
    const retryAfter = parseRetryAfter(response.headers["retry-after"]);
    throw new SourceError(`${where}: HTTP ${status}${snippet(text)}`, transient, retryAfter);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new SourceError(`${where}: answer is not valid JSON (${text.length} bytes${snippet(text)})`, true);
  }
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat ? `: ${redact(flat.slice(0, 160))}${flat.length > 160 ? "…" : ""}` : "";
}

function describeNetworkError(error: unknown): string {
  const code = (error as { code?: string }).code;
  if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT") return "timed out";
  if (code === "ECONNREFUSED") return "connection refused (is the source up?)";
  return redact(code ? `${code}: ${errorMessage(error)}` : errorMessage(error));
}

/** Retry-After in ms: seconds or an HTTP date. */
export function parseRetryAfter(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
