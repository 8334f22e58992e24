// The destructive commands (the two clean-ups, fetch) are safe by default: what they delete or
// overwrite is backed up first and --restore puts it back byte for byte; on production they need
// --yes (or "yes" typed on a terminal); --dry-run lists what would happen and changes nothing.
// Run as a user runs them, against file: lakes and a real S3-protocol server on loopback.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { encodeArtifact } from "../lib/artifact/artifact.ts";
import { LocalLake, type Lake } from "../lib/lake/lake.ts";
import { table } from "../lib/table/table.ts";
import { artifactScriptsBench, ROOT, runScript, tempDir } from "./helpers.ts";

const DAY = 24 * 60 * 60 * 1000;
const STAMP = String.raw`\d{4}_\d\d_\d\d__\d\d_\d\d_\d\d`;

/** A small artifact that decodes (fetch checks each one). */
function artifact(slug: string, rows: number): Buffer {
  return encodeArtifact(table([{ name: "id", type: "string" }], Array.from({ length: rows }, (_, i) => ({ id: `${slug} ${i}` }))));
}

async function setup(t: Parameters<typeof tempDir>[0]) {
  const bench = await artifactScriptsBench(t);
  /** Make an object of a bucket `days` old. */
  const age = (bucket: string, objectKey: string, days: number) => bench.s3.setLastModified(bucket, objectKey, new Date(Date.now() - days * DAY));
  return { ...bench, age };
}

/** Every artifact of a lake, key to bytes (base64): to show a lake is exactly as it was. */
async function snapshot(lake: Lake): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const a of (await lake.list()).artifacts) out.set(a.key, (await lake.read(a.key))!.toString("base64"));
  return out;
}

function only(map: Map<string, string>, keys: string[]): Map<string, string> {
  return new Map([...map].filter(([k]) => keys.includes(k)));
}

/** The arguments of the `restore with:` line a command printed. */
function restoreArgs(stdout: string, script: string): string[] {
  const line = new RegExp(`restore with: npx tsx scripts/${script}\\.ts (.+)$`, "m").exec(stdout);
  assert.ok(line, `no restore line in:\n${stdout}`);
  return line[1]!.split(" ");
}

// Production holds two datasets with -latest and historized copies; staging (dev) a newer x and a new z.
async function seed(s: Awaited<ReturnType<typeof setup>>) {
  for (const [key, rows] of [["x-latest", 3], ["y-latest", 4], ["x-2026_11_01__13_15_00", 1], ["x-2026_11_02__13_15_00", 2], ["y-2026_11_01__13_15_00", 1]] as const) {
    await s.prod.write(key, artifact(key, rows));
    if (!key.endsWith("-latest")) s.age("prod-klimadao-data", `lake/${key}`, 30);
  }
  await s.dev.write("x-latest", artifact("x new", 5));
  await s.dev.write("z-latest", artifact("z", 6));
}

