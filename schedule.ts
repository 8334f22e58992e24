// schedule.ts: the scheduler daemon. Triggers the jobs on their schedules (UTC), one at a time,
// each in its own process, and records every run; see the README, "Scheduler". Started as
// `node --import tsx schedule.ts` (not through npx, which does not pass SIGTERM on), so that a
// supervisor's SIGTERM reaches it and it stops only once its job's end is recorded.
import path from "node:path";
import { command } from "./lib/run/cli.ts";
import { renderTable } from "./lib/table/format.ts";
import { runDaemon } from "./lib/daemon/daemon.ts";
import { formatSpan, jobSpec, loadSchedule, nextRuns, utc } from "./lib/schedule/schedule.ts";

await command(
  {
    usage: "usage: node --import tsx schedule.ts [--schedule <file>] [--catch-up] | --list | --once <job>",
    help: [
      "",
      "Runs the jobs on their schedules (UTC) until SIGINT/SIGTERM/SIGHUP, one at a time, each as its own process",
      "(scripts/<job>.ts). A trigger that arrives while a job runs waits in a queue; one for a job already",
      "queued or running is recorded as skipped. On SIGINT/SIGTERM the running job may finish within",
      "DATA_PIPELINES_SCHEDULER_GRACE_SECONDS (default 300), then it is stopped and recorded as failed; exit 0.",
      "A second signal stops the job at once. Start the daemon with node --import tsx, not npx: npx does not",
      "pass SIGTERM on to it.",
      "Default schedule: clean_up_old_artifacts 0 22 * * *, build_all 15 13 * * *, build_frequent 45 * * * *.",
      "  --schedule <file>   JSON schedule replacing the defaults (or DATA_PIPELINES_SCHEDULE_FILE):",
      '                      {"build_all": {"cron": "15 13 * * *", "timeout": "6h"}, "build_frequent": "45 * * * *"}',
      "  --list              print each job with its next three run times, and exit",
      "  --once <job>        run one job now, as the daemon would, and exit with its status",
      "  --catch-up          at start, run once each job whose latest trigger was missed while the daemon was down",
      "  --scripts-dir <dir> for tests: run <dir>/<job>.ts instead of scripts/<job>.ts",
    ],
    options: {
      schedule: { type: "string" },
      list: { type: "boolean" },
      once: { type: "string" },
      "catch-up": { type: "boolean" },
      "scripts-dir": { type: "string" },
    },
    ownSignals: true, // runDaemon: the running job's grace period, its end recorded, then exit 0
  },
  async ({ values, config, log }) => {
    const scriptsDir = typeof values["scripts-dir"] === "string" ? path.resolve(values["scripts-dir"]) : undefined;
    const file = typeof values.schedule === "string" ? path.resolve(values.schedule) : config.scheduler.scheduleFile;
    // --once with stand-in scripts (tests) and no schedule file: the default jobs are not among them.
    const schedule = typeof values.once === "string" && scriptsDir && !file ? { source: "none", jobs: [] } : loadSchedule({ file, scriptsDir });

    if (values.list) {
      const now = new Date();
      const jobs = schedule.jobs.map((spec) => ({ ...spec, nextRuns: nextRuns(spec, 3, now).map((d) => d.toISOString()) }));
      if (values.json) {
        process.stdout.write(`${JSON.stringify(jobs.map(({ job, cron, timeoutMs, nextRuns }) => ({ job, cron, timeoutMs, nextRuns })), null, 2)}\n`);
      } else {
        process.stdout.write(`schedule: ${schedule.source}\n\n${renderTable(
          ["job", "cron (UTC)", "timeout", "next runs (UTC)"],
          jobs.map((j) => [j.job, j.cron, formatSpan(j.timeoutMs), j.nextRuns.map(utc).join(", ")]),
          80,
        )}\n`);
      }
      return 0;
    }

    if (typeof values.once === "string") {
      return runDaemon({ config, log, schedule, once: jobSpec(values.once, schedule, scriptsDir) });
    }
    return runDaemon({ config, log, schedule, catchUp: Boolean(values["catch-up"]) });
  },
);
