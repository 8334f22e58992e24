// An S3 endpoint on loopback that misbehaves as real ones do, in front of the fake S3 server
// (./s3.ts): it can hang (accept a request, never answer), answer 503 with an HTML page (what a
// proxy or load balancer sends, not S3's XML), stop answering after some requests (to stop a
// promote half-way), and, unlike s3rver, honour `x-amz-copy-source-if-match` on server-side
// copies (412 PreconditionFailed when the source's ETag differs), as Spaces and AWS do.
import { spawn } from "node:child_process";
import { request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import path from "node:path";
import { ROOT, type ScriptResult } from "../helpers.ts";
import { FAKE_S3_CREDENTIALS } from "./s3.ts";
import { startFakeHttpServer } from "./http.ts";

/** What the endpoint does with each request: pass it to s3rver, never answer, or answer 503 with an HTML page. */
export type S3FaultMode = "proxy" | "hang" | "unavailable";

/** A server-side copy about to be passed on: `bucket/key` of its source and of its target. */
export interface CopyRequest {
  source: string;
  target: string;
}

export interface FaultyS3 {
  endpoint: string;
  /** What a script needs to reach this endpoint (endpoint and credentials). */
  env: Record<string, string>;
  set(mode: S3FaultMode): void;
  /** Pass on the next `n` requests that `which` matches (any request by default), then hang every request. */
  hangAfter(n: number, which?: (request: IncomingMessage) => boolean): void;
  /** Called before a server-side copy is checked and passed on: a test can change the copy's source there. */
  beforeCopy(hook: ((copy: CopyRequest) => Promise<void>) | undefined): void;
  /** Requests received so far, answered or not. */
  readonly requests: number;
  /** Server-side copies refused with 412 because their source's ETag had changed. */
  readonly refusedCopies: number;
  close(): Promise<void>;
}

/** The body of the 503: a load balancer's page, longer than one line should quote. */
export const UNAVAILABLE_PAGE = `<!DOCTYPE html>
<html><head><title>503 Service Unavailable</title></head>
<body><h1>Service Unavailable</h1><p>No server is available to handle this request.<br>
Please try again later. Reference #18.2f3c1d17.1764691200.5a1b2c3d, upstream s3-backend-7 returned no answer in time.</p></body></html>`;

/** True for the server-side copy requests the SDK sends (a PUT naming its source). */
export const isCopy = (request: IncomingMessage): boolean => request.method === "PUT" && "x-amz-copy-source" in request.headers;

/**
 * Start the endpoint in front of `upstream` (the fake S3 server's endpoint). With
 * `enforceCopyConditions: false` it passes conditional copies on unchecked, as s3rver alone does.
 */
export async function startFaultyS3(upstream: string, options: { enforceCopyConditions?: boolean } = {}): Promise<FaultyS3> {
  const enforce = options.enforceCopyConditions ?? true;
  const target = new URL(upstream);
  let mode: S3FaultMode = "proxy";
  let hang: { left: number; which: (request: IncomingMessage) => boolean } | undefined;
  let hook: ((copy: CopyRequest) => Promise<void>) | undefined;
  let requests = 0;
  let refusedCopies = 0;

  const server = await startFakeHttpServer(async (req, res) => {
    requests += 1;
    if (hang?.which(req) && hang.left-- <= 0) {
      hang = undefined;
      mode = "hang";
    }
    if (mode === "hang") return; // the socket stays open, unanswered, until the client gives up or close()
    if (mode === "unavailable") {
      req.resume();
      res.writeHead(503, "Service Unavailable", { "content-type": "text/html" });
      res.end(UNAVAILABLE_PAGE);
      return;
    }
    if (isCopy(req)) {
      const copy = { source: decodeURIComponent(String(req.headers["x-amz-copy-source"])).replace(/^\//, ""), target: decodeURIComponent(req.url!.split("?")[0]!).slice(1) };
      await hook?.(copy);
      const wanted = req.headers["x-amz-copy-source-if-match"];
      if (enforce && typeof wanted === "string") {
        const current = await etagOf(target, copy.source);
        if (current !== undefined && current !== wanted) {
          refusedCopies += 1;
          req.resume();
          sendError(res, 412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold");
          return;
        }
      }
    }
    await pass(target, req, res);
  });
  const endpoint = `http://127.0.0.1:${server.port}`;
  return {
    endpoint,
    env: { DATA_PIPELINES_S3_ENDPOINT: endpoint, ...FAKE_S3_CREDENTIALS },
    set(next) {
      mode = next;
      hang = undefined;
    },
    hangAfter(n, which = () => true) {
      hang = { left: n, which };
    },
    beforeCopy(next) {
      hook = next;
    },
    get requests() {
      return requests;
    },
    get refusedCopies() {
      return refusedCopies;
    },
    close: () => server.stop(),
  };
}

/** Pass the request on unchanged (its Host header too: the signature covers it) and stream the answer back. */
function pass(target: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const out = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode!, answer.statusMessage, answer.headers);
      answer.pipe(res);
      answer.on("end", resolve);
      answer.on("error", () => { res.destroy(); resolve(); });
    });
    out.on("error", () => { res.destroy(); resolve(); });
    req.pipe(out);
  });
}

/** The ETag s3rver reports for `bucket/key` now (an anonymous HEAD: s3rver checks signatures only when there is one). */
function etagOf(target: URL, object: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const path = `/${object.split("/").map(encodeURIComponent).join("/")}`;
    const head = httpRequest({ host: target.hostname, port: target.port, method: "HEAD", path }, (answer) => {
      answer.resume();
      resolve(answer.statusCode === 200 ? String(answer.headers.etag) : undefined);
    });
    head.on("error", reject);
    head.end();
  });
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { "content-type": "application/xml" });
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault</RequestId></Error>`);
}

export interface BoundedRun extends ScriptResult {
  ms: number;
  /** It was still running at the ceiling (then killed). */
  timedOut: boolean;
  /** A process of its group outlived it. */
  survivors: boolean;
}

/**
 * Run `tsx <script> args` as test/helpers.ts's runScript does, but in a process group of its own:
 * resolves when it ends (killed, group and all, at `ceilingMs`), saying whether any process of its
 * group is left (polled up to 5 s after its end, never a fixed sleep).
 */
export function runScriptBounded(script: string, args: string[], options: { cwd: string; env?: Record<string, string>; ceilingMs: number }): Promise<BoundedRun> {
  const started = Date.now();
  const child = spawn(path.join(ROOT, "node_modules", ".bin", "tsx"), [path.join(ROOT, script), ...args], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", DATA_PIPELINES_RETRY_BACKOFF_SECONDS: "0", ...options.env },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const group = child.pid!;
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (chunk: Buffer) => { stdout += chunk; });
  child.stderr!.on("data", (chunk: Buffer) => { stderr += chunk; });
  let timedOut = false;
  const ceiling = setTimeout(() => {
    timedOut = true;
    signalGroup(group, "SIGKILL");
  }, options.ceilingMs);
  return new Promise((resolve) => {
    child.on("close", async (code, signal) => {
      const ms = Date.now() - started;
      clearTimeout(ceiling);
      let survivors = groupAlive(group);
      for (const until = Date.now() + 5000; survivors && Date.now() < until; survivors = groupAlive(group)) {
        await new Promise((next) => setTimeout(next, 50));
      }
      if (survivors) signalGroup(group, "SIGKILL");
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr, ms, timedOut, survivors });
    });
  });
}

function groupAlive(group: number): boolean {
  try {
    process.kill(-group, 0);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(group: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-group, signal);
  } catch {
    // already gone
  }
}
