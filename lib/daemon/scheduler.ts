// The scheduler: a queue that runs one job at a time, each job a child process in its own process
// group with a timeout and its output in a log file per run; what a trigger does when its job is
// already queued or running; catch-up of missed triggers; retention. The daemon around it (lock,
// heartbeat, signals, alerts, status page) is lib/daemon/daemon.ts.
import type { ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, rmSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { Cron } from "croner";
import { errorMessage } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { redact } from "../core/redact.ts";
import { RunHistory, type RunRecord, type RunStatus, type Trigger } from "../history/history.ts";
import { signalGroup, spawnContained } from "../process/exit_with_parent.ts";
import { CRON_OPTIONS, formatSpan, HOUR, MAX_TIMER_MS, type JobSpec } from "../schedule/schedule.ts";
import { formatDuration } from "../table/format.ts";

/** A Node timer waits at most about 24.8 days: a longer one would fire at once. */
export const timerMs = (ms: number) => Math.min(ms, MAX_TIMER_MS);

export interface RunEnd {
  job: string;
  runId: number;
  status: RunStatus;
  error: string | null;
  /** The job process's exit code, or the signal that ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  ms: number;
}

export interface SchedulerOptions {
  history: RunHistory;
  log: Logger;
  jobs: JobSpec[];
  /** Where each run's output goes, `<run id>-<job>.log`. */
  logsDir: string;
  /** From SIGTERM to SIGKILL when a job is stopped. */
  killAfterMs: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Each line a job prints (stdout and stderr), as it comes. */
  onLine?: (run: { job: string; runId: number }, line: string) => void;
  /** Each run, once it has ended and is recorded. */
  onEnd?: (end: RunEnd) => void;
  /** Told of every start, end, skip and crash it records (lib/alerts/alert.ts DaemonAlerts); never throws. */
  alerts?: SchedulerAlerts;
}

/** What the scheduler tells the daemon's alerts. */
export interface SchedulerAlerts {
  started(job: string, runId: number): void;
  /** A job's end is recorded; `reason` is the scheduler's own when it stopped the job (timeout, shutdown). */
  ended(runId: number, reason: string | null): void;
  skipped(runId: number): void;
  crashed(runs: RunRecord[]): void;
}

interface Pending {
  spec: JobSpec;
  trigger: Trigger;
  note?: string;
}

interface Running extends Pending {
  runId: number;
  child: ChildProcess;
  /** Why the scheduler stopped it (timeout, shutdown); undefined while it runs its course. */
  reason?: string;
  killTimer?: NodeJS.Timeout;
  done: Promise<RunEnd>;
}

/**
 * Runs the jobs its triggers ask for, one at a time: a trigger that arrives while a job runs waits
 * in a FIFO queue; a trigger for a job already queued or running is recorded as `skipped`.
 * `trigger` is the entry point (croner calls it from `start`, tests and catch-up directly).
 */
export class Scheduler {
  private readonly specs: Map<string, JobSpec>;
  private readonly queue: Pending[] = [];
  private current: Running | undefined;
  private readonly crons: Cron[] = [];
  private stopping = false;
  /** Set by the first `shutdown`: resolves once the running job's end is recorded. */
  private stopped: Promise<void> | undefined;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly options: SchedulerOptions) {
    this.specs = new Map(options.jobs.map((j) => [j.job, j]));
  }

  /** Start the timers: each job is triggered at its cron times (UTC). */
  start(): void {
    if (this.stopping) return; // stopped before it started (a signal during the daemon's start-up)
    for (const spec of this.specs.values()) {
      if (!spec.cron) continue;
      this.crons.push(new Cron(spec.cron, {
        ...CRON_OPTIONS,
        catch: (error) => this.options.log.error(`trigger of ${spec.job} failed: ${errorMessage(error)}`),
      }, () => { this.trigger(spec.job); }));
    }
  }

  trigger(job: string, options: { trigger?: Trigger; note?: string } = {}): "started" | "queued" | "skipped" | "stopping" {
    const spec = this.specs.get(job);
    if (!spec) throw new Error(`no job ${job} in this scheduler`);
    if (this.stopping) return "stopping";
    const trigger = options.trigger ?? "schedule";
    const { history, log } = this.options;
    const current = this.current;
    const reason = current?.spec.job === job
      ? `${job} is already running (run ${current.runId})`
      : this.queue.some((p) => p.spec.job === job)
        ? `${job} is already queued${current ? ` behind ${current.spec.job} run ${current.runId}` : ""}`
        : undefined;
    if (reason) {
      const id = history.skipped({ flow: job, trigger, reason });
      log.warn(`skipped ${job} run ${id}: ${reason}`);
      this.options.alerts?.skipped(id);
      return "skipped";
    }
    this.queue.push({ spec, trigger, note: options.note });
    if (current) log.info(`queued ${job} behind ${current.spec.job} run ${current.runId}${this.queue.length > 1 ? ` and ${this.queue.length - 1} queued before it` : ""}`);
    this.next();
    return this.current?.spec.job === job ? "started" : "queued";
  }

  /** Resolves when nothing runs and nothing waits. */
  idle(): Promise<void> {
    if (!this.current && (this.queue.length === 0 || this.stopping)) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stop scheduling; queued triggers are recorded as skipped; the running job may finish within
   * `graceMs`, then it is stopped (SIGTERM, then SIGKILL) and recorded as failed. Called again
   * (a second signal), it stops the job at once; every call resolves only once the job's end is
   * recorded, so that nothing closes the run history before.
   */
  shutdown(graceMs: number): Promise<void> {
    const run = this.current;
    if (this.stopped) {
      if (run) {
        if (run.reason) signalGroup(run.child, "SIGKILL");
        else this.stopRun(run, "stopped at shutdown (second signal)");
      }
      return this.stopped;
    }
    this.stopped = this.stopAfterGrace(run, graceMs);
    return this.stopped;
  }

  private async stopAfterGrace(run: Running | undefined, graceMs: number): Promise<void> {
    this.stopping = true;
    for (const cron of this.crons) cron.stop();
    const { history, log } = this.options;
    for (const p of this.queue.splice(0)) {
      try {
        const id = history.skipped({ flow: p.spec.job, trigger: p.trigger, reason: "the scheduler stopped before it could run" });
        log.info(`skipped ${p.spec.job} run ${id}: the scheduler stopped before it could run`);
      } catch (error) {
        log.error(`could not record the skipped trigger of ${p.spec.job}: ${errorMessage(error)}`); // the running job still gets its end recorded
      }
    }
    if (!run) return;
    log.info(`stopping: ${run.spec.job} run ${run.runId} may finish within ${formatSpan(graceMs)}`);
    const grace = setTimeout(() => this.stopRun(run, `stopped at shutdown after the grace period of ${formatSpan(graceMs)}`), timerMs(graceMs));
    await run.done;
    clearTimeout(grace);
  }

  private next(): void {
    if (this.current) return;
    const pending = this.stopping ? undefined : this.queue.shift();
    if (!pending) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
      return;
    }
    try {
      this.current = this.launch(pending);
    } catch (error) {
      this.options.log.error(`could not start ${pending.spec.job}: ${errorMessage(error)}`);
      setImmediate(() => this.next());
      return;
    }
    void this.current.done.then((end) => {
      this.current = undefined;
      this.options.onEnd?.(end);
      this.next();
    });
  }

  /** Record the run, start its process, and watch it to the end. */
  private launch(p: Pending): Running {
    const { history, log } = this.options;
    const job = p.spec.job;
    mkdirSync(this.options.logsDir, { recursive: true });
    const runId = history.start({ flow: job, trigger: p.trigger });
    if (p.note) history.addNote(runId, p.note);
    log.info(`started ${job} run ${runId} (${p.trigger})`);
    this.options.alerts?.started(job, runId);
    const file = createWriteStream(path.join(this.options.logsDir, `${runId}-${job}.log`));
    file.on("error", (error) => log.error(`${job} run ${runId}: cannot write its log file: ${error.message}`));
    const started = Date.now();
    // Its own process group, so that a Ctrl-C meant for the scheduler does not reach it before its
    // grace period; it stops by itself if the scheduler dies (lib/process/exit_with_parent.ts).
    const child = spawnContained(p.spec.script, ["--trigger", p.trigger, "--run-id", String(runId)], {
      cwd: this.options.cwd, env: this.options.env, stdio: ["ignore", "pipe", "pipe"],
    });
    const jobLog = log.child({ flow: job, run: runId });
    const ownPrefix = new RegExp(`^((?:WARN|ERROR) )?${job} run ${runId}: `);
    const onLine = (line: string) => {
      file.write(`${redact(line)}\n`);
      // Without the job's own clock and its own "<job> run <id>: " (the daemon's line has both).
      jobLog.info(line.replace(/^\d\d:\d\d:\d\d /, "").replace(ownPrefix, "$1"));
      this.options.onLine?.({ job, runId }, line);
    };
    createInterface({ input: child.stdout! }).on("line", onLine);
    createInterface({ input: child.stderr! }).on("line", onLine);

    const run: Running = { ...p, runId, child, done: undefined as unknown as Promise<RunEnd> };
    const timeout = setTimeout(() => this.stopRun(run, `timed out after ${formatSpan(p.spec.timeoutMs)}`), timerMs(p.spec.timeoutMs));
    run.done = new Promise<RunEnd>((resolve) => {
      let ended = false;
      const end = (code: number | null, signal: NodeJS.Signals | null, spawnError?: string) => {
        if (ended) return;
        ended = true;
        clearTimeout(timeout);
        clearTimeout(run.killTimer);
        const reason = run.reason ?? spawnError ?? (signal ? `killed by ${signal}` : code !== 0 ? `exit code ${code}` : null);
        let record: RunRecord | undefined;
        try {
          record = this.record(run, reason);
        } catch (error) {
          log.error(`could not record the end of ${job} run ${runId}: ${errorMessage(error)}`);
        }
        const status = record?.status ?? (reason ? "failed" : "succeeded");
        const error = record ? record.error : reason;
        const ms = Date.now() - started;
        const line = `ended ${job} run ${runId}: ${status} in ${formatDuration(ms)}${error ? ` (${error})` : ""}`;
        if (status === "succeeded") log.info(line);
        else log.warn(line);
        // After the end is recorded; a job that alerted itself changed the state already, so this alerts only for what it could not say.
        if (record) this.options.alerts?.ended(runId, run.reason ?? null);
        // Ended once its log file is complete on disk.
        const resolveEnd = () => resolve({ job, runId, status, error, code, signal, ms });
        if (file.destroyed) resolveEnd();
        else file.end(resolveEnd);
      };
      // Also a failed kill or a broken IPC channel: only a process that never started ends the run here.
      child.on("error", (error) => { if (child.pid === undefined) end(null, null, `could not start: ${error.message}`); });
      child.once("exit", (code, signal) => {
        // The last lines arrive when the pipes close; a process it started may hold them open: wait a little, not for it.
        const cap = setTimeout(() => end(code, signal), 2000);
        child.once("close", () => { clearTimeout(cap); end(code, signal); });
      });
    });
    return run;
  }

  /**
   * The run history after a job's process ended: its run, if the process did not record the end
   * itself, is failed with the reason (exit code, signal, timeout, shutdown); so are the runs of
   * flows it ran in its own process; runs of processes it started that died with it are crashed.
   */
  private record(run: Running, reason: string | null): RunRecord | undefined {
    const { history } = this.options;
    const record = history.get(run.runId);
    if (record?.status === "running") {
      if (reason) history.finish(run.runId, { status: "failed", error: reason });
      else {
        history.addNote(run.runId, "the job exited 0 without recording its end");
        history.finish(run.runId, { status: "succeeded" });
      }
    } else if (run.reason) {
      history.addNote(run.runId, run.reason);
    }
    const pid = run.child.pid;
    if (pid !== undefined) {
      for (const r of history.list({ statuses: ["running"], limit: 10_000 })) {
        if (r.pid === pid && r.host === hostname()) history.finish(r.id, { status: "failed", error: reason ?? "its process ended without recording the run's end" });
      }
    }
    const crashed = history.markCrashed();
    if (crashed.length) this.options.alerts?.crashed(crashed);
    return history.get(run.runId);
  }

  private stopRun(run: Running, reason: string): void {
    if (run.reason || run.child.exitCode !== null || run.child.signalCode !== null) return;
    run.reason = reason;
    const { log, killAfterMs } = this.options;
    log.warn(`${run.spec.job} run ${run.runId} ${reason}: SIGTERM${killAfterMs ? `, SIGKILL in ${formatSpan(killAfterMs)} if still running` : ""}`);
    signalGroup(run.child, "SIGTERM");
    run.killTimer = setTimeout(() => {
      log.warn(`${run.spec.job} run ${run.runId} still running: SIGKILL`);
      signalGroup(run.child, "SIGKILL");
    }, timerMs(killAfterMs));
  }
}

