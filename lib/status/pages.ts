// The status page's HTML, rendered on the server: plain links and a GET form (works without
// JavaScript; there is none), every value escaped and redacted (./html.ts).
import { formatBytes, formatDuration } from "../table/format.ts";
import { describeAge, type FreshnessState } from "../schedule/freshness.ts";
import type { RunRecord, RunStatus } from "../history/history.ts";
import { formatSpan, utc } from "../schedule/schedule.ts";
import type { SchedulerStatus } from "../schedule/daemon_status.ts";
import type { Column } from "../table/table.ts";
import type { DatasetRow } from "./data.ts";
import { html, trusted, type Html } from "./html.ts";
import { lineageSvg, rowsChart } from "./svg.ts";

const STYLE = trusted(`
:root { --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #6e7781; --line: #d0d7de; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1f2328; }
header { background: #24292f; color: #fff; padding: 10px 24px; display: flex; gap: 24px; align-items: center; flex-wrap: wrap; }
header a { color: #fff; text-decoration: none; padding: 4px 8px; border-radius: 6px; }
header a.here { background: #57606a; }
header .name { font-weight: 600; margin-right: 8px; }
header .daemon { margin-left: auto; font-size: 13px; }
main { padding: 16px 24px 40px; }
h1 { font-size: 20px; margin: 8px 0 12px; }
h2 { font-size: 16px; margin: 24px 0 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--bg); font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.when { white-space: nowrap; }
td.error { max-width: 560px; overflow-wrap: anywhere; }
tr.failed td, tr.crashed td { background: #ffebe9; }
tr.stale td { background: #fff8c5; }
.badge { display: inline-block; padding: 0 7px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff; white-space: nowrap; }
.badge.succeeded, .badge.fresh, .badge.alive, .badge.ok { background: var(--ok); }
.badge.failed, .badge.crashed, .badge.stale, .badge.failing { background: var(--bad); }
.badge.running { background: #0969da; }
.badge.skipped, .badge.never-built, .badge.not-checked, .badge.not-running, .badge.ran { background: var(--muted); }
.badge.stale-heartbeat { background: var(--warn); }
.error { color: var(--bad); }
.muted { color: var(--muted); }
.summary { display: flex; gap: 16px; margin: 4px 0 14px; flex-wrap: wrap; }
.summary span { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 4px 10px; }
form.filter { display: flex; gap: 12px; align-items: end; margin-bottom: 12px; flex-wrap: wrap; }
form.filter label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
pre { background: var(--bg); border: 1px solid var(--line); padding: 10px; overflow-x: auto; font-size: 12px; max-height: 600px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; }
dt { color: var(--muted); }
dd { margin: 0; }
svg text { font: 12px system-ui, sans-serif; fill: #1f2328; }
svg .axis { stroke: var(--line); }
svg .series { fill: none; stroke: #0969da; stroke-width: 2; }
svg .point { fill: #0969da; }
svg.lineage { max-width: 100%; height: auto; }
svg .edge { fill: none; stroke: #8c959f; stroke-width: 1.2; }
svg .node rect { stroke: #57606a; stroke-width: 1; }
svg .node.fresh rect { fill: #dafbe1; stroke: var(--ok); }
svg .node.stale rect { fill: #ffebe9; stroke: var(--bad); }
svg .node.never-built rect, svg .node.not-checked rect { fill: #eaeef2; }
svg .node:hover rect { stroke-width: 2.5; }
.legend span { margin-right: 12px; }
`);

export interface PageContext {
  scheduler: SchedulerStatus;
  now: Date;
}

const NAV: [string, string][] = [["/", "Datasets"], ["/runs", "Runs"], ["/lineage", "Lineage"], ["/schedule", "Schedule"]];

const toneOf = (text: string) => text.replace(/\s+/g, "-");

export function badge(text: string): Html {
  return html`<span class="badge ${toneOf(text)}">${text}</span>`;
}

