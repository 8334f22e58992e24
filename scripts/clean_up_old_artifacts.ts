// clean_up_old_artifacts: delete the historized artifacts older than the retention
// (7 days by last-modified time) from the lake AWS_STORAGE selects; never a -latest.
// The daily run deletes a small share, unattended; deleting more (more than half of the
// historized artifacts, or every copy of a dataset) backs them up first and, on
// production, needs --yes.
import { command, RUN_OPTIONS, RUN_OPTIONS_HELP } from "../lib/run/cli.ts";
import { formatBytes } from "../lib/table/format.ts";
import { parseKey, type ArtifactInfo } from "../lib/lake/lake.ts";
import {
  actedOnStorage, deleteAll, DESTRUCTIVE_HELP, DESTRUCTIVE_OPTIONS, destructiveRun, openTarget, reportRefused, safeguard, sweepTemporaries,
} from "../lib/maintenance/maintenance.ts";
import { wholeFlag } from "../lib/core/parse.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

await command(
  {
    usage: "usage: npx tsx scripts/clean_up_old_artifacts.ts [--days <n>] [--lake <storage>] [--yes] [--dry-run] [--restore [<stamp>]]",
    help: [
      "",
      "Deletes every <slug>-<YYYY_MM_DD__HH_MM_SS> artifact last modified more than --days ago (default 7)",
      "from the S3 lake AWS_STORAGE (dev | prod) selects. A -latest artifact is never deleted.",
      "Deleting more than half of the historized artifacts, or every copy of a dataset, first backs them up",
      "into <lake>/_backup/<YYYY_MM_DD__HH_MM_SS>_clean_up_old_artifacts/ and, on production, needs --yes.",
      "  --days <n>            retention in whole days (0: every historized artifact)",
      "  --lake <storage>      act on this lake instead (local, file:<dir>, s3-bucket/dev, s3://<bucket>/<prefix>)",
      ...DESTRUCTIVE_HELP,
      RUN_OPTIONS_HELP,
    ],
    options: { days: { type: "string" }, lake: { type: "string" }, ...DESTRUCTIVE_OPTIONS, ...RUN_OPTIONS },
    allowPositionals: true,
  },
  (ctx) => {
    const days = wholeFlag(ctx.values, "days", 7);
    return destructiveRun(ctx, "clean_up_old_artifacts", (run) => openTarget(run, actedOnStorage(run.config, ctx.values.lake), "--lake"), async (run, target) => {
      const { lake } = target;
      const cutoff = new Date(Date.now() - days * DAY_MS);
      const listing = await lake.list();
      const historized = listing.artifacts.filter((a) => !parseKey(a.key).latest);
      const old = historized.filter((a) => a.lastModified < cutoff);
      const large = largeShare(old, historized);
      if (large) await safeguard(run, target, { what: `delete ${old.length} of ${historized.length} historized artifacts, ${large}`, replaced: old.map((a) => a.key), backup: true });
      const verb = run.dryRun ? "would delete" : "deleted";
      await deleteAll(run, lake, old, (a) => `${verb} ${a.key} (last modified ${a.lastModified.toISOString()})`);
      const bytes = old.reduce((n, a) => n + a.size, 0);
      run.say(`total: ${verb} ${old.length} of ${listing.artifacts.length} artifacts in ${lake.label} (${formatBytes(bytes)}), older than ${cutoff.toISOString()}`);
      await sweepTemporaries(run, lake);
      const refused = reportRefused(run, lake, listing);
      return { ok: !refused, error: refused };
    });
  },
);

/** Why deleting `old` is more than the routine daily share, or undefined when it is not. */
function largeShare(old: ArtifactInfo[], historized: ArtifactInfo[]): string | undefined {
  if (!old.length) return undefined;
  if (old.length * 2 > historized.length) return "more than half of them";
  const copies = (list: ArtifactInfo[]) => {
    const count = new Map<string, number>();
    for (const a of list) count.set(parseKey(a.key).slug, (count.get(parseKey(a.key).slug) ?? 0) + 1);
    return count;
  };
  const all = copies(historized);
  const gone = [...copies(old)].filter(([slug, n]) => all.get(slug) === n).map(([slug]) => slug);
  return gone.length ? `every copy of ${gone.join(", ")}` : undefined;
}
