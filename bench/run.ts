// npm run bench [-- <case> ...] [--verra-rows N] [--runs N]
// Reproducible figures against the local fakes: a table on stdout, the same as JSON in
// bench/results.json. Benchmarks never fail on a timing; they exit non-zero only if a
// measured command itself failed.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { renderTable } from "../lib/format.ts";
import { generateVerraRecords, startFakeVerra } from "../test/fakes/verra.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values: flags, positionals } = parseArgs({
  options: {
    "verra-rows": { type: "string" },
    "build-verra-rows": { type: "string", default: "200000" },
    "build-records": { type: "string", default: "50000" },
    records: { type: "string", default: "50000" },
    latency: { type: "string", default: "100" },
    runs: { type: "string", default: "5" },
    help: { type: "boolean", short: "h" },
  },
  allowPositionals: true,
});
const CASES = ["build_all", "verra_ingest", "pagination", "startup"] as const;
if (flags.help) {
  process.stdout.write(`usage: npm run bench -- [${CASES.join(" | ")} ...] [--verra-rows N] [--records N] [--latency MS] [--runs N]\n`);
  process.exit(0);
}
const selected = positionals.length ? positionals : [...CASES];
for (const name of selected) {
  if (!(CASES as readonly string[]).includes(name)) throw new Error(`unknown case "${name}" (cases: ${CASES.join(", ")})`);
}

interface Figure { case: string; measure: string; value: number; unit: string; note?: string }
const figures: Figure[] = [];
const record = (f: Figure) => {
  figures.push(f);
  process.stderr.write(`  ${f.case} ${f.measure}: ${f.value} ${f.unit}${f.note ? ` (${f.note})` : ""}\n`);
};

interface Measured { ms: number; maxRssBytes: number; cpuMs: number; code: number; stderr: string }

