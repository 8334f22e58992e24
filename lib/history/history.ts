// Run history: one row per run of any script, in SQLite (lib/history/database.ts: WAL, busy timeout)
// so that the daemon and scripts started by hand can write at the same time.
import Database from "better-sqlite3";
import { hostname } from "node:os";
import { UserError } from "../core/errors.ts";
import { redact } from "../core/redact.ts";
import { processExists } from "../process/processes.ts";
import { BUSY_TIMEOUT_MS, openDatabase, runHistoryError } from "./database.ts";

export { processExists };
export { BUSY_TIMEOUT_MS, runHistoryError } from "./database.ts";

export type RunStatus = "running" | "succeeded" | "failed" | "crashed" | "skipped";
export type Trigger = "manual" | "schedule" | "build_all";

export interface RunRecord {
  id: number;
  flow: string;
  parentId: number | null;
  trigger: Trigger;
  status: RunStatus;
  startedAt: string;
  endedAt: string | null;
  attempts: number;
  rows: number | null;
  columns: number | null;
  writtenKeys: string[];
  upstreamKeys: string[];
  /** Artifacts the run deleted (the clean-up scripts). */
  deletedKeys: string[];
  error: string | null;
  /** Free-form facts about the run: warnings, stale upstreams, dry run. */
  notes: string[];
  pid: number | null;
  host: string | null;
}

export interface RunOutcome {
  status: Exclude<RunStatus, "running">;
  attempts?: number;
  rows?: number | null;
  columns?: number | null;
  error?: string | null;
}

interface RunRow {
  id: number; flow: string; parent_id: number | null; trigger: Trigger; status: RunStatus;
  started_at: string; ended_at: string | null; attempts: number; rows: number | null; columns: number | null;
  written_keys: string; upstream_keys: string; deleted_keys: string; error: string | null; notes: string; pid: number | null; host: string | null;
}

export class RunHistory {
  private constructor(private readonly db: Database.Database, readonly file: string, private readonly busyTimeoutMs: number) {}

  /**
   * Open (or make) the run history. A file that cannot be opened, is not an SQLite database, is
   * damaged or stays locked is a {@link UserError} naming the file and DATA_PIPELINES_DB.
   */
  static open(file: string, options: { /** Tests shorten it. */ busyTimeoutMs?: number; /** Injected for tests: the wait before asking again at open. */ pause?: (ms: number) => void } = {}): RunHistory {
    const busyTimeoutMs = options.busyTimeoutMs ?? BUSY_TIMEOUT_MS;
    return new RunHistory(openDatabase(file, busyTimeoutMs, options.pause), file, busyTimeoutMs);
  }

  /** Run a statement; SQLite's failure (busy, damaged, disk full) becomes one line naming the file. */
  private guard<T>(action: () => T): T {
    return this.withDatabase(action);
  }

  /** The database, for the parts kept beside the runs (the scheduler's lock); failures as {@link guard}'s. */
  withDatabase<T>(action: (db: Database.Database) => T): T {
    try {
      return action(this.db);
    } catch (error) {
      throw runHistoryError(this.file, error, this.busyTimeoutMs);
    }
  }

  close(): void {
    this.db.close();
  }

  /** Runs left `running` by a process of this host that no longer exists become `crashed`. */
  markCrashed(now = new Date()): RunRecord[] {
    return this.guard(() => {
      const host = hostname();
      const running = this.db.prepare("SELECT * FROM runs WHERE status = 'running' AND host = ?").all(host) as RunRow[];
      const dead = running.filter((r) => r.pid !== null && r.pid !== process.pid && !processExists(r.pid));
      const mark = this.db.prepare(
        "UPDATE runs SET status = 'crashed', ended_at = ?, error = COALESCE(error, ?) WHERE id = ? AND status = 'running'",
      );
      for (const run of dead) mark.run(now.toISOString(), `process ${run.pid} ended without recording the run's end`, run.id);
      return dead.map((r) => this.get(r.id)!);
    });
  }

  /**
   * Record a run's start. With `runId`, take over a run the scheduler recorded
   * before it started this process, so that one run has one record.
   */
  start(run: { flow: string; trigger: Trigger; parentId?: number | null; pid?: number; at?: Date; runId?: number | null }): number {
    return this.guard(() => {
      if (run.runId != null) {
        const taken = this.db.prepare(
          "UPDATE runs SET pid = ?, host = ?, trigger = ?, parent_id = COALESCE(?, parent_id) WHERE id = ? AND flow = ? AND status = 'running'",
        ).run(run.pid ?? process.pid, hostname(), run.trigger, run.parentId ?? null, run.runId, run.flow);
        if (taken.changes === 0) throw new UserError(`--run-id ${run.runId}: no running ${run.flow} run with that id in the run history`);
        return run.runId;
      }
      const result = this.db.prepare(
        "INSERT INTO runs (flow, parent_id, trigger, status, started_at, pid, host) VALUES (?, ?, ?, 'running', ?, ?, ?)",
      ).run(run.flow, run.parentId ?? null, run.trigger, (run.at ?? new Date()).toISOString(), run.pid ?? process.pid, hostname());
      return Number(result.lastInsertRowid);
    });
  }

