// HTTP plumbing shared by the local fakes (./verra.ts, ./subgraph.ts): a server on 127.0.0.1 whose
// stop() also ends hanging requests and pending latency, JSON answers, request-body reading, and
// the faults both fakes can inject (error statuses, truncated or malformed bodies, hangs).

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** A fault injected into one answer. A fake may add kinds of its own on top (see ./subgraph.ts). */
export type HttpFault =
  | { kind: "status"; status: number; retryAfterSeconds?: number; body?: string }
  | { kind: "truncated" }
  | { kind: "malformed" }
  | { kind: "hang" };

/** Waits `ms` (not at all for 0 or less); stop() cancels the wait, which then never resolves. */
export type Delay = (ms: number) => Promise<void>;

export type Handler = (req: IncomingMessage, res: ServerResponse, delay: Delay) => Promise<void>;

export interface FakeHttpServer {
  port: number;
  /** Idempotent: cancels pending delays, closes the server and every open socket. */
  stop(): Promise<void>;
}

const MAX_REQUEST_BODY = 1 << 20;

/** Starts `handle` on 127.0.0.1 (random port); a handler that throws destroys its response. */
export async function startFakeHttpServer(handle: Handler): Promise<FakeHttpServer> {
  const timers = new Set<NodeJS.Timeout>();

  const delay: Delay = (ms) =>
    new Promise<void>((resolve) => {
      if (ms <= 0) return resolve();
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  const server = createServer((req, res) => {
    res.on("error", () => {}); // a client that went away is not the fake's problem
    handle(req, res, delay).catch(() => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  let stopped: Promise<void> | undefined;
  return {
    port,
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close(() => resolve());
        server.closeAllConnections(); // hanging and keep-alive sockets would keep close() waiting
      })),
  };
}

/** Drains the request and answers 404 with a JSON error naming the method and path. */
export function sendNotFound(req: IncomingMessage, res: ServerResponse, pathname: string): void {
  req.resume();
  sendJson(res, 404, { error: `not found: ${req.method} ${pathname}` });
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  sendText(res, status, JSON.stringify(value), headers);
}

/** Sends `text` whole, labelled application/json whatever it is (malformed answers included). */
export function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  const bytes = Buffer.from(text);
  res.writeHead(status, { "content-type": "application/json", "content-length": bytes.length, ...headers });
  res.end(bytes);
}

/**
 * Answers with `fault` ("hang" is the caller's: it just never answers). `fullAnswer` is only
 * called by "truncated", which promises that whole answer and delivers half of it.
 */
export function sendFault(socket: Socket, res: ServerResponse, fault: Exclude<HttpFault, { kind: "hang" }>, fullAnswer: () => string): void {
  switch (fault.kind) {
    case "status": {
      const headers: Record<string, string> =
        fault.retryAfterSeconds === undefined ? {} : { "retry-after": String(fault.retryAfterSeconds) };
      sendText(res, fault.status, fault.body ?? JSON.stringify({ error: "fault" }), headers);
      return;
    }
    case "malformed":
      sendText(res, 200, "<html>oops</html>");
      return;
    case "truncated": {
      // Promise the whole answer, deliver half of it, then drop the connection.
      const bytes = Buffer.from(fullAnswer());
      res.writeHead(200, { "content-type": "application/json", "content-length": bytes.length });
      res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => socket.destroy());
      return;
    }
  }
}

/** The request body as UTF-8; reading stops at the chunk that passes 1 MiB, which is left out. */
export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_BODY) break;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export function parseJson(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}
