// clean_up_latest_artifacts: delete every -latest artifact from the lake AWS_STORAGE
// selects, so that the next build starts without validation baselines. Each is backed
// up first (--restore puts them back); on production it needs --yes.
import { command, RUN_OPTIONS, RUN_OPTIONS_HELP } from "../lib/run/cli.ts";
import { formatBytes } from "../lib/table/format.ts";
import { parseKey } from "../lib/lake/lake.ts";
import {
  actedOnStorage, deleteAll, DESTRUCTIVE_HELP, DESTRUCTIVE_OPTIONS, destructiveRun, openTarget, reportRefused, safeguard, sweepTemporaries,
} from "../lib/maintenance/maintenance.ts";

await command(
  {
    usage: "usage: npx tsx scripts/clean_up_latest_artifacts.ts [--lake <storage>] [--yes] [--dry-run] [--restore [<stamp>]]",
    help: [
      "",
      "Deletes every <slug>-latest artifact from the S3 lake AWS_STORAGE (dev | prod) selects, after copying",
      "them into <lake>/_backup/<YYYY_MM_DD__HH_MM_SS>_clean_up_latest_artifacts/. Historized copies stay.",
      "The next run of each flow then writes without validating against a previous artifact.",
      "  --lake <storage>      act on this lake instead (local, file:<dir>, s3-bucket/dev, s3://<bucket>/<prefix>)",
      ...DESTRUCTIVE_HELP,
      RUN_OPTIONS_HELP,
    ],
    options: { lake: { type: "string" }, ...DESTRUCTIVE_OPTIONS, ...RUN_OPTIONS },
    allowPositionals: true,
  },
  (ctx) => destructiveRun(ctx, "clean_up_latest_artifacts", (run) => openTarget(run, actedOnStorage(run.config, ctx.values.lake), "--lake"), async (run, target) => {
    const { lake } = target;
    const listing = await lake.list();
    const latest = listing.artifacts.filter((a) => parseKey(a.key).latest);
    if (latest.length) await safeguard(run, target, { what: `delete ${latest.length} -latest artifacts`, replaced: latest.map((a) => a.key), backup: true });
    const verb = run.dryRun ? "would delete" : "deleted";
    await deleteAll(run, lake, latest, (a) => `${verb} ${a.key}`);
    run.say(`total: ${verb} ${latest.length} -latest artifacts in ${lake.label} (${formatBytes(latest.reduce((n, a) => n + a.size, 0))})`);
    await sweepTemporaries(run, lake);
    const refused = reportRefused(run, lake, listing);
    return { ok: !refused, error: refused };
  }),
);
