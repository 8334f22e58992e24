// What the status page shows, gathered from the run history, the schedule and (when it can be read)
// the lake: every dataset's freshness and last run, the declared lineage, /healthz and /metrics.
import { readFileSync } from "node:fs";
import path from "node:path";
import { decodeArtifactSummary } from "../artifact/artifact.ts";
import type { Config } from "../config/config.ts";
import { errorMessage } from "../core/errors.ts";
import { datasetFreshness, type DatasetFreshness } from "../schedule/freshness.ts";
import type { RunHistory, RunRecord } from "../history/history.ts";
import { latestKey, openLake, type ArtifactInfo, type Lake } from "../lake/lake.ts";
import { redact } from "../core/redact.ts";
import { flowSlugs, SCRIPTS_DIR, type Schedule } from "../schedule/schedule.ts";
import { schedulerStatus, type SchedulerStatus } from "../schedule/daemon_status.ts";
import type { Column } from "../table/table.ts";

/**
 * Each dataset's declared upstream slugs (`from: [...]` or `from: { slug: …, … }` in
 * scripts/<slug>.ts), read as text: importing every flow costs 0.8 s and 55 MB (measured), which an
 * idle daemon need not pay. A test checks the result against the flows' own `from`.
 */
export function declaredUpstreams(scriptsDir = SCRIPTS_DIR): Map<string, string[]> {
  const slugs = flowSlugs();
  return new Map(slugs.map((slug) => {
    const text = readFileSync(path.join(scriptsDir, `${slug}.ts`), "utf8");
    return [slug, fromDeclaration(text).filter((s) => slugs.includes(s))];
  }));
}

