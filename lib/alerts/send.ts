// Delivery (DATA_PIPELINES_ALERT_WEBHOOK, DATA_PIPELINES_ALERT_COMMAND): after the run's end is
// recorded, to every target at once, each within DATA_PIPELINES_ALERT_TIMEOUT_SECONDS, attempts
// and waits included; a target that still has not taken it is one log line and a note on the run.
// It never changes the run's outcome. The URLs and the command are secrets: logs name a webhook by
// its number and host only, and every text sent passes through redact.
import { spawn } from "node:child_process";
import type { AlertSettings, Config } from "../config/config.ts";
import { errorMessage } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { redact } from "../core/redact.ts";
import { undici } from "../core/undici.ts";
import type { RunHistory, RunRecord } from "../history/history.ts";
import { datasetFreshness } from "../schedule/freshness.ts";
import type { Schedule } from "../schedule/schedule.ts";
import { alertsEnabled, errorLine, freshnessAlerts, jobStarted, runEndAlert, skipAlert, type Alert } from "./alert.ts";
import { alertDocument, plural, webhookBody } from "./message.ts";

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
  const { request } = undici();
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
