// The schedule: the jobs a daemon runs, when (cron, UTC) and for how long, from the defaults of
// docs/architecture.md §8 or a JSON file validated at start (with per-dataset freshness overrides);
// what a job is (a command or a dataset flow's script); the times and spans shown to people.
// It starts nothing: the daemon (lib/daemon/scheduler.ts), runs.ts --status, freshness and the status page read it.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Cron, type CronOptions } from "croner";
import { DATASET_SLUGS } from "../flows/datasets.ts";
import { errorMessage, UserError } from "../core/errors.ts";
import { parseDuration } from "../core/parse.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const SCRIPTS_DIR = path.join(ROOT, "scripts");

/** docs/architecture.md §8: the old deployment's schedules (UTC), in its order. */
export const DEFAULT_SCHEDULE: Record<string, string> = {
  clean_up_old_artifacts: "0 22 * * *",
  build_all: "15 13 * * *",
  build_frequent: "45 * * * *",
};

/** The jobs that are not a single dataset flow. */
const COMMAND_JOBS = ["build_all", "build_frequent", "clean_up_old_artifacts", "clean_up_latest_artifacts", "fetch_s3_artifacts"];

export const HOUR = 3_600_000;

/**
 * How long a job may run before it is stopped, unless the schedule says otherwise: generous (a
 * build takes minutes), but the hourly build_frequent is stopped before its next hour comes.
 */
export function defaultTimeoutMs(job: string): number {
  return job === "build_all" ? 6 * HOUR : job === "build_frequent" ? 50 * 60_000 : 2 * HOUR;
}

/** Every time is UTC; 5 fields (minutes), or 6 with seconds first. */
export const CRON_OPTIONS: CronOptions = { timezone: "UTC", mode: "5-or-6-parts" };

/** The longest a Node timer waits (about 24.8 days); a longer delay would fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface JobSpec {
  job: string;
  cron: string;
  timeoutMs: number;
  /** The script the job runs: `scripts/<job>.ts`. */
  script: string;
}

export interface Schedule {
  jobs: JobSpec[];
  /** `defaults`, or the schedule file's path. */
  source: string;
  /** The file's `freshness`: a dataset's expected maximum age (ms), or null (`off`: not checked). */
  freshness?: Record<string, number | null>;
}

/** The dataset flows' slugs (lib/flows/datasets.ts), without loading a flow. */
export function flowSlugs(): string[] {
  return [...DATASET_SLUGS];
}

/** The jobs a schedule may name: the commands and the dataset flows; with another scripts folder (tests), its scripts. */
export function knownJobs(scriptsDir = SCRIPTS_DIR): string[] {
  if (path.resolve(scriptsDir) === SCRIPTS_DIR) return [...COMMAND_JOBS, ...flowSlugs()];
  return readdirSync(scriptsDir).filter((f) => /^[a-z0-9_]+\.ts$/.test(f)).map((f) => f.slice(0, -3)).sort();
}

/**
 * The schedule: the defaults, or a JSON file that replaces them, of the form
 * `{ "<job>": "<cron>", "<job>": { "cron": "<cron>", "timeout": "6h" } }`. Anything wrong is
 * refused with one line naming the file and the entry.
 */
export function loadSchedule(options: { file?: string; scriptsDir?: string } = {}): Schedule {
  const scriptsDir = path.resolve(options.scriptsDir ?? SCRIPTS_DIR);
  if (!options.file) return { source: "defaults", jobs: parseSchedule(DEFAULT_SCHEDULE, "default schedule", scriptsDir) };
  const label = `schedule file ${options.file}`;
  let text: string;
  try {
    text = readFileSync(options.file, "utf8");
  } catch (error) {
    throw new UserError(`${label}: cannot read it (${(error as NodeJS.ErrnoException).code ?? errorMessage(error)})`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new UserError(`${label}: not valid JSON (${errorMessage(error)})`);
  }
  const jobs = parseSchedule(data, label, scriptsDir);
  return { source: options.file, jobs, freshness: parseFreshness((data as Record<string, unknown>).freshness, label) };
}

/** The jobs of a schedule (its `freshness` entry is checked and left to {@link parseFreshness}). */
export function parseSchedule(data: unknown, label: string, scriptsDir = SCRIPTS_DIR): JobSpec[] {
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new UserError(`${label}: expected an object of job names to a cron expression or {"cron": ..., "timeout": ...}`);
  }
  parseFreshness((data as Record<string, unknown>).freshness, label);
  const entries = Object.entries(data as Record<string, unknown>).filter(([key]) => key !== "freshness");
  if (entries.length === 0) throw new UserError(`${label}: no jobs`);
  const known = knownJobs(scriptsDir);
  return entries.map(([job, entry]) => {
    const where = `${label}: ${job}`;
    if (!known.includes(job)) {
      throw new UserError(path.resolve(scriptsDir) === SCRIPTS_DIR
        ? `${where}: unknown job (not ${COMMAND_JOBS.join(", ")} or a dataset flow's slug)`
        : `${where}: unknown job (no ${job}.ts in ${scriptsDir})`);
    }
    const fields = typeof entry === "string" ? { cron: entry } : entry;
    if (typeof fields !== "object" || fields === null || Array.isArray(fields)) {
      throw new UserError(`${where}: expected a cron expression or {"cron": ..., "timeout": ...}`);
    }
    for (const key of Object.keys(fields)) {
      if (key !== "cron" && key !== "timeout") throw new UserError(`${where}: unknown field "${key}" (cron, timeout)`);
    }
    const { cron, timeout } = fields as { cron?: unknown; timeout?: unknown };
    if (typeof cron !== "string") throw new UserError(`${where}: "cron" must be a cron expression such as "15 13 * * *"`);
    let next: Date | null;
    try {
      next = new Cron(cron, CRON_OPTIONS).nextRun();
    } catch (error) {
      throw new UserError(`${where}: invalid cron expression "${cron}": ${errorMessage(error).replace(/^CronPattern: /, "")}`);
    }
    if (!next) throw new UserError(`${where}: the cron expression "${cron}" never fires`);
    return {
      job, cron,
      timeoutMs: timeout === undefined ? defaultTimeoutMs(job) : parseTimeout(timeout, where),
      script: path.join(scriptsDir, `${job}.ts`),
    };
  });
}

