// Shared test plumbing: temporary lakes, configs, and running scripts as a user would.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { decodeArtifact } from "../lib/artifact.ts";
import { loadConfig, type Config } from "../lib/config.ts";
import { Logger } from "../lib/log.ts";
import type { Table } from "../lib/table.ts";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** tsx's loader: a script runs as `node --import <loader> <script>`, one process (the tsx CLI would add a second). */
const TSX_LOADER = import.meta.resolve("tsx");

/** A fresh temporary folder, removed when the test ends. */
export function tempDir(t: { after(fn: () => void): void }, prefix = "dp-test-"): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
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
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", DATA_PIPELINES_RETRY_BACKOFF_SECONDS: "0", ...options.env },
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

export function readArtifactFile(file: string): Table {
  return decodeArtifact(readFileSync(file), path.basename(file));
}
