import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { decodeArtifact, encodeArtifact, envelope, unwrapEnvelope } from "../lib/artifact/artifact.ts";
import { SourceError } from "../lib/core/errors.ts";
import { derivedFlow, everyColumn, sourceFlow, type Flow } from "../lib/flows/flow.ts";
import { runFlow } from "../lib/run/runner.ts";
import { processExists, RunHistory } from "../lib/history/history.ts";
import { LocalLake } from "../lib/lake/lake.ts";
import { endOpenRuns } from "../lib/process/last_resort.ts";
import { ColumnarTable, columnsOf, DictText, table, type Table } from "../lib/table/table.ts";
import { flowBench, memoryLogger, readArtifactFile, ROOT, tempDir, plain } from "./helpers.ts";

function numbers(count: number, column = "n"): Table {
  return table({ [column]: "int", label: "string" }, Array.from({ length: count }, (_, i) => ({ [column]: i, label: `row ${i}` })));
}

function setup(t: Parameters<typeof tempDir>[0], env: Record<string, string> = {}) {
  const { dir, config, lakeDir, lake, history, log, lines } = flowBench(t, env);
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

test("two runs of one flow started in the same second keep both historized copies: the second takes the next second", async (t) => {
  const { lakeDir, run } = setup(t);
  const at = new Date("2026-11-25T13:15:07.100Z");
  const first = await run(fixed(numbers(5)), { now: () => at });
  const second = await run(fixed(numbers(6)), { now: () => new Date(at.getTime() + 500) });
  const third = await run(fixed(numbers(7)), { now: () => new Date(at.getTime() + 800) });
  assert.deepEqual([first, second, third].map((r) => r.writtenKeys[0]), [
    "sample-2026_11_25__13_15_07", "sample-2026_11_25__13_15_08", "sample-2026_11_25__13_15_09",
  ]);
  assert.equal(readArtifactFile(path.join(lakeDir, "sample-2026_11_25__13_15_07")).rows.length, 5, "the first copy is not overwritten");
  assert.equal(readArtifactFile(path.join(lakeDir, "sample-2026_11_25__13_15_08")).rows.length, 6);
  assert.equal(readArtifactFile(path.join(lakeDir, "sample-latest")).rows.length, 7);
});

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
  assert.deepEqual(plain(decodeArtifact(latest, "sample-latest")), numbers(5));
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

test("a table that cannot be encoded fails the run with one line naming the column, also when it fails after the encoding let other work run; nothing written", async (t) => {
  const { lakeDir, run, history, lines } = setup(t);
  const before = await seedPrevious(lakeDir, numbers(100));
  // 40 columns of 100,000 floats (well over the 10 ms after which the encoding lets the event loop
  // run), then one whose text would pass Arrow's 2 GB: one 1 MiB value at 2,049 rows.
  const rows = 100_000;
  const codes = new Int32Array(rows).fill(-1).fill(0, 0, 2_049);
  const data = new ColumnarTable(columnsOf({ ...Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`f${i}`, "float"])), big: "string" }), [
    ...Array.from({ length: 40 }, (_, i) => Float64Array.from({ length: rows }, (_, r) => Math.sin(r * (i + 1)))),
    new DictText(codes, ["x".repeat(1 << 20)]),
  ], rows);
  const result = await run(fixed(data));
  assert.equal(result.status, "failed");
  assert.equal(result.error, 'column "big": 100,000 text values of 2,148,532,224 bytes: more than 2 GB of text in one column');
  assert.equal(history.get(result.runId)!.error, result.error);
  assert.ok(lines.some((l) => l.includes("ERROR") && l.includes('column "big": 100,000 text values')), lines.join("\n"));
  assert.deepEqual(readFileSync(path.join(lakeDir, "sample-latest")), before, "previous -latest byte-identical");
  assert.deepEqual(readdirSync(lakeDir), ["sample-latest"], "no historized copy, no temporary file");
});

