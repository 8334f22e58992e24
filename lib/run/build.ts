// Running many flows as one build: each flow started as soon as its upstream flows of this build
// have finished, at most `concurrency` at once, longest chains of work first; all in this
// process, or each in its own (a crash or a leak in one cannot take the others down). A failed flow
// does not stop the others; a flow whose upstream failed still runs, on that upstream's previous
// `-latest`, and says so. SIGINT/SIGTERM/SIGHUP stop the build: flow processes are stopped as
// groups (SIGTERM, SIGKILL after half DATA_PIPELINES_SCHEDULER_KILL_SECONDS) and waited for; flows
// in this process cannot be interrupted, so their runs and the build's are recorded failed at once.
// Either way the build's run says `stopped by <signal>` and the command exits 128 + the signal's number.
import type { ChildProcess } from "node:child_process";
import { constants } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Config } from "../config/config.ts";
import { errorMessage } from "../core/errors.ts";
import { signalGroup, spawnContained } from "../process/exit_with_parent.ts";
import { upstreamOf, type Flow } from "../flows/flow.ts";
import { runFlow } from "./runner.ts";
import { formatDuration, renderTable } from "../table/format.ts";
import { alertRunEnd } from "../alerts/send.ts";
import { chainLengths, flowGraph, selectFlows, topologicalOrder } from "./graph.ts";
import { RunHistory, type Trigger } from "../history/history.ts";
import { openLake } from "../lake/lake.ts";
import { endOpenRuns, whileOpen } from "../process/last_resort.ts";
import type { Logger } from "../core/log.ts";
import { redact } from "../core/redact.ts";
import { collectGarbageBeyond } from "../core/memory.ts";
import { Turns } from "../core/turns.ts";
import { bufferBytes, type Table } from "../table/table.ts";
import { selectColumns } from "../table/operations.ts";

/**
 * Flows at once in one process unless DATA_PIPELINES_CONCURRENCY says otherwise: every source flow
 * at once (17), then derived ones as slots free (they run one at a time anyway). Measured by hand on
 * the bench's build (`npm run bench -- build_all`): 8 at once took 12.5 to 14.4 s with peaks of 483
 * to 518 MiB; 17, 24 and 34 alike 11.7 to 12.8 s and 425 to 481 MiB: the source flows all end sooner,
 * and their memory goes before raw_verra_data's table is encoded.
 */
export const DEFAULT_CONCURRENCY = 17;
/** With a process per flow (--isolate), each of them 100 to 250 MiB: fewer at once. */
export const DEFAULT_ISOLATED_CONCURRENCY = 8;
/** A source flow's table from which what its fetch left is collected before encoding (raw_verra_data and raw_polygon_retired_offsets at the bench scale). */
export const LARGE_TABLE_BYTES = 8 * 1024 * 1024;

const SCRIPTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "scripts");

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
  /** Upstreams of these flows that this build does not make: read as they are in the lake (build_frequent). */
  readAsIs?: string[];
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

export interface BuildResult {
  runId: number;
  /** The flows that ran (all of them, unless the build was stopped). */
  outcomes: FlowOutcome[];
  /** The signal that stopped the build before its end, if one did (its exit status is then 128 + its number). */
  stoppedBy?: NodeJS.Signals;
}

/** How long each flow's last successful run took, in ms. */
function lastDurations(history: RunHistory): Map<string, number> {
  const durations = new Map<string, number>();
  for (const [flow, run] of history.latestRuns({ wrote: true })) {
    if (run.endedAt) durations.set(flow, Math.max(1, Date.parse(run.endedAt) - Date.parse(run.startedAt)));
  }
  return durations;
}

/** The signals that stop a build: each flow process is stopped and waited for, the runs recorded. */
const STOP_SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

