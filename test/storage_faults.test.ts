// Storage faults: a lake that is a file, a key that is a folder, a read-only or full lake, and a
// run history that is not a database, a folder, damaged or locked. Each ends in one line that
// names the lake and the key (or the file and DATA_PIPELINES_DB), never a stack.
import Database from "better-sqlite3";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { RunHistory } from "../lib/history/history.ts";
import { describeFileError } from "../lib/core/files.ts";
import { LocalLake, StorageError } from "../lib/lake/lake.ts";
import { startFakeHttpServer } from "./fakes/http.ts";
import { runScript, tempDir } from "./helpers.ts";

/** Assert that `promise` fails with a StorageError whose message is exactly `line`. */
async function failsWith(promise: Promise<unknown>, line: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof StorageError, `a StorageError, not ${String(error)}`);
    assert.equal(error.message, line);
    return true;
  });
}

/**
 * A tmpfs of `size` mounted on a fresh folder, unmounted when the test ends; undefined where
 * mounting is not allowed (not root, not Linux, no CAP_SYS_ADMIN).
 */
function mountTmpfs(t: { after(fn: () => void): void }, size: string): string | undefined {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return undefined;
  const dir = mkdtempSync(path.join(tmpdir(), "dp-tmpfs-"));
  if (spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "dp-test", dir]).status !== 0) {
    rmdirSync(dir);
    return undefined;
  }
  t.after(() => {
    if (spawnSync("umount", [dir]).status !== 0) spawnSync("umount", ["-l", dir]);
    rmdirSync(dir);
  });
  return dir;
}

const NO_MOUNT = "mounting a tmpfs is not allowed here: the errno wording is covered by the simulated test below";

test("a lake whose folder is a file: every operation, and checkUsable, fail with one line (ENOTDIR)", async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, "lake");
  writeFileSync(file, "not a folder");
  const lake = new LocalLake(file);
  await failsWith(lake.checkUsable(), `lake file:${file} is not usable: ${file} is not a folder (ENOTDIR)`);
  await failsWith(lake.write("raw_verra_data-latest", Buffer.from("x")), `lake file:${file}: cannot write raw_verra_data-latest: ${file} is not a folder (ENOTDIR)`);
  await failsWith(lake.read("raw_verra_data-latest"), `lake file:${file}: cannot read raw_verra_data-latest: ${file} is not a folder (ENOTDIR)`);
  await failsWith(lake.list(), `lake file:${file}: cannot list: ${file} is not a folder (ENOTDIR)`);
  await failsWith(lake.sweepTemporaries(), `lake file:${file}: cannot remove temporary files: ${file} is not a folder (ENOTDIR)`);

  const below = new LocalLake(path.join(file, "lake"), "local");
  await failsWith(below.checkUsable(), `lake local (${file}/lake) is not usable: ${file} is not a folder (ENOTDIR)`);
  await failsWith(below.write("x-latest", Buffer.from("x")), `lake local (${file}/lake): cannot write x-latest: ${file} is not a folder (ENOTDIR)`);
  assert.equal(readFileSync(file, "utf8"), "not a folder");
});

test("a key whose path is a folder: write, copy, read and delete fail naming it (EISDIR), nothing left behind", async (t) => {
  const dir = path.join(tempDir(t), "lake");
  const lake = new LocalLake(dir);
  await lake.write("verra_data_v2-latest", Buffer.from("v2"));
  mkdirSync(path.join(dir, "raw_verra_data-latest"));
  const key = path.join(dir, "raw_verra_data-latest");
  await lake.checkUsable(); // the lake itself is fine
  await failsWith(lake.write("raw_verra_data-latest", Buffer.from("x")), `lake file:${dir}: cannot write raw_verra_data-latest: ${key} is a folder (EISDIR)`);
  await failsWith(lake.copy("verra_data_v2-latest", "raw_verra_data-latest"), `lake file:${dir}: cannot copy verra_data_v2-latest to raw_verra_data-latest: ${key} is a folder (EISDIR)`);
  await failsWith(lake.copy("raw_verra_data-latest", "x-latest"), `lake file:${dir}: cannot copy raw_verra_data-latest to x-latest: ${key} is a folder (EISDIR)`);
  await failsWith(lake.read("raw_verra_data-latest"), `lake file:${dir}: cannot read raw_verra_data-latest: ${key} is a folder (EISDIR)`);
  await failsWith(lake.readRanges("raw_verra_data-latest", (ranges) => ranges.read(0, 10)), `lake file:${dir}: cannot read raw_verra_data-latest: ${key} is a folder (EISDIR)`);
  await failsWith(lake.delete("raw_verra_data-latest"), `lake file:${dir}: cannot delete raw_verra_data-latest: ${key} is a folder (EISDIR)`);
  assert.deepEqual(readdirSync(dir).sort(), ["raw_verra_data-latest", "verra_data_v2-latest"], "no temporary file left");
  assert.deepEqual(readdirSync(key), []);
});