const CASES = [
  {
    script: "clean_up_latest_artifacts", args: [], env: { AWS_STORAGE: "prod" },
    what: /delete 2 -latest artifacts \(x-latest, y-latest\), each backed up first/, backedUp: ["x-latest", "y-latest"],
    done: /^deleted x-latest$/m, wouldDo: /^would delete y-latest$/m,
    after: ["x-2026_11_01__13_15_00", "x-2026_11_02__13_15_00", "y-2026_11_01__13_15_00"],
  },
  {
    script: "clean_up_old_artifacts", args: ["--days", "0"], env: { AWS_STORAGE: "prod" },
    what: /delete 3 of 3 historized artifacts, more than half of them \(x-2026_11_01__13_15_00, x-2026_11_02__13_15_00, y-2026_11_01__13_15_00\), each backed up first/,
    backedUp: ["x-2026_11_01__13_15_00", "x-2026_11_02__13_15_00", "y-2026_11_01__13_15_00"],
    done: /^deleted x-2026_11_01__13_15_00 \(last modified /m, wouldDo: /^would delete y-2026_11_01__13_15_00 /m,
    after: ["x-latest", "y-latest"],
  },
  {
    script: "fetch_s3_artifacts", args: ["--to", "s3-bucket/prod"], env: { AWS_STORAGE: "dev" },
    what: /copy 2 -latest artifacts from s3-bucket\/dev, overwriting 1 \(x-latest\), each backed up first/, backedUp: ["x-latest"],
    done: /^copied x-latest \(5 rows, .*, overwriting the one there\)$/m, wouldDo: /^would copy z-latest \(6 rows, [^,]*\)$/m,
    after: ["x-2026_11_01__13_15_00", "x-2026_11_02__13_15_00", "x-latest", "y-2026_11_01__13_15_00", "y-latest", "z-latest"],
  },
];

for (const c of CASES) {
  test(`${c.script} on production: refused without --yes, listed by --dry-run, backed up with --yes, restored byte for byte`, async (t) => {
    const s = await setup(t);
    await seed(s);
    const before = await snapshot(s.prod);
    const unchanged = async (why: string) => {
      assert.deepEqual(await snapshot(s.prod), before, why);
      assert.deepEqual(await s.prod.folders("_backup"), [], `${why}: no backup made`);
    };

    const refused = await s.run(c.script, c.args, c.env);
    assert.equal(refused.code, 2, refused.stderr);
    assert.equal(refused.stderr.split("\n").filter(Boolean).length, 1, refused.stderr);
    assert.match(refused.stderr, /^error: s3-bucket\/prod is production: /);
    assert.match(refused.stderr, c.what);
    assert.match(refused.stderr, /: needs --yes \(or a confirmation on a terminal\); nothing was changed/);
    await unchanged("refused");
    assert.equal(s.lastRun(c.script)?.status, "failed");

    const dry = await s.run(c.script, [...c.args, "--dry-run"], c.env);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^needs --yes: s3-bucket\/prod is production: /m);
    const wouldBackUp = dry.stdout.split("\n").filter((l) => l.startsWith("would back up ")).map((l) => l.split(" ")[3]);
    assert.deepEqual(wouldBackUp, c.backedUp);
    assert.match(dry.stdout, c.wouldDo);
    await unchanged("a dry run changes nothing");

    const done = await s.run(c.script, [...c.args, "--yes"], c.env);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, c.done);
    assert.deepEqual([...(await snapshot(s.prod)).keys()], c.after);
    const [stamp] = await s.prod.folders("_backup");
    assert.match(stamp!, new RegExp(`^${STAMP}_${c.script}$`));
    assert.match(done.stdout, new RegExp(`^backup: s3-bucket/prod/_backup/${stamp} \\(\\d+ artifacts?\\) before: `, "m"));
    assert.deepEqual(await snapshot(s.prod.folder(`_backup/${stamp}`)), only(before, c.backedUp), "the backup holds the bytes replaced");
    const manifest = JSON.parse((await s.prod.folder(`_backup/${stamp}`).readDocument("manifest.json"))!);
    assert.deepEqual([manifest.command, manifest.lake, manifest.keys], [c.script, "s3-bucket/prod", c.backedUp]);
    const record = s.lastRun(c.script)!;
    assert.equal(record.status, "succeeded");
    assert.ok(record.notes.some((n) => n.startsWith(`backup: s3-bucket/prod/_backup/${stamp} `)), record.notes.join("; "));
    if (c.script === "fetch_s3_artifacts") assert.deepEqual(record.writtenKeys.sort(), ["x-latest", "z-latest"]);
    else assert.deepEqual(record.deletedKeys, c.backedUp);

    // The printed command restores; what the command wrote over is overwritten only with --yes.
    const args = restoreArgs(done.stdout, c.script);
    assert.deepEqual(args, ["--restore", stamp, c.script === "fetch_s3_artifacts" ? "--to" : "--lake", "s3-bucket/prod"]);
    let restored = await s.run(c.script, args, c.env);
    if (c.script === "fetch_s3_artifacts") {
      assert.equal(restored.code, 2, restored.stderr);
      assert.match(restored.stderr, /^error: restoring \S+ overwrites 1 artifact of s3-bucket\/prod that changed since the backup \(x-latest\), each backed up first: needs --yes/);
      restored = await s.run(c.script, [...args, "--yes"], c.env);
    }
    assert.equal(restored.code, 0, restored.stderr);
    assert.match(restored.stdout, new RegExp(`^total: restored ${c.backedUp.length} of the ${c.backedUp.length} artifacts of backup ${stamp} `, "m"));
    const now = await snapshot(s.prod);
    assert.deepEqual(only(now, [...before.keys()]), before, "every artifact as before, byte for byte");
    assert.deepEqual([...now.keys()].filter((k) => !before.has(k)), c.script === "fetch_s3_artifacts" ? ["z-latest"] : [], "restore puts back exactly the backed-up keys");
    assert.deepEqual(s.lastRun(c.script)!.writtenKeys.sort(), c.backedUp);
  });
}

