// The subgraph client against the fake graph-node: completeness under ties, the record cap,
// the failures of docs/architecture.md §6.
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { encodeArtifact } from "../lib/artifact/artifact.ts";
import { SourceError, ValidationError } from "../lib/core/errors.ts";
import { type FlowContext } from "../lib/flows/flow.ts";
import { runFlow } from "../lib/run/runner.ts";
import { RunHistory } from "../lib/history/history.ts";
import { LocalLake } from "../lib/lake/lake.ts";
import { compareValues, fetchCollection, fetchTable, literal, recordOrder } from "../lib/sources/subgraph.ts";
import { col, tableOf } from "../lib/table/columns.ts";
import { table, Utf8Vector } from "../lib/table/table.ts";
import { startFakeSubgraphs, type EntityRecord, type SubgraphFault } from "./fakes/subgraph.ts";
import { memoryLogger, plain, tempDir, testConfig } from "./helpers.ts";

const TIE = 1_700_000_000;

/** 12,000 holdings, 3,000 of them at one timestamp, the rest in clusters of up to 7. */
function holdings(): { Klimate: EntityRecord[]; Holding: EntityRecord[] } {
  const klimates = Array.from({ length: 50 }, (_, i) => ({ id: `0x${i.toString(16).padStart(40, "0")}`, active: true }));
  const list: EntityRecord[] = [];
  for (let i = 0; i < 12_000; i++) {
    const timestamp = i < 3_000 ? TIE : TIE - 1 - Math.floor((i - 3_000) / 7) * 60;
    list.push({
      id: `h-${((i * 7919) % 12_000).toString().padStart(5, "0")}`,
      klimate: klimates[i % 50]!.id, token: ["BCT", "NCT", "MCO2"][i % 3]!, timestamp: String(timestamp),
      tokenAmount: `${i}.5`, carbonValue: `${i % 97}.25`,
    });
  }
  // A few newer than the tie, so the tie sits in the middle of the order.
  for (let i = 0; i < 10; i++) list.push({ id: `n-${i}`, klimate: klimates[0]!.id, token: "BCT", timestamp: String(TIE + 100 + i), tokenAmount: "1", carbonValue: "1" });
  return { Klimate: klimates, Holding: list };
}

const expectedOrder = (list: EntityRecord[]) =>
  [...list].sort((a, b) => Number(b.timestamp) - Number(a.timestamp) || ((a.id as string) < (b.id as string) ? -1 : 1)).map((h) => h.id);

async function setup(t: Parameters<typeof tempDir>[0], env: Record<string, string> = {}) {
  const store = holdings();
  const fake = await startFakeSubgraphs({ stores: { "user-carbon": store } });
  t.after(() => fake.stop());
  const dir = tempDir(t);
  const config = testConfig(dir, { DATA_PIPELINES_CARBON_HOLDERS_SUBGRAPH_URL: fake.url("user-carbon"), ...env });
  const { log, lines } = memoryLogger();
  const sleeps: number[] = [];
  const ctx: FlowContext = {
    config, log, now: new Date(), note: () => {},
    retry: async (what, request) => {
      const { withRetries } = await import("../lib/run/retry.ts");
      return withRetries(what, request, { attempts: config.attempts, backoffMs: 0, sleep: async (ms) => { sleeps.push(ms); } });
    },
  };
  const fetchHoldings = () => fetchCollection(ctx, "holders", {
    collection: "holdings", select: "token timestamp", orderBy: "timestamp", orderDirection: "desc",
  });
  return { store, fake, ctx, config, dir, lines, sleeps, fetchHoldings };
}

test("12,000 records, 3,000 sharing one timestamp: every record arrives once, in the documented order", async (t) => {
  const { store, fake, fetchHoldings } = await setup(t);
  const got = await fetchHoldings();
  const ids = got.map((h) => h.id);
  assert.equal(ids.length, store.Holding.length);
  assert.equal(new Set(ids).size, store.Holding.length, "no record twice");
  assert.deepEqual(new Set(ids), new Set(store.Holding.map((h) => h.id)), "no record lost");
  assert.deepEqual(ids, expectedOrder(store.Holding), "timestamp descending, ties by id");
  for (const r of fake.requests) {
    assert.match(r.query, /first: 1000/);
    assert.doesNotMatch(r.query, /skip/);
  }
});

test("DATA_PIPELINES_MAX_RECORDS=2500 keeps exactly the newest 2,500", async (t) => {
  const { store, fetchHoldings, fake } = await setup(t, { DATA_PIPELINES_MAX_RECORDS: "2500" });
  const got = await fetchHoldings();
  assert.deepEqual(got.map((h) => h.id), expectedOrder(store.Holding).slice(0, 2_500));
  assert.ok(fake.requests.length <= 4, `stopped asking early (${fake.requests.length} requests)`);
});

const HOLDING_COLUMNS = { id: col.string("id"), token: col.string("token"), timestamp: col.int("timestamp"), tokenAmount: col.float("tokenAmount") };
const holdingsQuery = { collection: "holdings", select: "token timestamp tokenAmount", orderBy: "timestamp", orderDirection: "desc" } as const;

