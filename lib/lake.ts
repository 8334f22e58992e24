// The lake: where artifacts live. A local folder here (LocalLake), an S3 bucket elsewhere
// (lib/s3.ts), both behind the interface of lib/lake_keys.ts, re-exported here; openLake picks one.
import { randomBytes } from "node:crypto";
import { mkdirSync, statSync } from "node:fs";
import { copyFile, link, open, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import type { ArtifactBody } from "./artifact.ts";
import type { Config, Storage } from "./config.ts";
import { ArtifactError, UserError } from "./errors.ts";
import { processExists } from "./processes.ts";
import {
  type ArtifactInfo, checkDocumentName, checkFolder, checkKey, isArtifactKey, isOurFolder, type Lake, type Listing, parseKey, SLUG, StorageError,
  type WriteOptions,
} from "./lake_keys.ts";

export * from "./lake_keys.ts";

/**
 * Copy an artifact from one lake to another: server-side when the lakes allow it
 * (one S3 endpoint, or two folders), else read here and written in one piece.
 */
export async function transfer(from: Lake, fromKey: string, to: Lake, toKey: string, ifMatch?: string): Promise<string> {
  const direct = await to.copyFrom(from, fromKey, toKey, ifMatch);
  if (direct) return direct;
  const bytes = await from.read(fromKey);
  if (!bytes) throw new ArtifactError(`${from.label}: cannot copy ${fromKey}: no such artifact`);
  await to.write(toKey, bytes);
  return "through this process";
}

/** The S3 settings of the configuration; the SDK is loaded only when an S3 lake is opened. */
export async function openLake(
  storage: Storage,
  config: Pick<Config, "s3Endpoint" | "awsAccessKeyId" | "awsSecretAccessKey" | "httpTimeoutMs" | "httpDeadlineMs" | "httpMaxBytes">,
): Promise<Lake> {
  if (storage.kind === "local") return new LocalLake(storage.dir, storage.label);
  const { s3Lake } = await import("./s3.ts");
  return s3Lake(storage.bucket, storage.prefix, storage.label, {
    endpoint: config.s3Endpoint, accessKeyId: config.awsAccessKeyId, secretAccessKey: config.awsSecretAccessKey,
    timeoutMs: config.httpTimeoutMs, deadlineMs: config.httpDeadlineMs, maxBytes: config.httpMaxBytes,
  });
}

/**
 * A flat folder of artifact files. Writes go to a temporary file in the same folder, then rename.
 * Every failure of the file system is a {@link StorageError} naming the lake and the key.
 */
export class LocalLake implements Lake {
  readonly label: string;
  constructor(readonly dir: string, label = `file:${dir}`) {
    this.label = label;
  }

  /** The lake in error lines: its label, and its folder when the label does not say it. */
  private get where(): string {
    return this.label === `file:${this.dir}` ? `lake ${this.label}` : `lake ${this.label} (${this.dir})`;
  }

  private file(key: string): string {
    return path.join(this.dir, checkKey(key));
  }

  /** Run a file-system action; its failure becomes one line: `lake <label>: cannot <what>: <why>`. */
  private async guard<T>(what: string, file: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      if (!isFileSystemError(error)) throw error;
      throw new StorageError(`${this.where}: cannot ${what}: ${describeFileError(error, file)}`, errorCode(error));
    }
  }

  async list(): Promise<Listing> {
    const names = await this.guard("list", this.dir, () => readdir(this.dir).catch(noneIfMissing));
    const artifacts: ArtifactInfo[] = [];
    const refused: string[] = [];
    for (const name of names.sort()) {
      if (name.startsWith(".") || isOurFolder(name)) continue; // temporary files, hidden files, promote backups
      if (!isArtifactKey(name)) {
        refused.push(name);
        continue;
      }
      const info = await stat(path.join(this.dir, name)).catch(() => undefined);
      if (info?.isFile()) artifacts.push({ key: name, size: info.size, lastModified: info.mtime });
    }
    return { artifacts, refused };
  }

  async read(key: string): Promise<Buffer | undefined> {
    const file = this.file(key);
    return this.guard(`read ${key}`, file, () => readIfExists(file));
  }

  async write(key: string, bytes: Uint8Array | ArtifactBody, options: WriteOptions = {}): Promise<void> {
    await this.replace(checkKey(key), `write ${key}`, async (temporary) => {
      const handle = await open(temporary, "w");
      try {
        if (bytes instanceof Uint8Array) await handle.writeFile(bytes);
        else for (const chunk of bytes.chunks()) await handle.writeFile(chunk);
        await handle.sync(); // the rename must never expose bytes that are not on disk yet
      } finally {
        await handle.close();
      }
    }, options);
  }

  async copy(fromKey: string, toKey: string): Promise<void> {
    await this.copyFrom(this, fromKey, toKey);
  }

  async copyFrom(from: Lake, fromKey: string, toKey: string): Promise<"file copy" | false> {
    if (!(from instanceof LocalLake)) return false;
    const source = from.file(fromKey);
    await this.replace(checkKey(toKey), `copy ${fromKey} to ${toKey}`, async (temporary) => {
      try {
        await copyFile(source, temporary);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new ArtifactError(`cannot copy ${fromKey}: no such artifact in ${from.label}`);
        throw error;
      }
    });
    return "file copy";
  }

  /**
   * Fill a temporary file in the lake's folder, then rename it over `name` (a checked key or
   * document name): atomic on one file system. Temporaries of `name`'s slug (or document) left
   * by a write that was killed are removed first.
   */
  private async replace(name: string, what: string, fill: (temporary: string) => Promise<void>, options: WriteOptions = {}): Promise<void> {
    const target = path.join(this.dir, name);
    await this.guard(what, target, async () => {
      makeFolder(this.dir);
      const slug = isArtifactKey(name) ? parseKey(name).slug : undefined;
      const ofThisSlug = (of: string) => of === name || (slug !== undefined && isArtifactKey(of) && parseKey(of).slug === slug);
      // A leftover that cannot be removed does not stop the write: the write says what is wrong.
      await readdir(this.dir).then((names) => removeStaleTemporaries(this.dir, names, ofThisSlug)).catch(() => []);
      const temporary = path.join(this.dir, temporaryName(name));
      try {
        await fill(temporary);
        if (options.exclusive) await placeOnce(temporary, target);
        else await rename(temporary, target);
      } catch (error) {
        await rm(temporary, { force: true }).catch(() => {});
        throw error;
      }
    });
  }

  async delete(key: string): Promise<void> {
    const file = this.file(key);
    await this.guard(`delete ${key}`, file, () => rm(file, { force: true }));
  }

  folder(name: string): LocalLake {
    return new LocalLake(path.join(this.dir, checkFolder(name)), `${this.label}/${name}`);
  }

  async folders(name: string): Promise<string[]> {
    const dir = path.join(this.dir, checkFolder(name));
    const entries = await this.guard(`list ${name}`, dir, () => readdir(dir, { withFileTypes: true }).catch(noneIfMissing));
    return entries.filter((e) => e.isDirectory() && SLUG.test(e.name)).map((e) => e.name).sort();
  }

  async readDocument(name: string): Promise<string | undefined> {
    const file = path.join(this.dir, checkDocumentName(name));
    return (await this.guard(`read ${name}`, file, () => readIfExists(file)))?.toString("utf8");
  }

  async writeDocument(name: string, text: string): Promise<void> {
    await this.replace(checkDocumentName(name), `write ${name}`, (temporary) => writeFile(temporary, text));
  }

  /**
   * The folder exists or can be made, is a folder, can be listed, and takes a small file (written,
   * synced, removed): checked before a flow fetches anything, so that a lake that is a file,
   * read-only or full fails at once.
   */
  async checkUsable(): Promise<void> {
    try {
      makeFolder(this.dir);
      const probe = path.join(this.dir, temporaryName("probe"));
      try {
        const handle = await open(probe, "w");
        try {
          await handle.writeFile("this lake takes writes\n");
          await handle.sync();
        } finally {
          await handle.close();
        }
      } finally {
        await rm(probe, { force: true }).catch(() => {});
      }
      await readdir(this.dir);
    } catch (error) {
      if (!isFileSystemError(error)) throw error;
      throw new StorageError(`${this.where} is not usable: ${describeFileError(error, this.dir)}`, errorCode(error));
    }
  }

  /**
   * Remove the temporary files of writes that were killed half-way (their process no longer
   * exists), in the lake's folder and in our folders inside it (promote's backups). Returns their
   * paths relative to the lake's folder.
   */
  async sweepTemporaries(): Promise<string[]> {
    return this.guard("remove temporary files", this.dir, () => sweepFolder(this.dir, "", (name) => isOurFolder(name)));
  }
}

