import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { hostname } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import Database from "better-sqlite3";
import { UserError } from "../lib/core/errors.ts";
import { pauseThread } from "../lib/history/database.ts";
import { BUSY_TIMEOUT_MS, RunHistory, runHistoryError, type RunRecord } from "../lib/history/history.ts";
import { SchedulerLock } from "../lib/history/lock.ts";
import { registerSecret } from "../lib/core/redact.ts";
import { ROOT, tempDir } from "./helpers.ts";

function openHistory(t: { after(fn: () => void): void }): { history: RunHistory; file: string } {
  const file = path.join(tempDir(t), "history", "runs.sqlite"); // the folder is created on open
  const history = RunHistory.open(file);
  t.after(() => history.close());
  return { history, file };
}

const at = (iso: string) => new Date(iso);

test("start, finish and get record every field", (t) => {
  const { history } = openHistory(t);
  const id = history.start({ flow: "verra_data_v2", trigger: "build_all", parentId: null, pid: 4242, at: at("2026-01-02T03:04:05.000Z") });
  assert.equal(id, 1);
  assert.deepEqual(history.get(id), {
    id: 1, flow: "verra_data_v2", parentId: null, trigger: "build_all", status: "running",
    startedAt: "2026-01-02T03:04:05.000Z", endedAt: null, attempts: 0, rows: null, columns: null,
    writtenKeys: [], upstreamKeys: [], deletedKeys: [], error: null, notes: [], pid: 4242, host: hostname(),
  } satisfies RunRecord);

  history.addUpstreamKey(id, "raw_verra_data-latest");
  history.addUpstreamKey(id, "verra_projects-latest");
  history.addWrittenKey(id, "verra_data_v2-2026_01_02__03_04_05");
  history.addWrittenKey(id, "verra_data_v2-latest");
  history.addNote(id, "upstream raw_verra_data-latest is from a previous build");
  history.addNote(id, "12 rows without a country code");
  history.finish(id, { status: "failed", attempts: 3, rows: 1234, columns: 17, error: "validation: 1000 rows, previous had 1234" }, at("2026-01-02T03:05:10.500Z"));

  assert.deepEqual(history.get(id), {
    id: 1, flow: "verra_data_v2", parentId: null, trigger: "build_all", status: "failed",
    startedAt: "2026-01-02T03:04:05.000Z", endedAt: "2026-01-02T03:05:10.500Z", attempts: 3, rows: 1234, columns: 17,
    writtenKeys: ["verra_data_v2-2026_01_02__03_04_05", "verra_data_v2-latest"],
    upstreamKeys: ["raw_verra_data-latest", "verra_projects-latest"], deletedKeys: [],
    error: "validation: 1000 rows, previous had 1234",
    notes: ["upstream raw_verra_data-latest is from a previous build", "12 rows without a country code"],
    pid: 4242, host: hostname(),
  } satisfies RunRecord);
  assert.equal(history.get(999), undefined);
});

test("a run started without pid records this process; finish without figures keeps them", (t) => {
  const { history } = openHistory(t);
  const id = history.start({ flow: "build_all", trigger: "schedule" });
  const started = history.get(id)!;
  assert.equal(started.pid, process.pid);
  assert.ok(!Number.isNaN(Date.parse(started.startedAt)));
  history.finish(id, { status: "succeeded" }, at("2030-01-01T00:00:00.000Z"));
  const done = history.get(id)!;
  assert.equal(done.status, "succeeded");
  assert.equal(done.endedAt, "2030-01-01T00:00:00.000Z");
  assert.equal(done.attempts, 0);
  assert.equal(done.rows, null);
  assert.equal(done.columns, null);
  assert.equal(done.error, null);
});

