import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { decodeArtifact, encodeArtifact } from "../lib/artifact.ts";
import { SourceError } from "../lib/errors.ts";
import { derivedFlow, runFlow, sourceFlow, type Flow } from "../lib/flow.ts";
import { RunHistory } from "../lib/history.ts";
import { LocalLake } from "../lib/lake.ts";
import { table, type Table } from "../lib/table.ts";
import { memoryLogger, tempDir, testConfig } from "./helpers.ts";

function numbers(count: number, column = "n"): Table {
  return table({ [column]: "int", label: "string" }, Array.from({ length: count }, (_, i) => ({ [column]: i, label: `row ${i}` })));
}

function setup(t: Parameters<typeof tempDir>[0], env: Record<string, string> = {}) {
  const dir = tempDir(t);
  const config = testConfig(dir, env);
  const lakeDir = path.join(dir, "lake");
  const lake = new LocalLake(lakeDir);
  const history = RunHistory.open(config.db);
  t.after(() => history.close());
  const { log, lines } = memoryLogger();
  const sleeps: number[] = [];
  const run = (flow: Flow, extra: { random?: () => number; now?: () => Date } = {}) =>
    runFlow(flow, {
      config, lake, history, log,
      retry: { sleep: async (ms) => { sleeps.push(ms); }, random: extra.random ?? (() => 0.5) },
      now: extra.now,
    });
  return { dir, lakeDir, lake, history, lines, sleeps, run, config };
}

const fixed = (data: Table) => sourceFlow({ slug: "sample", fetch: async () => data });

test("writes the historized copy, then -latest, with identical bytes, and records the run", async (t) => {
  const { lakeDir, history, run } = setup(t);
  const at = new Date("2026-11-25T13:15:07Z");
  const result = await run(fixed(numbers(5)), { now: () => at });
  assert.equal(result.status, "succeeded");
  assert.deepEqual(result.writtenKeys, ["sample-2026_11_25__13_15_07", "sample-latest"]);
  const record = history.get(result.runId)!;
  assert.deepEqual(record.writtenKeys, ["sample-2026_11_25__13_15_07", "sample-latest"]);
  assert.equal(record.status, "succeeded");
  assert.equal(record.rows, 5);
  assert.equal(record.columns, 2);
  assert.equal(record.attempts, 1);
  const latest = readFileSync(path.join(lakeDir, "sample-latest"));
  assert.deepEqual(readFileSync(path.join(lakeDir, "sample-2026_11_25__13_15_07")), latest);
  assert.deepEqual(decodeArtifact(latest, "sample-latest"), numbers(5));
  assert.deepEqual(readdirSync(lakeDir).sort(), ["sample-2026_11_25__13_15_07", "sample-latest"], "no temporary files left");
});

test("a non-historized flow writes -latest only", async (t) => {
  const { lakeDir, run } = setup(t);
  await run(sourceFlow({ slug: "current", historized: false, fetch: async () => numbers(1) }));
  assert.deepEqual(readdirSync(lakeDir), ["current-latest"]);
});

async function seedPrevious(lakeDir: string, previous: Table): Promise<Buffer> {
  const bytes = encodeArtifact(previous);
  await new LocalLake(lakeDir).write("sample-latest", bytes);
  return bytes;
}

test("validation refuses 98% of the previous rows, giving both counts, and writes nothing", async (t) => {
  const { lakeDir, run, history } = setup(t);
  const before = await seedPrevious(lakeDir, numbers(100));
  const result = await run(fixed(numbers(98)));
  assert.equal(result.status, "failed");
  assert.match(result.error!, /validation against sample-latest failed: 98 rows, fewer than 99% of the previous 100 rows/);
  assert.deepEqual(readFileSync(path.join(lakeDir, "sample-latest")), before, "previous -latest byte-identical");
  assert.deepEqual(readdirSync(lakeDir), ["sample-latest"], "no historized copy either");
  assert.equal(history.get(result.runId)!.status, "failed");
  assert.match(history.get(result.runId)!.error!, /98 rows/);
});

test("validation accepts exactly 99% of the previous rows", async (t) => {
  const { lakeDir, run } = setup(t);
  await seedPrevious(lakeDir, numbers(100));
  assert.equal((await run(fixed(numbers(99)))).status, "succeeded");
});

test("validation refuses a renamed column, naming the added and removed columns", async (t) => {
  const { lakeDir, run } = setup(t);
  const before = await seedPrevious(lakeDir, numbers(10));
  const result = await run(fixed(numbers(10, "number")));
  assert.equal(result.status, "failed");
  assert.match(result.error!, /columns changed \(2 -> 2\): added \[number\], removed \[n\]/);
  assert.deepEqual(readFileSync(path.join(lakeDir, "sample-latest")), before);
});

test("validation refuses a column whose type changed", async (t) => {
  const { lakeDir, run } = setup(t);
  await seedPrevious(lakeDir, numbers(3));
  const retyped = table({ n: "float", label: "string" }, numbers(3).rows);
  const result = await run(fixed(retyped));
  assert.match(result.error!, /column types changed: n \(int -> float\)/);
});

test("an unreadable previous -latest skips validation with a warning, then is replaced", async (t) => {
  const { lakeDir, run, lines, history } = setup(t);
  mkdirSync(lakeDir, { recursive: true });
  writeFileSync(path.join(lakeDir, "sample-latest"), "garbage");
  const result = await run(fixed(numbers(2)));
  assert.equal(result.status, "succeeded");
  assert.ok(lines.some((l) => /WARN .*validation skipped: artifact sample-latest is not a readable result envelope/.test(l)), lines.join("\n"));
  assert.ok(history.get(result.runId)!.notes.includes("previous sample-latest unreadable: validation skipped"));
  assert.equal(decodeArtifact(readFileSync(path.join(lakeDir, "sample-latest")), "x-latest").rows.length, 2);
});

