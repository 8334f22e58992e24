// Validation looks at values, not only shape (docs/architecture.md §6, issue 18): a value that does not parse as its
// column's type fails the flow (not a null), a column that had values and is now all null or far
// more null fails unless the flow declares it sparse, and an empty table is never written over a
// dataset that may hold data. Each failing case: the exact facts in the error, the run recorded as
// failed, nothing written, the previous -latest byte for byte unchanged.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { decodeArtifactSummary, encodeArtifact, encodeArtifactBody } from "../lib/artifact/artifact.ts";
import { col, tableOf, type ColumnSpec, type Tally } from "../lib/table/columns.ts";
import { ValidationError } from "../lib/core/errors.ts";
import { sourceFlow, type Flow } from "../lib/flows/flow.ts";
import { runFlow } from "../lib/run/runner.ts";
import { compareTables, type TableShape } from "../lib/run/validation.ts";
import { RunHistory } from "../lib/history/history.ts";
import { LocalLake } from "../lib/lake/lake.ts";
import type { Entity } from "../lib/sources/subgraph.ts";
import { table, type Table } from "../lib/table/table.ts";
import { verraTable, type VerraRecord } from "../lib/sources/verra.ts";
import redeemedOffsets from "../scripts/raw_polygon_pools_redeemed_offsets.ts";
import rawVerraData from "../scripts/raw_verra_data.ts";
import { startFaultProxy, type Fault } from "./fakes/faults.ts";
import { startFakeSubgraphs } from "./fakes/subgraph.ts";
import { generateSubgraphData } from "./fakes/subgraph_data.ts";
import { generateVerraRecords, startFakeVerra } from "./fakes/verra.ts";
import { flowBench, memoryLogger, ROOT, tempDir, testConfig } from "./helpers.ts";

// ------------------------------------------------------------ a subgraph-like dataset

const COLUMNS: Record<string, ColumnSpec> = {
  ID: col.string("id"),
  Quantity: col.tonnes("amount"),
  Date: col.int("timestamp"),
  Pool: col.string("pool.id"),
};

/** `count` entities as a subgraph answers them; `edit` changes entity i (return the entity to keep). */
function entities(count: number, edit: (e: Entity, i: number) => Entity = (e) => e): Entity[] {
  return Array.from({ length: count }, (_, i) => edit({
    id: `0x${i.toString(16).padStart(4, "0")}`,
    amount: `${i + 1}000000000000000000`,
    timestamp: String(1_700_000_000 + i),
    pool: i % 2 ? { id: "0xpool" } : null,
  }, i));
}

/** Entity i's amount replaced by `amount(i)` (undefined: left as it is). */
const amounts = (count: number, amount: (i: number) => unknown) =>
  entities(count, (e, i) => (amount(i) === undefined ? e : { ...e, amount: amount(i) }));

const VERRA_RECORD: VerraRecord = {
  resourceIdentifier: "1234", resourceName: "A project", quantity: 10, totalVintageQuantity: 100,
  retiredCancelled: false, serialNumbers: "1-2", retirementBeneficiary: null,
};

function setup(t: Parameters<typeof tempDir>[0], env: Record<string, string> = {}) {
  const { dir, config, lakeDir, lake, history, log, lines } = flowBench(t, env);
  const run = (flow: Flow) => runFlow(flow, { config, lake, history, log, retry: { sleep: async () => {}, random: () => 0.5 } });
  const latest = () => readFileSync(path.join(lakeDir, "sample-latest"));
  return { dir, config, lakeDir, lake, history, lines, run, latest };
}

const flowOf = (make: () => Table, sparse?: string[]) => sourceFlow({ slug: "sample", sparse, fetch: async () => make() });

// ------------------------------------------------------------ the rules, case by case

interface Case {
  name: string;
  /** The previous -latest: a table (written by a successful run), bytes that do not decode, or none. */
  previous: Table | "unreadable" | "none";
  next: () => Table;
  sparse?: string[];
  /** The run's exact error; undefined: the run succeeds. */
  error?: string;
}

