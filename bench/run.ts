// npm run bench [-- <case> ...] [flags]        (npm run bench -- --help lists them)
// Reproducible figures against the local fakes: a table on stdout (each figure against its target,
// where the issue sets one), the same as JSON in bench/results.json. Benchmarks never fail on a
// timing; they exit non-zero only if a measured command itself failed.
import { spawn } from "node:child_process";
import diagnostics from "node:diagnostics_channel";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { renderTable } from "../lib/table/format.ts";
import { attribute, flowBound, longestChain, type FlowBound, type Interval } from "./critical_path.ts";
import { cpuParts, measure, type Measured } from "./measure.ts";
import { promoteFullSet, s3Clean } from "./s3.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CASES = ["build_all", "verra_ingest", "derived", "transforms", "codec", "pagination", "startup", "s3_clean", "promote"] as const;
const USAGE = `usage: npm run bench -- [${CASES.join(" | ")} ...] [flags]

  build_all     every flow over the fakes with latency per request: concurrency 1 and the default, against
                the critical path computed from each flow's sequential requests
  verra_ingest  raw_verra_data (and verra_data_v2) at --verra-rows
  derived       build_all --only <the 17 derived flows>, in one process, on the realistic lake: CPU, wall, peak RSS
  transforms    each derived flow's build on its realistic input (a build_all lake), fetch and decoding excluded
  codec         the lake's 34 -latest in bytes, and encode, decode and pandas.read_feather of its largest
                artifact, each compression this Node writes (zstd: Node 22.15 or later)
  pagination    one subgraph collection of --records at --latency, against its sequential bound
  startup       --help and a no-op flow, with npx tsx and without, median of --runs; where the time goes
  s3_clean      list --artifacts artifacts on the fake S3 server, then clean_up_old_artifacts over them
  promote       promote.ts of the full 34-dataset set at the build_all scale, between two buckets of the fake S3 server

  --build-verra-rows N   Verra rows for build_all, transforms, codec (200000)
  --build-records N      records of the largest subgraph queries for the same (50000)
  --verra-rows N         Verra rows for verra_ingest (500000)
  --records N            pagination records (50000)
  --latency MS           added latency per request, build_all and pagination (100)
  --runs N               startup repetitions (5)
  --artifacts N          s3_clean artifacts (5000)
  --lake DIR             the lake transforms and codec read; built there by build_all (no latency) if it has no artifacts
  --all-variants         build_all also with --isolate and at concurrency 8
  --repeat N             build_all's default build, each in a new folder: figures of the median wall (3)

  DATA_PIPELINES_ARTIFACT_COMPRESSION (lz4 | zstd | none) is passed on to the flows of build_all, the
  lake and promote: run a case under each to compare.
`;
const { values: flags, positionals } = parseArgs({
  options: {
    "verra-rows": { type: "string", default: "500000" },
    "build-verra-rows": { type: "string", default: "200000" },
    "build-records": { type: "string", default: "50000" },
    records: { type: "string", default: "50000" },
    latency: { type: "string", default: "100" },
    runs: { type: "string", default: "5" },
    artifacts: { type: "string", default: "5000" },
    lake: { type: "string" },
    "all-variants": { type: "boolean" },
    repeat: { type: "string", default: "3" },
    help: { type: "boolean", short: "h" },
  },
  allowPositionals: true,
});
if (flags.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const selected = positionals.length ? positionals : [...CASES];
/** The artifact compression the flows write, from the bench's own environment. */
const compressionEnv: Record<string, string> = process.env.DATA_PIPELINES_ARTIFACT_COMPRESSION
  ? { DATA_PIPELINES_ARTIFACT_COMPRESSION: process.env.DATA_PIPELINES_ARTIFACT_COMPRESSION }
  : {};
for (const name of selected) {
  if (!(CASES as readonly string[]).includes(name)) throw new Error(`unknown case "${name}" (cases: ${CASES.join(", ")})`);
}

// ------------------------------------------------------------------------------------------ figures

interface Figure {
  case: string;
  measure: string;
  value: number;
  unit: string;
  note?: string;
  /** The issue's target for this figure, and whether this run met it. */
  target?: string;
  met?: boolean;
}
const figures: Figure[] = [];
/** Detail that does not fit the table (per-flow timings), kept in results.json. */
const details: Record<string, unknown> = {};
const record = (f: Figure) => {
  figures.push(f);
  const target = f.target ? ` [target ${f.target}: ${f.met ? "met" : "missed"}]` : "";
  process.stderr.write(`  ${f.case} ${f.measure}: ${f.value} ${f.unit}${f.note ? ` (${f.note})` : ""}${target}\n`);
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number, digits = 1) => Number(x.toFixed(digits));
const MiB = 1024 * 1024;
const thousands = (n: number) => Math.round(n).toLocaleString("en-US");
let failed = false;
const temporary: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(path.join(tmpdir(), "dp-bench-"));
  temporary.push(dir);
  return dir;
};
/**
 * A measured run's folder removed as soon as its figures are read: a build's lake left behind (hundreds
 * of MB in the page cache) made the next build's system time grow by seconds (README, Benchmarks).
 */
const removeTempDir = (dir: string) => rmSync(dir, { recursive: true, force: true });

// ------------------------------------------------------------------------------------------ processes

const check = (what: string, m: Measured) => {
  if (m.code !== 0) {
    failed = true;
    process.stderr.write(`${what} failed (exit ${m.code}):\n${m.stderr}\n`);
  }
};

interface Served { env: Record<string, string>; cpuMs(): Promise<number>; kill(): void }

