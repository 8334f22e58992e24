// npx tsx bench/scheduler.ts [--idle-seconds 600] [--triggers 10] [--skip-idle] [--skip-triggers]
// The scheduler daemon's own cost, figures on stdout (never fails on a timing):
// - idle: a daemon with the three default jobs (set to fire once a year, so none runs), run for
//   --idle-seconds: its RSS (from /proc, sampled every 10 s) and the CPU time it used after start-up;
// - trigger to first output: from a trigger to the first line the job's process prints, for a
//   stand-in job that prints at once (the scheduler's own overhead: record, spawn, Node and tsx)
//   and for build_frequent (a real script, whose first line comes after its imports).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { RunHistory } from "../lib/history/history.ts";
import { Logger } from "../lib/core/log.ts";
import { Scheduler } from "../lib/daemon/scheduler.ts";
import { logsDirOf } from "../lib/schedule/daemon_status.ts";
import { loadSchedule } from "../lib/schedule/schedule.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values: flags } = parseArgs({
  options: {
    "idle-seconds": { type: "string", default: "600" },
    triggers: { type: "string", default: "10" },
    "skip-idle": { type: "boolean" },
    "skip-triggers": { type: "boolean" },
  },
});
const dir = mkdtempSync(path.join(tmpdir(), "dp-bench-scheduler-"));
const baseEnv = {
  PATH: process.env.PATH ?? "",
  HOME: process.env.HOME ?? "",
  DATA_PIPELINES_DB: path.join(dir, "runs.sqlite"),
  DATA_PIPELINES_RESULT_STORAGE: `file:${path.join(dir, "lake")}`,
};
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const say = (line: string) => process.stdout.write(`${line}\n`);

/** RSS (MiB) and user+system CPU time (ms) of a process, from /proc. */
function usage(pid: number): { rssMiB: number; cpuMs: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKiB = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)![1]);
  // Fields after the command name (which is in parentheses): utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { rssMiB: rssKiB / 1024, cpuMs: ticks * 10 }; // USER_HZ is 100 on Linux
}

async function idle(seconds: number): Promise<void> {
  const schedule = path.join(dir, "idle-schedule.json");
  // Three jobs as by default (a flow in place of clean_up_old_artifacts while that script is not there).
  const third = existsSync(path.join(ROOT, "scripts", "clean_up_old_artifacts.ts")) ? "clean_up_old_artifacts" : "verra_retirements";
  writeFileSync(schedule, JSON.stringify({ [third]: "0 22 1 1 *", build_all: "15 13 1 1 *", build_frequent: "45 0 1 1 *" }));
  const daemon = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), path.join(ROOT, "schedule.ts"), "--schedule", schedule], {
    cwd: dir, env: baseEnv, stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  daemon.stderr.setEncoding("utf8").on("data", (c: string) => { stderr += c; });
  const exited = new Promise<number | null>((resolve) => daemon.on("exit", (code) => resolve(code)));
  // Started when it says so.
  await new Promise<void>((resolve, reject) => {
    const check = () => { if (stderr.includes("scheduler started")) resolve(); };
    daemon.stderr.on("data", check);
    void exited.then(() => reject(new Error(`the daemon exited at start: ${stderr}`)));
  });
  const start = usage(daemon.pid!);
  const samples = [start.rssMiB];
  say(`idle daemon pid ${daemon.pid}: after start-up RSS ${start.rssMiB.toFixed(1)} MiB, start-up CPU ${start.cpuMs} ms; sampling for ${seconds} s`);
  const began = Date.now();
  while (Date.now() - began < seconds * 1000) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(10_000, seconds * 1000 - (Date.now() - began))));
    samples.push(usage(daemon.pid!).rssMiB);
  }
  const end = usage(daemon.pid!);
  daemon.kill("SIGTERM");
  const code = await exited;
  say(`idle over ${seconds} s: RSS ${start.rssMiB.toFixed(1)} MiB at start, ${end.rssMiB.toFixed(1)} MiB at end, max ${Math.max(...samples).toFixed(1)} MiB; ` +
    `CPU ${end.cpuMs - start.cpuMs} ms (${((end.cpuMs - start.cpuMs) / seconds).toFixed(2)} ms/s); exit ${code} after SIGTERM`);
}

async function triggers(job: string, scriptsDir: string | undefined, n: number): Promise<void> {
  const history = RunHistory.open(path.join(dir, `${job}.sqlite`));
  const lines: string[] = [];
  const log = new Logger({ format: "human", stream: { write: (c: string) => { lines.push(c); return true; } } as unknown as NodeJS.WritableStream });
  const spec = scriptsDir ? { job, cron: "", timeoutMs: 600_000, script: path.join(scriptsDir, `${job}.ts`) } : loadSchedule().jobs.find((j) => j.job === job)!;
  let first: ((at: number) => void) | undefined;
  const scheduler = new Scheduler({
    history, log, jobs: [spec], logsDir: logsDirOf(path.join(dir, "x")), killAfterMs: 1000, cwd: dir,
    env: {
      ...baseEnv, DATA_PIPELINES_DB: path.join(dir, `${job}.sqlite`), DATA_PIPELINES_RETRIES: "false",
      // Sources nobody listens on: the flows fail at once; only the start-up is measured.
      DATA_PIPELINES_PAIRS_SUBGRAPH_URL: "http://127.0.0.1:9/", DATA_PIPELINES_POLYGON_RPC_URL: "http://127.0.0.1:9/",
    },
    onLine: () => { first?.(performance.now()); first = undefined; },
  });
  const delays: number[] = [];
  for (let i = 0; i < n; i++) {
    const firstLine = new Promise<number>((resolve) => { first = resolve; });
    const at = performance.now();
    scheduler.trigger(job);
    delays.push((await firstLine) - at);
    await scheduler.idle();
  }
  history.close();
  say(`trigger to first output, ${job}, ${n} runs: median ${median(delays).toFixed(0)} ms (min ${Math.min(...delays).toFixed(0)}, max ${Math.max(...delays).toFixed(0)})`);
}

try {
  if (!flags["skip-triggers"]) {
    const n = Number(flags.triggers);
    await triggers("quick", path.join(ROOT, "test", "fixtures", "jobs"), n);
    await triggers("build_frequent", undefined, Math.min(n, 5));
  }
  if (!flags["skip-idle"]) await idle(Number(flags["idle-seconds"]));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
