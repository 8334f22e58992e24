// fetch_s3_artifacts: copy every -latest artifact of the S3 lake AWS_STORAGE selects into
// the lake DATA_PIPELINES_RESULT_STORAGE selects (local by default), each checked first.
import { decodeArtifactSummary } from "../lib/artifact.ts";
import { command, RUN_OPTIONS, RUN_OPTIONS_HELP } from "../lib/cli.ts";
import { errorMessage, UserError } from "../lib/errors.ts";
import { formatBytes } from "../lib/format.ts";
import { parseKey } from "../lib/lake.ts";
import { actedOnStorage, MAINTENANCE_HELP, maintenanceRun, reportRefused } from "../lib/maintenance.ts";

await command(
  {
    usage: "usage: npx tsx scripts/fetch_s3_artifacts.ts [--from <storage>] [--dry-run]",
    help: [
      "",
      "Copies each <slug>-latest from the S3 lake AWS_STORAGE (dev | prod) selects into the lake",
      "DATA_PIPELINES_RESULT_STORAGE selects (default ./data/lake), after checking that it decodes.",
      "An artifact that does not decode is reported and not written; the others are copied.",
      "  --from <storage>      copy from this lake instead (s3-bucket/prod, s3://<bucket>/<prefix>, file:<dir>)",
      ...MAINTENANCE_HELP,
      RUN_OPTIONS_HELP,
    ],
    options: { from: { type: "string" }, "dry-run": { type: "boolean" }, ...RUN_OPTIONS },
    showConfig: true,
  },
  (ctx) => maintenanceRun("fetch_s3_artifacts", ctx, async (run) => {
    const source = await run.lake(actedOnStorage(run.config, ctx.values.from));
    const target = await run.lake(run.config.storage);
    if (source.label === target.label) throw new UserError(`${source.label} is both the source and the target: nothing to fetch`);
    const listing = await source.list();
    const latest = listing.artifacts.filter((a) => parseKey(a.key).latest);
    const broken: string[] = [];
    let copied = 0;
    let bytes = 0;
    for (const artifact of latest) {
      const body = await source.read(artifact.key);
      if (!body) continue; // deleted since the listing
      let rows: number;
      try {
        rows = decodeArtifactSummary(body, artifact.key).rowCount;
      } catch (error) {
        broken.push(artifact.key);
        run.log.error(`${source.label}: ${errorMessage(error)}; not copied`);
        continue;
      }
      if (!run.dryRun) await target.write(artifact.key, body);
      run.copied(artifact.key, artifact.key);
      copied += 1;
      bytes += body.length;
      run.say(`${run.dryRun ? "would copy" : "copied"} ${artifact.key} (${rows} rows, ${formatBytes(body.length)})`);
    }
    run.say(`total: ${run.dryRun ? "would copy" : "copied"} ${copied} of ${latest.length} -latest artifacts (${formatBytes(bytes)}) from ${source.label} to ${target.label}`
      + (broken.length ? `; ${broken.length} did not decode` : ""));
    const problems = [
      ...(broken.length ? [`${broken.length} artifact(s) in ${source.label} do not decode: ${broken.join(", ")}`] : []),
      ...[reportRefused(run, source, listing)].filter((p): p is string => p !== undefined),
    ];
    return { ok: problems.length === 0, error: problems.join("; ") || undefined };
  }),
);