export async function runBuild(options: BuildOptions): Promise<BuildResult> {
  const graph = flowGraph(options.flows, options.readAsIs);
  const selected = selectFlows(graph, { only: options.only, from: options.from });
  const order = topologicalOrder(graph, selected);
  const history = RunHistory.open(options.config.db);
  history.markCrashed();
  const runId = history.start({ flow: options.name, trigger: options.trigger ?? "manual", parentId: options.parentId, runId: options.runId });
  const log = options.log.child({ flow: options.name, run: runId });
  const fail = (error: string) => history.finish(runId, { status: "failed", attempts: 1, error });
  // Whatever ends this process early (a crash, a signal in one process), the build's run is recorded.
  const recorded = whileOpen(fail);

  // The longest chain of work ahead of each flow (itself and its selected downstream flows, as long
  // as they last took): starting those first, and giving them the first turns, shortens the build.
  const chain = chainLengths(graph, selected, lastDurations(history));
  const pending = [...order].sort((a, b) => chain.get(b)! - chain.get(a)!);
  const outcomes = new Map<string, FlowOutcome>();
  const running = new Set<string>();
  const started = Date.now();

  // Half the kill time: a build the scheduler stops has stopped its flows and recorded its run
  // before the scheduler's own SIGKILL to the build comes.
  const processes = options.inProcess ? undefined : new FlowProcesses(options.config.scheduler.killAfterMs / 2);
  let stoppedBy: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (!processes) {
      // Flows running in this process cannot be interrupted: record every open run and go.
      log.error(`${signal}: stopped; the open runs are recorded as failed`);
      endOpenRuns(`stopped by ${signal}`);
      process.exit(128 + constants.signals[signal]);
    }
    if (stoppedBy) {
      log.warn(`${signal} again: SIGKILL to the flow processes`);
      processes.kill();
      return;
    }
    stoppedBy = signal;
    pending.splice(0);
    log.warn(`${signal}: stopping, no new flows; ${processes.stop()}`);
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  log.info(`started: ${order.length} flows, ${options.concurrency} at a time`);
  try {
    const lake = options.inProcess ? await openLake(options.config.storage, options.config) : undefined;
    // In one process, a table a flow wrote is handed to the flows of this build that read it (no
    // decoding it again), and let go once the last of them has run.
    const written = new Map<string, Table>();
    const turns = new Turns();
    /** The buffers of the tables the build holds for later flows: in use, whatever a collection finds. */
    const heldBytes = () => [...written.values()].reduce((bytes, t) => bytes + bufferBytes(t), 0);
    const readersLeft = new Map([...selected].map((slug) => [slug, graph.downstream.get(slug)!.filter((d) => selected.has(d)).length]));
    // Only the columns its readers in this build declare are kept of a table (all when one reads every column).
    const keptFor = (slug: string, table: Table): Table => {
      const wanted = new Set<string>();
      for (const reader of graph.downstream.get(slug)!.filter((d) => selected.has(d))) {
        const flow = graph.flows.get(reader)!;
        const columns = flow.kind === "derived" ? flow.inputs[slug]?.columns : undefined;
        if (!columns) return table;
        for (const name of columns) wanted.add(name);
      }
      return selectColumns(table, [...wanted]);
    };
    const run = async (slug: string, stale: string[]): Promise<FlowOutcome> => {
      if (!lake) return runChild({ slug, stale, history, buildId: runId, name: options.name, processes: processes!, stoppedBy: () => stoppedBy });
      const began = Date.now();
      const flow = graph.flows.get(slug)!;
      // A table a later flow of this build reads is handed on (a dry run writes none to hand on).
      const handOn = readersLeft.get(slug)! > 0 && !options.config.dryRun;
      const turn = turns.for(chain.get(slug)!);
      // Derived flows run one at a time: what the ones before left is garbage now, unless held. The
      // collection takes tens of ms of the one thread: on the flow's turn, as its other steps.
      if (flow.kind === "derived") {
        await turn();
        collectGarbageBeyond(heldBytes());
      }
      const r = await runFlow(flow, {
        config: options.config, lake, history, log: options.log, trigger: "build_all", parentId: runId, staleUpstreams: stale,
        upstream: (up) => written.get(up),
        handOn,
        turn,
        // A source flow's answers (parsed text, the pages or windows its columns were made from) are
        // garbage once its table is made: collected before a large table is encoded beside them.
        beforeEncoding: flow.kind === "source" ? (table) => {
          const own = bufferBytes(table);
          if (own >= LARGE_TABLE_BYTES) collectGarbageBeyond(own + heldBytes());
        } : undefined,
      });
      if (handOn && r.status === "succeeded" && r.table) written.set(slug, keptFor(slug, r.table));
      for (const up of upstreamOf(flow)) {
        const left = (readersLeft.get(up) ?? 1) - 1;
        readersLeft.set(up, left);
        if (left <= 0) written.delete(up);
      }
      return { slug, status: r.status, ms: Date.now() - began, staleUpstreams: stale, error: r.error ?? null };
    };

    // In one process, derived flows run one at a time beside the source flows: a derived flow only
    // computes (its lake reads and writes are short), so two at once would take turns on the one
    // thread anyway, each holding its tables meanwhile (-50 MiB at the peak of the derived build).
    const oneAtATime = (slug: string) => lake !== undefined && graph.flows.get(slug)!.kind === "derived";
    await new Promise<void>((resolve, reject) => {
      const startReady = () => {
        if (pending.length === 0 && running.size === 0) return resolve();
        for (const slug of [...pending]) {
          if (running.size >= options.concurrency) break;
          const ups = upstreamOf(graph.flows.get(slug)!).filter((u) => selected.has(u));
          if (!ups.every((u) => outcomes.has(u))) continue;
          if (oneAtATime(slug) && [...running].some(oneAtATime)) continue;
          pending.splice(pending.indexOf(slug), 1);
          const stale = ups.filter((u) => outcomes.get(u)!.status === "failed");
          running.add(slug);
          const began = Date.now();
          // A flow that throws is a failed flow, as a flow process that crashes is: the others go on.
          void run(slug, stale).catch((error: unknown): FlowOutcome => ({
            slug, status: "failed", ms: Date.now() - began, staleUpstreams: stale, error: redact(errorMessage(error)),
          })).then((outcome) => {
            running.delete(slug);
            outcomes.set(slug, outcome);
            log.info(`${outcomes.size}/${order.length} ${slug} ${outcome.status} in ${formatDuration(outcome.ms)}${stale.length ? ` (on the previous -latest of ${stale.join(", ")})` : ""}`);
            startReady();
          }).catch(reject);
        }
      };
      startReady();
    });

    // Rows and errors as the flows recorded them.
    const children = history.list({ parentId: runId, limit: 10_000 });
    const result = order.filter((slug) => outcomes.has(slug)).map((slug) => {
      const outcome = outcomes.get(slug)!;
      const record = children.find((c) => c.flow === slug);
      return { ...outcome, runId: record?.id, rows: record?.rows ?? null, error: record?.error ?? outcome.error ?? null };
    });
    const failed = result.filter((o) => o.status === "failed");
    for (const o of result) if (o.staleUpstreams.length) history.addNote(runId, `${o.slug} ran on the previous -latest of ${o.staleUpstreams.join(", ")}`);
    if (stoppedBy) {
      history.addNote(runId, `stopped by ${stoppedBy}: ${result.length - failed.length} of ${order.length} flows succeeded, ${failed.length} failed or were stopped, ${order.length - result.length} not started`);
    }
    history.finish(runId, {
      status: failed.length || stoppedBy ? "failed" : "succeeded",
      attempts: 1,
      rows: result.length - failed.length,
      error: stoppedBy
        ? `stopped by ${stoppedBy}`
        : failed.length ? `${failed.length} of ${result.length} flows failed: ${failed.map((o) => o.slug).join(", ")}` : null,
    });
    recorded();
    const how = stoppedBy ? `stopped by ${stoppedBy}` : failed.length ? "failed" : "succeeded";
    log.info(`${how}: ${result.length - failed.length}/${order.length} flows in ${formatDuration(Date.now() - started)}`);
    // One alert for the build and its flows (lib/alerts/alert.ts); a build stopped by a signal is reported by whoever stopped it (the daemon: a timeout).
    if (!stoppedBy) await alertRunEnd(runId, { config: options.config, history, log });
    return { runId, outcomes: result, stoppedBy };
  } catch (error) {
    // The build itself failed (not a flow): its flow processes are stopped and waited for first.
    const message = redact(errorMessage(error));
    if (processes?.running) {
      log.error(`failed: ${message}; ${processes.stop()}`);
      await processes.ended();
    }
    try {
      fail(message);
      recorded();
      await alertRunEnd(runId, { config: options.config, history, log });
    } catch {
      // The run history is what failed: the next run marks this one crashed.
    }
    throw error;
  } finally {
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
    recorded();
    history.close();
  }
}