test("a read-only lake (read-only tmpfs): checkUsable and a write fail naming the lake and key (EROFS); the previous -latest is unchanged", async (t) => {
  const dir = mountTmpfs(t, "256k");
  if (!dir) return t.skip(NO_MOUNT);
  const lake = new LocalLake(dir);
  await lake.write("raw_verra_data-latest", Buffer.from("previous"));
  assert.equal(spawnSync("mount", ["-o", "remount,ro", dir]).status, 0);
  await failsWith(lake.checkUsable(), `lake file:${dir} is not usable: ${dir} is on a read-only file system (EROFS)`);
  await failsWith(lake.write("raw_verra_data-latest", Buffer.from("next")), `lake file:${dir}: cannot write raw_verra_data-latest: ${dir} is on a read-only file system (EROFS)`);
  await failsWith(lake.copy("raw_verra_data-latest", "x-latest"), `lake file:${dir}: cannot copy raw_verra_data-latest to x-latest: ${dir} is on a read-only file system (EROFS)`);
  await failsWith(lake.delete("raw_verra_data-latest"), `lake file:${dir}: cannot delete raw_verra_data-latest: ${dir}/raw_verra_data-latest is on a read-only file system (EROFS)`);
  assert.deepEqual(await lake.read("raw_verra_data-latest"), Buffer.from("previous"), "reading still works");
  const below = new LocalLake(path.join(dir, "lake"));
  await failsWith(below.checkUsable(), `lake file:${dir}/lake is not usable: ${dir}/lake is on a read-only file system (EROFS)`);
});

test("a full lake (64 KB tmpfs): a write fails naming the lake and key (ENOSPC) and leaves nothing; checkUsable of a full lake fails", async (t) => {
  const dir = mountTmpfs(t, "64k");
  if (!dir) return t.skip(NO_MOUNT);
  const lake = new LocalLake(dir);
  await lake.write("raw_verra_data-latest", Buffer.from("previous"));
  await lake.checkUsable(); // room left
  await failsWith(lake.write("raw_verra_data-2026_01_02__03_04_05", Buffer.alloc(256 * 1024, 1)),
    `lake file:${dir}: cannot write raw_verra_data-2026_01_02__03_04_05: no space left on device (ENOSPC)`);
  assert.deepEqual(readdirSync(dir), ["raw_verra_data-latest"], "the temporary file is removed");
  assert.deepEqual(await lake.read("raw_verra_data-latest"), Buffer.from("previous"));

  assert.throws(() => writeFileSync(path.join(dir, "filler"), Buffer.alloc(256 * 1024, 1)), /ENOSPC/);
  await failsWith(lake.checkUsable(), `lake file:${dir} is not usable: no space left on device (ENOSPC)`);
  assert.deepEqual(readdirSync(dir).sort(), ["filler", "raw_verra_data-latest"], "the probe file is removed");
});

