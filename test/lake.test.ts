import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, utimesSync, writeFileSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { ArtifactError } from "../lib/core/errors.ts";
import { historizedKey, latestKey, LocalLake, openLake, parseKey } from "../lib/lake/lake.ts";
import { ROOT, tempDir, testConfig } from "./helpers.ts";

/** Every file and folder under `dir`, relative, sorted. */
function tree(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).sort();
}

const BAD_KEYS = ["../x-latest", "a/b-latest", "UPPER-latest", "x-latest/..", "x", "", "x-latest ", "x-2026_1_2__3_4_5", "/etc/passwd-latest", "..\\x-latest", "x-latest\n"];

test("write, read, list, copy and delete an artifact", async (t) => {
  const dir = tempDir(t);
  const lake = new LocalLake(path.join(dir, "lake"));
  assert.equal(lake.label, `file:${path.join(dir, "lake")}`);

  await lake.write("raw_verra_data-latest", Buffer.from("hello lake"));
  await lake.write("raw_verra_data-2026_01_02__03_04_05", new Uint8Array([1, 2, 3, 4, 5]));
  assert.deepEqual(await lake.read("raw_verra_data-latest"), Buffer.from("hello lake"));
  assert.deepEqual(await lake.read("raw_verra_data-2026_01_02__03_04_05"), Buffer.from([1, 2, 3, 4, 5]));
  assert.deepEqual(readFileSync(path.join(dir, "lake", "raw_verra_data-latest"), "utf8"), "hello lake");

  const when = new Date("2025-06-01T12:34:56Z");
  utimesSync(path.join(dir, "lake", "raw_verra_data-latest"), when, when);
  const listing = await lake.list();
  assert.deepEqual(listing.refused, []);
  assert.deepEqual(listing.artifacts.map((a) => [a.key, a.size]), [
    ["raw_verra_data-2026_01_02__03_04_05", 5],
    ["raw_verra_data-latest", 10],
  ]);
  const latest = listing.artifacts.find((a) => a.key === "raw_verra_data-latest")!;
  assert.ok(latest.lastModified instanceof Date);
  assert.equal(latest.lastModified.toISOString(), "2025-06-01T12:34:56.000Z");

  await lake.copy("raw_verra_data-latest", "verra_data_v2-latest");
  assert.deepEqual(await lake.read("verra_data_v2-latest"), Buffer.from("hello lake"));
  assert.deepEqual(await lake.read("raw_verra_data-latest"), Buffer.from("hello lake"), "the source stays");

  await lake.delete("raw_verra_data-latest");
  assert.equal(await lake.read("raw_verra_data-latest"), undefined);
  await lake.delete("raw_verra_data-latest"); // deleting what is gone is not an error
  assert.deepEqual((await lake.list()).artifacts.map((a) => a.key), ["raw_verra_data-2026_01_02__03_04_05", "verra_data_v2-latest"]);
  assert.deepEqual(tree(path.join(dir, "lake")), ["raw_verra_data-2026_01_02__03_04_05", "verra_data_v2-latest"]);
});

test("openLake gives a LocalLake for local storage", async (t) => {
  const dir = tempDir(t);
  const lake = await openLake({ kind: "local", dir, label: "file:somewhere" }, testConfig(dir));
  assert.ok(lake instanceof LocalLake);
  assert.equal(lake.label, "file:somewhere");
  await lake.write("x-latest", Buffer.from("x"));
  assert.deepEqual(tree(dir), ["x-latest"]);
});

test("reading a missing key gives undefined; listing a missing folder is empty", async (t) => {
  const dir = tempDir(t);
  const lake = new LocalLake(path.join(dir, "not-yet"));
  assert.equal(await lake.read("nothing-latest"), undefined);
  assert.deepEqual(await lake.list(), { artifacts: [], refused: [] });
  mkdirSync(path.join(dir, "not-yet"));
  assert.equal(await lake.read("nothing-latest"), undefined);
  assert.deepEqual(await lake.list(), { artifacts: [], refused: [] });
});

test("copying a missing artifact fails naming it", async (t) => {
  const lake = new LocalLake(tempDir(t));
  await assert.rejects(lake.copy("gone-latest", "other-latest"), (error: unknown) => {
    assert.ok(error instanceof ArtifactError);
    assert.match(error.message, /^cannot copy gone-latest: no such artifact in file:/);
    return true;
  });
});