/** Run a script as a user would (node + tsx), measuring wall time, peak RSS and CPU time. */
function measure(script: string, args: string[], cwd: string, env: Record<string, string>): Promise<Measured> {
  const usageFile = path.join(cwd, `.usage-${Date.now()}-${Math.random()}.json`);
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), "--import", path.join(ROOT, "bench", "report_usage.mjs"), path.join(ROOT, script), ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", BENCH_USAGE_FILE: usageFile, ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => { stderr += c.toString(); });
    child.on("exit", (code) => {
      const ms = performance.now() - started;
      let usage = { maxRssBytes: 0, userMs: 0, systemMs: 0 };
      try { usage = JSON.parse(readFileSync(usageFile, "utf8")); } catch { /* the process died before reporting */ }
      resolve({ ms, maxRssBytes: usage.maxRssBytes, cpuMs: usage.userMs + usage.systemMs, code: code ?? 1, stderr });
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number, digits = 1) => Number(x.toFixed(digits));
const MiB = 1024 * 1024;
let failed = false;
const check = (what: string, m: Measured) => {
  if (m.code !== 0) {
    failed = true;
    process.stderr.write(`${what} failed (exit ${m.code}):\n${m.stderr}\n`);
  }
};

async function verraIngest(): Promise<void> {
  const rows = Number(flags["verra-rows"] ?? 500_000);
  process.stderr.write(`verra_ingest: generating ${rows} Verra records...\n`);
  const fake = await startFakeVerra({ records: generateVerraRecords(rows) });
  const cwd = mkdtempSync(path.join(tmpdir(), "dp-bench-"));
  try {
    const env = { DATA_PIPELINES_VERRA_SEARCH_URL: fake.url };
    const ingest = await measure("scripts/raw_verra_data.ts", [], cwd, env);
    check("raw_verra_data", ingest);
    record({ case: "verra_ingest", measure: "wall time", value: round(ingest.ms / 1000), unit: "s", note: `${rows} rows, ${fake.requests.length} requests` });
    record({ case: "verra_ingest", measure: "rows/s", value: Math.round(rows / (ingest.ms / 1000)), unit: "rows/s" });
    record({ case: "verra_ingest", measure: "peak RSS", value: round(ingest.maxRssBytes / MiB, 0), unit: "MiB", note: "target < 1536 MiB" });
    const again = await measure("scripts/raw_verra_data.ts", [], cwd, env);
    check("raw_verra_data (second run)", again);
    record({ case: "verra_ingest", measure: "wall time, with validation against a previous artifact", value: round(again.ms / 1000), unit: "s" });
    record({ case: "verra_ingest", measure: "peak RSS, with validation", value: round(again.maxRssBytes / MiB, 0), unit: "MiB" });

    // verra_data_v2 on those rows (its other upstream, the Moss batches, is seeded empty).
    const { LocalLake } = await import("../lib/lake.ts");
    const { encodeArtifact } = await import("../lib/artifact.ts");
    const { table } = await import("../lib/table.ts");
    await new LocalLake(path.join(cwd, "data", "lake")).write("raw_eth_moss_bridged_offsets-latest", encodeArtifact(table({ "Serial Number": "string" }, [])));
    const v2 = await measure("scripts/verra_data_v2.ts", [], cwd, {});
    check("verra_data_v2", v2);
    record({ case: "verra_data_v2", measure: "wall time", value: round(v2.ms / 1000), unit: "s", note: `${rows} rows` });
    record({ case: "verra_data_v2", measure: "rows/s", value: Math.round(rows / (v2.ms / 1000)), unit: "rows/s" });
    record({ case: "verra_data_v2", measure: "peak RSS", value: round(v2.maxRssBytes / MiB, 0), unit: "MiB" });
  } finally {
    await fake.stop();
    rmSync(cwd, { recursive: true, force: true });
  }
}

/** Fetching the largest subgraph collection through the fake graph-node with added latency per request. */
async function pagination(): Promise<void> {
  const records = Number(flags.records);
  const latencyMs = Number(flags.latency);
  const { startFakeSubgraphs } = await import("../test/fakes/subgraph.ts");
  const { generateSubgraphData } = await import("../test/fakes/subgraph_data.ts");
  process.stderr.write(`pagination: generating ${records} retirements...\n`);
  const data = generateSubgraphData({ seed: 1, scale: records / 12_000 });
  const fake = await startFakeSubgraphs({ stores: { "polygon-digital-carbon": data["polygon-digital-carbon"] } });
  const cwd = mkdtempSync(path.join(tmpdir(), "dp-bench-"));
  try {
    const retires = data["polygon-digital-carbon"].Retire!.length;
    fake.setLatency(latencyMs);
    // The client alone, in this process: one collection, every record, in order.
    const { fetchCollection } = await import("../lib/subgraph.ts");
    const { loadConfig } = await import("../lib/config.ts");
    const { Logger } = await import("../lib/log.ts");
    const config = loadConfig({ DATA_PIPELINES_CARBON_SUBGRAPH_URL: fake.url("polygon-digital-carbon") }, cwd);
    const ctx = { config, log: new Logger({ format: "human", progress: false, stream: { write: () => true } as unknown as NodeJS.WritableStream }), now: new Date(), note: () => {}, retry: <T>(_w: string, r: () => Promise<T>) => r() };
    const fetchStart = fake.requests.length;
    const started = performance.now();
    const got = await fetchCollection(ctx, "carbonPolygon", { collection: "retires", select: "amount timestamp hash", orderBy: "timestamp", orderDirection: "desc" });
    const fetchMs = performance.now() - started;
    const fetchRequests = fake.requests.length - fetchStart;
    record({ case: "pagination", measure: `fetch ${got.length} retires (timestamp desc, tie-safe) at ${latencyMs} ms latency`, value: round(fetchMs / 1000, 2), unit: "s", note: `${fetchRequests} requests; bound ${Math.ceil(retires / 1000)} x ${latencyMs} ms = ${(Math.ceil(retires / 1000) * latencyMs / 1000).toFixed(1)} s` });
    const before = fake.requests.length;
    const run = await measure("scripts/raw_polygon_retired_offsets.ts", [], cwd, { DATA_PIPELINES_CARBON_SUBGRAPH_URL: fake.url("polygon-digital-carbon") });
    check("raw_polygon_retired_offsets", run);
    const requests = fake.requests.slice(before);
    const retirePages = requests.filter((r) => /\bretires\(/.test(r.query)).length;
    const bound = Math.ceil(retires / 1000) * latencyMs;
    record({ case: "pagination", measure: `retires: ${retires} records at ${latencyMs} ms latency, pages`, value: retirePages, unit: "requests", note: `lower bound ${Math.ceil(retires / 1000)}` });
    record({ case: "pagination", measure: "raw_polygon_retired_offsets wall time (all its queries)", value: round(run.ms / 1000), unit: "s", note: `${requests.length} requests; retires alone: sequential bound ${(bound / 1000).toFixed(1)} s` });
    record({ case: "pagination", measure: "raw_polygon_retired_offsets peak RSS", value: round(run.maxRssBytes / MiB, 0), unit: "MiB" });
  } finally {
    await fake.stop();
    rmSync(cwd, { recursive: true, force: true });
  }
}

/**
 * build_all over every fake at realistic scale with latency per request: concurrency 1 against the
 * default; the critical path (the longest dependency chain of flow durations measured at concurrency
 * 1, the least any schedule can take); peak RSS of the flow processes.
 */
async function buildAll(): Promise<void> {
  const { flowGraph } = await import("../lib/graph.ts");
  const { ALL_FLOWS } = await import("../scripts/flows.ts");
  const { RunHistory } = await import("../lib/history.ts");
  const { DEFAULT_CONCURRENCY } = await import("../lib/build.ts");
  const verraRows = Number(flags["build-verra-rows"]);
  const records = Number(flags["build-records"]);
  const latencyMs = Number(flags.latency);
  process.stderr.write(`build_all: generating ${verraRows} Verra records and subgraph data with ${records} retirements...\n`);
  // Each fake in a process of its own, as real sources are separate servers: one event loop serving
  // every fake would make the sources, not the pipeline, the bottleneck.
  const fakes = await Promise.all([
    serveFake(["verra", String(verraRows), String(latencyMs)]),
    serveFake(["subgraphs", String(records), String(latencyMs)]),
    serveFake(["rpc"]),
  ]);
  const sources = { env: Object.assign({}, ...fakes.map((f) => f.env)) as Record<string, string>, stop: async () => fakes.forEach((f) => f.kill()) };
  const graph = flowGraph(ALL_FLOWS);
  try {
    const durations = new Map<string, number>();
    const variants: Array<[string, string[]]> = [
      ["concurrency 1", ["--concurrency", "1"]],
      [`concurrency ${DEFAULT_CONCURRENCY}`, ["--concurrency", String(DEFAULT_CONCURRENCY)]],
      [`concurrency ${DEFAULT_CONCURRENCY}, --isolate`, ["--concurrency", String(DEFAULT_CONCURRENCY), "--isolate"]],
      ["concurrency 4", ["--concurrency", "4"]],
    ];
    for (const [label, args] of variants) {
      const concurrency = Number(args[1]);
      const cwd = mkdtempSync(path.join(tmpdir(), "dp-bench-"));
      const usageDir = path.join(cwd, "usage");
      (await import("node:fs")).mkdirSync(usageDir);
      try {
        const run = await measure("scripts/build_all.ts", args, cwd, {
          ...sources.env, BENCH_USAGE_FILE: "", BENCH_USAGE_DIR: usageDir, NODE_OPTIONS: `--import ${path.join(ROOT, "bench", "report_usage.mjs")}`,
        });
        check(`build_all ${args.join(" ")}`, run);
        const usages = (await import("node:fs")).readdirSync(usageDir).map((f) => JSON.parse(readFileSync(path.join(usageDir, f), "utf8")) as { script: string; maxRssBytes: number; userMs: number; systemMs: number });
        const flowsOnly = args.includes("--isolate") ? usages.filter((u) => !u.script.endsWith("build_all.ts")) : usages;
        const peak = Math.max(...flowsOnly.map((u) => u.maxRssBytes));
        const heaviest = flowsOnly.find((u) => u.maxRssBytes === peak)?.script.split("/").pop();
        const cpu = usages.reduce((s, u) => s + u.userMs + u.systemMs, 0);
        record({ case: "build_all", measure: `wall time, ${label}`, value: round(run.ms / 1000), unit: "s", note: `${latencyMs} ms latency, Verra ${verraRows}, ${records} retirements` });
        record({ case: "build_all", measure: `peak RSS of one process, ${label}`, value: round(peak / MiB, 0), unit: "MiB", note: heaviest });
        record({ case: "build_all", measure: `CPU time of all processes, ${label}`, value: round(cpu / 1000), unit: "s" });
        if (concurrency === 1) {
          const history = RunHistory.open(path.join(cwd, "data", "runs.sqlite"));
          for (const r of history.list({ limit: 100 })) if (r.endedAt && r.flow !== "build_all") durations.set(r.flow, Date.parse(r.endedAt) - Date.parse(r.startedAt));
          history.close();
          // The longest chain of flow durations through the graph.
          const finish = new Map<string, number>();
          const chainEnd = (slug: string): number => {
            if (!finish.has(slug)) {
              const flow = graph.flows.get(slug)!;
              const ups = flow.kind === "derived" ? flow.from : [];
              finish.set(slug, Math.max(0, ...ups.map(chainEnd)) + (durations.get(slug) ?? 0));
            }
            return finish.get(slug)!;
          };
          const bound = Math.max(...[...graph.flows.keys()].map(chainEnd));
          const last = [...finish].find(([, v]) => v === bound)![0];
          record({ case: "build_all", measure: "critical path (longest chain of flow durations)", value: round(bound / 1000), unit: "s", note: `ends at ${last}` });
          figures.push({ case: "build_all", measure: "_bound_ms", value: bound, unit: "ms" });
        }
      } finally {
        rmSync(cwd, { recursive: true, force: true });
      }
    }
    const wall = (c: number | string) => figures.find((f) => f.measure === `wall time, concurrency ${c}`)!.value;
    const bound = figures.find((f) => f.measure === "_bound_ms")!.value / 1000;
    figures.splice(figures.findIndex((f) => f.measure === "_bound_ms"), 1);
    record({ case: "build_all", measure: "default / critical path", value: round(wall(DEFAULT_CONCURRENCY) / bound, 2), unit: "x", note: "target <= 1.25" });
    record({ case: "build_all", measure: "--isolate / critical path", value: round(wall(`${DEFAULT_CONCURRENCY}, --isolate`) / bound, 2), unit: "x" });
    record({ case: "build_all", measure: "concurrency 1 / default", value: round(wall(1) / wall(DEFAULT_CONCURRENCY), 2), unit: "x", note: "target >= 3" });
  } finally {
    await sources.stop();
  }
}

/** Start `bench/serve.ts <args>` and read the URLs it prints. */
function serveFake(args: string[]): Promise<{ env: Record<string, string>; kill: () => void }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), path.join(ROOT, "bench", "serve.ts"), ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes("\n")) resolve({ env: JSON.parse(out.split("\n")[0]!), kill: () => child.kill() });
    });
    child.on("exit", (code) => reject(new Error(`fake ${args[0]} exited (${code})`)));
  });
}