test("list filters by flow, statuses and parent, limits, newest first", (t) => {
  const { history } = openHistory(t);
  const parent = history.start({ flow: "build_all", trigger: "schedule", at: at("2026-01-01T13:15:00Z") }); // 1
  const a1 = history.start({ flow: "raw_verra_data", trigger: "build_all", parentId: parent }); // 2
  const b1 = history.start({ flow: "verra_data_v2", trigger: "build_all", parentId: parent }); // 3
  const a2 = history.start({ flow: "raw_verra_data", trigger: "manual" }); // 4
  const c1 = history.start({ flow: "clean_up_old_artifacts", trigger: "schedule" }); // 5
  history.finish(a1, { status: "succeeded", attempts: 1 });
  history.finish(b1, { status: "failed", error: "boom" });
  history.finish(a2, { status: "crashed" });
  history.finish(parent, { status: "failed" });
  const ids = (runs: RunRecord[]) => runs.map((r) => r.id);

  assert.deepEqual(ids(history.list()), [c1, a2, b1, a1, parent]);
  assert.deepEqual(ids(history.list({ flow: "raw_verra_data" })), [a2, a1]);
  assert.deepEqual(ids(history.list({ statuses: ["failed", "crashed"] })), [a2, b1, parent]);
  assert.deepEqual(ids(history.list({ statuses: ["running"] })), [c1]);
  assert.deepEqual(ids(history.list({ statuses: [] })), [c1, a2, b1, a1, parent], "no statuses: no filter");
  assert.deepEqual(ids(history.list({ parentId: parent })), [b1, a1]);
  assert.deepEqual(ids(history.list({ limit: 2 })), [c1, a2]);
  assert.deepEqual(ids(history.list({ flow: "raw_verra_data", statuses: ["succeeded"] })), [a1]);
  assert.deepEqual(ids(history.list({ flow: "raw_verra_data", limit: 1 })), [a2]);
  assert.deepEqual(ids(history.list({ flow: "nope" })), []);
  assert.deepEqual(history.list({ parentId: parent }).map((r) => [r.flow, r.status, r.parentId]), [
    ["verra_data_v2", "failed", parent], ["raw_verra_data", "succeeded", parent],
  ]);

  // The default limit is 20.
  for (let i = 0; i < 25; i++) history.start({ flow: "many", trigger: "manual" });
  assert.equal(history.list().length, 20);
  assert.equal(history.list({ flow: "many", limit: 100 }).length, 25);
});

test("skipped records a trigger that did not run, with its reason", (t) => {
  const { history } = openHistory(t);
  const parent = history.start({ flow: "build_all", trigger: "schedule" });
  const id = history.skipped({ flow: "build_frequent", trigger: "schedule", reason: "already queued", parentId: parent, at: at("2026-03-04T05:45:00.000Z") });
  const run = history.get(id)!;
  assert.deepEqual(
    [run.flow, run.trigger, run.status, run.parentId, run.startedAt, run.endedAt, run.error, run.pid, run.host, run.attempts],
    ["build_frequent", "schedule", "skipped", parent, "2026-03-04T05:45:00.000Z", "2026-03-04T05:45:00.000Z", "already queued", process.pid, hostname(), 0],
  );
  assert.deepEqual(history.list({ statuses: ["skipped"] }).map((r) => r.id), [id]);
});

test("an error, a note or a skip reason holding a registered secret is stored redacted", (t) => {
  const { history, file } = openHistory(t);
  registerSecret("history-secret-98765");
  const id = history.start({ flow: "raw_polygon_bridged_offsets", trigger: "manual" });
  history.addNote(id, "used key history-secret-98765");
  history.finish(id, {
    status: "failed",
    error: "POST https://gateway-arbitrum.network.thegraph.com/api/history-secret-98765/subgraphs/id/X: HTTP 500",
  });
  const skip = history.skipped({ flow: "x", trigger: "manual", reason: "token history-secret-98765 expired" });
  assert.equal(history.get(id)!.error, "POST https://gateway-arbitrum.network.thegraph.com/api/***/subgraphs/id/X: HTTP 500");
  assert.deepEqual(history.get(id)!.notes, ["used key ***"]);
  assert.equal(history.get(skip)!.error, "token *** expired");
  // What is on disk, read by another connection, holds no secret either.
  const raw = new Database(file, { readonly: true });
  try {
    const dump = JSON.stringify(raw.prepare("SELECT * FROM runs").all());
    assert.ok(!dump.includes("history-secret-98765"));
    assert.ok(dump.includes("***"));
  } finally {
    raw.close();
  }
});

