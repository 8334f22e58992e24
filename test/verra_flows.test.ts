// The three Verra flows as a user runs them: `npx tsx scripts/<slug>.ts` in a
// folder, against the fake registry, into the default lake ./data/lake.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { decodeArtifact, encodeArtifact } from "../lib/artifact/artifact.ts";
import { RunHistory } from "../lib/history/history.ts";
import { table, type Row } from "../lib/table/table.ts";
import { generateVerraRecords, startFakeVerra, type VerraRecord } from "./fakes/verra.ts";
import { ROOT, runScript, tempDir } from "./helpers.ts";

const V2_COLUMNS = [
  "issuance_date:timestamp", "sustainable_development_goals:string", "credit_type:string", "vintage_start:string",
  "vintage_end:string", "reporting_period_start:string", "reporting_period_end:string", "id:string", "name:string",
  "region:string", "country:string", "project_type:string", "methodology:string", "total_vintage_quantity:int",
  "quantity_issued:int", "serial_number:string", "additional_certifications:string", "is_cancelled:bool",
  "retirement_date:timestamp", "retirement_beneficiary:string", "retirement_reason:string", "retirement_details:string",
  "input_type:string", "holding_id:string", "externalserialnumber:string", "vintage:int", "days_to_retirement:float",
  "status:string", "toucan:bool", "bridge:string", "c3:bool", "moss:bool", "country_code:string", "quantity:int",
  "project_id:string",
];

const ISO3: Record<string, string> = {
  "Viet Nam": "VNM", "Korea, Republic of": "KOR", "Congo, The Democratic Republic of the": "COD", Congo: "COG",
  Bolivia: "BOL", "Türkiye": "TUR", Turkey: "TUR", "Lao People's Democratic Republic": "LAO", "United States": "USA",
  "Tanzania, United Republic of": "TZA", "Côte d'Ivoire": "CIV", Niger: "NER", Nigeria: "NGA", Myanmar: "MMR",
  "Cape Verde": "CPV", "Timor-Leste": "TLS", Brazil: "BRA", India: "IND", China: "CHN", Peru: "PER", Indonesia: "IDN",
  Kenya: "KEN", Cambodia: "KHM", Colombia: "COL", Kosovo: "XKX", "Papua New Guinea": "PNG",
};

/** verra_data_v2's derived columns for one Verra record, computed here from docs/datasets.md §5.3. */
function expectedV2(record: VerraRecord, mossSerials: Set<string>) {
  const issued = Date.parse(`${record.issuanceDate}T00:00:00Z`);
  const retired = record.retireOrCancelDate ? Date.parse(`${record.retireOrCancelDate}T00:00:00Z`) : null;
  const days = retired === null ? null : Math.floor((retired - issued) / 86_400_000);
  const details = (record.retirementDetails as string | null) ?? "";
  const toucan = details.includes("TOUCAN");
  const c3 = details.includes("C3T");
  const moss = mossSerials.has(record.serialNumbers as string);
  let bridge: string | null = null;
  if (toucan) bridge = "Toucan";
  if (c3) bridge = "C3";
  if (moss) bridge = "Moss";
  return {
    vintage: Number(String(record.vintageStart).slice(0, 4)),
    days_to_retirement: days,
    status: days !== null && days > 0 ? "Retired" : "Available",
    toucan, bridge, c3, moss,
    country_code: ISO3[record.country as string] ?? "missing from the test's table",
    quantity: record.quantity,
    project_id: `VCS-${record.resourceIdentifier}`,
    issuance_date: new Date(issued),
    retirement_date: retired === null ? null : new Date(retired),
  };
}

async function fakeWith(t: { after(fn: () => Promise<void>): void }, records: VerraRecord[], maxRowsPerAnswer = 10_000) {
  const fake = await startFakeVerra({ records, maxRowsPerAnswer });
  t.after(() => fake.stop());
  return fake;
}

function seedMoss(cwd: string, serials: string[]): void {
  mkdirSync(path.join(cwd, "data", "lake"), { recursive: true });
  writeFileSync(path.join(cwd, "data", "lake", "raw_eth_moss_bridged_offsets-latest"), encodeArtifact(table(
    { ID: "string", "Serial Number": "string", Date: "int", "Token Address": "string", Vintage: "string", "Project ID": "string", Quantity: "float", "Original Tx Address": "string" },
    serials.map((serial, i) => ({ ID: String(i), "Serial Number": serial, Date: 1_650_000_000 + i, "Token Address": "0xfc98e825a2264d890f9a1e68ed50e1526abccacd", Vintage: "2014", "Project ID": "VCS-1686", Quantity: 10, "Original Tx Address": `0x${"0".repeat(64)}` })),
  )));
}

