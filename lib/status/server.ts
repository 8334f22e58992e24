// The status page's server (node:http, read-only, GET and HEAD only): served by the daemon when
// DATA_PIPELINES_STATUS_ADDR is set (default 127.0.0.1:8411), or by `scripts/status.ts`. Bound to
// loopback unless DATA_PIPELINES_STATUS_TOKEN is set: then every request must carry it, as a bearer
// token or as the password of basic auth (a browser asks for it).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Config } from "../config/config.ts";
import { errorMessage, UserError } from "../core/errors.ts";
import { datasetsOfJob } from "../schedule/freshness.ts";
import type { RunHistory, RunStatus } from "../history/history.ts";
import type { Logger } from "../core/log.ts";
import { redact } from "../core/redact.ts";
import type { Schedule } from "../schedule/schedule.ts";
import { checkStatusSettings } from "../config/status.ts";
import { authorized } from "./access.ts";
import { StatusData } from "./data.ts";
import { datasetPage, datasetsPage, lineagePage, messagePage, runPage, runsPage, schedulePage, type PageContext } from "./pages.ts";

export interface StatusServer {
  /** `http://127.0.0.1:8411` */
  url: string;
  server: Server;
  close(): Promise<void>;
}

export interface StatusServerOptions {
  config: Config;
  history: RunHistory;
  schedule: Schedule;
  logsDir: string;
  log: Logger;
  /** Where to listen; the configuration's by default. */
  listen?: { host: string; port: number };
  now?: () => Date;
}

const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

