// What `runs.ts --status` and the status page show of the daemon: whether it is alive (its lock and
// heartbeat in the run history), each job's next and last run, and where the per-run logs are.
import path from "node:path";
import { RunHistory, type RunRecord } from "../history/history.ts";
import { SchedulerLock, schedulerState, type SchedulerHolder, type SchedulerState } from "../history/lock.ts";
import { nextRuns, utc, type Schedule } from "./schedule.ts";

export interface SchedulerStatus {
  state: "alive" | "stale heartbeat" | "not running";
  /** What the lock says, in a few words. */
  detail: string;
  holder: SchedulerHolder | null;
  schedule: string;
  jobs: { job: string; cron: string; timeoutMs: number; nextRun: string | null; lastRun: RunRecord | null }[];
}

/** Is the daemon alive, when does each job run next, how did it last run (`runs.ts --status`). */
export function schedulerStatus(history: RunHistory, schedule: Schedule, now = new Date()): SchedulerStatus {
  const holder = new SchedulerLock(history).holder();
  const state: SchedulerState = schedulerState(holder, now);
  const seconds = (iso: string) => `${Math.round((now.getTime() - Date.parse(iso)) / 1000)} s ago`;
  const details: Record<SchedulerState, string> = {
    none: "no scheduler has run on this run history",
    stopped: holder ? `pid ${holder.pid} on ${holder.host} stopped at ${utc(holder.stoppedAt!)} UTC` : "",
    dead: holder ? `pid ${holder.pid} on ${holder.host} is gone without stopping (last heartbeat ${utc(holder.heartbeatAt)} UTC)` : "",
    stale: holder ? `pid ${holder.pid} on ${holder.host}: last heartbeat ${seconds(holder.heartbeatAt)}` : "",
    alive: holder ? `pid ${holder.pid} on ${holder.host} (${holder.role}) since ${utc(holder.startedAt)} UTC, heartbeat ${seconds(holder.heartbeatAt)}` : "",
  };
  return {
    state: state === "alive" ? "alive" : state === "stale" ? "stale heartbeat" : "not running",
    detail: details[state],
    holder: holder ?? null,
    schedule: schedule.source,
    jobs: schedule.jobs.map((spec) => ({
      job: spec.job, cron: spec.cron, timeoutMs: spec.timeoutMs,
      nextRun: nextRuns(spec, 1, now)[0]?.toISOString() ?? null,
      lastRun: history.list({ flow: spec.job, limit: 1 })[0] ?? null,
    })),
  };
}

/** Where the per-run logs go: `logs/` beside the run history. */
export function logsDirOf(db: string): string {
  return path.join(path.dirname(db), "logs");
}