const readLake = (cwd: string, key: string) => decodeArtifact(readFileSync(path.join(cwd, "data", "lake", key)), key);

test("raw_verra_data, verra_data_v2 and verra_retirements run end to end into ./data/lake", async (t) => {
  const records = generateVerraRecords(2_500, 42);
  const fake = await fakeWith(t, records, 100);
  const cwd = tempDir(t);
  const mossSerials = records.filter((_, i) => i % 97 === 0).map((r) => r.serialNumbers as string);
  seedMoss(cwd, mossSerials);
  const env = { DATA_PIPELINES_VERRA_SEARCH_URL: fake.url };

  for (const script of ["raw_verra_data", "verra_data_v2", "verra_retirements"]) {
    const result = await runScript(`scripts/${script}.ts`, [], { cwd, env });
    assert.equal(result.code, 0, `${script}: ${result.stderr}`);
  }
  const keys = readdirSync(path.join(cwd, "data", "lake")).sort();
  for (const slug of ["raw_verra_data", "verra_data_v2", "verra_retirements"]) {
    assert.ok(keys.includes(`${slug}-latest`), `${slug}-latest written`);
    assert.equal(keys.filter((k) => new RegExp(`^${slug}-\\d{4}_\\d{2}_\\d{2}__\\d{2}_\\d{2}_\\d{2}$`).test(k)).length, 1, `${slug} historized once`);
  }

  const raw = readLake(cwd, "raw_verra_data-latest");
  assert.equal(raw.columns.length, 25);
  assert.deepEqual(raw.rows.map((r) => r["Serial Number"]), records.map((r) => r.serialNumbers), "every served row, once, in order");

  const v2 = readLake(cwd, "verra_data_v2-latest");
  assert.deepEqual(v2.columns.map((c) => `${c.name}:${c.type}`), V2_COLUMNS);
  assert.equal(v2.rows.length, records.length);
  const moss = new Set(mossSerials);
  v2.rows.forEach((row, i) => {
    const want = expectedV2(records[i]!, moss);
    for (const [name, value] of Object.entries(want)) assert.deepEqual(row[name], value, `row ${i} ${name}`);
    assert.equal(row.serial_number, records[i]!.serialNumbers);
  });
  const count = (pick: (r: Row) => boolean) => v2.rows.filter(pick).length;
  assert.ok(count((r) => r.moss === true) === mossSerials.length, "every Moss serial flagged");
  assert.ok(count((r) => r.bridge === "Toucan") > 0 && count((r) => r.bridge === "C3") > 0);
  assert.ok(count((r) => r.status === "Retired") > 0 && count((r) => r.status === "Available") > 0);

  const retirements = readLake(cwd, "verra_retirements-latest");
  assert.deepEqual(retirements.columns, v2.columns);
  const expected = v2.rows.filter((r) => !r.toucan && !r.c3 && !r.moss && r.status === "Retired");
  assert.deepEqual(retirements.rows, expected);

  const history = RunHistory.open(path.join(cwd, "data", "runs.sqlite"));
  t.after(() => history.close());
  const runs = history.list().reverse();
  assert.deepEqual(runs.map((r) => [r.flow, r.status, r.trigger]), [
    ["raw_verra_data", "succeeded", "manual"], ["verra_data_v2", "succeeded", "manual"], ["verra_retirements", "succeeded", "manual"],
  ]);
  assert.deepEqual(runs[1]!.upstreamKeys, ["raw_verra_data-latest", "raw_eth_moss_bridged_offsets-latest"]);
  assert.deepEqual(runs[2]!.upstreamKeys, ["verra_data_v2-latest"]);
  assert.equal(runs[2]!.rows, expected.length);
});