async function startup(): Promise<void> {
  const cwd = mkdtempSync(path.join(tmpdir(), "dp-bench-"));
  try {
    const runs = Number(flags.runs);
    // As a user types it (npx tsx ...), and without npx's and tsx's own launcher processes.
    const launchers: Array<[string, string, string[]]> = [
      ["npx tsx", "npx", ["tsx"]],
      ["node --import tsx", process.execPath, ["--import", "tsx"]],
    ];
    for (const script of ["scripts/runs.ts", "scripts/raw_verra_data.ts"]) {
      for (const [label, command, prefix] of launchers) {
        const times: number[] = [];
        for (let i = 0; i < runs; i++) {
          const started = performance.now();
          const code = await new Promise<number>((resolve) => {
            spawn(command, [...prefix, path.join(ROOT, script), "--help"], { cwd: ROOT, stdio: "ignore" }).on("exit", (c) => resolve(c ?? 1));
          });
          times.push(performance.now() - started);
          if (code !== 0) failed = true;
        }
        record({ case: "startup", measure: `${label} ${script} --help, median of ${runs}`, value: Math.round(median(times)), unit: "ms", note: label === "npx tsx" ? "target < 500 ms" : undefined });
      }
    }
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

const machine = `${process.platform} ${process.arch}, node ${process.version}`;
process.stderr.write(`benchmarks on ${machine}\n`);
for (const name of selected) {
  if (name === "build_all") await buildAll();
  if (name === "verra_ingest") await verraIngest();
  if (name === "pagination") await pagination();
  if (name === "startup") await startup();
}
process.stdout.write(`${renderTable(["case", "measure", "value", "unit", "note"], figures.map((f) => [f.case, f.measure, String(f.value), f.unit, f.note ?? ""]), 70)}\n`);
writeFileSync(path.join(ROOT, "bench", "results.json"), `${JSON.stringify({ at: new Date().toISOString(), machine, figures }, null, 2)}\n`);
process.stderr.write("figures written to bench/results.json\n");
if (failed) process.exitCode = 1;