async function sweepFolder(dir: string, relative: string, descend: (name: string) => boolean): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(noneIfMissing);
  const removed = (await removeStaleTemporaries(dir, entries.map((e) => e.name), () => true)).map((name) => path.join(relative, name));
  for (const entry of entries) {
    if (entry.isDirectory() && descend(entry.name)) {
      removed.push(...await sweepFolder(path.join(dir, entry.name), path.join(relative, entry.name), (name) => SLUG.test(name)));
    }
  }
  return removed;
}

/** `.<name>.<pid>.<hex>.tmp`: the writing process's id tells a killed write's leftover from a live one. */
const TEMPORARY = /^\.(.+)\.(\d+)\.[0-9a-f]+\.tmp$/;

function temporaryName(name: string): string {
  return `.${name}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
}

/**
 * Remove the temporary files in `dir` (not below) whose writer no longer exists and whose target
 * `belongs`; returns their names. A temporary of a live process (another writer still filling it,
 * or this process) is kept.
 */
async function removeStaleTemporaries(dir: string, names: string[], belongs: (target: string) => boolean): Promise<string[]> {
  const candidates = names.flatMap((name) => {
    const match = TEMPORARY.exec(name);
    return match && belongs(match[1]!) && Number(match[2]) !== process.pid ? [{ name, pid: Number(match[2]) }] : [];
  });
  if (candidates.length === 0) return [];
  const removed: string[] = [];
  for (const { name, pid } of candidates.sort((a, b) => a.name.localeCompare(b.name))) {
    if (processExists(pid)) continue;
    await rm(path.join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}

/**
 * `mkdir -p` (synchronous: one system call when the folder exists). Node's recursive mkdir says
 * ENOENT whatever stopped it (a read-only file system, no permission): the first missing folder is
 * then made alone, which fails with the real reason.
 */
export function makeFolder(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    mkdirSync(firstMissing(dir));
    mkdirSync(dir, { recursive: true });
  }
}

/** Give the temporary file its final name unless that name exists (a hard link cannot replace a file). */
async function placeOnce(temporary: string, target: string): Promise<void> {
  await link(temporary, target);
  await rm(temporary, { force: true });
}

/** A failure of the operating system (with an errno code), as opposed to one of ours. */
export function isFileSystemError(error: unknown): error is NodeJS.ErrnoException {
  const e = error as NodeJS.ErrnoException | undefined;
  return !(error instanceof UserError) && typeof e?.code === "string" && typeof e.errno === "number";
}

/** The errno code that says what happened: `rm` of a folder is EISDIR, `mkdir` where a file is is ENOTDIR. */
function errorCode(error: NodeJS.ErrnoException): string | undefined {
  if (error.code === "ERR_FS_EISDIR") return "EISDIR";
  if (error.code === "EEXIST" && error.syscall === "mkdir") return "ENOTDIR";
  return error.code;
}

const REASONS: Record<string, string> = {
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EMFILE: "too many open files",
  ENFILE: "too many open files in the system",
  EIO: "input/output error",
};

/**
 * What went wrong, in words, with the path it concerns: `/srv/lake is not a folder (ENOTDIR)`.
 * `file` is the file the operation was about, for errors that carry no path (reading a folder).
 * A temporary file is named by its folder: its name means nothing to a reader.
 */
export function describeFileError(error: NodeJS.ErrnoException, file?: string): string {
  const code = errorCode(error) ?? "unknown";
  const dest = (error as { dest?: string }).dest;
  const where = shown(error.path ?? file ?? "");
  switch (code) {
    case "ENOTDIR": return `${firstNonFolder(error.path ?? file ?? "")} is not a folder (ENOTDIR)`;
    case "EISDIR": return `${firstFolder([dest, error.path, file]) ?? shown(file ?? error.path ?? "")} is a folder (EISDIR)`;
    case "ENOENT": {
      const missing = firstMissing(error.path ?? file ?? "");
      if (TEMPORARY.test(path.basename(missing))) return `a temporary file in ${path.dirname(missing)} was removed during the write (ENOENT)`;
      return `${missing} does not exist (ENOENT)`;
    }
    case "EEXIST": return `${shown(dest ?? error.path ?? file ?? "")} already exists (EEXIST)`;
    // A copy or a rename has two paths: the one written to is on the read-only file system; a
    // permission may be missing on either.
    case "EROFS": return `${dest ? shown(dest) : where} is on a read-only file system (EROFS)`;
    case "EACCES": return `permission denied on ${where}${dest ? ` or ${shown(dest)}` : ""} (EACCES)`;
    case "EPERM": return `operation not permitted on ${where}${dest ? ` or ${shown(dest)}` : ""} (EPERM)`;
  }
  // Node's own text, without its "CODE: " prefix and ", syscall 'path'" suffix.
  const text = REASONS[code] ?? /^[A-Z0-9_]+: ([^,]+)/.exec(error.message)?.[1] ?? error.message;
  return `${text} (${code})`;
}

function shown(file: string): string {
  return TEMPORARY.test(path.basename(file)) ? path.dirname(file) : file;
}

/** The first of the paths that is a folder (of the two paths of a rename or a copy, the one that makes EISDIR). */
function firstFolder(candidates: (string | undefined)[]): string | undefined {
  return candidates.find((file) => {
    try {
      return file !== undefined && statSync(file).isDirectory();
    } catch {
      return false;
    }
  });
}

/** The first folder on the way to `file` that is not a folder (the one that makes ENOTDIR). */
function firstNonFolder(file: string): string {
  const chain = ancestors(file);
  for (const at of chain) {
    try {
      if (!statSync(at).isDirectory()) return at;
    } catch {
      break;
    }
  }
  return file;
}

/** The first missing folder on the way to `file` (or `file` itself). */
function firstMissing(file: string): string {
  for (const at of ancestors(file)) {
    try {
      statSync(at);
    } catch {
      return at;
    }
  }
  return file;
}

/** `/a`, `/a/b`, `/a/b/c` for `/a/b/c`. */
function ancestors(file: string): string[] {
  const chain: string[] = [];
  for (let at = path.resolve(file); ; at = path.dirname(at)) {
    chain.unshift(at);
    if (path.dirname(at) === at) return chain.slice(1);
  }
}

/** For a listing: a folder that does not exist has nothing in it. */
function noneIfMissing(error: NodeJS.ErrnoException): never[] {
  if (error.code === "ENOENT") return [];
  throw error;
}

/** A file's bytes, or undefined when there is no such file. */
async function readIfExists(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}
