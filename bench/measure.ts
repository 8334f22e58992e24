// Running a script as a user would and measuring it: wall time, and through bench/report_usage.mjs
// (preloaded into it and every node process it starts) peak RSS, CPU time and HTTP requests.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Interval } from "./critical_path.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export interface Usage { script: string; maxRssBytes: number; userMs: number; systemMs: number; requests?: Array<Interval & { origin: string; path: string }> }
export interface Measured { ms: number; maxRssBytes: number; cpuMs: number; code: number; stdout: string; stderr: string; usages: Usage[]; startedAt: number; endedAt: number }

/**
 * Run a script as a user would (node + tsx), measuring wall time, and through bench/report_usage.mjs
 * (preloaded into it and every node process it starts) peak RSS, CPU time and HTTP requests.
 */
export function measure(script: string, args: string[], cwd: string, env: Record<string, string>): Promise<Measured> {
  const usageDir = mkdtempSync(path.join(tmpdir(), "dp-bench-usage-"));
  return new Promise((resolve) => {
    const started = performance.now();
    const startedAt = Date.now();
    const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), path.join(ROOT, script), ...args], {
      cwd,
      env: {
        PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env,
        BENCH_USAGE_DIR: usageDir, NODE_OPTIONS: `--import ${path.join(ROOT, "bench", "report_usage.mjs")}`,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on("data", (c: Buffer) => { stderr += c.toString(); });
    // "close", not "exit": the output streams are read to their end by then.
    child.on("close", (code) => {
      const ms = performance.now() - started;
      const usages = readdirSync(usageDir).map((f) => JSON.parse(readFileSync(path.join(usageDir, f), "utf8")) as Usage);
      rmSync(usageDir, { recursive: true, force: true });
      resolve({
        ms, code: code ?? 1, stdout, stderr, usages, startedAt, endedAt: Date.now(),
        maxRssBytes: Math.max(0, ...usages.map((u) => u.maxRssBytes)),
        cpuMs: usages.reduce((s, u) => s + u.userMs + u.systemMs, 0),
      });
    });
  });
}

/**
 * A run's CPU as "user X s + system Y s" (every process it started). The system part is mostly the
 * kernel zeroing and filling fresh pages, whose cost moves with the machine (a VM's free memory handed
 * back to its host is slow to touch again) while the user part stays put.
 */
export function cpuParts(m: Measured): string {
  const sum = (key: "userMs" | "systemMs") => m.usages.reduce((total, u) => total + u[key], 0) / 1000;
  return `user ${sum("userMs").toFixed(2)} s + system ${sum("systemMs").toFixed(2)} s`;
}
