// Promote's guard (docs/architecture.md §9): an artifact that changes in staging between promote's check and
// its copy never reaches production; a promote stopped half-way (refused artifact, a server
// that stops answering) leaves production in a state that running promote again finishes and
// --rollback undoes; a damaged manifest says so in one line.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { decodeArtifactSummary, encodeArtifact } from "../lib/artifact/artifact.ts";
import { consumerContract } from "../lib/flows/flow.ts";
import { ALL_FLOWS } from "../scripts/flows.ts";
import { ArtifactError } from "../lib/core/errors.ts";
import { LocalLake, openLake, type Lake } from "../lib/lake/lake.ts";
import { promote, rollback } from "../lib/maintenance/promote.ts";
import { table, type Column } from "../lib/table/table.ts";
import { startFakeS3, type FakeS3 } from "./fakes/s3.ts";
import { isCopy, runScriptBounded, startFaultyS3, type FaultyS3 } from "./fakes/s3_faults.ts";
import { memoryLogger, runScript, tempDir, testConfig } from "./helpers.ts";

const consumerColumns = consumerContract(ALL_FLOWS);

let s3: FakeS3;
before(async () => { s3 = await startFakeS3(); });
after(() => s3.close());

/** A small artifact with the columns the dashboard API reads for `slug`. */
function artifact(slug: string, rows: number): Buffer {
  const names = [...(consumerColumns(slug).length ? consumerColumns(slug) : ["id"]), "extra"];
  const columns: Column[] = names.map((name) => ({ name, type: "string" }));
  return encodeArtifact(table(columns, Array.from({ length: rows }, (_, i) => Object.fromEntries(names.map((n) => [n, `${slug} ${n} ${i}`])))));
}

const SLUGS = ["all_retirements", "offsets_holders_data", "raw_verra_data", "verra_data_v2"];
/** The artifact the tests change in staging after the check: the first one promote copies. */
const CHANGED = "all_retirements-latest";

/** Production holds four datasets; staging the same four, newer, and one more. */
async function seed(staging: Lake, production: Lake): Promise<void> {
  for (const [i, slug] of SLUGS.entries()) {
    await production.write(`${slug}-latest`, artifact(slug, 10 + i));
    await staging.write(`${slug}-latest`, artifact(slug, 20 + i));
  }
  await staging.write("tokens_data_v2-latest", artifact("tokens_data_v2", 5));
}

/** Every artifact of a lake, key to bytes (base64). */
async function snapshot(lake: Lake): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const a of (await lake.list()).artifacts) out.set(a.key, (await lake.read(a.key))!.toString("base64"));
  return out;
}

/** Every -latest of production decodes: nothing undecodable reached it. */
async function assertDecodes(production: Lake): Promise<void> {
  for (const a of (await production.list()).artifacts) decodeArtifactSummary((await production.read(a.key))!, a.key);
}

/** The first half of an artifact: what a writer caught half-way, or a broken build, leaves. */
const broken = (bytes: Buffer) => bytes.subarray(0, Math.floor(bytes.length / 2));

/** Staging and production as two local folders of a temporary directory, seeded. */
async function fileSetup(t: Parameters<typeof tempDir>[0]) {
  const dir = tempDir(t);
  const staging = new LocalLake(path.join(dir, "staging"));
  const production = new LocalLake(path.join(dir, "production"));
  await seed(staging, production);
  return { dir, staging, production, before: await snapshot(production) };
}

const quietRun = () => ({ dryRun: false, say: () => {}, log: memoryLogger().log, copied: () => {}, deleted: () => {}, note: () => {} });