/** Start `bench/serve.ts <args>` (one fake in its own process) and read the URLs it prints. */
function serveFake(args: string[]): Promise<Served> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), path.join(ROOT, "bench", "serve.ts"), ...args], { stdio: ["pipe", "pipe", "inherit"] });
    const waiting: Array<(line: string) => void> = [];
    let buffered = "";
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      for (let at = buffered.indexOf("\n"); at >= 0; at = buffered.indexOf("\n")) {
        const line = buffered.slice(0, at);
        buffered = buffered.slice(at + 1);
        waiting.shift()?.(line);
      }
    });
    waiting.push((line) => resolve({
      env: JSON.parse(line),
      cpuMs: () => new Promise((answer) => {
        waiting.push((usage) => answer((JSON.parse(usage) as { cpuMs: number }).cpuMs));
        child.stdin.write("usage\n");
      }),
      kill: () => child.kill(),
    }));
    child.on("exit", (code) => reject(new Error(`fake ${args[0]} exited (${code})`)));
  });
}

/** Every fake at build_all's scale, each in its own process. */
async function serveAll(latencyMs: number): Promise<{ env: Record<string, string>; latencyOrigins: Set<string>; cpuMs(): Promise<number>; stop(): void }> {
  const verraRows = Number(flags["build-verra-rows"]);
  const records = Number(flags["build-records"]);
  process.stderr.write(`fakes: generating ${thousands(verraRows)} Verra records and subgraph data with ${thousands(records)} retirements...\n`);
  const fakes = await Promise.all([
    serveFake(["verra", String(verraRows), String(latencyMs)]),
    serveFake(["subgraphs", String(records), String(latencyMs)]),
    serveFake(["rpc"]),
  ]);
  const env = Object.assign({}, ...fakes.map((f) => f.env)) as Record<string, string>;
  return {
    env,
    // The RPC fake has no latency: its requests are the flows' own time.
    latencyOrigins: new Set([...Object.values(fakes[0]!.env), ...Object.values(fakes[1]!.env)].map((url) => new URL(url).origin)),
    cpuMs: async () => (await Promise.all(fakes.map((f) => f.cpuMs()))).reduce((a, b) => a + b, 0),
    stop: () => fakes.forEach((f) => f.kill()),
  };
}

// ------------------------------------------------------------------------------------------ build_all

/**
 * build_all over every fake at realistic scale with latency per request: concurrency 1 against the
 * default; the critical path (each flow's sequential request rounds x latency + its own compute
 * time, measured at concurrency 1, along the longest dependency chain: the least any schedule can
 * take with sources that answer in exactly the latency); peak RSS.
 */