  /** A trigger that did not run (already queued or running): recorded, with the reason. */
  skipped(run: { flow: string; trigger: Trigger; reason: string; parentId?: number | null; at?: Date }): number {
    const at = (run.at ?? new Date()).toISOString();
    const result = this.guard(() => this.db.prepare(
      "INSERT INTO runs (flow, parent_id, trigger, status, started_at, ended_at, error, pid, host) VALUES (?, ?, ?, 'skipped', ?, ?, ?, ?, ?)",
    ).run(run.flow, run.parentId ?? null, run.trigger, at, at, redact(run.reason), process.pid, hostname()));
    return Number(result.lastInsertRowid);
  }

  addWrittenKey(id: number, key: string): void {
    this.appendJson(id, "written_keys", key);
  }

  addUpstreamKey(id: number, key: string): void {
    this.appendJson(id, "upstream_keys", key);
  }

  addDeletedKey(id: number, key: string): void {
    this.appendJson(id, "deleted_keys", key);
  }

  addNote(id: number, note: string): void {
    this.appendJson(id, "notes", redact(note));
  }

  finish(id: number, outcome: RunOutcome, at = new Date()): void {
    this.guard(() => this.db.prepare(
      "UPDATE runs SET status = ?, ended_at = ?, attempts = COALESCE(?, attempts), rows = COALESCE(?, rows), columns = COALESCE(?, columns), error = ? WHERE id = ?",
    ).run(
      outcome.status, at.toISOString(), outcome.attempts ?? null, outcome.rows ?? null, outcome.columns ?? null,
      outcome.error ? redact(outcome.error) : null, id,
    ));
  }

  get(id: number): RunRecord | undefined {
    const row = this.guard(() => this.db.prepare("SELECT * FROM runs WHERE id = ?").get(id) as RunRow | undefined);
    return row && toRecord(row);
  }