const good = (count = 1000) => tableOf(entities(count), COLUMNS);
const nullShareTable = (count: number, nulls: number) => tableOf(amounts(count, (i) => (i < nulls ? null : undefined)), COLUMNS);
const SPARSE_HINT = " (a column that may legitimately be this empty belongs in the flow's `sparse` list)";

const CASES: Case[] = [
  {
    name: "a number that is not a number",
    previous: good(),
    next: () => tableOf(amounts(1000, () => "abc"), COLUMNS),
    error: 'column Quantity: 1,000 values do not parse as a number (first: "abc")',
  },
  {
    name: "a whole number with a fraction, among good ones",
    previous: good(),
    next: () => tableOf(entities(1000, (e, i) => (i >= 997 ? { ...e, timestamp: `${1_700_000_000 + i}.5` } : e)), COLUMNS),
    error: 'column Date: 3 values do not parse as a whole number (first: "1700000997.5")',
  },
  {
    name: "hex, blank and exponent texts are not BigInts",
    previous: good(),
    next: () => tableOf(amounts(1000, (i) => ["0x10", " 5", "1e18", undefined][i % 4]), COLUMNS),
    error: 'column Quantity: 750 values do not parse as a number (first: "0x10")',
  },
  {
    name: "an entity where a scalar was expected",
    previous: good(),
    next: () => tableOf(entities(1000, (e, i) => (i === 5 ? { ...e, id: { id: "0x1" } } : e)), COLUMNS),
    error: 'column ID: 1 value does not parse as text (first: {"id":"0x1"})',
  },
  {
    name: "two columns at fault: both named, in one line",
    previous: good(),
    next: () => tableOf(entities(1000, (e) => ({ ...e, amount: "abc", timestamp: "abc" })), COLUMNS),
    error: 'column Quantity: 1,000 values do not parse as a number (first: "abc"); column Date: 1,000 values do not parse as a whole number (first: "abc")',
  },
  {
    name: "Verra: a quantity that is not a whole number",
    previous: good(),
    next: () => verraTable([VERRA_RECORD, { ...VERRA_RECORD, quantity: "ten" }, { ...VERRA_RECORD, quantity: 2.5 }]),
    error: 'column Quantity Issued: 2 values do not parse as a whole number (first: "ten")',
  },
  {
    name: "Verra: a flag that is not true or false",
    previous: good(),
    next: () => verraTable([VERRA_RECORD, { ...VERRA_RECORD, retiredCancelled: "yes" }]),
    error: 'column Is Cancelled: 1 value does not parse as true or false (first: "yes")',
  },
  {
    name: "Verra: absent and null values stay null; any serial text is kept (docs/datasets.md §9 Q20)",
    previous: "none",
    next: () => verraTable([VERRA_RECORD, { resourceIdentifier: "5", quantity: null, serialNumbers: "not a serial" }]),
  },
  {
    name: "a field the source left out of every record",
    previous: good(),
    next: () => tableOf(entities(1000, ({ amount: _, ...rest }) => rest), COLUMNS),
    error: "column Quantity: field amount is absent from 1,000 of 1,000 records (the source did not answer it)",
  },
  {
    name: "a nested field left out (its parent is there)",
    previous: good(),
    next: () => tableOf(entities(1000, (e) => (e.pool ? { ...e, pool: {} } : e)), COLUMNS),
    error: "column Pool: field pool.id is absent from 500 of 1,000 records (the source did not answer it)",
  },
  {
    name: "a null relation is a null, not an absent field",
    previous: good(),
    next: () => tableOf(entities(1000, (e) => ({ ...e, pool: null })), COLUMNS),
    sparse: ["Pool"],
  },
  {
    name: "a column that had values and is now all null",
    previous: good(),
    next: () => nullShareTable(1000, 1000),
    error: `validation against sample-latest failed: column Quantity: 100% null, was 0.0% in the previous -latest${SPARSE_HINT}; nothing written`,
  },
  {
    name: "a column whose share of nulls jumped (10% -> 40%)",
    previous: nullShareTable(1000, 100),
    next: () => nullShareTable(1000, 400),
    error: `validation against sample-latest failed: column Quantity: 40.0% null, was 10.0% in the previous -latest${SPARSE_HINT}; nothing written`,
  },
  {
    name: "a column that had no nulls and is now a quarter null (0% -> 25%)",
    previous: good(),
    next: () => nullShareTable(1000, 250),
    error: `validation against sample-latest failed: column Quantity: 25.0% null, was 0.0% in the previous -latest${SPARSE_HINT}; nothing written`,
  },
  { name: "more nulls, not doubled (30% -> 45%): accepted", previous: nullShareTable(1000, 300), next: () => nullShareTable(1000, 450) },
  { name: "more nulls, under 20 points (1% -> 15%): accepted", previous: nullShareTable(1000, 10), next: () => nullShareTable(1000, 150) },
  { name: "fewer nulls: accepted", previous: nullShareTable(1000, 500), next: () => nullShareTable(1000, 0) },
  { name: "a column all null before and after: accepted", previous: nullShareTable(1000, 1000), next: () => nullShareTable(1000, 1000) },
  { name: "a sparse column may empty", previous: good(), next: () => nullShareTable(1000, 1000), sparse: ["Quantity"] },
  {
    name: "a sparse column does not excuse another",
    previous: good(),
    next: () => tableOf(entities(1000, (e) => ({ ...e, amount: null, pool: null })), COLUMNS),
    sparse: ["Pool"],
    error: `validation against sample-latest failed: column Quantity: 100% null, was 0.0% in the previous -latest${SPARSE_HINT}; nothing written`,
  },
  {
    name: "zero rows over a non-empty dataset",
    previous: good(),
    next: () => good(0),
    error: "validation against sample-latest failed: 0 rows, fewer than 99% of the previous 1000 rows; nothing written",
  },
  {
    name: "zero rows when the previous -latest cannot be read",
    previous: "unreadable",
    next: () => good(0),
    error: "validation against sample-latest failed: 0 rows, and the previous sample-latest cannot be read to tell whether it holds data "
      + "(artifact sample-latest is not a readable result envelope: no \"data\" field): an empty table is not written over it; nothing written",
  },
  { name: "rows over an unreadable -latest: written (and the old bytes replaced)", previous: "unreadable", next: () => good(10) },
  { name: "zero rows and no previous -latest (a first run): written", previous: "none", next: () => good(0) },
  { name: "zero rows over zero rows: written", previous: good(0), next: () => good(0) },
];

