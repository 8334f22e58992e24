// A fault-injecting HTTP server for tests: a proxy in front of a real fake (every request is
// forwarded to `upstream`, path and query kept), or a server on its own. For each request,
// `fault(index, body, request)` says how to answer; undefined forwards it unchanged.
//
//   const proxy = await startFaultProxy({ upstream: fake.url("user-carbon"), fault: (i) => (i === 0 ? { kind: "status", status: 503 } : undefined) });
//   t.after(() => proxy.close());
//   const url = proxy.url(fake.url("user-carbon")); // the same path and query, on the proxy
//   proxy.requests;                                  // [{ index, method, path, body, fault }]: what arrived, and how it was answered
//
// Faults (`Fault`):
//   { kind: "status", status, retryAfter?, body? }  that status (429, 503, 402 …), with a Retry-After header (seconds or a date)
//   { kind: "hang" }                     accept, read the request, never answer (close() ends the socket)
//   { kind: "trickle", intervalMs }      headers at once, then the answer one byte per interval
//   { kind: "truncate" }                 a content-length of the whole answer, half of it sent, then the connection closed
//   { kind: "oversize", bytes, declared? } a 200 JSON answer of `bytes` bytes, streamed in 64 KiB chunks; `declared`: with a
//                                        content-length (default: chunked, the client must count). `bytesSent` tells how far it got.
//   { kind: "redirect", location, status? } 301 (or `status`) to `location`, another host
//   { kind: "repeat" }                   the previous answer (of any request) again; the first request is forwarded
//   { kind: "wrongTypes", fields? }      the upstream answer with every number-like scalar of its entities (or only of
//                                        `fields`) replaced by "abc"
//   { kind: "dropField", field }         the upstream answer with `field` removed from every entity
//   { kind: "echoSecret", status?, message? } an `errors` array (HTTP 200 unless `status`) whose message quotes the full URL of
//                                        the request, query string included: what a careless source does with a key
//
// "Entities" are the objects under `data` of a GraphQL answer, or under `value` of a Verra answer (nested objects too).
// Without `upstream`, a fault that needs an answer to work on (trickle, truncate, repeat's first, wrongTypes, dropField,
// pass-through) uses `answer` (default `{"data":{}}`).

import type { IncomingMessage, ServerResponse } from "node:http";
import { readBody, startFakeHttpServer, type Delay } from "./http.ts";

export type Fault =
  | { kind: "status"; status: number; retryAfter?: number | string; body?: string }
  | { kind: "hang" }
  | { kind: "trickle"; intervalMs: number }
  | { kind: "truncate" }
  | { kind: "oversize"; bytes: number; declared?: boolean }
  | { kind: "redirect"; location: string; status?: number }
  | { kind: "repeat" }
  | { kind: "wrongTypes"; fields?: string[] }
  | { kind: "dropField"; field: string }
  | { kind: "echoSecret"; status?: number; message?: string };

export interface ProxyRequest {
  index: number;
  method: string;
  /** Path and query string, as received. */
  path: string;
  body: string;
  /** How it was answered: a fault kind, or "pass". */
  fault: Fault["kind"] | "pass";
  /** Bytes of the answer's body written (oversize, trickle, truncate: how far it got). */
  bytesSent: number;
}

export type ChooseFault = (index: number, body: string, request: { method: string; path: string }) => Fault | undefined;

export interface FaultProxyOptions {
  /** Where requests without a fault go (origin, or any URL of it: only its origin is used). */
  upstream?: string;
  fault?: ChooseFault;
  /** The answer without an upstream (default `{"data":{}}`). */
  answer?: string;
}