test("a table whose vector is not of its column's type (a flow that builds one by hand) fails the run with one line naming the column; nothing written", async (t) => {
  const { lakeDir, run, history } = setup(t);
  const before = await seedPrevious(lakeDir, numbers(100));
  // Written as it is, the text would be Arrow UTF-8 buffers under a float64 field: an artifact no reader takes.
  const result = await run(sourceFlow({ slug: "sample", fetch: async () => new ColumnarTable(columnsOf({ n: "float", label: "string" }), [["1.5"], ["a"]], 1) }));
  assert.equal(result.status, "failed");
  assert.equal(history.get(result.runId)!.error, 'column "n" (float) is given text, not numbers');
  assert.deepEqual(readFileSync(path.join(lakeDir, "sample-latest")), before, "previous -latest byte-identical");
  assert.deepEqual(readdirSync(lakeDir), ["sample-latest"]);
  assert.throws(() => new ColumnarTable(columnsOf({ ok: "bool" }), [new Float64Array(1)], 1), { message: 'column "ok" (bool) is given numbers, not booleans' });
  assert.throws(() => new ColumnarTable(columnsOf({ at: "timestamp" }), [new Uint8Array(1)], 1), { message: 'column "at" (timestamp) is given booleans, not numbers' });
  assert.throws(() => new ColumnarTable(columnsOf({ n: "int" }), [new Float64Array(2)], 3), { message: 'column "n" has 2 values for 3 rows' });
  assert.equal(new ColumnarTable(columnsOf({ s: "string", d: "date" }), [new DictText(new Int32Array([0, -1]), ["x"]), new Float64Array(2)], 2).length, 2);
});

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

