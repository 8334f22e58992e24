// The local lake: a folder of artifact files, written through a temporary file and a rename, so a
// reader never sees half an artifact and a killed write leaves only a temporary to sweep.
import { copyFile, link, open, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import type { ArtifactBody } from "../artifact/artifact.ts";
import { ArtifactError } from "../core/errors.ts";
import { describeFileError, errorCode, isFileSystemError, makeFolder, TEMPORARY, temporaryName } from "../core/files.ts";
import { processExists } from "../process/processes.ts";
import {
  type ArtifactInfo, type ByteRanges, checkDocumentName, checkFolder, checkKey, isArtifactKey, isOurFolder, type Lake, type Listing, parseKey, SLUG, StorageError,
  type WriteOptions,
} from "./keys.ts";

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

  async readRanges<T>(key: string, use: (ranges: ByteRanges) => Promise<T>): Promise<T | undefined> {
    const file = this.file(key);
    const handle = await this.guard(`read ${key}`, file, () => ifExists(open(file, "r")));
    if (!handle) return undefined;
    try {
      const { size } = await this.guard(`read ${key}`, file, () => handle.stat());
      return await use({
        size,
        read: (start, end) => this.guard(`read ${key}`, file, async () => {
          const bytes = Buffer.alloc(end - start);
          const { bytesRead } = await handle.read(bytes, 0, bytes.length, start);
          if (bytesRead !== bytes.length) throw new ArtifactError(`${this.where}: cannot read ${key}: bytes ${start} to ${end} are beyond its end`);
          return bytes;
        }),
      });
    } finally {
      await handle.close();
    }
  }

  async write(key: string, bytes: Uint8Array | ArtifactBody, options: WriteOptions = {}): Promise<void> {
    await this.replace(checkKey(key), `write ${key}`, async (temporary) => {
      const handle = await open(temporary, "w");
      try {
        if (bytes instanceof Uint8Array) await handle.writeFile(bytes);
        else for (const chunk of bytes.chunks()) await handle.writeFile(chunk);
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
   * Fill a temporary file in the lake's folder, flush it to disk, then rename it over `name` (a
   * checked key or document name): atomic on one file system, and after a power cut the old bytes or
   * all the new ones. Temporaries of `name`'s slug (or document) left by a write that was killed are
   * removed first.
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
        await syncFile(temporary); // the rename must never expose bytes that are not on disk yet
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


/** Give the temporary file its final name unless that name exists (a hard link cannot replace a file). */
async function placeOnce(temporary: string, target: string): Promise<void> {
  await link(temporary, target);
  await rm(temporary, { force: true });
}

/** For a listing: a folder that does not exist has nothing in it. */
function noneIfMissing(error: NodeJS.ErrnoException): never[] {
  if (error.code === "ENOENT") return [];
  throw error;
}

/** A file's bytes, or undefined when there is no such file. */
function readIfExists(file: string): Promise<Buffer | undefined> {
  return ifExists(readFile(file));
}

/** What a file operation gives, or undefined when there is no such file. */
async function ifExists<T>(operation: Promise<T>): Promise<T | undefined> {
  try {
    return await operation;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** Flush a file's bytes to disk. */
async function syncFile(file: string): Promise<void> {
  const handle = await open(file, "r+");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
