// status: the status page in the foreground, without the daemon (the daemon serves the same page
// itself on DATA_PIPELINES_STATUS_ADDR). Read-only; stops cleanly on SIGINT/SIGTERM.
import path from "node:path";
import { command } from "../lib/run/cli.ts";
import { RunHistory } from "../lib/history/history.ts";
import { logsDirOf } from "../lib/schedule/daemon_status.ts";
import { loadSchedule } from "../lib/schedule/schedule.ts";
import { checkStatusSettings, parseListen } from "../lib/config/status.ts";
import { startStatusServer } from "../lib/status/server.ts";
import { flagText } from "../lib/core/parse.ts";
import { UsageError } from "../lib/core/errors.ts";

await command(
  {
    usage: "usage: npx tsx scripts/status.ts [--addr <host:port>] [--schedule <file>]",
    help: [
      "",
      "Serves the status page (datasets and their freshness, runs, lineage, schedule, /healthz, /metrics) from the",
      "run history (DATA_PIPELINES_DB) and the lake, until SIGINT/SIGTERM. Read-only. The scheduler daemon serves the",
      "same page itself; this is for when it does not run, or elsewhere.",
      "  --addr <host:port>  where to listen (default DATA_PIPELINES_STATUS_ADDR, else 127.0.0.1:8411); off loopback",
      "                      it needs DATA_PIPELINES_STATUS_TOKEN, asked as a bearer token or basic-auth password",
      "  --schedule <file>   the daemon's schedule file, for freshness and next runs (default DATA_PIPELINES_SCHEDULE_FILE)",
    ],
    options: { addr: { type: "string" }, schedule: { type: "string" } },
    ownSignals: true, // closes the server, then exits 0
  },
  async ({ values, config, log }) => {
    const addr = flagText(values, "addr");
    const listen = addr !== undefined ? parseListen(addr, "--addr") : config.status.listen;
    if (!listen) throw new UsageError("the status page is off (DATA_PIPELINES_STATUS_ADDR=off): give --addr <host:port>");
    checkStatusSettings({ listen, token: config.status.token }, addr !== undefined ? "--addr" : undefined);
    const file = typeof values.schedule === "string" ? path.resolve(values.schedule) : config.scheduler.scheduleFile;
    const schedule = loadSchedule({ file });
    const history = RunHistory.open(config.db);
    const stop = new Promise<NodeJS.Signals>((resolve) => {
      for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(s, () => resolve(s));
    });
    try {
      const page = await startStatusServer({ config, history, schedule, logsDir: logsDirOf(config.db), log, listen });
      log.info(`status page on ${page.url}${config.status.token ? " (asks for DATA_PIPELINES_STATUS_TOKEN)" : ""}: run history ${config.db}, lake ${config.storage.label}`);
      const signal = await stop;
      await page.close();
      log.info(`${signal}: status page stopped`);
      return 0;
    } finally {
      history.close();
    }
  },
);
