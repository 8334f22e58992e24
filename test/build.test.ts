// build_all: usage, fault isolation, stopping (the graph itself: test/graph.test.ts).
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { decodeArtifact } from "../lib/artifact/artifact.ts";
import { derivedFlow, missingConsumerColumns, sourceFlow } from "../lib/flows/flow.ts";
import { RunHistory } from "../lib/history/history.ts";
import { parseKey } from "../lib/lake/lake.ts";
import { runBuild } from "../lib/run/build.ts";
import { runFlow } from "../lib/run/runner.ts";
import { ColumnarTable, table, Utf8Vector } from "../lib/table/table.ts";
import { ALL_FLOWS } from "../scripts/flows.ts";
import { startFakeSources, type FakeSources } from "./fakes/all.ts";
import { flowBench, runScript } from "./helpers.ts";

test("--concurrency is a whole number of at least 1: anything else is a usage error (exit 2) naming the flag", async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), "dp-build-usage-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const refused = ["0", "two", "1.5"];
  const results = await Promise.all(refused.map((n) => runScript("scripts/build_all.ts", ["--concurrency", n], { cwd: dir })));
  for (const [i, r] of results.entries()) {
    assert.deepEqual([r.code, r.stdout], [2, ""]);
    assert.ok(r.stderr.startsWith(`error: --concurrency: "${refused[i]}" `) && r.stderr.endsWith(" (see --help)\n"), r.stderr);
    assert.equal(r.stderr.split("\n").length, 2, "one line");
  }
});

// One lake for the build tests below, in order: a full build, then builds that need a previous one.
let sources: FakeSources;
let cwd: string;
before(async () => {
  sources = await startFakeSources({ verraRows: 1_500, subgraphs: { scale: 0.2 } });
  cwd = mkdtempSync(path.join(tmpdir(), "dp-build-"));
});
after(async () => {
  await sources.stop();
  rmSync(cwd, { recursive: true, force: true });
});

test("build_all writes the 34 -latest artifacts, each flow's run pointing to the build", async (t) => {
  const result = await runScript("scripts/build_all.ts", [], { cwd, env: sources.env });
  assert.equal(result.code, 0, result.stderr);
  const latest = readdirSync(path.join(cwd, "data", "lake")).filter((k) => k.endsWith("-latest")).sort();
  assert.deepEqual(latest, ALL_FLOWS.map((f) => `${f.slug}-latest`).sort());
  for (const key of latest) {
    const { columns } = decodeArtifact(readFileSync(path.join(cwd, "data", "lake", key)), key);
    assert.deepEqual(missingConsumerColumns(ALL_FLOWS.find((f) => f.slug === parseKey(key).slug)!, columns.map((c) => c.name)), [], `${key}: the columns the dashboard API reads`);
  }
  const history = RunHistory.open(path.join(cwd, "data", "runs.sqlite"));
  t.after(() => history.close());
  const build = history.list({ flow: "build_all" })[0]!;
  assert.equal(build.status, "succeeded");
  const children = history.list({ parentId: build.id, limit: 100 });
  assert.equal(children.length, 34);
  assert.ok(children.every((c) => c.trigger === "build_all" && c.status === "succeeded"));
  for (const slug of ["flow", "status", "rows", "duration"]) assert.match(result.stdout, new RegExp(`\\b${slug}\\b`));
  assert.match(result.stdout, /all_retirements\s+succeeded/);
});