test("on a file: lake a clean-up needs no --yes; a restore never overwrites a newer artifact without --yes, and backs it up first", async (t) => {
  const dir = tempDir(t);
  const lake = new LocalLake(path.join(dir, "lake"));
  for (const key of ["a-latest", "b-latest", "a-2026_11_24__13_15_00"]) await lake.write(key, Buffer.from(`${key} bytes`));
  const before = await snapshot(lake);
  const env = { DATA_PIPELINES_DB: path.join(dir, "runs.sqlite") };
  const run = (args: string[]) => runScript("scripts/clean_up_latest_artifacts.ts", [...args, "--lake", "file:lake"], { cwd: dir, env });

  const cleaned = await run([]);
  assert.equal(cleaned.code, 0, cleaned.stderr);
  assert.match(cleaned.stdout, /^backed up a-latest to file:lake\/_backup\/\S+ \(file copy\)$/m);
  assert.deepEqual((await lake.list()).artifacts.map((a) => a.key), ["a-2026_11_24__13_15_00"]);

  await lake.write("a-latest", Buffer.from("newer a, written by a build after the clean-up"));
  const newer = await snapshot(lake);
  const refused = await run(["--restore"]);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /^error: restoring \S+_clean_up_latest_artifacts overwrites 1 artifact of file:lake that changed since the backup \(a-latest\), each backed up first: needs --yes .*; nothing was changed/);
  assert.deepEqual(await snapshot(lake), newer);

  const dry = await run(["--restore", "--dry-run"]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^would back up a-latest to file:lake\/_backup\/\S+_clean_up_latest_artifacts_restore$/m);
  assert.match(dry.stdout, /^would restore a-latest from \S+ \(it had changed since the backup\)$/m);
  assert.match(dry.stdout, /^would restore b-latest from /m);
  assert.deepEqual(await snapshot(lake), newer);

  const restored = await run(["--restore", "--yes"]);
  assert.equal(restored.code, 0, restored.stderr);
  assert.deepEqual(await snapshot(lake), before, "the lake as before the clean-up, byte for byte");
  const again = await run(["--restore"]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^total: restored 0 of the 2 artifacts .*; 2 already as in the backup$/m);

  // The newer a-latest the restore replaced is in a backup of its own: the restore can be undone.
  const undo = restoreArgs(restored.stdout, "clean_up_latest_artifacts");
  assert.match(undo[1]!, /_clean_up_latest_artifacts_restore$/);
  const undone = await runScript("scripts/clean_up_latest_artifacts.ts", [...undo, "--yes"], { cwd: dir, env });
  assert.equal(undone.code, 0, undone.stderr);
  assert.deepEqual(await snapshot(lake), new Map([...before, ["a-latest", newer.get("a-latest")!]]), "the newer a-latest is back; b-latest stays restored");

  const unknown = await run(["--restore", "2026_01_01__00_00_00_clean_up_latest_artifacts"]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^error: no backup 2026_01_01__00_00_00_clean_up_latest_artifacts in file:lake\/_backup; backups there: /);
  const stray = await run(["2026_01_01__00_00_00_clean_up_latest_artifacts"]);
  assert.equal(stray.code, 2);
  assert.match(stray.stderr, /unexpected argument "2026_01_01__00_00_00_clean_up_latest_artifacts" \(a backup's stamp goes after --restore\)/);
});

test("bad --days values are usage errors (exit 2, one line naming --days) and delete nothing", async (t) => {
  const dir = tempDir(t);
  const lake = new LocalLake(path.join(dir, "lake"));
  await lake.write("a-2026_11_24__13_15_00", Buffer.from("a"));
  utimesSync(path.join(dir, "lake", "a-2026_11_24__13_15_00"), new Date(Date.now() - 30 * DAY), new Date(Date.now() - 30 * DAY));
  const cases = [["--days", ""], ["--days", "   "], ["--days", " 0x1 "], ["--days", "1e2"], ["--days=-1"], ["--days", "-1"], ["--days", "0.5"], ["--days", "7d"], ["--days"]];
  const results = await Promise.all(cases.map((args) =>
    runScript("scripts/clean_up_old_artifacts.ts", [...args, "--lake", "file:lake"], { cwd: dir, env: { DATA_PIPELINES_DB: path.join(dir, "runs.sqlite") } })));
  for (const [i, result] of results.entries()) {
    const what = JSON.stringify(cases[i]);
    assert.equal(result.code, 2, `${what}: ${result.stderr}`);
    assert.equal(result.stderr.split("\n").filter(Boolean).length, 1, `${what}: ${result.stderr}`);
    assert.match(result.stderr, /^error: --days/, what);
    assert.equal(result.stdout, "", what);
  }
  assert.deepEqual((await lake.list()).artifacts.map((a) => a.key), ["a-2026_11_24__13_15_00"]);
  assert.equal(existsSync(path.join(dir, "runs.sqlite")), false, "a usage error starts no run");
});

test("the scheduled daily clean-up of production (a small share) runs without --yes or backup; a large share is refused unattended", async (t) => {
  const s = await setup(t);
  // A week and a day of daily copies of two datasets: the oldest of each is past the retention.
  const keys: string[] = [];
  for (const slug of ["x", "y"]) {
    await s.prod.write(`${slug}-latest`, artifact(slug, 1));
    for (let day = 1; day <= 8; day += 1) {
      const key = `${slug}-2026_11_${String(10 + day).padStart(2, "0")}__13_15_00`;
      keys.push(key);
      await s.prod.write(key, artifact(key, 1));
      s.age("prod-klimadao-data", `lake/${key}`, 8.5 - day); // 7.5 days old, 6.5, …, 0.5
    }
  }
  const daily = await s.run("clean_up_old_artifacts", ["--trigger", "schedule"], { AWS_STORAGE: "prod" });
  assert.equal(daily.code, 0, daily.stderr);
  assert.doesNotMatch(daily.stdout, /back up|backup|needs --yes/);
  assert.match(daily.stdout, /^total: deleted 2 of 18 artifacts in s3-bucket\/prod /m);
  assert.deepEqual(s.lastRun("clean_up_old_artifacts")!.deletedKeys, ["x-2026_11_11__13_15_00", "y-2026_11_11__13_15_00"]);
  assert.deepEqual(await s.prod.folders("_backup"), []);

  // y has not been built for a while: every copy it has left is past the retention.
  for (const key of keys.filter((k) => k.startsWith("y-") && k !== "y-2026_11_11__13_15_00")) s.age("prod-klimadao-data", `lake/${key}`, 10);
  const before = await snapshot(s.prod);
  const large = await s.run("clean_up_old_artifacts", ["--trigger", "schedule"], { AWS_STORAGE: "prod" });
  assert.equal(large.code, 2, large.stderr);
  assert.match(large.stderr, /^error: s3-bucket\/prod is production: delete 7 of 14 historized artifacts, every copy of y \(y-2026_11_12__13_15_00, .* and 2 more\), each backed up first: needs --yes/);
  assert.deepEqual(await snapshot(s.prod), before);
  const record = s.lastRun("clean_up_old_artifacts")!;
  assert.deepEqual([record.status, record.trigger], ["failed", "schedule"]);
  assert.match(record.error!, /needs --yes/);
});

test("the README's fetch example copies production into the local lake even with DATA_PIPELINES_RESULT_STORAGE=s3-bucket/dev in .env", async (t) => {
  const s = await setup(t);
  await seed(s);
  await s.dev.write("y-latest", artifact("y staging", 2));
  writeFileSync(path.join(s.dir, ".env"), "DATA_PIPELINES_RESULT_STORAGE=s3-bucket/dev\n");
  const staging = await snapshot(s.dev);
  const production = await snapshot(s.prod);

  // Without --to the target is the .env's staging bucket: what it would overwrite is backed up first.
  const old = await s.run("fetch_s3_artifacts", ["--dry-run"], { AWS_STORAGE: "prod" });
  assert.equal(old.code, 0, old.stderr);
  assert.match(old.stdout, /^would back up x-latest to s3-bucket\/dev\/_backup\/\S+_fetch_s3_artifacts$/m);
  assert.match(old.stdout, /to s3-bucket\/dev$/m);

  const result = await s.run("fetch_s3_artifacts", ["--to", "local"], { AWS_STORAGE: "prod" });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^total: copied 2 of 2 -latest artifacts \([\d.]+ kB\) from s3-bucket\/prod to local$/m);
  const local = path.join(s.dir, "data", "lake");
  assert.deepEqual(readdirSync(local).sort(), ["x-latest", "y-latest"]);
  for (const key of ["x-latest", "y-latest"]) assert.equal(readFileSync(path.join(local, key)).toString("base64"), production.get(key), key);
  assert.deepEqual(await snapshot(s.dev), staging, "staging byte for byte unchanged");
  assert.deepEqual(await s.dev.folders("_backup"), []);
  assert.deepEqual(await snapshot(s.prod), production);
});