export function layout(title: string, here: string, ctx: PageContext, body: Html): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · data-pipelines</title><style>${STYLE}</style></head>
<body><header><span class="name">data-pipelines</span>
${NAV.map(([href, name]) => html`<a href="${href}" class="${href === here ? "here" : ""}">${name}</a>`)}
<span class="daemon">scheduler ${badge(ctx.scheduler.state)} · ${utc(ctx.now)} UTC</span></header>
<main>${body}</main></body></html>
`.text;
}

const when = (iso: string | null | undefined) => (iso ? `${utc(iso)}` : "");
const durationOf = (r: RunRecord) => (r.endedAt ? formatDuration(Date.parse(r.endedAt) - Date.parse(r.startedAt)) : "");
const count = (n: number | null | undefined) => (n === null || n === undefined ? "" : n.toLocaleString("en-US"));
const runLink = (r: RunRecord | undefined) => (r ? html`<a href="/runs/${r.id}">#${r.id}</a> ${badge(r.status)}` : html`<span class="muted">none</span>`);

function freshnessCell(d: DatasetRow): Html {
  const expected = d.maxAgeMs !== null ? html`<span class="muted"> within ${describeAge(d.maxAgeMs)} (${d.by})</span>` : "";
  return html`${badge(d.state)}${expected}`;
}

export function datasetsPage(ctx: PageContext, rows: DatasetRow[], lakeError: string | undefined): string {
  const counts = new Map<FreshnessState, number>();
  for (const r of rows) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
  const body = html`<h1>Datasets</h1>
<div class="summary"><span>${rows.length} datasets</span>${[...counts].map(([state, n]) => html`<span>${badge(state)} ${n}</span>`)}</div>
${lakeError ? html`<p class="error">${lakeError}</p>` : ""}
<table class="datasets"><thead><tr><th>dataset</th><th>last success (UTC)</th><th class="num">age</th><th>freshness</th><th class="num">rows</th><th class="num">columns</th><th class="num">size</th><th>last run</th></tr></thead>
<tbody>${rows.map((d) => html`<tr class="${toneOf(d.state)}" data-slug="${d.slug}">
<td><a href="/datasets/${d.slug}">${d.slug}</a></td>
<td class="when">${when(d.lastWrite?.endedAt)}</td>
<td class="num">${d.ageMs !== null ? describeAge(d.ageMs) : ""}</td>
<td>${freshnessCell(d)}</td>
<td class="num">${count(d.lastWrite?.rows)}</td>
<td class="num">${count(d.lastWrite?.columns)}</td>
<td class="num">${d.artifact ? formatBytes(d.artifact.size) : ""}</td>
<td class="error">${runLink(d.lastRun)}${d.lastRun && d.lastRun.status !== "succeeded" && d.lastRun.error ? html` ${d.lastRun.error}` : ""}</td>
</tr>`)}</tbody></table>`;
  return layout("Datasets", "/", ctx, body);
}

export function runsTable(runs: RunRecord[], options: { flow?: boolean } = {}): Html {
  if (runs.length === 0) return html`<p class="muted">no runs</p>`;
  return html`<table class="runs"><thead><tr><th>run</th>${options.flow === false ? "" : html`<th>flow</th>`}<th>trigger</th><th>status</th><th>started (UTC)</th><th class="num">duration</th><th class="num">rows</th><th>error</th></tr></thead>
<tbody>${runs.map((r) => html`<tr class="${r.status}" data-run="${r.id}">
<td><a href="/runs/${r.id}">#${r.id}</a></td>${options.flow === false ? "" : html`<td><a href="/runs?flow=${encodeURIComponent(r.flow)}">${r.flow}</a></td>`}
<td class="when">${r.trigger}${r.parentId !== null ? html` <a href="/runs/${r.parentId}" class="muted">of #${r.parentId}</a>` : ""}</td>
<td>${badge(r.status)}</td><td class="when">${when(r.startedAt)}</td><td class="num">${durationOf(r)}</td><td class="num">${count(r.rows)}</td>
<td class="error">${r.error ?? ""}</td></tr>`)}</tbody></table>`;
}

