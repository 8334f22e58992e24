// clean_up_old_artifacts: delete the historized artifacts older than the retention
// (7 days by last-modified time) from the lake AWS_STORAGE selects; never a -latest.
import { command, RUN_OPTIONS, RUN_OPTIONS_HELP } from "../lib/cli.ts";
import { UserError } from "../lib/errors.ts";
import { formatBytes } from "../lib/format.ts";
import { parseKey } from "../lib/lake.ts";
import { actedOnStorage, deleteAll, MAINTENANCE_HELP, maintenanceRun, reportRefused } from "../lib/maintenance.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

await command(
  {
    usage: "usage: npx tsx scripts/clean_up_old_artifacts.ts [--days <n>] [--lake <storage>] [--dry-run]",
    help: [
      "",
      "Deletes every <slug>-<YYYY_MM_DD__HH_MM_SS> artifact last modified more than --days ago (default 7)",
      "from the S3 lake AWS_STORAGE (dev | prod) selects. A -latest artifact is never deleted.",
      "  --days <n>            retention in days",
      "  --lake <storage>      act on this lake instead (local, file:<dir>, s3-bucket/dev, s3://<bucket>/<prefix>)",
      ...MAINTENANCE_HELP,
      RUN_OPTIONS_HELP,
    ],
    options: { days: { type: "string" }, lake: { type: "string" }, "dry-run": { type: "boolean" }, ...RUN_OPTIONS },
  },
  (ctx) => maintenanceRun("clean_up_old_artifacts", ctx, async (run) => {
    const days = ctx.values.days === undefined ? 7 : Number(ctx.values.days);
    if (!Number.isFinite(days) || days < 0) throw new UserError(`--days: "${ctx.values.days}" is not a number of days`);
    const lake = await run.lake(actedOnStorage(run.config, ctx.values.lake));
    const cutoff = new Date(Date.now() - days * DAY_MS);
    const listing = await lake.list();
    const old = listing.artifacts.filter((a) => !parseKey(a.key).latest && a.lastModified < cutoff);
    const verb = run.dryRun ? "would delete" : "deleted";
    await deleteAll(run, lake, old, (a) => `${verb} ${a.key} (last modified ${a.lastModified.toISOString()})`);
    const bytes = old.reduce((n, a) => n + a.size, 0);
    run.say(`total: ${verb} ${old.length} of ${listing.artifacts.length} artifacts in ${lake.label} (${formatBytes(bytes)}), older than ${cutoff.toISOString()}`);
    const refused = reportRefused(run, lake, listing);
    return { ok: !refused, error: refused };
  }),
);