async function buildAll(): Promise<void> {
  const { flowGraph } = await import("../lib/run/graph.ts");
  const { ALL_FLOWS } = await import("../scripts/flows.ts");
  const { RunHistory } = await import("../lib/history/history.ts");
  const { DEFAULT_CONCURRENCY, DEFAULT_ISOLATED_CONCURRENCY } = await import("../lib/run/build.ts");
  const latencyMs = Number(flags.latency);
  const repeat = Number(flags.repeat);
  if (!Number.isInteger(repeat) || repeat < 1) throw new Error(`--repeat: "${flags.repeat}" is not a whole number of at least 1`);
  const sizes = `${latencyMs} ms latency, Verra ${thousands(Number(flags["build-verra-rows"]))}, ${thousands(Number(flags["build-records"]))} retirements, ${process.env.DATA_PIPELINES_ARTIFACT_COMPRESSION ?? "lz4"} artifacts`;
  const sources = await serveAll(latencyMs);
  const graph = flowGraph(ALL_FLOWS);
  const variants: Array<[string, string[]]> = [
    ["concurrency 1", ["--concurrency", "1"]],
    [`concurrency ${DEFAULT_CONCURRENCY} (default)`, ["--concurrency", String(DEFAULT_CONCURRENCY)]],
    ...(flags["all-variants"] ? [
      [`concurrency ${DEFAULT_ISOLATED_CONCURRENCY}, --isolate (its default)`, ["--concurrency", String(DEFAULT_ISOLATED_CONCURRENCY), "--isolate"]],
      ["concurrency 8 (the default before 2026-12-04)", ["--concurrency", "8"]],
    ] as Array<[string, string[]]> : []),
  ];
  const walls = new Map<string, number>();
  // The concurrency-1 build's folder (its run history and lake), for a default build run after it.
  let previousRun: string | undefined;
  let bound: { ms: number; chain: string[] } | undefined;
  let machineBoundMs = 0;
  let pipelineCpuMs = 0;
  try {
    for (const [label, args] of variants) {
      const isDefault = label.endsWith("(default)");
      // The default build, each in a new folder, --repeat times: its figures are those of the run of
      // median wall time (one run moves by 5% with the machine), its peak the highest of them.
      const repeats: Array<{ run: Measured; fakeCpu: number; windows: Array<{ slug: string; start: number; end: number }> }> = [];
      for (let i = 0; i < (isDefault ? repeat : 1); i++) {
        const cwd = tempDir();
        const fakeCpuBefore = await sources.cpuMs();
        const run = await measure("scripts/build_all.ts", args, cwd, { ...sources.env, ...compressionEnv });
        const fakeCpu = (await sources.cpuMs()) - fakeCpuBefore;
        check(`build_all ${args.join(" ")}`, run);
        // Each flow's window in this build, from the run history.
        const history = RunHistory.open(path.join(cwd, "data", "runs.sqlite"));
        const runs = history.list({ limit: 1000 }).filter((r) => r.flow !== "build_all" && r.endedAt);
        history.close();
        if (args[1] === "1") previousRun = cwd;
        else removeTempDir(cwd);
        repeats.push({ run, fakeCpu, windows: runs.map((r) => ({ slug: r.flow, start: Date.parse(r.startedAt), end: Date.parse(r.endedAt!) })) });
      }
      const { run, fakeCpu, windows } = [...repeats].sort((a, b) => a.run.ms - b.run.ms)[Math.floor(repeats.length / 2)]!;
      walls.set(label, run.ms);
      const peakOf = (r: Measured) => Math.max(...(args.includes("--isolate") ? r.usages.filter((u) => !u.script.endsWith("build_all.ts")) : r.usages).map((u) => u.maxRssBytes));
      const peak = Math.max(...repeats.map((r) => peakOf(r.run)));
      const heaviest = repeats.flatMap((r) => r.run.usages).find((u) => u.maxRssBytes === peak)?.script.split("/").pop();
      const several = repeats.length > 1 ? `; median of ${repeats.length} runs: ${repeats.map((r) => round(r.run.ms / 1000)).join(", ")} s` : "";
      record({ case: "build_all", measure: `wall time, ${label}`, value: round(run.ms / 1000), unit: "s", note: `${sizes}${several}` });
      record({
        case: "build_all", measure: `peak RSS of one process, ${label}`, value: round(peak / MiB, 0), unit: "MiB",
        note: `${heaviest}${repeats.length > 1 ? `; the highest of ${repeats.length} runs: ${repeats.map((r) => round(peakOf(r.run) / MiB, 0)).join(", ")} MiB` : ""}`,
        ...(isDefault ? { target: "< 500 MiB", met: peak < 500 * MiB } : {}),
      });
      record({ case: "build_all", measure: `CPU time, ${label}`, value: round(run.cpuMs / 1000), unit: "s", note: `pipeline (${cpuParts(run)}); the fakes used ${round(fakeCpu / 1000)} s more` });
      const buildStart = Math.min(...windows.map((w) => w.start));
      details[`build_all ${label}`] = windows.sort((a, b) => a.end - b.end).map((w) => ({ flow: w.slug, startS: round((w.start - buildStart) / 1000, 2), endS: round((w.end - buildStart) / 1000, 2) }));
      if (isDefault) {
        machineBoundMs = (run.cpuMs + fakeCpu) / 2;
        pipelineCpuMs = run.cpuMs;
      }
      if (args[1] !== "1") continue;

      // Concurrency 1, in one process: flows ran one at a time, so a request belongs to the flow running then.
      const requests = run.usages.flatMap((u) => u.requests ?? []).filter((r) => sources.latencyOrigins.has(r.origin));
      const byFlow = attribute(requests, windows);
      const bounds = new Map<string, FlowBound>(windows.map((w) => [w.slug, flowBound({ slug: w.slug, ms: w.end - w.start, requests: byFlow.get(w.slug)! }, latencyMs)]));
      const chain = longestChain(graph, (slug) => bounds.get(slug)?.boundMs ?? 0);
      // The process's own start-up (node, tsx, imports) and wind-down (summary, exit) are in any build's wall time too.
      const startupMs = Math.max(0, buildStart - run.startedAt);
      const windDownMs = Math.max(0, run.endedAt - Math.max(...windows.map((w) => w.end)));
      bound = { ms: startupMs + chain.ms + windDownMs, chain: chain.chain };
      const durations = longestChain(graph, (slug) => bounds.get(slug)?.ms ?? 0);
      details["build_all flows at concurrency 1"] = [...bounds.values()].map((b) => ({ ...b, ms: Math.round(b.ms), computeMs: Math.round(b.computeMs), boundMs: Math.round(b.boundMs) }));
      const onChain = bound.chain.map((s) => `${s} ${bounds.get(s)!.rounds} rounds + ${round(bounds.get(s)!.computeMs / 1000)} s`).join(", ");
      record({
        case: "build_all", measure: "critical path: start-up + sequential requests x latency + compute along the longest chain + wind-down", value: round(bound.ms / 1000), unit: "s",
        note: `${round(startupMs / 1000)} s + ${onChain} + ${round(windDownMs / 1000)} s`,
      });
      record({ case: "build_all", measure: "longest chain of whole flow durations at concurrency 1 (the older figure, no start-up)", value: round(durations.ms / 1000), unit: "s", note: durations.chain.join(" > ") });
    }
    const wall = (prefix: string) => [...walls].find(([label]) => label.startsWith(prefix))?.[1];
    const c1 = wall("concurrency 1")!;
    const byDefault = wall(`concurrency ${DEFAULT_CONCURRENCY} (default)`)!;
    if (bound) {
      const ratio = byDefault / bound.ms;
      record({ case: "build_all", measure: "default / critical path", value: round(ratio, 2), unit: "x", target: "<= 1.25", met: ratio <= 1.25 });
      // Issue 16's bound: the larger of the critical path and the pipeline's CPU spread over the cores.
      const floor = Math.max(bound.ms, pipelineCpuMs / availableParallelism());
      record({
        case: "build_all", measure: "default / max(critical path, pipeline CPU / cores)", value: round(byDefault / floor, 2), unit: "x",
        note: `floor ${round(floor / 1000)} s (${bound.ms >= pipelineCpuMs / availableParallelism() ? "the critical path" : `CPU / ${availableParallelism()} cores`})${repeat > 1 ? `; the default build of median wall of ${repeat}` : ""}`,
        target: "<= 1.2", met: byDefault / floor <= 1.2,
      });
      const machine = machineBoundMs / bound.ms;
      record({ case: "build_all", measure: "CPU of pipeline and fakes at the default / 2 cores", value: round(machineBoundMs / 1000), unit: "s", note: `${round(machine, 2)}x the critical path: another lower bound, all the CPU spread over both cores` });
    }
    // As a daily build runs: over the run history and the lake of a build before it (flows weighed
    // by their last durations, lib/run/graph.ts; each table validated against its previous -latest).
    if (previousRun && bound) {
      const run = await measure("scripts/build_all.ts", ["--concurrency", String(DEFAULT_CONCURRENCY)], previousRun, { ...sources.env, ...compressionEnv });
      check("build_all, second run", run);
      record({ case: "build_all", measure: "wall time, default, over the history and lake of the concurrency 1 build", value: round(run.ms / 1000), unit: "s" });
      record({ case: "build_all", measure: "peak RSS, default, over that history and lake", value: round(run.maxRssBytes / MiB, 0), unit: "MiB" });
      record({ case: "build_all", measure: "that wall / max(critical path, pipeline CPU / cores)", value: round(run.ms / Math.max(bound.ms, run.cpuMs / availableParallelism()), 2), unit: "x" });
    }
    const isolate = wall(`concurrency ${DEFAULT_ISOLATED_CONCURRENCY}, --isolate`);
    if (isolate && bound) record({ case: "build_all", measure: "--isolate / critical path", value: round(isolate / bound.ms, 2), unit: "x" });
    record({ case: "build_all", measure: "concurrency 1 / default", value: round(c1 / byDefault, 2), unit: "x", target: ">= 3", met: c1 / byDefault >= 3 });
  } finally {
    sources.stop();
    if (previousRun) removeTempDir(previousRun);
  }
}

