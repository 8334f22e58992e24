// The scheduler daemon: its schedule, the queue, child processes that fail, time out or ignore
// SIGTERM, graceful stop, the lock between daemons, catch-up, retention and `runs.ts --status`.
// Jobs are the stand-ins of test/fixtures/jobs/ (never real flows); schedules that must fire in a
// test use 6-field cron expressions (seconds), and tests wait on events (a line, an exit), not clocks.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, readdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { describe, test } from "node:test";
import { processExists, RunHistory, type RunRecord } from "../lib/history/history.ts";
import { SchedulerLock } from "../lib/history/lock.ts";
import { missedTriggers, pruneRuns, Scheduler, type RunEnd } from "../lib/daemon/scheduler.ts";
import { schedulerStatus } from "../lib/schedule/daemon_status.ts";
import { DEFAULT_SCHEDULE, knownJobs, loadSchedule, parseSchedule, type JobSpec } from "../lib/schedule/schedule.ts";
import { memoryLogger, ROOT, runScript, tempDir } from "./helpers.ts";

type T = Parameters<typeof tempDir>[0];
const JOBS = path.join(ROOT, "test", "fixtures", "jobs");

/** Lines as they come, and a promise for the first (past or future) line that matches. */
function lineWatcher() {
  const lines: string[] = [];
  const waiting: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  return {
    lines,
    push(line: string) {
      lines.push(line);
      for (const w of [...waiting]) {
        if (w.pattern.test(line)) {
          waiting.splice(waiting.indexOf(w), 1);
          w.resolve(line);
        }
      }
    },
    waitFor(pattern: RegExp): Promise<string> {
      const seen = lines.find((l) => pattern.test(l));
      return seen !== undefined ? Promise.resolve(seen) : new Promise((resolve) => waiting.push({ pattern, resolve }));
    },
  };
}

/** A scheduler in this process running the stand-in jobs, on a fresh run history. */
function testScheduler(t: T, jobs: Array<Partial<JobSpec> & { job: string }>, killAfterMs = 5000) {
  const dir = tempDir(t);
  const db = path.join(dir, "runs.sqlite");
  const history = RunHistory.open(db);
  const { log, lines: logLines } = memoryLogger();
  const output = lineWatcher();
  const ends: RunEnd[] = [];
  const scheduler = new Scheduler({
    history, log, logsDir: path.join(dir, "logs"), killAfterMs, cwd: dir,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", DATA_PIPELINES_DB: db },
    jobs: jobs.map((j) => ({ cron: "", timeoutMs: 60_000, script: path.join(JOBS, `${j.job}.ts`), ...j })),
    onLine: (run, line) => output.push(`${run.job} ${run.runId}: ${line}`),
    onEnd: (end) => ends.push(end),
  });
  t.after(async () => {
    await scheduler.shutdown(0);
    history.close();
  });
  return { dir, db, history, scheduler, logLines, output, ends };
}

const fields = (r: RunRecord | undefined) => r && [r.flow, r.trigger, r.status, r.error];

