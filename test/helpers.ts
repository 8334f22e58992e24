// Shared test plumbing: temporary lakes, configs, and running scripts as a user would.
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { decodeArtifact } from "../lib/artifact/artifact.ts";
import { loadConfig, type Config } from "../lib/config/config.ts";
import { RunHistory, type RunRecord } from "../lib/history/history.ts";
import { LocalLake, openLake, type Lake } from "../lib/lake/lake.ts";
import { Logger } from "../lib/core/log.ts";
import type { Table } from "../lib/table/table.ts";
import { startFakeS3, type FakeS3 } from "./fakes/s3.ts";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** tsx's loader: a script runs as `node --import <loader> <script>`, one process (the tsx CLI would add a second). */
const TSX_LOADER = import.meta.resolve("tsx");

/**
 * Every temporary folder of this test process, removed once more as it exits. A test's hooks run in
 * the order they were added, so the removal of a folder made before a process was started comes
 * before that process is stopped: if it then opened a run history there, it made the folder again.
 */
const madeFolders = new Set<string>();
process.on("exit", () => {
  for (const dir of madeFolders) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary folder, removed when the test ends (and again when the test process exits). */
export function tempDir(t: { after(fn: () => void): void }, prefix = "dp-test-"): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  madeFolders.add(dir);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A configuration for a test in `dir`: local lake `dir/lake`, history `dir/runs.sqlite`, no backoff. */
export function testConfig(dir: string, env: Record<string, string> = {}): Config {
  return loadConfig({
    DATA_PIPELINES_RESULT_STORAGE: `file:${path.join(dir, "lake")}`,
    DATA_PIPELINES_DB: path.join(dir, "runs.sqlite"),
    DATA_PIPELINES_RETRY_BACKOFF_SECONDS: "0",
    ...env,
  }, dir);
}

/** A logger that keeps its lines for assertions. */
export function memoryLogger(format: "human" | "json" = "human"): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = { write: (chunk: string) => { lines.push(...chunk.split("\n").filter(Boolean)); return true; }, isTTY: false };
  return { log: new Logger({ format, stream: stream as unknown as NodeJS.WritableStream }), lines };
}

export interface ScriptResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `<script> args` as `npx tsx` would, in `cwd` with only the given environment (plus PATH and HOME). */
export function runScript(script: string, args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<ScriptResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", TSX_LOADER, path.join(ROOT, script), ...args],
      {
        cwd: options.cwd,
        // No status page unless a test asks for one: tests never bind a fixed port.
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", DATA_PIPELINES_RETRY_BACKOFF_SECONDS: "0", DATA_PIPELINES_STATUS_ADDR: "off", ...options.env },
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

export function readArtifactFile(file: string): Table {
  return plain(decodeArtifact(readFileSync(file), path.basename(file)));
}

/** A table as its columns and rows, whatever holds it (a decoded one is columnar): what tests compare. */
export function plain(table: Table): Table {
  return { columns: table.columns, rows: table.rows };
}

/** The live (not zombie) processes of a process group, from /proc (Linux): what a stopped command left behind. */
export function liveInGroup(pgid: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const [state, , group] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(group) === pgid && state !== "Z") pids.push(Number(name));
    } catch {
      // ended while we looked
    }
  }
  return pids;
}

/**
 * The processes of a group still there once it has had `ceilingMs` to go. A process killed with its
 * group has closed its files (what the parent waits for) a moment before it is gone from /proc, and
 * it is no child of ours, so there is no event to wait for: /proc is looked at every 10 ms.
 */
export async function leftInGroup(pgid: number, ceilingMs = 5_000): Promise<number[]> {
  const deadline = Date.now() + ceilingMs;
  while (liveInGroup(pgid).length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  return liveInGroup(pgid);
}

/**
 * The artifact scripts' test bench: a fake S3 server (s3-bucket/dev and s3-bucket/prod), a run history
 * in a temporary folder, a script runner with that environment, and the last run of a flow.
 */
export async function artifactScriptsBench(t: { after(fn: () => unknown): void }, extraEnv: Record<string, string> = {}) {
  const dir = tempDir(t);
  const s3: FakeS3 = await startFakeS3();
  t.after(() => s3.close());
  const env = { ...s3.env, DATA_PIPELINES_DB: path.join(dir, "runs.sqlite"), ...extraEnv };
  const lake = async (storage: string): Promise<Lake> => {
    const config = testConfig(dir, { ...env, DATA_PIPELINES_RESULT_STORAGE: storage });
    return openLake(config.storage, config);
  };
  const run = (script: string, args: string[] = [], extra: Record<string, string> = {}) =>
    runScript(`scripts/${script}.ts`, args, { cwd: dir, env: { ...env, ...extra } });
  const lastRun = (flow: string): RunRecord | undefined => {
    const history = RunHistory.open(env.DATA_PIPELINES_DB);
    try {
      return history.list({ flow, limit: 1 })[0];
    } finally {
      history.close();
    }
  };
  return { dir, s3, env, lake, run, lastRun, dev: await lake("s3-bucket/dev"), prod: await lake("s3-bucket/prod") };
}

/** What a runFlow test needs: a config in a temporary folder, its local lake, an open run history and a logger that keeps its lines. */
export function flowBench(t: { after(fn: () => unknown): void }, env: Record<string, string> = {}) {
  const dir = tempDir(t);
  const config = testConfig(dir, env);
  const lakeDir = path.join(dir, "lake");
  const lake = new LocalLake(lakeDir);
  const history = RunHistory.open(config.db);
  t.after(() => history.close());
  const { log, lines } = memoryLogger();
  return { dir, config, lakeDir, lake, history, log, lines };
}