test("errno wording, simulated at the file-system boundary (for systems where a tmpfs cannot be mounted)", () => {
  const fault = (code: string, syscall: string, file: string, text: string) =>
    Object.assign(new Error(`${code}: ${text}, ${syscall} '${file}'`), { code, errno: -1, syscall, path: file });
  const temporary = "/srv/lake/.raw_verra_data-latest.123.0a1b2c3d.tmp";
  assert.equal(describeFileError(fault("ENOSPC", "write", temporary, "no space left on device")), "no space left on device (ENOSPC)");
  assert.equal(describeFileError(fault("EDQUOT", "write", temporary, "disk quota exceeded")), "disk quota exceeded (EDQUOT)");
  assert.equal(describeFileError(fault("EROFS", "open", temporary, "read-only file system")), "/srv/lake is on a read-only file system (EROFS)");
  assert.equal(describeFileError(fault("EACCES", "open", temporary, "permission denied")), "permission denied on /srv/lake (EACCES)");
  assert.equal(describeFileError(fault("EPERM", "unlink", "/srv/lake/x-latest", "operation not permitted")), "operation not permitted on /srv/lake/x-latest (EPERM)");
  const copy = Object.assign(fault("EACCES", "copyfile", "/srv/other/x-latest", "permission denied"), { dest: temporary });
  assert.equal(describeFileError(copy), "permission denied on /srv/other/x-latest or /srv/lake (EACCES)");
  assert.equal(describeFileError(fault("EIO", "read", "/srv/lake/x-latest", "i/o error")), "input/output error (EIO)");
  assert.equal(describeFileError(fault("ELOOP", "open", "/srv/lake/x-latest", "too many symbolic links encountered")), "too many symbolic links encountered (ELOOP)");
});

test("a flow whose lake is a file fails before it fetches: one line, no request reached the source, the run recorded failed", async (t) => {
  const dir = tempDir(t);
  let requests = 0;
  const source = await startFakeHttpServer(async (_req, res) => {
    requests++;
    res.writeHead(500).end();
  });
  t.after(() => source.stop());
  const lakeFile = path.join(dir, "lake");
  writeFileSync(lakeFile, "not a folder");
  const db = path.join(dir, "runs.sqlite");
  const result = await runScript("scripts/raw_verra_data.ts", [], {
    cwd: dir,
    env: {
      DATA_PIPELINES_RESULT_STORAGE: `file:${lakeFile}`,
      DATA_PIPELINES_DB: db,
      DATA_PIPELINES_VERRA_SEARCH_URL: `http://127.0.0.1:${source.port}/uiapi/asset/asset/search`,
    },
  });
  const line = `lake file:${lakeFile} is not usable: ${lakeFile} is not a folder (ENOTDIR)`;
  assert.equal(result.code, 1, result.stderr);
  assert.equal(requests, 0, "nothing fetched");
  const output = `${result.stdout}${result.stderr}`;
  assert.equal(output.split("\n").filter((l) => l.includes("ENOTDIR")).length, 1, output);
  assert.ok(output.includes(line), output);
  assert.doesNotMatch(output, /^\s+at /m, "no stack trace");
  const history = RunHistory.open(db);
  t.after(() => history.close());
  const [run] = history.list({ flow: "raw_verra_data" });
  assert.equal(run?.status, "failed");
  assert.equal(run?.error, line);
  assert.equal(readFileSync(lakeFile, "utf8"), "not a folder");
});

// ------------------------------------------------------------------------------------------------
// Run history
// ------------------------------------------------------------------------------------------------

function opensWith(file: string, line: string, options?: { busyTimeoutMs?: number }): void {
  assert.throws(() => RunHistory.open(file, options), (error: unknown) => {
    assert.equal((error as Error).name, "UserError");
    assert.equal((error as Error).message, line);
    return true;
  });
}

test("a run history that is not an SQLite database: one line naming the file and DATA_PIPELINES_DB; the file is left as it was", (t) => {
  const dir = tempDir(t);
  for (const [name, text] of [["notes.txt", "my notes\n"], ["long.txt", "x".repeat(5000)], ["one.txt", "x"]] as const) {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    opensWith(file, `the run history ${file} (DATA_PIPELINES_DB) is not an SQLite database (file is not a database): point DATA_PIPELINES_DB at another file or move this one aside`);
    assert.equal(readFileSync(file, "utf8"), text, `${name} untouched`);
  }
});