// ------------------------------------------------------------------------------------------ verra_ingest

async function verraIngest(): Promise<void> {
  const { generateVerraRecords, startFakeVerra } = await import("../test/fakes/verra.ts");
  const rows = Number(flags["verra-rows"]);
  process.stderr.write(`verra_ingest: generating ${thousands(rows)} Verra records...\n`);
  const fake = await startFakeVerra({ records: generateVerraRecords(rows) });
  const cwd = tempDir();
  try {
    const env = { DATA_PIPELINES_VERRA_SEARCH_URL: fake.url };
    const ingest = await measure("scripts/raw_verra_data.ts", [], cwd, env);
    check("raw_verra_data", ingest);
    record({ case: "verra_ingest", measure: "wall time", value: round(ingest.ms / 1000), unit: "s", note: `${thousands(rows)} rows, ${fake.requests.length} requests` });
    record({ case: "verra_ingest", measure: "rows/s", value: Math.round(rows / (ingest.ms / 1000)), unit: "rows/s" });
    record({ case: "verra_ingest", measure: "peak RSS", value: round(ingest.maxRssBytes / MiB, 0), unit: "MiB", target: "< 1536 MiB", met: ingest.maxRssBytes < 1536 * MiB });
    const again = await measure("scripts/raw_verra_data.ts", [], cwd, env);
    check("raw_verra_data (second run)", again);
    record({ case: "verra_ingest", measure: "wall time, with validation against a previous artifact", value: round(again.ms / 1000), unit: "s" });
    record({ case: "verra_ingest", measure: "peak RSS, with validation", value: round(again.maxRssBytes / MiB, 0), unit: "MiB", target: "< 1536 MiB", met: again.maxRssBytes < 1536 * MiB });

    // verra_data_v2 on those rows (its other upstream, the Moss batches, is seeded empty).
    const { LocalLake } = await import("../lib/lake/lake.ts");
    const { encodeArtifact } = await import("../lib/artifact/artifact.ts");
    const { table } = await import("../lib/table/table.ts");
    await new LocalLake(path.join(cwd, "data", "lake")).write("raw_eth_moss_bridged_offsets-latest", encodeArtifact(table({ "Serial Number": "string" }, [])));
    const v2 = await measure("scripts/verra_data_v2.ts", [], cwd, {});
    check("verra_data_v2", v2);
    record({ case: "verra_ingest", measure: "verra_data_v2 on those rows, wall time", value: round(v2.ms / 1000), unit: "s", note: "decoding, building, encoding, writing" });
    record({ case: "verra_ingest", measure: "verra_data_v2 peak RSS", value: round(v2.maxRssBytes / MiB, 0), unit: "MiB", target: "< 600 MiB", met: v2.maxRssBytes < 600 * MiB });
  } finally {
    await fake.stop();
  }
}

// ------------------------------------------------------------------------------------------ transforms, codec

let lakeBuilt: Promise<string> | undefined;

/** A lake holding every flow's `-latest` at build_all's scale: --lake if it has artifacts, else built by build_all (no latency). */
function realisticLake(): Promise<string> {
  lakeBuilt ??= (async () => {
    const dir = path.resolve(flags.lake ?? path.join(tempDir(), "lake"));
    if (existsSync(dir) && readdirSync(dir).some((f) => f.endsWith("-latest"))) return dir;
    mkdirSync(dir, { recursive: true });
    const sources = await serveAll(0);
    try {
      process.stderr.write(`building a lake in ${dir}...\n`);
      const run = await measure("scripts/build_all.ts", [], tempDir(), { ...sources.env, ...compressionEnv, DATA_PIPELINES_RESULT_STORAGE: `file:${dir}` });
      check("build_all (the lake for transforms and codec)", run);
    } finally {
      sources.stop();
    }
    return dir;
  })();
  return lakeBuilt;
}

/** What pandas took for the same 17 derived datasets on this lake (the original's logic, LZ4 included; issue 16). */
const PANDAS_DERIVED = { cpuMs: 9_650, peakMiB: 769 };

/**
 * The 17 derived flows as one build in one process (`build_all --only ...`), reading the realistic
 * lake's raw `-latest` and writing theirs back (in a copy of the lake: the original is left as it was).
 * Median of 3 by CPU; peak RSS the largest of the three.
 */
