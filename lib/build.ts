// Running many flows as one build: each flow started as soon as its upstream flows of this build
// have finished, at most `concurrency` at once, longest dependency chains first; all in this
// process, or each in its own (a crash or a leak in one cannot take the others down). A failed flow
// does not stop the others; a flow whose upstream failed still runs, on that upstream's previous
// `-latest`, and says so.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Config } from "./config.ts";
import { runFlow, upstreamOf, type Flow } from "./flow.ts";
import { formatDuration, renderTable } from "./format.ts";
import { flowGraph, selectFlows, topologicalOrder } from "./graph.ts";
import { RunHistory, type Trigger } from "./history.ts";
import { openLake } from "./lake.ts";
import type { Logger } from "./log.ts";
import type { Table } from "./table.ts";

/** Flows at once unless DATA_PIPELINES_CONCURRENCY says otherwise: the best of 1, 4, 8 and 17 measured by `npm run bench -- build_all`. */
export const DEFAULT_CONCURRENCY = 8;

const SCRIPTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "scripts");

export interface BuildOptions {
  name: string;
  flows: Flow[];
  config: Config;
  log: Logger;
  trigger?: Trigger;
  parentId?: number | null;
  /** A running record to take over (made by the scheduler). */
  runId?: number | null;
  only?: string[];
  from?: string[];
  concurrency: number;
  /** Each flow in its own process (default), or all in this one (no start-up cost, no isolation). */
  inProcess?: boolean;
}

export interface FlowOutcome {
  slug: string;
  status: "succeeded" | "failed";
  runId?: number;
  rows?: number | null;
  ms: number;
  staleUpstreams: string[];
  error?: string | null;
}

export async function runBuild(options: BuildOptions): Promise<{ runId: number; outcomes: FlowOutcome[] }> {
  const graph = flowGraph(options.flows);
  const selected = selectFlows(graph, { only: options.only, from: options.from });
  const order = topologicalOrder(graph, selected);
  const history = RunHistory.open(options.config.db);
  history.markCrashed();
  const runId = history.start({ flow: options.name, trigger: options.trigger ?? "manual", parentId: options.parentId, runId: options.runId });
  const log = options.log.child({ flow: options.name, run: runId });
  log.info(`started: ${order.length} flows, ${options.concurrency} at a time`);

  // Longest chain of selected downstream flows: starting those first shortens the whole build.
  const height = new Map<string, number>();
  const heightOf = (slug: string): number => {
    if (!height.has(slug)) height.set(slug, 1 + Math.max(0, ...graph.downstream.get(slug)!.filter((d) => selected.has(d)).map(heightOf)));
    return height.get(slug)!;
  };
  const pending = [...order].sort((a, b) => heightOf(b) - heightOf(a));
  const outcomes = new Map<string, FlowOutcome>();
  const running = new Set<string>();
  const started = Date.now();
  const lake = options.inProcess ? await openLake(options.config.storage, options.config) : undefined;
  // In one process, a table a flow wrote is handed to the flows of this build that read it (no
  // decoding it again), and let go once the last of them has run.
  const written = new Map<string, Table>();
  const readersLeft = new Map([...selected].map((slug) => [slug, graph.downstream.get(slug)!.filter((d) => selected.has(d)).length]));
  const run = async (slug: string, stale: string[]): Promise<FlowOutcome> => {
    if (!lake) return runChild(slug, runId, stale);
    const began = Date.now();
    const flow = graph.flows.get(slug)!;
    const r = await runFlow(flow, {
      config: options.config, lake, history, log: options.log, trigger: "build_all", parentId: runId, staleUpstreams: stale,
      upstream: (up) => written.get(up),
    });
    if (r.status === "succeeded" && r.table && !options.config.dryRun && readersLeft.get(slug)! > 0) written.set(slug, r.table);
    for (const up of upstreamOf(flow)) {
      const left = (readersLeft.get(up) ?? 1) - 1;
      readersLeft.set(up, left);
      if (left <= 0) written.delete(up);
    }
    return { slug, status: r.status, ms: Date.now() - began, staleUpstreams: stale, error: r.error ?? null };
  };

  await new Promise<void>((resolve) => {
    const startReady = () => {
      if (pending.length === 0 && running.size === 0) return resolve();
      for (const slug of [...pending]) {
        if (running.size >= options.concurrency) break;
        const ups = upstreamOf(graph.flows.get(slug)!).filter((u) => selected.has(u));
        if (!ups.every((u) => outcomes.has(u))) continue;
        pending.splice(pending.indexOf(slug), 1);
        const stale = ups.filter((u) => outcomes.get(u)!.status === "failed");
        running.add(slug);
        void run(slug, stale).then((outcome) => {
          running.delete(slug);
          outcomes.set(slug, outcome);
          log.info(`${outcomes.size}/${order.length} ${slug} ${outcome.status} in ${formatDuration(outcome.ms)}${stale.length ? ` (on the previous -latest of ${stale.join(", ")})` : ""}`);
          startReady();
        });
      }
    };
    startReady();
  });

  // Rows and errors as the flows recorded them.
  const children = history.list({ parentId: runId, limit: 10_000 });
  const result = order.map((slug) => {
    const outcome = outcomes.get(slug)!;
    const record = children.find((c) => c.flow === slug);
    return { ...outcome, runId: record?.id, rows: record?.rows ?? null, error: record?.error ?? outcome.error ?? null };
  });
  const failed = result.filter((o) => o.status === "failed");
  for (const o of result) if (o.staleUpstreams.length) history.addNote(runId, `${o.slug} ran on the previous -latest of ${o.staleUpstreams.join(", ")}`);
  history.finish(runId, {
    status: failed.length ? "failed" : "succeeded",
    attempts: 1,
    rows: result.length - failed.length,
    error: failed.length ? `${failed.length} of ${result.length} flows failed: ${failed.map((o) => o.slug).join(", ")}` : null,
  });
  history.close();
  log.info(`${failed.length ? "failed" : "succeeded"}: ${result.length - failed.length}/${result.length} flows in ${formatDuration(Date.now() - started)}`);
  return { runId, outcomes: result };
}

/** One flow in its own process, as a user would run it, pointing at this build. */
function runChild(slug: string, parentId: number, stale: string[]): Promise<FlowOutcome> {
  const started = Date.now();
  const args = ["--import", import.meta.resolve("tsx"), path.join(SCRIPTS, `${slug}.ts`), "--trigger", "build_all", "--parent-run", String(parentId)];
  if (stale.length) args.push("--stale-upstream", stale.join(","));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "inherit"] });
    child.on("error", (error) => resolve({ slug, status: "failed", ms: Date.now() - started, staleUpstreams: stale, error: error.message }));
    child.on("exit", (code, signal) => resolve({
      slug, status: code === 0 ? "succeeded" : "failed", ms: Date.now() - started, staleUpstreams: stale,
      error: code === 0 ? null : signal ? `killed by ${signal}` : `exit code ${code}`,
    }));
  });
}

/** The build's summary as a table for people. */
export function summaryTable(outcomes: FlowOutcome[]): string {
  return renderTable(
    ["flow", "status", "rows", "duration", "run", "note"],
    outcomes.map((o) => [
      o.slug, o.status, o.rows?.toLocaleString("en-US") ?? "", formatDuration(o.ms), o.runId?.toString() ?? "",
      o.staleUpstreams.length ? `built on the previous -latest of ${o.staleUpstreams.join(", ")}` : o.status === "failed" ? (o.error ?? "") : "",
    ]),
    90,
  );
}