test("DRY_RUN: a flow's stand-in table (raw_verra_data's dummy) is not compared with the previous -latest; a fetched one still is", async (t) => {
  const { lake, run, history } = setup(t, { DATA_PIPELINES_DRY_RUN: "1" });
  const previous = encodeArtifact(numbers(1000));
  await lake.write("sample-latest", previous);
  const dummy = await run(sourceFlow({ slug: "sample", dryRunDummy: true, fetch: async () => numbers(1) }));
  assert.equal(dummy.status, "succeeded", dummy.error);
  assert.ok(history.get(dummy.runId)!.notes.includes("dry run: a stand-in table, not compared with sample-latest"));
  const fetched = await run(fixed(numbers(1)));
  assert.equal(fetched.status, "failed");
  assert.match(fetched.error!, /^validation against sample-latest failed: /);
  assert.deepEqual(await lake.read("sample-latest"), previous, "nothing written either way");
  const verra = (await import("../scripts/raw_verra_data.ts")).default;
  assert.equal(verra.dryRunDummy, true, "raw_verra_data's dry run is the original's dummy");
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

test("a derived flow whose upstream is damaged inside a column it reads fails with one line naming it; its own -latest stays", async (t) => {
  const { lake, run } = setup(t);
  // Bytes 70% to 72% into this (deterministic) Feather file lie inside the LZ4 frame of the text
  // column's values: overwritten, the frame no longer decompresses to the length Arrow recorded.
  const texts = Array.from({ length: 5_000 }, (_, i) => ({ n: i, text: `value ${i} ${"x".repeat(i % 50)} ${(i * 7919) % 1000}` }));
  const feather = unwrapEnvelope(encodeArtifact(table({ n: "int", text: "string" }, texts)));
  feather.fill(0xff, Math.floor(feather.length * 0.7), Math.floor(feather.length * 0.72));
  await lake.write("parent_data-latest", envelope(feather));
  const previous = encodeArtifact(numbers(3));
  await lake.write("child-latest", previous);
  const flow = derivedFlow({ slug: "child", from: { parent_data: ["text"] }, build: ({ parent_data }) => table({ n: "int" }, [{ n: parent_data!.rows.length }]) });
  const result = await run(flow);
  assert.equal(result.status, "failed");
  assert.match(result.error!, /^artifact parent_data-latest holds no readable Feather table \(corrupted or truncated\?\): an LZ4 buffer holds \d+ bytes, not the \d+ its length prefix says$/);
  assert.ok(!result.error!.includes("\n"), "one line");
  assert.deepEqual(await lake.read("child-latest"), previous);
});

test("each input declared once: listed columns are read alone and required; everyColumn reads all and requires some", async (t) => {
  const { lake, run } = setup(t);
  await lake.write("up-latest", encodeArtifact(table({ a: "int", b: "string", c: "float" }, [{ a: 1, b: "x", c: 0.5 }])));
  const seen: string[][] = [];
  const reader = (slug: string, from: Parameters<typeof derivedFlow>[0]["from"]) => derivedFlow({
    slug, from, build: ({ up }) => { seen.push(up!.columns.map((c) => c.name)); return table({ n: "int" }, [{ n: up!.rows.length }]); },
  });
  assert.equal((await run(reader("projected", { up: ["c", "a"] }))).status, "succeeded");
  assert.equal((await run(reader("every", { up: everyColumn("b") }))).status, "succeeded");
  assert.equal((await run(reader("plain", ["up"]))).status, "succeeded");
  assert.deepEqual(seen, [["a", "c"], ["a", "b", "c"], ["a", "b", "c"]]);
  for (const from of [{ up: ["a", "missing"] }, { up: everyColumn("missing") }]) {
    const result = await run(reader("lacking", from));
    assert.equal(result.status, "failed");
    assert.equal(result.error, 'up-latest has no column "missing"');
  }
  const held = derivedFlow({ slug: "held", from: { up: ["zzz"] }, build: ({ up }) => up! });
  const bench = flowBench(t);
  const fromMemory = await runFlow(held, { ...bench, upstream: () => table({ a: "int" }, []) });
  assert.equal(fromMemory.error, 'up-latest has no column "zzz"', "a table handed over in memory is checked too");
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

// ------------------------------------------------------------ one run of a flow at a time (historized keys never collide)

/** A source flow whose fetch waits until `release()`; `fetching` resolves when it has started. */
function held(slug = "sample") {
  let release!: () => void;
  let started!: () => void;
  const gate = new Promise<void>((resolve) => { release = resolve; });
  const fetching = new Promise<void>((resolve) => { started = resolve; });
  const flow = sourceFlow({ slug, fetch: async () => { started(); await gate; return numbers(3); } });
  return { flow, release, fetching };
}

const ALREADY_RUNNING = (slug: string, run: number, pid: number) =>
  new RegExp(`^${slug} is already running \\(run ${run}, pid ${pid}, started \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC\\); wait for it or stop it$`);

test("a second run of a flow while one runs fails at start, writes nothing, and is recorded; after the first ends a new run works", async (t) => {
  const { lakeDir, history, run, lines } = setup(t);
  const before = await seedPrevious(lakeDir, numbers(3));
  const first = held();
  const running = run(first.flow, { now: () => new Date("2026-11-25T13:15:07Z") });
  await first.fetching;
  let fetched = false;
  const second = await run(sourceFlow({ slug: "sample", fetch: async () => { fetched = true; return numbers(3); } }), { now: () => new Date("2026-11-25T13:15:07Z") });
  assert.equal(second.status, "failed");
  assert.match(second.error!, ALREADY_RUNNING("sample", 1, process.pid));
  assert.equal(fetched, false, "refused before fetching anything");
  assert.deepEqual(second.writtenKeys, []);
  assert.equal(history.get(second.runId)!.status, "failed");
  assert.equal(history.get(second.runId)!.error, second.error);
  assert.ok(lines.some((l) => /ERROR .*sample is already running/.test(l)), lines.join("\n"));
  assert.deepEqual(readdirSync(lakeDir), ["sample-latest"], "the second run wrote nothing");
  assert.deepEqual(readFileSync(path.join(lakeDir, "sample-latest")), before);

  first.release();
  const ended = await running;
  assert.equal(ended.status, "succeeded");
  assert.deepEqual(ended.writtenKeys, ["sample-2026_11_25__13_15_07", "sample-latest"]);
  const third = await run(fixed(numbers(3)), { now: () => new Date("2026-11-25T13:15:08Z") });
  assert.equal(third.status, "succeeded", third.error);
  assert.equal(history.get(1)!.status, "succeeded", "the first run's record is its own");
});

test("another flow runs beside a running one: the rule is per slug", async (t) => {
  const { run } = setup(t);
  const first = held("sample");
  const running = run(first.flow);
  await first.fetching;
  assert.equal((await run(sourceFlow({ slug: "other", fetch: async () => numbers(1) }))).status, "succeeded");
  first.release();
  assert.equal((await running).status, "succeeded");
});

test("a run that holds the flow in another live process blocks; once that process is gone its run is marked crashed and a new run starts", async (t) => {
  const { history, run, lakeDir } = setup(t);
  const other = spawn(process.execPath, ["-e", "process.stdin.resume()"], { stdio: ["pipe", "ignore", "ignore"] });
  t.after(() => { if (other.exitCode === null) other.kill(); });
  await once(other, "spawn");
  const held = history.start({ flow: "sample", trigger: "schedule", pid: other.pid! });
  const refused = await run(fixed(numbers(2)));
  assert.match(refused.error!, ALREADY_RUNNING("sample", held, other.pid!));
  assert.throws(() => readdirSync(lakeDir), /ENOENT/, "nothing written");

  other.stdin!.end(); // the other process ends without recording its run's end
  await once(other, "exit");
  const next = await run(fixed(numbers(2)));
  assert.equal(next.status, "succeeded", next.error);
  assert.equal(history.get(held)!.status, "crashed");
});

test("--run-id takeover: the scheduler's record is not a rival; another live run of the flow is, and the taken-over record says why", async (t) => {
  const { history, config, lake } = setup(t);
  const { log } = memoryLogger();
  const go = (runId: number | null, flow = fixed(numbers(2)), parentId?: number) =>
    runFlow(flow, { config, lake, history, log, runId, parentId, trigger: runId ? "schedule" : "build_all" });
  const scheduled = history.start({ flow: "sample", trigger: "schedule" }); // as the scheduler records it, with its own pid
  const taken = await go(scheduled);
  assert.equal(taken.status, "succeeded", taken.error);
  assert.equal(taken.runId, scheduled);

  const build = history.start({ flow: "build_all", trigger: "schedule" }); // a build running its flows in this process
  const child = await go(null, fixed(numbers(2)), build);
  assert.equal(child.status, "succeeded", child.error);
  assert.equal(history.get(child.runId)!.parentId, build);

  const first = held();
  const running = runFlow(first.flow, { config, lake, history, log: memoryLogger().log });
  await first.fetching;
  const second = history.start({ flow: "sample", trigger: "schedule" });
  const refused = await go(second);
  assert.equal(refused.runId, second);
  assert.match(refused.error!, /^sample is already running \(run \d+, pid \d+/);
  assert.equal(history.get(second)!.status, "failed");
  assert.equal(history.get(second)!.error, refused.error);
  first.release();
  assert.equal((await running).status, "succeeded");
});

test("two processes of one flow: the second fails with the already-running line; SIGTERM records the first as failed; then a new run works", async (t) => {
  const dir = tempDir(t);
  const script = path.join(dir, "slow_sample.mts");
  // A flow script as the real ones are: runWhenMain, its fetch waiting until its stdin ends.
  writeFileSync(script, `
import { runWhenMain } from ${JSON.stringify(path.join(ROOT, "lib", "run", "cli.ts"))};
import { sourceFlow } from ${JSON.stringify(path.join(ROOT, "lib", "flows", "flow.ts"))};
import { table } from ${JSON.stringify(path.join(ROOT, "lib", "table", "table.ts"))};
const flow = sourceFlow({ slug: "slow_sample", fetch: async () => {
  process.stdout.write("fetching\\n");
  await new Promise((resolve) => { process.stdin.on("end", resolve); process.stdin.resume(); });
  return table({ n: "int" }, [{ n: 1 }]);
} });
runWhenMain(import.meta, flow);
`);
  const env = {
    PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "",
    DATA_PIPELINES_RESULT_STORAGE: `file:${path.join(dir, "lake")}`, DATA_PIPELINES_DB: path.join(dir, "runs.sqlite"),
  };
  const start = (stdin: "pipe" | "ignore") => {
    const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), script], { cwd: dir, env, stdio: [stdin, "pipe", "pipe"] });
    t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL"); });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (c: Buffer) => { stdout += c.toString(); });
    child.stderr!.on("data", (c: Buffer) => { stderr += c.toString(); });
    const exited = once(child, "exit").then(([code, signal]) => ({ code: code as number | null, signal: signal as string | null, stdout, stderr }));
    return { child, exited, output: () => stdout, errors: () => stderr };
  };

  const first = start("pipe");
  for (let waited = 0; !first.output().includes("fetching"); waited += 20) {
    assert.ok(waited < 30_000 && first.child.exitCode === null, `the first run reaches its fetch: ${first.errors()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const second = await start("ignore").exited;
  assert.equal(second.code, 1, second.stderr);
  assert.match(second.stderr, new RegExp(`slow_sample is already running \\(run 1, pid ${first.child.pid}, started [^)]+\\); wait for it or stop it`));
  assert.deepEqual(readdirSync(path.join(dir, "lake")), [], "nothing written (the first run checked the lake, then waits in its fetch)");

  first.child.kill("SIGTERM");
  const firstEnd = await first.exited;
  assert.notEqual(firstEnd.code, 0);
  assert.equal(processExists(first.child.pid!), false, "no pid survives");
  const history = RunHistory.open(env.DATA_PIPELINES_DB);
  t.after(() => history.close());
  const [refused, stopped] = [history.get(2)!, history.get(1)!];
  assert.equal(stopped.status, "failed", `${firstEnd.stdout}\n${firstEnd.stderr}`);
  assert.equal(stopped.error, "stopped by SIGTERM");
  assert.equal(refused.status, "failed");
  assert.match(refused.error!, /already running/);

  const third = await start("ignore").exited; // stdin at its end at once: the fetch answers
  assert.equal(third.code, 0, third.stderr);
  assert.equal(history.get(3)!.status, "succeeded");
  assert.ok(readdirSync(path.join(dir, "lake")).includes("slow_sample-latest"));
});

// ------------------------------------------------------------ every failure ends in a recorded run

test("while a run is open the last resort can end it (SIGTERM, a crash elsewhere): recorded as failed with the reason; unregistered once its end is recorded", async (t) => {
  const { run, history } = setup(t);
  let seen: { ended: number; status?: string; error?: string | null } | undefined;
  const result = await run(sourceFlow({
    slug: "sample",
    fetch: async () => {
      const ended = endOpenRuns("stopped by SIGTERM");
      const record = history.list({ flow: "sample", limit: 1 })[0]!;
      seen = { ended, status: record.status, error: record.error };
      throw new Error("the process would have exited here");
    },
  }));
  assert.deepEqual(seen, { ended: 1, status: "failed", error: "stopped by SIGTERM" });
  assert.equal(result.status, "failed");
  assert.equal(endOpenRuns("later"), 0, "a finished run is no longer registered");
  const ok = await run(fixed(numbers(1)));
  assert.equal(ok.status, "succeeded");
  assert.equal(endOpenRuns("later"), 0);
});

test("a lake that cannot be used fails the run before any fetch, with one line naming the lake, and the run is recorded", async (t) => {
  const { dir, config, history } = setup(t);
  const notAFolder = path.join(dir, "lake-file");
  writeFileSync(notAFolder, "a file where the lake should be");
  let fetched = false;
  const result = await runFlow(sourceFlow({ slug: "sample", fetch: async () => { fetched = true; return numbers(1); } }), {
    config, lake: new LocalLake(notAFolder), history, log: memoryLogger().log,
  });
  assert.equal(result.status, "failed");
  assert.equal(fetched, false);
  assert.match(result.error!, /lake file:.*lake-file is not usable: .*lake-file is not a folder \(ENOTDIR\)/);
  assert.equal(history.get(result.runId)!.status, "failed");
});
