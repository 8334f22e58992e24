// clean_up_old_artifacts, clean_up_latest_artifacts, fetch_s3_artifacts and promote, run as a
// user runs them, against a real S3-protocol server on loopback.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { encodeArtifact } from "../lib/artifact/artifact.ts";
import { consumerContract } from "../lib/flows/flow.ts";
import { ALL_FLOWS } from "../scripts/flows.ts";
import type { Lake } from "../lib/lake/lake.ts";
import { table, type Column } from "../lib/table/table.ts";
import { artifactScriptsBench, tempDir } from "./helpers.ts";

const consumerColumns = consumerContract(ALL_FLOWS);

const DAY = 24 * 60 * 60 * 1000;

/** A small artifact with the columns the dashboard API reads for `slug` (minus `drop`). */
function artifact(slug: string, rows: number, drop: string[] = []): Buffer {
  const names = [...(consumerColumns(slug).length ? consumerColumns(slug) : ["id"]), "extra"].filter((c) => !drop.includes(c));
  const columns: Column[] = names.map((name) => ({ name, type: name === "quantity" ? "int" : "string" }));
  return encodeArtifact(table(columns, Array.from({ length: rows }, (_, i) =>
    Object.fromEntries(names.map((n) => [n, n === "quantity" ? i : `${slug} ${n} ${i}`])))));
}

async function setup(t: Parameters<typeof tempDir>[0]) {
  const bench = await artifactScriptsBench(t, { DATA_PIPELINES_RESULT_STORAGE: "file:local-lake" });
  return { ...bench, lastRun: (flow: string) => bench.lastRun(flow)! };
}

/** Every artifact of a lake, key to bytes: to show a lake is exactly as it was. */
async function snapshot(lake: Lake): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const a of (await lake.list()).artifacts) out.set(a.key, (await lake.read(a.key))!.toString("base64"));
  return out;
}