/**
 * The flow processes of a build (each in its own process group, lib/process/exit_with_parent.ts): stopped
 * together, SIGTERM then SIGKILL after `killAfterMs` for those still running.
 */
class FlowProcesses {
  private readonly live = new Set<ChildProcess>();
  private killTimer: NodeJS.Timeout | undefined;
  private waiters: Array<() => void> = [];

  constructor(private readonly killAfterMs: number) {}

  get running(): number {
    return this.live.size;
  }

  add(child: ChildProcess): void {
    this.live.add(child);
    child.once("exit", () => {
      this.live.delete(child);
      if (this.live.size > 0) return;
      clearTimeout(this.killTimer);
      for (const resolve of this.waiters.splice(0)) resolve();
    });
  }

  /** SIGTERM to each, SIGKILL later to those still there; says what it did. */
  stop(): string {
    for (const child of this.live) signalGroup(child, "SIGTERM");
    clearTimeout(this.killTimer);
    if (this.live.size > 0) this.killTimer = setTimeout(() => this.kill(), this.killAfterMs);
    return `SIGTERM to ${this.live.size} flow process(es), SIGKILL in ${formatDuration(this.killAfterMs)} if still running`;
  }

  kill(): void {
    for (const child of this.live) signalGroup(child, "SIGKILL");
  }