test("no secret reaches a log line, an error or the run history", async (t) => {
  const key = "gk_5ecret0f1nd4ble";
  const infura = "0123456789abcdef0123456789abcdef";
  const fake = await fakeWith(t, generateVerraRecords(20));
  // A source that echoes the key back in its error (as gateways do with the URL).
  fake.injectFaults({ kind: "status", status: 400, body: `{"error":"bad request for /api/${key}/subgraphs and key ${infura}"}` });
  const cwd = tempDir(t);
  const env = {
    DATA_PIPELINES_VERRA_SEARCH_URL: fake.url, DATA_PIPELINES_VERRA_CONCURRENCY: "1",
    ENV: "production", GRAPH_API_KEY: key, WEB3_INFURA_PROJECT_ID: infura,
    DATA_PIPELINES_PAIRS_SUBGRAPH_URL: `http://127.0.0.1:9/api/${key}/subgraphs/id/abc`,
  };
  const human = await runScript("scripts/raw_verra_data.ts", [], { cwd, env });
  fake.injectFaults({ kind: "status", status: 400, body: `{"error":"${key}"}` });
  const json = await runScript("scripts/raw_verra_data.ts", ["--json"], { cwd, env });
  const help = await runScript("scripts/raw_verra_data.ts", ["--help"], { cwd, env });
  const runs = await runScript("scripts/runs.ts", ["--json"], { cwd, env });
  assert.equal(human.code, 1);
  assert.equal(json.code, 1);
  assert.match(human.stderr, /ERROR raw_verra_data run 1: failed: .*HTTP 400/);
  assert.match(help.stdout, /gateway-arbitrum\.network\.thegraph\.com\/api\/\*\*\*\/subgraphs/);
  assert.match(help.stdout, /polygon-mainnet\.infura\.io\/v3\/\*\*\*/);
  const history = JSON.parse(runs.stdout);
  assert.equal(history.length, 2);
  assert.match(history[0].error, /\*\*\*/);
  const everything = [human.stdout, human.stderr, json.stdout, json.stderr, help.stdout, help.stderr, runs.stdout, readFileSync(path.join(cwd, "data", "runs.sqlite")).toString("latin1")].join("\n");
  assert.ok(!everything.includes(key), "the Graph key leaked");
  assert.ok(!everything.includes(infura), "the Infura id leaked");
  for (const line of json.stderr.trim().split("\n")) JSON.parse(line); // --json: every log line is JSON
});

test("a process killed while writing leaves the previous -latest intact, and the next run marks it crashed", async (t) => {
  const first = generateVerraRecords(1_000, 1);
  const fake1 = await fakeWith(t, first);
  const cwd = tempDir(t);
  assert.equal((await runScript("scripts/raw_verra_data.ts", [], { cwd, env: { DATA_PIPELINES_VERRA_SEARCH_URL: fake1.url } })).code, 0);
  const lake = path.join(cwd, "data", "lake");
  const before = readFileSync(path.join(lake, "raw_verra_data-latest"));

  // Second run: its -latest write stalls half-way (test/fakes/stall_write.ts) and the process is killed there.
  const fake2 = await fakeWith(t, generateVerraRecords(1_500, 2));
  const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), "--import", path.join(ROOT, "test", "fakes", "stall_write.ts"), path.join(ROOT, "scripts", "raw_verra_data.ts")], {
    cwd,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", DATA_PIPELINES_VERRA_SEARCH_URL: fake2.url, STALL_WRITE_KEY: "raw_verra_data-latest" },
    stdio: ["ignore", "pipe", "ignore"],
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
  child.stdout.on("data", (chunk: Buffer) => {
    if (chunk.toString().includes("HALF-WRITTEN")) child.kill("SIGKILL");
  });
  assert.equal(await exited, "SIGKILL", "killed mid-write");

  const names = readdirSync(lake);
  assert.ok(names.some((n) => n.startsWith(".raw_verra_data-latest.")), "the half-written temporary file is there");
  assert.deepEqual(readFileSync(path.join(lake, "raw_verra_data-latest")), before, "previous -latest byte-identical");
  assert.equal(decodeArtifact(before, "raw_verra_data-latest").rows.length, 1_000);

  // The next run of any script marks the killed run crashed.
  assert.equal((await runScript("scripts/raw_verra_data.ts", [], { cwd, env: { DATA_PIPELINES_VERRA_SEARCH_URL: fake1.url, DATA_PIPELINES_DRY_RUN: "" } })).code, 0);
  const history = RunHistory.open(path.join(cwd, "data", "runs.sqlite"));
  t.after(() => history.close());
  const killed = history.get(2)!;
  assert.equal(killed.status, "crashed");
  assert.match(killed.error!, /ended without recording the run's end/);
});

test("runs.ts reads the history while a flow writes to it, without 'database is locked'", async (t) => {
  const fake = await fakeWith(t, generateVerraRecords(20_000, 9), 500);
  const cwd = tempDir(t);
  const env = { DATA_PIPELINES_VERRA_SEARCH_URL: fake.url };
  const flow = runScript("scripts/raw_verra_data.ts", [], { cwd, env });
  const readers = await Promise.all(Array.from({ length: 4 }, () => runScript("scripts/runs.ts", ["--json"], { cwd, env })));
  const flowResult = await flow;
  assert.equal(flowResult.code, 0, flowResult.stderr);
  for (const reader of readers) {
    assert.equal(reader.code, 0, reader.stderr);
    assert.ok(!/locked/i.test(reader.stderr));
    assert.ok(Array.isArray(JSON.parse(reader.stdout)));
  }
});
