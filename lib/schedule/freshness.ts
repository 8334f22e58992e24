// Freshness: how old each dataset may be before it counts as stale, derived from the schedule that
// refreshes it (the interval between its job's triggers, plus a margin), or set per slug in the
// schedule file (`"freshness": {"raw_verra_data": "48h"}`); and how old it is, from its last
// successful write in the run history. `runs.ts --status`, the status page and the daemon's stale
// alerts (lib/alerts/alert.ts) read it.
import { readFileSync } from "node:fs";
import path from "node:path";
import { Cron } from "croner";
import type { RunHistory, RunRecord } from "../history/history.ts";
import { CRON_OPTIONS, flowSlugs, SCRIPTS_DIR, type Schedule } from "./schedule.ts";

const HOUR = 3_600_000;

/**
 * - `fresh`: written within its expected age; `stale`: not;
 * - `never built`: no successful write in the run history (neither fresh nor stale: nothing alerts);
 * - `not checked`: no scheduled job refreshes it and the schedule file sets no age for it (or `off`).
 */
export type FreshnessState = "fresh" | "stale" | "never built" | "not checked";

export interface Expectation {
  maxAgeMs: number;
  /** What sets it: the job that refreshes the dataset most often, or `schedule file`. */
  by: string;
}

export interface DatasetFreshness {
  slug: string;
  state: FreshnessState;
  /** The newest succeeded run that wrote it. */
  lastWrite: RunRecord | undefined;
  /** From the end of that run to `now`. */
  ageMs: number | null;
  maxAgeMs: number | null;
  by: string | null;
}

/** Scripts that run dataset flows import them as `import x from "../<slug>.ts"` (build_frequent); build_all runs them all. */
export function datasetsOfJob(job: string): string[] {
  const all = flowSlugs();
  if (all.includes(job)) return [job];
  if (job === "build_all") return all;
  let text: string;
  try {
    text = readFileSync(path.join(SCRIPTS_DIR, `${job}.ts`), "utf8");
  } catch {
    return [];
  }
  return [...text.matchAll(/^import \w+ from "\.\/([a-z0-9_]+)\.ts";$/gm)].map((m) => m[1]!).filter((slug) => all.includes(slug));
}

/**
 * The longest wait between two triggers of a cron expression, over the next 8 days (at most 1000
 * triggers): a weekday schedule waits over the weekend, so its longest wait is what matters.
 */
export function triggerInterval(cron: string, from = new Date()): number {
  const runs = new Cron(cron, CRON_OPTIONS);
  let longest = 0;
  let previous = runs.nextRun(from);
  if (!previous) return Infinity;
  for (let i = 0; i < 1000 && previous.getTime() - from.getTime() < 8 * 24 * HOUR; i++) {
    const next = runs.nextRun(previous);
    if (!next) break;
    longest = Math.max(longest, next.getTime() - previous.getTime());
    previous = next;
  }
  return longest || Infinity;
}

/**
 * The expected maximum age of a dataset refreshed every `intervalMs`: the interval plus a margin for
 * the run's own duration and a late start, as much as the interval itself up to 2 h (daily: 26 h;
 * hourly: 2 h; every 6 h: 8 h).
 */
export function maxAgeOf(intervalMs: number): number {
  return intervalMs + Math.min(intervalMs, 2 * HOUR);
}

/** Each dataset's expected maximum age: from the job that refreshes it most often, unless the schedule file sets it. */
export function expectedAges(schedule: Schedule): Map<string, Expectation> {
  const ages = new Map<string, Expectation>();
  for (const spec of schedule.jobs) {
    if (!spec.cron) continue;
    const maxAgeMs = maxAgeOf(triggerInterval(spec.cron));
    if (!Number.isFinite(maxAgeMs)) continue;
    for (const slug of datasetsOfJob(spec.job)) {
      const known = ages.get(slug);
      if (!known || maxAgeMs < known.maxAgeMs) ages.set(slug, { maxAgeMs, by: spec.job });
    }
  }
  for (const [slug, maxAgeMs] of Object.entries(schedule.freshness ?? {})) {
    if (maxAgeMs === null) ages.delete(slug);
    else ages.set(slug, { maxAgeMs, by: "schedule file" });
  }
  return ages;
}

/** Every dataset (the 34 flows), with its last successful write, its age and whether it is fresh. */
export function datasetFreshness(history: RunHistory, schedule: Schedule, now = new Date()): DatasetFreshness[] {
  const expected = expectedAges(schedule);
  const writes = history.latestRuns({ wrote: true });
  return flowSlugs().map((slug) => {
    const lastWrite = writes.get(slug);
    const expectation = expected.get(slug);
    const ageMs = lastWrite ? Math.max(0, now.getTime() - Date.parse(lastWrite.endedAt ?? lastWrite.startedAt)) : null;
    const state: FreshnessState = !expectation ? "not checked" : ageMs === null ? "never built" : ageMs > expectation.maxAgeMs ? "stale" : "fresh";
    return { slug, state, lastWrite, ageMs, maxAgeMs: expectation?.maxAgeMs ?? null, by: expectation?.by ?? null };
  });
}

/** An age for people: `45 s`, `12 min`, `3.5 h`, `27 h`, `4 d`. */
export function describeAge(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  if (ms < HOUR) return `${Math.round(ms / 60_000)} min`;
  if (ms < 10 * HOUR) return `${Number((ms / HOUR).toFixed(1))} h`;
  if (ms < 72 * HOUR) return `${Math.round(ms / HOUR)} h`;
  return `${Number((ms / (24 * HOUR)).toFixed(1))} d`;
}

/** One line on a stale dataset, for alerts and pages. */
export function describeStale(d: DatasetFreshness): string {
  if (!d.lastWrite || d.ageMs === null || d.maxAgeMs === null) return `${d.slug}: ${d.state}`;
  return `${d.slug} last written ${describeAge(d.ageMs)} ago (run ${d.lastWrite.id}), expected within ${describeAge(d.maxAgeMs)} (${d.by})`;
}
