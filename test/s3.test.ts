// The S3 lake against a real S3-protocol server on loopback (s3rver), through @aws-sdk/client-s3.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { ArtifactError, ConfigError, SourceError } from "../lib/core/errors.ts";
import { LocalLake, openLake, transfer, type Lake } from "../lib/lake/lake.ts";
import { S3Lake } from "../lib/lake/s3.ts";
import { startFakeS3, type FakeS3 } from "./fakes/s3.ts";
import { runScriptBounded, startFaultyS3, UNAVAILABLE_PAGE, type FaultyS3 } from "./fakes/s3_faults.ts";
import { startFakeVerra } from "./fakes/verra.ts";
import { runScript, tempDir, testConfig } from "./helpers.ts";

let s3: FakeS3;
before(async () => { s3 = await startFakeS3(["dev-klimadao-data", "prod-klimadao-data", "lake-test"]); });
after(() => s3.close());

async function s3LakeAt(dir: string, storage: string, env: Record<string, string> = {}): Promise<Lake> {
  const config = testConfig(dir, { ...s3.env, DATA_PIPELINES_RESULT_STORAGE: storage, ...env });
  return openLake(config.storage, config);
}

test("an S3 lake writes, reads, copies server-side, lists and deletes artifacts under its prefix", async (t) => {
  const lake = await s3LakeAt(tempDir(t), "s3://lake-test/basic/");
  assert.ok(lake instanceof S3Lake);
  assert.equal(lake.label, "s3://lake-test/basic/");
  await lake.write("raw_verra_data-2026_11_25__13_15_00", Buffer.from("first"));
  await lake.copy("raw_verra_data-2026_11_25__13_15_00", "raw_verra_data-latest");
  await lake.write("verra_data_v2-latest", { length: 6, *chunks() { yield Buffer.from("sec"); yield Buffer.from("ond"); } });
  assert.equal((await lake.read("raw_verra_data-latest"))?.toString(), "first");
  assert.equal((await lake.read("verra_data_v2-latest"))?.toString(), "second");
  assert.equal(await lake.read("missing-latest"), undefined);
  const listing = await lake.list();
  assert.deepEqual(listing.artifacts.map((a) => [a.key, a.size]), [
    ["raw_verra_data-2026_11_25__13_15_00", 5], ["raw_verra_data-latest", 5], ["verra_data_v2-latest", 6],
  ]);
  assert.ok(listing.artifacts.every((a) => Math.abs(a.lastModified.getTime() - Date.now()) < 60_000));
  await lake.delete("raw_verra_data-latest");
  await lake.delete("raw_verra_data-latest"); // deleting what is gone is not an error, as on disk
  assert.deepEqual((await lake.list()).artifacts.map((a) => a.key), ["raw_verra_data-2026_11_25__13_15_00", "verra_data_v2-latest"]);
  await assert.rejects(lake.write("../x-latest", Buffer.from("x")), ArtifactError);
  await assert.rejects(lake.copy("nothing-latest", "other-latest"), /s3:\/\/lake-test\/basic\/: cannot copy nothing-latest to other-latest: no such artifact/);
});

test("listing follows continuation tokens past 1,000 keys", async (t) => {
  const lake = await s3LakeAt(tempDir(t), "s3://lake-test/many");
  const keys = Array.from({ length: 1234 }, (_, i) => `dataset_${String(i).padStart(4, "0")}-latest`);
  for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => lake.write(k, Buffer.from(k))));
  const listing = await lake.list();
  assert.equal(listing.artifacts.length, 1234);
  assert.deepEqual(listing.artifacts.map((a) => a.key), keys);
  assert.deepEqual(listing.refused, []);
});

test("keys in the bucket that are not artifact keys are refused, never used", async (t) => {
  const lake = await s3LakeAt(tempDir(t), "s3://lake-test/hostile");
  await lake.write("good-latest", Buffer.from("good"));
  await s3.injectListedKey("lake-test", "hostile/../../etc/x-latest");
  await s3.injectListedKey("lake-test", "hostile/nested/y-latest");
  const listing = await lake.list();
  assert.deepEqual(listing.artifacts.map((a) => a.key), ["good-latest"]);
  assert.deepEqual(listing.refused.sort(), ["../../etc/x-latest", "nested/y-latest"]);
});