async function derived(): Promise<void> {
  const lakeDir = await realisticLake();
  const { ALL_FLOWS } = await import("../scripts/flows.ts");
  const slugs = ALL_FLOWS.filter((f) => f.kind === "derived").map((f) => f.slug);
  const runs: Measured[] = [];
  // tokens_data_v2 calls the Polygon RPC; nothing else is asked of a source. The other fakes are not
  // started: making their data churns gigabytes just before the runs, which doubled the runs' system time.
  const rpc = await serveFake(["rpc"]);
  const sources = { env: rpc.env, stop: () => rpc.kill() };
  try {
  for (let i = 0; i < 3; i++) {
    const copy = path.join(tempDir(), "lake");
    cpSync(lakeDir, copy, { recursive: true, filter: (from) => !/-\d{4}_\d\d_\d\d__/.test(path.basename(from)) });
    const cwd = tempDir();
    const run = await measure("scripts/build_all.ts", ["--only", slugs.join(",")], cwd, { ...sources.env, ...compressionEnv, DATA_PIPELINES_RESULT_STORAGE: `file:${copy}` });
    removeTempDir(path.dirname(copy));
    removeTempDir(cwd);
    check(`build_all --only <${slugs.length} derived>`, run);
    if (run.code !== 0) return;
    runs.push(run);
  }
  } finally {
    sources.stop();
  }
  const byCpu = [...runs].sort((a, b) => a.cpuMs - b.cpuMs);
  const mid = byCpu[1]!;
  const peak = Math.max(...runs.map((r) => r.maxRssBytes)) / MiB;
  const of = `${slugs.length} derived flows, one process, ${compressionEnv.DATA_PIPELINES_ARTIFACT_COMPRESSION ?? "lz4"}`;
  record({
    case: "derived", measure: `CPU, ${of}`, value: round(mid.cpuMs / 1000, 2), unit: "s",
    note: `${cpuParts(mid)}; pandas ${PANDAS_DERIVED.cpuMs / 1000} s`, target: "<= 4.8 s", met: mid.cpuMs <= 4_800,
  });
  record({ case: "derived", measure: `wall, ${of}`, value: round(mid.ms / 1000, 2), unit: "s" });
  record({ case: "derived", measure: `peak RSS, ${of}`, value: Math.round(peak), unit: "MiB", note: `pandas ${PANDAS_DERIVED.peakMiB} MiB`, target: "<= 400 MiB", met: peak <= 400 });
}

/** The flows that join their rows with verra_data_v2 (mergeWithVerra): each indexes Verra's rows by id first. */
const VERRA_JOINS = new Set(["polygon_retired_offsets_v2", "polygon_bridged_offsets_v2", "eth_moss_bridged_offsets_v2", "eth_retired_offsets_v2"]);
const ROWS_PER_S = 200_000;

/**
 * Each derived flow's build on the tables of a realistic lake, in this process: inputs decoded
 * beforehand (with the flow's column projection, as the runner reads them), source calls answered
 * from a cache after a warm-up run (tokens_data_v2's RPC), median of at least 3 runs and 1 s.
 * rows/s counts the flow's input rows; for a Verra join, its own rows (Verra's are the lookup).
 */
async function transforms(): Promise<void> {
  const lakeDir = await realisticLake();
  const { ALL_FLOWS } = await import("../scripts/flows.ts");
  const { LocalLake, latestKey } = await import("../lib/lake/lake.ts");
  const { decodeArtifact } = await import("../lib/artifact/artifact.ts");
  const { loadConfig } = await import("../lib/config/config.ts");
  const { Logger } = await import("../lib/core/log.ts");
  const { mergeWithVerra } = await import("../lib/table/transforms.ts");
  const { startFakePolygonRpc } = await import("../test/fakes/polygon_rpc.ts");
  const rpc = await startFakePolygonRpc();
  const lake = new LocalLake(lakeDir);
  const answers = new Map<string, Promise<unknown>>();
  const ctx = {
    config: loadConfig({ DATA_PIPELINES_POLYGON_RPC_URL: rpc.url, DATA_PIPELINES_RESULT_STORAGE: `file:${lakeDir}` }, tempDir()),
    log: new Logger({ format: "human", progress: false, stream: { write: () => true } as unknown as NodeJS.WritableStream }),
    now: new Date(),
    note: () => {},
    retry: <T>(what: string, request: () => Promise<T>): Promise<T> => {
      if (!answers.has(what)) answers.set(what, request());
      return answers.get(what) as Promise<T>;
    },
  };
  const results: Array<{ slug: string; rows: number; out: number; ms: number; rate: number; join: boolean; verraIndexMs?: number }> = [];
  try {
    for (const flow of ALL_FLOWS) {
      if (flow.kind !== "derived") continue;
      const inputs: Record<string, import("../lib/table/table.ts").Table> = {};
      for (const up of flow.from) {
        const bytes = await lake.read(latestKey(up));
        if (!bytes) throw new Error(`${lakeDir} has no ${latestKey(up)}`);
        inputs[up] = decodeArtifact(bytes, latestKey(up), flow.inputs[up]!.columns);
      }
      const join = VERRA_JOINS.has(flow.slug);
      const rows = flow.from.filter((up) => !(join && up === "verra_data_v2")).reduce((n, up) => n + inputs[up]!.rows.length, 0);
      let out = (await flow.build(inputs, ctx)).rows.length; // warm-up; source answers cached
      const times: number[] = [];
      while (times.length < 3 || (times.length < 20 && times.reduce((a, b) => a + b, 0) < 1000)) {
        const started = performance.now();
        out = (await flow.build(inputs, ctx)).rows.length;
        times.push(performance.now() - started);
      }
      const ms = median(times);
      let verraIndexMs: number | undefined;
      if (join) {
        // The fixed part of a join: indexing Verra's rows, measured on an empty left side.
        const verra = inputs.verra_data_v2!;
        const empty = { columns: [{ name: "project_id", type: "string" as const }], rows: [] };
        const index: number[] = [];
        for (let i = 0; i < 3; i++) {
          const started = performance.now();
          mergeWithVerra(empty, verra);
          index.push(performance.now() - started);
        }
        verraIndexMs = median(index);
      }
      results.push({ slug: flow.slug, rows, out, ms, rate: rows / (ms / 1000), join, verraIndexMs });
    }
  } finally {
    await rpc.stop();
  }
  for (const r of results) {
    const verraRows = r.join ? ` + Verra's ${thousands(Number(flags["build-verra-rows"]))} as the lookup` : "";
    const note = `${thousands(r.rows)} rows${verraRows} -> ${thousands(r.out)} in ${round(r.ms, 1)} ms`;
    if (r.join) {
      record({
        case: "transforms", measure: `${r.slug} (Verra join) rows/s`, value: Math.round(r.rate), unit: "rows/s",
        note: `${note}, of which ${round(r.verraIndexMs!, 1)} ms indexing Verra's rows by id (fixed, whatever the rows joined)`,
      });
    } else {
      record({ case: "transforms", measure: `${r.slug} rows/s`, value: Math.round(r.rate), unit: "rows/s", note, target: `>= ${thousands(ROWS_PER_S)}`, met: r.rate >= ROWS_PER_S });
    }
  }
  const slowest = [...results].sort((a, b) => a.rate - b.rate).slice(0, 5);
  record({
    case: "transforms", measure: "five slowest", value: Math.round(slowest[0]!.rate), unit: "rows/s",
    note: slowest.map((r) => `${r.slug}${r.join ? " (join)" : ""} ${thousands(r.rate)}`).join(", "),
  });
  details.transforms = results.map((r) => ({ ...r, ms: round(r.ms, 2), rate: Math.round(r.rate) }));
}