export function datasetPage(ctx: PageContext, d: DatasetRow, details: {
  runs: RunRecord[];
  points: { at: string; rows: number; runId: number }[];
  schema: { columns?: Column[]; rowCount?: number; nullCounts?: number[]; error?: string };
  upstream: string[];
  downstream: string[];
}): string {
  const links = (slugs: string[]) => (slugs.length ? slugs.map((s, i) => html`${i ? ", " : ""}<a href="/datasets/${s}">${s}</a>`) : html`<span class="muted">none</span>`);
  const { schema } = details;
  const body = html`<h1>${d.slug}</h1>
<dl>
<dt>freshness</dt><dd>${freshnessCell(d)}</dd>
<dt>last success</dt><dd>${d.lastWrite ? html`${when(d.lastWrite.endedAt)} UTC, ${describeAge(d.ageMs!)} ago, <a href="/runs/${d.lastWrite.id}">run #${d.lastWrite.id}</a>: ${count(d.lastWrite.rows)} rows × ${count(d.lastWrite.columns)} columns` : html`<span class="muted">never</span>`}</dd>
<dt>artifact</dt><dd>${d.artifact ? `${d.artifact.key}, ${formatBytes(d.artifact.size)}, written ${utc(d.artifact.lastModified.toISOString())} UTC` : html`<span class="muted">not in the lake (or the lake could not be read)</span>`}</dd>
<dt>reads (upstream)</dt><dd>${links(details.upstream)}</dd>
<dt>read by (downstream)</dt><dd>${links(details.downstream)}</dd>
</dl>
<h2>Rows over time</h2>
${rowsChart(details.points)}
<h2>Schema of ${d.slug}-latest</h2>
${schema.columns ? html`<table class="schema"><thead><tr><th>column</th><th>type</th><th class="num">nulls</th></tr></thead><tbody>${schema.columns.map((c, i) => html`<tr><td>${c.name}</td><td>${c.type}</td><td class="num">${count(schema.nullCounts?.[i])}</td></tr>`)}</tbody></table>
<p class="muted">${count(schema.rowCount)} rows</p>` : html`<p class="muted">${schema.error ?? "unknown"}</p>`}
<h2>Recent runs</h2>
${runsTable(details.runs, { flow: false })}
<p><a href="/runs?flow=${encodeURIComponent(d.slug)}">all runs of ${d.slug}</a></p>`;
  return layout(d.slug, "/", ctx, body);
}

const STATUSES: RunStatus[] = ["running", "succeeded", "failed", "crashed", "skipped"];

export function runsPage(ctx: PageContext, runs: RunRecord[], filter: { flow?: string; status?: string; limit: number }, flows: string[]): string {
  const option = (value: string, selected: string | undefined, label = value) => html`<option value="${value}"${selected === value ? trusted(" selected") : ""}>${label}</option>`;
  const body = html`<h1>Runs</h1>
<form class="filter" method="get" action="/runs">
<label>flow <select name="flow">${option("", filter.flow, "all flows")}${flows.map((f) => option(f, filter.flow))}</select></label>
<label>status <select name="status">${option("", filter.status, "any status")}${STATUSES.map((s) => option(s, filter.status))}</select></label>
<label>how many <input name="limit" type="number" min="1" max="1000" value="${filter.limit}"></label>
<button type="submit">Filter</button>
</form>
${runsTable(runs)}`;
  return layout("Runs", "/runs", ctx, body);
}

export function runPage(ctx: PageContext, run: RunRecord, children: RunRecord[], log: string | undefined): string {
  const keys = (list: string[]) => (list.length ? html`<ul>${list.map((k) => html`<li><code>${k}</code></li>`)}</ul>` : html`<span class="muted">none</span>`);
  const body = html`<h1>Run #${run.id}: ${run.flow} ${badge(run.status)}</h1>
<dl>
<dt>flow</dt><dd><a href="/runs?flow=${encodeURIComponent(run.flow)}">${run.flow}</a></dd>
<dt>trigger</dt><dd>${run.trigger}${run.parentId !== null ? html`, part of <a href="/runs/${run.parentId}">run #${run.parentId}</a>` : ""}</dd>
<dt>started</dt><dd>${when(run.startedAt)} UTC</dd>
<dt>ended</dt><dd>${run.endedAt ? html`${when(run.endedAt)} UTC (${durationOf(run)})` : html`<span class="muted">not yet</span>`}</dd>
<dt>attempts</dt><dd>${run.attempts}</dd>
${children.length ? html`<dt>flows</dt><dd>${children.filter((c) => c.status === "succeeded").length} of ${children.length} succeeded</dd>`
    : run.rows !== null ? html`<dt>rows × columns</dt><dd>${count(run.rows)} × ${count(run.columns)}</dd>` : ""}
<dt>process</dt><dd>pid ${run.pid ?? ""} on ${run.host ?? ""}</dd>
${run.error ? html`<dt>error</dt><dd class="error">${run.error}</dd>` : ""}
<dt>keys written</dt><dd>${keys(run.writtenKeys)}</dd>
<dt>keys read</dt><dd>${keys(run.upstreamKeys)}</dd>
${run.deletedKeys.length ? html`<dt>keys deleted</dt><dd>${keys(run.deletedKeys)}</dd>` : ""}
<dt>notes</dt><dd>${run.notes.length ? html`<ul>${run.notes.map((n) => html`<li>${n}</li>`)}</ul>` : html`<span class="muted">none</span>`}</dd>
</dl>
${children.length ? html`<h2>Flows of this run</h2>${runsTable(children)}` : ""}
<h2>Log</h2>
${log === undefined ? html`<p class="muted">no log file (only the scheduler's jobs have one: data/logs/&lt;run id&gt;-&lt;job&gt;.log)</p>` : html`<pre class="log">${log}</pre>`}`;
  return layout(`Run #${run.id}`, "/runs", ctx, body);
}