/** The slugs of a flow's `from:`: the strings of a list, or the keys of an object (its top level only). */
function fromDeclaration(text: string): string[] {
  const at = /^\s*from:\s*([[{])/m.exec(text);
  if (!at) return [];
  const open = at.index + at[0].length - 1;
  let depth = 0;
  let end = open;
  for (; end < text.length; end++) {
    if ("[{(".includes(text[end]!)) depth++;
    else if ("]})".includes(text[end]!) && --depth === 0) break;
  }
  const body = text.slice(open + 1, end);
  if (at[1] === "[") return [...body.matchAll(/"([a-z0-9_]+)"/g)].map((m) => m[1]!);
  // An object: the keys at its own level (nested lists and calls are skipped by depth).
  const keys: string[] = [];
  let level = 0;
  for (const token of body.matchAll(/[[{(]|[\]})]|(?:^|[,{\s])"?([a-z0-9_]+)"?\s*:/g)) {
    if ("[{(".includes(token[0])) level++;
    else if ("]})".includes(token[0])) level--;
    else if (level === 0 && token[1]) keys.push(token[1]);
  }
  return keys;
}

export interface DatasetRow extends DatasetFreshness {
  /** The flow's newest run (any status but skipped). */
  lastRun: RunRecord | undefined;
  /** The `-latest` artifact in the lake, when the lake could be listed. */
  artifact: ArtifactInfo | undefined;
}

/** What the pages share: the run history, the schedule, the lake (listed at most once a minute) and the clock. */
export class StatusData {
  private listing: { at: number; artifacts?: Map<string, ArtifactInfo>; error?: string } | undefined;
  private lake: Promise<Lake> | undefined;
  private readonly schemas = new Map<string, { columns: Column[]; rowCount: number; nullCounts: number[] }>();
  private upstreams: Map<string, string[]> | undefined;

  constructor(readonly options: {
    history: RunHistory;
    schedule: Schedule;
    config: Pick<Config, "storage" | "s3Endpoint" | "awsAccessKeyId" | "awsSecretAccessKey" | "httpTimeoutMs" | "httpDeadlineMs" | "httpMaxBytes" | "db" | "alert">;
    logsDir: string;
    now?: () => Date;
  }) {}

  get history(): RunHistory {
    return this.options.history;
  }

  now(): Date {
    return this.options.now?.() ?? new Date();
  }

  lineage(): Map<string, string[]> {
    this.upstreams ??= declaredUpstreams();
    return this.upstreams;
  }

  scheduler(): SchedulerStatus {
    return schedulerStatus(this.history, this.options.schedule, this.now());
  }

  /** The lake's `-latest` artifacts by slug; listed again after a minute. A lake that cannot be read is an error line, never a failed page. */
  async artifacts(): Promise<{ artifacts?: Map<string, ArtifactInfo>; error?: string }> {
    if (this.listing && Date.now() - this.listing.at < 60_000) return this.listing;
    try {
      this.lake ??= openLake(this.options.config.storage, this.options.config);
      const listing = await (await this.lake).list();
      const latest = new Map(listing.artifacts.filter((a) => a.key.endsWith("-latest")).map((a) => [a.key.slice(0, -"-latest".length), a]));
      this.listing = { at: Date.now(), artifacts: latest };
    } catch (error) {
      this.lake = undefined;
      this.listing = { at: Date.now(), error: `the lake ${this.options.config.storage.label} could not be read: ${redact(errorMessage(error))}` };
    }
    return this.listing;
  }

  async datasets(): Promise<{ rows: DatasetRow[]; lakeError?: string }> {
    const freshness = datasetFreshness(this.history, this.options.schedule, this.now());
    const last = this.history.latestRuns();
    const { artifacts, error } = await this.artifacts();
    return {
      rows: freshness.map((d) => ({ ...d, lastRun: last.get(d.slug), artifact: artifacts?.get(d.slug) })),
      lakeError: error,
    };
  }

  /** The schema of a dataset's `-latest` (columns, types, nulls), read once per version; too large or unreadable: why not. */
  async schema(slug: string): Promise<{ columns?: Column[]; rowCount?: number; nullCounts?: number[]; error?: string }> {
    const { artifacts, error } = await this.artifacts();
    if (error) return { error };
    const info = artifacts?.get(slug);
    if (!info) return { error: `no ${latestKey(slug)} in ${this.options.config.storage.label}` };
    const version = `${slug} ${info.size} ${info.lastModified.toISOString()}`;
    const known = this.schemas.get(version);
    if (known) return known;
    if (info.size > SCHEMA_MAX_BYTES) return { error: `${latestKey(slug)} is ${Math.round(info.size / 1e6)} MB: its schema is not read for this page (see npx tsx scripts/show.ts ${slug})` };
    try {
      const bytes = await (await this.lake!).read(latestKey(slug));
      if (!bytes) return { error: `${latestKey(slug)} is gone from ${this.options.config.storage.label}` };
      const summary = decodeArtifactSummary(bytes, latestKey(slug));
      this.schemas.set(version, summary);
      return summary;
    } catch (failure) {
      return { error: redact(errorMessage(failure)) };
    }
  }

  /** A run's log file (the daemon's copy of its output), its last 256 kB. */
  logOf(run: RunRecord): string | undefined {
    try {
      const text = readFileSync(path.join(this.options.logsDir, `${run.id}-${run.flow}.log`));
      const cut = text.length > LOG_MAX_BYTES;
      return `${cut ? `… (the first ${text.length - LOG_MAX_BYTES} bytes left out)\n` : ""}${redact(text.subarray(Math.max(0, text.length - LOG_MAX_BYTES)).toString("utf8"))}`;
    } catch {
      return undefined;
    }
  }

  /** 200 when the daemon is alive and no dataset is stale; 503 otherwise. */
  health(): { code: number; body: Record<string, unknown> } {
    const scheduler = this.scheduler();
    const stale = datasetFreshness(this.history, this.options.schedule, this.now()).filter((d) => d.state === "stale").map((d) => d.slug);
    const ok = scheduler.state === "alive" && stale.length === 0;
    return {
      code: ok ? 200 : 503,
      body: { status: ok ? "ok" : "unhealthy", scheduler: scheduler.state, detail: scheduler.detail, stale, time: this.now().toISOString() },
    };
  }

  /** Prometheus text format: runs by flow and status, each dataset's last success, rows and freshness, each build's last duration. */
  metrics(): string {
    const out: string[] = [];
    const metric = (name: string, help: string, samples: [Record<string, string>, number][]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
      for (const [labels, value] of samples) {
        const text = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`).join(",");
        out.push(`${name}${text ? `{${text}}` : ""} ${Number.isFinite(value) ? value : 0}`);
      }
    };
    const seconds = (iso: string) => Date.parse(iso) / 1000;
    metric("data_pipelines_runs", "Runs in the run history, by flow and status.",
      this.history.runCounts().map((c) => [{ flow: c.flow, status: c.status }, c.count]));
    const datasets = datasetFreshness(this.history, this.options.schedule, this.now());
    const written = datasets.filter((d) => d.lastWrite);
    metric("data_pipelines_dataset_last_success_timestamp_seconds", "End of the newest succeeded run that wrote the dataset (Unix time).",
      written.map((d) => [{ dataset: d.slug }, seconds(d.lastWrite!.endedAt ?? d.lastWrite!.startedAt)]));
    metric("data_pipelines_dataset_rows", "Rows of the dataset at its last successful write.",
      written.filter((d) => d.lastWrite!.rows !== null).map((d) => [{ dataset: d.slug }, d.lastWrite!.rows!]));
    metric("data_pipelines_dataset_age_seconds", "Time since the dataset's last successful write.",
      written.map((d) => [{ dataset: d.slug }, d.ageMs! / 1000]));
    metric("data_pipelines_dataset_max_age_seconds", "The dataset's expected maximum age (from the schedule).",
      datasets.filter((d) => d.maxAgeMs !== null).map((d) => [{ dataset: d.slug }, d.maxAgeMs! / 1000]));
    metric("data_pipelines_dataset_stale", "1 when the dataset is older than its expected maximum age.",
      datasets.filter((d) => d.maxAgeMs !== null).map((d) => [{ dataset: d.slug }, d.state === "stale" ? 1 : 0]));
    const builds = ["build_all", "build_frequent"].flatMap((name) => this.history.list({ flow: name, statuses: ["succeeded", "failed", "crashed"], limit: 1 }));
    metric("data_pipelines_build_duration_seconds", "Duration of each build's newest finished run.",
      builds.filter((b) => b.endedAt).map((b) => [{ build: b.flow, status: b.status }, (Date.parse(b.endedAt!) - Date.parse(b.startedAt)) / 1000]));
    const scheduler = this.scheduler();
    metric("data_pipelines_scheduler_up", "1 when the scheduler daemon is alive.", [[{}, scheduler.state === "alive" ? 1 : 0]]);
    if (scheduler.holder) {
      metric("data_pipelines_scheduler_heartbeat_timestamp_seconds", "The daemon's last heartbeat (Unix time).", [[{}, seconds(scheduler.holder.heartbeatAt)]]);
    }
    return `${out.join("\n")}\n`;
  }
}

/** Larger `-latest` artifacts are not read for their schema on a page view. */
const SCHEMA_MAX_BYTES = 256e6;
const LOG_MAX_BYTES = 256 * 1024;