for (const [what, env] of [["every record", {}], ["the cap", { DATA_PIPELINES_MAX_RECORDS: "2500" }]] as const) {
  test(`fetchTable reads each page into columns as it comes, ${what}: the table tableOf makes of the same records, same order; text as UTF-8 bytes`, async (t) => {
    const { store, ctx } = await setup(t, env);
    const got = await fetchTable(ctx, "holders", holdingsQuery, HOLDING_COLUMNS);
    const expected = tableOf(await fetchCollection(ctx, "holders", holdingsQuery), HOLDING_COLUMNS);
    assert.equal(got.length, "DATA_PIPELINES_MAX_RECORDS" in env ? 2_500 : store.Holding.length);
    assert.deepEqual(plain(got), plain(expected));
    assert.deepEqual(got.texts("id"), expectedOrder(store.Holding).slice(0, got.length), "timestamp descending, ties by id");
    for (const name of ["id", "token"]) assert.ok(got.vector(name) instanceof Utf8Vector, `${name}: bytes, no array of strings`);
  });
}

test("fetchTable counts the values that do not parse over every page, and fails once naming the column", async (t) => {
  const { store, ctx } = await setup(t);
  store.Holding[5]!.tokenAmount = "lots";
  store.Holding[11_000]!.tokenAmount = "1e";
  await assert.rejects(
    fetchTable(ctx, "holders", holdingsQuery, HOLDING_COLUMNS),
    (error: unknown) => error instanceof ValidationError && /^column tokenAmount: 2 values do not parse as a number \(first: "(lots|1e)"\)$/.test(error.message),
  );
});

test("with DATA_PIPELINES_MAX_RECORDS, a value past the cap is no problem of the table; one within it is, counted over the records kept", async (t) => {
  const { store, ctx } = await setup(t, { DATA_PIPELINES_MAX_RECORDS: "2500" });
  const order = expectedOrder(store.Holding);
  const byId = new Map(store.Holding.map((h) => [h.id, h]));
  // The last of the 3,000 tied records: fetched with its tie group (which the cap stops after), then dropped.
  byId.get(order[3_009]!)!.tokenAmount = "dropped anyway";
  const capped = await fetchTable(ctx, "holders", holdingsQuery, HOLDING_COLUMNS);
  assert.equal(capped.length, 2_500);
  assert.deepEqual(capped.texts("id"), order.slice(0, 2_500));

  const again = await setup(t, { DATA_PIPELINES_MAX_RECORDS: "2500" }); // the fake reads its store once
  const at = new Map(again.store.Holding.map((h) => [h.id, h]));
  at.get(order[3_009]!)!.tokenAmount = "dropped anyway";
  at.get(order[2_499]!)!.tokenAmount = "kept";
  await assert.rejects(fetchTable(again.ctx, "holders", holdingsQuery, HOLDING_COLUMNS), (error: unknown) => error instanceof ValidationError && error.message ===
    'column tokenAmount: 1 value does not parse as a number (first: "kept")');
});