test("a failing source: flows not downstream of it succeed, those downstream run on its previous -latest and are flagged, exit 1", async (t) => {
  // The Verra registry answers 400 to everything now: raw_verra_data fails at once.
  const env = { ...sources.env, DATA_PIPELINES_VERRA_SEARCH_URL: `${new URL(sources.verra.url).origin}/nowhere` };
  // Part of the graph (to keep the suite quick): the Verra chain and the prices, which do not read Verra.
  const part = "raw_verra_data,raw_eth_moss_bridged_offsets,verra_data_v2,verra_retirements,raw_assets_prices,current_assets_prices,assets_prices";
  const result = await runScript("scripts/build_all.ts", ["--only", part], { cwd, env });
  assert.equal(result.code, 1);
  const history = RunHistory.open(path.join(cwd, "data", "runs.sqlite"));
  t.after(() => history.close());
  const build = history.list({ flow: "build_all", limit: 1 })[0]!;
  assert.equal(build.status, "failed");
  assert.match(build.error!, /1 of 7 flows failed: raw_verra_data/);
  const children = history.list({ parentId: build.id, limit: 100 });
  const bySlug = new Map(children.map((c) => [c.flow, c]));
  assert.equal(bySlug.get("raw_verra_data")!.status, "failed");
  for (const c of children) if (c.flow !== "raw_verra_data") assert.equal(c.status, "succeeded", `${c.flow}: ${c.error}`);
  assert.ok(bySlug.get("verra_data_v2")!.notes.includes("built on the previous raw_verra_data-latest: raw_verra_data failed in this build"));
  assert.ok(!bySlug.get("verra_retirements")!.notes.some((n) => n.includes("raw_verra_data")), "only direct upstreams are flagged");
  assert.deepEqual(bySlug.get("verra_data_v2")!.upstreamKeys, ["raw_verra_data-latest", "raw_eth_moss_bridged_offsets-latest"]);
  assert.match(result.stdout, /verra_data_v2\s+succeeded\s+[\d,]+\s+\S+ \S+\s+\d+\s+built on the previous -latest of raw_verra_data/);
  assert.ok(build.notes.includes("verra_data_v2 ran on the previous -latest of raw_verra_data"));
});

test("--only and --from run just that part of the graph", async (t) => {
  const only = await runScript("scripts/build_all.ts", ["--only", "raw_assets_prices,current_assets_prices,assets_prices"], { cwd, env: sources.env });
  assert.equal(only.code, 0, only.stderr);
  const from = await runScript("scripts/build_all.ts", ["--from", "verra_retirements"], { cwd, env: sources.env });
  assert.equal(from.code, 0, from.stderr);
  const history = RunHistory.open(path.join(cwd, "data", "runs.sqlite"));
  t.after(() => history.close());
  const [fromBuild, onlyBuild] = history.list({ flow: "build_all", limit: 2 });
  assert.deepEqual(history.list({ parentId: onlyBuild!.id }).map((r) => r.flow).sort(), ["assets_prices", "current_assets_prices", "raw_assets_prices"]);
  assert.deepEqual(history.list({ parentId: fromBuild!.id }).map((r) => r.flow).sort(), ["all_retirements", "verra_retirements"]);
  const refused = await runScript("scripts/build_all.ts", ["--only", "nope"], { cwd, env: sources.env });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^error: no flow nope/m);
});

test("build_frequent runs current_assets_prices then tokens_data_v2", async (t) => {
  const result = await runScript("scripts/build_frequent.ts", [], { cwd, env: sources.env });
  assert.equal(result.code, 0, result.stderr);
  const history = RunHistory.open(path.join(cwd, "data", "runs.sqlite"));
  t.after(() => history.close());
  const build = history.list({ flow: "build_frequent", limit: 1 })[0]!;
  const runs = history.list({ parentId: build.id }).reverse();
  assert.deepEqual(runs.map((r) => [r.flow, r.status]), [["current_assets_prices", "succeeded"], ["tokens_data_v2", "succeeded"]]);
  assert.ok(Date.parse(runs[1]!.startedAt) >= Date.parse(runs[0]!.endedAt!), "one after the other");
});

