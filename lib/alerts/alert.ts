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
//
// Delivery (DATA_PIPELINES_ALERT_WEBHOOK, DATA_PIPELINES_ALERT_COMMAND): after the run's end is
// recorded, to every target at once, each within DATA_PIPELINES_ALERT_TIMEOUT_SECONDS, attempts
// and waits included; a target that still has not taken it is one log line and a note on the run.
// It never changes the run's outcome. The URLs and the command are secrets: logs name a webhook by
// its number and host only, and every text sent passes through redact.
import { spawn } from "node:child_process";
import { hostname } from "node:os";
import type { AlertSettings, Config } from "../config/config.ts";
import { errorMessage } from "../core/errors.ts";
import { datasetFreshness, describeStale, type DatasetFreshness } from "../schedule/freshness.ts";
import type { RunHistory, RunRecord } from "../history/history.ts";
import type { Logger } from "../core/log.ts";
import { redact } from "../core/redact.ts";
import type { Schedule } from "../schedule/schedule.ts";

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

// ------------------------------------------------------------------ what receivers get

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** The alert as one line of text. */
export function alertText(alert: Alert): string {
  const run = alert.runId !== null ? ` (run ${alert.runId})` : "";
  const names = (items: AlertItem[] | undefined) => (items ?? []).map((i) => i.slug).join(", ");
  switch (alert.event) {
    case "failed":
      // A build's error names its failed flows ("2 of 34 flows failed: …") or why it stopped; each flow is in `flows`.
      return `${alert.subject} ${alert.status}${run}: ${alert.error ?? "no error recorded"}`;
    case "recovered":
      if (alert.datasets) return `fresh again: ${names(alert.datasets)}`;
      if (alert.flows?.length) return `${alert.subject} recovered${run}: ${names(alert.flows)} succeeded again${alert.status !== "succeeded" ? `; still ${alert.status}: ${alert.error ?? ""}` : ""}`;
      return `${alert.subject} recovered${run}: ${alert.status}`;
    case "skipped":
      return `${alert.subject} trigger skipped${run}: ${alert.error ?? ""}`;
    case "stale":
      return alert.datasets && alert.datasets.length > 1
        ? `${plural(alert.datasets.length, "dataset")} stale: ${alert.datasets.map((d) => d.error).join("; ")}`
        : `stale: ${alert.error ?? alert.subject}`;
    case "test":
      return `test alert from data-pipelines on ${alert.host}`;
  }
}

/** Slack's mrkdwn needs &, < and > escaped. */
function slackEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** `text` (the notification) and `blocks` (the message in the channel): what a Slack incoming webhook takes. */
export function slackMessage(alert: Alert): { text: string; blocks: unknown[] } {
  const text = redact(alertText(alert));
  const items = [...(alert.flows ?? []), ...(alert.datasets ?? [])];
  const details = items.length > 1
    ? items.slice(0, 20).map((i) => `• *${slackEscape(i.slug)}*${i.runId !== null ? ` run ${i.runId}` : ""}${i.error ? `: ${slackEscape(redact(i.error))}` : ""}`).join("\n")
    : undefined;
  const context = [`${alert.event}`, `host ${alert.host}`, `${alert.time.slice(0, 19).replace("T", " ")} UTC`];
  if (alert.runId !== null) context.push(`npx tsx scripts/runs.ts --run ${alert.runId}`);
  return {
    text,
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: slackEscape(text) } },
      ...(details ? [{ type: "section", text: { type: "mrkdwn", text: details } }] : []),
      { type: "context", elements: [{ type: "mrkdwn", text: slackEscape(redact(context.join(" · "))) }] },
    ],
  };
}

/** Every string of a JSON value through redact. */
function redactDeep<T>(value: T): T {
  if (typeof value === "string") return redact(value) as T;
  if (Array.isArray(value)) return value.map(redactDeep) as T;
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v)])) as T;
  return value;
}

/** The JSON document: the alert's fields, with Slack's `text` and `blocks` beside them (Mattermost and the like render those). */
export function alertDocument(alert: Alert): Record<string, unknown> {
  return redactDeep({ ...alert, ...slackMessage(alert) });
}