describe("the schedule", () => {
  test("the defaults are docs/architecture.md §8's (UTC), with generous timeouts", () => {
    const schedule = loadSchedule();
    assert.equal(schedule.source, "defaults");
    assert.deepEqual(schedule.jobs.map((j) => [j.job, j.cron, j.timeoutMs, path.relative(ROOT, j.script)]), [
      ["clean_up_old_artifacts", "0 22 * * *", 2 * 3_600_000, "scripts/clean_up_old_artifacts.ts"],
      ["build_all", "15 13 * * *", 6 * 3_600_000, "scripts/build_all.ts"],
      ["build_frequent", "45 * * * *", 50 * 60_000, "scripts/build_frequent.ts"],
    ]);
    assert.deepEqual(Object.keys(DEFAULT_SCHEDULE), schedule.jobs.map((j) => j.job));
  });

  test("a schedule file replaces the defaults: a cron expression, or {cron, timeout}", (t) => {
    const file = path.join(tempDir(t), "schedule.json");
    writeFileSync(file, JSON.stringify({
      build_all: { cron: "0 14 * * *", timeout: "3h" },
      raw_verra_data: "30 */6 * * *",
      verra_data_v2: { cron: "*/10 * * * * *", timeout: 90 },
      fetch_s3_artifacts: { cron: "@daily", timeout: "500ms" },
    }));
    const schedule = loadSchedule({ file });
    assert.equal(schedule.source, file);
    assert.deepEqual(schedule.jobs.map((j) => [j.job, j.cron, j.timeoutMs]), [
      ["build_all", "0 14 * * *", 3 * 3_600_000],
      ["raw_verra_data", "30 */6 * * *", 2 * 3_600_000],
      ["verra_data_v2", "*/10 * * * * *", 90_000],
      ["fetch_s3_artifacts", "@daily", 500],
    ]);
  });

  test("a bad schedule is refused with one line naming the file and the entry", (t) => {
    const dir = tempDir(t);
    const refused = (content: string): string => {
      const file = path.join(dir, "schedule.json");
      writeFileSync(file, content);
      try {
        loadSchedule({ file });
      } catch (error) {
        const message = (error as Error).message;
        assert.ok(!message.includes("\n"), message);
        return message.replace(`schedule file ${file}: `, "");
      }
      assert.fail(`accepted ${content}`);
    };
    assert.equal(refused('{"build_al": "0 * * * *"}'),
      "build_al: unknown job (not build_all, build_frequent, clean_up_old_artifacts, clean_up_latest_artifacts, fetch_s3_artifacts or a dataset flow's slug)");
    assert.equal(refused('{"build_all": "61 * * * *"}'), 'build_all: invalid cron expression "61 * * * *": Invalid value for minute: 61');
    assert.match(refused('{"build_all": "* * *"}'), /^build_all: invalid cron expression "\* \* \*": invalid configuration format/);
    assert.match(refused('{"build_all": "0 0 0 1 1 * 2030"}'), /^build_all: invalid cron expression .* requires exactly 5 or 6 parts/);
    assert.equal(refused('{"build_all": "0 0 31 2 *"}'), 'build_all: the cron expression "0 0 31 2 *" never fires');
    assert.equal(refused('{"build_all": {"cron": "0 1 * * *", "timout": "1h"}}'), 'build_all: unknown field "timout" (cron, timeout)');
    assert.equal(refused('{"build_all": {"cron": "0 1 * * *", "timeout": "soon"}}'),
      'build_all: timeout "soon" is not a duration (e.g. "6h", "90m", "30s", or seconds as a number)');
    assert.equal(refused('{"build_all": {"timeout": "1h"}}'), 'build_all: "cron" must be a cron expression such as "15 13 * * *"');
    assert.equal(refused('{"build_all": 5}'), 'build_all: expected a cron expression or {"cron": ..., "timeout": ...}');
    assert.equal(refused("{}"), "no jobs");
    assert.match(refused('["build_all"]'), /^expected an object of job names/);
    assert.match(refused("{build_all: 1}"), /^not valid JSON \(/);
    assert.throws(() => loadSchedule({ file: path.join(dir, "missing.json") }), /^UserError: schedule file .*missing\.json: cannot read it \(ENOENT\)$/);
    assert.throws(() => parseSchedule({ quick: "* * * * *", nope: "* * * * *" }, "test", JOBS), /^UserError: test: nope: unknown job \(no nope\.ts in .*fixtures\/jobs\)$/);
  });

  test("the jobs a schedule may name: the commands and every flow of scripts/flows.ts", async () => {
    const { ALL_FLOWS } = await import("../scripts/flows.ts");
    assert.deepEqual(knownJobs(), [
      "build_all", "build_frequent", "clean_up_old_artifacts", "clean_up_latest_artifacts", "fetch_s3_artifacts",
      ...ALL_FLOWS.map((f) => f.slug),
    ]);
  });
});

describe("running jobs", { concurrency: true, timeout: 60_000 }, () => {
  test("two jobs triggered together run one after the other; a trigger of a running or queued job is recorded skipped", async (t) => {
    const { dir, history, scheduler, logLines, output, ends } = testScheduler(t, [{ job: "quick" }, { job: "fails" }]);
    assert.equal(scheduler.trigger("quick"), "started");
    assert.equal(scheduler.trigger("fails"), "queued");
    assert.equal(scheduler.trigger("quick"), "skipped");
    assert.equal(scheduler.trigger("fails"), "skipped");
    await scheduler.idle();

    assert.deepEqual(ends.map((e) => [e.job, e.runId, e.status, e.code]), [["quick", 1, "succeeded", 0], ["fails", 4, "failed", 3]]);
    assert.deepEqual(fields(history.get(1)), ["quick", "schedule", "succeeded", null]);
    assert.deepEqual(fields(history.get(2)), ["quick", "schedule", "skipped", "quick is already running (run 1)"]);
    assert.deepEqual(fields(history.get(3)), ["fails", "schedule", "skipped", "fails is already queued behind quick run 1"]);
    assert.deepEqual(fields(history.get(4)), ["fails", "schedule", "failed", "exit code 3"]);
    assert.ok(history.get(4)!.startedAt >= history.get(1)!.endedAt!, "fails started after quick ended");
    assert.notEqual(history.get(1)!.pid, process.pid, "the record was taken over by the job's process");

    const events = logLines.map((l) => l.slice(9)).filter((l) => !l.includes(": hello") && !l.includes(": failing"));
    assert.deepEqual(events.map((l) => l.replace(/(succeeded|failed) in (\d+ min )?[0-9.]+ m?s/, "$1 in <t>")), [
      "started quick run 1 (schedule)",
      "queued fails behind quick run 1",
      "WARN skipped quick run 2: quick is already running (run 1)",
      "WARN skipped fails run 3: fails is already queued behind quick run 1",
      "ended quick run 1: succeeded in <t>",
      "started fails run 4 (schedule)",
      "WARN ended fails run 4: failed in <t> (exit code 3)",
    ]);
    assert.ok(logLines.some((l) => /^\d\d:\d\d:\d\d quick run 1: hello$/.test(l)), "the job's output, prefixed by job and run id");
    assert.deepEqual(output.lines, ["quick 1: hello", "fails 4: 13:15:02 failing"]);
    assert.equal(readFileSync(path.join(dir, "logs", "1-quick.log"), "utf8"), "hello\n");
    assert.equal(readFileSync(path.join(dir, "logs", "4-fails.log"), "utf8"), "13:15:02 failing\n");
  });

  test("a job killed by a signal is recorded failed, and the next trigger still runs", async (t) => {
    const { history, scheduler, ends } = testScheduler(t, [{ job: "crashes" }, { job: "quick" }]);
    scheduler.trigger("crashes");
    await scheduler.idle();
    scheduler.trigger("quick");
    await scheduler.idle();
    assert.deepEqual(ends.map((e) => [e.job, e.status, e.signal]), [["crashes", "failed", "SIGKILL"], ["quick", "succeeded", null]]);
    assert.deepEqual(fields(history.get(1)), ["crashes", "schedule", "failed", "killed by SIGKILL"]);
    assert.deepEqual(fields(history.get(2)), ["quick", "schedule", "succeeded", null]);
  });

  test("a job past its timeout is stopped (SIGTERM) and recorded failed", async (t) => {
    const { history, scheduler, ends } = testScheduler(t, [{ job: "sleeps", timeoutMs: 300 }]);
    scheduler.trigger("sleeps");
    await scheduler.idle();
    assert.deepEqual(ends.map((e) => [e.status, e.error]), [["failed", "timed out after 300 ms"]]);
    // SIGTERM ends the job by itself while it is still loading, or through its handler (exit 128 + 15) once it runs.
    assert.ok(ends[0]!.signal === "SIGTERM" || ends[0]!.code === 143, `ended by SIGTERM (signal ${ends[0]!.signal}, code ${ends[0]!.code})`);
    assert.deepEqual(fields(history.get(1)), ["sleeps", "schedule", "failed", "timed out after 300 ms"]);
  });

  test("shutdown: the grace period, then SIGTERM, then SIGKILL for a job that ignores SIGTERM; queued triggers are recorded skipped", async (t) => {
    const { history, scheduler, logLines, output, ends } = testScheduler(t, [{ job: "stubborn" }, { job: "quick" }], 300);
    scheduler.trigger("stubborn");
    scheduler.trigger("quick");
    await output.waitFor(/^stubborn 1: sleeping, ignoring SIGTERM$/);
    await scheduler.shutdown(200);
    assert.equal(scheduler.trigger("quick"), "stopping", "no new jobs once stopping");
    await output.waitFor(/ignoring SIGTERM$/);
    assert.deepEqual(ends.map((e) => [e.job, e.status, e.signal]), [["stubborn", "failed", "SIGKILL"]]);
    assert.deepEqual(fields(history.get(1)), ["stubborn", "schedule", "failed", "stopped at shutdown after the grace period of 200 ms"]);
    assert.deepEqual(fields(history.get(2)), ["quick", "schedule", "skipped", "the scheduler stopped before it could run"]);
    assert.deepEqual(history.list({ statuses: ["running"] }), []);
    const events = logLines.map((l) => l.slice(9)).filter((l) => !/^stubborn run 1: /.test(l));
    assert.deepEqual(events.map((l) => l.replace(/(succeeded|failed) in (\d+ min )?[0-9.]+ m?s/, "$1 in <t>")), [
      "started stubborn run 1 (schedule)",
      "queued quick behind stubborn run 1",
      "skipped quick run 2: the scheduler stopped before it could run",
      "stopping: stubborn run 1 may finish within 200 ms",
      "WARN stubborn run 1 stopped at shutdown after the grace period of 200 ms: SIGTERM, SIGKILL in 300 ms if still running",
      "WARN stubborn run 1 still running: SIGKILL",
      "WARN ended stubborn run 1: failed in <t> (stopped at shutdown after the grace period of 200 ms)",
    ]);
  });
  test("a second shutdown (a second signal) stops the job at once, and resolves only once its end is recorded", async (t) => {
    const { history, scheduler, output, ends } = testScheduler(t, [{ job: "sleeps" }]);
    scheduler.trigger("sleeps");
    await output.waitFor(/^sleeps 1: sleeping$/);
    const first = scheduler.shutdown(60_000);
    await scheduler.shutdown(60_000);
    assert.deepEqual(ends.map((e) => [e.job, e.status, e.error]), [["sleeps", "failed", "stopped at shutdown (second signal)"]]);
    assert.deepEqual(fields(history.get(1)), ["sleeps", "schedule", "failed", "stopped at shutdown (second signal)"]);
    await first;
    await scheduler.shutdown(0); // and again: nothing left to stop
  });
});

describe("catch-up and retention", () => {
  test("catch-up: each job whose latest trigger has no run since, once, oldest first", (t) => {
    const history = RunHistory.open(path.join(tempDir(t), "runs.sqlite"));
    t.after(() => history.close());
    const spec = (job: string, cron: string): JobSpec => ({ job, cron, timeoutMs: 1000, script: "" });
    const jobs = [spec("build_all", "15 13 * * *"), spec("build_frequent", "45 * * * *"), spec("clean_up_old_artifacts", "0 22 * * *")];
    const now = new Date("2026-03-10T14:20:00Z");
    // build_all ran after its 13:15 trigger; build_frequent's 13:45 was only skipped; clean_up never ran.
    history.finish(history.start({ flow: "build_all", trigger: "schedule", at: new Date("2026-03-10T13:15:00.200Z") }), { status: "failed" });
    history.start({ flow: "build_frequent", trigger: "schedule", at: new Date("2026-03-10T12:45:00.100Z") });
    history.skipped({ flow: "build_frequent", trigger: "schedule", reason: "already running", at: new Date("2026-03-10T13:45:00Z") });
    assert.deepEqual(missedTriggers(jobs, history, now).map((m) => [m.spec.job, m.firedAt.toISOString()]), [
      ["clean_up_old_artifacts", "2026-03-09T22:00:00.000Z"],
      ["build_frequent", "2026-03-10T13:45:00.000Z"],
    ]);
    // A manual run after the trigger counts.
    history.start({ flow: "clean_up_old_artifacts", trigger: "manual", at: new Date("2026-03-10T08:00:00Z") });
    assert.deepEqual(missedTriggers(jobs, history, now).map((m) => m.spec.job), ["build_frequent"]);
  });

  test("retention deletes runs by age and beyond a count per flow, with their log files, never a running run", (t) => {
    const dir = tempDir(t);
    const history = RunHistory.open(path.join(dir, "runs.sqlite"));
    t.after(() => history.close());
    const logs = path.join(dir, "logs");
    const now = new Date("2026-06-01T00:00:00Z");
    const day = (n: number) => new Date(now.getTime() - n * 86_400_000);
    const run = (flow: string, daysAgo: number, status: "succeeded" | "running" = "succeeded") => {
      const id = history.start({ flow, trigger: "schedule", at: day(daysAgo) });
      if (status !== "running") history.finish(id, { status }, day(daysAgo));
      return id;
    };
    const oldRunning = run("build_all", 200, "running");
    const old = run("build_all", 100);
    const recent = [run("build_all", 3), run("build_all", 2), run("build_all", 1)];
    const frequent = [run("build_frequent", 5), run("build_frequent", 4), run("build_frequent", 3), run("build_frequent", 2)];
    mkdirSync(logs);
    for (const [id, flow] of [[old, "build_all"], [frequent[0], "build_frequent"], [frequent[3], "build_frequent"]] as const) {
      writeFileSync(path.join(logs, `${id}-${flow}.log`), "output\n");
    }

    assert.equal(pruneRuns(history, logs, { days: 90, perFlow: 3 }, now), 2);
    const left = history.list({ limit: 100 }).map((r) => r.id).sort((a, b) => a - b);
    assert.deepEqual(left, [oldRunning, ...recent, ...frequent.slice(1)]);
    assert.deepEqual(readdirSync(logs), [`${frequent[3]}-build_frequent.log`]);
    assert.equal(pruneRuns(history, logs, { days: 90, perFlow: 3 }, now), 0, "nothing more to delete");
  });
});


describe("status", () => {
  test("runs.ts --status's view: alive, stale heartbeat or not running, with each job's next and last run", async (t) => {
    const history = RunHistory.open(path.join(tempDir(t), "runs.sqlite"));
    t.after(() => history.close());
    const schedule = loadSchedule();
    const now = new Date("2026-03-10T14:20:00Z");
    const later = (s: number) => new Date(now.getTime() + s * 1000);
    const state = (at: Date) => {
      const s = schedulerStatus(history, schedule, at);
      return [s.state, s.detail];
    };
    assert.deepEqual(state(now), ["not running", "no scheduler has run on this run history"]);

    new SchedulerLock(history).acquire({ role: "daemon", now });
    assert.deepEqual(state(later(12)), ["alive", `pid ${process.pid} on ${hostname()} (daemon) since 2026-03-10 14:20:00 UTC, heartbeat 12 s ago`]);
    assert.deepEqual(state(later(91)), ["stale heartbeat", `pid ${process.pid} on ${hostname()}: last heartbeat 91 s ago`]);
    assert.equal(new SchedulerLock(history).heartbeat(process.pid, later(91)), true);
    assert.equal(state(later(95))[0], "alive");
    new SchedulerLock(history).release(process.pid, later(100));
    assert.deepEqual(state(later(101)), ["not running", `pid ${process.pid} on ${hostname()} stopped at 2026-03-10 14:21:40 UTC`]);

    const dead = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
    await once(dead, "exit");
    new SchedulerLock(history).acquire({ role: "daemon", pid: dead.pid!, now });
    assert.deepEqual(state(later(5)), ["not running", `pid ${dead.pid} on ${hostname()} is gone without stopping (last heartbeat 2026-03-10 14:20:00 UTC)`]);

    const built = history.start({ flow: "build_all", trigger: "schedule", at: new Date("2026-03-10T13:15:00Z") });
    const status = schedulerStatus(history, schedule, now);
    assert.deepEqual(status.jobs.map((j) => [j.job, j.cron, j.nextRun, j.lastRun?.id ?? null]), [
      ["clean_up_old_artifacts", "0 22 * * *", "2026-03-10T22:00:00.000Z", null],
      ["build_all", "15 13 * * *", "2026-03-11T13:15:00.000Z", built],
      ["build_frequent", "45 * * * *", "2026-03-10T14:45:00.000Z", null],
    ]);
  });
});

/** `node --import tsx schedule.ts ...` in `dir`: signals reach the daemon itself (no launcher in between). */
function startDaemon(t: T, dir: string, args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), path.join(ROOT, "schedule.ts"), ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", DATA_PIPELINES_DB: path.join(dir, "runs.sqlite"), ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const stderr = lineWatcher();
  createInterface({ input: child.stderr! }).on("line", (line) => stderr.push(line.slice(9))); // without the time
  const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL"); });
  return { child, stderr, exited };
}