test("file: lakes: an artifact replaced in staging after the check is refused; production keeps its copy; promote again finishes, --rollback restores", async (t) => {
  const { dir, staging, production, before } = await fileSetup(t);
  const good = (await staging.read(CHANGED))!;

  // Another writer replaces the artifact right after promote has read it for the check.
  let reads = 0;
  const racing = new Proxy(staging, {
    get(target, name) {
      if (name === "read") {
        return async (key: string) => {
          const bytes = await target.read(key);
          if (key === CHANGED && ++reads === 1) await target.write(CHANGED, broken(good));
          return bytes;
        };
      }
      const value = Reflect.get(target, name) as unknown;
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  await assert.rejects(promote({ staging: racing, production, run: quietRun(), allowMissing: false, consumerColumns }), (e: Error) =>
    e instanceof ArtifactError && !e.message.includes("\n") &&
    e.message === `refused to promote ${CHANGED}: file:${dir}/staging: ${CHANGED} changed since it was checked; production keeps its ${CHANGED} from before the promote; ` +
      "0 of 5 promoted: fix staging and run promote again to finish, or promote --rollback to undo");
  await assertDecodes(production);
  assert.deepEqual(await snapshot(production), before, "nothing was promoted: the changed artifact is the first one");

  await staging.write(CHANGED, good);
  await promote({ staging, production, run: quietRun(), allowMissing: false, consumerColumns });
  assert.deepEqual(await snapshot(production), await snapshot(staging), "run again, the promote finishes");
  await rollback({ production, run: quietRun() });
  assert.deepEqual(await snapshot(production), before, "--rollback restores production byte for byte");
});

/** Staging and production on the fake S3 server, each under its own prefix, reached through `faults`; and promote.ts run against them. */
async function s3Setup(t: Parameters<typeof tempDir>[0], name: string, faults: FaultyS3) {
  const dir = tempDir(t);
  const storage = { staging: `s3://dev-klimadao-data/${name}`, production: `s3://prod-klimadao-data/${name}` };
  // Opened on the S3 server itself, not through the faults: the test sees what is really there.
  const open = async (where: string) => {
    const config = testConfig(dir, { ...s3.env, DATA_PIPELINES_RESULT_STORAGE: where });
    return openLake(config.storage, config);
  };
  const staging = await open(storage.staging);
  const production = await open(storage.production);
  await seed(staging, production);
  const env = { ...faults.env, DATA_PIPELINES_DB: path.join(dir, "runs.sqlite"), DATA_PIPELINES_HTTP_TIMEOUT_SECONDS: "0.5", DATA_PIPELINES_HTTP_DEADLINE_SECONDS: "1" };
  const run = (...args: string[]) =>
    runScriptBounded("scripts/promote.ts", ["--staging", storage.staging, "--production", storage.production, ...args], { cwd: dir, env, ceilingMs: 60_000 });
  return { staging, production, run, storage };
}

/** When promote copies CHANGED from staging, replace it there first (once): the change lands between check and copy. */
function changeOnCopy(faults: FaultyS3, staging: Lake, stagingStorage: string): void {
  const source = `${stagingStorage.slice("s3://".length)}/${CHANGED}`;
  let done = false;
  faults.beforeCopy(async (copy) => {
    if (done || copy.source !== source) return;
    done = true;
    await staging.write(CHANGED, broken((await staging.read(CHANGED))!));
  });
}

test("S3 with a server that honours x-amz-copy-source-if-match: the changed artifact is refused (412); production decodes; promote again finishes, --rollback restores", async (t) => {
  const faults = await startFaultyS3(s3.endpoint);
  t.after(() => faults.close());
  const { staging, production, run, storage } = await s3Setup(t, "honoured", faults);
  const before = await snapshot(production);
  const good = (await staging.read(CHANGED))!;
  changeOnCopy(faults, staging, storage.staging);

  const refused = await run();
  assert.equal(refused.code, 1);
  assert.equal(faults.refusedCopies, 1, "the server refused the conditional copy");
  assert.equal(refused.stderr, `error: refused to promote ${CHANGED}: ${storage.production} (from ${storage.staging}): cannot copy ${CHANGED} to ${CHANGED}: ` +
    `the source changed since it was checked; production keeps its ${CHANGED} from before the promote; 0 of 5 promoted: fix staging and run promote again to finish, or promote --rollback to undo\n`);
  assert.match(refused.stdout, /^stopped after 0 of 5 promoted; production's set from before is in s3:\/\/prod-klimadao-data\/honoured\/_promote\/\d{4}_\d\d_\d\d__\d\d_\d\d_\d\d(_\d+)?: run promote again to finish, or promote --rollback to undo$/m);
  await assertDecodes(production);
  assert.deepEqual(await snapshot(production), before);
  assert.equal(refused.survivors, false);

  // Staging fixed: the check runs again, and the stopped promote is finished.
  faults.beforeCopy(undefined);
  await staging.write(CHANGED, good);
  const resumed = await run();
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /resuming the promote that stopped on \d{4}_\d\d_\d\d__\d\d_\d\d_\d\d/);
  assert.deepEqual(await snapshot(production), await snapshot(staging));
  const rolled = await run("--rollback");
  assert.equal(rolled.code, 0, rolled.stderr);
  assert.deepEqual(await snapshot(production), before, "production as before the first attempt, byte for byte");
});

test("S3 with a server that ignores the copy's condition: the copy's ETag gives the change away; production gets its copy back", async (t) => {
  const faults = await startFaultyS3(s3.endpoint, { enforceCopyConditions: false });
  t.after(() => faults.close());
  const { staging, production, run, storage } = await s3Setup(t, "ignored", faults);
  const before = await snapshot(production);
  changeOnCopy(faults, staging, storage.staging);

  const refused = await run();
  assert.equal(refused.code, 1);
  assert.equal(faults.refusedCopies, 0, "the server copied the changed bytes");
  assert.equal(refused.stderr.split("\n").length, 2, refused.stderr);
  assert.match(refused.stderr, new RegExp(`^error: refused to promote ${CHANGED}: .*: the source changed since it was checked \\(the server copied other bytes\\); production keeps its ${CHANGED} from before the promote; 0 of 5 promoted`));
  await assertDecodes(production);
  assert.deepEqual(await snapshot(production), before, "the bad copy was replaced by production's previous one");
});

test("an S3 server that stops answering half-way: promote ends in one line within its deadline; run again it finishes; --rollback restores byte for byte", async (t) => {
  const faults = await startFaultyS3(s3.endpoint);
  t.after(() => faults.close());
  const { staging, production, run, storage } = await s3Setup(t, "hangs", faults);
  const before = await snapshot(production);
  const promoted = await snapshot(staging);
  // Two datasets reach production, then the server accepts requests and never answers.
  const bucket = storage.staging.slice("s3://".length).split("/")[0]!;
  faults.hangAfter(2, (request) => isCopy(request) && decodeURIComponent(String(request.headers["x-amz-copy-source"])).replace(/^\//, "").startsWith(`${bucket}/`));

  const stopped = await run();
  assert.equal(stopped.timedOut, false);
  assert.equal(stopped.code, 1);
  assert.match(stopped.stderr, new RegExp(`^error: ${storage.production} \\(from ${storage.staging}\\): cannot copy raw_verra_data-latest to raw_verra_data-latest: ` +
    `${faults.endpoint} did not answer within 1 s \\(DATA_PIPELINES_HTTP_DEADLINE_SECONDS\\)\\n$`));
  assert.match(stopped.stdout, /^stopped after 2 of 5 promoted; /m);
  assert.equal(stopped.survivors, false);
  const half = await snapshot(production);
  assert.equal([...promoted].filter(([key, bytes]) => half.get(key) === bytes).length, 2);

  faults.set("proxy");
  const resumed = await run();
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /resuming the promote that stopped on /);
  assert.deepEqual(await snapshot(production), promoted);
  const rolled = await run("--rollback");
  assert.equal(rolled.code, 0, rolled.stderr);
  assert.deepEqual(await snapshot(production), before);
});

test("a damaged promote manifest is one line naming the file and what to do", async (t) => {
  const { dir, production, before } = await fileSetup(t);
  const folder = path.join(dir, "production", "_promote", "2026_11_25__03_00_00");
  mkdirSync(folder, { recursive: true });
  writeFileSync(path.join(folder, "manifest.json"), '{"state": "copy');

  const result = await runScript("scripts/promote.ts", ["--staging", "file:staging", "--production", "file:production"], { cwd: dir, env: { DATA_PIPELINES_DB: path.join(dir, "runs.sqlite") } });
  assert.equal(result.code, 1);
  assert.equal(result.stderr, "error: file:production/_promote/2026_11_25__03_00_00/manifest.json is damaged (not JSON): move that folder aside or fix it, then run promote again\n");
  assert.deepEqual(await snapshot(production), before);

  writeFileSync(path.join(folder, "manifest.json"), JSON.stringify({ state: "copying", staging: "file:staging", production: "file:production", startedAt: "2026-11-25T03:00:00Z", backedUp: ["../x"] }));
  await assert.rejects(rollback({ production, run: quietRun() }), (e: Error) =>
    e instanceof ArtifactError && e.message === `file:${dir}/production/_promote/2026_11_25__03_00_00/manifest.json is damaged (missing or invalid backedUp): move that folder aside or fix it, then run promote --rollback again`);
  assert.deepEqual(await snapshot(production), before);
});