/**
 * `"freshness": {"<slug>": "48h", "<slug>": "off"}`: a dataset's expected maximum age, replacing the
 * one derived from the job that refreshes it (lib/schedule/freshness.ts); `off`: never stale.
 */
export function parseFreshness(value: unknown, label: string): Record<string, number | null> {
  if (value === undefined) return {};
  const where = `${label}: freshness`;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UserError(`${where}: expected an object of dataset slugs to a maximum age ("26h", "90m", seconds) or "off"`);
  }
  const slugs = flowSlugs();
  const ages: Record<string, number | null> = {};
  for (const [slug, age] of Object.entries(value as Record<string, unknown>)) {
    if (!slugs.includes(slug)) throw new UserError(`${where}: ${slug}: not a dataset flow's slug`);
    if (age === "off") {
      ages[slug] = null;
      continue;
    }
    if (typeof age !== "string" && typeof age !== "number") throw new UserError(`${where}: ${slug}: expected a maximum age such as "26h", or "off"`);
    ages[slug] = parseDuration(age, `${where}: ${slug}`, { maxMs: 366 * 24 * HOUR });
  }
  return ages;
}

/** A duration: seconds as a number, or a text such as `6h`, `90m`, `30s`, `500ms`. */
function parseTimeout(value: unknown, where: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: HOUR };
  const match = typeof value === "string" ? /^([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|min|h)$/.exec(value.trim()) : null;
  const ms = typeof value === "number" ? value * 1000 : match ? Number(match[1]) * units[match[2]!]! : NaN;
  if (!(ms > 0) || !Number.isFinite(ms)) {
    throw new UserError(`${where}: timeout ${JSON.stringify(value)} is not a duration (e.g. "6h", "90m", "30s", or seconds as a number)`);
  }
  if (ms > MAX_TIMER_MS) throw new UserError(`${where}: timeout ${JSON.stringify(value)} is longer than 24 days`);
  return Math.round(ms);
}

/** A job that is not in the schedule (`--once`), with its default timeout. */
export function jobSpec(job: string, schedule: Schedule, scriptsDir = SCRIPTS_DIR): JobSpec {
  const scheduled = schedule.jobs.find((j) => j.job === job);
  if (scheduled) return scheduled;
  if (!knownJobs(scriptsDir).includes(job)) throw new UserError(`--once: unknown job "${job}"`);
  return { job, cron: "", timeoutMs: defaultTimeoutMs(job), script: path.join(path.resolve(scriptsDir), `${job}.ts`) };
}

/** The next `n` trigger times of a job after `from`. */
export function nextRuns(spec: JobSpec, n: number, from = new Date()): Date[] {
  return new Cron(spec.cron, CRON_OPTIONS).nextRuns(n, from);
}

/** `2026-11-25 13:15:00` (UTC). */
export function utc(date: Date | string): string {
  return new Date(date).toISOString().slice(0, 19).replace("T", " ");
}

/** `6 h`, `90 min`, `30 s`, `300 ms`. */
export function formatSpan(ms: number): string {
  if (ms >= HOUR && ms % HOUR === 0) return `${ms / HOUR} h`;
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms >= 1000) return `${Number((ms / 1000).toFixed(3))} s`;
  return `${ms} ms`;
}