test("markCrashed marks a running run of a dead process as crashed and leaves live ones alone", { timeout: 30_000 }, async (t) => {
  const { history } = openHistory(t);
  // A process that has certainly ended: started and waited for.
  const dead = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  const [deadCode] = await once(dead, "exit");
  assert.equal(deadCode, 0);
  // A process that certainly runs: it waits on its stdin until we close it.
  const live = spawn(process.execPath, ["-e", "process.stdin.resume()"], { stdio: ["pipe", "ignore", "ignore"] });
  await once(live, "spawn");
  t.after(async () => {
    if (live.exitCode === null && live.signalCode === null) {
      const exited = once(live, "exit");
      live.stdin!.end();
      await exited;
    }
  });

  const deadRun = history.start({ flow: "raw_verra_data", trigger: "manual", pid: dead.pid! });
  const liveRun = history.start({ flow: "verra_data_v2", trigger: "manual", pid: live.pid! });
  const ownRun = history.start({ flow: "build_all", trigger: "manual" }); // this process
  const finishedDead = history.start({ flow: "verra_retirements", trigger: "manual", pid: dead.pid! });
  history.finish(finishedDead, { status: "succeeded" });

  const now = at("2026-05-06T07:08:09.000Z");
  const marked = history.markCrashed(now);
  assert.deepEqual(marked.map((r) => r.id), [deadRun]);
  const crashed = history.get(deadRun)!;
  assert.equal(crashed.status, "crashed");
  assert.equal(crashed.endedAt, "2026-05-06T07:08:09.000Z");
  assert.equal(crashed.error, `process ${dead.pid} ended without recording the run's end`);
  assert.deepEqual(marked[0], crashed);
  assert.equal(history.get(liveRun)!.status, "running");
  assert.equal(history.get(liveRun)!.endedAt, null);
  assert.equal(history.get(ownRun)!.status, "running");
  assert.equal(history.get(finishedDead)!.status, "succeeded");
  assert.deepEqual(history.markCrashed(now), [], "a second pass finds nothing");
});

test("the history file is in WAL mode (seen by a second connection)", (t) => {
  const { history, file } = openHistory(t);
  history.start({ flow: "x", trigger: "manual" });
  const other = new Database(file);
  try {
    assert.equal(other.pragma("journal_mode", { simple: true }), "wal", "the file is in WAL");
    assert.equal((other.prepare("SELECT count(*) AS n FROM runs").get() as { n: number }).n, 1);
  } finally {
    other.close();
  }
});

test("a run history made by another process at the same moment opens: the switch to WAL SQLite refuses at once is asked again", (t) => {
  const file = path.join(tempDir(t), "runs.sqlite");
  // The other process, caught making the file: its first table written, its write lock still held
  // (the moment before it switches to WAL). SQLite refuses the switch here at once, busy timeout or not.
  const other = new Database(file);
  other.exec("CREATE TABLE early (x); BEGIN IMMEDIATE; INSERT INTO early VALUES (1)");
  const waits: number[] = [];
  const history = RunHistory.open(file, {
    pause: (ms) => {
      waits.push(ms);
      if (other.inTransaction) other.exec("COMMIT"); // the other process goes on
    },
  });
  t.after(() => {
    history.close();
    other.close();
  });
  assert.equal(waits.length, 1, "asked once more, after one wait");
  assert.ok(waits[0]! > 0 && waits[0]! <= 200, `a short wait: ${waits[0]} ms`);
  const reader = new Database(file, { readonly: true });
  assert.equal(reader.pragma("journal_mode", { simple: true }), "wal", "the file is in WAL");
  reader.close();
  const id = history.start({ flow: "raw_verra_data", trigger: "manual" });
  assert.equal(history.get(id)?.status, "running");

  // Held past the busy timeout, the line says so (and names the file).
  const stuckFile = path.join(tempDir(t), "runs.sqlite");
  const stuck = new Database(stuckFile);
  t.after(() => stuck.close());
  stuck.exec("CREATE TABLE early (x); BEGIN IMMEDIATE; INSERT INTO early VALUES (1)");
  let asked = 0;
  assert.throws(() => RunHistory.open(stuckFile, { busyTimeoutMs: 50, pause: (ms) => { asked++; pauseThread(ms); } }), (error: unknown) => {
    assert.ok(error instanceof UserError, String(error));
    assert.match(error.message, /^the run history .*runs\.sqlite \(DATA_PIPELINES_DB\) is busy: another process holds a write lock for more than 0\.05 s \(database is locked\)/);
    return true;
  });
  assert.ok(asked >= 1, "asked again before giving up");
});