test("a run history that is a folder, or below a file: one line naming the file and DATA_PIPELINES_DB", (t) => {
  const dir = tempDir(t);
  const folder = path.join(dir, "runs.sqlite");
  mkdirSync(folder);
  opensWith(folder, `the run history ${folder} (DATA_PIPELINES_DB) cannot be opened: ${folder} is a folder (EISDIR): point DATA_PIPELINES_DB at a file in a writable folder`);
  const file = path.join(dir, "data");
  writeFileSync(file, "a file");
  opensWith(path.join(file, "runs.sqlite"),
    `the run history ${file}/runs.sqlite (DATA_PIPELINES_DB) cannot be opened: ${file} is not a folder (ENOTDIR): point DATA_PIPELINES_DB at a file in a writable folder`);
});

test("a run history in a read-only folder (read-only tmpfs): one line naming the file and DATA_PIPELINES_DB", (t) => {
  const dir = mountTmpfs(t, "256k");
  if (!dir) return t.skip(NO_MOUNT);
  assert.equal(spawnSync("mount", ["-o", "remount,ro", dir]).status, 0);
  const file = path.join(dir, "runs.sqlite");
  opensWith(file, `the run history ${file} (DATA_PIPELINES_DB) cannot be opened: ${dir} is on a read-only file system (EROFS): point DATA_PIPELINES_DB at a file in a writable folder`);
  const below = path.join(dir, "data", "runs.sqlite");
  opensWith(below, `the run history ${below} (DATA_PIPELINES_DB) cannot be opened: ${dir}/data is on a read-only file system (EROFS): point DATA_PIPELINES_DB at a file in a writable folder`);
});

test("a damaged run history: one line naming the file and DATA_PIPELINES_DB and what to do", (t) => {
  const file = path.join(tempDir(t), "runs.sqlite");
  const history = RunHistory.open(file);
  for (let i = 0; i < 300; i++) history.addNote(history.start({ flow: "raw_verra_data", trigger: "manual" }), "n".repeat(200));
  history.close();
  const bytes = readFileSync(file);
  bytes.fill(0x41, 4096 * 2); // every page after the schema (page 1) overwritten, wherever the table's pages lie
  writeFileSync(file, bytes);
  const damaged = RunHistory.open(file);
  t.after(() => damaged.close());
  assert.throws(() => damaged.list({ limit: 1000 }), {
    name: "UserError",
    message: `the run history ${file} (DATA_PIPELINES_DB) is damaged (database disk image is malformed): move it aside (a new one is made on the next run) or point DATA_PIPELINES_DB at another file`,
  });
});

test("a run history locked by another connection: open reads, a write fails after the busy timeout with one line; it works once released", (t) => {
  const file = path.join(tempDir(t), "runs.sqlite");
  RunHistory.open(file).close();
  const holder = new Database(file);
  t.after(() => holder.close());
  holder.exec("BEGIN EXCLUSIVE");
  const history = RunHistory.open(file, { busyTimeoutMs: 50 });
  t.after(() => history.close());
  const busy = `the run history ${file} (DATA_PIPELINES_DB) is busy: another process holds a write lock for more than 0.05 s (database is locked); `
    + `try again when it is done (lsof ${file} lists the processes that have it open)`;
  assert.throws(() => history.start({ flow: "raw_verra_data", trigger: "manual" }), { name: "UserError", message: busy });
  assert.deepEqual(history.list(), [], "reading is not blocked (WAL)");
  holder.exec("ROLLBACK");
  const id = history.start({ flow: "raw_verra_data", trigger: "manual" });
  holder.exec("BEGIN EXCLUSIVE");
  assert.throws(() => history.finish(id, { status: "succeeded" }), { name: "UserError", message: busy }, "any write, not only the first");
  holder.exec("ROLLBACK");
  history.finish(id, { status: "succeeded" });
  assert.equal(history.get(id)?.status, "succeeded");
});

test("runs.ts with DATA_PIPELINES_DB at a file that is not a database prints one line and exits 1", async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, "runs.sqlite");
  writeFileSync(file, "this is a text file\n");
  const result = await runScript("scripts/runs.ts", [], { cwd: dir, env: { DATA_PIPELINES_DB: file } });
  assert.equal(result.code, 1);
  assert.equal(result.stdout, "");
  assert.equal(result.stderr,
    `error: the run history ${file} (DATA_PIPELINES_DB) is not an SQLite database (file is not a database): point DATA_PIPELINES_DB at another file or move this one aside\n`);
  assert.equal(readFileSync(file, "utf8"), "this is a text file\n");
});
