// Moving to production (docs/architecture.md §9): replace production's -latest set with staging's,
// only after every staging artifact decodes and keeps the columns the dashboard API
// reads, and only after production's current set is backed up in its lake
// (`_promote/<stamp>/`, with a manifest). A promote that stops half-way is resumed
// by running it again, or undone with --rollback; both use that backup.
// The guard: each artifact reaches production exactly as it was checked. A server-side
// copy carries the ETag it was listed with (and its result is compared with it);
// otherwise the bytes pass through this process and must hash to the checked ones.
// An artifact changed in staging since its check is refused: production keeps (or
// gets back) its previous copy of it, and the promote stops where resume and
// --rollback take over.
import { createHash } from "node:crypto";
import { decodeArtifactSummary } from "../artifact/artifact.ts";
import { ArtifactError, errorMessage, UserError } from "../core/errors.ts";
import { missingConsumerColumns } from "../flows/flow.ts";
import { renderTable } from "../table/format.ts";
import { historizedKey, isArtifactKey, parseKey, transfer, type ArtifactInfo, type Lake } from "../lake/lake.ts";
import { reportRefused, type MaintenanceRun } from "./maintenance.ts";

const BACKUPS = "_promote";

interface Manifest {
  /** `copying` until every staging artifact is in production; a backup with no manifest is incomplete. */
  state: "copying" | "promoted" | "rolled-back";
  staging: string;
  production: string;
  startedAt: string;
  finishedAt?: string;
  /** Production's -latest keys when the promote started: exactly what --rollback restores. */
  backedUp: string[];
}

export interface PromoteOptions {
  staging: Lake;
  production: Lake;
  allowMissing: boolean;
  /** The columns the dashboard API reads of a slug, as its flow declares them (`consumerContract(ALL_FLOWS)`). */
  consumerColumns: (slug: string) => readonly string[];
  run: Pick<MaintenanceRun, "dryRun" | "say" | "log" | "copied" | "deleted" | "note">;
  now?: () => Date;
}

/** Promote staging's set; returns the keys refused as unsafe in either lake (reported, left alone), one line per lake. */
export async function promote(options: PromoteOptions): Promise<{ refused: string[] }> {
  const { staging, production, run } = options;
  const now = options.now ?? (() => new Date());
  const [stagingListing, productionListing] = await Promise.all([staging.list(), production.list()]);
  const refused = [reportRefused(run, staging, stagingListing), reportRefused(run, production, productionListing)].filter((r): r is string => r !== undefined);
  const incoming = stagingListing.artifacts.filter((a) => parseKey(a.key).latest);
  const current = productionListing.artifacts.filter((a) => parseKey(a.key).latest);
  const incomingKeys = new Set(incoming.map((a) => a.key));

  const missing = current.filter((a) => !incomingKeys.has(a.key)).map((a) => parseKey(a.key).slug);
  if (missing.length && !options.allowMissing) {
    throw new UserError(`staging ${staging.label} lacks ${missing.length} dataset(s) that production has: ${missing.join(", ")}; nothing was changed (--allow-missing promotes the others and keeps these)`);
  }
  if (!incoming.length) throw new UserError(`staging ${staging.label} holds no -latest artifact: nothing to promote`);

  const stamps = await production.folders(BACKUPS);
  const pending = await lastBackup(production, stamps, "promote");
  const resuming = pending?.manifest.state === "copying" ? pending : undefined;

  // Check everything before changing anything.
  const checked = await checkStaging(staging, incoming, resuming?.stamp, options.consumerColumns);
  const rowsBefore = await rowCounts(production, current);
  if (resuming) run.log.warn(`resuming the promote that stopped on ${resuming.stamp}: production's set from before it stays in ${resuming.backup.label}`);
  const verb = verbs(run.dryRun);

  let backup: Lake;
  let manifest: Manifest;
  if (resuming) {
    ({ backup, manifest } = resuming);
  } else {
    const second = historizedKey("x", now()).slice(2);
    let stamp = second;
    for (let n = 1; stamps.includes(stamp); n += 1) stamp = `${second}_${n}`; // two promotes in one second
    backup = production.folder(`${BACKUPS}/${stamp}`);
    for (const artifact of current) {
      const how = run.dryRun ? "" : ` (${await transfer(production, artifact.key, backup, artifact.key)})`;
      run.say(`${verb("backed up", "would back up")} ${artifact.key} to ${backup.label}${how}`);
    }
    manifest = {
      state: "copying", staging: staging.label, production: production.label,
      startedAt: now().toISOString(), backedUp: current.map((a) => a.key),
    };
    // Written last: a backup with a manifest is complete.
    if (!run.dryRun) await writeManifest(backup, manifest);
  }
  if (!run.dryRun) run.note(`backup of production: ${backup.label}`);

  let done = 0;
  for (const artifact of incoming) {
    let how = "";
    if (!run.dryRun) {
      try {
        how = ` (${await copyChecked(staging, production, artifact, checked.get(artifact.key)!.fingerprint)})`;
      } catch (error) {
        run.say(`stopped after ${done} of ${incoming.length} promoted; production's set from before is in ${backup.label}: run promote again to finish, or promote --rollback to undo`);
        if (!(error instanceof ArtifactError)) throw error; // a network failure: production's copy of this key is the old one or the new one
        throw await refuse(artifact.key, error, { production, backup, manifest, done, total: incoming.length });
      }
    }
    done += 1;
    run.copied(`${staging.label}/${artifact.key}`, artifact.key);
    run.say(`${verb("promoted", "would promote")} ${artifact.key}${how}`);
  }
  if (!run.dryRun) await writeManifest(backup, { ...manifest, state: "promoted", finishedAt: now().toISOString() });

  const rowsAfter = new Map([...checked.values()].map((c) => [c.slug, c.rows]));
  const slugs = [...new Set([...rowsAfter.keys(), ...rowsBefore.keys()])].sort();
  const change = (slug: string): string => {
    const before = rowsBefore.get(slug);
    const after = rowsAfter.get(slug);
    if (after === undefined) return "kept: not in staging";
    if (before === undefined) return "new";
    if (before === null) return "replaced an unreadable artifact";
    return after === before ? "same" : `${after > before ? "+" : ""}${after - before}`;
  };
  run.say(`\n${renderTable(["slug", "rows before", "rows after", "change"], slugs.map((slug) => [
    slug, rowsBefore.get(slug)?.toString() ?? "-", (rowsAfter.get(slug) ?? rowsBefore.get(slug))?.toString() ?? "-", change(slug),
  ]))}`);
  run.say(`total: ${verb("promoted", "would promote")} ${incoming.length} datasets from ${staging.label} to ${production.label}; ${run.dryRun ? "would back up" : "backup in"} ${backup.label}${missing.length ? `; kept ${missing.length} not in staging` : ""}`);
  return { refused };
}