test("clean_up_old_artifacts deletes historized artifacts older than 7 days, never a -latest; DRY_RUN deletes nothing", async (t) => {
  const { s3, dev, run, lastRun } = await setup(t);
  const ages: Record<string, number> = {
    "raw_verra_data-latest": 30, "raw_verra_data-2026_10_01__13_15_00": 30, "raw_verra_data-2026_11_17__13_15_00": 8,
    "raw_verra_data-2026_11_19__13_15_00": 6, "tokens_data_v2-latest": 40, "tokens_data_v2-2026_11_24__13_15_00": 1,
  };
  for (const [key, days] of Object.entries(ages)) {
    await dev.write(key, Buffer.from(key));
    s3.setLastModified("dev-klimadao-data", `lake/${key}`, new Date(Date.now() - days * DAY));
  }
  const before = await snapshot(dev);

  const dry = await run("clean_up_old_artifacts", [], { AWS_STORAGE: "dev", DATA_PIPELINES_DRY_RUN: "1" });
  assert.equal(dry.code, 0, dry.stderr);
  assert.deepEqual(dry.stdout.split("\n").filter((l) => l.startsWith("would delete")).map((l) => l.split(" ")[2]),
    ["raw_verra_data-2026_10_01__13_15_00", "raw_verra_data-2026_11_17__13_15_00"]);
  assert.match(dry.stdout, /^total: would delete 2 of 6 artifacts in s3-bucket\/dev \(70 B\), older than \d{4}-/m);
  assert.deepEqual(await snapshot(dev), before, "a dry run changes nothing");
  assert.deepEqual(lastRun("clean_up_old_artifacts").deletedKeys, []);
  assert.ok(lastRun("clean_up_old_artifacts").notes.includes("dry run: nothing was changed"));

  const real = await run("clean_up_old_artifacts", ["--trigger", "schedule"], { AWS_STORAGE: "dev" });
  assert.equal(real.code, 0, real.stderr);
  assert.match(real.stdout, /^deleted raw_verra_data-2026_10_01__13_15_00 \(last modified \d{4}-\d\d-\d\dT/m);
  assert.deepEqual((await dev.list()).artifacts.map((a) => a.key),
    ["raw_verra_data-2026_11_19__13_15_00", "raw_verra_data-latest", "tokens_data_v2-2026_11_24__13_15_00", "tokens_data_v2-latest"]);
  const record = lastRun("clean_up_old_artifacts");
  assert.equal(record.status, "succeeded");
  assert.equal(record.trigger, "schedule");
  assert.deepEqual(record.deletedKeys, ["raw_verra_data-2026_10_01__13_15_00", "raw_verra_data-2026_11_17__13_15_00"]);

  // --days 0: every historized copy, more than the daily share, so backed up first.
  const all = await run("clean_up_old_artifacts", ["--days", "0", "--dry-run"], { AWS_STORAGE: "dev" });
  assert.equal(all.code, 0, all.stderr);
  assert.match(all.stdout, /^would back up raw_verra_data-2026_11_19__13_15_00 to s3-bucket\/dev\/_backup\/\d{4}_\d\d_\d\d__\d\d_\d\d_\d\d_clean_up_old_artifacts$/m);
  assert.match(all.stdout, /^would delete raw_verra_data-2026_11_19__13_15_00 /m);
  assert.match(all.stdout, /^would delete tokens_data_v2-2026_11_24__13_15_00 /m);
  assert.doesNotMatch(all.stdout, /would (delete|back up) \S+-latest/);
});

test("clean_up_latest_artifacts deletes every -latest and keeps the historized copies; AWS_STORAGE is required", async (t) => {
  const { dev, run, lastRun } = await setup(t);
  for (const key of ["a-latest", "a-2026_11_24__13_15_00", "b-latest"]) await dev.write(key, Buffer.from(key));
  const missing = await run("clean_up_latest_artifacts");
  assert.equal(missing.code, 2, "a configuration error is a usage error");
  assert.match(missing.stderr, /^error: AWS_STORAGE is not set: set it to dev or prod \(or give --lake <storage>\)( \(see --help\))?\n$/);
  assert.equal((await dev.list()).artifacts.length, 3);

  const result = await run("clean_up_latest_artifacts", [], { AWS_STORAGE: "dev" });
  assert.equal(result.code, 0, result.stderr);
  const stamp = /--restore (\S+)/.exec(result.stdout)?.[1];
  assert.equal(result.stdout, [
    `backed up a-latest to s3-bucket/dev/_backup/${stamp} (server-side)`,
    `backed up b-latest to s3-bucket/dev/_backup/${stamp} (server-side)`,
    `backup: s3-bucket/dev/_backup/${stamp} (2 artifacts) before: delete 2 -latest artifacts; restore with: npx tsx scripts/clean_up_latest_artifacts.ts --restore ${stamp} --lake s3-bucket/dev`,
    "deleted a-latest", "deleted b-latest", "total: deleted 2 -latest artifacts in s3-bucket/dev (16 B)", "",
  ].join("\n"));
  assert.deepEqual((await dev.list()).artifacts.map((a) => a.key), ["a-2026_11_24__13_15_00"]);
  assert.deepEqual(lastRun("clean_up_latest_artifacts").deletedKeys, ["a-latest", "b-latest"]);
});

test("fetch_s3_artifacts copies each -latest that decodes into the local lake; a broken one and a traversal key are reported, never written", async (t) => {
  const { dir, s3, dev, run, lastRun } = await setup(t);
  const good = { verra_retirements: artifact("verra_retirements", 3), all_retirements: artifact("all_retirements", 5) };
  for (const [slug, bytes] of Object.entries(good)) await dev.write(`${slug}-latest`, bytes);
  await dev.write("all_retirements-2026_11_24__13_15_00", good.all_retirements);
  await dev.write("tokens_data_v2-latest", Buffer.from('{"serializer": {"type": "pandas_feather"}, "data": "bm90IGFycm93\\n"}'));
  await s3.injectListedKey("dev-klimadao-data", "lake/../../etc/x-latest");

  const dry = await run("fetch_s3_artifacts", ["--dry-run"], { AWS_STORAGE: "dev" });
  assert.match(dry.stdout, /^would copy all_retirements-latest \(5 rows, [\d.]+ kB\)$/m);
  assert.equal(existsSync(path.join(dir, "local-lake")), false, "a dry run writes nothing");

  // The local lake's previous tokens_data_v2-latest must outlive the broken copy in the bucket.
  const previous = artifact("tokens_data_v2", 4);
  mkdirSync(path.join(dir, "local-lake"));
  writeFileSync(path.join(dir, "local-lake", "tokens_data_v2-latest"), previous);
  const result = await run("fetch_s3_artifacts", [], { AWS_STORAGE: "dev" });
  assert.equal(result.code, 1, "a broken artifact and an unsafe key make the run fail");
  assert.match(result.stdout, /^copied all_retirements-latest \(5 rows, [\d.]+ kB\)$/m);
  assert.match(result.stdout, /^total: copied 2 of 3 -latest artifacts \([\d.]+ kB\) from s3-bucket\/dev to file:local-lake; 1 did not decode$/m);
  assert.match(result.stderr, /s3-bucket\/dev: artifact tokens_data_v2-latest holds no readable Feather table \(corrupted or truncated\?\): .*; not copied/);
  assert.match(result.stderr, /s3-bucket\/dev: refused key "\.\.\/\.\.\/etc\/x-latest": not <slug>-latest or <slug>-<YYYY_MM_DD__HH_MM_SS>; left alone/);
  assert.deepEqual(readdirSync(path.join(dir, "local-lake")).sort(), ["all_retirements-latest", "tokens_data_v2-latest", "verra_retirements-latest"]);
  assert.ok(readFileSync(path.join(dir, "local-lake", "tokens_data_v2-latest")).equals(previous), "the previous -latest is intact");
  for (const [slug, bytes] of Object.entries(good)) assert.ok(readFileSync(path.join(dir, "local-lake", `${slug}-latest`)).equals(bytes));
  assert.equal(existsSync(path.join(dir, "..", "etc")) || existsSync(path.join(dir, "etc")), false);
  const record = lastRun("fetch_s3_artifacts");
  assert.equal(record.status, "failed");
  assert.deepEqual(record.writtenKeys.sort(), ["all_retirements-latest", "verra_retirements-latest"]);
  assert.match(record.error!, /1 artifact\(s\) in s3-bucket\/dev do not decode: tokens_data_v2-latest; 1 key\(s\) in s3-bucket\/dev refused as unsafe: \.\.\/\.\.\/etc\/x-latest/);
});

// A staging set and a production set of four datasets; staging is a day newer (more rows) and adds one.
async function seedPromote(dev: Lake, prod: Lake, stagingDrop: Record<string, string[]> = {}) {
  const slugs = ["verra_data_v2", "all_retirements", "offsets_holders_data", "raw_verra_data"];
  for (const [i, slug] of slugs.entries()) {
    await prod.write(`${slug}-latest`, artifact(slug, 10 + i));
    await dev.write(`${slug}-latest`, artifact(slug, 20 + i, stagingDrop[slug]));
  }
  await prod.write("raw_verra_data-2026_11_24__13_15_00", artifact("raw_verra_data", 1)); // historized: untouched
  await dev.write("tokens_data_v2-latest", artifact("tokens_data_v2", 5));
}

test("promote refuses a staging set that lost a consumer column or a dataset; production stays byte-identical", async (t) => {
  const { dev, prod, run } = await setup(t);
  await seedPromote(dev, prod, { all_retirements: ["beneficiary"] });
  const before = await snapshot(prod);
  const refused = await run("promote");
  assert.equal(refused.code, 1);
  assert.equal(refused.stderr.trim().split("\n").length, 1, refused.stderr);
  assert.match(refused.stderr, /^error: refused to promote s3-bucket\/dev: all_retirements-latest lacks column\(s\) the dashboard API reads: beneficiary; production was not changed$/m);
  assert.deepEqual(await snapshot(prod), before);
  assert.deepEqual(await prod.folders("_promote"), [], "no backup made");

  await dev.write("all_retirements-latest", artifact("all_retirements", 21));
  await dev.delete("offsets_holders_data-latest");
  const lacking = await run("promote");
  assert.equal(lacking.code, 1);
  assert.match(lacking.stderr, /^error: staging s3-bucket\/dev lacks 1 dataset\(s\) that production has: offsets_holders_data; nothing was changed \(--allow-missing/m);
  assert.deepEqual(await snapshot(prod), before);

  const allowed = await run("promote", ["--allow-missing"]);
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.match(allowed.stdout, /offsets_holders_data\s+12\s+12\s+kept: not in staging/);
  assert.ok((await prod.read("offsets_holders_data-latest"))!.equals(Buffer.from(before.get("offsets_holders_data-latest")!, "base64")));
});

test("promote then --rollback restores production exactly; copies run server-side; the run history has the keys", async (t) => {
  const { dev, prod, run, lastRun } = await setup(t);
  await seedPromote(dev, prod);
  const before = await snapshot(prod);
  const staging = await snapshot(dev);

  const dry = await run("promote", ["--dry-run"]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^would promote tokens_data_v2-latest$/m);
  assert.deepEqual(await snapshot(prod), before);

  const promoted = await run("promote");
  assert.equal(promoted.code, 0, promoted.stderr);
  assert.match(promoted.stdout, /^backed up verra_data_v2-latest to s3-bucket\/prod\/_promote\/\d{4}_\d\d_\d\d__\d\d_\d\d_\d\d(_\d+)? \(server-side\)$/m);
  assert.match(promoted.stdout, /^promoted all_retirements-latest \(server-side\)$/m);
  assert.match(promoted.stdout, /all_retirements\s+11\s+21\s+\+10/);
  assert.match(promoted.stdout, /tokens_data_v2\s+-\s+5\s+new/);
  for (const [key, bytes] of staging) assert.equal((await snapshot(prod)).get(key), bytes, key);
  assert.equal((await snapshot(prod)).get("raw_verra_data-2026_11_24__13_15_00"), before.get("raw_verra_data-2026_11_24__13_15_00"));
  const record = lastRun("promote");
  assert.equal(record.status, "succeeded");
  assert.deepEqual(record.writtenKeys.sort(), [...staging.keys()].sort());

  const rolled = await run("promote", ["--rollback"]);
  assert.equal(rolled.code, 0, rolled.stderr);
  assert.match(rolled.stdout, /^deleted tokens_data_v2-latest: production did not have it before the promote of /m);
  assert.deepEqual(await snapshot(prod), before, "production as it was, byte for byte");
  assert.deepEqual(lastRun("promote").deletedKeys, ["tokens_data_v2-latest"]);
  const again = await run("promote", ["--rollback"]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^error: the last promote \(\d{4}_\d\d_\d\d__\d\d_\d\d_\d\d(_\d+)?\) was already rolled back; nothing was changed$/m);
});

test("a promote that stops half-way can be rolled back, or run again to completion", async (t) => {
  const { s3, dev, prod, run } = await setup(t);
  await seedPromote(dev, prod);
  const before = await snapshot(prod);
  const staging = await snapshot(dev);

  // Production accepts the 4 backup copies, the manifest and 2 of the 5 promotions, then fails.
  await s3.failWritesAfter("prod-klimadao-data", 4 + 1 + 2);
  const broken = await run("promote");
  assert.equal(broken.code, 1);
  assert.match(broken.stderr, /^error: s3-bucket\/prod \(from s3-bucket\/dev\): cannot copy \S+-latest to \S+-latest: InternalError \(HTTP 500\)$/m);
  await s3.heal();
  const half = await snapshot(prod);
  assert.equal([...staging].filter(([k, v]) => half.get(k) === v).length, 2, "two datasets promoted before the failure");

  const rolled = await run("promote", ["--rollback"]);
  assert.equal(rolled.code, 0, rolled.stderr);
  assert.deepEqual(await snapshot(prod), before);

  await s3.failWritesAfter("prod-klimadao-data", 4 + 1 + 3);
  assert.equal((await run("promote")).code, 1);
  await s3.heal();
  const resumed = await run("promote");
  assert.equal(resumed.code, 0, resumed.stderr);
  // A promote's folder is named by its second, and _1, _2 ... after it when two start in the same second.
  assert.match(resumed.stderr, /resuming the promote that stopped on \d{4}_\d\d_\d\d__\d\d_\d\d_\d\d(_\d+)?: production's set from before it stays in s3-bucket\/prod\/_promote\//);
  assert.doesNotMatch(resumed.stdout, /backed up/, "the backup of the interrupted promote is kept, not replaced by the half-promoted set");
  for (const [key, bytes] of staging) assert.equal((await snapshot(prod)).get(key), bytes, key);
  const back = await run("promote", ["--rollback"]);
  assert.equal(back.code, 0, back.stderr);
  assert.deepEqual(await snapshot(prod), before, "the rollback after a resumed promote restores the set from before the first attempt");
});
