// The scheduler daemon (`schedule.ts` is its command): take the lock and keep its heartbeat, mark
// what dead processes left running as crashed, run the scheduler (lib/daemon/scheduler.ts) on the
// schedule (lib/schedule/schedule.ts) until SIGINT/SIGTERM, with retention, alerts and the status
// page beside it, then stop gracefully.
import { existsSync } from "node:fs";
import type { Config } from "../config/config.ts";
import { checkStatusSettings } from "../config/status.ts";
import { errorMessage, UserError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { RunHistory } from "../history/history.ts";
import { HEARTBEAT_INTERVAL_MS, SchedulerLock, schedulerState } from "../history/lock.ts";
import { logsDirOf } from "../schedule/daemon_status.ts";
import { formatSpan, HOUR, nextRuns, utc, type JobSpec, type Schedule } from "../schedule/schedule.ts";
import { missedTriggers, pruneRuns, Scheduler, timerMs, type RunEnd } from "./scheduler.ts";

/** Retention runs at start and then every hour. */
const PRUNE_EVERY_MS = HOUR;

export interface DaemonOptions {
  config: Config;
  log: Logger;
  schedule: Schedule;
  /** Run each job's most recent missed trigger once at start. */
  catchUp?: boolean;
  /** Run this one job now, through the same path, and return its exit status (`--once`). */
  once?: JobSpec;
}

/**
 * The daemon: take the lock, mark the runs that dead processes left running as crashed, run the
 * jobs on their schedules until SIGINT/SIGTERM, then stop gracefully. Returns the exit status.
 */
export async function runDaemon(options: DaemonOptions): Promise<number> {
  const { config, log, schedule, once } = options;
  const jobs = once ? [once] : schedule.jobs;
  for (const spec of jobs) {
    if (!existsSync(spec.script)) throw new UserError(`${spec.job}: no script ${spec.script}`);
  }
  const serve = !once && config.status.listen !== undefined;
  if (serve) checkStatusSettings(config.status); // off loopback without a token: refused before anything runs
  const { DaemonAlerts } = await import("../alerts/send.ts");
  const history = RunHistory.open(config.db);
  const alerts = new DaemonAlerts({ settings: config.alert, history, log, schedule });
  let statusPage: { close(): Promise<void> } | undefined;
  const timers: NodeJS.Timeout[] = [];
  // SIGHUP too: a closed terminal stops the daemon the same careful way.
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  let onSignal: ((signal: NodeJS.Signals) => void) | undefined;
  let locked = false;
  /** Set once jobs may run: stops them (at once if not yet stopping) and resolves when the running one's end is recorded. */
  let stopJobs: (() => Promise<void>) | undefined;
  try {
    const lock = new SchedulerLock(history).acquire({ role: once ? `once ${once.job}` : "daemon" });
    if (!lock.acquired) {
      const h = lock.holder;
      throw new UserError(
        `another scheduler holds the run history ${config.db}: pid ${h.pid} on ${h.host} (${h.role}, since ${utc(h.startedAt)} UTC, ` +
        `last heartbeat ${utc(h.heartbeatAt)} UTC); stop it first`,
      );
    }
    locked = true;
    if (lock.previous) {
      const p = lock.previous;
      const why = schedulerState(p) === "dead" ? "no longer running" : `its last heartbeat was at ${utc(p.heartbeatAt)} UTC`;
      log.warn(`took over the scheduler lock from pid ${p.pid} on ${p.host} (${p.role}): ${why}`);
    }
    const crashed = history.markCrashed();
    for (const r of crashed) {
      log.warn(`run ${r.id} (${r.flow}, pid ${r.pid}) was left running by a process that no longer exists: marked crashed`);
    }
    alerts.crashed(crashed);

    const logsDir = logsDirOf(config.db);
    let end: RunEnd | undefined;
    const scheduler = new Scheduler({
      history, log, jobs, logsDir, killAfterMs: config.scheduler.killAfterMs, onEnd: (e) => { end = e; }, alerts,
    });
    stopJobs = () => scheduler.shutdown(0);
    let lostLock = false;
    let signalled = false;
    const stopped = new Promise<void>((resolve) => {
      onSignal = (signal) => {
        log.info(signalled ? `${signal} again: stopping the running job now` : `${signal}: stopping, no new jobs`);
        signalled = true;
        void scheduler.shutdown(config.scheduler.graceMs).then(resolve);
      };
      for (const s of signals) process.on(s, onSignal);
      timers.push(setInterval(() => {
        try {
          if (new SchedulerLock(history).heartbeat()) return;
          lostLock = true;
          log.error("another scheduler took over the lock (this one missed its heartbeats): stopping");
          void scheduler.shutdown(0).then(resolve);
        } catch (error) {
          log.error(`heartbeat: ${errorMessage(error)}`);
        }
      }, HEARTBEAT_INTERVAL_MS));
    });

    if (once) {
      scheduler.trigger(once.job, { trigger: "manual" });
      await scheduler.idle(); // also after SIGINT/SIGTERM: the job is stopped and recorded first
      await alerts.settled(config.alert.timeoutMs + ALERT_MARGIN_MS);
      if (!end) return 1;
      return end.status === "succeeded" ? 0 : end.code ? end.code : 1;
    }

    const keep = { days: config.scheduler.retentionDays, perFlow: config.scheduler.retentionRuns };
    const prune = () => {
      try {
        const n = pruneRuns(history, logsDir, keep);
        if (n) log.info(`retention: deleted ${n} runs (older than ${keep.days} days or beyond ${keep.perFlow} per flow) and their logs`);
      } catch (error) {
        log.error(`retention: ${errorMessage(error)}`);
      }
    };
    prune();
    timers.push(setInterval(prune, PRUNE_EVERY_MS));

    log.info(`scheduler started: pid ${process.pid}, run history ${config.db}, schedule ${schedule.source}, run logs in ${logsDir}`);
    const now = new Date();
    for (const spec of schedule.jobs) {
      log.info(`${spec.job}: ${spec.cron} (UTC), next ${utc(nextRuns(spec, 1, now)[0]!)}, timeout ${formatSpan(spec.timeoutMs)}`);
    }
    if (serve) statusPage = await serveStatusPage({ config, history, schedule, logsDir, log });
    if (alerts.enabled) {
      alerts.checkFreshness();
      timers.push(setInterval(() => alerts.checkFreshness(), FRESHNESS_EVERY_MS));
    }
    if (options.catchUp) {
      for (const { spec, firedAt } of missedTriggers(schedule.jobs, history, now)) {
        log.info(`catch-up: ${spec.job} missed its ${utc(firedAt)} UTC trigger`);
        scheduler.trigger(spec.job, { note: `catch-up of the ${utc(firedAt)} UTC trigger, missed while the scheduler was down` });
      }
    }
    scheduler.start();
    await stopped;
    await alerts.settled(config.alert.timeoutMs + ALERT_MARGIN_MS);
    log.info(lostLock ? "scheduler stopped: lost the lock" : "scheduler stopped");
    return lostLock ? 1 : 0;
  } finally {
    // However this ends (signals, a lost lock, an error), the running job's end is recorded before
    // the run history closes; the wait is bounded by the kill timer (and the job's pipes closing).
    if (stopJobs) await settledWithin(stopJobs(), config.scheduler.killAfterMs + JOB_END_MARGIN_MS);
    await alerts.settled(config.alert.timeoutMs + ALERT_MARGIN_MS);
    await statusPage?.close();
    for (const t of timers) clearInterval(t);
    if (onSignal) for (const s of signals) process.off(s, onSignal);
    if (locked) new SchedulerLock(history).release();
    history.close();
  }
}

/** How often the daemon looks at every dataset's freshness (stale alerts). */
export const FRESHNESS_EVERY_MS = 5 * 60_000;

/** Beyond an alert's own bound, what the daemon waits for its deliveries before it closes. */
const ALERT_MARGIN_MS = 1_000;

/**
 * The status page beside the daemon. A page that cannot listen (the port is taken) is one line:
 * the daemon runs its jobs without it.
 */
async function serveStatusPage(options: { config: Config; history: RunHistory; schedule: Schedule; logsDir: string; log: Logger }): Promise<{ close(): Promise<void> } | undefined> {
  try {
    const { startStatusServer } = await import("../status/server.ts");
    const page = await startStatusServer(options);
    options.log.info(`status page on ${page.url}${options.config.status.token ? " (asks for DATA_PIPELINES_STATUS_TOKEN)" : ""}`);
    return page;
  } catch (error) {
    options.log.warn(`${errorMessage(error)}; the daemon runs without it`);
    return undefined;
  }
}

/** After SIGKILL: the 2 s the scheduler waits for a job's pipes to close, and the recording. */
const JOB_END_MARGIN_MS = 5_000;

/** Wait for `promise` (fulfilled or rejected), at most `ms`. */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise.catch(() => {}), new Promise((resolve) => { timer = setTimeout(resolve, timerMs(ms)); })]);
  clearTimeout(timer);
}