/** hooks.slack.com gets exactly what Slack accepts; any other URL the whole document. */
export function webhookBody(alert: Alert, url: string): Record<string, unknown> {
  return new URL(url).hostname === "hooks.slack.com" ? redactDeep(slackMessage(alert)) : alertDocument(alert);
}

// ------------------------------------------------------------------ delivery

export interface Delivery {
  /** `webhook 1 (hooks.slack.com)` or `command`: never the URL or the command itself. */
  target: string;
  ok: boolean;
  attempts: number;
  error?: string;
}

const ATTEMPTS = 3;

class DeliveryError extends Error {
  constructor(message: string, readonly permanent = false) {
    super(message);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Up to 3 attempts, each bounded by a quarter of `timeoutMs`, an eighth of it between them: at most
 * `timeoutMs` in all (20 s: attempts of 5 s, 2.5 s apart). A permanent failure (HTTP 3xx and 4xx but
 * 408 and 429, a command that cannot start) is not tried again.
 */
async function withAttempts(timeoutMs: number, attempt: (ms: number) => Promise<void>): Promise<{ attempts: number; error?: string }> {
  let error = "";
  for (let n = 1; n <= ATTEMPTS; n++) {
    try {
      await attempt(timeoutMs / 4);
      return { attempts: n };
    } catch (failure) {
      error = errorMessage(failure);
      if ((failure instanceof DeliveryError && failure.permanent) || n === ATTEMPTS) return { attempts: n, error };
      await sleep(timeoutMs / 8);
    }
  }
  return { attempts: ATTEMPTS, error };
}

async function postWebhook(url: string, body: Record<string, unknown>, ms: number): Promise<void> {
  const { request } = await import("undici");
  const stop = AbortSignal.timeout(ms);
  let response;
  try {
    response = await request(url, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": "data-pipelines-alert" },
      body: JSON.stringify(body),
      headersTimeout: ms,
      bodyTimeout: ms,
      signal: stop,
    });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (stop.aborted || code === "UND_ERR_HEADERS_TIMEOUT") throw new DeliveryError(`no answer within ${seconds(ms)} s`);
    throw new DeliveryError(code === "ECONNREFUSED" ? "connection refused" : redact(code ? `${code}: ${errorMessage(error)}` : errorMessage(error)));
  }
  const answer = (await response.body.text().catch(() => "")).replace(/\s+/g, " ").trim().slice(0, 120);
  const status = response.statusCode;
  if (status >= 200 && status < 300) return;
  const detail = answer ? `: ${redact(answer)}` : "";
  throw new DeliveryError(`HTTP ${status}${detail}`, status >= 300 && status < 500 && status !== 408 && status !== 429);
}

/** `sh -c <command>` in its own process group, the JSON on stdin; past `ms` the whole group is killed. */
function runCommand(command: string, input: string, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/sh", ["-c", command], { stdio: ["pipe", "ignore", "pipe"], detached: true });
    let stderr = "";
    let timedOut = false;
    child.stderr!.on("data", (chunk: Buffer) => { if (stderr.length < 2000) stderr += chunk.toString("utf8"); });
    child.stdin!.on("error", () => {}); // a command that does not read its input
    child.stdin!.end(input);
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    }, ms);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new DeliveryError(`could not start: ${error.message}`, true));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (timedOut) return reject(new DeliveryError(`did not finish within ${seconds(ms)} s: killed`));
      if (code === 0) return resolve();
      const said = errorLine(stderr);
      reject(new DeliveryError(`${signal ? `killed by ${signal}` : `exit code ${code}`}${said ? `: ${said}` : ""}`));
    });
  });
}

function seconds(ms: number): string {
  return String(Math.round(ms) / 1000);
}

/** Send to every target at once; resolves (never rejects) with how each went, within about `timeoutMs`. */
export async function deliver(alert: Alert, settings: AlertSettings): Promise<Delivery[]> {
  const to = async (target: string, attempt: (ms: number) => Promise<void>): Promise<Delivery> => {
    const { attempts, error } = await withAttempts(settings.timeoutMs, attempt);
    return error === undefined ? { target, ok: true, attempts } : { target, ok: false, attempts, error: redact(error) };
  };
  const targets = settings.webhooks.map((url, i) => {
    const body = webhookBody(alert, url);
    return to(redact(`webhook ${i + 1} (${new URL(url).host})`), (ms) => postWebhook(url, body, ms));
  });
  if (settings.command !== undefined) {
    const command = settings.command;
    const input = `${JSON.stringify(alertDocument(alert))}\n`;
    targets.push(to("command", (ms) => runCommand(command, input, ms)));
  }
  return Promise.all(targets);
}