test("promote backups in _promote/ are folders of the lake, not artifacts or refused keys", async (t) => {
  const lake = await s3LakeAt(tempDir(t), "s3://lake-test/folders");
  await lake.write("a-latest", Buffer.from("a"));
  const backup = lake.folder("_promote/2026_11_25__03_00_00");
  await backup.write("a-latest", Buffer.from("old a"));
  await backup.writeDocument("manifest.json", '{"state":"backed-up"}');
  assert.deepEqual(await lake.list(), { artifacts: [(await lake.list()).artifacts[0]!], refused: [] });
  assert.deepEqual(await lake.folders("_promote"), ["2026_11_25__03_00_00"]);
  assert.equal(await backup.readDocument("manifest.json"), '{"state":"backed-up"}');
  assert.equal((await backup.read("a-latest"))?.toString(), "old a");
  assert.throws(() => lake.folder("../elsewhere"), ArtifactError);
});

test("S3 failures are one line naming the lake: missing credentials, missing bucket, server down", async (t) => {
  const dir = tempDir(t);
  const noKeys = testConfig(dir, { DATA_PIPELINES_RESULT_STORAGE: "s3-bucket/dev", DATA_PIPELINES_S3_ENDPOINT: s3.endpoint });
  await assert.rejects(openLake(noKeys.storage, noKeys), (e: Error) =>
    e instanceof ConfigError && e.message === "s3-bucket/dev: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set to use an S3 lake");
  const missing = await s3LakeAt(dir, "s3://no-such-bucket/lake");
  await assert.rejects(missing.list(), (e: Error) => e instanceof ArtifactError && /^s3:\/\/no-such-bucket\/lake: cannot list: bucket no-such-bucket does not exist at http:\/\/127\.0\.0\.1:\d+$/.test(e.message));
  const down = await s3LakeAt(dir, "s3://lake-test/x", { DATA_PIPELINES_S3_ENDPOINT: "http://127.0.0.1:9" });
  await assert.rejects(down.read("a-latest"), (e: Error) =>
    e instanceof SourceError && e.transient && e.message === "s3://lake-test/x: cannot read a-latest: http://127.0.0.1:9 did not answer (ECONNREFUSED)");
});

test("a flow run on an s3:// lake writes the same bytes as the same run on a local lake", async (t) => {
  const dir = tempDir(t);
  const verra = await startFakeVerra();
  t.after(() => verra.stop());
  const env = { ...s3.env, DATA_PIPELINES_VERRA_SEARCH_URL: verra.url, DATA_PIPELINES_DB: path.join(dir, "runs.sqlite") };
  const local = await runScript("scripts/raw_verra_data.ts", [], { cwd: dir, env: { ...env, DATA_PIPELINES_RESULT_STORAGE: "file:local-lake" } });
  assert.equal(local.code, 0, local.stderr);
  const remote = await runScript("scripts/raw_verra_data.ts", [], { cwd: dir, env: { ...env, DATA_PIPELINES_RESULT_STORAGE: "s3://lake-test/flow" } });
  assert.equal(remote.code, 0, remote.stderr);
  assert.doesNotMatch(remote.stderr, /NodeVersionSupportWarning/);
  const lake = await s3LakeAt(dir, "s3://lake-test/flow");
  const keys = (await lake.list()).artifacts.map((a) => a.key);
  assert.equal(keys.length, 2, "historized copy and -latest");
  const expected = readFileSync(path.join(dir, "local-lake", "raw_verra_data-latest"));
  assert.ok(expected.length > 10_000);
  for (const key of keys) assert.ok((await lake.read(key))!.equals(expected), key);
});

test("transfer copies server-side between S3 lakes on one endpoint, through the process otherwise", async (t) => {
  const dir = tempDir(t);
  const staging = await s3LakeAt(dir, "s3-bucket/dev");
  const production = await s3LakeAt(dir, "s3://prod-klimadao-data/transfer");
  const local = new LocalLake(path.join(dir, "local"));
  await staging.write("a-latest", Buffer.from("from staging"));
  assert.equal(await transfer(staging, "a-latest", production, "a-latest"), "server-side");
  assert.equal(await transfer(production, "a-latest", local, "a-latest"), "through this process");
  assert.equal(await transfer(local, "a-latest", local.folder("_promote/x"), "a-latest"), "file copy");
  assert.equal(await transfer(local, "a-latest", production, "b-latest"), "through this process");
  assert.equal((await production.read("b-latest"))?.toString(), "from staging");
});

