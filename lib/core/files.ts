// Files written safely and their failures in words: the temporary name a write goes through (its
// writer's pid in it, so a killed write's leftover can be told from a live one), `mkdir -p`, and which
// path failed and why (ENOTDIR names the file in the way, EROFS the read-only one). The local lake
// and the run history report their errors with it.
import { randomBytes } from "node:crypto";
import { mkdirSync, statSync } from "node:fs";
import path from "node:path";
import { UserError } from "./errors.ts";

/** `.<name>.<pid>.<hex>.tmp`: the writing process's id tells a killed write's leftover from a live one. */
export const TEMPORARY = /^\.(.+)\.(\d+)\.[0-9a-f]+\.tmp$/;

export function temporaryName(name: string): string {
  return `.${name}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
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

/** A failure of the operating system (with an errno code), as opposed to one of ours. */
export function isFileSystemError(error: unknown): error is NodeJS.ErrnoException {
  const e = error as NodeJS.ErrnoException | undefined;
  return !(error instanceof UserError) && typeof e?.code === "string" && typeof e.errno === "number";
}

/** The errno code that says what happened: `rm` of a folder is EISDIR, `mkdir` where a file is is ENOTDIR. */
export function errorCode(error: NodeJS.ErrnoException): string | undefined {
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
