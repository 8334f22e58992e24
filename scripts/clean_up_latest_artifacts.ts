// clean_up_latest_artifacts: delete every -latest artifact from the lake AWS_STORAGE
// selects, so that the next build starts without validation baselines.
import { command, RUN_OPTIONS, RUN_OPTIONS_HELP } from "../lib/cli.ts";
import { formatBytes } from "../lib/format.ts";
import { parseKey } from "../lib/lake.ts";
import { actedOnStorage, deleteAll, MAINTENANCE_HELP, maintenanceRun, reportRefused } from "../lib/maintenance.ts";

await command(
  {
    usage: "usage: npx tsx scripts/clean_up_latest_artifacts.ts [--lake <storage>] [--dry-run]",
    help: [
      "",
      "Deletes every <slug>-latest artifact from the S3 lake AWS_STORAGE (dev | prod) selects.",
      "Historized copies stay. The next run of each flow then writes without validating against a previous artifact.",
      "  --lake <storage>      act on this lake instead (local, file:<dir>, s3-bucket/dev, s3://<bucket>/<prefix>)",
      ...MAINTENANCE_HELP,
      RUN_OPTIONS_HELP,
    ],
    options: { lake: { type: "string" }, "dry-run": { type: "boolean" }, ...RUN_OPTIONS },
  },
  (ctx) => maintenanceRun("clean_up_latest_artifacts", ctx, async (run) => {
    const lake = await run.lake(actedOnStorage(run.config, ctx.values.lake));
    const listing = await lake.list();
    const latest = listing.artifacts.filter((a) => parseKey(a.key).latest);
    const verb = run.dryRun ? "would delete" : "deleted";
    await deleteAll(run, lake, latest, (a) => `${verb} ${a.key}`);
    run.say(`total: ${verb} ${latest.length} -latest artifacts in ${lake.label} (${formatBytes(latest.reduce((n, a) => n + a.size, 0))})`);
    const refused = reportRefused(run, lake, listing);
    return { ok: !refused, error: refused };
  }),
);