/** For what sends us no event (a process that is not our child ending): look every 20 ms, up to 10 s. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !condition(); waited += 20) {
    if (waited > 10_000) assert.fail(`still not ${what} after 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function assertOneLineFailure(r: { code: number; stdout: string; stderr: string }, expected: string | RegExp): void {
  assert.notEqual(r.code, 0, "exit status");
  assert.equal(r.stdout, "", "nothing on stdout");
  const lines = r.stderr.split("\n").filter(Boolean);
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  if (typeof expected === "string") assert.equal(lines[0], expected);
  else assert.match(lines[0]!, expected);
}

describe("the daemon", { concurrency: true, timeout: 60_000 }, () => {
  test("--list prints each default job with its next three run times (UTC)", async (t) => {
    // Computed here with dates, not croner; the clock may pass a boundary while the command starts.
    const expected = (now: Date) => {
      const times = (first: Date, stepMs: number) => [0, 1, 2].map((i) => new Date(first.getTime() + i * stepMs).toISOString().slice(0, 19).replace("T", " "));
      const at = (h: number, m: number) => {
        const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), h, m));
        return d > now ? d : new Date(d.getTime() + 86_400_000);
      };
      const hourly = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), now.getUTCHours(), 45));
      return {
        clean_up_old_artifacts: times(at(22, 0), 86_400_000),
        build_all: times(at(13, 15), 86_400_000),
        build_frequent: times(hourly > now ? hourly : new Date(hourly.getTime() + 3_600_000), 3_600_000),
      };
    };
    const before = expected(new Date());
    const r = await runScript("schedule.ts", ["--list"], { cwd: tempDir(t) });
    const after = expected(new Date());
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    const lines = r.stdout.split("\n");
    assert.equal(lines[0], "schedule: defaults");
    assert.match(lines[2]!, /^job +cron \(UTC\) +timeout +next runs \(UTC\)$/);
    const rows = lines.slice(4).filter(Boolean);
    assert.deepEqual(rows.map((l) => l.split(/ {2,}/).slice(0, 3)), [
      ["clean_up_old_artifacts", "0 22 * * *", "2 h"],
      ["build_all", "15 13 * * *", "6 h"],
      ["build_frequent", "45 * * * *", "50 min"],
    ]);
    for (const row of rows) {
      const [job, , , next] = row.split(/ {2,}/) as [keyof typeof before, string, string, string];
      assert.ok([before[job].join(", "), after[job].join(", ")].includes(next), `${job}: ${next}, expected ${before[job].join(", ")}`);
    }
  });

  test("a bad schedule file is refused at start with one line naming it and the entry", async (t) => {
    const dir = realpathSync(tempDir(t)); // the command sees its cwd with symbolic links resolved
    writeFileSync(path.join(dir, "unknown.json"), JSON.stringify({ build_all: "15 13 * * *", build_everything: "0 1 * * *" }));
    writeFileSync(path.join(dir, "cron.json"), JSON.stringify({ build_all: "61 13 * * *" }));
    const env = { DATA_PIPELINES_DB: path.join(dir, "runs.sqlite") };
    const [unknown, cron] = await Promise.all([
      runScript("schedule.ts", ["--schedule", "unknown.json"], { cwd: dir, env }),
      runScript("schedule.ts", [], { cwd: dir, env: { ...env, DATA_PIPELINES_SCHEDULE_FILE: "cron.json" } }),
    ]);
    assertOneLineFailure(unknown, `error: schedule file ${dir}/unknown.json: build_everything: unknown job ` +
      "(not build_all, build_frequent, clean_up_old_artifacts, clean_up_latest_artifacts, fetch_s3_artifacts or a dataset flow's slug)");
    assertOneLineFailure(cron, `error: schedule file ${dir}/cron.json: build_all: invalid cron expression "61 13 * * *": Invalid value for minute: 61`);
  });

  test("--once runs one job now, as the daemon would, and exits with its status", async (t) => {
    const dir = tempDir(t);
    const db = path.join(dir, "runs.sqlite");
    const r = await runScript("schedule.ts", ["--once", "fails", "--scripts-dir", JOBS], { cwd: dir, env: { DATA_PIPELINES_DB: db } });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /^\d\d:\d\d:\d\d started fails run 1 \(manual\)$/m);
    assert.match(r.stderr, /^\d\d:\d\d:\d\d fails run 1: failing$/m);
    assert.match(r.stderr, /^\d\d:\d\d:\d\d WARN ended fails run 1: failed in .* \(exit code 3\)$/m);
    const history = RunHistory.open(db);
    t.after(() => history.close());
    assert.deepEqual(fields(history.get(1)), ["fails", "manual", "failed", "exit code 3"]);
    assert.equal(new SchedulerLock(history).holder()?.role, "once fails");
    assert.ok(new SchedulerLock(history).holder()?.stoppedAt, "the lock is let go");
  });

  test("SIGTERM during a long job: stopped after the grace period and recorded, exit 0, no run left running", async (t) => {
    const dir = tempDir(t);
    writeFileSync(path.join(dir, "schedule.json"), JSON.stringify({ builds: "* * * * * *" }));
    const daemon = startDaemon(t, dir, ["--schedule", "schedule.json", "--scripts-dir", JOBS], { DATA_PIPELINES_SCHEDULER_GRACE_SECONDS: "0.2" });
    await daemon.stderr.waitFor(/^builds run 1: building$/);
    daemon.child.kill("SIGTERM");
    const [code, signal] = await daemon.exited;
    assert.deepEqual([code, signal], [0, null]);

    const history = RunHistory.open(path.join(dir, "runs.sqlite"));
    t.after(() => history.close());
    const stopped = "stopped at shutdown after the grace period of 200 ms";
    assert.deepEqual(fields(history.get(1)), ["builds", "schedule", "failed", stopped]);
    assert.deepEqual(history.list({ parentId: 1 }).map(fields), [["builds_flow", "build_all", "failed", stopped]], "the flow it ran in its process too");
    assert.deepEqual(history.list({ statuses: ["running"] }), []);
    for (const r of history.list({ flow: "builds", limit: 100 }).slice(0, -1)) {
      assert.deepEqual(fields(r), ["builds", "schedule", "skipped", "builds is already running (run 1)"]);
    }
    assert.ok(new SchedulerLock(history).holder()?.stoppedAt, "the lock is let go");
    const lines = daemon.stderr.lines;
    assert.ok(lines.includes("SIGTERM: stopping, no new jobs"), lines.join("\n"));
    assert.ok(lines.includes("stopping: builds run 1 may finish within 200 ms"));
    assert.ok(lines.some((l) => /^WARN ended builds run 1: failed in .* \(stopped at shutdown after the grace period of 200 ms\)$/.test(l)));
    assert.equal(lines.at(-1), "scheduler stopped");
  });

  test("a second daemon refuses to start; after SIGKILL of the first, a new one takes over the stale lock and marks the orphaned run crashed", async (t) => {
    const dir = realpathSync(tempDir(t));
    const db = path.join(dir, "runs.sqlite");
    writeFileSync(path.join(dir, "every_second.json"), JSON.stringify({ sleeps: "* * * * * *" }));
    writeFileSync(path.join(dir, "yearly.json"), JSON.stringify({ quick: "0 0 1 1 *" }));
    const first = startDaemon(t, dir, ["--schedule", "every_second.json", "--scripts-dir", JOBS]);
    await first.stderr.waitFor(/^sleeps run 1: sleeping$/);

    const second = await runScript("schedule.ts", ["--schedule", "every_second.json", "--scripts-dir", JOBS], { cwd: dir, env: { DATA_PIPELINES_DB: db } });
    assertOneLineFailure(second, new RegExp(
      `^error: another scheduler holds the run history ${db}: pid ${first.child.pid} on ${hostname()} ` +
      "\\(daemon, since \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC, last heartbeat \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC\\); stop it first$",
    ));

    const history = RunHistory.open(db);
    t.after(() => history.close());
    const jobPid = history.get(1)!.pid!;
    assert.notEqual(jobPid, first.child.pid, "the job took over its run record");
    first.child.kill("SIGKILL");
    await first.exited;
    // The job sees its scheduler gone and stops (lib/process/exit_with_parent.ts), leaving its run `running`.
    await until(() => !processExists(jobPid), "ended");
    assert.equal(history.get(1)!.status, "running");

    const third = startDaemon(t, dir, ["--schedule", "yearly.json", "--scripts-dir", JOBS]);
    await third.stderr.waitFor(/^scheduler started/);
    third.child.kill("SIGTERM");
    assert.deepEqual(await third.exited, [0, null]);
    assert.deepEqual(third.stderr.lines.slice(0, 2), [
      `WARN took over the scheduler lock from pid ${first.child.pid} on ${hostname()} (daemon): no longer running`,
      `WARN run 1 (sleeps, pid ${jobPid}) was left running by a process that no longer exists: marked crashed`,
    ]);
    assert.deepEqual(fields(history.get(1)), ["sleeps", "schedule", "crashed", `process ${jobPid} ended without recording the run's end`]);
    assert.deepEqual(history.list({ statuses: ["running"] }), []);
  });

  test("--catch-up runs once, at start, each job whose latest trigger has no run since", async (t) => {
    const dir = tempDir(t);
    const db = path.join(dir, "runs.sqlite");
    writeFileSync(path.join(dir, "yearly.json"), JSON.stringify({ quick: "0 0 1 1 *", fails: "0 0 1 1 *" }));
    const history = RunHistory.open(db);
    t.after(() => history.close());
    history.finish(history.start({ flow: "quick", trigger: "manual" }), { status: "succeeded" }); // quick ran since New Year
    const daemon = startDaemon(t, dir, ["--schedule", "yearly.json", "--scripts-dir", JOBS, "--catch-up"]);
    const newYear = `${new Date().getUTCFullYear()}-01-01 00:00:00`;
    await daemon.stderr.waitFor(/^WARN ended fails run 2: failed/);
    daemon.child.kill("SIGTERM");
    assert.deepEqual(await daemon.exited, [0, null]);
    assert.ok(daemon.stderr.lines.includes(`catch-up: fails missed its ${newYear} UTC trigger`), daemon.stderr.lines.join("\n"));
    assert.deepEqual(fields(history.get(2)), ["fails", "schedule", "failed", "exit code 3"]);
    assert.deepEqual(history.get(2)!.notes, [`catch-up of the ${newYear} UTC trigger, missed while the scheduler was down`]);
    assert.equal(history.list({ flow: "quick" }).length, 1, "quick is not run again");
  });

  test("runs.ts --status reports the daemon and each job's next run", async (t) => {
    const dir = tempDir(t);
    const db = path.join(dir, "runs.sqlite");
    const history = RunHistory.open(db);
    new SchedulerLock(history).acquire({ role: "daemon" }); // this process stands in for a live daemon
    history.close();
    const r = await runScript("scripts/runs.ts", ["--status"], { cwd: dir, env: { DATA_PIPELINES_DB: db } });
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    const lines = r.stdout.split("\n");
    assert.match(lines[0]!, new RegExp(`^scheduler: alive: pid ${process.pid} on ${hostname()} \\(daemon\\) since .* UTC, heartbeat \\d+ s ago$`));
    assert.equal(lines[1], "schedule: defaults");
    assert.match(lines[3]!, /^job +cron \(UTC\) +next run \(UTC\) +last run +status +started \(UTC\) +trigger$/);
    assert.deepEqual(lines.slice(5, lines.indexOf("", 5)).map((l) => l.split(/ {2,}/).slice(0, 2)), [
      ["clean_up_old_artifacts", "0 22 * * *"], ["build_all", "15 13 * * *"], ["build_frequent", "45 * * * *"],
    ]);
  });
});
