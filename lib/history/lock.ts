// The scheduler's lock and heartbeat, kept in the run history's database: one daemon (or `schedule.ts
// --once`) at a time starts jobs on a run history, and others can tell whether it is alive.
import { hostname } from "node:os";
import { processExists } from "../process/processes.ts";
import type { RunHistory } from "./history.ts";

/**
 * The scheduler's lock (one row): the process that may start jobs on this run history, and its
 * heartbeat. A second scheduler refuses to start while the holder is alive.
 */
export interface SchedulerHolder {
  pid: number;
  host: string;
  /** `daemon`, or `once <job>`. */
  role: string;
  startedAt: string;
  heartbeatAt: string;
  /** When the holder let go of the lock (a clean stop); null while held. */
  stoppedAt: string | null;
}

/** How often the holder writes its heartbeat; three missed beats make it stale. */
export const HEARTBEAT_INTERVAL_MS = 30_000;
export const HEARTBEAT_STALE_MS = 3 * HEARTBEAT_INTERVAL_MS;

/**
 * - `alive`: the holder's process exists (or, on another host, its heartbeat is recent) and beats.
 * - `stale`: the process exists but has not written a heartbeat for {@link HEARTBEAT_STALE_MS}
 *   (hung, stopped, or its pid reused by another process).
 * - `dead`: the holder's process no longer exists (killed without letting go): a stale lock.
 * - `stopped`: the holder let go. `none`: no scheduler ever held it.
 */
export type SchedulerState = "alive" | "stale" | "dead" | "stopped" | "none";

export function schedulerState(holder: SchedulerHolder | undefined, now = new Date()): SchedulerState {
  if (!holder) return "none";
  if (holder.stoppedAt) return "stopped";
  if (holder.host === hostname() && !processExists(holder.pid)) return "dead";
  return now.getTime() - Date.parse(holder.heartbeatAt) > HEARTBEAT_STALE_MS ? "stale" : "alive";
}

export type LockResult =
  | { acquired: true; /** A holder that was dead or stale, taken over. */ previous?: SchedulerHolder }
  | { acquired: false; holder: SchedulerHolder };

/** The lock of `history`'s database. */
export class SchedulerLock {
  constructor(private readonly history: RunHistory) {}

  /**
   * Take the scheduler lock unless another live process holds it. A holder that is dead, or whose
   * heartbeat is stale, is taken over (the stale holder, if it wakes up, sees that its heartbeat
   * no longer lands and stops).
   */
  acquire(holder: { role: string; pid?: number; now?: Date }): LockResult {
    const pid = holder.pid ?? process.pid;
    const now = holder.now ?? new Date();
    return this.history.withDatabase((db) => db.transaction((): LockResult => {
      const current = this.holder();
      const state = schedulerState(current, now);
      const mine = current?.pid === pid && current.host === hostname();
      if (current && state === "alive" && !mine) return { acquired: false, holder: current };
      db.prepare(
        "INSERT OR REPLACE INTO scheduler (id, pid, host, role, started_at, heartbeat_at, stopped_at) VALUES (1, ?, ?, ?, ?, ?, NULL)",
      ).run(pid, hostname(), holder.role, now.toISOString(), now.toISOString());
      return { acquired: true, previous: current && !mine && (state === "dead" || state === "stale") ? current : undefined };
    }).immediate());
  }

  /** Write the holder's heartbeat; false when `pid` no longer holds the lock (taken over). */
  heartbeat(pid = process.pid, now = new Date()): boolean {
    return this.history.withDatabase((db) => db.prepare("UPDATE scheduler SET heartbeat_at = ? WHERE id = 1 AND pid = ? AND host = ? AND stopped_at IS NULL")
      .run(now.toISOString(), pid, hostname()).changes === 1);
  }

  /** Let go of the lock (a clean stop); does nothing if `pid` does not hold it. */
  release(pid = process.pid, now = new Date()): void {
    this.history.withDatabase((db) => db.prepare("UPDATE scheduler SET stopped_at = ? WHERE id = 1 AND pid = ? AND host = ? AND stopped_at IS NULL")
      .run(now.toISOString(), pid, hostname()));
  }

  /** The scheduler that holds (or last held) the lock, with its heartbeat. */
  holder(): SchedulerHolder | undefined {
    const row = this.history.withDatabase((db) => db.prepare("SELECT * FROM scheduler WHERE id = 1").get() as
      { pid: number; host: string; role: string; started_at: string; heartbeat_at: string; stopped_at: string | null } | undefined);
    return row && {
      pid: row.pid, host: row.host, role: row.role, startedAt: row.started_at, heartbeatAt: row.heartbeat_at, stoppedAt: row.stopped_at,
    };
  }
}