/** Restore the production set of the last promote exactly: its backed-up artifacts, and none other. */
export async function rollback(options: Omit<PromoteOptions, "staging" | "allowMissing" | "consumerColumns">): Promise<void> {
  const { production, run } = options;
  const last = await lastBackup(production, await production.folders(BACKUPS), "promote --rollback");
  if (!last) throw new UserError(`no promote to roll back: ${production.label} has no complete backup in ${BACKUPS}/`);
  if (last.manifest.state === "rolled-back") throw new UserError(`the last promote (${last.stamp}) was already rolled back; nothing was changed`);
  const kept = new Set((await last.backup.list()).artifacts.map((a) => a.key));
  const lost = last.manifest.backedUp.filter((k) => !kept.has(k));
  if (lost.length) throw new ArtifactError(`backup ${last.backup.label} lacks ${lost.join(", ")}: cannot restore production exactly; nothing was changed`);
  const now = (await production.list()).artifacts.filter((a) => parseKey(a.key).latest).map((a) => a.key);
  const backedUp = new Set(last.manifest.backedUp);
  const verb = verbs(run.dryRun);
  for (const key of last.manifest.backedUp) {
    if (!run.dryRun) await transfer(last.backup, key, production, key);
    run.copied(`${last.backup.label}/${key}`, key);
    run.say(`${verb("restored", "would restore")} ${key} from ${last.backup.label}`);
  }
  const added = now.filter((k) => !backedUp.has(k));
  for (const key of added) {
    if (!run.dryRun) await production.delete(key);
    run.deleted(key);
    run.say(`${verb("deleted", "would delete")} ${key}: production did not have it before the promote of ${last.stamp}`);
  }
  if (!run.dryRun) await writeManifest(last.backup, { ...last.manifest, state: "rolled-back", finishedAt: (options.now ?? (() => new Date()))().toISOString() });
  run.say(`total: ${verb("restored", "would restore")} ${backedUp.size} and ${verb("deleted", "would delete")} ${added.length} -latest artifacts in ${production.label}, as before the promote of ${last.stamp}`);
}

/** What was done, or in a dry run what would be. */
const verbs = (dryRun: boolean) => (done: string, would: string) => (dryRun ? would : done);

function writeManifest(backup: Lake, manifest: Manifest): Promise<void> {
  return backup.writeDocument("manifest.json", JSON.stringify(manifest, null, 2));
}

/**
 * The newest of the backups `stamps` that has a manifest (one without is a backup that did not
 * finish). A manifest that cannot be read stops `command`: what it says decides what to do.
 */
async function lastBackup(production: Lake, stamps: string[], command: string): Promise<{ stamp: string; backup: Lake; manifest: Manifest } | undefined> {
  for (const stamp of [...stamps].reverse()) {
    const backup = production.folder(`${BACKUPS}/${stamp}`);
    const text = await backup.readDocument("manifest.json");
    if (text !== undefined) return { stamp, backup, manifest: parseManifest(text, `${backup.label}/manifest.json`, command) };
  }
  return undefined;
}

const STATES: readonly string[] = ["copying", "promoted", "rolled-back"] satisfies Manifest["state"][];