for (const c of CASES) {
  test(`validation: ${c.name}${c.error ? " fails" : ""}`, async (t) => {
    const { lakeDir, history, run, latest, lines } = setup(t);
    if (c.previous === "unreadable") {
      mkdirSync(lakeDir, { recursive: true });
      writeFileSync(path.join(lakeDir, "sample-latest"), "not an artifact");
    } else if (c.previous !== "none") {
      const seeded = await run(flowOf(() => c.previous as Table));
      assert.equal(seeded.status, "succeeded", seeded.error);
    }
    const before = c.previous === "none" ? undefined : latest();
    const filesBefore = existsSync(lakeDir) ? readdirSync(lakeDir).sort() : [];
    const result = await run(flowOf(c.next, c.sparse));
    const record = history.get(result.runId)!;
    if (c.error === undefined) {
      assert.equal(result.status, "succeeded", result.error);
      assert.equal(record.status, "succeeded");
      return;
    }
    assert.equal(result.status, "failed");
    assert.equal(result.error, c.error);
    assert.equal(record.status, "failed");
    assert.equal(record.error, c.error, "the run history holds the same line");
    assert.deepEqual(record.writtenKeys, []);
    assert.deepEqual(result.writtenKeys, []);
    assert.deepEqual(latest(), before, "the previous -latest is byte for byte unchanged");
    assert.deepEqual(readdirSync(lakeDir).sort(), filesBefore, "nothing written, no historized copy, no temporary file");
    assert.ok(lines.some((l) => l.includes(`ERROR`) && l.includes(c.error!.slice(0, 60))), lines.join("\n"));
  });
}

