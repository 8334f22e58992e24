// What an alert looks like to its receivers: one line of text, a Slack message, a JSON document
// (every string redacted).
import { redact } from "../core/redact.ts";
import type { Alert, AlertItem } from "./alert.ts";

export function plural(n: number, word: string): string {
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