/**
 * The jobs whose latest trigger before `now` has no run at or after it (the scheduler was down):
 * each once, oldest trigger first. A run of any trigger counts, a skipped one does not.
 */
export function missedTriggers(jobs: JobSpec[], history: RunHistory, now = new Date()): { spec: JobSpec; firedAt: Date }[] {
  const missed: { spec: JobSpec; firedAt: Date }[] = [];
  for (const spec of jobs) {
    const [firedAt] = new Cron(spec.cron, CRON_OPTIONS).previousRuns(1, now);
    if (!firedAt) continue;
    const [last] = history.list({ flow: spec.job, statuses: ["running", "succeeded", "failed", "crashed"], limit: 1 });
    if (!last || Date.parse(last.startedAt) < firedAt.getTime()) missed.push({ spec, firedAt });
  }
  return missed.sort((a, b) => a.firedAt.getTime() - b.firedAt.getTime());
}

/** Retention: runs older than `days` or beyond the newest `perFlow` of their flow, and their log files. */
export function pruneRuns(history: RunHistory, logsDir: string, keep: { days: number; perFlow: number }, now = new Date()): number {
  const deleted = history.prune({ before: new Date(now.getTime() - keep.days * 24 * HOUR), keepPerFlow: keep.perFlow });
  for (const { id, flow } of deleted) rmSync(path.join(logsDir, `${id}-${flow}.log`), { force: true });
  return deleted.length;
}
