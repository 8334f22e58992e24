// alert: send a test alert to every target (DATA_PIPELINES_ALERT_WEBHOOK, DATA_PIPELINES_ALERT_COMMAND),
// to check the configuration before something breaks. Exit 0 when every target took it, 1 otherwise.
import { hostname } from "node:os";
import { alertsEnabled } from "../lib/alerts/alert.ts";
import { deliver } from "../lib/alerts/send.ts";
import { command } from "../lib/run/cli.ts";
import { UsageError, UserError } from "../lib/core/errors.ts";

await command(
  {
    usage: "usage: npx tsx scripts/alert.ts --test",
    help: [
      "",
      "Sends a test alert to every target: each URL of DATA_PIPELINES_ALERT_WEBHOOK (a Slack incoming webhook gets",
      "a Slack message; any other URL a JSON document) and DATA_PIPELINES_ALERT_COMMAND (the JSON on stdin), each",
      "retried within DATA_PIPELINES_ALERT_TIMEOUT_SECONDS (default 20). Prints one line; exit 0 when every target",
      "took it, 1 otherwise. The URLs and the command are secrets: targets are named by number and host.",
      "  --test   send the test alert",
    ],
    options: { test: { type: "boolean" } },
  },
  async ({ values, config }) => {
    if (!values.test) throw new UsageError("nothing to do: --test sends a test alert");
    if (!alertsEnabled(config.alert)) throw new UserError("no alert target: set DATA_PIPELINES_ALERT_WEBHOOK or DATA_PIPELINES_ALERT_COMMAND");
    const deliveries = await deliver({
      event: "test", subject: "test", runId: null, status: "test", error: null, time: new Date().toISOString(), host: hostname(),
    }, config.alert);
    const took = deliveries.filter((d) => d.ok).map((d) => d.target);
    const failed = deliveries.filter((d) => !d.ok).map((d) => `${d.target}: ${d.error} (${d.attempts} attempt${d.attempts === 1 ? "" : "s"})`);
    if (failed.length) throw new UserError(`test alert not delivered to ${failed.join("; ")}${took.length ? `; delivered to ${took.join(", ")}` : ""}`);
    process.stdout.write(`test alert delivered to ${took.join(", ")}\n`);
    return 0;
  },
);