export interface AlertContext {
  settings: AlertSettings;
  log: Logger;
  /** Where a failed delivery is noted: the run the alert is about. */
  history?: RunHistory;
}

/** Deliver; each target that did not take it is one log line and a note on the alert's run. Never throws. */
export async function sendAlert(alert: Alert, ctx: AlertContext): Promise<Delivery[]> {
  const deliveries = await deliver(alert, ctx.settings);
  for (const d of deliveries) {
    if (d.ok) continue;
    const line = `alert (${alert.event} ${alert.subject}) not delivered to ${d.target} after ${plural(d.attempts, "attempt")}: ${d.error}`;
    ctx.log.warn(line);
    try {
      if (ctx.history && alert.runId !== null) ctx.history.addNote(alert.runId, line);
    } catch (error) {
      ctx.log.warn(`could not note the failed alert on run ${alert.runId}: ${errorMessage(error)}`);
    }
  }
  return deliveries;
}

/**
 * After a run's end is recorded: alert if its end changed a state, and wait for the delivery
 * (bounded by DATA_PIPELINES_ALERT_TIMEOUT_SECONDS). Never throws; does nothing without targets.
 */
export async function alertRunEnd(runId: number, ctx: { config: Pick<Config, "alert">; history: RunHistory; log: Logger; error?: string | null }): Promise<void> {
  if (!ctx.config.alert || !alertsEnabled(ctx.config.alert)) return; // (a hand-made test config may have none)
  try {
    const alert = runEndAlert(ctx.history, runId, { error: ctx.error });
    if (alert) await sendAlert(alert, { settings: ctx.config.alert, log: ctx.log, history: ctx.history });
  } catch (error) {
    ctx.log.warn(`alert for run ${runId}: ${errorMessage(error)}`);
  }
}

/**
 * The daemon's alerts: what only it sees (a job it killed, timed out or found crashed, a skipped
 * trigger, a stale dataset) and every job's end (a second look, that alerts only if the job could
 * not). Deliveries run beside the queue; `settled` waits for them before the daemon closes.
 */
export class DaemonAlerts {
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly options: { settings: AlertSettings; history: RunHistory; log: Logger; schedule: Schedule }) {}

  get enabled(): boolean {
    return alertsEnabled(this.options.settings);
  }

  private guarded(what: string, make: () => Alert[] | Alert | undefined): void {
    if (!this.enabled) return;
    try {
      const made = make();
      for (const alert of Array.isArray(made) ? made : made ? [made] : []) {
        const sending = sendAlert(alert, { settings: this.options.settings, log: this.options.log, history: this.options.history });
        this.pending.add(sending);
        void sending.finally(() => this.pending.delete(sending));
      }
    } catch (error) {
      this.options.log.warn(`alert (${what}): ${errorMessage(error)}`);
    }
  }

  started(job: string, runId: number): void {
    this.guarded(job, () => { jobStarted(this.options.history, job, runId); return undefined; });
  }

  /** A job's end, recorded by the daemon: `reason` is the daemon's (timed out, stopped at shutdown), if it stopped the job. */
  ended(runId: number, reason: string | null): void {
    this.guarded(`run ${runId}`, () => runEndAlert(this.options.history, runId, { error: reason }));
  }

  skipped(runId: number): void {
    this.guarded(`run ${runId}`, () => skipAlert(this.options.history, runId));
  }

  /** Runs found `running` whose process is gone. */
  crashed(runs: RunRecord[]): void {
    for (const run of runs) if (run.parentId === null) this.ended(run.id, null);
  }

  checkFreshness(now = new Date()): void {
    this.guarded("freshness", () => freshnessAlerts(this.options.history, datasetFreshness(this.options.history, this.options.schedule, now), now));
  }

  /** Wait for the deliveries under way, at most `ms`. */
  async settled(ms: number): Promise<void> {
    if (this.pending.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.pending]), new Promise((resolve) => { timer = setTimeout(resolve, ms); })]);
    clearTimeout(timer);
  }
}