export function lineagePage(ctx: PageContext, rows: DatasetRow[], upstreams: Map<string, string[]>): string {
  const nodes = rows.map((d) => ({
    slug: d.slug,
    upstream: upstreams.get(d.slug) ?? [],
    tone: toneOf(d.state),
    title: `${d.slug}: ${d.state}${d.ageMs !== null ? `, written ${describeAge(d.ageMs)} ago` : ""}${d.maxAgeMs !== null ? `, expected within ${describeAge(d.maxAgeMs)}` : ""}`,
  }));
  const body = html`<h1>Lineage</h1>
<p class="legend">${(["fresh", "stale", "never built", "not checked"] as const).map((s) => html`<span>${badge(s)}</span>`)} Each dataset is drawn right of the datasets it reads (its flow's declared <code>from</code>); click one for its page.</p>
${lineageSvg(nodes, (slug) => `/datasets/${slug}`)}`;
  return layout("Lineage", "/lineage", ctx, body);
}

export function schedulePage(ctx: PageContext, datasetsByJob: Map<string, number>, alerts: {
  targets: string;
  states: { subject: string; state: string; since: string; runId: number | null }[];
}): string {
  const s = ctx.scheduler;
  const troubled = alerts.states.filter((a) => a.state === "failing" || a.state === "stale" || a.state === "skipped");
  const body = html`<h1>Schedule</h1>
<dl>
<dt>scheduler</dt><dd>${badge(s.state)} ${s.detail}</dd>
${s.holder ? html`<dt>last heartbeat</dt><dd>${when(s.holder.heartbeatAt)} UTC</dd>` : ""}
<dt>schedule</dt><dd>${s.schedule}</dd>
<dt>alerts</dt><dd>${alerts.targets}</dd>
</dl>
<h2>Jobs</h2>
<table class="jobs"><thead><tr><th>job</th><th>cron (UTC)</th><th>timeout</th><th>next run (UTC)</th><th>last run</th><th>started (UTC)</th><th class="num">datasets refreshed</th></tr></thead>
<tbody>${s.jobs.map((j) => html`<tr class="${j.lastRun?.status ?? ""}" data-job="${j.job}"><td>${j.job}</td><td><code>${j.cron}</code></td><td>${formatSpan(j.timeoutMs)}</td>
<td>${j.nextRun ? utc(j.nextRun) : "never"}</td><td>${runLink(j.lastRun ?? undefined)}</td><td>${when(j.lastRun?.startedAt)}</td><td class="num">${datasetsByJob.get(j.job) ?? 0}</td></tr>`)}</tbody></table>
<h2>Alerting now</h2>
${troubled.length ? html`<table><thead><tr><th>what</th><th>state</th><th>since (UTC)</th><th>run</th></tr></thead><tbody>${troubled.map((a) => html`<tr><td>${a.subject}</td><td>${badge(a.state)}</td><td>${when(a.since)}</td><td>${a.runId !== null ? html`<a href="/runs/${a.runId}">#${a.runId}</a>` : ""}</td></tr>`)}</tbody></table>` : html`<p class="muted">nothing failing, stale or skipped (as far as alerts know)</p>`}
<p class="muted">Machine-readable: <a href="/healthz">/healthz</a> · <a href="/metrics">/metrics</a></p>`;
  return layout("Schedule", "/schedule", ctx, body);
}

export function messagePage(ctx: PageContext, title: string, message: string): string {
  return layout(title, "", ctx, html`<h1>${title}</h1><p>${message}</p><p><a href="/">Datasets</a></p>`);
}