test("two processes write 200 runs each at once while this one reads: no 'database is locked'", { timeout: 60_000 }, async (t) => {
  const { history, file } = openHistory(t);
  const historyUrl = pathToFileURL(path.join(ROOT, "lib", "history", "history.ts")).href;
  // Each writer opens the history, says "ready", and starts writing when the parent says "go"
  // on its stdin, so that both write at the same time.
  const script = `
    const { RunHistory } = await import(${JSON.stringify(historyUrl)});
    const history = RunHistory.open(process.env.RUNS_DB);
    process.stdout.write("ready\\n");
    await new Promise((resolve) => process.stdin.once("data", resolve));
    process.stdin.pause();
    for (let i = 0; i < 200; i++) {
      const id = history.start({ flow: process.env.RUNS_FLOW, trigger: "manual" });
      history.addWrittenKey(id, process.env.RUNS_FLOW + "-latest");
      history.finish(id, { status: "succeeded", rows: i, attempts: 1 });
    }
    history.close();
  `;
  const run = (flow: string) => {
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", RUNS_DB: file, RUNS_FLOW: flow },
      stdio: ["pipe", "pipe", "pipe"],
    });
    t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill(); });
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => { stderr += chunk; });
    const ready = new Promise<void>((resolve) => {
      let said = "";
      child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
        said += chunk;
        if (said.includes("ready\n")) resolve();
      });
    });
    const done = once(child, "close").then(([code]) => ({ code: code as number | null, stderr }));
    return { child, ready: Promise.race([ready, done.then((r) => { throw new Error(`writer ${flow} exited ${r.code} before ready: ${r.stderr}`); })]), done };
  };
  const writers = [run("writer_a"), run("writer_b")];
  await Promise.all(writers.map((w) => w.ready));
  let exited = 0;
  const all = Promise.all(writers.map((w) => w.done.finally(() => { exited++; })));
  for (const w of writers) w.child.stdin!.end("go\n");

  let reads = 0;
  while (exited < writers.length) {
    assert.ok(history.list({ limit: 5 }).length <= 5);
    reads++;
    await new Promise((resolve) => setImmediate(resolve)); // let the writers' exit events in
  }
  const results = await all;
  for (const [i, result] of results.entries()) {
    assert.equal(result.stderr, "", `writer ${i} wrote nothing on stderr`);
    assert.equal(result.code, 0, `writer ${i} exit code`);
  }
  assert.ok(reads > 0);

  const runs = history.list({ limit: 1000 });
  assert.equal(runs.length, 400);
  assert.deepEqual(runs.map((r) => r.id), Array.from({ length: 400 }, (_, i) => 400 - i), "ids 1..400, no gap");
  assert.ok(runs.every((r) => r.status === "succeeded" && r.attempts === 1 && r.writtenKeys.length === 1));
  for (const flow of ["writer_a", "writer_b"]) {
    const mine = history.list({ flow, limit: 1000 });
    assert.equal(mine.length, 200, flow);
    assert.deepEqual(mine.map((r) => r.rows).reverse(), Array.from({ length: 200 }, (_, i) => i), `${flow}: rows in order`);
    assert.ok(mine.every((r) => r.writtenKeys[0] === `${flow}-latest`));
  }
});