function parseManifest(text: string, file: string, command: string): Manifest {
  const damaged = (why: string) => new ArtifactError(`${file} is damaged (${why}): move that folder aside or fix it, then run ${command} again`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw damaged("not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw damaged("not a JSON object");
  const manifest = value as Record<string, unknown>;
  const wrong = [
    typeof manifest.state === "string" && STATES.includes(manifest.state) ? undefined : "state",
    ...(["staging", "production", "startedAt"] as const).map((field) => (typeof manifest[field] === "string" ? undefined : field)),
    Array.isArray(manifest.backedUp) && manifest.backedUp.every((k) => typeof k === "string" && isArtifactKey(k)) ? undefined : "backedUp",
  ].filter((field) => field !== undefined);
  if (wrong.length) throw damaged(`missing or invalid ${wrong.join(", ")}`);
  return manifest as unknown as Manifest;
}

/** What the check found of one staging artifact: the rows it holds, and a hash of the bytes that were checked. */
interface Checked {
  slug: string;
  rows: number;
  fingerprint: string;
}

/**
 * Each staging artifact must decode and keep the consumer's columns; all problems in one line.
 * `pending`: the stamp of a promote that stopped half-way, which production still holds.
 */
async function checkStaging(
  staging: Lake, artifacts: ArtifactInfo[], pending: string | undefined, consumerColumns: (slug: string) => readonly string[],
): Promise<Map<string, Checked>> {
  const checked = new Map<string, Checked>();
  const problems: string[] = [];
  for (const artifact of artifacts) {
    const slug = parseKey(artifact.key).slug;
    try {
      const bytes = await staging.read(artifact.key);
      if (!bytes) throw new ArtifactError(`${artifact.key} disappeared`);
      const summary = decodeArtifactSummary(bytes, artifact.key);
      const lacking = missingConsumerColumns({ consumer: consumerColumns(slug) }, summary.columns.map((c) => c.name));
      if (lacking.length) problems.push(`${artifact.key} lacks column(s) the dashboard API reads: ${lacking.join(", ")}`);
      checked.set(artifact.key, { slug, rows: summary.rowCount, fingerprint: fingerprint(bytes) });
    } catch (error) {
      if (!(error instanceof ArtifactError)) throw error;
      problems.push(errorMessage(error));
    }
  }
  if (problems.length) {
    const state = pending
      ? `production was not changed by this run; it holds the promote of ${pending} half-done: fix staging and run promote again, or promote --rollback`
      : "production was not changed";
    throw new ArtifactError(`refused to promote ${staging.label}: ${problems.join("; ")}; ${state}`);
  }
  return checked;
}

function fingerprint(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Copy one checked artifact into production as it was checked: server-side on the condition
 * that it still has the ETag it was listed with, else through this process, only if its bytes
 * still hash to the checked ones. An artifact changed since its check is an ArtifactError.
 */
async function copyChecked(staging: Lake, production: Lake, artifact: ArtifactInfo, checked: string): Promise<string> {
  // Only S3 listings carry an ETag; a local copy could not be made conditional.
  const direct = artifact.etag === undefined ? false : await production.copyFrom(staging, artifact.key, artifact.key, artifact.etag);
  if (direct) return direct;
  const bytes = await staging.read(artifact.key);
  if (!bytes || fingerprint(bytes) !== checked) {
    throw new ArtifactError(`${staging.label}: ${artifact.key} ${bytes ? "changed" : "disappeared"} since it was checked`);
  }
  await production.write(artifact.key, bytes);
  return "the checked bytes, through this process";
}

/**
 * The line for an artifact refused at its copy, after putting production's copy of it back as it
 * was before the promote (a server that ignores the copy's condition has already replaced it).
 */
async function refuse(
  key: string,
  error: Error,
  at: { production: Lake; backup: Lake; manifest: Manifest; done: number; total: number },
): Promise<ArtifactError> {
  const had = at.manifest.backedUp.includes(key);
  const line = `refused to promote ${key}: ${errorMessage(error)}`;
  const next = `${at.done} of ${at.total} promoted: fix staging and run promote again to finish, or promote --rollback to undo`;
  try {
    if (had) await transfer(at.backup, key, at.production, key);
    else await at.production.delete(key);
  } catch (undo) {
    return new ArtifactError(`${line}; putting back production's ${key} failed too (${errorMessage(undo)}): run promote --rollback`);
  }
  return new ArtifactError(`${line}; production keeps ${had ? `its ${key} from before the promote` : `no ${key}, as before the promote`}; ${next}`);
}

/** Row counts of production's artifacts for the report; null for one that does not decode. */
async function rowCounts(lake: Lake, artifacts: ArtifactInfo[]): Promise<Map<string, number | null>> {
  const rows = new Map<string, number | null>();
  for (const artifact of artifacts) {
    const bytes = await lake.read(artifact.key);
    let count: number | null = null;
    try {
      if (bytes) count = decodeArtifactSummary(bytes, artifact.key).rowCount;
    } catch {
      // An unreadable production artifact is what a promote is for; the report says so.
    }
    rows.set(parseKey(artifact.key).slug, count);
  }
  return rows;
}