/**
 * Compression, on the realistic lake: the bytes of its 34 -latest and of one day of historized copies
 * (build_all runs once a day; every flow but the two of build_frequent keeps a copy) written each way;
 * encode and decode of its largest artifact (median of 3), MB/s of the uncompressed envelope for all, so
 * that the figures compare; pandas.read_feather of it (median of 3 in one Python, when there is one).
 */
async function codec(): Promise<void> {
  const lakeDir = await realisticLake();
  const { LocalLake } = await import("../lib/lake/lake.ts");
  const { COMPRESSIONS, compressionUnavailable, decodeArtifact, encodeArtifact } = await import("../lib/artifact/artifact.ts");
  const { ALL_FLOWS } = await import("../scripts/flows.ts");
  const compressions = COMPRESSIONS.filter((c) => !compressionUnavailable(c));
  const skipped = COMPRESSIONS.filter((c) => compressionUnavailable(c));
  const notHistorized = new Set(ALL_FLOWS.filter((f) => f.historized === false).map((f) => f.slug));
  const lake = new LocalLake(lakeDir);
  const latest = (await lake.list()).artifacts.filter((a) => a.key.endsWith("-latest")).sort((a, b) => b.size - a.size);
  const timed = <T>(work: () => T): { ms: number; result: T } => {
    const times: number[] = [];
    let result!: T;
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      result = work();
      times.push(performance.now() - started);
    }
    return { ms: median(times), result };
  };

  // The whole set, each way: one artifact in memory at a time.
  const total: Record<string, number> = {};
  const day: Record<string, number> = {};
  for (const a of latest) {
    const table = decodeArtifact((await lake.read(a.key))!, a.key);
    for (const c of compressions) {
      const size = encodeArtifact(table, c).length;
      total[c] = (total[c] ?? 0) + size;
      if (!notHistorized.has(a.key.slice(0, -"-latest".length))) day[c] = (day[c] ?? 0) + size;
    }
  }
  const historized = latest.filter((a) => !notHistorized.has(a.key.slice(0, -"-latest".length))).length;
  for (const c of compressions) {
    const vsNone = c === "none" ? "" : `, ${round(total[c]! / total.none! * 100, 0)}% of none`;
    record({ case: "codec", measure: `${latest.length} -latest, ${c}`, value: round(total[c]! / 1e6), unit: "MB", note: `envelopes${vsNone}` });
    record({ case: "codec", measure: `one day of historized copies (${historized}), ${c}`, value: round(day[c]! / 1e6), unit: "MB" });
  }

  // The largest artifact.
  const largest = latest[0]!;
  const table = decodeArtifact((await lake.read(largest.key))!, largest.key);
  const shape = `${largest.key}: ${thousands(table.rows.length)} rows x ${table.columns.length} columns`;
  const plain = encodeArtifact(table, "none").length / 1e6;
  record({ case: "codec", measure: "largest artifact, uncompressed envelope", value: round(plain), unit: "MB", note: shape });
  const dir = tempDir();
  const files: string[] = [];
  for (const c of compressions) {
    const encoded = timed(() => encodeArtifact(table, c));
    const decoded = timed(() => decodeArtifact(encoded.result, largest.key));
    const mb = encoded.result.length / 1e6;
    record({ case: "codec", measure: `largest, ${c}: size`, value: round(mb), unit: "MB", note: `${round(mb / plain * 100, 0)}% of none` });
    record({ case: "codec", measure: `largest, ${c}: encode (table to envelope)`, value: round(plain / (encoded.ms / 1000)), unit: "MB/s", note: `${round(encoded.ms / 1000, 2)} s; MB of the uncompressed envelope` });
    record({ case: "codec", measure: `largest, ${c}: decode (envelope to table)`, value: round(plain / (decoded.ms / 1000)), unit: "MB/s", note: `${round(decoded.ms / 1000, 2)} s; MB of the uncompressed envelope` });
    const file = path.join(dir, `${c}.artifact`);
    writeFileSync(file, encoded.result);
    files.push(file);
  }
  if (skipped.length) record({ case: "codec", measure: `${skipped.join(", ")}: not measured`, value: 0, unit: "", note: compressionUnavailable(skipped[0]!) });

  // The consumer's side: pandas.read_feather, median of 3, in the Python the tests use.
  const python = process.env.PANDAS_PYTHON || path.join(ROOT, ".ci-cache", "venv", "bin", "python");
  const script = [
    "import base64, io, json, sys, time",
    "import pandas as pd",
    "out = {}",
    "for path in sys.argv[1:]:",
    "    raw = base64.decodebytes(json.loads(open(path, 'rb').read())['data'].encode())",
    "    times = []",
    "    for _ in range(3):",
    "        started = time.perf_counter(); pd.read_feather(io.BytesIO(raw)); times.append(time.perf_counter() - started)",
    "    out[path] = sorted(times)[1]",
    "print(json.dumps(out))",
  ].join("\n");
  const read = await new Promise<Record<string, number> | string>((resolve) => {
    const child = spawn(python, ["-c", script, ...files], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => { stdout += chunk; });
    child.stderr.on("data", (chunk: Buffer) => { stderr += chunk; });
    child.on("error", (error) => resolve(error.message));
    child.on("close", (code) => resolve(code === 0 ? JSON.parse(stdout) : stderr.trim().split("\n").at(-1) ?? `exit ${code}`));
  });
  if (typeof read === "string") {
    record({ case: "codec", measure: "pandas.read_feather: not measured", value: 0, unit: "", note: `${python}: ${read} (set PANDAS_PYTHON, or run .ci/run once)` });
  } else {
    compressions.forEach((c, i) => record({ case: "codec", measure: `largest, ${c}: pandas.read_feather`, value: round(read[files[i]!]! * 1000, 0), unit: "ms", note: "median of 3" }));
  }
}

