// The lake: where artifacts live. One interface, a local folder here, an
// S3 bucket elsewhere. Keys are flat and checked before they touch a path.
import { randomBytes } from "node:crypto";
import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import type { ArtifactBody } from "./artifact.ts";
import type { Config, Storage } from "./config.ts";
import { ArtifactError } from "./errors.ts";

export interface ArtifactInfo {
  key: string;
  size: number;
  lastModified: Date;
  /** The object's version as S3 reports it (quoted); not on local lakes. */
  etag?: string;
}

export interface Listing {
  artifacts: ArtifactInfo[];
  /** Names found in the lake that are not valid artifact keys: reported, never used. */
  refused: string[];
}

export interface Lake {
  /** What this lake is, for logs (no secrets). */
  readonly label: string;
  list(): Promise<Listing>;
  /** The bytes of an artifact, or undefined when there is none. */
  read(key: string): Promise<Buffer | undefined>;
  /** Atomic: a reader sees the old bytes or the new ones, never a mix. */
  write(key: string, bytes: Uint8Array | ArtifactBody): Promise<void>;
  /** Atomic too; server-side where the lake allows it. */
  copy(fromKey: string, toKey: string): Promise<void>;
  /** Copy from another lake without passing the bytes through this process: how, or false when it cannot. */
  copyFrom(source: Lake, fromKey: string, toKey: string, ifMatch?: string): Promise<"server-side" | "file copy" | false>;
  delete(key: string): Promise<void>;
  /** A lake in one of our folders of this one (`_promote/<stamp>`): never part of this lake's listing. */
  folder(name: string): Lake;
  /** The sub-folders of one of our folders, sorted. */
  folders(name: string): Promise<string[]>;
  /** Small JSON documents beside the artifacts of a folder (a promote's manifest). */
  readDocument(name: string): Promise<string | undefined>;
  writeDocument(name: string, text: string): Promise<void>;
}

/** Folders the scripts keep inside a lake; everything else in a lake must be an artifact. */
const OUR_FOLDERS = new Set(["_promote"]);

export function isOurFolder(name: string): boolean {
  return OUR_FOLDERS.has(name);
}

export function checkFolder(name: string): string {
  const parts = name.split("/");
  if (!isOurFolder(parts[0]!) || !parts.every((p) => SLUG.test(p))) throw new ArtifactError(`refused folder "${name}"`);
  return name;
}

export function checkDocumentName(name: string): string {
  if (!/^[a-z0-9_]+\.json$/.test(name)) throw new ArtifactError(`refused document name "${name}"`);
  return name;
}

export const SLUG = /^[a-z0-9_]+$/;
const KEY = /^([a-z0-9_]+)-(latest|\d{4}_\d{2}_\d{2}__\d{2}_\d{2}_\d{2})$/;

export function latestKey(slug: string): string {
  return `${checkSlug(slug)}-latest`;
}

/** `<slug>-YYYY_MM_DD__HH_MM_SS` in UTC. */
export function historizedKey(slug: string, at: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  const stamp = `${at.getUTCFullYear()}_${p(at.getUTCMonth() + 1)}_${p(at.getUTCDate())}__${p(at.getUTCHours())}_${p(at.getUTCMinutes())}_${p(at.getUTCSeconds())}`;
  return `${checkSlug(slug)}-${stamp}`;
}

export function checkSlug(slug: string): string {
  if (!SLUG.test(slug)) throw new ArtifactError(`"${slug}" is not a valid slug (lower-case letters, digits and _ only)`);
  return slug;
}

export function isArtifactKey(key: string): boolean {
  return KEY.test(key);
}

export function checkKey(key: string): string {
  if (!KEY.test(key)) throw new ArtifactError(`refused key "${key}": not <slug>-latest or <slug>-<YYYY_MM_DD__HH_MM_SS>`);
  return key;
}

/** The slug and suffix of a valid key. */
export function parseKey(key: string): { slug: string; latest: boolean } {
  const match = KEY.exec(checkKey(key))!;
  return { slug: match[1]!, latest: match[2] === "latest" };
}

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
  config: Pick<Config, "s3Endpoint" | "awsAccessKeyId" | "awsSecretAccessKey" | "httpTimeoutMs">,
): Promise<Lake> {
  if (storage.kind === "local") return new LocalLake(storage.dir, storage.label);
  const { s3Lake } = await import("./s3.ts");
  return s3Lake(storage.bucket, storage.prefix, storage.label, {
    endpoint: config.s3Endpoint, accessKeyId: config.awsAccessKeyId, secretAccessKey: config.awsSecretAccessKey, timeoutMs: config.httpTimeoutMs,
  });
}

/** A flat folder of artifact files. Writes go to a temporary file in the same folder, then rename. */
export class LocalLake implements Lake {
  readonly label: string;
  constructor(readonly dir: string, label = `file:${dir}`) {
    this.label = label;
  }

  private file(key: string): string {
    return path.join(this.dir, checkKey(key));
  }

  async list(): Promise<Listing> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { artifacts: [], refused: [] };
      throw error;
    }
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
    return readIfExists(this.file(key));
  }

  async write(key: string, bytes: Uint8Array | ArtifactBody): Promise<void> {
    await this.replace(checkKey(key), async (temporary) => {
      const handle = await open(temporary, "w");
      try {
        if (bytes instanceof Uint8Array) await handle.writeFile(bytes);
        else for (const chunk of bytes.chunks()) await handle.writeFile(chunk);
        await handle.sync(); // the rename must never expose bytes that are not on disk yet
      } finally {
        await handle.close();
      }
    });
  }

  async copy(fromKey: string, toKey: string): Promise<void> {
    await this.copyFrom(this, fromKey, toKey);
  }

  async copyFrom(from: Lake, fromKey: string, toKey: string): Promise<"file copy" | false> {
    if (!(from instanceof LocalLake)) return false;
    const source = from.file(fromKey);
    await this.replace(checkKey(toKey), async (temporary) => {
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
   * document name): atomic on one file system.
   */
  private async replace(name: string, fill: (temporary: string) => Promise<void>): Promise<void> {
    const target = path.join(this.dir, name);
    await mkdir(this.dir, { recursive: true });
    const temporary = path.join(this.dir, `.${name}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
    try {
      await fill(temporary);
      await rename(temporary, target);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.file(key), { force: true });
  }

  folder(name: string): LocalLake {
    return new LocalLake(path.join(this.dir, checkFolder(name)), `${this.label}/${name}`);
  }

  async folders(name: string): Promise<string[]> {
    const entries = await readdir(path.join(this.dir, checkFolder(name)), { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return [];
      throw error;
    });
    return entries.filter((e) => e.isDirectory() && SLUG.test(e.name)).map((e) => e.name).sort();
  }

  async readDocument(name: string): Promise<string | undefined> {
    return (await readIfExists(path.join(this.dir, checkDocumentName(name))))?.toString("utf8");
  }

  async writeDocument(name: string, text: string): Promise<void> {
    await this.replace(checkDocumentName(name), (temporary) => writeFile(temporary, text));
  }
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