test("keys that are not <slug>-latest or <slug>-YYYY_MM_DD__HH_MM_SS are refused before touching the disk", async (t) => {
  const dir = tempDir(t);
  const lake = new LocalLake(path.join(dir, "lake"));
  const isRefusal = (key: string) => (error: unknown) => {
    assert.ok(error instanceof ArtifactError, `${JSON.stringify(key)}: ArtifactError, got ${String(error)}`);
    assert.ok(error.message.startsWith(`refused key "${key}"`), error.message);
    return true;
  };
  for (const key of BAD_KEYS) {
    await assert.rejects(lake.write(key, Buffer.from("evil")), isRefusal(key), `write ${JSON.stringify(key)}`);
    await assert.rejects(lake.read(key), isRefusal(key), `read ${JSON.stringify(key)}`);
    await assert.rejects(lake.delete(key), isRefusal(key), `delete ${JSON.stringify(key)}`);
    await assert.rejects(lake.copy(key, "fine-latest"), isRefusal(key), `copy from ${JSON.stringify(key)}`);
  }
  assert.deepEqual(tree(dir), [], "nothing was created anywhere in the temporary folder");

  await lake.write("fine-latest", Buffer.from("ok"));
  for (const key of BAD_KEYS) {
    await assert.rejects(lake.copy("fine-latest", key), isRefusal(key), `copy to ${JSON.stringify(key)}`);
  }
  assert.deepEqual(tree(dir), ["lake", path.join("lake", "fine-latest")]);
});

test("list reports foreign files as refused and ignores hidden temporary files", async (t) => {
  const dir = tempDir(t);
  const lake = new LocalLake(dir);
  await lake.write("good-latest", Buffer.from("abc"));
  writeFileSync(path.join(dir, "README.txt"), "foreign");
  writeFileSync(path.join(dir, "UPPER-latest"), "foreign");
  writeFileSync(path.join(dir, "good-2026_01_02"), "foreign");
  writeFileSync(path.join(dir, ".good-latest.1234.deadbeef.tmp"), "half-written");
  writeFileSync(path.join(dir, ".DS_Store"), "hidden");
  const listing = await lake.list();
  assert.deepEqual(listing.artifacts.map((a) => [a.key, a.size]), [["good-latest", 3]]);
  assert.deepEqual(listing.refused, ["README.txt", "UPPER-latest", "good-2026_01_02"]);
});

test("write leaves no temporary file behind, and an overwrite replaces the bytes completely", async (t) => {
  const dir = tempDir(t);
  const lake = new LocalLake(dir);
  const big = Buffer.alloc(100_000, 0x61);
  await lake.write("data-latest", big);
  assert.deepEqual(readdirSync(dir), ["data-latest"]);
  await lake.write("data-latest", Buffer.from("xyz"));
  assert.deepEqual(readdirSync(dir), ["data-latest"]);
  assert.deepEqual(await lake.read("data-latest"), Buffer.from("xyz"));
  assert.equal(readFileSync(path.join(dir, "data-latest")).length, 3);
  await lake.write("data-latest", new Uint8Array(0));
  assert.deepEqual(await lake.read("data-latest"), Buffer.alloc(0));
  assert.deepEqual(readdirSync(dir), ["data-latest"]);
});

test("concurrent writes of one key leave one complete version and no temporary file", async (t) => {
  const dir = tempDir(t);
  const lake = new LocalLake(dir);
  const versions = Array.from({ length: 8 }, (_, i) => Buffer.alloc(20_000 + i, 0x30 + i));
  await Promise.all(versions.map((bytes) => lake.write("race-latest", bytes)));
  const got = (await lake.read("race-latest"))!;
  assert.ok(versions.some((v) => v.equals(got)), "one of the written versions, whole");
  assert.deepEqual(readdirSync(dir), ["race-latest"]);
});

/** The pid of a process that has ended (and been reaped). */
function deadPid(): number {
  const child = spawnSync("true");
  assert.equal(child.status, 0);
  return child.pid;
}

test("a write removes its slug's temporaries left by killed writes, keeping a live writer's and other slugs'", async (t) => {
  const dir = tempDir(t);
  const lake = new LocalLake(dir);
  const dead = deadPid();
  const live = process.ppid; // alive, and not this process: another writer still filling its file
  const leftovers = [
    `.raw_verra_data-latest.${dead}.0a0a0a0a.tmp`,
    `.raw_verra_data-2026_01_02__03_04_05.${dead}.0b0b0b0b.tmp`,
    `.raw_verra_data-latest.${live}.0c0c0c0c.tmp`,
    `.raw_verra_data_v2-latest.${dead}.0d0d0d0d.tmp`,
    `.manifest.json.${dead}.0e0e0e0e.tmp`,
    ".hidden",
  ];
  for (const name of leftovers) writeFileSync(path.join(dir, name), "half-written");
  await lake.write("raw_verra_data-2026_02_03__04_05_06", Buffer.from("new"));
  assert.deepEqual(readdirSync(dir).sort(), [
    `.hidden`,
    `.manifest.json.${dead}.0e0e0e0e.tmp`,
    `.raw_verra_data-latest.${live}.0c0c0c0c.tmp`,
    `.raw_verra_data_v2-latest.${dead}.0d0d0d0d.tmp`,
    "raw_verra_data-2026_02_03__04_05_06",
  ]);
  await lake.copy("raw_verra_data-2026_02_03__04_05_06", "verra_data_v2-latest"); // another slug: not the one with an underscore after it
  assert.ok(readdirSync(dir).includes(`.raw_verra_data_v2-latest.${dead}.0d0d0d0d.tmp`));
  await lake.writeDocument("manifest.json", "{}");
  assert.ok(!readdirSync(dir).includes(`.manifest.json.${dead}.0e0e0e0e.tmp`), "a document's own leftovers go with its next write");
});