test("DRY_RUN validates and writes nothing", async (t) => {
  const { lakeDir, run, history } = setup(t, { DATA_PIPELINES_DRY_RUN: "1" });
  const result = await run(fixed(numbers(4)));
  assert.equal(result.status, "succeeded");
  assert.deepEqual(result.writtenKeys, []);
  assert.throws(() => readdirSync(lakeDir), /ENOENT/);
  assert.deepEqual(history.get(result.runId)!.notes.at(-1), "dry run: nothing written");
});

test("a derived flow reads its upstream -latest artifacts and records them as lineage", async (t) => {
  const { lake, run, history } = setup(t);
  await lake.write("up_a-latest", encodeArtifact(numbers(3)));
  await lake.write("up_b-latest", encodeArtifact(numbers(2)));
  const flow = derivedFlow({
    slug: "joined",
    from: ["up_a", "up_b"],
    build: ({ up_a, up_b }) => table({ total: "int" }, [{ total: up_a!.rows.length + up_b!.rows.length }]),
  });
  const result = await run(flow);
  assert.equal(result.status, "succeeded");
  assert.deepEqual(history.get(result.runId)!.upstreamKeys, ["up_a-latest", "up_b-latest"]);
  assert.deepEqual(decodeArtifact((await lake.read("joined-latest"))!, "joined-latest").rows, [{ total: 5 }]);
});

test("a derived flow whose upstream is missing fails with a message naming it", async (t) => {
  const { run } = setup(t);
  const flow = derivedFlow({ slug: "child", from: ["parent_data"], build: (i) => i.parent_data! });
  const result = await run(flow);
  assert.equal(result.status, "failed");
  assert.match(result.error!, /upstream parent_data-latest is missing in file:.*: run scripts\/parent_data\.ts first/);
});

/** A source that fails with the given errors, then answers. */
function flaky(errors: Error[]) {
  let calls = 0;
  const flow = sourceFlow({
    slug: "sample",
    fetch: (ctx) => ctx.retry("test source", async () => {
      calls++;
      const error = errors.shift();
      if (error) throw error;
      return numbers(3);
    }),
  });
  return { flow, calls: () => calls };
}

test("transient failures are retried with exponential backoff and full jitter, and the run succeeds", async (t) => {
  const { run, sleeps, history } = setup(t, { DATA_PIPELINES_RETRY_BACKOFF_SECONDS: "10" });
  const { flow, calls } = flaky([new SourceError("503", true), new SourceError("timed out", true), new SourceError("cut short", true)]);
  const result = await run(flow, { random: () => 1 });
  assert.equal(result.status, "succeeded");
  assert.equal(calls(), 4);
  assert.deepEqual(sleeps, [10_000, 20_000, 40_000], "factor 10 s, doubling; random()=1 gives the upper bound");
  assert.equal(history.get(result.runId)!.attempts, 4);
});

test("jitter draws each delay uniformly below its bound", async (t) => {
  const { run, sleeps } = setup(t, { DATA_PIPELINES_RETRY_BACKOFF_SECONDS: "10" });
  await run(flaky([new SourceError("503", true), new SourceError("503", true)]).flow, { random: () => 0.25 });
  assert.deepEqual(sleeps, [2_500, 5_000]);
});

test("a source's Retry-After is honoured when longer than the backoff", async (t) => {
  const { run, sleeps } = setup(t);
  await run(flaky([new SourceError("HTTP 429", true, 7_000)]).flow);
  assert.deepEqual(sleeps, [7_000]);
});

test("three retries at most: the fourth transient failure fails the run", async (t) => {
  const { run, lakeDir } = setup(t);
  const before = await seedPrevious(lakeDir, numbers(3));
  const { flow, calls } = flaky(Array.from({ length: 4 }, () => new SourceError("HTTP 503", true)));
  const result = await run(flow);
  assert.equal(result.status, "failed");
  assert.equal(calls(), 4);
  assert.match(result.error!, /HTTP 503 \(gave up after 4 attempts\)/);
  assert.deepEqual(readFileSync(path.join(lakeDir, "sample-latest")), before);
});

test("a permanent failure fails at once", async (t) => {
  const { run, sleeps } = setup(t);
  const { flow, calls } = flaky([new SourceError("HTTP 400: bad query", false)]);
  const result = await run(flow);
  assert.equal(result.status, "failed");
  assert.equal(calls(), 1);
  assert.deepEqual(sleeps, []);
  assert.equal(result.error, "HTTP 400: bad query");
});

test("DATA_PIPELINES_RETRIES=false fails on the first transient fault", async (t) => {
  const { run, sleeps } = setup(t, { DATA_PIPELINES_RETRIES: "false" });
  const { flow, calls } = flaky([new SourceError("HTTP 503", true)]);
  assert.equal((await run(flow)).status, "failed");
  assert.equal(calls(), 1);
  assert.deepEqual(sleeps, []);
});

test("an unexpected exception fails the run and is recorded, not thrown", async (t) => {
  const { run, history } = setup(t);
  const result = await run(sourceFlow({ slug: "sample", fetch: async () => { throw new TypeError("boom"); } }));
  assert.equal(result.status, "failed");
  assert.equal(history.get(result.runId)!.error, "boom");
});
