// Alerts: tell a person when something needs them. A run that ends failed, crashed or timed out; a
// build with failed flows (one alert naming them; its flows never alert on their own); a skipped
// trigger; a dataset gone stale. Sent on a change of state only: the first failure, then one
// "recovered" when it next succeeds (state per flow and dataset in the run history, alert_state).
//
// Who alerts: whoever records a run's end looks at it (runFlow for a run without a parent, runBuild,
// the artifact scripts, and the daemon for every job it ran). The state's change is one atomic step
// in the run history, keyed by run id, so a run looked at twice (by its process, then by the daemon)
// alerts once; the daemon's look is what reports a job killed, crashed or timed out (the job could
// not), with its own reason ("timed out after 6 h"). Skips and staleness only the daemon sees.
import { hostname } from "node:os";
import type { AlertSettings } from "../config/config.ts";
import { redact } from "../core/redact.ts";
import type { RunHistory, RunRecord } from "../history/history.ts";
import { describeStale, type DatasetFreshness } from "../schedule/freshness.ts";

export type AlertEvent = "failed" | "recovered" | "skipped" | "stale" | "test";

/** A flow of a build in an alert, or a dataset. */
export interface AlertItem {
  slug: string;
  runId: number | null;
  error: string | null;
}

/** What an alert says: the JSON document receivers get (with `text` and `blocks` beside, for Slack-compatible ones). */
export interface Alert {
  event: AlertEvent;
  /** The flow, job or dataset it is about (`3 datasets` for several). */
  subject: string;
  runId: number | null;
  /** The run's status (`failed`, `crashed`, `succeeded`, `skipped`), or the dataset's (`stale`, `fresh`). */
  status: string;
  /** One line: the error, the skip's reason, how old the dataset is. */
  error: string | null;
  /** A build's flows that failed (or recovered), each with its run and error line. */
  flows?: AlertItem[];
  /** The datasets gone stale (or fresh again). */
  datasets?: AlertItem[];
  time: string;
  host: string;
}

export function alertsEnabled(settings: AlertSettings): boolean {
  return settings.webhooks.length > 0 || settings.command !== undefined;
}

/** An error's first line, redacted and at most 500 characters: what an alert and a page show. */
export function errorLine(text: string | null | undefined): string | null {
  if (!text) return null;
  const line = redact(text.split("\n")[0]!.trim());
  return line.length > 500 ? `${line.slice(0, 499)}…` : line;
}

function newAlert(fields: Omit<Alert, "time" | "host">, now = new Date()): Alert {
  return { ...fields, time: now.toISOString(), host: hostname() };
}

// ------------------------------------------------------------------ when to alert

const failedState = (r: RunRecord) => (r.status === "succeeded" ? "ok" : "failing");
const item = (r: RunRecord): AlertItem => ({ slug: r.flow, runId: r.id, error: errorLine(r.error) });

/**
 * The alert a run's end calls for, after moving the states it changes: its own (`run:<flow>`) and,
 * for a build, those of the flows it ran. A failure alerts when something is newly failing, naming
 * the build's failed flows; otherwise a recovery alerts when something failing now succeeded.
 * Nothing for a run with a parent (its build speaks for it), a skipped or a still running one.
 * `error` replaces the recorded error line (the daemon's `timed out after 6 h`).
 */
export function runEndAlert(history: RunHistory, runId: number, options: { error?: string | null; now?: Date } = {}): Alert | undefined {
  const run = history.get(runId);
  if (!run || run.parentId !== null || run.status === "running" || run.status === "skipped") return undefined;
  const flows = history.list({ parentId: run.id, limit: 10_000 }).reverse().filter((r) => r.status !== "running" && r.status !== "skipped");
  const newlyFailing: RunRecord[] = [];
  const recovered: RunRecord[] = [];
  for (const r of [...flows, run]) {
    const was = history.alertTransition(`run:${r.flow}`, failedState(r), r.id, options.now);
    if (was === undefined) continue;
    if (failedState(r) === "failing") newlyFailing.push(r);
    else if (was === "failing") recovered.push(r);
  }
  const error = errorLine(options.error ?? run.error);
  const failedFlows = flows.filter((r) => r.status !== "succeeded");
  if (newlyFailing.length) {
    return newAlert({
      event: "failed", subject: run.flow, runId: run.id, status: run.status, error,
      ...(flows.length ? { flows: failedFlows.map(item) } : {}),
    }, options.now);
  }
  if (recovered.length) {
    return newAlert({
      event: "recovered", subject: run.flow, runId: run.id, status: run.status,
      error: run.status === "succeeded" ? null : error,
      ...(flows.length ? { flows: recovered.filter((r) => r.id !== run.id).map(item) } : {}),
    }, options.now);
  }
  return undefined;
}

/** A skipped trigger alerts once, until a trigger of that job runs again ({@link jobStarted}). */
export function skipAlert(history: RunHistory, runId: number, now = new Date()): Alert | undefined {
  const run = history.get(runId);
  if (!run || run.status !== "skipped") return undefined;
  const was = history.alertTransition(`skip:${run.flow}`, "skipped", run.id, now);
  if (was === undefined) return undefined;
  return newAlert({ event: "skipped", subject: run.flow, runId: run.id, status: "skipped", error: errorLine(run.error) }, now);
}

/** A trigger of `job` runs: the next skip alerts again. */
export function jobStarted(history: RunHistory, job: string, runId: number): void {
  history.alertTransition(`skip:${job}`, "ran", runId);
}

/**
 * The alerts a look at every dataset's freshness calls for: one naming the datasets newly stale,
 * one naming those fresh again. A dataset never built changes nothing.
 */
export function freshnessAlerts(history: RunHistory, datasets: DatasetFreshness[], now = new Date()): Alert[] {
  const stale: DatasetFreshness[] = [];
  const fresh: DatasetFreshness[] = [];
  for (const d of datasets) {
    if (d.state !== "stale" && d.state !== "fresh") continue;
    const was = history.alertTransition(`fresh:${d.slug}`, d.state, undefined, now);
    if (d.state === "stale" && was !== undefined) stale.push(d);
    if (d.state === "fresh" && was === "stale") fresh.push(d);
  }
  const alerts: Alert[] = [];
  const group = (event: AlertEvent, status: string, list: DatasetFreshness[], line: (d: DatasetFreshness) => string) => {
    if (!list.length) return;
    const items = list.map((d) => ({ slug: d.slug, runId: d.lastWrite?.id ?? null, error: line(d) }));
    alerts.push(newAlert({
      event, status, subject: list.length === 1 ? list[0]!.slug : `${list.length} datasets`,
      runId: items.length === 1 ? items[0]!.runId : null,
      error: items.length === 1 ? items[0]!.error : items.map((i) => i.slug).join(", "),
      datasets: items,
    }, now));
  };
  group("stale", "stale", stale, (d) => staleLine(history, d));
  group("recovered", "fresh", fresh, (d) => `${d.slug} written again by run ${d.lastWrite!.id}`);
  return alerts;
}

/** Why a dataset is stale, with its flow's newest run when that one failed. */
function staleLine(history: RunHistory, d: DatasetFreshness): string {
  const [last] = history.list({ flow: d.slug, statuses: ["failed", "crashed", "succeeded"], limit: 1 });
  const failed = last && last.status !== "succeeded" ? `; its last run ${last.id} ${last.status}: ${errorLine(last.error) ?? "no error recorded"}` : "";
  return `${describeStale(d)}${failed}`;
}
