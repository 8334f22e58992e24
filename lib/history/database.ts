// The run history's SQLite file: its tables, and SQLite's failures turned into one line that names
// the file and DATA_PIPELINES_DB and says what to do.
import Database from "better-sqlite3";
import { accessSync, closeSync, constants, openSync, readSync, statSync } from "node:fs";
import path from "node:path";
import { UserError } from "../core/errors.ts";
import { describeFileError, isFileSystemError, makeFolder } from "../core/files.ts";

/** How long a write waits for another process's write lock before it fails. */
export const BUSY_TIMEOUT_MS = 15_000;

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

/** Wait without returning to the event loop (opening the database is synchronous). */
export const pauseThread = (ms: number) => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Open (or make) the database: WAL, so that the daemon and scripts started by hand write at the same time. */
export function openDatabase(file: string, busyTimeoutMs: number, pause: (ms: number) => void = pauseThread): Database.Database {
  let db: Database.Database | undefined;
  try {
    makeFolder(path.dirname(file));
    refuseOtherFile(file);
    db = new Database(file, { timeout: busyTimeoutMs });
    useWal(db, busyTimeoutMs, pause);
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
    db.exec(SCHEMA);
    const existing = new Set((db.pragma("table_info(runs)") as { name: string }[]).map((c) => c.name));
    for (const [name, type] of Object.entries(ADDED_COLUMNS)) {
      if (!existing.has(name)) db.exec(`ALTER TABLE runs ADD COLUMN ${name} ${type}`);
    }
    return db;
  } catch (error) {
    db?.close();
    throw runHistoryError(file, error, busyTimeoutMs);
  }
}

/**
 * Switch to WAL. Two processes making the file at the same moment (two flows started together on a
 * new machine) both ask: the one that comes second holds a read lock the switch of the first must
 * see go, and SQLite refuses it at once with SQLITE_BUSY, without waiting the busy timeout. It asks
 * again, for as long as that timeout, by then seeing WAL already on.
 */
function useWal(db: Database.Database, busyTimeoutMs: number, pause: (ms: number) => void): void {
  const deadline = Date.now() + busyTimeoutMs;
  for (let wait = 5; ; wait = Math.min(2 * wait, 200)) {
    try {
      db.pragma("journal_mode = WAL");
      return;
    } catch (error) {
      const busy = error instanceof Database.SqliteError && error.code.startsWith("SQLITE_BUSY");
      if (!busy || Date.now() >= deadline) throw error;
      pause(Math.min(wait, Math.max(1, deadline - Date.now())));
    }
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