  /** Resolves once none is running. */
  ended(): Promise<void> {
    return this.live.size === 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
}

/**
 * One flow in its own process, as a user would run it, pointing at this build. A run the process
 * left `running` (it was stopped or killed) is recorded failed here.
 */
function runChild(c: {
  slug: string; stale: string[]; history: RunHistory; buildId: number; name: string; processes: FlowProcesses;
  stoppedBy: () => NodeJS.Signals | undefined;
}): Promise<FlowOutcome> {
  const started = Date.now();
  const args = ["--trigger", "build_all", "--parent-run", String(c.buildId)];
  if (c.stale.length) args.push("--stale-upstream", c.stale.join(","));
  return new Promise((resolve) => {
    const child = spawnContained(path.join(SCRIPTS, `${c.slug}.ts`), args, { stdio: ["ignore", "ignore", "inherit"] });
    const outcome = (error: string | null): FlowOutcome => ({
      slug: c.slug, status: error === null ? "succeeded" : "failed", ms: Date.now() - started, staleUpstreams: c.stale, error,
    });
    child.on("error", (error) => { if (child.pid === undefined) resolve(outcome(`could not start: ${error.message}`)); });
    if (child.pid === undefined) return;
    c.processes.add(child);
    child.once("exit", (code, signal) => {
      const stoppedBy = c.stoppedBy();
      let error = code === 0 ? null : stoppedBy ? `stopped: ${c.name} got ${stoppedBy}` : signal ? `killed by ${signal}` : `exit code ${code}`;
      // The run record is the truth: a flow that exits 0 after recording a failure (its output's
      // reader went away) failed; a run its process left `running` is ended here.
      try {
        for (const r of c.history.list({ parentId: c.buildId, limit: 10_000 })) {
          if (r.pid !== child.pid) continue;
          if (r.status === "running") c.history.finish(r.id, { status: "failed", error: error ?? "its process ended without recording the run's end" });
          else if (r.status !== "succeeded") error ??= r.error ?? r.status;
        }
      } catch {
        // The build records its own end regardless; a run left here is marked crashed later.
      }
      resolve(outcome(error));
    });
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