test("sweepTemporaries removes every killed write's temporary, in the lake and in our folders, and says which", async (t) => {
  const dir = tempDir(t);
  const lake = new LocalLake(dir);
  const dead = deadPid();
  const backup = path.join(dir, "_promote", "2026_01_02__03_04_05");
  mkdirSync(backup, { recursive: true });
  mkdirSync(path.join(dir, "not_ours"));
  await lake.write("verra_data_v2-latest", Buffer.from("v2"));
  const stale = [`.verra_data_v2-latest.${dead}.00000001.tmp`, `.x-2026_01_02__03_04_05.${dead}.00000002.tmp`];
  for (const name of stale) writeFileSync(path.join(dir, name), "half");
  writeFileSync(path.join(backup, `.x-latest.${dead}.00000003.tmp`), "half");
  writeFileSync(path.join(backup, `.manifest.json.${dead}.00000004.tmp`), "half");
  writeFileSync(path.join(dir, `.x-latest.${process.ppid}.00000005.tmp`), "a live writer's");
  writeFileSync(path.join(dir, "not_ours", `.x-latest.${dead}.00000006.tmp`), "not in a folder of ours: left alone");
  assert.deepEqual(await lake.sweepTemporaries(), [
    ...stale,
    path.join("_promote", "2026_01_02__03_04_05", `.manifest.json.${dead}.00000004.tmp`),
    path.join("_promote", "2026_01_02__03_04_05", `.x-latest.${dead}.00000003.tmp`),
  ]);
  assert.deepEqual(tree(dir), [
    `.x-latest.${process.ppid}.00000005.tmp`,
    "_promote",
    path.join("_promote", "2026_01_02__03_04_05"),
    "not_ours",
    path.join("not_ours", `.x-latest.${dead}.00000006.tmp`),
    "verra_data_v2-latest",
  ]);
  assert.deepEqual(await lake.sweepTemporaries(), [], "nothing left to remove");
  assert.deepEqual(await new LocalLake(path.join(dir, "missing")).sweepTemporaries(), [], "a lake not made yet has none");
});