test("a write the server refuses fails in one line and leaves the previous -latest as it was", async (t) => {
  const lake = await s3LakeAt(tempDir(t), "s3://lake-test/refused");
  await lake.write("verra_data_v2-latest", Buffer.from("previous"));
  await s3.failWritesAfter("lake-test", 0);
  t.after(() => s3.heal());
  await assert.rejects(lake.write("verra_data_v2-latest", Buffer.from("new bytes")), (e: Error) =>
    e instanceof SourceError && e.transient && e.message === "s3://lake-test/refused: cannot write verra_data_v2-latest: InternalError (HTTP 500)");
  await assert.rejects(lake.copy("verra_data_v2-latest", "verra_data_v2-2026_11_25__13_15_00"), /cannot copy verra_data_v2-latest to verra_data_v2-2026_11_25__13_15_00: InternalError \(HTTP 500\)/);
  await s3.heal();
  assert.equal((await lake.read("verra_data_v2-latest"))?.toString(), "previous");
  assert.deepEqual((await lake.list()).artifacts.map((a) => a.key), ["verra_data_v2-latest"]);
});

/** The fault endpoint in front of the fake S3 server, stopped when the test ends. */
async function faulty(t: { after(fn: () => Promise<void>): void }): Promise<FaultyS3> {
  const faults = await startFaultyS3(s3.endpoint);
  t.after(() => faults.close());
  return faults;
}

// Small bounds, so that a hang ends in about a second: 0.5 s idle per attempt, 1 s for the whole call.
const SHORT_WAITS = { DATA_PIPELINES_HTTP_TIMEOUT_SECONDS: "0.5", DATA_PIPELINES_HTTP_DEADLINE_SECONDS: "1" };

test("a server that accepts and never answers: each call fails at its deadline in one line; checkUsable names the endpoint", async (t) => {
  const faults = await faulty(t);
  const lake = await s3LakeAt(tempDir(t), "s3-bucket/dev", { ...faults.env, DATA_PIPELINES_HTTP_TIMEOUT_SECONDS: "0.2", DATA_PIPELINES_HTTP_DEADLINE_SECONDS: "0.4" });
  faults.set("hang");
  const started = Date.now();
  await assert.rejects(lake.read("verra_data_v2-latest"), (e: Error) =>
    e instanceof SourceError && e.transient && e.message === `s3-bucket/dev: cannot read verra_data_v2-latest: ${faults.endpoint} did not answer within 0.4 s (DATA_PIPELINES_HTTP_DEADLINE_SECONDS)`);
  await assert.rejects(lake.write("verra_data_v2-latest", Buffer.from("x")), /^SourceError: s3-bucket\/dev: cannot write verra_data_v2-latest: http:\S+ did not answer within 0.4 s/);
  await assert.rejects((lake as S3Lake).checkUsable(), (e: Error) =>
    e.message === `s3-bucket/dev: cannot list bucket dev-klimadao-data: ${faults.endpoint} did not answer within 0.4 s (DATA_PIPELINES_HTTP_DEADLINE_SECONDS)`);
  assert.ok(Date.now() - started < 15_000, "three calls bounded by their 0.4 s deadlines");

  faults.set("proxy");
  await (lake as S3Lake).checkUsable();
  const missing = await s3LakeAt(tempDir(t), "s3://no-such-bucket/lake", faults.env);
  await assert.rejects((missing as S3Lake).checkUsable(), (e: Error) =>
    e instanceof ArtifactError && e.message === `s3://no-such-bucket/lake: cannot list bucket no-such-bucket: bucket no-such-bucket does not exist at ${faults.endpoint}`);
  const wrongKey = await s3LakeAt(tempDir(t), "s3-bucket/dev", { ...faults.env, AWS_ACCESS_KEY_ID: "NOBODY_KNOWS_ME" });
  await assert.rejects((wrongKey as S3Lake).checkUsable(), (e: Error) =>
    e instanceof ConfigError && e.message.startsWith("s3-bucket/dev: cannot list bucket dev-klimadao-data: InvalidAccessKeyId (HTTP 403): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") &&
    e.message.endsWith(`(${faults.endpoint})`) && !e.message.includes("NOBODY_KNOWS_ME"));
});