test("in one process, a table a flow wrote is handed to the flows of the build that read it (its vectors, not a read of the lake), text as the bytes written", async (t) => {
  const { config, log } = flowBench(t);
  const counts = new Float64Array([1, 2, 3]);
  const source = sourceFlow({
    slug: "numbers",
    fetch: async () => new ColumnarTable([{ name: "n", type: "int" }, { name: "label", type: "string" }], [counts, ["a", null, "ç"]], 3),
  });
  const seen: unknown[] = [];
  const reader = (slug: string) => derivedFlow({
    slug, from: ["numbers"],
    build: ({ numbers }) => {
      const t = numbers as ColumnarTable;
      seen.push(t.vectors[0] === counts, t.vectors[1] instanceof Utf8Vector, t.texts("label"));
      return numbers!;
    },
  });
  const build = await runBuild({ name: "build_all", flows: [source, reader("first"), reader("second")], config, log, concurrency: 1, inProcess: true });
  assert.deepEqual(build.outcomes.map((o) => o.status), ["succeeded", "succeeded", "succeeded"]);
  assert.deepEqual(seen, [true, true, ["a", null, "ç"], true, true, ["a", null, "ç"]], "both readers got the written table itself");
});

test("in one process, derived flows run one at a time, the longest chain first, while source flows go on beside them", async (t) => {
  const { config, log } = flowBench(t);
  const one = (n: number) => table({ n: "int" }, [{ n }]);
  let derivedBegan!: () => void;
  const aDerivedBegan = new Promise<void>((resolve) => { derivedBegan = resolve; });
  const fast = sourceFlow({ slug: "fast", fetch: async () => one(1) });
  // Ends only once a derived flow has begun: a derived flow must not wait for every source.
  const slow = sourceFlow({ slug: "slow", fetch: async () => { await aDerivedBegan; return one(2); } });
  let building = 0;
  let most = 0;
  const began: string[] = [];
  const reader = (slug: string, from: string[]) => derivedFlow({
    slug, from,
    build: async (inputs) => {
      began.push(slug);
      derivedBegan();
      most = Math.max(most, ++building);
      await new Promise(setImmediate); // another flow could start here, were it allowed to
      building--;
      return Object.values(inputs)[0]!;
    },
  });
  const flows = [fast, slow, reader("b", ["fast"]), reader("c", ["fast"]), reader("a", ["fast"]), reader("after_a", ["a"]), reader("after_slow", ["slow"])];
  const build = await runBuild({ name: "build_all", flows, config, log, concurrency: 8, inProcess: true });
  assert.deepEqual(build.outcomes.map((o) => o.status), flows.map(() => "succeeded"));
  assert.equal(most, 1, "never two derived flows at once");
  assert.equal(began[0], "a", "the reader with a flow after it first");
  assert.equal(began.at(-1), "after_slow", "the slow source ended after the derived flows began");
});

test("in one process, the flow with the longest chain of work ahead of it by the last runs gets the first turns; a flow run alone waits for none", async (t) => {
  const { config, log, history, lake } = flowBench(t);
  // The last runs: "short" took longer than "long", but "long" feeds a flow that took far longer still
  // (counted in flows, the two chains are as long).
  const ran = (flow: string, ms: number) => {
    const id = history.start({ flow, trigger: "manual", at: new Date(Date.UTC(2026, 0, 1)) });
    history.addWrittenKey(id, `${flow}-latest`);
    history.finish(id, { status: "succeeded" }, new Date(Date.UTC(2026, 0, 1) + ms));
  };
  ran("short", 3_000);
  ran("long", 1_000);
  ran("after_long", 60_000);
  ran("after_short", 1);
  let arrived = 0;
  let bothArrived!: () => void;
  const together = new Promise<void>((resolve) => { bothArrived = resolve; });
  const steps: string[] = [];
  const stepping = (slug: string) => sourceFlow({
    slug,
    fetch: async (ctx) => {
      // Both flows ask for their turns from the same moment on, as two sources whose answers came together.
      if (++arrived === 2) bothArrived();
      await together;
      for (let i = 0; i < 3; i++) {
        await ctx.turn!();
        steps.push(slug);
      }
      return table({ n: "int" }, [{ n: 1 }]);
    },
  });
  const after = (slug: string, from: string) => derivedFlow({ slug, from: [from], build: (inputs) => inputs[from]! });
  const flows = [stepping("short"), stepping("long"), after("after_short", "short"), after("after_long", "long")];
  const build = await runBuild({ name: "build_all", flows, config, log, concurrency: 8, inProcess: true });
  assert.deepEqual(build.outcomes.map((o) => o.status), flows.map(() => "succeeded"));
  assert.deepEqual(steps, ["long", "long", "long", "short", "short", "short"]);

  const alone: unknown[] = [];
  const solo = sourceFlow({ slug: "solo", fetch: async (ctx) => { alone.push(ctx.turn); return table({ n: "int" }, [{ n: 1 }]); } });
  assert.equal((await runFlow(solo, { config, lake, history, log })).status, "succeeded");
  assert.deepEqual(alone, [undefined]);
});