test("a command started with --run-id takes over the running record the scheduler made", (t) => {
  const { history } = openHistory(t);
  const scheduled = history.start({ flow: "build_all", trigger: "schedule", pid: 1, at: at("2026-11-25T13:15:00Z") });
  assert.equal(history.start({ flow: "build_all", trigger: "schedule", runId: scheduled }), scheduled);
  assert.equal(history.list().length, 1, "one run, one record");
  assert.equal(history.get(scheduled)!.pid, process.pid);
  assert.throws(() => history.start({ flow: "build_frequent", trigger: "schedule", runId: scheduled }), /--run-id 1: no running build_frequent run/);
  history.finish(scheduled, { status: "succeeded" });
  assert.throws(() => history.start({ flow: "build_all", trigger: "schedule", runId: scheduled }), /no running build_all run/);
});

test("an older database gains the columns added since", (t) => {
  const file = path.join(tempDir(t), "old.sqlite");
  const old = new Database(file);
  old.exec("CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, flow TEXT NOT NULL, parent_id INTEGER, trigger TEXT NOT NULL, status TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT, attempts INTEGER NOT NULL DEFAULT 0, rows INTEGER, columns INTEGER, written_keys TEXT NOT NULL DEFAULT '[]', upstream_keys TEXT NOT NULL DEFAULT '[]', error TEXT, notes TEXT NOT NULL DEFAULT '[]', pid INTEGER, host TEXT)");
  old.prepare("INSERT INTO runs (flow, trigger, status, started_at) VALUES ('raw_verra_data', 'manual', 'succeeded', '2026-11-01T00:00:00Z')").run();
  old.close();
  const history = RunHistory.open(file);
  t.after(() => history.close());
  assert.deepEqual(history.get(1)!.deletedKeys, []);
  const id = history.start({ flow: "clean_up_old_artifacts", trigger: "manual" });
  history.addDeletedKey(id, "raw_verra_data-2026_11_01__00_00_00");
  assert.deepEqual(history.get(id)!.deletedKeys, ["raw_verra_data-2026_11_01__00_00_00"]);
});

test("the scheduler lock: one live holder; a dead or stale holder is taken over, and its heartbeat then fails", async (t) => {
  const { history } = openHistory(t);
  const dead = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await once(dead, "exit");
  const t0 = at("2026-01-01T00:00:00.000Z");
  const later = (s: number) => new Date(t0.getTime() + s * 1000);
  assert.equal(new SchedulerLock(history).holder(), undefined);

  assert.deepEqual(new SchedulerLock(history).acquire({ role: "daemon", pid: dead.pid!, now: t0 }), { acquired: true, previous: undefined });
  // Its process is gone: a stale lock, taken over by this process.
  const taken = new SchedulerLock(history).acquire({ role: "daemon", now: later(1) });
  assert.equal(taken.acquired, true);
  assert.equal(taken.acquired && taken.previous?.pid, dead.pid);
  assert.equal(new SchedulerLock(history).heartbeat(dead.pid!, later(2)), false, "the old holder's heartbeat no longer lands");
  assert.deepEqual(new SchedulerLock(history).holder(), {
    pid: process.pid, host: hostname(), role: "daemon", startedAt: later(1).toISOString(), heartbeatAt: later(1).toISOString(), stoppedAt: null,
  });

  // A live holder with a recent heartbeat: refused.
  assert.equal(new SchedulerLock(history).heartbeat(process.pid, later(60)), true);
  const refused = new SchedulerLock(history).acquire({ role: "once build_all", pid: dead.pid!, now: later(120) });
  assert.deepEqual(refused, { acquired: false, holder: new SchedulerLock(history).holder() });
  assert.equal(new SchedulerLock(history).holder()!.heartbeatAt, later(60).toISOString());
  // ... unless its heartbeat is stale (more than 90 s old): taken over.
  const stale = new SchedulerLock(history).acquire({ role: "once build_all", pid: dead.pid!, now: later(151) });
  assert.equal(stale.acquired && stale.previous?.pid, process.pid);
  assert.equal(new SchedulerLock(history).heartbeat(process.pid, later(152)), false);

  // Let go by its holder (not by anyone else): free, and nobody is "taken over".
  new SchedulerLock(history).release(process.pid, later(160));
  assert.equal(new SchedulerLock(history).holder()!.stoppedAt, null);
  new SchedulerLock(history).release(dead.pid!, later(160));
  assert.equal(new SchedulerLock(history).holder()!.stoppedAt, later(160).toISOString());
  assert.deepEqual(new SchedulerLock(history).acquire({ role: "daemon", now: later(161) }), { acquired: true, previous: undefined });
});