// `script` (util-linux) gives the command a pseudo-terminal: stdin and stderr are TTYs, so it asks.
const hasScript = spawnSync("script", ["--version"]).status === 0;

test("on a terminal, production is changed only after \"yes\" is typed", { skip: !hasScript && "no script(1) here" }, async (t) => {
  const s = await setup(t);
  await seed(s);
  const before = await snapshot(s.prod);
  const onTerminal = async (answer: string) => {
    const command = [path.join(ROOT, "node_modules", ".bin", "tsx"), path.join(ROOT, "scripts", "clean_up_latest_artifacts.ts")].join(" ");
    const child = spawn("script", ["-qec", command, "/dev/null"], {
      cwd: s.dir, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...s.env, AWS_STORAGE: "prod" }, detached: true,
    });
    t.after(() => { if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, "SIGKILL"); });
    let output = "";
    let answered = false;
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (!answered && output.includes("Type yes to continue: ")) {
        answered = true;
        child.stdin.write(`${answer}\n`);
      }
    });
    const [code] = await once(child, "exit");
    child.stdin.end();
    // eslint-disable-next-line no-control-regex
    return { code: code as number, output: output.replace(/\r|\x1b\[[0-9;]*[A-Za-z]/g, "") };
  };

  const declined = await onTerminal("no");
  assert.equal(declined.code, 1, declined.output);
  assert.match(declined.output, /s3-bucket\/prod is production: delete 2 -latest artifacts \(x-latest, y-latest\), each backed up first\./);
  assert.match(declined.output, /Type yes to continue: /);
  assert.match(declined.output, /error: not confirmed: nothing was changed/);
  assert.deepEqual(await snapshot(s.prod), before);

  const confirmed = await onTerminal("yes");
  assert.equal(confirmed.code, 0, confirmed.output);
  assert.match(confirmed.output, /^deleted x-latest$/m);
  assert.deepEqual((await s.prod.list()).artifacts.filter((a) => a.key.endsWith("-latest")), []);
  assert.equal((await s.prod.folders("_backup")).length, 1);
});

test("the clean-ups remove temporary files left by killed writes", { skip: !("sweepTemporaries" in LocalLake.prototype) && "Lake.sweepTemporaries is not there yet" }, async (t) => {
  const dir = tempDir(t);
  mkdirSync(path.join(dir, "lake"));
  const leftover = ".x-latest.2147483646.0badc0de.tmp"; // no process has that id
  writeFileSync(path.join(dir, "lake", leftover), "half a write");
  writeFileSync(path.join(dir, "lake", "x-latest"), "x");
  const result = await runScript("scripts/clean_up_old_artifacts.ts", ["--lake", "file:lake"], { cwd: dir, env: { DATA_PIPELINES_DB: path.join(dir, "runs.sqlite") } });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, new RegExp(`^removed ${leftover.replace(/\./g, "\\.")}: a temporary file of a write that did not finish$`, "m"));
  assert.deepEqual(readdirSync(path.join(dir, "lake")), ["x-latest"]);
});