  list(filter: { flow?: string; statuses?: RunStatus[]; parentId?: number; limit?: number } = {}): RunRecord[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.flow) { where.push("flow = ?"); params.push(filter.flow); }
    if (filter.statuses?.length) { where.push(`status IN (${filter.statuses.map(() => "?").join(", ")})`); params.push(...filter.statuses); }
    if (filter.parentId !== undefined) { where.push("parent_id = ?"); params.push(filter.parentId); }
    const sql = `SELECT * FROM runs ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC LIMIT ?`;
    return this.guard(() => this.db.prepare(sql).all(...params, filter.limit ?? 20) as RunRow[]).map(toRecord);
  }

  /**
   * Retention: delete finished runs that started before `before`, and those beyond the newest
   * `keepPerFlow` finished runs of their flow. Running runs are kept. Returns what was deleted
   * (to delete the per-run log files with them).
   */
  prune(options: { before: Date; keepPerFlow: number }): { id: number; flow: string }[] {
    return this.guard(() => this.db.prepare(`
      DELETE FROM runs WHERE status != 'running' AND (
        started_at < ?
        OR id IN (SELECT id FROM (
          SELECT id, ROW_NUMBER() OVER (PARTITION BY flow ORDER BY id DESC) AS n FROM runs WHERE status != 'running'
        ) WHERE n > ?)
      ) RETURNING id, flow`).all(options.before.toISOString(), options.keepPerFlow) as { id: number; flow: string }[]);
  }

  /**
   * Alerts are sent on a change of state (lib/alerts/alert.ts): set `subject`'s state (`run:<flow>`
   * failing or ok, `fresh:<slug>` stale or fresh) and return the state it had (null: none yet), or
   * undefined when nothing changed. With `runId`, an older run than the one that last set the state
   * changes nothing: a run looked at twice (by its process and by the daemon) or late alerts once.
   * Atomic (BEGIN IMMEDIATE): of two processes seeing the same change, one gets it.
   */
  alertTransition(subject: string, state: string, runId?: number, at = new Date()): string | null | undefined {
    return this.guard(() => this.db.transaction((): string | null | undefined => {
      const row = this.db.prepare("SELECT state, run_id FROM alert_state WHERE subject = ?").get(subject) as { state: string; run_id: number | null } | undefined;
      if (row && runId !== undefined && row.run_id !== null && runId <= row.run_id) return undefined;
      if (row?.state === state) {
        if (runId !== undefined) this.db.prepare("UPDATE alert_state SET run_id = ? WHERE subject = ?").run(runId, subject);
        return undefined;
      }
      this.db.prepare("INSERT OR REPLACE INTO alert_state (subject, state, since, run_id) VALUES (?, ?, ?, ?)")
        .run(subject, state, at.toISOString(), runId ?? row?.run_id ?? null);
      return row?.state ?? null;
    }).immediate());
  }

  /** Every subject's alert state (the status page shows what is failing or stale since when). */
  alertStates(): { subject: string; state: string; since: string; runId: number | null }[] {
    return this.guard(() => this.db.prepare("SELECT subject, state, since, run_id AS runId FROM alert_state ORDER BY subject").all() as
      { subject: string; state: string; since: string; runId: number | null }[]);
  }

  /**
   * The newest run of each flow (skipped triggers left out); with `wrote`, the newest succeeded
   * run that wrote artifacts: the dataset's last successful write.
   */
  latestRuns(options: { wrote?: boolean } = {}): Map<string, RunRecord> {
    const where = options.wrote ? "status = 'succeeded' AND written_keys != '[]'" : "status != 'skipped'";
    const rows = this.guard(() => this.db.prepare(`SELECT * FROM runs WHERE id IN (SELECT MAX(id) FROM runs WHERE ${where} GROUP BY flow)`).all() as RunRow[]);
    return new Map(rows.map((row) => [row.flow, toRecord(row)]));
  }

  /** How many runs the history holds, by flow and status (for /metrics). */
  runCounts(): { flow: string; status: RunStatus; count: number }[] {
    return this.guard(() => this.db.prepare("SELECT flow, status, COUNT(*) AS count FROM runs GROUP BY flow, status ORDER BY flow, status").all() as
      { flow: string; status: RunStatus; count: number }[]);
  }

  private appendJson(id: number, column: "written_keys" | "upstream_keys" | "deleted_keys" | "notes", value: string): void {
    this.guard(() => this.db.prepare(`UPDATE runs SET ${column} = json_insert(${column}, '$[#]', ?) WHERE id = ?`).run(value, id));
  }

  /**
   * Record a run's start unless another run of the same flow is running on this host (its process
   * alive): then this run is recorded as failed at once, and `refused` names the run that holds the
   * flow. Atomic (BEGIN IMMEDIATE): of two runs starting at once, one starts. Holders whose process
   * is gone are marked crashed first. The run taken over with `runId` (the scheduler's record) is
   * not its own rival. Runs recorded on another host are not checked: their process cannot be seen.
   */
  startAlone(run: { flow: string; trigger: Trigger; parentId?: number | null; runId?: number | null; at?: Date }): { id: number; refused?: string } {
    const at = (run.at ?? new Date()).toISOString();
    return this.guard(() => this.db.transaction(() => {
      const rivals = this.db.prepare("SELECT * FROM runs WHERE flow = ? AND status = 'running' AND host = ? AND id IS NOT ? ORDER BY id")
        .all(run.flow, hostname(), run.runId ?? null) as RunRow[];
      let holder: RunRow | undefined;
      for (const rival of rivals) {
        if (rival.pid === null) continue;
        if (processExists(rival.pid)) holder ??= rival;
        else {
          this.db.prepare("UPDATE runs SET status = 'crashed', ended_at = ?, error = COALESCE(error, ?) WHERE id = ?")
            .run(at, `process ${rival.pid} ended without recording the run's end`, rival.id);
        }
      }
      const id = this.start({ ...run, at: new Date(at) });
      if (!holder) return { id };
      const since = `${holder.started_at.slice(0, 10)} ${holder.started_at.slice(11, 19)} UTC`;
      const refused = `${run.flow} is already running (run ${holder.id}, pid ${holder.pid}, started ${since}); wait for it or stop it`;
      this.db.prepare("UPDATE runs SET status = 'failed', ended_at = ?, error = ? WHERE id = ?").run(at, redact(refused), id);
      return { id, refused };
    }).immediate());
  }
}

function toRecord(row: RunRow): RunRecord {
  return {
    id: row.id, flow: row.flow, parentId: row.parent_id, trigger: row.trigger, status: row.status,
    startedAt: row.started_at, endedAt: row.ended_at, attempts: row.attempts, rows: row.rows, columns: row.columns,
    writtenKeys: JSON.parse(row.written_keys), upstreamKeys: JSON.parse(row.upstream_keys),
    deletedKeys: JSON.parse(row.deleted_keys), error: row.error,
    notes: JSON.parse(row.notes), pid: row.pid, host: row.host,
  };
}

