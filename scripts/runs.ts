// runs: read the run history: recent runs, one flow's, failures, one run in detail, and whether
// the scheduler daemon is alive.
import { existsSync } from "node:fs";
import path from "node:path";
import { command } from "../lib/run/cli.ts";
import { UserError } from "../lib/core/errors.ts";
import { formatDuration, renderTable } from "../lib/table/format.ts";
import { datasetFreshness, describeAge, type DatasetFreshness } from "../lib/schedule/freshness.ts";
import { RunHistory, type RunRecord, type RunStatus } from "../lib/history/history.ts";
import { wholeFlag } from "../lib/core/parse.ts";
import { logsDirOf, schedulerStatus } from "../lib/schedule/daemon_status.ts";
import { loadSchedule, utc } from "../lib/schedule/schedule.ts";

await command(
  {
    usage: "usage: npx tsx scripts/runs.ts [--flow <slug>] [--failed] [--run <id>] [--limit <n>] [--status] [--json]",
    help: [
      "",
      "Shows the run history (DATA_PIPELINES_DB, default ./data/runs.sqlite), newest first.",
      "  --flow <slug>   only the runs of one flow (or build_all, clean_up_old_artifacts, ...)",
      "  --failed        only failed and crashed runs",
      "  --run <id>      one run in full: keys written, upstream keys read, notes, child runs",
      "  --limit <n>     how many runs (default 20)",
      "  --status        the scheduler daemon (alive, stale heartbeat, not running), each job's next and last run,",
      "                  and each dataset's last successful write, age and freshness (fresh, stale, never built)",
      "  --schedule <f>  with --status: the schedule file the daemon uses (default DATA_PIPELINES_SCHEDULE_FILE, else the defaults)",
      "  --json          JSON records on stdout instead of a table",
    ],
    options: {
      flow: { type: "string" },
      failed: { type: "boolean" },
      run: { type: "string" },
      limit: { type: "string" },
      status: { type: "boolean" },
      schedule: { type: "string" },
    },
  },
  async ({ values, config }) => {
    const limit = wholeFlag(values, "limit", 20, { min: 1 });
    const runId = values.run === undefined ? undefined : wholeFlag(values, "run", 0, { min: 1 });
    const history = RunHistory.open(config.db);
    try {
      if (values.status) {
        const file = typeof values.schedule === "string" ? path.resolve(values.schedule) : config.scheduler.scheduleFile;
        const schedule = loadSchedule({ file });
        const now = new Date();
        const status = schedulerStatus(history, schedule, now);
        const datasets = datasetFreshness(history, schedule, now);
        if (values.json) {
          const json = datasets.map(({ lastWrite, ...d }) => ({ ...d, lastSuccess: lastWrite?.endedAt ?? null, runId: lastWrite?.id ?? null }));
          process.stdout.write(`${JSON.stringify({ ...status, datasets: json }, null, 2)}\n`);
        } else {
          process.stdout.write(`${describeStatus(status)}\n\n${describeFreshness(datasets)}\n`);
        }
        return 0;
      }
      if (runId !== undefined) {
        const run = history.get(runId);
        if (!run) throw new UserError(`--run: no run ${values.run} in ${config.db}`);
        const children = history.list({ parentId: run.id, limit: 1000 }).reverse();
        const logFile = path.join(logsDirOf(config.db), `${run.id}-${run.flow}.log`);
        const log = existsSync(logFile) ? logFile : null;
        if (values.json) process.stdout.write(`${JSON.stringify({ ...run, log, children }, null, 2)}\n`);
        else process.stdout.write(`${describeRun(run, children, log)}\n`);
        return 0;
      }
      const statuses: RunStatus[] | undefined = values.failed ? ["failed", "crashed"] : undefined;
      const runs = history.list({ flow: values.flow as string | undefined, statuses, limit });
      if (values.json) {
        process.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
      } else if (runs.length === 0) {
        process.stdout.write(`no runs recorded in ${config.db}${values.flow ? ` for ${values.flow}` : ""}\n`);
      } else {
        process.stdout.write(`${renderTable(
          ["id", "flow", "trigger", "status", "started (UTC)", "duration", "rows", "cols", "tries", "parent", "error"],
          runs.map((r) => [
            String(r.id), r.flow, r.trigger, r.status, utc(r.startedAt), duration(r),
            r.rows?.toString() ?? "", r.columns?.toString() ?? "", String(r.attempts || ""), r.parentId?.toString() ?? "", r.error ?? "",
          ]),
          60,
        )}\n`);
      }
      return 0;
    } finally {
      history.close();
    }
  },
);

function duration(run: RunRecord): string {
  return run.endedAt ? formatDuration(Date.parse(run.endedAt) - Date.parse(run.startedAt)) : "";
}

function describeStatus(status: ReturnType<typeof schedulerStatus>): string {
  return [
    `scheduler: ${status.state}: ${status.detail}`,
    `schedule: ${status.schedule}`,
    "",
    renderTable(
      ["job", "cron (UTC)", "next run (UTC)", "last run", "status", "started (UTC)", "trigger"],
      status.jobs.map((j) => [
        j.job, j.cron, j.nextRun ? utc(j.nextRun) : "never", j.lastRun ? String(j.lastRun.id) : "-",
        j.lastRun?.status ?? "", j.lastRun ? utc(j.lastRun.startedAt) : "", j.lastRun?.trigger ?? "",
      ]),
    ),
  ].join("\n");
}

function describeFreshness(datasets: DatasetFreshness[]): string {
  const counts = new Map<string, number>();
  for (const d of datasets) counts.set(d.state, (counts.get(d.state) ?? 0) + 1);
  return [
    `datasets: ${[...counts].map(([state, n]) => `${n} ${state}`).join(", ")}`,
    "",
    renderTable(
      ["dataset", "last success (UTC)", "age", "expected within", "freshness", "run"],
      datasets.map((d) => [
        d.slug, d.lastWrite ? utc(d.lastWrite.endedAt ?? d.lastWrite.startedAt) : "", d.ageMs !== null ? describeAge(d.ageMs) : "",
        d.maxAgeMs !== null ? `${describeAge(d.maxAgeMs)} (${d.by})` : "", d.state, d.lastWrite ? String(d.lastWrite.id) : "",
      ]),
    ),
  ].join("\n");
}

function describeRun(run: RunRecord, children: RunRecord[], log: string | null): string {
  const lines = [
    `run ${run.id}: ${run.flow} (${run.trigger}) ${run.status}`,
    `  started ${run.startedAt}${run.endedAt ? `, ended ${run.endedAt} (${duration(run)})` : ""}, pid ${run.pid} on ${run.host}`,
    `  attempts ${run.attempts}, rows ${run.rows ?? "-"}, columns ${run.columns ?? "-"}${run.parentId ? `, parent run ${run.parentId}` : ""}`,
    `  wrote: ${run.writtenKeys.join(", ") || "-"}`,
    `  read: ${run.upstreamKeys.join(", ") || "-"}`,
    ...(run.deletedKeys.length ? [`  deleted: ${run.deletedKeys.join(", ")}`] : []),
    ...run.notes.map((n) => `  note: ${n}`),
    ...(run.error ? [`  error: ${run.error}`] : []),
    ...(log ? [`  log: ${log}`] : []),
  ];
  if (children.length) {
    lines.push("", renderTable(["id", "flow", "status", "duration", "rows", "error"],
      children.map((c) => [String(c.id), c.flow, c.status, duration(c), c.rows?.toString() ?? "", c.error ?? ""]), 60));
  }
  return lines.join("\n");
}
