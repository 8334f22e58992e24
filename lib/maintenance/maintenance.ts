// What the artifact scripts (clean-up, fetch, promote) share: the lake they act
// on, a recorded run with the keys they touched, one line per key and a total,
// and DRY_RUN, in which they only say what they would do.
//
// The destructive ones (the two clean-ups, fetch) are safe by default (docs/architecture.md §3): what they
// delete or overwrite is first copied into `_backup/<stamp>/` of the same lake, with a
// manifest, and `--restore [<stamp>]` puts it back; on production they need --yes (or "yes"
// typed on a terminal); --dry-run lists every key they would back up, delete or overwrite.
import { createInterface } from "node:readline";
import { runOrigin, type CommandContext } from "../run/cli.ts";
import { ArtifactError, ConfigError, errorMessage, UsageError, UserError } from "../core/errors.ts";
import { parseStorage, type Config, type Storage } from "../config/config.ts";
import { RunHistory } from "../history/history.ts";
import { mapPool } from "../core/concurrency.ts";
import { historizedKey, openLake, transfer, type ArtifactInfo, type Lake, type Listing } from "../lake/lake.ts";
import { alertRunEnd } from "../alerts/send.ts";
import { whileOpen } from "../process/last_resort.ts";
import type { Logger } from "../core/log.ts";

