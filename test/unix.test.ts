// The commands as good Unix tools (issue "Stop, pipe and watch"): --version, exit 2 for usage
// errors, quiet on a closed pipe, a clean stop when their npx launcher is killed, the last resort
// that records a run when a bug escapes, and secrets in a URL's query string kept out of every
// output. Processes run in their own process group; a test waits for the group to be empty
// (polling /proc with a ceiling), never for a fixed time.
import assert from "node:assert/strict";
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import path from "node:path";
import { describe, test } from "node:test";
import { encodeArtifact } from "../lib/artifact/artifact.ts";
import { RunHistory } from "../lib/history/history.ts";
import { versionLine } from "../lib/run/cli.ts";
import { SchedulerLock } from "../lib/history/lock.ts";
import { table } from "../lib/table/table.ts";
import { liveInGroup, ROOT, runScript, tempDir } from "./helpers.ts";

type T = Parameters<typeof tempDir>[0];

const BASE_ENV = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", DATA_PIPELINES_RETRY_BACKOFF_SECONDS: "0", DATA_PIPELINES_STATUS_ADDR: "off" };

interface Started {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A command in its own process group (as a shell job or a supervisor starts it); output collected. */
function start(command: string, args: string[], options: { cwd: string; env: Record<string, string> }): Started {
  const child = spawn(command, args, { cwd: options.cwd, env: { ...BASE_ENV, ...options.env }, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (chunk) => { out += chunk; });
  child.stderr!.on("data", (chunk) => { err += chunk; });
  const exited = once(child, "exit").then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  return { child, stdout: () => out, stderr: () => err, exited };
}


/** Poll until `done()` holds; fail after `ceilingMs` with `what`. */
async function until(what: string, done: () => boolean, ceilingMs = 20_000): Promise<void> {
  const deadline = Date.now() + ceilingMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Kill whatever a failed test left in the group. */
function reap(t: T, pgid: number | undefined): void {
  t.after(() => {
    if (pgid === undefined) return;
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // already empty
    }
  });
}

function withHistory<R>(db: string, read: (history: RunHistory) => R): R {
  const history = RunHistory.open(db);
  try {
    return read(history);
  } finally {
    history.close();
  }
}

/** A source that accepts requests and never answers (until the test closes it). */
async function silentServer(t: T): Promise<{ url: string; requests: () => number }> {
  const sockets = new Set<Socket>();
  let requests = 0;
  const server: Server = createServer(() => { requests++; });
  server.on("connection", (socket) => { sockets.add(socket); socket.on("close", () => sockets.delete(socket)); });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => { for (const s of sockets) s.destroy(); server.close(); });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/subgraphs/name/x`, requests: () => requests };
}

describe("--version and usage errors", { concurrency: true, timeout: 90_000 }, () => {
  const head = execFileSync("git", ["rev-parse", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
  const version = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")).version as string;

  for (const script of [
    "schedule.ts", "scripts/show.ts", "scripts/runs.ts", "scripts/build_all.ts", "scripts/build_frequent.ts",
    "scripts/clean_up_old_artifacts.ts", "scripts/clean_up_latest_artifacts.ts", "scripts/fetch_s3_artifacts.ts",
    "scripts/promote.ts", "scripts/demo.ts", "scripts/raw_verra_data.ts",
  ]) {
    test(`${script} --version: the package version and the commit checked out`, async (t) => {
      const r = await runScript(script, ["--version"], { cwd: tempDir(t) });
      assert.equal(r.stderr, "");
      assert.equal(r.code, 0);
      assert.equal(r.stdout, `data-pipelines ${version} (commit ${head.slice(0, 12)}), Node ${process.version}\n`);
    });
  }

  test("--version names the commit in a linked worktree (.git a file), with branches packed, and detached", (t) => {
    const repo = path.join(tempDir(t), "repo");
    mkdirSync(repo);
    const git = (cwd: string, ...args: string[]) => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", ...args], { cwd, encoding: "utf8" }).trim();
    writeFileSync(path.join(repo, "package.json"), JSON.stringify({ name: "data-pipelines", version: "9.9.9" }));
    git(repo, "init", "--quiet", "--initial-branch=main");
    git(repo, "add", "package.json");
    git(repo, "commit", "--quiet", "-m", "first");
    const first = git(repo, "rev-parse", "HEAD");
    const worktree = path.join(path.dirname(repo), "worktree");
    git(repo, "worktree", "add", "--quiet", "-b", "other", worktree);
    git(worktree, "commit", "--quiet", "--allow-empty", "-m", "second");
    const second = git(worktree, "rev-parse", "HEAD");
    const line = (root: string) => versionLine(root).replace(/, Node .*$/, "");
    assert.equal(line(repo), `data-pipelines 9.9.9 (commit ${first.slice(0, 12)})`);
    assert.equal(line(worktree), `data-pipelines 9.9.9 (commit ${second.slice(0, 12)})`);
    git(repo, "pack-refs", "--all");
    assert.equal(line(worktree), `data-pipelines 9.9.9 (commit ${second.slice(0, 12)})`, "the branch only in the common packed-refs");
    assert.equal(line(repo), `data-pipelines 9.9.9 (commit ${first.slice(0, 12)})`);
    git(worktree, "checkout", "--quiet", "--detach", first);
    assert.equal(line(worktree), `data-pipelines 9.9.9 (commit ${first.slice(0, 12)})`);
  });

  // Flags a user gives: each malformed value is a usage error, exit 2, one line naming the flag.
  const cases: Array<[string, string[], RegExp]> = [
    ["scripts/runs.ts", ["--limit", ""], /^error: --limit: needs a value/],
    ["scripts/runs.ts", ["--limit", "1e2"], /^error: --limit: "1e2" is not a whole number/],
    ["scripts/runs.ts", ["--run", "0x10"], /^error: --run: "0x10" is not a whole number/],
    ["scripts/runs.ts", ["--limit"], /^error: --limit needs a value/],
    ["scripts/show.ts", ["verra_data_v2", "--rows", " 0x1 "], /^error: --rows: " 0x1 " is not a whole number/],
    ["scripts/show.ts", ["verra_data_v2", "--rows=-1"], /^error: --rows: "-1" is not a whole number/],
    ["scripts/show.ts", ["verra_data_v2", "--rows", "-1"], /^error: --rows needs a value \(write --rows=-1 if "-1" is the value\)/],
    ["scripts/show.ts", ["verra_data_v2", "--format", "xml"], /^error: --format: "xml" is not csv or json/],
    ["scripts/build_all.ts", ["--concurrency", "1.5"], /^error: --concurrency: "1.5" is not a whole number/],
    ["scripts/clean_up_old_artifacts.ts", ["--lake", "local", "--days", ""], /^error: --days: needs a value/],
    ["scripts/clean_up_old_artifacts.ts", ["--lake", "local", "--days", "1e2"], /^error: --days: "1e2" is not a whole number/],
    ["scripts/raw_verra_data.ts", ["--parent-run", "abc"], /^error: --parent-run: "abc" is not a whole number/],
    ["scripts/raw_verra_data.ts", ["--trigger", "cron"], /^error: --trigger: "cron" is not manual, schedule or build_all/],
    ["schedule.ts", ["--bogus"], /^error: unknown option --bogus/],
  ];
  for (const [script, args, pattern] of cases) {
    test(`${script} ${args.map((a) => JSON.stringify(a)).join(" ")}: exit 2, one line pointing to --help`, async (t) => {
      const r = await runScript(script, args, { cwd: tempDir(t) });
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr.split("\n").filter(Boolean).length, 1, r.stderr);
      assert.match(r.stderr, pattern);
      assert.match(r.stderr, /\(see --help\)\n$/);
    });
  }

  test("a variable's malformed value is a usage error too; zero timeouts are refused", async (t) => {
    const dir = tempDir(t);
    for (const [name, value] of [["DATA_PIPELINES_HTTP_TIMEOUT_SECONDS", "0"], ["DATA_PIPELINES_DRY_RUN", "maybe"]] as const) {
      const r = await runScript("scripts/runs.ts", [], { cwd: dir, env: { [name]: value } });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`^error: ${name}: "${value}"`));
    }
  });

  test("--json: the final error line is JSON too", async (t) => {
    const r = await runScript("scripts/runs.ts", ["--json", "--limit", "x"], { cwd: tempDir(t) });
    assert.equal(r.code, 2);
    const line = JSON.parse(r.stderr) as { level: string; msg: string; exit: number };
    assert.equal(line.level, "error");
    assert.equal(line.exit, 2);
    assert.equal(line.msg, '--limit: "x" is not a whole number of at least 1 (see --help)');
  });
});

describe("a closed pipe ends a command quietly", { concurrency: true, timeout: 60_000 }, () => {
  /** Read the command's stdout up to its first newline, then close the pipe as `head -1` does. */
  async function firstLineThenClose(t: T, script: string, args: string[], options: { cwd: string; env: Record<string, string> }) {
    const run = start(process.execPath, ["--import", import.meta.resolve("tsx"), path.join(ROOT, script), ...args], options);
    reap(t, run.child.pid);
    let first = "";
    await new Promise<void>((resolve) => {
      run.child.stdout!.on("data", (chunk: Buffer) => {
        if (first.includes("\n")) return;
        first += chunk.toString("utf8");
        if (first.includes("\n")) {
          run.child.stdout!.destroy();
          resolve();
        }
      });
      void run.exited.then(() => resolve());
    });
    return { first: first.split("\n")[0]!, ...(await run.exited), stderr: run.stderr() };
  }

  test("show.ts --format csv | head -1: exit 0, nothing on stderr", async (t) => {
    const dir = tempDir(t);
    const lake = path.join(dir, "lake");
    mkdirSync(lake);
    const rows = Array.from({ length: 30_000 }, (_, i) => ({ id: `row-${i}`, quantity: i }));
    writeFileSync(path.join(lake, "big-latest"), encodeArtifact(table({ id: "string", quantity: "int" }, rows)));
    const r = await firstLineThenClose(t, "scripts/show.ts", ["big", "--format", "csv"], {
      cwd: dir, env: { DATA_PIPELINES_RESULT_STORAGE: `file:${lake}`, DATA_PIPELINES_DB: path.join(dir, "runs.sqlite") },
    });
    assert.equal(r.first, "id,quantity");
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
  });

  test("a command that records a run: exit 0, nothing on stderr, the run not left running", async (t) => {
    const dir = tempDir(t);
    const lake = path.join(dir, "lake");
    mkdirSync(lake);
    const old = new Date(Date.UTC(2020, 0, 1));
    for (let i = 0; i < 3000; i++) {
      const key = `old_${i % 30}-2020_01_01__00_${String(Math.floor(i / 30 / 60)).padStart(2, "0")}_${String(Math.floor(i / 30) % 60).padStart(2, "0")}`;
      writeFileSync(path.join(lake, key), "x");
      utimesSync(path.join(lake, key), old, old);
    }
    const db = path.join(dir, "runs.sqlite");
    const r = await firstLineThenClose(t, "scripts/clean_up_old_artifacts.ts", ["--lake", `file:${lake}`, "--dry-run"], {
      cwd: dir, env: { DATA_PIPELINES_DB: db },
    });
    assert.match(r.first, /^would /);
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    const runs = withHistory(db, (h) => h.list({ flow: "clean_up_old_artifacts" }));
    assert.equal(runs.length, 1);
    assert.notEqual(runs[0]!.status, "running");
  });
});

describe("started through npx, a command stops cleanly when npx is killed", { concurrency: true, timeout: 90_000 }, () => {
  // npm does not pass SIGTERM to its children: npx exits 143 at once. The command notices that its
  // launcher has ended and stops as it would on SIGTERM.
  test("the daemon: stopped, lock released, no process of ours left", async (t) => {
    const dir = tempDir(t);
    const db = path.join(dir, "runs.sqlite");
    const run = start("npx", ["tsx", "schedule.ts"], { cwd: ROOT, env: { DATA_PIPELINES_DB: db } });
    reap(t, run.child.pid);
    await until("the daemon to start", () => run.stderr().includes("scheduler started"));
    process.kill(run.child.pid!, "SIGTERM");
    await run.exited;
    await until("every process of the group to end", () => liveInGroup(run.child.pid!).length === 0);
    assert.match(run.stderr(), /its launcher \(npm, pid \d+\) has ended: stopping as on SIGTERM/);
    assert.match(run.stderr(), /scheduler stopped\n/);
    const holder = withHistory(db, (h) => new SchedulerLock(h).holder());
    assert.ok(holder?.stoppedAt, "the lock is released");
  });

  test("a flow waiting on a silent source: its run is recorded failed, no process left", async (t) => {
    const dir = tempDir(t);
    const db = path.join(dir, "runs.sqlite");
    const source = await silentServer(t);
    const run = start("npx", ["tsx", "scripts/raw_celo_carbon_metrics.ts"], {
      cwd: ROOT,
      env: { DATA_PIPELINES_DB: db, DATA_PIPELINES_RESULT_STORAGE: `file:${path.join(dir, "lake")}`, DATA_PIPELINES_CARBON_CELO_SUBGRAPH_URL: source.url },
    });
    reap(t, run.child.pid);
    await until("the flow to ask its source", () => source.requests() > 0);
    process.kill(run.child.pid!, "SIGTERM");
    await run.exited;
    await until("every process of the group to end", () => liveInGroup(run.child.pid!).length === 0);
    const [record] = withHistory(db, (h) => h.list({ flow: "raw_celo_carbon_metrics" }));
    assert.equal(record?.status, "failed");
    assert.equal(record?.error, "stopped by SIGTERM");
  });
});

describe("the last resort", { timeout: 60_000 }, () => {
  test("an unhandled rejection: one line, exit 1, the open run recorded as failed", async (t) => {
    const dir = tempDir(t);
    const db = path.join(dir, "runs.sqlite");
    const script = path.join(dir, "buggy.mts");
    const lib = (name: string) => JSON.stringify(path.join(ROOT, "lib", name));
    writeFileSync(script, [
      `import { command } from ${lib("run/cli.ts")};`,
      `import { RunHistory } from ${lib("history/history.ts")};`,
      `import { whileOpen } from ${lib("process/last_resort.ts")};`,
      "await command({ usage: 'usage: buggy', help: [] }, async ({ config }) => {",
      "  const history = RunHistory.open(config.db);",
      "  const id = history.start({ flow: 'buggy', trigger: 'manual' });",
      "  whileOpen((reason) => history.finish(id, { status: 'failed', error: reason }));",
      "  void Promise.reject(new Error('a bug nobody awaited'));",
      "  await new Promise((resolve) => setTimeout(resolve, 30_000));",
      "  return 0;",
      "});",
    ].join("\n"));
    const r = await runScript(path.relative(ROOT, script), [], { cwd: dir, env: { DATA_PIPELINES_DB: db } });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "error: a bug nobody awaited (an unexpected failure: please report it) (--verbose shows where)\n");
    const [record] = withHistory(db, (h) => h.list({ flow: "buggy" }));
    assert.equal(record?.status, "failed");
    assert.equal(record?.error, "crashed: a bug nobody awaited");
  });
});

describe("a key in a URL's query string", { timeout: 60_000 }, () => {
  test("never reaches --help, stderr, the daemon's log, the run's log file or the run history", async (t) => {
    const KEY = "k3y-in-query-7781";
    const TOKEN = "t0ken-in-query-5512";
    const sockets = new Set<Socket>();
    // A source that refuses the query and echoes what it was asked, as misconfigured gateways do.
    const server = createServer((req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ errors: [{ message: `invalid request to ${req.url} (key ${KEY} has no access)` }] }));
    });
    server.on("connection", (s) => { sockets.add(s); s.on("close", () => sockets.delete(s)); });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    t.after(() => { for (const s of sockets) s.destroy(); server.close(); });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/subgraphs/name/celo?API_KEY=${KEY}&token=${TOKEN}`;
    const dir = tempDir(t);
    const db = path.join(dir, "state", "runs.sqlite");
    const env = {
      DATA_PIPELINES_DB: db, DATA_PIPELINES_RESULT_STORAGE: `file:${path.join(dir, "lake")}`,
      DATA_PIPELINES_CARBON_CELO_SUBGRAPH_URL: url, DATA_PIPELINES_RETRIES: "false",
    };
    const help = await runScript("scripts/raw_celo_carbon_metrics.ts", ["--help"], { cwd: dir, env });
    assert.equal(help.code, 0);
    assert.match(help.stdout, /carbon celo +http:\/\/127\.0\.0\.1:\d+\/subgraphs\/name\/celo\?API_KEY=\*\*\*&token=\*\*\*/);
    const flow = await runScript("scripts/raw_celo_carbon_metrics.ts", [], { cwd: dir, env });
    assert.equal(flow.code, 1);
    assert.match(flow.stderr, /invalid request to \/subgraphs\/name\/celo\?API_KEY=\*\*\*&token=\*\*\* \(key \*\*\* has no access\)/);
    const daemon = await runScript("schedule.ts", ["--once", "raw_celo_carbon_metrics"], { cwd: dir, env });
    assert.equal(daemon.code, 1);
    const logs = path.join(dir, "state", "logs");
    const logFiles = readdirSync(logs).map((f) => readFileSync(path.join(logs, f), "utf8"));
    assert.equal(logFiles.length, 1);
    assert.match(logFiles[0]!, /key \*\*\* has no access/);
    const history = readdirSync(path.dirname(db)).filter((f) => f.startsWith("runs.sqlite")).map((f) => readFileSync(path.join(path.dirname(db), f)).toString("latin1"));
    const errors = withHistory(db, (h) => h.list({ limit: 10 }).map((r) => r.error ?? "").join("\n"));
    assert.match(errors, /has no access/, "the error is recorded, redacted");
    for (const [where, text] of [
      ["--help", help.stdout + help.stderr], ["the flow's output", flow.stdout + flow.stderr], ["the daemon's output", daemon.stdout + daemon.stderr],
      ["the run's log file", logFiles.join("")], ["the run history's files", history.join("")],
    ] as const) {
      assert.ok(!text.includes(KEY), `the key is in ${where}`);
      assert.ok(!text.includes(TOKEN), `the token is in ${where}`);
    }
  });
});