test("a nested sort key pages with a nested cursor (retire__timestamp)", async (t) => {
  const retires: EntityRecord[] = [];
  const klimaRetires: EntityRecord[] = [];
  for (let i = 0; i < 2_600; i++) {
    const retire = `0x${i.toString(16).padStart(8, "0")}`;
    retires.push({ id: retire, timestamp: String(i < 1_500 ? 1_000 : 2_000 + i), hash: `0x${(i + 1).toString(16).padStart(64, "0")}` });
    klimaRetires.push({ id: `0x${((i * 31) % 2_600).toString(16).padStart(10, "0")}`, retire });
  }
  const fake = await startFakeSubgraphs();
  t.after(() => fake.stop());
  // Only the fields this query reads are needed to answer it.
  fake.setStore("polygon-digital-carbon", { Retire: retires, KlimaRetire: klimaRetires });
  const dir = tempDir(t);
  const config = testConfig(dir, { DATA_PIPELINES_CARBON_SUBGRAPH_URL: fake.url("polygon-digital-carbon") });
  const ctx: FlowContext = { config, log: memoryLogger().log, now: new Date(), note: () => {}, retry: (_w, r) => r() };
  const got = await fetchCollection(ctx, "carbonPolygon", { collection: "klimaRetires", select: "retire { hash }", orderBy: "retire__timestamp", orderDirection: "desc" });
  assert.equal(new Set(got.map((k) => k.id)).size, 2_600);
  const ts = new Map(retires.map((r) => [r.id, Number(r.timestamp)]));
  const expected = [...klimaRetires].sort((a, b) => ts.get(b.retire as string)! - ts.get(a.retire as string)! || ((a.id as string) < (b.id as string) ? -1 : 1));
  assert.deepEqual(got.map((k) => k.id), expected.map((k) => k.id));
  assert.ok(fake.requests.some((r) => /retire_: \{timestamp_lt:/.test(r.query)), "cursor on the child field");
});

const transient: Array<[string, SubgraphFault]> = [
  ["an indexer error inside an HTTP 200 answer", { kind: "graphqlError", message: "indexer not available: subgraph is behind" }],
  ["HTTP 429 with Retry-After", { kind: "status", status: 429, retryAfterSeconds: 3 }],
  ["HTTP 503", { kind: "status", status: 503 }],
  ["a truncated body", { kind: "truncated" }],
];

for (const [what, fault] of transient) {
  test(`${what} is retried, and the records arrive complete`, async (t) => {
    const { store, fake, fetchHoldings, sleeps } = await setup(t);
    fake.injectFaults("user-carbon", fault);
    const got = await fetchHoldings();
    assert.equal(got.length, store.Holding.length);
    assert.deepEqual(sleeps, [fault.kind === "status" && fault.retryAfterSeconds ? 3_000 : 0]);
  });
}

test("an errors array saying the query is invalid fails at once: never taken as empty data", async (t) => {
  const { fake, ctx } = await setup(t);
  fake.injectFaults("user-carbon", { kind: "graphqlError", message: "Type `Holding` has no field `nope`" });
  await assert.rejects(
    fetchCollection(ctx, "holders", { collection: "holdings", select: "token", orderBy: "timestamp", orderDirection: "desc" }),
    (error: unknown) => error instanceof SourceError && !error.transient && /holders subgraph, holdings page 1: Type `Holding` has no field `nope`/.test(error.message),
  );
  assert.equal(fake.requests.length, 1);
});

test("a query naming a field the schema lacks is refused by the fake, as The Graph would", async (t) => {
  const { ctx } = await setup(t);
  await assert.rejects(
    fetchCollection(ctx, "holders", { collection: "holdings", select: "token nope" }),
    /Cannot query field "nope" on type "Holding"/,
  );
});

test("a failing subgraph run leaves the previous -latest untouched", async (t) => {
  const { fake, config, dir } = await setup(t, { DATA_PIPELINES_RETRIES: "false" });
  const lake = new LocalLake(path.join(dir, "lake"));
  const previous = encodeArtifact(table({ Token: "string" }, [{ Token: "BCT" }]));
  await lake.write("raw_offsets_holders_data-latest", previous);
  fake.injectFaults("user-carbon", { kind: "status", status: 502 });
  const { default: flow } = await import("../scripts/raw_offsets_holders_data.ts");
  const history = RunHistory.open(config.db);
  t.after(() => history.close());
  const result = await runFlow(flow, { config, lake, history, log: memoryLogger().log });
  assert.equal(result.status, "failed");
  assert.match(result.error!, /holders subgraph, holdings page 1 .*HTTP 502/);
  assert.deepEqual(await lake.read("raw_offsets_holders_data-latest"), previous);
});

test("filters are written as GraphQL input literals", () => {
  assert.equal(literal({ pair: "0xab", timestamp_gt: 0, retire_: { timestamp_lt: "12" }, id_in: ["a", "b"] }),
    '{pair: "0xab", timestamp_gt: 0, retire_: {timestamp_lt: "12"}, id_in: ["a", "b"]}');
});


test("recordOrder: sort key, then id ascending, whether the records came in key order (ties in any order) or not", () => {
  const order = (keys: unknown[], ids: unknown[], sign: number) => [...recordOrder(keys, ids, sign)];
  // Descending, as graph-node hands them: ties by id descending; only the tie group is reordered.
  assert.deepEqual(order(["30", "20", "20", "20", "10"], ["0xa", "0xd", "0xc", "0xb", "0xe"], -1), [0, 3, 2, 1, 4]);
  // Already in order, whole numbers compared as numbers: kept as it came.
  assert.deepEqual(order(["9", "10", "10", "100"], ["b", "a", "c", "d"], 1), [0, 1, 2, 3]);
  // Out of key order (a server that ignores orderBy): everything is sorted.
  assert.deepEqual(order(["2", "1", "3", "1"], ["x", "z", "y", "w"], 1), [3, 1, 0, 2]);
  // Against a plain sort, over shuffled and key-ordered inputs with many ties.
  let seed = 7;
  const next = (n: number) => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) % n;
  for (let trial = 0; trial < 500; trial++) {
    const sign = trial % 2 ? -1 : 1;
    let rows = Array.from({ length: next(40) }, () => ({ key: String(next(8)), id: `0x${next(64).toString(16)}` }));
    if (trial % 3) rows = rows.sort((a, b) => sign * compareValues(a.key, b.key)); // in key order, ties as they fell
    const got = order(rows.map((r) => r.key), rows.map((r) => r.id), sign).map((i) => rows[i]!);
    const expected = [...rows].sort((a, b) => sign * compareValues(a.key, b.key) || compareValues(a.id, b.id));
    assert.deepEqual(got.map((r) => [r.key, r.id]), expected.map((r) => [r.key, r.id]));
  }
});