test("show.ts against a hanging S3 server ends with one line within its deadline, exit 1, no process left", async (t) => {
  const faults = await faulty(t);
  faults.set("hang");
  const result = await runScriptBounded("scripts/show.ts", ["verra_data_v2"], {
    cwd: tempDir(t), ceilingMs: 30_000, env: { ...faults.env, ...SHORT_WAITS, DATA_PIPELINES_RESULT_STORAGE: "s3-bucket/dev" },
  });
  assert.equal(result.timedOut, false, "ended by itself");
  assert.equal(result.code, 1);
  assert.equal(result.stderr, `error: s3-bucket/dev: cannot read verra_data_v2-latest: ${faults.endpoint} did not answer within 1 s (DATA_PIPELINES_HTTP_DEADLINE_SECONDS)\n`);
  assert.equal(result.stdout, "");
  assert.equal(result.survivors, false, "no process of its group is left");
  assert.ok(faults.requests >= 1);
});

test("an S3 503 with an HTML body: the status and what the server said, in one line, nothing else on stderr", async (t) => {
  const faults = await faulty(t);
  faults.set("unavailable");
  const result = await runScriptBounded("scripts/show.ts", ["verra_data_v2"], {
    cwd: tempDir(t), ceilingMs: 30_000, env: { ...faults.env, ...SHORT_WAITS, DATA_PIPELINES_RESULT_STORAGE: "s3-bucket/dev" },
  });
  assert.equal(result.code, 1);
  assert.equal(result.stderr, `error: s3-bucket/dev: cannot read verra_data_v2-latest: HTTP 503 from ${faults.endpoint} (Service Unavailable: ` +
    "No server is available to handle this request. Please try again later. Reference #18.2f3c1d17.1764691200.5a1b2c3d, upstream s3-backend-7 returned no answer in …)\n");
  assert.ok(UNAVAILABLE_PAGE.length > 160, "the page is cut, not quoted whole");
  assert.equal(result.survivors, false);
});

test("an object larger than DATA_PIPELINES_HTTP_MAX_MB is refused at once, not retried", async (t) => {
  const lake = await s3LakeAt(tempDir(t), "s3://lake-test/large", { DATA_PIPELINES_HTTP_MAX_MB: "1" });
  await lake.write("verra_data_v2-latest", Buffer.alloc(1_500_000, 1));
  await lake.write("small-latest", Buffer.alloc(999_999, 2));
  await assert.rejects(lake.read("verra_data_v2-latest"), (e: Error) =>
    e instanceof SourceError && !e.transient && e.message === "s3://lake-test/large: cannot read verra_data_v2-latest: it is 2 MB, more than the 1 MB DATA_PIPELINES_HTTP_MAX_MB allows");
  assert.equal((await lake.read("small-latest"))?.length, 999_999);
});

test("ranges of an object: its size, and bytes by GET with a Range header, pinned to the ETag its HEAD gave", async (t) => {
  const lake = await s3LakeAt(tempDir(t), "s3://lake-test/ranges");
  const bytes = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
  await lake.write("ranged-latest", bytes);
  const read = await lake.readRanges("ranged-latest", async (ranges) => [ranges.size, await ranges.read(0, 10), await ranges.read(4990, 5000), await ranges.read(1234, 2345)] as const);
  assert.deepEqual(read, [5000, bytes.subarray(0, 10), bytes.subarray(4990), bytes.subarray(1234, 2345)]);
  assert.equal(await lake.readRanges("missing-latest", async () => "used"), undefined);
  // Replaced between the HEAD and a GET: the GET is refused (If-Match), never bytes of another version.
  await assert.rejects(lake.readRanges("ranged-latest", async (ranges) => {
    await lake.write("ranged-latest", Buffer.from("x".repeat(6000)));
    return ranges.read(0, 10);
  }), /s3:\/\/lake-test\/ranges\/?: cannot read ranged-latest/);
});