export interface FaultProxy {
  /** http://127.0.0.1:PORT */
  origin: string;
  /** `target` (an upstream URL, or a path) with the proxy's origin: same path and query. */
  url(target?: string): string;
  requests: ProxyRequest[];
  /** Replaces the fault chooser (request indexes go on counting). */
  setFault(fault: ChooseFault | undefined): void;
  close(): Promise<void>;
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

const CHUNK = 64 * 1024;

export async function startFaultProxy(options: FaultProxyOptions = {}): Promise<FaultProxy> {
  const upstream = options.upstream === undefined ? undefined : new URL(options.upstream).origin;
  let choose = options.fault;
  const requests: ProxyRequest[] = [];
  let previous: Answer | undefined;
  let origin = "";

  /** What the upstream (or the standing answer) says to this request. */
  async function forward(req: IncomingMessage, body: string): Promise<Answer> {
    if (upstream === undefined) {
      return { status: 200, headers: { "content-type": "application/json" }, body: Buffer.from(options.answer ?? '{"data":{}}') };
    }
    const { request } = await import("undici");
    const answer = await request(`${upstream}${req.url ?? "/"}`, {
      method: (req.method ?? "GET") as "POST",
      headers: { "content-type": req.headers["content-type"] ?? "application/json" },
      body: req.method === "GET" || req.method === "HEAD" ? undefined : body,
    });
    const bytes = Buffer.from(await answer.body.arrayBuffer());
    const type = answer.headers["content-type"];
    return { status: answer.statusCode, headers: { "content-type": (Array.isArray(type) ? type[0] : type) ?? "application/json" }, body: bytes };
  }

  let arrived = 0;

  async function handle(req: IncomingMessage, res: ServerResponse, delay: Delay): Promise<void> {
    const index = arrived++; // in order of arrival, whenever the bodies are read
    const body = await readBody(req);
    const path = req.url ?? "/";
    const fault = choose?.(index, body, { method: req.method ?? "GET", path });
    const record: ProxyRequest = { index, method: req.method ?? "GET", path, body, fault: fault?.kind ?? "pass", bytesSent: 0 };
    requests.push(record);
    const send = (answer: Answer) => {
      res.writeHead(answer.status, { ...answer.headers, "content-length": answer.body.length });
      res.end(answer.body);
      record.bytesSent = answer.body.length;
    };

    switch (fault?.kind) {
      case undefined: {
        const answer = await forward(req, body);
        previous = answer;
        return send(answer);
      }
      case "status": {
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (fault.retryAfter !== undefined) headers["retry-after"] = String(fault.retryAfter);
        return send({ status: fault.status, headers, body: Buffer.from(fault.body ?? JSON.stringify({ error: `fault: HTTP ${fault.status}` })) });
      }
      case "hang":
        return; // close() ends the socket
      case "trickle": {
        const answer = await forward(req, body);
        res.writeHead(answer.status, { ...answer.headers, "content-length": answer.body.length });
        res.flushHeaders();
        for (let i = 0; i < answer.body.length && !res.destroyed; i++) {
          await delay(fault.intervalMs); // never resolves after close()
          res.write(answer.body.subarray(i, i + 1));
          record.bytesSent++;
        }
        res.end();
        return;
      }
      case "truncate": {
        const answer = await forward(req, body);
        res.writeHead(answer.status, { ...answer.headers, "content-length": answer.body.length });
        const half = answer.body.subarray(0, Math.floor(answer.body.length / 2));
        record.bytesSent = half.length;
        res.write(half, () => req.socket.destroy());
        return;
      }
      case "oversize":
        return streamOversize(res, fault, record);
      case "redirect":
        return send({
          status: fault.status ?? 301,
          headers: { location: fault.location, "content-type": "text/html" },
          body: Buffer.from(`<html><body>Moved to <a href="${fault.location}">${fault.location}</a></body></html>`),
        });
      case "repeat": {
        const answer = previous ?? (await forward(req, body));
        previous = answer;
        return send(answer);
      }
      case "wrongTypes":
      case "dropField": {
        const answer = await forward(req, body);
        const json = JSON.parse(answer.body.toString("utf8")) as unknown;
        const change = fault.kind === "wrongTypes" ? wrongTypes(fault.fields) : dropField(fault.field);
        forEachEntity(json, change);
        return send({ ...answer, body: Buffer.from(JSON.stringify(json)) });
      }
      case "echoSecret": {
        const url = `${origin}${path}`;
        const message = `${fault.message ?? "request refused"}: ${url}`;
        return send({ status: fault.status ?? 200, headers: { "content-type": "application/json" }, body: Buffer.from(JSON.stringify({ errors: [{ message }] })) });
      }
    }
  }

  const server = await startFakeHttpServer(handle);
  origin = `http://127.0.0.1:${server.port}`;
  return {
    origin,
    url: (target = "/") => {
      const at = new URL(target, origin);
      return `${origin}${at.pathname}${at.search}`;
    },
    requests,
    setFault: (fault) => void (choose = fault),
    close: () => server.stop(),
  };
}

/** `{"data":{"x":"aaaa…"}}` of exactly `bytes` bytes, streamed with back-pressure until done or the client leaves. */
async function streamOversize(res: ServerResponse, fault: { bytes: number; declared?: boolean }, record: ProxyRequest): Promise<void> {
  const head = Buffer.from('{"data":{"x":"');
  const tail = Buffer.from('"}}');
  const filler = Math.max(0, fault.bytes - head.length - tail.length);
  res.writeHead(200, { "content-type": "application/json", ...(fault.declared ? { "content-length": String(head.length + filler + tail.length) } : {}) });
  const chunk = Buffer.alloc(CHUNK, "a");
  const write = async (bytes: Buffer) => {
    if (res.destroyed) return;
    record.bytesSent += bytes.length;
    if (res.write(bytes)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        res.off("drain", done);
        res.off("close", done);
        resolve();
      };
      res.on("drain", done);
      res.on("close", done);
    });
  };
  await write(head);
  for (let left = filler; left > 0 && !res.destroyed; left -= CHUNK) await write(left >= CHUNK ? chunk : chunk.subarray(0, left));
  if (!res.destroyed) res.end(tail);
}

type EntityChange = (entity: Record<string, unknown>) => void;

/** Calls `change` on every entity of a GraphQL (`data`) or Verra (`value`) answer, nested ones included. */
function forEachEntity(json: unknown, change: EntityChange): void {
  if (!json || typeof json !== "object") return;
  const root = json as Record<string, unknown>;
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(visit);
    if (!value || typeof value !== "object") return;
    const entity = value as Record<string, unknown>;
    change(entity);
    Object.values(entity).forEach(visit);
  };
  if ("data" in root) {
    // The collections under `data` are lists of entities (or one entity); `data` itself is not one.
    for (const collection of Object.values((root.data ?? {}) as Record<string, unknown>)) visit(collection);
  } else if (Array.isArray(root.value)) {
    visit(root.value);
  }
}

const NUMBER_LIKE = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

function wrongTypes(fields: string[] | undefined): EntityChange {
  return (entity) => {
    for (const [field, value] of Object.entries(entity)) {
      if (fields && !fields.includes(field)) continue;
      if (typeof value === "number" || (typeof value === "string" && NUMBER_LIKE.test(value))) entity[field] = "abc";
    }
  };
}

function dropField(field: string): EntityChange {
  return (entity) => {
    delete entity[field];
  };
}
