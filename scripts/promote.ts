// promote: move to production. Replaces production's -latest set with staging's after
// checking every staging artifact, keeping a backup that --rollback restores (docs/architecture.md §9).
import { command, RUN_OPTIONS, RUN_OPTIONS_HELP } from "../lib/run/cli.ts";
import { parseStorage } from "../lib/config/config.ts";
import { UserError } from "../lib/core/errors.ts";
import { MAINTENANCE_HELP, maintenanceRun } from "../lib/maintenance/maintenance.ts";
import { consumerContract } from "../lib/flows/flow.ts";
import { promote, rollback } from "../lib/maintenance/promote.ts";

await command(
  {
    usage: "usage: npx tsx scripts/promote.ts [--rollback] [--allow-missing] [--dry-run] [--staging <storage>] [--production <storage>]",
    help: [
      "",
      "Checks that every -latest artifact in staging decodes and has the columns the dashboard API reads,",
      "backs up production's -latest set to <production>/_promote/<YYYY_MM_DD__HH_MM_SS>/, then copies",
      "staging's set over production's and prints the row counts before and after. Nothing changes if a check fails.",
      "Each artifact reaches production exactly as it was checked: one changed in staging since its check is refused,",
      "production keeps its previous copy of it, and the promote stops.",
      "A promote that stopped half-way (a refused artifact, a network failure, a timeout) is completed by running it",
      "again (it checks staging again), or undone with --rollback.",
      "  --rollback            restore production's set from before the last promote, exactly",
      "  --allow-missing       promote even if staging lacks datasets production has (production keeps them)",
      "  --staging <storage>   default s3-bucket/dev",
      "  --production <storage> default s3-bucket/prod",
      ...MAINTENANCE_HELP,
      RUN_OPTIONS_HELP,
    ],
    options: {
      rollback: { type: "boolean" }, "allow-missing": { type: "boolean" }, "dry-run": { type: "boolean" },
      staging: { type: "string" }, production: { type: "string" }, ...RUN_OPTIONS,
    },
    showConfig: true,
  },
  (ctx) => maintenanceRun("promote", ctx, async (run) => {
    const storage = (option: string, fallback: string) =>
      parseStorage(`--${option}`, typeof ctx.values[option] === "string" ? (ctx.values[option] as string) : fallback, process.cwd());
    const production = await run.lake(storage("production", "s3-bucket/prod"));
    if (ctx.values.rollback) {
      await rollback({ production, run });
      return { ok: true };
    }
    const staging = await run.lake(storage("staging", "s3-bucket/dev"));
    if (staging.label === production.label) throw new UserError(`${staging.label} is both staging and production`);
    // The columns the dashboard reads, as each flow declares them: the flows are loaded only to promote.
    const { ALL_FLOWS } = await import("./flows.ts");
    const { refused } = await promote({
      staging, production, run, allowMissing: Boolean(ctx.values["allow-missing"]), consumerColumns: consumerContract(ALL_FLOWS),
    });
    return refused.length ? { ok: false, error: refused.join("; ") } : { ok: true };
  }),
);
