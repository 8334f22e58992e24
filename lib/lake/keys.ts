// The lake's contract: the Lake interface every kind of lake implements (lib/lake/lake.ts: a local
// folder; lib/lake/s3.ts: an S3 bucket), the artifact keys and folder names a lake accepts, and the
// error a storage failure becomes. It imports no lake, so that each kind of lake can import it.
import type { ArtifactBody, ByteRanges } from "../artifact/artifact.ts";
import { ArtifactError, UserError } from "../core/errors.ts";

export type { ByteRanges };

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
  /** The bytes of an artifact, or undefined when there is none: a buffer of the caller's own (a flow decodes over it). */
  read(key: string): Promise<Buffer | undefined>;
  /**
   * Parts of an artifact, for a reader that needs a few ranges of it rather than all of it: `use` is
   * given its size and a way to read bytes [start, end), all of one version of it (a file opened
   * once; an object pinned by its ETag). Undefined when there is no such artifact.
   */
  readRanges<T>(key: string, use: (ranges: ByteRanges) => Promise<T>): Promise<T | undefined>;
  /** Atomic: a reader sees the old bytes or the new ones, never a mix. */
  write(key: string, bytes: Uint8Array | ArtifactBody, options?: WriteOptions): Promise<void>;
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
  /**
   * Fail with one line unless the lake can be written: its folder exists or can be made, is a
   * folder, and takes a small file (local); the bucket answers (S3). Called before a flow fetches.
   */
  checkUsable(): Promise<void>;
  /**
   * Remove what writes killed half-way left behind (local temporary files); returns what it removed.
   * Optional: an S3 write is one PUT and leaves nothing behind.
   */
  sweepTemporaries?(): Promise<string[]>;
}

export interface WriteOptions {
  /**
   * Refuse to replace an existing artifact (a historized key is written once: two runs of a flow in
   * the same second cannot overwrite each other's copy). Local lakes honour it.
   */
  exclusive?: boolean;
}

/** A lake's folder or file failed (full, read-only, not a folder, ...): one line naming the lake and the key. */
export class StorageError extends UserError {
  override name = "StorageError";
  constructor(message: string, readonly code: string | undefined) {
    super(message);
  }
}

/** Folders the scripts keep inside a lake; everything else in a lake must be an artifact. */
const OUR_FOLDERS = new Set(["_promote", "_backup"]);

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