// ------------------------------------------------------------ the pieces

test("tableOf refuses once, after the whole table, and keeps genuine nulls as nulls", () => {
  const answer = entities(4, (e, i) => (i === 0 ? { ...e, amount: null } : i === 3 ? { ...e, amount: "abc" } : e));
  assert.throws(() => tableOf(answer, COLUMNS), (error: unknown) => {
    assert.ok(error instanceof ValidationError);
    assert.equal(error.message, 'column Quantity: 1 value does not parse as a number (first: "abc")');
    return true;
  });
  const fine = tableOf(entities(2, (e, i) => (i === 0 ? { ...e, amount: null, pool: null } : e)), COLUMNS);
  assert.deepEqual(fine.rows, [
    { ID: "0x0000", Quantity: null, Date: 1_700_000_000, Pool: null },
    { ID: "0x0001", Quantity: 2, Date: 1_700_000_001, Pool: "0xpool" },
  ]);
});

test("tableOf: the first bad value is shown as the source sent it, cut to one short line", () => {
  const long = "x".repeat(500);
  assert.throws(() => tableOf(amounts(3, (i) => (i === 1 ? long : undefined)), COLUMNS),
    { message: `column Quantity: 1 value does not parse as a number (first: "${"x".repeat(76)}...)` });
  assert.throws(() => tableOf(amounts(2, (i) => (i === 0 ? true : undefined)), COLUMNS),
    { message: "column Quantity: 1 value does not parse as a number (first: true)" });
});

test("the converters: what parses, what is null, what is refused", () => {
  const one = (spec: ColumnSpec, value: unknown) => {
    const tally: Tally = { row: 0, problems: [] };
    const cell = spec.read({ v: value } as Entity, tally);
    return tally.problems.length ? "INVALID" : cell;
  };
  const cases: Array<[ColumnSpec, unknown, unknown]> = [
    [col.tonnes("v"), "1500000000000000000", 1.5], [col.tonnes("v"), "-2000000000000000000", -2], [col.tonnes("v"), "0", 0],
    [col.tonnes("v"), null, null], [col.tonnes("v"), "", "INVALID"], [col.tonnes("v"), "1.5", "INVALID"], [col.tonnes("v"), "-", "INVALID"],
    [col.float("v"), "1.25", 1.25], [col.float("v"), "-3", -3], [col.float("v"), "1e-7", 1e-7], [col.float("v"), 4.5, 4.5],
    [col.float("v"), "Infinity", "INVALID"], [col.float("v"), "", "INVALID"], [col.float("v"), "12 ", "INVALID"], [col.float("v"), "0b11", "INVALID"],
    [col.int("v"), "1700000000", 1_700_000_000], [col.int("v"), 42, 42], [col.int("v"), "12.0", "INVALID"],
    [col.int("v"), "123456789012345678901", "INVALID"], [col.int("v"), 1.5, "INVALID"], [col.int("v"), null, null],
    [col.datetimeText("v"), "1700000000", "2023-11-14 22:13:20"], [col.datetimeText("v"), "soon", "INVALID"], [col.datetimeText("v"), "1e20", "INVALID"],
    [col.string("v"), "text", "text"], [col.string("v"), 7, "7"], [col.string("v"), false, "false"], [col.string("v"), { a: 1 }, "INVALID"],
  ];
  for (const [spec, value, expected] of cases) assert.deepEqual(one(spec, value), expected, `${spec.path} ${spec.type} ${JSON.stringify(value)}`);
});