/** Listen; resolves once it does. A port in use (or any listen error) is a UserError naming the address. */
export async function startStatusServer(options: StatusServerOptions): Promise<StatusServer> {
  const status = { ...options.config.status, listen: options.listen ?? options.config.status.listen };
  checkStatusSettings(status);
  if (!status.listen) throw new UserError("the status page is off (DATA_PIPELINES_STATUS_ADDR=off)");
  const { host, port } = status.listen;
  const data = new StatusData({ history: options.history, schedule: options.schedule, config: options.config, logsDir: options.logsDir, now: options.now });
  const server = createServer((request, response) => {
    handle(request, response, data, options, status.token).catch((error: unknown) => {
      options.log.error(`status page: ${request.method} ${redact(request.url ?? "")}: ${errorMessage(error)}`);
      if (!response.headersSent) send(response, 500, "text/plain; charset=utf-8", `error: ${redact(errorMessage(error))}\n`);
      else response.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      const why = error.code === "EADDRINUSE" ? "the address is in use (another daemon or status page?)" : error.code === "EACCES" ? "not allowed (a port below 1024?)" : errorMessage(error);
      reject(new UserError(`status page: cannot listen on ${hostPort(host, port)}: ${why} (DATA_PIPELINES_STATUS_ADDR)`));
    });
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const bound = typeof address === "object" && address ? address.port : port;
  return {
    url: `http://${hostPort(host, bound)}`,
    server,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

function hostPort(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

function send(response: ServerResponse, code: number, type: string, body: string, headers: Record<string, string> = {}): void {
  response.writeHead(code, { "content-type": type, ...SECURITY_HEADERS, ...headers });
  response.end(response.req.method === "HEAD" ? undefined : body);
}

async function handle(request: IncomingMessage, response: ServerResponse, data: StatusData, options: StatusServerOptions, token: string | undefined): Promise<void> {
  if (token && !authorized(request.headers.authorization, token)) {
    send(response, 401, "text/plain; charset=utf-8", "the status page needs its token (DATA_PIPELINES_STATUS_TOKEN): a bearer token, or the password of basic auth\n", {
      "www-authenticate": 'Basic realm="data-pipelines status", charset="UTF-8"',
    });
    return;
  }
  if (request.method !== "GET" && request.method !== "HEAD") {
    send(response, 405, "text/plain; charset=utf-8", "read-only: GET and HEAD only\n", { allow: "GET, HEAD" });
    return;
  }
  const url = new URL(request.url ?? "/", "http://status.invalid");
  const page = (code: number, html: string) => send(response, code, "text/html; charset=utf-8", html);
  const ctx = (): PageContext => ({ scheduler: data.scheduler(), now: data.now() });
  const parts = url.pathname.split("/").filter(Boolean);

  if (url.pathname === "/healthz") {
    const { code, body } = data.health();
    return send(response, code, "application/json", `${JSON.stringify(body)}\n`);
  }
  if (url.pathname === "/metrics") return send(response, 200, "text/plain; version=0.0.4; charset=utf-8", data.metrics());
  if (url.pathname === "/") {
    const { rows, lakeError } = await data.datasets();
    return page(200, datasetsPage(ctx(), rows, lakeError));
  }
  if (parts[0] === "datasets" && parts.length === 2) {
    const slug = parts[1]!;
    const { rows } = await data.datasets();
    const row = rows.find((d) => d.slug === slug);
    if (!row) return page(404, messagePage(ctx(), "Not found", `no dataset ${slug}`));
    const lineage = data.lineage();
    const succeeded = data.history.list({ flow: slug, statuses: ["succeeded"], limit: 60 }).filter((r) => r.rows !== null && r.writtenKeys.length > 0);
    return page(200, datasetPage(ctx(), row, {
      runs: data.history.list({ flow: slug, limit: 20 }),
      points: succeeded.reverse().map((r) => ({ at: r.endedAt ?? r.startedAt, rows: r.rows!, runId: r.id })),
      schema: await data.schema(slug),
      upstream: lineage.get(slug) ?? [],
      downstream: [...lineage].filter(([, ups]) => ups.includes(slug)).map(([s]) => s),
    }));
  }
  if (url.pathname === "/runs") {
    const flow = url.searchParams.get("flow") || undefined;
    const status = url.searchParams.get("status") || undefined;
    const limitText = url.searchParams.get("limit") || "100";
    const limit = /^[0-9]{1,4}$/.test(limitText) ? Math.min(Math.max(Number(limitText), 1), 1000) : 100;
    const statuses = status && ["running", "succeeded", "failed", "crashed", "skipped"].includes(status) ? [status as RunStatus] : undefined;
    const runs = data.history.list({ flow, statuses, limit });
    const flows = [...new Set(data.history.runCounts().map((c) => c.flow))].sort();
    return page(200, runsPage(ctx(), runs, { flow, status: statuses?.[0], limit }, flows));
  }
  if (parts[0] === "runs" && parts.length === 2) {
    const id = /^[0-9]{1,15}$/.test(parts[1]!) ? Number(parts[1]) : NaN;
    const run = Number.isSafeInteger(id) ? data.history.get(id) : undefined;
    if (!run) return page(404, messagePage(ctx(), "Not found", `no run ${parts[1]}`));
    return page(200, runPage(ctx(), run, data.history.list({ parentId: run.id, limit: 1000 }).reverse(), data.logOf(run)));
  }
  if (url.pathname === "/lineage") {
    const { rows } = await data.datasets();
    return page(200, lineagePage(ctx(), rows, data.lineage()));
  }
  if (url.pathname === "/schedule") {
    const alert = options.config.alert;
    const targets = [
      alert.webhooks.length ? `${alert.webhooks.length} webhook(s)` : "",
      alert.command !== undefined ? "a command" : "",
    ].filter(Boolean).join(" and ");
    return page(200, schedulePage(ctx(), new Map(options.schedule.jobs.map((j) => [j.job, datasetsOfJob(j.job).length])), {
      targets: targets ? `sent to ${targets} (DATA_PIPELINES_ALERT_WEBHOOK, DATA_PIPELINES_ALERT_COMMAND)` : "off: no DATA_PIPELINES_ALERT_WEBHOOK or DATA_PIPELINES_ALERT_COMMAND",
      states: data.history.alertStates(),
    }));
  }
  return page(404, messagePage(ctx(), "Not found", `nothing at ${url.pathname}`));
}
