// Every process of ours ends with the one that started it: the daemon started the documented way
// (`node --import tsx schedule.ts`) and stopped by SIGTERM, by two SIGINTs, or killed with SIGKILL;
// `build_all --isolate` stopped by SIGTERM. The jobs are the real build_frequent and build_all,
// whose flows fetch from a local server that never answers (so they are mid-fetch when stopped).
// What is left is looked up in /proc (process groups, pids), polling with a ceiling, never a sleep.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { describe, test } from "node:test";
import { RunHistory, type RunRecord } from "../lib/history/history.ts";
import { SchedulerLock } from "../lib/history/lock.ts";
import { startFakeHttpServer } from "./fakes/http.ts";
import { ROOT, tempDir } from "./helpers.ts";

type T = Parameters<typeof tempDir>[0];

/** A source that takes every request and never answers; `requested` resolves at the first request. */
async function silentSource(t: T) {
  let arrived!: () => void;
  const requested = new Promise<void>((resolve) => { arrived = resolve; });
  const server = await startFakeHttpServer(() => {
    arrived();
    return new Promise<void>(() => {});
  });
  t.after(() => server.stop());
  return { url: `http://127.0.0.1:${server.port}/`, requested };
}

interface Started {
  pid: number;
  /** stderr lines as they come, without the clock. */
  lines: string[];
  waitFor(pattern: RegExp): Promise<string>;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

/**
 * `node --import tsx <script> args` in `dir`, in a process group of its own (as a supervisor or a
 * shell job would start it), with only the environment given. Killed with its group if the test fails.
 */
function start(t: T, dir: string, script: string, args: string[], env: Record<string, string>): Started {
  const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), path.join(ROOT, script), ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", DATA_PIPELINES_STATUS_ADDR: "off", ...env },
    stdio: ["ignore", "ignore", "pipe"],
    detached: true,
  });
  const lines: string[] = [];
  const waiting: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  createInterface({ input: child.stderr! }).on("line", (raw) => {
    const line = raw.replace(/^\d\d:\d\d:\d\d /, "");
    lines.push(line);
    for (const w of waiting.filter((w) => w.pattern.test(line))) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve(line);
    }
  });
  const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  const pid = child.pid!;
  t.after(() => {
    for (const p of [pid, ...descendants(pid)]) {
      try {
        process.kill(-p, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });
  return {
    pid, lines, exited,
    waitFor: (pattern) => {
      const seen = lines.find((l) => pattern.test(l));
      return seen !== undefined ? Promise.resolve(seen) : new Promise((resolve) => waiting.push({ pattern, resolve }));
    },
  };
}

interface ProcessEntry {
  pid: number;
  ppid: number;
  pgid: number;
  zombie: boolean;
}

/** Every process of this machine, from /proc (Linux). */
function processes(): ProcessEntry[] {
  const entries: ProcessEntry[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      // After the command name in parentheses (which may hold spaces): state ppid pgrp ...
      const [state, ppid, pgid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      entries.push({ pid: Number(name), ppid: Number(ppid), pgid: Number(pgid), zombie: state === "Z" });
    } catch {
      // ended while we looked
    }
  }
  return entries;
}

/** The pids started, directly or not, by `root` (still running). */
function descendants(root: number): number[] {
  const all = processes();
  const found: number[] = [];
  const walk = (pid: number) => {
    for (const p of all) {
      if (p.ppid === pid && !p.zombie) {
        found.push(p.pid);
        walk(p.pid);
      }
    }
  };
  walk(root);
  return found;
}

/** The processes (not zombies) that are, or are in the process group of, one of `pids`. */
function survivors(pids: number[]): ProcessEntry[] {
  return processes().filter((p) => !p.zombie && (pids.includes(p.pid) || pids.includes(p.pgid)));
}

/** For what sends us no event (processes that are not our children ending): look every 25 ms, up to `ceilingMs`. */
async function until(condition: () => boolean, what: string, ceilingMs = 20_000): Promise<void> {
  for (let waited = 0; !condition(); waited += 25) {
    if (waited > ceilingMs) assert.fail(`still ${what} after ${ceilingMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The pid of each process the test's process tree holds, by what it runs. */
function treeOf(root: number): Map<string, number> {
  const tree = new Map<string, number>();
  for (const pid of [root, ...descendants(root)]) {
    let args: string[];
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    const script = args.find((a) => a.endsWith(".ts") && !a.includes("exit_with_parent"));
    if (script) tree.set(path.basename(script, ".ts"), pid);
  }
  return tree;
}

/** A folder with the run history, a lake, and `jobs/` holding stand-ins that run the real scripts. */
function workDir(t: T, jobs: string[]) {
  const dir = tempDir(t, "dp-processes-");
  const jobsDir = path.join(dir, "jobs");
  mkdirSync(jobsDir);
  writeFileSync(path.join(jobsDir, "package.json"), '{"type": "module"}\n');
  for (const job of jobs) writeFileSync(path.join(jobsDir, `${job}.ts`), `import ${JSON.stringify(path.join(ROOT, "scripts", `${job}.ts`))};\n`);
  const db = path.join(dir, "runs.sqlite");
  const env = { DATA_PIPELINES_DB: db, DATA_PIPELINES_RESULT_STORAGE: `file:${path.join(dir, "lake")}`, DATA_PIPELINES_RETRY_BACKOFF_SECONDS: "0" };
  return { dir, jobsDir, db, env };
}

/** The daemon running build_frequent every second; resolves once its flow (its own process) is mid-fetch. */
async function daemonInBuildFrequent(t: T, env: Record<string, string>) {
  const work = workDir(t, ["build_frequent"]);
  const source = await silentSource(t);
  writeFileSync(path.join(work.dir, "schedule.json"), JSON.stringify({ build_frequent: "* * * * * *" }));
  const daemon = start(t, work.dir, "schedule.ts", ["--schedule", "schedule.json", "--scripts-dir", work.jobsDir], {
    ...work.env, DATA_PIPELINES_PAIRS_SUBGRAPH_URL: source.url, ...env,
  });
  await source.requested;
  const tree = treeOf(daemon.pid);
  assert.deepEqual([...tree.keys()].sort(), ["build_frequent", "current_assets_prices", "schedule"], `processes: ${[...tree]}`);
  return { daemon, pids: [...tree.values()], history: () => openHistory(t, work.db) };
}

/** build_all with two flows, resolves once both are mid-fetch. */
async function buildAllFetching(t: T, args: string[]) {
  const work = workDir(t, []);
  const [verra, pairs] = await Promise.all([silentSource(t), silentSource(t)]);
  const build = start(t, work.dir, "scripts/build_all.ts", ["--only", "raw_verra_data,current_assets_prices", ...args], {
    ...work.env, DATA_PIPELINES_VERRA_SEARCH_URL: verra.url, DATA_PIPELINES_PAIRS_SUBGRAPH_URL: pairs.url,
  });
  await Promise.all([verra.requested, pairs.requested]);
  return { build, tree: treeOf(build.pid), history: () => openHistory(t, work.db) };
}

function openHistory(t: T, db: string): RunHistory {
  const history = RunHistory.open(db);
  t.after(() => history.close());
  return history;
}

const fields = (r: RunRecord | undefined) => r && [r.flow, r.status, r.error];

describe("processes end with their parent", { concurrency: true, timeout: 90_000 }, () => {
  test("SIGTERM to the daemon during build_frequent: exit 0, the lock let go, every run recorded, no process left", async (t) => {
    const { daemon, pids, history: open } = await daemonInBuildFrequent(t, {
      DATA_PIPELINES_SCHEDULER_GRACE_SECONDS: "0.2", DATA_PIPELINES_SCHEDULER_KILL_SECONDS: "5",
    });
    process.kill(daemon.pid, "SIGTERM");
    assert.deepEqual(await daemon.exited, [0, null], daemon.lines.join("\n"));
    assert.deepEqual(survivors(pids), [], "nothing left once the daemon has exited");

    const history = open();
    assert.ok(new SchedulerLock(history).holder()?.stoppedAt, "the lock is let go");
    assert.deepEqual(history.list({ statuses: ["running"] }), []);
    const [job] = history.list({ flow: "build_frequent", statuses: ["failed"] });
    assert.deepEqual(fields(job), ["build_frequent", "failed", "stopped by SIGTERM"]);
    assert.ok(job!.notes.includes("stopped at shutdown after the grace period of 200 ms"), job!.notes.join("; "));
    assert.deepEqual(history.list({ parentId: job!.id }).map(fields), [["current_assets_prices", "failed", "stopped by SIGTERM"]]);
    const ended = daemon.lines.findIndex((l) => l.startsWith(`WARN ended build_frequent run ${job!.id}: failed`));
    assert.ok(ended >= 0 && ended < daemon.lines.indexOf("scheduler stopped"), "the job's end, then the daemon's");
  });

  test("a second SIGINT stops the job at once, and the daemon still records its end before it exits", async (t) => {
    const { dir, jobsDir, db, env } = workDir(t, []);
    // A job that ignores SIGTERM: only the SIGKILL a second later ends it.
    writeFileSync(path.join(jobsDir, "stubborn.ts"), [
      'process.on("SIGTERM", () => console.log("ignoring SIGTERM"));',
      'console.log("sleeping");',
      "setInterval(() => {}, 60_000);",
    ].join("\n"));
    writeFileSync(path.join(dir, "schedule.json"), JSON.stringify({ stubborn: "* * * * * *" }));
    const daemon = start(t, dir, "schedule.ts", ["--schedule", "schedule.json", "--scripts-dir", jobsDir], {
      ...env, DATA_PIPELINES_SCHEDULER_GRACE_SECONDS: "300", DATA_PIPELINES_SCHEDULER_KILL_SECONDS: "1",
    });
    await daemon.waitFor(/^stubborn run 1: sleeping$/);
    const tree = treeOf(daemon.pid);
    process.kill(daemon.pid, "SIGINT");
    await daemon.waitFor(/^stopping: stubborn run 1 may finish within 5 min$/);
    process.kill(daemon.pid, "SIGINT");
    assert.deepEqual(await daemon.exited, [0, null], daemon.lines.join("\n"));

    const history = openHistory(t, db);
    assert.deepEqual(fields(history.get(1)), ["stubborn", "failed", "stopped at shutdown (second signal)"]);
    assert.ok(new SchedulerLock(history).holder()?.stoppedAt, "the lock is let go");
    const lines = daemon.lines.filter((l) => !l.includes("skipped") && !l.startsWith("stubborn run 1: "));
    assert.deepEqual(lines.slice(lines.indexOf("SIGINT: stopping, no new jobs")).map((l) => l.replace(/failed in [0-9.]+ m?s/, "failed")), [
      "SIGINT: stopping, no new jobs",
      "stopping: stubborn run 1 may finish within 5 min",
      "SIGINT again: stopping the running job now",
      "WARN stubborn run 1 stopped at shutdown (second signal): SIGTERM, SIGKILL in 1 s if still running",
      "WARN stubborn run 1 still running: SIGKILL",
      "WARN ended stubborn run 1: failed (stopped at shutdown (second signal))",
      "scheduler stopped",
    ]);
    assert.deepEqual(survivors([...tree.values()]), []);
  });

  test("kill -9 of the daemon during build_frequent: the job and its flow stop by themselves, their runs recorded", async (t) => {
    const { daemon, pids, history: open } = await daemonInBuildFrequent(t, { DATA_PIPELINES_SCHEDULER_KILL_SECONDS: "2" });
    process.kill(daemon.pid, "SIGKILL");
    await daemon.exited;
    // Left alone, each would stop by SIGKILL of its own 2 + 5 s after its parent: well within the ceiling.
    await until(() => survivors(pids).length === 0, `running: ${JSON.stringify(survivors(pids))}`);

    const history = open();
    const [job] = history.list({ flow: "build_frequent", statuses: ["running", "succeeded", "failed", "crashed"] });
    assert.equal(job!.status, "failed", `build_frequent: ${job!.status} ${job!.error}`);
    assert.deepEqual(history.list({ parentId: job!.id }).map((r) => [r.flow, r.status]), [["current_assets_prices", "failed"]]);
    assert.deepEqual(history.list({ statuses: ["running"] }), []);
  });

  test("SIGTERM to build_all --isolate: its flow processes are stopped and waited for, every run recorded, exit 143", async (t) => {
    const { build, tree, history: open } = await buildAllFetching(t, ["--isolate"]);
    assert.deepEqual([...tree.keys()].sort(), ["build_all", "current_assets_prices", "raw_verra_data"], `processes: ${[...tree]}`);

    process.kill(build.pid, "SIGTERM");
    assert.deepEqual(await build.exited, [143, null], build.lines.join("\n"));
    assert.deepEqual(survivors([...tree.values()]), [], "nothing left once build_all has exited");
    const history = open();
    const [run] = history.list({ flow: "build_all" });
    assert.deepEqual(fields(run), ["build_all", "failed", "stopped by SIGTERM"]);
    assert.deepEqual(history.list({ parentId: run!.id }).map((r) => r.status), ["failed", "failed"]);
    assert.deepEqual(history.list({ statuses: ["running"] }), []);
    assert.ok(build.lines.some((l) => /^WARN build_all run \d+: SIGTERM: stopping, no new flows; SIGTERM to 2 flow process\(es\)/.test(l)), build.lines.join("\n"));
  });

  test("SIGTERM to build_all in one process: the build's and the flows' runs recorded failed at once, exit 143", async (t) => {
    const { build, tree, history: open } = await buildAllFetching(t, []);
    assert.deepEqual([...tree.keys()], ["build_all"], "the flows run in build_all's process");
    process.kill(build.pid, "SIGTERM");
    assert.deepEqual(await build.exited, [143, null], build.lines.join("\n"));
    assert.deepEqual(survivors([...tree.values()]), []);
    const history = open();
    const [run] = history.list({ flow: "build_all" });
    assert.deepEqual(fields(run), ["build_all", "failed", "stopped by SIGTERM"]);
    assert.deepEqual(history.list({ parentId: run!.id }).map((r) => [r.status, r.error]), [["failed", "stopped by SIGTERM"], ["failed", "stopped by SIGTERM"]]);
  });
});

test("a test's temporary folder made again after its test ended (a process stopped in a later hook opened a run history there) is gone when the test process exits", async (t) => {
  const scratch = tempDir(t);
  const script = path.join(scratch, "late.mts"); // ESM, as the project's files are
  // A test whose folder is removed by its hook, then made again, as a late process would.
  writeFileSync(script, `
    import { mkdirSync, writeFileSync } from "node:fs";
    import { tempDir } from ${JSON.stringify(path.join(ROOT, "test", "helpers.ts"))};
    const hooks: Array<() => void> = [];
    const dir = tempDir({ after: (fn) => hooks.push(fn) });
    for (const hook of hooks) hook();
    mkdirSync(dir, { recursive: true });
    writeFileSync(dir + "/runs.sqlite", "");
    console.log(dir);
  `);
  const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), script], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (c: Buffer) => { out += c.toString(); });
  const [code] = await once(child, "exit");
  assert.equal(code, 0);
  const dir = out.trim();
  assert.match(dir, /dp-test-/);
  assert.deepEqual(readdirSync(path.dirname(dir)).filter((name) => name === path.basename(dir)), [], `${dir} is gone`);
});
