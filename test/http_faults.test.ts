// Sources that misbehave as real ones do (issue 19), through the fault proxy of ./fakes/faults.ts:
// every wait bounded (idle timeout, deadline, answer cap, Retry-After cap), redirects and 402 reported
// as such, a cursor that does not advance caught, no rejection left unobserved. First lib/sources/http.ts on
// its own, then the subgraph client, then whole runs: recorded failed with one line, the previous
// -latest left byte-for-byte as it was.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { test } from "node:test";
import { encodeArtifact } from "../lib/artifact/artifact.ts";
import { SourceError } from "../lib/core/errors.ts";
import { type FlowContext } from "../lib/flows/flow.ts";
import { runFlow } from "../lib/run/runner.ts";
import { RunHistory } from "../lib/history/history.ts";
import { asciiJson, postJson, type HttpBounds } from "../lib/sources/http.ts";
import { feeRedeemFactors } from "../lib/sources/polygon.ts";
import { LocalLake } from "../lib/lake/lake.ts";
import { withRetries } from "../lib/run/retry.ts";
import { ask, fetchCollection, together } from "../lib/sources/subgraph.ts";
import { table } from "../lib/table/table.ts";
import rawOffsetsHoldersData from "../scripts/raw_offsets_holders_data.ts";
import rawVerraData from "../scripts/raw_verra_data.ts";
import { startFaultProxy, type ChooseFault, type FaultProxyOptions } from "./fakes/faults.ts";
import { startFakePolygonRpc } from "./fakes/polygon_rpc.ts";
import { startFakeSubgraphs, type EntityRecord } from "./fakes/subgraph.ts";
import { generateSubgraphData } from "./fakes/subgraph_data.ts";
import { generateVerraRecords, startFakeVerra } from "./fakes/verra.ts";
import { leftInGroup, memoryLogger, ROOT, tempDir, testConfig } from "./helpers.ts";

type T = Parameters<typeof tempDir>[0];

const BOUNDS: HttpBounds = { timeoutMs: 5_000, deadlineMs: 5_000, maxBytes: 1_000_000, retryAfterMaxMs: 300_000 };

async function proxy(t: T, options: FaultProxyOptions) {
  const p = await startFaultProxy(options);
  t.after(() => p.close());
  return p;
}

/** postJson through withRetries (4 attempts), sleeps recorded instead of slept. */
async function post(url: string, bounds: Partial<HttpBounds> = {}, attempts = 4) {
  const sleeps: number[] = [];
  const started = performance.now();
  let error: unknown;
  let value: unknown;
  try {
    value = await withRetries("test", () => postJson(url, { query: "{ x }" }, { ...BOUNDS, ...bounds, what: "test source" }), {
      attempts, backoffMs: 0, sleep: async (ms) => void sleeps.push(ms),
    });
  } catch (e) {
    error = e;
  }
  return { value, error: error as SourceError | undefined, sleeps, ms: performance.now() - started };
}

const always = (fault: ReturnType<ChooseFault>): ChooseFault => () => fault;
const first = (fault: ReturnType<ChooseFault>): ChooseFault => (i) => (i === 0 ? fault : undefined);

// ------------------------------------------------------------------ lib/sources/http.ts on its own

test("Retry-After: 86400 fails the attempt at once with the cap line: not slept, not retried", async (t) => {
  const p = await proxy(t, { fault: always({ kind: "status", status: 429, retryAfter: 86_400 }) });
  const { error, sleeps, ms } = await post(p.url("/graphql"));
  assert.ok(error instanceof SourceError);
  assert.equal(error.message,
    `test source (${p.origin}/graphql): HTTP 429, asked to wait 86400 s (Retry-After), more than DATA_PIPELINES_RETRY_AFTER_MAX_SECONDS=300`);
  assert.equal(error.transient, false);
  assert.deepEqual(sleeps, []);
  assert.equal(p.requests.length, 1);
  assert.ok(ms < 5_000, `${ms} ms`);
});

test("a Retry-After within the cap is honoured (seconds, or an HTTP date), then the answer arrives", async (t) => {
  const date = new Date(Date.now() + 60_000).toUTCString();
  const faults = [{ kind: "status", status: 503, retryAfter: 7 }, { kind: "status", status: 429, retryAfter: date }] as const;
  const p = await proxy(t, { fault: (i) => faults[i], answer: '{"data":{"ok":true}}' });
  const { value, error, sleeps } = await post(p.url("/"));
  assert.equal(error, undefined);
  assert.deepEqual(value, { data: { ok: true } });
  assert.equal(sleeps[0], 7_000);
  assert.ok(sleeps[1]! > 50_000 && sleeps[1]! <= 60_000, `waited ${sleeps[1]} ms for the date`);
  assert.equal(p.requests.length, 3);
});