// ------------------------------------------------------------------------------------------ pagination

/** Fetching the largest subgraph collection through the fake graph-node with added latency per request. */
async function pagination(): Promise<void> {
  const records = Number(flags.records);
  const latencyMs = Number(flags.latency);
  const { startFakeSubgraphs } = await import("../test/fakes/subgraph.ts");
  const { generateSubgraphData } = await import("../test/fakes/subgraph_data.ts");
  process.stderr.write(`pagination: generating ${thousands(records)} retirements...\n`);
  const data = generateSubgraphData({ seed: 1, scale: records / 12_000 });
  const fake = await startFakeSubgraphs({ stores: { "polygon-digital-carbon": data["polygon-digital-carbon"] } });
  const cwd = tempDir();
  try {
    fake.setLatency(latencyMs);
    // The client alone, in this process: one collection, every record, in order.
    const { fetchCollection } = await import("../lib/sources/subgraph.ts");
    const { loadConfig } = await import("../lib/config/config.ts");
    const { Logger } = await import("../lib/core/log.ts");
    const config = loadConfig({ DATA_PIPELINES_CARBON_SUBGRAPH_URL: fake.url("polygon-digital-carbon") }, cwd);
    const ctx = { config, log: new Logger({ format: "human", progress: false, stream: { write: () => true } as unknown as NodeJS.WritableStream }), now: new Date(), note: () => {}, retry: <T>(_w: string, r: () => Promise<T>) => r() };
    const { sequentialRounds } = await import("./critical_path.ts");
    // The client's requests as it saw them (undici's diagnostics channels): how many had to be sequential.
    const intervals: Interval[] = [];
    const open = new WeakMap<object, number>();
    const onCreate = ({ request }: { request: object }) => void open.set(request, performance.now());
    const onDone = ({ request }: { request: object }) => void intervals.push({ start: open.get(request) ?? 0, end: performance.now() });
    diagnostics.subscribe("undici:request:create", onCreate as (message: unknown) => void);
    diagnostics.subscribe("undici:request:trailers", onDone as (message: unknown) => void);
    const started = performance.now();
    const got = await fetchCollection(ctx, "carbonPolygon", { collection: "retires", select: "amount timestamp hash", orderBy: "timestamp", orderDirection: "desc" });
    const fetchMs = performance.now() - started;
    diagnostics.unsubscribe("undici:request:create", onCreate as (message: unknown) => void);
    diagnostics.unsubscribe("undici:request:trailers", onDone as (message: unknown) => void);
    const rounds = sequentialRounds(intervals);
    const bound = rounds * latencyMs;
    record({
      case: "pagination", measure: `fetch ${thousands(got.length)} retires (timestamp desc, tie-safe) at ${latencyMs} ms latency`, value: round(fetchMs / 1000, 2), unit: "s",
      note: `${intervals.length} requests in ${rounds} sequential rounds (pages past the ties, and beside them the tied records by id): bound ${rounds} x ${latencyMs} ms = ${(bound / 1000).toFixed(1)} s, ${round(fetchMs / bound, 2)}x it`,
    });
    const run = await measure("scripts/raw_polygon_retired_offsets.ts", [], cwd, { DATA_PIPELINES_CARBON_SUBGRAPH_URL: fake.url("polygon-digital-carbon") });
    check("raw_polygon_retired_offsets", run);
    const requests = run.usages.flatMap((u) => u.requests ?? []);
    const flowRounds = sequentialRounds(requests);
    record({
      case: "pagination", measure: "raw_polygon_retired_offsets wall time (all its queries)", value: round(run.ms / 1000), unit: "s",
      note: `${requests.length} requests in ${flowRounds} sequential rounds: bound ${round((flowRounds * latencyMs) / 1000)} s of latency, plus start-up and its own work`,
    });
    record({ case: "pagination", measure: "raw_polygon_retired_offsets peak RSS", value: round(run.maxRssBytes / MiB, 0), unit: "MiB" });
  } finally {
    await fake.stop();
  }
}

