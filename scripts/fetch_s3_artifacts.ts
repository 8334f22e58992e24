// fetch_s3_artifacts: copy every -latest artifact of the S3 lake AWS_STORAGE selects into
// the lake --to names (default: DATA_PIPELINES_RESULT_STORAGE, local by default), each
// checked first. Into a bucket, the -latest it overwrites are backed up first; into
// production, it needs --yes.
import { decodeArtifactSummary } from "../lib/artifact/artifact.ts";
import { command, RUN_OPTIONS, RUN_OPTIONS_HELP } from "../lib/run/cli.ts";
import { parseStorage } from "../lib/config/config.ts";
import { errorMessage, UserError } from "../lib/core/errors.ts";
import { formatBytes } from "../lib/table/format.ts";
import { parseKey } from "../lib/lake/lake.ts";
import { actedOnStorage, DESTRUCTIVE_HELP, DESTRUCTIVE_OPTIONS, destructiveRun, openTarget, reportRefused, safeguard } from "../lib/maintenance/maintenance.ts";

await command(
  {
    usage: "usage: npx tsx scripts/fetch_s3_artifacts.ts [--from <storage>] [--to <storage>] [--yes] [--dry-run] [--restore [<stamp>]]",
    help: [
      "",
      "Copies each <slug>-latest from the S3 lake AWS_STORAGE (dev | prod) selects into the lake --to names",
      "(default: DATA_PIPELINES_RESULT_STORAGE, itself ./data/lake by default), after checking that it decodes.",
      "An artifact that does not decode is reported and not written; the others are copied.",
      "Into a bucket, the -latest artifacts it overwrites are first backed up into",
      "<target>/_backup/<YYYY_MM_DD__HH_MM_SS>_fetch_s3_artifacts/; into production it needs --yes.",
      "  --from <storage>      copy from this lake instead (s3-bucket/prod, s3://<bucket>/<prefix>, file:<dir>)",
      "  --to <storage>        copy into this lake (local, file:<dir>, s3-bucket/dev, s3://<bucket>/<prefix>)",
      ...DESTRUCTIVE_HELP,
      RUN_OPTIONS_HELP,
    ],
    options: { from: { type: "string" }, to: { type: "string" }, ...DESTRUCTIVE_OPTIONS, ...RUN_OPTIONS },
    allowPositionals: true,
    showConfig: true,
  },
  (ctx) => {
    const to = typeof ctx.values.to === "string" ? parseStorage("--to", ctx.values.to, process.cwd()) : undefined;
    return destructiveRun(ctx, "fetch_s3_artifacts", (run) => openTarget(run, to ?? run.config.storage, "--to"), async (run, into) => {
      const target = into.lake;
      const source = await run.lake(actedOnStorage(run.config, ctx.values.from));
      if (source.label === target.label) throw new UserError(`${source.label} is both the source and the target: nothing to fetch`);
      const [listing, present] = await Promise.all([source.list(), target.list()]);
      const latest = listing.artifacts.filter((a) => parseKey(a.key).latest);
      const existing = new Set(present.artifacts.map((a) => a.key));
      const overwritten = latest.map((a) => a.key).filter((key) => existing.has(key));
      if (latest.length) {
        await safeguard(run, into, {
          what: `copy ${latest.length} -latest artifacts from ${source.label}, overwriting ${overwritten.length}`,
          replaced: overwritten,
          backup: into.storage.kind === "s3",
        });
      }
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
        const over = existing.has(artifact.key) ? ", overwriting the one there" : "";
        run.say(`${run.dryRun ? "would copy" : "copied"} ${artifact.key} (${rows} rows, ${formatBytes(body.length)}${over})`);
      }
      run.say(`total: ${run.dryRun ? "would copy" : "copied"} ${copied} of ${latest.length} -latest artifacts (${formatBytes(bytes)}) from ${source.label} to ${target.label}`
        + (broken.length ? `; ${broken.length} did not decode` : ""));
      const problems = [
        ...(broken.length ? [`${broken.length} artifact(s) in ${source.label} do not decode: ${broken.join(", ")}`] : []),
        ...[reportRefused(run, source, listing)].filter((p): p is string => p !== undefined),
      ];
      return { ok: problems.length === 0, error: problems.join("; ") || undefined };
    });
  },
);
