// Run history: one row per run of any script, in SQLite (WAL, busy timeout)
// so that the daemon and scripts started by hand can write at the same time.
import Database from "better-sqlite3";
import { accessSync, closeSync, constants, openSync, readSync, statSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import { UserError } from "./errors.ts";
import { describeFileError, isFileSystemError, makeFolder } from "./lake.ts";
import { processExists } from "./processes.ts";
import { redact } from "./redact.ts";

export { processExists };

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

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  flow TEXT NOT NULL,
  parent_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  trigger TEXT NOT NULL,
  status TEXT NOT NULL,
  started_at TEXT NOT NULL,
  ended_at TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  rows INTEGER,
  columns INTEGER,
  written_keys TEXT NOT NULL DEFAULT '[]',
  upstream_keys TEXT NOT NULL DEFAULT '[]',
  deleted_keys TEXT NOT NULL DEFAULT '[]',
  error TEXT,
  notes TEXT NOT NULL DEFAULT '[]',
  pid INTEGER,
  host TEXT
);
CREATE INDEX IF NOT EXISTS runs_flow_started ON runs (flow, started_at);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
CREATE INDEX IF NOT EXISTS runs_parent ON runs (parent_id);
CREATE TABLE IF NOT EXISTS scheduler (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  pid INTEGER NOT NULL,
  host TEXT NOT NULL,
  role TEXT NOT NULL,
  started_at TEXT NOT NULL,
  heartbeat_at TEXT NOT NULL,
  stopped_at TEXT
);
CREATE TABLE IF NOT EXISTS alert_state (
  subject TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  since TEXT NOT NULL,
  run_id INTEGER
);
`;

/** Columns added after the first release: older databases get them on open. */
const ADDED_COLUMNS: Record<string, string> = {
  deleted_keys: "TEXT NOT NULL DEFAULT '[]'",
};

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

interface RunRow {
  id: number; flow: string; parent_id: number | null; trigger: Trigger; status: RunStatus;
  started_at: string; ended_at: string | null; attempts: number; rows: number | null; columns: number | null;
  written_keys: string; upstream_keys: string; deleted_keys: string; error: string | null; notes: string; pid: number | null; host: string | null;
}

/** How long a write waits for another process's write lock before it fails. */
export const BUSY_TIMEOUT_MS = 15_000;

export class RunHistory {
  private constructor(private readonly db: Database.Database, readonly file: string, private readonly busyTimeoutMs: number) {}

  /**
   * Open (or make) the run history. A file that cannot be opened, is not an SQLite database, is
   * damaged or stays locked is a {@link UserError} naming the file and DATA_PIPELINES_DB.
   */
  static open(file: string, options: { /** Tests shorten it. */ busyTimeoutMs?: number } = {}): RunHistory {
    const busyTimeoutMs = options.busyTimeoutMs ?? BUSY_TIMEOUT_MS;
    let db: Database.Database | undefined;
    try {
      makeFolder(path.dirname(file));
      refuseOtherFile(file);
      db = new Database(file, { timeout: busyTimeoutMs });
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      db.pragma("foreign_keys = ON");
      db.exec(SCHEMA);
      const existing = new Set((db.pragma("table_info(runs)") as { name: string }[]).map((c) => c.name));
      for (const [name, type] of Object.entries(ADDED_COLUMNS)) {
        if (!existing.has(name)) db.exec(`ALTER TABLE runs ADD COLUMN ${name} ${type}`);
      }
      return new RunHistory(db, file, busyTimeoutMs);
    } catch (error) {
      db?.close();
      throw runHistoryError(file, error, busyTimeoutMs);
    }
  }

  /** Run a statement; SQLite's failure (busy, damaged, disk full) becomes one line naming the file. */
  private guard<T>(action: () => T): T {
    try {
      return action();
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
   * Take the scheduler lock unless another live process holds it. A holder that is dead, or whose
   * heartbeat is stale, is taken over (the stale holder, if it wakes up, sees that its heartbeat
   * no longer lands and stops).
   */
  acquireSchedulerLock(holder: { role: string; pid?: number; now?: Date }): LockResult {
    const pid = holder.pid ?? process.pid;
    const now = holder.now ?? new Date();
    return this.guard(() => this.db.transaction((): LockResult => {
      const current = this.schedulerHolder();
      const state = schedulerState(current, now);
      const mine = current?.pid === pid && current.host === hostname();
      if (current && state === "alive" && !mine) return { acquired: false, holder: current };
      this.db.prepare(
        "INSERT OR REPLACE INTO scheduler (id, pid, host, role, started_at, heartbeat_at, stopped_at) VALUES (1, ?, ?, ?, ?, ?, NULL)",
      ).run(pid, hostname(), holder.role, now.toISOString(), now.toISOString());
      return { acquired: true, previous: current && !mine && (state === "dead" || state === "stale") ? current : undefined };
    }).immediate());
  }

  /** Write the holder's heartbeat; false when `pid` no longer holds the lock (taken over). */
  schedulerHeartbeat(pid = process.pid, now = new Date()): boolean {
    return this.guard(() => this.db.prepare("UPDATE scheduler SET heartbeat_at = ? WHERE id = 1 AND pid = ? AND host = ? AND stopped_at IS NULL")
      .run(now.toISOString(), pid, hostname()).changes === 1);
  }

  /** Let go of the lock (a clean stop); does nothing if `pid` does not hold it. */
  releaseSchedulerLock(pid = process.pid, now = new Date()): void {
    this.guard(() => this.db.prepare("UPDATE scheduler SET stopped_at = ? WHERE id = 1 AND pid = ? AND host = ? AND stopped_at IS NULL")
      .run(now.toISOString(), pid, hostname()));
  }

  /** The scheduler that holds (or last held) the lock, with its heartbeat. */
  schedulerHolder(): SchedulerHolder | undefined {
    const row = this.guard(() => this.db.prepare("SELECT * FROM scheduler WHERE id = 1").get() as
      { pid: number; host: string; role: string; started_at: string; heartbeat_at: string; stopped_at: string | null } | undefined);
    return row && {
      pid: row.pid, host: row.host, role: row.role, startedAt: row.started_at, heartbeatAt: row.heartbeat_at, stoppedAt: row.stopped_at,
    };
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
   * Alerts are sent on a change of state (lib/alert.ts): set `subject`'s state (`run:<flow>`
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

/**
 * One line that names the file and DATA_PIPELINES_DB and says what to do: busy, not a database,
 * damaged, cannot be opened, read-only, disk full. Anything else is returned as it is.
 */
export function runHistoryError(file: string, error: unknown, busyTimeoutMs = BUSY_TIMEOUT_MS): unknown {
  const history = `the run history ${file} (DATA_PIPELINES_DB)`;
  if (isFileSystemError(error)) {
    return new UserError(`${history} cannot be opened: ${describeFileError(error, file)}: point DATA_PIPELINES_DB at a file in a writable folder`);
  }
  if (!(error instanceof Database.SqliteError)) return error;
  const kind = error.code.replace(/^(SQLITE_[A-Z]+).*$/, "$1"); // SQLITE_IOERR_WRITE is an SQLITE_IOERR
  const detail = `(${error.message})`;
  switch (kind) {
    case "SQLITE_BUSY":
    case "SQLITE_LOCKED":
      return new UserError(
        `${history} is busy: another process holds a write lock for more than ${busyTimeoutMs / 1000} s ${detail}; `
        + `try again when it is done (lsof ${file} lists the processes that have it open)`,
      );
    case "SQLITE_NOTADB":
      return new UserError(`${history} is not an SQLite database ${detail}: point DATA_PIPELINES_DB at another file or move this one aside`);
    case "SQLITE_CORRUPT":
      return new UserError(`${history} is damaged ${detail}: move it aside (a new one is made on the next run) or point DATA_PIPELINES_DB at another file`);
    case "SQLITE_CANTOPEN":
      return new UserError(`${history} cannot be opened: ${whyCannotOpen(file) ?? detail}: point DATA_PIPELINES_DB at a file in a writable folder`);
    case "SQLITE_READONLY":
    case "SQLITE_PERM":
      return new UserError(`${history} is read-only ${detail}: give this user write permission on it and its folder, or point DATA_PIPELINES_DB at another file`);
    case "SQLITE_FULL":
      return new UserError(`${history} cannot be written: no space left on device ${detail}: free space on its disk or point DATA_PIPELINES_DB elsewhere`);
    default:
      return new UserError(`${history}: ${error.message} (${error.code})`);
  }
}

/**
 * SQLite takes a file shorter than its header for an empty database and overwrites it: a file
 * that has bytes but not SQLite's header is refused before SQLite sees it.
 */
function refuseOtherFile(file: string): void {
  let header: Buffer;
  try {
    const handle = openSync(file, "r");
    try {
      header = Buffer.alloc(SQLITE_HEADER.length);
      header = header.subarray(0, readSync(handle, header, 0, header.length, 0));
    } finally {
      closeSync(handle);
    }
  } catch {
    return; // missing (made by SQLite), a folder or unreadable: SQLite's own error says which
  }
  if (header.length > 0 && !header.equals(SQLITE_HEADER.subarray(0, header.length))) {
    throw new Database.SqliteError("file is not a database", "SQLITE_NOTADB");
  }
}

const SQLITE_HEADER = Buffer.from("SQLite format 3\0", "latin1");

/** SQLite says only "unable to open database file": find out why from the file system. */
function whyCannotOpen(file: string): string | undefined {
  try {
    if (statSync(file).isDirectory()) return `${file} is a folder (EISDIR)`;
    accessSync(file, constants.R_OK | constants.W_OK);
    accessSync(path.dirname(file), constants.W_OK); // WAL needs its -wal and -shm files beside it
  } catch (error) {
    if (!isFileSystemError(error)) throw error;
    if (error.code !== "ENOENT") return describeFileError(error, file);
    try {
      accessSync(path.dirname(file), constants.W_OK);
    } catch (inFolder) {
      if (isFileSystemError(inFolder)) return describeFileError(inFolder, path.dirname(file));
    }
  }
  return undefined;
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