// ------------------------------------------------------------------------------------------ startup

/** Median wall time of a command, run `runs` times; undefined if it failed. */
async function timeCommand(command: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<number | undefined> {
  const times: number[] = [];
  for (let i = 0; i < Number(flags.runs); i++) {
    const started = performance.now();
    const code = await new Promise<number>((resolve) => {
      spawn(command, args, { cwd, stdio: "ignore", env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env } }).on("exit", (c) => resolve(c ?? 1));
    });
    times.push(performance.now() - started);
    if (code !== 0) {
      failed = true;
      process.stderr.write(`${command} ${args.join(" ")} failed (exit ${code})\n`);
      return undefined;
    }
  }
  return Math.round(median(times));
}

async function startup(): Promise<void> {
  const runs = Number(flags.runs);
  const cwd = tempDir();
  const script = (s: string) => path.join(ROOT, s);
  const tsx = path.join(ROOT, "node_modules", ".bin", "tsx");
  const of = `median of ${runs}`;
  const timed = async (measure: string, command: string, args: string[], options: { target?: boolean; note?: string; env?: Record<string, string> } = {}) => {
    const ms = await timeCommand(command, args, ROOT, options.env);
    if (ms === undefined) return undefined;
    record({ case: "startup", measure, value: ms, unit: "ms", note: options.note, ...(options.target ? { target: "< 500 ms", met: ms < 500 } : {}) });
    return ms;
  };
  // As a user types them, from the project folder (npx finds tsx there).
  await timed(`npx tsx scripts/runs.ts --help, ${of}`, "npx", ["tsx", script("scripts/runs.ts"), "--help"], { target: true });
  await timed(`npx tsx scripts/raw_verra_data.ts --help, ${of}`, "npx", ["tsx", script("scripts/raw_verra_data.ts"), "--help"], { target: true });
  // A flow with nothing to do: start-up, config, run history, a one-row artifact written (lake and history in a temporary folder).
  await timed(`npx tsx bench/noop_flow.ts (a one-row flow), ${of}`, "npx", ["tsx", script("bench/noop_flow.ts")], {
    env: { DATA_PIPELINES_RESULT_STORAGE: `file:${path.join(cwd, "lake")}`, DATA_PIPELINES_DB: path.join(cwd, "runs.sqlite") },
    note: "run history, lake write, validation against the previous run's artifact",
  });

  // Where the time of `npx tsx <script> --help` goes: each step adds one layer.
  writeFileSync(path.join(cwd, "empty.ts"), "export {};\n");
  const base = await timed("node, nothing to run", process.execPath, ["-e", "0"], { note: "node itself" });
  const loader = await timed("node --import tsx, an empty .ts file", process.execPath, ["--import", "tsx", path.join(cwd, "empty.ts")]);
  for (const target of ["scripts/runs.ts", "scripts/raw_verra_data.ts"]) {
    const own = await timed(`node --import tsx ${target} --help`, process.execPath, ["--import", "tsx", script(target), "--help"]);
    const launcher = await timed(`node_modules/.bin/tsx ${target} --help (tsx's launcher, no npx)`, tsx, [script(target), "--help"]);
    const npx = figures.find((f) => f.measure.startsWith(`npx tsx ${target} --help`))?.value;
    if (base === undefined || loader === undefined || own === undefined || launcher === undefined || npx === undefined) continue;
    figures.at(-2)!.note = `+${own - loader} ms over an empty file: our imports and --help`;
    figures.at(-1)!.note = `+${launcher - own} ms: tsx's launcher process; npx adds ${npx - launcher} ms more`;
  }
  if (base !== undefined && loader !== undefined) figures.find((f) => f.measure === "node --import tsx, an empty .ts file")!.note = `+${loader - base} ms: tsx's loader`;
}

// ------------------------------------------------------------------------------------------ main

const machine = `${process.platform} ${process.arch}, node ${process.version}`;
process.stderr.write(`benchmarks on ${machine}\n`);
try {
  for (const name of selected) {
    if (name === "build_all") await buildAll();
    if (name === "verra_ingest") await verraIngest();
    if (name === "derived") await derived();
    if (name === "transforms") await transforms();
    if (name === "codec") await codec();
    if (name === "pagination") await pagination();
    if (name === "startup") await startup();
    if (name === "s3_clean") for (const f of await s3Clean(Number(flags.artifacts))) record(f);
    if (name === "promote") for (const f of await promoteFullSet(Number(flags["build-verra-rows"]), Number(flags["build-records"]), compressionEnv)) record(f);
  }
} finally {
  temporary.forEach(removeTempDir);
}
const targetCell = (f: Figure) => (f.target ? `${f.target}: ${f.met ? "met" : "MISSED"}` : "");
process.stdout.write(`${renderTable(
  ["case", "measure", "value", "unit", "target", "note"],
  figures.map((f) => [f.case, f.measure, String(f.value), f.unit, targetCell(f), f.note ?? ""]),
  90,
)}\n`);
writeFileSync(path.join(ROOT, "bench", "results.json"), `${JSON.stringify({ at: new Date().toISOString(), machine, flags, figures, details }, null, 2)}\n`);
process.stderr.write("figures written to bench/results.json\n");
if (failed) process.exitCode = 1;