test("null counts: the encoder counts them, the summary reads them from the record batches (also pandas' artifacts)", () => {
  const t = table({ a: "int", b: "float", c: "string", d: "bool" }, [
    { a: 1, b: Number.NaN, c: null, d: true },
    { a: null, b: 2, c: null, d: null },
    { a: 3, b: null, c: "x", d: false },
  ]);
  assert.deepEqual(encodeArtifactBody(t).nullCounts, [1, 2, 2, 1], "a NaN float is written as a null");
  assert.deepEqual(decodeArtifactSummary(encodeArtifact(t), "t-latest"), { columns: t.columns, rowCount: 3, nullCounts: [1, 2, 2, 1] });
  for (const fixture of ["pandas_lz4", "pandas_zstd", "pandas_index"]) {
    const summary = decodeArtifactSummary(readFileSync(path.join(ROOT, "test", "fixtures", `${fixture}.artifact`)), fixture);
    assert.equal(summary.nullCounts.length, summary.columns.length);
    assert.ok(summary.nullCounts.every((n) => n >= 0 && n <= summary.rowCount), `${fixture}: ${summary.nullCounts}`);
  }
});

test("compareTables: the null-share rule, figure by figure", () => {
  const shape = (nulls: number, rows = 1000): TableShape => ({ columns: [{ name: "q", type: "float" }], rowCount: rows, nullCounts: [nulls] });
  const rule: Array<[number, number, string | undefined]> = [ // nulls before, nulls now (of 1000), problem
    [0, 1000, "column q: 100% null, was 0.0% in the previous -latest"],
    [999, 1000, "column q: 100% null, was 99.9% in the previous -latest"],
    [0, 201, "column q: 20.1% null, was 0.0% in the previous -latest"],
    [0, 200, undefined], // exactly 20 points: accepted
    [100, 400, "column q: 40.0% null, was 10.0% in the previous -latest"],
    [250, 499, undefined], // 24.9 points, not doubled
    [250, 500, "column q: 50.0% null, was 25.0% in the previous -latest"],
    [600, 999, undefined], // 99.9%: not all null, not doubled
    [1000, 1000, undefined],
    [500, 0, undefined],
  ];
  for (const [before, now, problem] of rule) {
    const problems = compareTables(shape(before), shape(now));
    if (problem === undefined) assert.deepEqual(problems, [], `${before} -> ${now}`);
    else assert.deepEqual(problems, [problem + SPARSE_HINT], `${before} -> ${now}`);
    assert.deepEqual(compareTables(shape(before), shape(now), ["q"]), [], "sparse: exempt");
  }
  assert.deepEqual(compareTables(shape(0, 0), shape(10, 10)), [], "no previous rows: no share to compare");
  assert.deepEqual(compareTables({ columns: [{ name: "q", type: "float" }], rowCount: 10 }, shape(10, 10)), [], "null counts unknown: not compared");
});

// ------------------------------------------------------------ end to end: real flows, a source answering nonsense

test("end to end: raw_polygon_pools_redeemed_offsets against a source that answers wrong types, then drops a field", async (t) => {
  const generated = generateSubgraphData({ seed: 5 })["polygon-digital-carbon"];
  // One page of redemptions: a cursor of "abc" would make the second page's question wrong too.
  const store = { ...generated, PoolRedeem: generated.PoolRedeem!.slice(0, 400) };
  const fake = await startFakeSubgraphs({ stores: { "polygon-digital-carbon": store } });
  t.after(() => fake.stop());
  let fault: Fault | undefined;
  const proxy = await startFaultProxy({ upstream: fake.url("polygon-digital-carbon"), fault: () => fault });
  t.after(() => proxy.close());
  const dir = tempDir(t);
  const history = RunHistory.open(path.join(dir, "runs.sqlite"));
  t.after(() => history.close());
  const config = testConfig(dir, { DATA_PIPELINES_CARBON_SUBGRAPH_URL: proxy.url(fake.url("polygon-digital-carbon")) });
  const run = () => runFlow(redeemedOffsets, { config, lake: new LocalLake(path.join(dir, "lake")), history, log: memoryLogger().log });
  const latestFile = path.join(dir, "lake", "raw_polygon_pools_redeemed_offsets-latest");

  const first = await run();
  assert.equal(first.status, "succeeded", first.error);
  const before = readFileSync(latestFile);
  const files = readdirSync(path.join(dir, "lake")).sort();
  const n = store.PoolRedeem.length.toLocaleString("en-US");

  fault = { kind: "wrongTypes" };
  const wrong = await run();
  assert.equal(wrong.status, "failed");
  assert.equal(wrong.error, `column Quantity: ${n} values do not parse as a number (first: "abc"); column Date: ${n} values do not parse as a whole number (first: "abc")`);
  assert.equal(history.get(wrong.runId)!.status, "failed");
  assert.equal(history.get(wrong.runId)!.error, wrong.error);

  fault = { kind: "dropField", field: "amount" };
  const dropped = await run();
  assert.equal(dropped.status, "failed");
  assert.equal(dropped.error, `column Quantity: field amount is absent from ${n} of ${n} records (the source did not answer it)`);
  assert.equal(history.get(dropped.runId)!.status, "failed");

  assert.ok(proxy.requests.some((r) => r.fault === "wrongTypes") && proxy.requests.some((r) => r.fault === "dropField"));
  assert.deepEqual(readFileSync(latestFile), before, "the previous -latest is byte for byte unchanged");
  assert.deepEqual(readdirSync(path.join(dir, "lake")).sort(), files, "nothing else written");
});