export interface MaintenanceRun {
  /** The command: `clean_up_latest_artifacts`. */
  name: string;
  config: Config;
  log: Logger;
  dryRun: boolean;
  /** --yes: go ahead on production without asking. */
  yes: boolean;
  /** Ask a question on the terminal; undefined when stdin or stderr is not a terminal. */
  ask: ((question: string) => Promise<string>) | undefined;
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
    // Killed half-way (Ctrl-C at the confirmation, SIGTERM from the scheduler): the run ends as failed.
    const closed = whileOpen((reason) => history.finish(runId, { status: "failed", error: reason, attempts: 1 }));
    const log = ctx.log.child({ flow: name, run: runId });
    if (dryRun) history.addNote(runId, "dry run: nothing was changed");
    const run: MaintenanceRun = {
      name, config: ctx.config, log, dryRun,
      yes: ctx.values.yes === true,
      ask: terminalQuestion(),
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
    } finally {
      closed();
      await alertRunEnd(runId, { config: ctx.config, history, log }); // once the end is recorded (lib/alerts/alert.ts)
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
  await inChunks(artifacts, (a) => (run.dryRun ? undefined : lake.delete(a.key)), (artifact) => {
    run.deleted(artifact.key);
    run.say(line(artifact));
  });
}

/** `act` on every item, 16 at a time, then `after` on each in order, 256 items per round. */
async function inChunks<T, R>(items: T[], act: (item: T) => Promise<R> | undefined, after: (item: T, result: R | undefined) => void): Promise<void> {
  for (let start = 0; start < items.length; start += 256) {
    const chunk = items.slice(start, start + 256);
    const results = await mapPool(chunk, 16, async (item) => act(item));
    chunk.forEach((item, i) => after(item, results[i]));
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

// ------------------------------------------------------------------ destructive commands

const BACKUPS = "_backup";
const PRODUCTION = parseStorage("production", "s3-bucket/prod", "/");

/** Production: the bucket of s3-bucket/prod (`s3://prod-klimadao-data/…` under any prefix too). */
export function isProduction(storage: Storage): boolean {
  return storage.kind === "s3" && PRODUCTION.kind === "s3" && storage.bucket === PRODUCTION.bucket;
}

/** The lake a destructive command changes. */
export interface Target {
  lake: Lake;
  storage: Storage;
  production: boolean;
  /** How to name this lake again on the command line: `--lake s3-bucket/prod`. */
  option: string;
}

export async function openTarget(run: MaintenanceRun, storage: Storage, flag: "--lake" | "--to"): Promise<Target> {
  const lake = await run.lake(storage);
  return { lake, storage, production: isProduction(storage), option: `${flag} ${shellWord(lake.label)}` };
}

export const DESTRUCTIVE_OPTIONS = {
  "dry-run": { type: "boolean" },
  yes: { type: "boolean" },
  restore: { type: "boolean" },
} as const;

export const DESTRUCTIVE_HELP = [
  "  --yes                 go ahead on production without asking (on a terminal it asks; elsewhere it refuses, exit 2)",
  "  --restore [<stamp>]   put back the artifacts of a backup this command made in that lake (default: its newest);",
  "                        one that changed since the backup is overwritten only with --yes, and backed up first",
  ...MAINTENANCE_HELP,
];

/**
 * A destructive command: a recorded run that changes one lake (`target`), or with --restore puts
 * back one of its backups there. The usage is checked before the run starts.
 */
export async function destructiveRun(
  ctx: CommandContext<Record<string, unknown>>,
  name: string,
  target: (run: MaintenanceRun) => Promise<Target>,
  body: (run: MaintenanceRun, target: Target) => Promise<{ ok: boolean; error?: string }>,
): Promise<number> {
  const [stamp, extra] = ctx.positionals;
  if (stamp !== undefined && ctx.values.restore !== true) throw new UsageError(`unexpected argument "${stamp}" (a backup's stamp goes after --restore)`);
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}": --restore takes one stamp`);
  return maintenanceRun(name, ctx, async (run) => {
    const lake = await target(run);
    if (ctx.values.restore !== true) return body(run, lake);
    await restoreBackup(run, lake, stamp);
    return { ok: true };
  });
}

/**
 * Before `what` (a change to the target, e.g. `delete 34 -latest artifacts`) is done: on production,
 * --yes or a confirmation on a terminal; then the artifacts `replaced` (deleted or overwritten) are
 * backed up, when `backup`. In a dry run it only says all of it.
 */
export async function safeguard(run: MaintenanceRun, target: Target, change: { what: string; replaced: string[]; backup: boolean }): Promise<void> {
  if (target.production) {
    const keys = change.replaced.length ? ` (${listKeys(change.replaced)})${change.backup ? ", each backed up first" : ""}` : "";
    await confirm(run, `${target.lake.label} is production: ${change.what}${keys}`);
  }
  if (change.backup && change.replaced.length) await backUp(run, target, change.replaced, change.what);
}

/** Go ahead with --yes, or when "yes" is typed on a terminal; otherwise nothing is changed. A dry run says it would ask. */
export async function confirm(run: Pick<MaintenanceRun, "yes" | "ask" | "dryRun" | "say">, what: string): Promise<void> {
  if (run.yes) return;
  if (run.dryRun) return run.say(`needs --yes: ${what}`);
  if (!run.ask) throw new UsageError(`${what}: needs --yes (or a confirmation on a terminal); nothing was changed`);
  const answer = await run.ask(`${what}.\nType yes to continue: `);
  if (answer.trim() !== "yes") throw new UserError("not confirmed: nothing was changed");
}

/** A question on the terminal, when stdin and stderr are one; Ctrl-D answers "". */
function terminalQuestion(): MaintenanceRun["ask"] {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return undefined;
  return (question) => new Promise((resolve) => {
    const terminal = createInterface({ input: process.stdin, output: process.stderr });
    terminal.on("close", () => resolve(""));
    terminal.question(question, (answer) => {
      resolve(answer);
      terminal.close();
    });
  });
}

interface BackupManifest {
  /** The command that made it; --restore without a stamp takes that command's newest. */
  command: string;
  lake: string;
  madeAt: string;
  /** What the command was about to do. */
  reason: string;
  /** Exactly what --restore puts back. */
  keys: string[];
}

/**
 * Copy `keys` of the target into a new folder `_backup/<YYYY_MM_DD__HH_MM_SS>_<command>` of the same
 * lake (server-side where it can), then write its manifest: a backup without one is incomplete and
 * never restored from. Says where it is and how to restore it.
 */
async function backUp(run: MaintenanceRun, target: Target, keys: string[], reason: string, command = run.name): Promise<void> {
  const second = historizedKey("x", new Date()).slice(2);
  const taken = await target.lake.folders(BACKUPS);
  let stamp = `${second}_${command}`;
  for (let n = 1; taken.includes(stamp); n += 1) stamp = `${second}_${command}_${n}`; // two in one second
  const backup = target.lake.folder(`${BACKUPS}/${stamp}`);
  const sorted = [...keys].sort();
  await inChunks(sorted, (key) => (run.dryRun ? undefined : transfer(target.lake, key, backup, key)), (key, how) => {
    run.say(run.dryRun ? `would back up ${key} to ${backup.label}` : `backed up ${key} to ${backup.label} (${how})`);
  });
  const restore = `npx tsx scripts/${run.name}.ts --restore ${stamp} ${target.option}`;
  if (run.dryRun) {
    run.say(`would make backup ${backup.label} (${count(sorted.length, "artifact")}) before: ${reason}; restore with: ${restore}`);
  } else {
    const manifest: BackupManifest = { command, lake: target.lake.label, madeAt: new Date().toISOString(), reason, keys: sorted };
    await backup.writeDocument("manifest.json", JSON.stringify(manifest, null, 2));
    const line = `backup: ${backup.label} (${count(sorted.length, "artifact")}) before: ${reason}; restore with: ${restore}`;
    run.note(line);
    run.say(line);
  }
}

/**
 * Put back exactly the keys of a backup in `target` (the backup `stamp`, or this command's newest).
 * A key that is missing is put back; one whose bytes are the backup's is left as it is; one that
 * changed since (a newer -latest written after the clean-up, what a fetch wrote) is overwritten only
 * with --yes (or a confirmation on a terminal), and backed up first, so a restore can be undone too.
 */
export async function restoreBackup(run: MaintenanceRun, target: Target, stamp: string | undefined): Promise<void> {
  const { lake } = target;
  const found = await findBackup(run, lake, stamp);
  const kept = new Map((await found.backup.list()).artifacts.map((a) => [a.key, a]));
  const lost = found.manifest.keys.filter((k) => !kept.has(k));
  if (lost.length) throw new ArtifactError(`backup ${found.backup.label} lacks ${listKeys(lost)}: cannot restore it exactly; nothing was changed`);
  const current = new Map((await lake.list()).artifacts.map((a) => [a.key, a]));
  const missing: string[] = [];
  const changed: string[] = [];
  const same: string[] = [];
  for (const key of found.manifest.keys) {
    const now = current.get(key);
    if (!now) missing.push(key);
    else if (await sameBytes(lake, now, found.backup, kept.get(key)!)) same.push(key);
    else changed.push(key);
  }
  if (changed.length) {
    await confirm(run, `restoring ${found.stamp} overwrites ${count(changed.length, "artifact")} of ${lake.label} that changed since the backup (${listKeys(changed)}), each backed up first`);
    await backUp(run, target, changed, `overwritten by --restore ${found.stamp}`, `${run.name}_restore`);
  }
  const verb = run.dryRun ? "would restore" : "restored";
  await inChunks([...missing, ...changed].sort(), (key) => (run.dryRun ? undefined : transfer(found.backup, key, lake, key)), (key) => {
    run.copied(`${found.backup.label}/${key}`, key);
    run.say(`${verb} ${key} from ${found.backup.label}${changed.includes(key) ? " (it had changed since the backup)" : ""}`);
  });
  for (const key of same) run.say(`unchanged ${key}: already as in the backup`);
  run.say(`total: ${verb} ${missing.length + changed.length} of the ${found.manifest.keys.length} artifacts of backup ${found.stamp} (made ${found.manifest.madeAt} before: ${found.manifest.reason}) in ${lake.label}; ${same.length} already as in the backup`);
  if (!run.dryRun) run.note(`restored backup ${found.backup.label}`);
}

/** The backup named `stamp`, or the newest complete one `run`'s command made; else an error listing what there is. */
async function findBackup(run: MaintenanceRun, lake: Lake, stamp: string | undefined): Promise<{ stamp: string; backup: Lake; manifest: BackupManifest }> {
  const stamps = await lake.folders(BACKUPS);
  const read = async (name: string) => {
    const backup = lake.folder(`${BACKUPS}/${name}`);
    const text = await backup.readDocument("manifest.json");
    return text ? { stamp: name, backup, manifest: JSON.parse(text) as BackupManifest } : undefined;
  };
  const available = stamps.length ? `; backups there: ${stamps.slice(-5).join(", ")}${stamps.length > 5 ? ` (and ${stamps.length - 5} older)` : ""}` : "";
  if (stamp !== undefined) {
    if (!stamps.includes(stamp)) throw new UserError(`no backup ${stamp} in ${lake.label}/${BACKUPS}${available}`);
    const found = await read(stamp);
    if (!found) throw new UserError(`backup ${stamp} in ${lake.label}/${BACKUPS} is incomplete (no manifest: the command stopped while making it), nothing to restore; nothing was changed`);
    return found;
  }
  for (const name of [...stamps].reverse()) {
    const found = await read(name);
    if (found?.manifest.command === run.name) return found;
  }
  throw new UserError(`no backup made by ${run.name} in ${lake.label}/${BACKUPS}${available}`);
}

/** The same bytes: by ETag on S3 (one lake, one endpoint), else read and compared. */
async function sameBytes(a: Lake, aInfo: ArtifactInfo, b: Lake, bInfo: ArtifactInfo): Promise<boolean> {
  if (aInfo.size !== bInfo.size) return false;
  if (aInfo.etag && bInfo.etag) return aInfo.etag === bInfo.etag;
  const [x, y] = await Promise.all([a.read(aInfo.key), b.read(bInfo.key)]);
  return x !== undefined && y !== undefined && x.equals(y);
}

/** Remove the temporary files of writes killed half-way (local lakes); each said, none in a dry run. */
export async function sweepTemporaries(run: MaintenanceRun, lake: Lake): Promise<void> {
  if (run.dryRun || !lake.sweepTemporaries) return;
  const removed = await lake.sweepTemporaries();
  for (const name of removed) run.say(`removed ${name}: a temporary file of a write that did not finish`);
  if (removed.length) run.note(`removed ${removed.length} temporary file(s) of writes that did not finish`);
}

/** Up to 5 keys, then how many more: for one-line messages (--dry-run lists them all). */
export function listKeys(keys: string[]): string {
  return `${keys.slice(0, 5).join(", ")}${keys.length > 5 ? `, … and ${keys.length - 5} more` : ""}`;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** A word as a shell reads it: quoted when it holds anything but plain characters. */
function shellWord(text: string): string {
  return /^[\w:/.@+=-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}
