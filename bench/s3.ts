// The S3 figures: listing and cleaning 5,000 artifacts, and promoting the full 34-dataset
// set at the build_all benchmark's scale, against the fake S3 server on loopback.
// The cases s3_clean and promote of bench/run.ts (npm run bench -- s3_clean promote).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { runBuild } from "../lib/run/build.ts";
import { loadConfig } from "../lib/config/config.ts";
import { formatBytes } from "../lib/table/format.ts";
import { LocalLake, openLake } from "../lib/lake/lake.ts";
import { Logger } from "../lib/core/log.ts";
import { ALL_FLOWS } from "../scripts/flows.ts";
import { startFakeSources } from "../test/fakes/all.ts";
import { startFakeS3 } from "../test/fakes/s3.ts";
import { measure, type Measured } from "./measure.ts";

const DAY = 24 * 60 * 60 * 1000;

export interface S3Figure { case: string; measure: string; value: number; unit: string; note?: string }

/** A script run as a user runs it (bench/measure.ts); a failure stops the case. */
async function timeScript(script: string, args: string[], cwd: string, env: Record<string, string>): Promise<Measured> {
  const run = await measure(script, args, cwd, env);
  if (run.code !== 0) throw new Error(`${script}: ${run.stderr.trim()}`);
  return run;
}

export async function s3Clean(count: number): Promise<S3Figure[]> {
  const dir = mkdtempSync(path.join(tmpdir(), "bench-s3-"));
  const s3 = await startFakeS3();
  try {
    const env = { ...s3.env, DATA_PIPELINES_DB: path.join(dir, "runs.sqlite"), AWS_STORAGE: "dev" };
    const config = loadConfig(env, dir);
    const lake = await openLake(config.awsStorage!, config);
    // 50 datasets, each a -latest and 99 historized copies; the oldest 20 copies of each are from 10 days
    // ago: the routine daily clean-up deletes those (a fifth of the copies: no backup, as the daemon runs it).
    const perDataset = Math.ceil(count / 50);
    const stamp = (j: number) => `2026_11_01__13_${String(Math.floor(j / 60)).padStart(2, "0")}_${String(j % 60).padStart(2, "0")}`;
    const keys = Array.from({ length: count }, (_, i) => {
      const dataset = Math.floor(i / perDataset);
      const j = i % perDataset;
      return j === 0 ? `dataset_${dataset}-latest` : `dataset_${dataset}-${stamp(j)}`;
    });
    for (let i = 0; i < keys.length; i += 100) await Promise.all(keys.slice(i, i + 100).map((k) => lake.write(k, Buffer.alloc(1024))));
    for (const [i, key] of keys.entries()) {
      if (i % perDataset >= 1 && i % perDataset <= 20) s3.setLastModified("dev-klimadao-data", `lake/${key}`, new Date(Date.now() - 10 * DAY));
    }
    const listStarted = performance.now();
    const listed = (await lake.list()).artifacts.length;
    const listMs = performance.now() - listStarted;
    const clean = await timeScript("scripts/clean_up_old_artifacts.ts", [], dir, env);
    const left = (await lake.list()).artifacts.length;
    return [
      { case: "s3_clean", measure: `list ${listed} artifacts (${Math.ceil(listed / 1000)} pages)`, value: Math.round(listMs), unit: "ms" },
      { case: "s3_clean", measure: `clean_up_old_artifacts over ${count} artifacts, whole command`, value: Math.round(clean.ms), unit: "ms", note: `${count - left} deleted, ${left} kept; the command's own CPU ${(clean.cpuMs / 1000).toFixed(1)} s, the rest is the server` },
    ];
  } finally {
    await s3.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `extraEnv`: for the build and the command (DATA_PIPELINES_ARTIFACT_COMPRESSION). */
export async function promoteFullSet(verraRows: number, records: number, extraEnv: Record<string, string> = {}): Promise<S3Figure[]> {
  const dir = mkdtempSync(path.join(tmpdir(), "bench-promote-"));
  const sources = await startFakeSources({ verraRows, subgraphs: { seed: 1, scale: records / 12_000 } });
  const s3 = await startFakeS3();
  try {
    const env = { ...sources.env, ...s3.env, ...extraEnv, DATA_PIPELINES_DB: path.join(dir, "runs.sqlite"), DATA_PIPELINES_RESULT_STORAGE: "file:built" };
    const config = loadConfig(env, dir);
    await runBuild({ name: "build_all", flows: ALL_FLOWS, config, log: new Logger({ format: "human", stream: { write: () => true } as unknown as NodeJS.WritableStream }), concurrency: 4, inProcess: true });
    await sources.stop();
    const built = new LocalLake(path.join(dir, "built"));
    const latest = (await built.list()).artifacts.filter((a) => a.key.endsWith("-latest"));
    const staging = await openLake({ kind: "s3", bucket: "dev-klimadao-data", prefix: "lake/", label: "s3-bucket/dev" }, config);
    const production = await openLake({ kind: "s3", bucket: "prod-klimadao-data", prefix: "lake/", label: "s3-bucket/prod" }, config);
    for (const a of latest) {
      const bytes = (await built.read(a.key))!;
      await staging.write(a.key, bytes);
      await production.write(a.key, bytes);
    }
    const bytes = latest.reduce((n, a) => n + a.size, 0);
    const run = await timeScript("scripts/promote.ts", [], dir, env);
    const serverSide = (run.stdout.match(/\(server-side\)/g) ?? []).length;
    const rollback = await timeScript("scripts/promote.ts", ["--rollback"], dir, env);
    return [
      { case: "promote", measure: `promote ${latest.length} datasets (${formatBytes(bytes)}), whole command`, value: Math.round(run.ms), unit: "ms", note: `CPU ${(run.cpuMs / 1000).toFixed(1)} s (decoding to check); ${serverSide} copies server-side (CopyObject), ${latest.length * 2 - serverSide} through the process; Verra ${verraRows}, ${records} records` },
      { case: "promote", measure: "promote --rollback, whole command", value: Math.round(rollback.ms), unit: "ms" },
    ];
  } finally {
    await sources.stop().catch(() => undefined);
    await s3.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