test("end to end: raw_verra_data against a registry that answers wrong types", async (t) => {
  const fake = await startFakeVerra({ records: generateVerraRecords(300, 4) });
  t.after(() => fake.stop());
  let fault: Fault | undefined;
  const proxy = await startFaultProxy({ upstream: fake.url, fault: () => fault });
  t.after(() => proxy.close());
  const dir = tempDir(t);
  const history = RunHistory.open(path.join(dir, "runs.sqlite"));
  t.after(() => history.close());
  const config = testConfig(dir, { DATA_PIPELINES_VERRA_SEARCH_URL: proxy.url(fake.url) });
  const run = () => runFlow(rawVerraData, {
    config, lake: new LocalLake(path.join(dir, "lake")), history, log: memoryLogger().log, now: () => new Date("2026-11-25T13:15:00Z"),
  });
  const first = await run();
  assert.equal(first.status, "succeeded", first.error);
  const latestFile = path.join(dir, "lake", "raw_verra_data-latest");
  const before = readFileSync(latestFile);

  fault = { kind: "wrongTypes", fields: ["quantity"] };
  const wrong = await run();
  assert.equal(wrong.status, "failed");
  assert.equal(wrong.error, 'column Quantity Issued: 300 values do not parse as a whole number (first: "abc")');
  assert.equal(history.get(wrong.runId)!.status, "failed");
  assert.deepEqual(readFileSync(latestFile), before, "the previous -latest is byte for byte unchanged");
});

test("a source value read outside a declared column (a lookup, a price) fails the flow when it does not parse", async () => {
  const { checked, parseDecimal, parseTonnes } = await import("../lib/table/columns.ts");
  assert.equal(checked(parseDecimal("1.5"), "pairs subgraph, swaps.close", "1.5"), 1.5);
  assert.equal(checked(parseTonnes(null), "balance", null), null);
  assert.throws(() => checked(parseDecimal("abc"), "pairs subgraph, swaps.close", "abc"), {
    name: "ValidationError",
    message: 'pairs subgraph, swaps.close: "abc" does not parse as a number',
  });
  assert.throws(() => checked(parseTonnes("0x10"), "balance", "0x10"), { message: 'balance: "0x10" does not parse as a number' });
});

test("a table without a column the dashboard API reads (the flow's consumer declaration) is not written", async (t) => {
  const { run, lakeDir, history } = setup(t);
  const flow = sourceFlow({ slug: "sample", consumer: ["quantity", "date"], fetch: async () => tableOf([{ amount: "1" }], { quantity: col.float("amount") }) });
  const result = await run(flow);
  assert.equal(result.status, "failed");
  assert.equal(result.error, "validation against sample-latest failed: the table lacks column(s) the dashboard API reads: date; nothing written");
  assert.equal(history.get(result.runId)!.status, "failed");
  assert.deepEqual(readdirSync(lakeDir).filter((f) => !f.startsWith(".")), []);
});