test("with a turn (a build of many flows in one process), an answer read whole is parsed only once the flow's turn comes", async (t) => {
  const p = await proxy(t, { answer: '{"data":{"ok":true}}' });
  let turnAsked!: () => void;
  const asked = new Promise<void>((resolve) => { turnAsked = resolve; });
  let giveTurn!: () => void;
  const turn = () => {
    turnAsked();
    return new Promise<void>((resolve) => { giveTurn = resolve; });
  };
  let settled = false;
  const answer = postJson(p.url("/"), {}, { ...BOUNDS, what: "test source", turn }).finally(() => { settled = true; });
  await asked;
  await new Promise(setImmediate);
  assert.equal(settled, false, "waits for its turn");
  giveTurn();
  assert.deepEqual(await answer, { data: { ok: true } });
});

test("HTTP 402 (a key out of credits) is permanent, with a line that says what to do", async (t) => {
  const p = await proxy(t, { fault: always({ kind: "status", status: 402, body: '{"error":"payment required"}' }) });
  const { error } = await post(p.url("/api/0123456789abcdef0123456789abcdef/subgraphs/id/Qm1"));
  assert.ok(error instanceof SourceError && !error.transient);
  assert.match(error.message, /^test source \(http:\/\/127\.0\.0\.1:\d+\/api\/\*\*\*\/subgraphs\/id\/Qm1\): HTTP 402 Payment Required: \{"error":"payment required"\}; the source refuses to answer until paid \(for The Graph: the API key is out of query credits/);
  assert.doesNotMatch(error.message, /0123456789abcdef/, "the key in the path is masked");
  assert.equal(p.requests.length, 1);
});

test("a source that accepts and never answers fails at the idle timeout, and is retried", async (t) => {
  const p = await proxy(t, { fault: always({ kind: "hang" }) });
  const { error, ms } = await post(p.url("/"), { timeoutMs: 200 }, 2);
  assert.ok(error instanceof SourceError && error.transient);
  assert.match(error.message, /^test source \(.*\): no answer within 0\.2 s \(gave up after 2 attempts\)$/);
  assert.equal(p.requests.length, 2);
  assert.ok(ms < 5_000, `${ms} ms`);
});

test("headers, then one byte at a time: the deadline ends it though bytes keep coming (transient)", async (t) => {
  const p = await proxy(t, { fault: always({ kind: "trickle", intervalMs: 20 }), answer: JSON.stringify({ data: { x: "y".repeat(1_000) } }) });
  const { error, ms } = await post(p.url("/"), { timeoutMs: 10_000, deadlineMs: 300 }, 1);
  assert.ok(error instanceof SourceError && error.transient);
  assert.match(error.message, /^test source \(.*\): no complete answer within 0\.3 s \(DATA_PIPELINES_HTTP_DEADLINE_SECONDS\)$/);
  assert.ok(ms >= 250 && ms < 5_000, `${ms} ms`);
  assert.ok(p.requests[0]!.bytesSent < 100, `stopped after ${p.requests[0]!.bytesSent} bytes`);
});

test("asciiJson: text past ASCII becomes \\u escapes that JSON.parse reads to exactly what decoding the bytes gives", () => {
  const texts = [
    "plain ASCII", "Café São Paulo – Ñandú", "碳中和 上海", "emoji 🌳 and 𝄞 (surrogate pairs)", "ĐắéáãÑúØñçõ–ô—",
    "é".repeat(700), // one run of bytes past ASCII across the 512-byte blocks the scan skips by
    `${"a".repeat(511)}ö${"b".repeat(600)}碳`, // a character split across a block's end
  ];
  const sent = [Buffer.from(JSON.stringify({ value: texts, key: "ключ" }))];
  // Bytes that are not UTF-8 (a stray continuation, a sequence cut short by ASCII or by the end,
  // an overlong form): U+FFFD each, as a decoding of the whole answer gives.
  for (const bad of [[0x80], [0xe4, 0xb8], [0xc0, 0x80], [0xf0, 0x9f, 0x8c], [0xff, 0xfe]]) {
    sent.push(Buffer.concat([Buffer.from('{"v":"x'), Buffer.from(bad), Buffer.from('y","w":"'), Buffer.from(bad), Buffer.from('"}')]));
  }
  for (const bytes of sent) {
    const text = asciiJson(bytes);
    assert.match(text, /^[\x00-\x7f]*$/);
    assert.deepEqual(JSON.parse(text), JSON.parse(bytes.toString("utf8")));
  }
  assert.equal(asciiJson(Buffer.from('{"a":1}')), '{"a":1}');
  // A character past ASCII outside a string is not JSON either way.
  assert.throws(() => JSON.parse(asciiJson(Buffer.from("{é:1}"))), SyntaxError);
});

test("an answer with text past ASCII arrives whole; one that is not JSON is quoted as sent, with its size in bytes", async (t) => {
  const names = Array.from({ length: 3_000 }, (_, i) => `Projet forestier n° ${i} – 碳汇 🌳`);
  const good = await proxy(t, { fault: () => undefined, answer: JSON.stringify({ data: { names } }) });
  const { value } = await post(good.url("/"));
  assert.deepEqual((value as { data: { names: string[] } }).data.names, names);

  const page = "<html>Serveur indisponible – 服务不可用</html>";
  const bad = await proxy(t, { fault: always({ kind: "status", status: 200, body: page }) });
  const { error } = await post(bad.url("/"), {}, 1);
  assert.ok(error?.message.endsWith(`: answer is not valid JSON (${Buffer.byteLength(page)} bytes: ${page})`), error?.message);
});

test("an answer cut short (content-length larger than the body, then closed) is transient", async (t) => {
  const p = await proxy(t, { fault: first({ kind: "truncate" }), answer: JSON.stringify({ data: { x: "y".repeat(10_000) } }) });
  const { value, error, sleeps } = await post(p.url("/"));
  assert.equal(error, undefined);
  assert.equal((value as { data: { x: string } }).data.x.length, 10_000);
  assert.deepEqual(sleeps, [0]);
  assert.equal(p.requests.length, 2);
});

test("an answer over the cap, streamed without a length: reading stops at the cap, permanent, one attempt", async (t) => {
  const p = await proxy(t, { fault: always({ kind: "oversize", bytes: 50_000_000 }) });
  const { error, ms } = await post(p.url("/"), { maxBytes: 1_000_000 });
  assert.ok(error instanceof SourceError && !error.transient);
  assert.match(error.message, /^test source \(.*\): answer over the cap of 1 MB set by DATA_PIPELINES_HTTP_MAX_MB \(reading stopped there\); not retried$/);
  assert.equal(p.requests.length, 1);
  assert.ok(p.requests[0]!.bytesSent < 20_000_000, `the source got to write ${p.requests[0]!.bytesSent} bytes`);
  assert.ok(ms < 5_000, `${ms} ms`);
});

test("an answer that declares a length over the cap fails before its body is read", async (t) => {
  const p = await proxy(t, { fault: always({ kind: "oversize", bytes: 600_000_000, declared: true }) });
  const { error } = await post(p.url("/"), { maxBytes: 512_000_000 });
  assert.ok(error instanceof SourceError && !error.transient);
  assert.match(error.message, /: answer over the cap of 512 MB set by DATA_PIPELINES_HTTP_MAX_MB \(its Content-Length says 600 MB\); not retried$/);
  assert.equal(p.requests.length, 1);
  assert.ok(p.requests[0]!.bytesSent < 100_000_000, `the source got to write ${p.requests[0]!.bytesSent} bytes`);
});

test("a redirect to another host is reported as one, never followed, never retried, never 'not valid JSON'", async (t) => {
  const p = await proxy(t, { fault: always({ kind: "redirect", location: "https://user:pw@moved.example:8443/new/path?token=abc" }) });
  const { error } = await post(p.url("/old"));
  assert.ok(error instanceof SourceError && !error.transient);
  assert.equal(error.message,
    `test source (${p.origin}/old): redirected to https://moved.example:8443 (HTTP 301); not followed — point the URL at the final address`);
  assert.equal(p.requests.length, 1);
});

test("a request whose signal is aborted stops at once, as a permanent failure (nothing retried)", async (t) => {
  const p = await proxy(t, { fault: always({ kind: "hang" }) });
  const stop = new AbortController();
  const pending = withRetries("test", () => postJson(p.url("/"), {}, { ...BOUNDS, what: "test source", signal: stop.signal }), { attempts: 4, backoffMs: 0 });
  const ceiling = performance.now() + 5_000;
  while (p.requests.length === 0 && performance.now() < ceiling) await new Promise((resolve) => setImmediate(resolve));
  stop.abort();
  await assert.rejects(pending, (error: unknown) => error instanceof SourceError && !error.transient && /cancelled/.test(error.message));
  assert.equal(p.requests.length, 1);
});

test("messages never quote the query string: a source echoing the URL and its key is masked", async (t) => {
  const p = await proxy(t, { fault: always({ kind: "echoSecret", status: 400, message: "bad key" }) });
  const secret = "s3cr3t-0123456789";
  const { error } = await post(p.url(`/q?api_key=${secret}`), {}, 1);
  assert.ok(error instanceof SourceError);
  assert.match(error.message, /HTTP 400: .*bad key: http:\/\/127\.0\.0\.1:\d+\/q\?api_key=\*\*\*/);
  assert.ok(!error.message.includes(secret));
});

// ------------------------------------------------------------------ the subgraph client

/** `count` holdings, newest first one second apart; a few share a timestamp so that pages end on ties. */
function holdings(count: number): { Klimate: EntityRecord[]; Holding: EntityRecord[] } {
  const klimate = { id: `0x${"1".padStart(40, "0")}`, active: true };
  const list = Array.from({ length: count }, (_, i): EntityRecord => ({
    id: `h-${String(i).padStart(6, "0")}`, klimate: klimate.id, token: "BCT",
    timestamp: String(1_700_000_000 - Math.floor(i / 3)), tokenAmount: `${i}.5`, carbonValue: "1.25",
  }));
  return { Klimate: [klimate], Holding: list };
}

async function subgraphSetup(t: T, options: { count?: number; fault?: ChooseFault; env?: Record<string, string> } = {}) {
  const fake = await startFakeSubgraphs({ stores: { "user-carbon": holdings(options.count ?? 2_500) } });
  t.after(() => fake.stop());
  const p = await proxy(t, { upstream: fake.url("user-carbon"), fault: options.fault });
  const dir = tempDir(t);
  const config = testConfig(dir, { DATA_PIPELINES_CARBON_HOLDERS_SUBGRAPH_URL: p.url(fake.url("user-carbon")), ...options.env });
  const sleeps: number[] = [];
  const ctx: FlowContext = {
    config, log: memoryLogger().log, now: new Date(), note: () => {},
    retry: (what, request) => withRetries(what, request, { attempts: config.attempts, backoffMs: 0, sleep: async (ms) => void sleeps.push(ms) }),
  };
  return { fake, proxy: p, dir, config, ctx, sleeps };
}

/** Unhandled rejections while `body` runs (and a few turns of the event loop after it). */
async function unhandledDuring(body: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const listener = (reason: unknown) => void seen.push(reason);
  process.on("unhandledRejection", listener);
  try {
    await body();
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off("unhandledRejection", listener);
  }
  return seen;
}

test("a page by id that repeats the previous one fails with the cursor line, before any RangeError", async (t) => {
  const { ctx, proxy: p } = await subgraphSetup(t, { fault: (i) => (i >= 1 ? { kind: "repeat" } : undefined) });
  await assert.rejects(fetchCollection(ctx, "holders", { collection: "holdings", select: "token" }), (error: unknown) => {
    assert.ok(error instanceof SourceError && !error.transient);
    assert.equal(error.message,
      "holders subgraph, holdings: the cursor did not advance past id h-000999 (page 2 repeats the previous one); the source ignored the filter");
    return true;
  });
  assert.equal(p.requests.length, 2);
});

test("a sorted page that repeats the previous one fails with the cursor line", async (t) => {
  // With a record cap the ties are fetched before the next page: the requests come one at a time.
  const { ctx, proxy: p } = await subgraphSetup(t, {
    env: { DATA_PIPELINES_MAX_RECORDS: "2000" },
    fault: (_i, body) => (/timestamp_lt/.test(body) ? { kind: "repeat" } : undefined),
  });
  await assert.rejects(
    fetchCollection(ctx, "holders", { collection: "holdings", select: "token", orderBy: "timestamp", orderDirection: "desc" }),
    /^SourceError: holders subgraph, holdings: the cursor did not advance past timestamp 1699999667 \(page 3 holds records the cursor had passed\); the source ignored the filter$/,
  );
  assert.equal(p.requests.length, 3);
});

test("a server that ignores the filter altogether: a few requests, one line, no unobserved rejection", async (t) => {
  const { ctx, proxy: p } = await subgraphSetup(t, { count: 3_000, fault: (i) => (i >= 1 ? { kind: "repeat" } : undefined) });
  const unhandled = await unhandledDuring(async () => {
    await assert.rejects(
      fetchCollection(ctx, "holders", { collection: "holdings", select: "token", orderBy: "timestamp", orderDirection: "desc" }),
      /holders subgraph, holdings: the cursor did not advance past .*; the source ignored the filter$/,
    );
  });
  assert.deepEqual(unhandled, []);
  assert.ok(p.requests.length <= 4, `${p.requests.length} requests`);
});

test("a tie group that fails while the pages go on: its error is the one thrown, never unobserved, the paging stops", async (t) => {
  // The tie queries filter on one timestamp (`where: {timestamp: "…"}`); the pages on timestamp_lt.
  const { ctx, proxy: p } = await subgraphSetup(t, {
    count: 6_000,
    fault: (_i, body) => (/where: \{timestamp: /.test(body) ? { kind: "status", status: 402 } : undefined),
  });
  const unhandled = await unhandledDuring(async () => {
    await assert.rejects(
      fetchCollection(ctx, "holders", { collection: "holdings", select: "token", orderBy: "timestamp", orderDirection: "desc" }),
      /^SourceError: holders subgraph, holdings page 2 \(http:\/\/127\.0\.0\.1:\d+\/subgraphs\/name\/user-carbon\): HTTP 402 Payment Required/,
    );
  });
  assert.deepEqual(unhandled, []);
  assert.ok(p.requests.length <= 4, `stopped paging (${p.requests.length} requests)`);
});

test("together(): the first failure is thrown and stops the other fetches' requests", async (t) => {
  const { ctx, proxy: p } = await subgraphSetup(t, { count: 5_000 });
  p.setFault((_i, body) => (/token_in/.test(body) ? { kind: "status", status: 402 } : /first: 1000, orderBy: id/.test(body) ? { kind: "hang" } : undefined));
  const started = performance.now();
  const unhandled = await unhandledDuring(async () => {
    await assert.rejects(
      together(
        (signal) => fetchCollection(ctx, "holders", { collection: "holdings", select: "token" }, signal), // hangs
        (signal) => fetchCollection(ctx, "holders", { collection: "holdings", select: "token", where: { token_in: ["BCT"] }, orderBy: "timestamp" }, signal),
      ),
      /HTTP 402 Payment Required/,
    );
  });
  assert.deepEqual(unhandled, []);
  assert.ok(performance.now() - started < 5_000);
});

test("an errors array quoting the request URL and its key is masked in the error", async (t) => {
  const secret = "k3y-0123456789abcdef";
  const { ctx, proxy: p, fake } = await subgraphSetup(t, { fault: always({ kind: "echoSecret", message: "unknown key" }) });
  // Set after the configuration is read, so that the key is not a registered secret: its parameter name alone must mask it.
  ctx.config.urls.holders = p.url(`${fake.url("user-carbon")}?api_key=${secret}`);
  await assert.rejects(ask(ctx, "holders", "{ holdings { id } }", "holdings page 1"), (error: unknown) => {
    assert.ok(error instanceof SourceError);
    assert.match(error.message, /^holders subgraph, holdings page 1: unknown key: http:\/\/127\.0\.0\.1:\d+\/subgraphs\/name\/user-carbon\?api_key=\*\*\*$/);
    assert.ok(!error.message.includes(secret));
    return true;
  });
});

test("the proxy's wrongTypes and dropField modes change every entity of the answer", async (t) => {
  const { ctx, proxy: p } = await subgraphSetup(t, { count: 3 });
  p.setFault(always({ kind: "wrongTypes" }));
  const wrong = await ask(ctx, "holders", "{ holdings(first: 3) { id timestamp tokenAmount token klimate { id active } } }", "probe");
  for (const h of wrong.holdings as Array<Record<string, unknown>>) {
    assert.equal(h.timestamp, "abc");
    assert.equal(h.tokenAmount, "abc");
    assert.equal(h.token, "BCT");
    assert.match(h.id as string, /^h-/);
  }
  p.setFault(always({ kind: "wrongTypes", fields: ["tokenAmount"] }));
  const some = await ask(ctx, "holders", "{ holdings(first: 1) { timestamp tokenAmount } }", "probe");
  assert.deepEqual(some.holdings, [{ timestamp: "1700000000", tokenAmount: "abc" }]);
  p.setFault(always({ kind: "dropField", field: "id" }));
  const dropped = await ask(ctx, "holders", "{ holdings(first: 2) { id token klimate { id } } }", "probe");
  assert.deepEqual(dropped.holdings, [{ token: "BCT", klimate: {} }, { token: "BCT", klimate: {} }]);
});

// ------------------------------------------------------------------ the Polygon RPC (viem), with the same bounds

/** feeRedeemFactors through the proxy in front of the fake RPC; the first request (eth_chainId) gets `fault`. */
async function polygonFees(t: T, fault: ReturnType<ChooseFault>, env: Record<string, string> = {}) {
  const rpc = await startFakePolygonRpc();
  t.after(() => rpc.stop());
  const p = await proxy(t, { upstream: rpc.url, fault: first(fault) });
  const config = testConfig(tempDir(t), { DATA_PIPELINES_POLYGON_RPC_URL: p.url("/v3/0123456789abcdef0123456789abcdef"), ...env });
  const ctx: FlowContext = {
    config, log: memoryLogger().log, now: new Date(), note: () => {},
    retry: (what, request) => withRetries(what, request, { attempts: config.attempts, backoffMs: 0, sleep: async () => {} }),
  };
  const started = performance.now();
  const error = await feeRedeemFactors(ctx).then(() => undefined, (e: unknown) => e as SourceError);
  return { error, proxy: p, ms: performance.now() - started };
}

const RPC = String.raw`^Polygon RPC \(http://127\.0\.0\.1:\d+\), eth_chainId: `;

test("Polygon RPC: 402, Retry-After over the cap and a redirect fail at once with their lines", async (t) => {
  const cases: Array<[ReturnType<ChooseFault>, RegExp]> = [
    [{ kind: "status", status: 402 }, new RegExp(`${RPC}HTTP 402 Payment Required.*; the source refuses to answer until paid`)],
    [{ kind: "status", status: 429, retryAfter: 86_400 }, new RegExp(`${RPC}HTTP 429, asked to wait 86400 s \\(Retry-After\\), more than DATA_PIPELINES_RETRY_AFTER_MAX_SECONDS=300$`)],
    [{ kind: "redirect", location: "https://polygon.moved.example/v3/x" }, new RegExp(`${RPC}redirected to https://polygon\\.moved\\.example \\(HTTP 301\\); not followed`)],
  ];
  for (const [fault, line] of cases) {
    const { error, proxy: p } = await polygonFees(t, fault);
    assert.ok(error instanceof SourceError && !error.transient, String(error));
    assert.match(error.message, line);
    assert.doesNotMatch(error.message, /0123456789abcdef/, "the project id in the path is never quoted");
    assert.equal(p.requests.length, 1, `${fault!.kind}: one attempt`);
  }
});

test("Polygon RPC: an answer over the cap fails at once; a trickle fails at the deadline; a hang at the idle timeout", async (t) => {
  const oversize = await polygonFees(t, { kind: "oversize", bytes: 5_000_000 }, { DATA_PIPELINES_HTTP_MAX_MB: "1" });
  assert.match(oversize.error!.message, new RegExp(`${RPC}answer over the cap of 1 MB set by DATA_PIPELINES_HTTP_MAX_MB \\(reading stopped there\\); not retried$`));
  assert.equal(oversize.error!.transient, false);
  assert.equal(oversize.proxy.requests.length, 1);

  const trickle = await polygonFees(t, { kind: "trickle", intervalMs: 20 }, { DATA_PIPELINES_HTTP_DEADLINE_SECONDS: "0.3", DATA_PIPELINES_RETRIES: "false" });
  assert.match(trickle.error!.message, new RegExp(`${RPC}no complete answer within 0\\.3 s \\(DATA_PIPELINES_HTTP_DEADLINE_SECONDS\\)$`));
  assert.ok(trickle.ms < 5_000, `${trickle.ms} ms`);

  const hang = await polygonFees(t, { kind: "hang" }, { DATA_PIPELINES_HTTP_TIMEOUT_SECONDS: "0.2", DATA_PIPELINES_RETRIES: "false" });
  assert.match(hang.error!.message, new RegExp(`${RPC}no answer within 0\\.2 s$`));
  assert.equal(hang.error!.transient, true);
  assert.ok(hang.ms < 5_000, `${hang.ms} ms`);
});

// ------------------------------------------------------------------ whole runs

const PREVIOUS = encodeArtifact(table({ Token: "string" }, [{ Token: "previous" }]));

/** raw_offsets_holders_data in-process against the proxy; the previous -latest seeded first. */
async function holdersRun(t: T, fault: ChooseFault, env: Record<string, string> = {}) {
  const s = await subgraphSetup(t, { fault, env });
  const lake = new LocalLake(path.join(s.dir, "lake"));
  await lake.write("raw_offsets_holders_data-latest", PREVIOUS);
  const history = RunHistory.open(s.config.db);
  t.after(() => history.close());
  const sleeps: number[] = [];
  const started = performance.now();
  const result = await runFlow(rawOffsetsHoldersData, {
    config: s.config, lake, history, log: memoryLogger().log, retry: { sleep: async (ms) => void sleeps.push(ms), random: () => 0 },
  });
  const record = history.get(result.runId)!;
  assert.equal(result.status, "failed");
  assert.equal(record.status, "failed");
  assert.equal(record.error, result.error);
  assert.doesNotMatch(record.error!, /\n/, "one line");
  assert.deepEqual(await lake.read("raw_offsets_holders_data-latest"), PREVIOUS, "previous -latest unchanged");
  return { error: record.error!, record, sleeps, ms: performance.now() - started, proxy: s.proxy };
}

test("run: Retry-After 86400 fails at once with the cap line", async (t) => {
  const run = await holdersRun(t, always({ kind: "status", status: 503, retryAfter: 86_400 }));
  assert.match(run.error, /^holders subgraph, holdings page 1 \(.*\): HTTP 503, asked to wait 86400 s \(Retry-After\), more than DATA_PIPELINES_RETRY_AFTER_MAX_SECONDS=300$/);
  assert.equal(run.record.attempts, 1);
  assert.deepEqual(run.sleeps, []);
  assert.equal(run.proxy.requests.length, 1);
  assert.ok(run.ms < 5_000);
});

test("run: an answer trickling past DATA_PIPELINES_HTTP_DEADLINE_SECONDS fails at the deadline, each attempt", async (t) => {
  const run = await holdersRun(t, always({ kind: "trickle", intervalMs: 20 }), { DATA_PIPELINES_HTTP_DEADLINE_SECONDS: "0.3", DATA_PIPELINES_RETRIES: "2" });
  assert.match(run.error, /^holders subgraph, holdings page 1 \(.*\): no complete answer within 0\.3 s \(DATA_PIPELINES_HTTP_DEADLINE_SECONDS\) \(gave up after 2 attempts\)$/);
  assert.equal(run.record.attempts, 2);
  assert.equal(run.proxy.requests.length, 2);
  assert.ok(run.ms < 5_000, `${run.ms} ms`);
});

test("run: an answer over DATA_PIPELINES_HTTP_MAX_MB fails at once, one request", async (t) => {
  const run = await holdersRun(t, always({ kind: "oversize", bytes: 30_000_000 }), { DATA_PIPELINES_HTTP_MAX_MB: "1" });
  assert.match(run.error, /^holders subgraph, holdings page 1 \(.*\): answer over the cap of 1 MB set by DATA_PIPELINES_HTTP_MAX_MB \(reading stopped there\); not retried$/);
  assert.equal(run.record.attempts, 1);
  assert.equal(run.proxy.requests.length, 1);
});

test("run: a redirect fails with the redirect line after one attempt", async (t) => {
  const run = await holdersRun(t, always({ kind: "redirect", location: "https://api.moved.example/subgraphs/name/user-carbon" }));
  assert.match(run.error, /^holders subgraph, holdings page 1 \(.*\): redirected to https:\/\/api\.moved\.example \(HTTP 301\); not followed — point the URL at the final address$/);
  assert.equal(run.record.attempts, 1);
  assert.equal(run.proxy.requests.length, 1);
});

test("run: a repeated page fails with the cursor line", async (t) => {
  const run = await holdersRun(t, (_i, body) => (/timestamp_lt/.test(body) ? { kind: "repeat" } : undefined), { DATA_PIPELINES_MAX_RECORDS: "2000" });
  assert.match(run.error, /^holders subgraph, holdings: the cursor did not advance past timestamp \d+ \(page 3 holds records the cursor had passed\); the source ignored the filter$/);
  assert.equal(run.proxy.requests.length, 3);
});

test("run: Verra redirected to a login page fails with the redirect line; the other windows stop", async (t) => {
  const fake = await startFakeVerra({ records: generateVerraRecords(300, 5) });
  t.after(() => fake.stop());
  // The window before 2009 (no start date) is redirected; the three others asked at the same time are let through.
  const redirect = { kind: "redirect", status: 302, location: "https://login.verra.example/sso" } as const;
  const p = await proxy(t, { upstream: fake.url, fault: (_i, body) => (body.includes("issuanceStartInclusive") ? undefined : redirect) });
  const dir = tempDir(t);
  const config = testConfig(dir, { DATA_PIPELINES_VERRA_SEARCH_URL: p.url(fake.url), DATA_PIPELINES_VERRA_CONCURRENCY: "4" });
  const lake = new LocalLake(path.join(dir, "lake"));
  await lake.write("raw_verra_data-latest", PREVIOUS);
  const history = RunHistory.open(config.db);
  t.after(() => history.close());
  const result = await runFlow(rawVerraData, { config, lake, history, log: memoryLogger().log, now: () => new Date("2026-11-25T13:15:00Z") });
  assert.equal(history.get(result.runId)!.status, "failed");
  assert.match(result.error!, /^Verra issuances … to 2008-12-31 \(http:\/\/127\.0\.0\.1:\d+\/uiapi\/asset\/asset\/search\): redirected to https:\/\/login\.verra\.example \(HTTP 302\); not followed — point the URL at the final address$/);
  assert.ok(p.requests.length <= 8, `no new window after the failure (${p.requests.length} of 217 requests)`);
  assert.deepEqual(await lake.read("raw_verra_data-latest"), PREVIOUS);
});

// ------------------------------------------------------------------ a flow process


test("process: HTTP 402 on raw_polygon_retired_offsets' pool-balance query ends as a failed run, exit 1, one line, no stack", async (t) => {
  const fake = await startFakeSubgraphs({ stores: { "polygon-digital-carbon": generateSubgraphData({ seed: 3, scale: 0.2 })["polygon-digital-carbon"] } });
  t.after(() => fake.stop());
  const p = await proxy(t, {
    upstream: fake.url("polygon-digital-carbon"),
    fault: (_i, body) => (/carbonPoolCreditBalances/.test(body) ? { kind: "status", status: 402, body: '{"message":"out of credits"}' } : undefined),
  });
  const dir = tempDir(t);
  const lake = new LocalLake(path.join(dir, "lake"));
  await lake.write("raw_polygon_retired_offsets-latest", PREVIOUS);
  const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), path.join(ROOT, "scripts/raw_polygon_retired_offsets.ts")], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "",
      DATA_PIPELINES_RESULT_STORAGE: `file:${path.join(dir, "lake")}`, DATA_PIPELINES_DB: path.join(dir, "runs.sqlite"),
      DATA_PIPELINES_CARBON_SUBGRAPH_URL: p.url(fake.url("polygon-digital-carbon")), DATA_PIPELINES_RETRY_BACKOFF_SECONDS: "0",
    },
    stdio: ["ignore", "ignore", "pipe"],
    detached: true, // its own process group, checked empty at the end
  });
  t.after(() => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // gone, as it should be
    }
  });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => void (stderr += chunk.toString()));
  const [code] = (await once(child, "exit")) as [number | null];
  assert.equal(code, 1, stderr);
  const failures = stderr.split("\n").filter((l) => /failed: /.test(l));
  assert.equal(failures.length, 1, stderr);
  assert.match(failures[0]!, /failed: carbonPolygon subgraph, carbonPoolCreditBalances page 1 \(http:\/\/127\.0\.0\.1:\d+\/subgraphs\/name\/polygon-digital-carbon\): HTTP 402 Payment Required: \{"message":"out of credits"\}; the source refuses to answer until paid/);
  assert.doesNotMatch(stderr, /^\s+at |Unhandled|node:internal|triggerUncaughtException/m, "no stack dump");
  assert.equal(p.requests.filter((r) => /carbonPoolCreditBalances/.test(r.body)).length, 1, "402 is not retried");
  const history = RunHistory.open(path.join(dir, "runs.sqlite"));
  t.after(() => history.close());
  const runs = history.list({ flow: "raw_polygon_retired_offsets" });
  assert.deepEqual(runs.map((r) => r.status), ["failed"]);
  assert.match(runs[0]!.error!, /HTTP 402 Payment Required/);
  assert.deepEqual(await lake.read("raw_polygon_retired_offsets-latest"), PREVIOUS);
  assert.deepEqual(await leftInGroup(child.pid!), [], "no process of the run survives");
});