test("in one process, what a source flow's fetch left is collected before its large table is encoded", async (t) => {
  const { config, log } = flowBench(t);
  const rows = 2 * 1024 * 1024;
  const column = new Float64Array(rows); // 16 MiB: a large table (LARGE_TABLE_BYTES is 8 MiB)
  let litter: WeakRef<Uint8Array[]> | undefined;
  const seen: unknown[] = [];
  const flows = [
    sourceFlow({
      slug: "fetched",
      fetch: async () => {
        // 80 MiB of answers no longer used once the table is made (V8 alone frees them only at its next full collection).
        const answers = Array.from({ length: 80 }, () => new Uint8Array(1 << 20).fill(1));
        litter = new WeakRef(answers);
        // A WeakRef keeps its target until the task that made it ends: the fetch's last answer came in an earlier one.
        await new Promise(setImmediate);
        return new ColumnarTable([{ name: "x", type: "float" }], [column], rows);
      },
    }),
    sourceFlow({
      slug: "next",
      fetch: async () => {
        seen.push(litter?.deref() === undefined);
        return table({ n: "int" }, [{ n: 1 }]);
      },
    }),
  ];
  const build = await runBuild({ name: "build_all", flows, config, log, concurrency: 1, inProcess: true });
  assert.deepEqual(build.outcomes.map((o) => [o.slug, o.status]), [["fetched", "succeeded"], ["next", "succeeded"]]);
  assert.deepEqual(seen, [true], "the fetch's buffers collected before the next flow");
});

test("in one process, the buffers a derived flow left are collected before the next one begins, a table the build still holds kept", async (t) => {
  const { config, log } = flowBench(t);
  const one = table({ n: "int" }, [{ n: 1 }]);
  const rows = 4 * 1024 * 1024;
  const heldColumn = new Float64Array(rows); // 32 MiB, handed on to "last"
  let litter: WeakRef<Uint8Array[]> | undefined;
  const seen: unknown[] = [];
  const flows = [
    sourceFlow({ slug: "numbers", fetch: async () => one }),
    derivedFlow({ slug: "big", from: ["numbers"], build: () => new ColumnarTable([{ name: "x", type: "float" }], [heldColumn], rows) }),
    derivedFlow({
      slug: "messy", from: ["big"],
      build: () => {
        // 80 MiB of buffers no longer used once the flow ends (V8 alone frees them only at its next full collection).
        const scratch = Array.from({ length: 80 }, () => new Uint8Array(1 << 20).fill(1));
        litter = new WeakRef(scratch);
        return one;
      },
    }),
    derivedFlow({
      slug: "last", from: ["messy", "big"],
      build: ({ big }) => {
        seen.push(litter!.deref() === undefined, (big as ColumnarTable).vectors[0] === heldColumn);
        return one;
      },
    }),
  ];
  const build = await runBuild({ name: "build_all", flows, config, log, concurrency: 1, inProcess: true });
  assert.deepEqual(build.outcomes.map((o) => o.status), flows.map(() => "succeeded"));
  assert.deepEqual(seen, [true, true], "the scratch buffers collected, the held table still handed on");
});