test("prune keeps running runs and deletes by age and by count per flow", (t) => {
  const { history } = openHistory(t);
  const now = at("2026-06-01T00:00:00.000Z");
  const ago = (days: number) => new Date(now.getTime() - days * 86_400_000);
  const ids: Record<string, number> = {};
  for (const [name, flow, days, status] of [
    ["oldRunning", "a", 400, "running"], ["old", "a", 91, "succeeded"], ["a1", "a", 3, "failed"], ["a2", "a", 2, "succeeded"],
    ["b1", "b", 3, "skipped"], ["b2", "b", 2, "succeeded"], ["b3", "b", 1, "crashed"],
  ] as const) {
    ids[name] = history.start({ flow, trigger: "schedule", at: ago(days) });
    if (status !== "running") history.finish(ids[name]!, { status }, ago(days));
  }
  const child = history.start({ flow: "c", trigger: "build_all", parentId: ids.old, at: ago(1) });
  assert.deepEqual(history.prune({ before: ago(90), keepPerFlow: 2 }).sort((x, y) => x.id - y.id), [
    { id: ids.old, flow: "a" }, { id: ids.b1, flow: "b" },
  ]);
  assert.deepEqual(history.list({ limit: 100 }).map((r) => r.id).sort((x, y) => x - y), [ids.oldRunning, ids.a1, ids.a2, ids.b2, ids.b3, child]);
  assert.equal(history.get(child)!.parentId, null, "a child run outlives its pruned parent");
});

test("run-history errors: each SQLite failure is one line naming the file and DATA_PIPELINES_DB; other errors pass unchanged", () => {
  const file = "/srv/data/runs.sqlite";
  const line = (code: string, message: string) => (runHistoryError(file, new Database.SqliteError(message, code)) as Error).message;
  const history = `the run history ${file} (DATA_PIPELINES_DB)`;
  assert.equal(BUSY_TIMEOUT_MS, 15_000);
  assert.equal(line("SQLITE_BUSY", "database is locked"),
    `${history} is busy: another process holds a write lock for more than 15 s (database is locked); try again when it is done (lsof ${file} lists the processes that have it open)`);
  assert.equal(line("SQLITE_BUSY_SNAPSHOT", "database is locked"), line("SQLITE_BUSY", "database is locked"));
  assert.equal(line("SQLITE_FULL", "database or disk is full"),
    `${history} cannot be written: no space left on device (database or disk is full): free space on its disk or point DATA_PIPELINES_DB elsewhere`);
  assert.equal(line("SQLITE_READONLY", "attempt to write a readonly database"),
    `${history} is read-only (attempt to write a readonly database): give this user write permission on it and its folder, or point DATA_PIPELINES_DB at another file`);
  assert.equal(line("SQLITE_IOERR_WRITE", "disk I/O error"), `${history}: disk I/O error (SQLITE_IOERR_WRITE)`);
  const ours = new UserError("--run-id 3: no running x run with that id in the run history");
  assert.equal(runHistoryError(file, ours), ours);
  const bug = new TypeError("x is not a function");
  assert.equal(runHistoryError(file, bug), bug);
});
