// What the artifact scripts (clean-up, fetch, promote) share: the lake they act
// on, a recorded run with the keys they touched, one line per key and a total,
// and DRY_RUN, in which they only say what they would do.
import { runOrigin, type CommandContext } from "./cli.ts";
import { ConfigError, errorMessage } from "./errors.ts";
import { parseStorage, type Config, type Storage } from "./config.ts";
import { RunHistory } from "./history.ts";
import { mapPool } from "./concurrency.ts";
import { openLake, type ArtifactInfo, type Lake, type Listing } from "./lake.ts";
import type { Logger } from "./log.ts";

export interface MaintenanceRun {
  config: Config;
  log: Logger;
  dryRun: boolean;
  /** Print one line on stdout: what was done (or would be) to one key, or the total. */
  say(line: string): void;
  deleted(key: string): void;
  /** A key written in the target lake, read from `source` (lineage). */
  copied(source: string, key: string): void;
  note(text: string): void;
  /** Open a lake given by storage name (`s3-bucket/dev`, `file:<dir>`, …). */
  lake(storage: Storage): Promise<Lake>;
}

/**
 * Run `body` as one recorded run of `name`. It returns the exit code; a failure it
 * throws ends the run as failed with its one-line message.
 */
export async function maintenanceRun(
  name: string,
  ctx: CommandContext<Record<string, unknown>>,
  body: (run: MaintenanceRun) => Promise<{ ok: boolean; error?: string }>,
): Promise<number> {
  const dryRun = ctx.config.dryRun || ctx.values["dry-run"] === true;
  const history = RunHistory.open(ctx.config.db);
  try {
    history.markCrashed();
    const runId = history.start({ flow: name, ...runOrigin(ctx.values) });
    const log = ctx.log.child({ flow: name, run: runId });
    if (dryRun) history.addNote(runId, "dry run: nothing was changed");
    const run: MaintenanceRun = {
      config: ctx.config, log, dryRun,
      say: (line) => process.stdout.write(`${line}\n`),
      deleted: (key) => { if (!dryRun) history.addDeletedKey(runId, key); },
      copied: (source, key) => {
        if (dryRun) return;
        history.addUpstreamKey(runId, source);
        history.addWrittenKey(runId, key);
      },
      note: (text) => history.addNote(runId, text),
      lake: (storage) => openLake(storage, ctx.config),
    };
    try {
      const outcome = await body(run);
      history.finish(runId, { status: outcome.ok ? "succeeded" : "failed", error: outcome.error ?? null, attempts: 1 });
      return outcome.ok ? 0 : 1;
    } catch (error) {
      history.finish(runId, { status: "failed", error: errorMessage(error), attempts: 1 });
      throw error;
    }
  } finally {
    history.close();
  }
}

/**
 * Delete keys (or say they would be), 16 requests at a time: one at a time, S3's round
 * trips make thousands of deletes take minutes. Lines come out in key order.
 */
export async function deleteAll(run: MaintenanceRun, lake: Lake, artifacts: ArtifactInfo[], line: (a: ArtifactInfo) => string): Promise<void> {
  for (let start = 0; start < artifacts.length; start += 256) {
    const chunk = artifacts.slice(start, start + 256);
    if (!run.dryRun) await mapPool(chunk, 16, (a) => lake.delete(a.key));
    for (const artifact of chunk) {
      run.deleted(artifact.key);
      run.say(line(artifact));
    }
  }
}

/** The lake named by `--lake`, else the one `AWS_STORAGE` selects. */
export function actedOnStorage(config: Config, lakeOption: unknown): Storage {
  if (typeof lakeOption === "string") return parseStorage("--lake", lakeOption, process.cwd());
  if (!config.awsStorage) throw new ConfigError("AWS_STORAGE is not set: set it to dev or prod (or give --lake <storage>)");
  return config.awsStorage;
}

/** Keys in a lake that are not artifact keys: each reported, none used. */
export function reportRefused(run: Pick<MaintenanceRun, "log">, lake: Lake, listing: Listing): string | undefined {
  for (const key of listing.refused) run.log.error(`${lake.label}: refused key "${key}": not <slug>-latest or <slug>-<YYYY_MM_DD__HH_MM_SS>; left alone`);
  return listing.refused.length ? `${listing.refused.length} key(s) in ${lake.label} refused as unsafe: ${listing.refused.join(", ")}` : undefined;
}

export const MAINTENANCE_HELP = [
  "  --dry-run             only say what would be done (also DATA_PIPELINES_DRY_RUN)",
];