test("a write killed half-way leaves a temporary that the next write of the slug removes", async (t) => {
  const dir = tempDir(t);
  const child = spawn(process.execPath, ["--import", "tsx", "-e", `
    const { LocalLake } = await import(${JSON.stringify(path.join(ROOT, "lib", "lake", "lake.ts"))});
    const { writeSync } = await import("node:fs");
    // Half the body written, then this process spins until it is killed (no catch can remove the file).
    const body = { length: 2, *chunks() { yield Buffer.from("a"); writeSync(1, "writing\\n"); for (;;); } };
    await new LocalLake(${JSON.stringify(dir)}).write("verra_data_v2-latest", body);
  `], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  t.after(() => child.kill("SIGKILL"));
  const ended = once(child, "exit");
  await Promise.race([once(child.stdout!, "data"), ended.then(() => assert.fail("the writer ended before it wrote"))]);
  child.kill("SIGKILL");
  await ended;
  const leftover = readdirSync(dir);
  assert.equal(leftover.length, 1);
  assert.match(leftover[0]!, new RegExp(`^\\.verra_data_v2-latest\\.${child.pid}\\.[0-9a-f]{8}\\.tmp$`));
  await new LocalLake(dir).write("verra_data_v2-2026_01_02__03_04_05", Buffer.from("next"));
  assert.deepEqual(readdirSync(dir), ["verra_data_v2-2026_01_02__03_04_05"]);
});

test("a write, a copy and a document flush the new file's bytes to disk before the rename shows it", async (t) => {
  const dir = tempDir(t);
  const lake = new LocalLake(path.join(dir, "lake"));
  // Which files are flushed, and whether the key already held them then: FileHandle.sync, watched.
  const probe = await open(path.join(dir, "probe"), "w");
  const handlePrototype = Object.getPrototypeOf(probe) as { sync(this: FileHandle): Promise<void> };
  await probe.close();
  const original = handlePrototype.sync;
  const synced: Array<{ file: string; bytes: number; keyHeld: boolean }> = [];
  handlePrototype.sync = async function (this: FileHandle) {
    const file = readlinkSync(`/proc/self/fd/${this.fd}`);
    synced.push({ file: path.basename(file), bytes: (await this.stat()).size, keyHeld: existsSync(path.join(dir, "lake", "sample-latest")) });
    return original.call(this);
  };
  t.after(() => { handlePrototype.sync = original; });

  await lake.write("sample-2026_01_02__03_04_05", Buffer.from("twelve bytes"));
  await lake.copy("sample-2026_01_02__03_04_05", "sample-latest");
  assert.equal(synced.length, 2, JSON.stringify(synced));
  assert.match(synced[0]!.file, /^\.sample-2026_01_02__03_04_05\.\d+\.[0-9a-f]+\.tmp$/);
  assert.match(synced[1]!.file, /^\.sample-latest\.\d+\.[0-9a-f]+\.tmp$/, "the copy's temporary, before it is renamed");
  assert.deepEqual(synced.map((s) => [s.bytes, s.keyHeld]), [[12, false], [12, false]], "all its bytes, before sample-latest exists");
  assert.deepEqual(await lake.read("sample-latest"), Buffer.from("twelve bytes"));
  await lake.writeDocument("manifest.json", '{"ok":true}');
  assert.equal(synced.length, 3);
  assert.match(synced[2]!.file, /^\.manifest\.json\.\d+\.[0-9a-f]+\.tmp$/);
  assert.equal(synced[2]!.bytes, 11);
});

test("an exclusive write never replaces an existing artifact (a historized copy is written once)", async (t) => {
  const dir = tempDir(t);
  const lake = new LocalLake(dir);
  await lake.write("x-2026_01_02__03_04_05", Buffer.from("first"), { exclusive: true });
  await assert.rejects(lake.write("x-2026_01_02__03_04_05", Buffer.from("second"), { exclusive: true }), {
    name: "StorageError",
    message: `lake file:${dir}: cannot write x-2026_01_02__03_04_05: ${dir}/x-2026_01_02__03_04_05 already exists (EEXIST)`,
  });
  assert.deepEqual(await lake.read("x-2026_01_02__03_04_05"), Buffer.from("first"));
  assert.deepEqual(readdirSync(dir), ["x-2026_01_02__03_04_05"], "no temporary left");
  const results = await Promise.allSettled(["a", "b", "c", "d"].map((v) => lake.write("y-2026_01_02__03_04_05", Buffer.from(v), { exclusive: true })));
  assert.equal(results.filter((r) => r.status === "fulfilled").length, 1, "of concurrent writers, exactly one wins");
  assert.deepEqual(readdirSync(dir).sort(), ["x-2026_01_02__03_04_05", "y-2026_01_02__03_04_05"]);
});

test("historizedKey formats the time in UTC; latestKey and parseKey", () => {
  assert.equal(historizedKey("raw_verra_data", new Date("2026-01-02T03:04:05Z")), "raw_verra_data-2026_01_02__03_04_05");
  assert.equal(historizedKey("raw_verra_data", new Date("2026-01-02T03:04:05.999+05:00")), "raw_verra_data-2026_01_01__22_04_05");
  assert.equal(historizedKey("a1_b2", new Date(Date.UTC(2025, 11, 31, 23, 59, 59))), "a1_b2-2025_12_31__23_59_59");
  assert.equal(latestKey("verra_data_v2"), "verra_data_v2-latest");
  assert.deepEqual(parseKey("verra_data_v2-latest"), { slug: "verra_data_v2", latest: true });
  assert.deepEqual(parseKey("raw_verra_data-2026_01_02__03_04_05"), { slug: "raw_verra_data", latest: false });
  for (const slug of ["Upper", "a-b", "../x", "", "a/b"]) {
    assert.throws(() => latestKey(slug), ArtifactError, slug);
    assert.throws(() => historizedKey(slug, new Date(0)), ArtifactError, slug);
  }
});

test("ranges of an artifact: its size and bytes of the one file opened, even when it is replaced meanwhile; a range beyond its end fails", async (t) => {
  const lake = new LocalLake(tempDir(t));
  const bytes = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
  await lake.write("ranged-latest", bytes);
  const read = await lake.readRanges("ranged-latest", async (ranges) => {
    const first = await ranges.read(0, 10);
    await lake.write("ranged-latest", Buffer.from("replaced")); // a rename: the open file is the old one
    return [ranges.size, first, await ranges.read(4990, 5000)] as const;
  });
  assert.deepEqual(read, [5000, bytes.subarray(0, 10), bytes.subarray(4990)]);
  assert.equal(await lake.readRanges("missing-latest", async () => "used"), undefined);
  await assert.rejects(lake.readRanges("ranged-latest", (ranges) => ranges.read(0, 100)), /^ArtifactError: lake file:.*: cannot read ranged-latest: bytes 0 to 100 are beyond its end$/);
});
