// tokens_data_v2 as a user runs it: `npx tsx scripts/tokens_data_v2.ts` in a folder whose
// ./data/lake holds the five upstream -latest artifacts, against the fake Polygon JSON-RPC.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { getAddress } from "viem";
import { decodeArtifact, encodeArtifact } from "../lib/artifact/artifact.ts";
import { loadConfig } from "../lib/config/config.ts";
import { TOKEN_NAMES, TOKENS, type TokenName } from "../lib/sources/constants.ts";
import { RunHistory } from "../lib/history/history.ts";
import { table, type Row, type Table } from "../lib/table/table.ts";
import { startFakePolygonRpc, type FakePolygonRpc, type FakePolygonRpcOptions } from "./fakes/polygon_rpc.ts";
import { runScript, tempDir } from "./helpers.ts";

const SCRIPT = "scripts/tokens_data_v2.ts";
const UPSTREAM = [
  "polygon_pools_deposited_offsets", "polygon_pools_redeemed_offsets", "eth_moss_bridged_offsets_v2",
  "eth_retired_offsets_v2", "current_assets_prices",
];
const COLUMNS = [
  "name:string", "pair_address:string", "token_address:string", "full_name:string", "bridge:string", "decimals:int",
  "current_supply:float", "fee_redeem_factor:float", "price:float", "selective_cost_value:float",
];

const addr = (t: TokenName) => TOKENS[t].tokenAddress;
const OTHER_POOL = "0x1111111111111111111111111111111111111111";
const at = (day: number) => new Date(Date.UTC(2024, 0, day, 12));

// Pools written in mixed case on some rows (compared lower-cased), null quantities (count 0),
// a pool that is no token, a null pool, and no row at all for MCO2's address.
const DEPOSITED: Row[] = [
  { quantity: 1000.5, deposited_date: at(1), pool: addr("BCT") },
  { quantity: 250.25, deposited_date: at(2), pool: addr("BCT").toUpperCase().replace("0X", "0x") },
  { quantity: null, deposited_date: at(3), pool: addr("BCT") },
  { quantity: 777, deposited_date: at(3), pool: addr("NCT") },
  { quantity: 12.125, deposited_date: at(4), pool: getAddress(addr("NCT")) },
  { quantity: 5000, deposited_date: at(4), pool: addr("UBO") },
  { quantity: 4321.5, deposited_date: at(5), pool: addr("NBO") },
  { quantity: 999, deposited_date: at(5), pool: OTHER_POOL },
  { quantity: 3, deposited_date: at(6), pool: null },
];
const REDEEMED: Row[] = [
  { quantity: 100.75, redeemed_date: at(7), pool: addr("BCT") },
  { quantity: 7, redeemed_date: at(7), pool: getAddress(addr("NCT")) },
  { quantity: null, redeemed_date: at(8), pool: addr("UBO") },
  { quantity: 1234.5, redeemed_date: at(8), pool: addr("UBO") },
  { quantity: 55, redeemed_date: at(9), pool: OTHER_POOL },
];
const MOSS_BRIDGED: Row[] = [{ quantity: 1500 }, { quantity: 2750 }, { quantity: null }, { quantity: 4 }];
const ETH_RETIRED: Row[] = [{ quantity: 200.5 }, { quantity: null }, { quantity: 99.25 }];
const PRICES: Row = { date: new Date(Date.UTC(2024, 0, 10)), bct_price: 1.23, nct_price: 0.87, mco2_price: 0.51, ubo_price: 0.33, nbo_price: 0.41 };

function upstreamTables(): Record<string, Table> {
  return {
    polygon_pools_deposited_offsets: table({ quantity: "float", deposited_date: "timestamp", pool: "string" }, DEPOSITED),
    polygon_pools_redeemed_offsets: table({ quantity: "float", redeemed_date: "timestamp", pool: "string" }, REDEEMED),
    eth_moss_bridged_offsets_v2: table({ bridge: "string", quantity: "int" }, MOSS_BRIDGED.map((r) => ({ bridge: "Moss", ...r }))),
    eth_retired_offsets_v2: table({ bridge: "string", quantity: "float" }, ETH_RETIRED.map((r) => ({ bridge: "Moss", ...r }))),
    current_assets_prices: table(
      { date: "date", bct_price: "float", nct_price: "float", mco2_price: "float", ubo_price: "float", nbo_price: "float" },
      [PRICES],
    ),
  };
}

function seed(cwd: string, tables: Record<string, Table> = upstreamTables()): void {
  const lake = path.join(cwd, "data", "lake");
  mkdirSync(lake, { recursive: true });
  for (const [slug, t] of Object.entries(tables)) writeFileSync(path.join(lake, `${slug}-latest`), encodeArtifact(t));
}

async function fakeRpc(t: { after(fn: () => Promise<void>): void }, options: FakePolygonRpcOptions = {}): Promise<FakePolygonRpc> {
  const fake = await startFakePolygonRpc(options);
  t.after(() => fake.stop());
  return fake;
}

const lakeFile = (cwd: string, key: string) => path.join(cwd, "data", "lake", key);
const readLake = (cwd: string, key: string) => decodeArtifact(readFileSync(lakeFile(cwd, key)), key);
const lines = (text: string, pattern: RegExp) => text.split("\n").filter((l) => pattern.test(l));

/** The five rows, computed here from docs/datasets.md §5.13 and the fake's contract values. */
function expectedRows(fake: FakePolygonRpc): Row[] {
  const sum = (rows: Row[]) => rows.reduce((s, r) => s + ((r.quantity as number | null) ?? 0), 0);
  const forPool = (rows: Row[], t: TokenName) => rows.filter((r) => typeof r.pool === "string" && r.pool.toLowerCase() === addr(t));
  const value = (t: TokenName, fn: string) => Number(fake.contracts[addr(t)]![fn as "feeRedeem"] as bigint);
  const fee: Record<TokenName, number> = {
    BCT: value("BCT", "feeRedeemPercentageInBase") / value("BCT", "feeRedeemDivider"),
    NCT: value("NCT", "feeRedeemPercentageInBase") / value("NCT", "feeRedeemDivider"),
    MCO2: 0,
    UBO: value("UBO", "feeRedeem") / 10_000,
    NBO: value("NBO", "feeRedeem") / 10_000,
  };
  return TOKEN_NAMES.map((t) => {
    const price = PRICES[`${t.toLowerCase()}_price`] as number;
    return {
      name: t,
      pair_address: TOKENS[t].pairAddress,
      token_address: TOKENS[t].tokenAddress,
      full_name: TOKENS[t].fullName,
      bridge: TOKENS[t].bridge,
      decimals: 18,
      current_supply: t === "MCO2" ? sum(MOSS_BRIDGED) - sum(ETH_RETIRED) : sum(forPool(DEPOSITED, t)) - sum(forPool(REDEEMED, t)),
      fee_redeem_factor: fee[t],
      price,
      selective_cost_value: price * (1 + fee[t]),
    };
  });
}

test("tokens_data_v2 builds the five token rows from the upstreams and one batched round trip of fee calls", async (t) => {
  const fake = await fakeRpc(t);
  const cwd = tempDir(t);
  seed(cwd);
  const result = await runScript(SCRIPT, [], { cwd, env: { DATA_PIPELINES_POLYGON_RPC_URL: fake.url } });
  assert.equal(result.code, 0, result.stderr);

  const out = readLake(cwd, "tokens_data_v2-latest");
  assert.deepEqual(out.columns.map((c) => `${c.name}:${c.type}`), COLUMNS);
  const want = expectedRows(fake);
  assert.deepEqual(out.rows.map((r) => r.name), ["BCT", "NCT", "MCO2", "UBO", "NBO"]);
  out.rows.forEach((row, i) => {
    for (const [name, value] of Object.entries(want[i]!)) assert.deepEqual(row[name], value, `${row.name} ${name}`);
  });
  // Spot-check the arithmetic the expectations encode, in plain numbers.
  assert.deepEqual(out.rows.map((r) => r.fee_redeem_factor), [0.25, 0.1, 0, 0.025, 0.05]);
  assert.deepEqual(out.rows.map((r) => r.current_supply), [1150, 782.125, 3954.25, 3765.5, 4321.5]);

  // Not historized: -latest only, next to the five seeded upstreams.
  assert.deepEqual(readdirSync(path.join(cwd, "data", "lake")).sort(), [...UPSTREAM.map((s) => `${s}-latest`), "tokens_data_v2-latest"].sort());

  // Two HTTP requests: the chain id check, then all six eth_calls in one JSON-RPC batch at the latest block.
  assert.equal(fake.requests.length, 2, JSON.stringify(fake.requests));
  assert.deepEqual(fake.requests[0]!.calls.map((c) => c.method), ["eth_chainId"]);
  const calls = fake.requests[1]!;
  assert.equal(calls.batch, true);
  assert.deepEqual(calls.calls.map((c) => c.method), Array(6).fill("eth_call"));
  assert.deepEqual(calls.calls.map((c) => c.params[1]), Array(6).fill("latest"));
  const targets = calls.calls.map((c) => (c.params[0] as { to: string }).to);
  assert.deepEqual([...new Set(targets)].sort(), ["BCT", "NCT", "UBO", "NBO"].map((n) => getAddress(addr(n as TokenName))).sort(), "checksummed token addresses, no MCO2 call");
  assert.ok(targets.every((to) => to !== to.toLowerCase()), "addresses are sent checksummed");

  const history = RunHistory.open(path.join(cwd, "data", "runs.sqlite"));
  t.after(() => history.close());
  const [run] = history.list();
  assert.equal(run!.status, "succeeded");
  assert.equal(run!.attempts, 1);
  assert.deepEqual(run!.writtenKeys, ["tokens_data_v2-latest"]);
  assert.deepEqual(run!.upstreamKeys, UPSTREAM.map((s) => `${s}-latest`));
  assert.equal(run!.rows, 5);
  assert.equal(run!.columns, 10);
});

test("a wrong chain id fails with a line naming it, before any contract call", async (t) => {
  const fake = await fakeRpc(t, { chainId: 1 });
  const cwd = tempDir(t);
  seed(cwd);
  const result = await runScript(SCRIPT, [], { cwd, env: { DATA_PIPELINES_POLYGON_RPC_URL: fake.url } });
  assert.equal(result.code, 1);
  const errors = lines(result.stderr, /ERROR/);
  assert.equal(errors.length, 1, result.stderr);
  assert.match(errors[0]!, /tokens_data_v2 run 1: failed: Polygon RPC \(http:\/\/127\.0\.0\.1:\d+\) is chain 1, not Polygon mainnet \(137\)/);
  assert.equal(fake.requests.length, 1, "only eth_chainId, not retried");
  assert.ok(!readdirSync(path.join(cwd, "data", "lake")).includes("tokens_data_v2-latest"));
});

test("an RPC 503 on the fee calls is retried and the run succeeds", async (t) => {
  const fake = await fakeRpc(t);
  // The error body is labelled JSON but is not: the status must survive that (and Retry-After is honoured).
  fake.injectFaults({ kind: "none" }, { kind: "status", status: 503, retryAfterSeconds: 1, body: "Service Unavailable" });
  const cwd = tempDir(t);
  seed(cwd);
  const result = await runScript(SCRIPT, [], { cwd, env: { DATA_PIPELINES_POLYGON_RPC_URL: fake.url } });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /WARN .*Polygon RPC \(http:\/\/127\.0\.0\.1:\d+\), 6 fee calls: HTTP 503; retry 1\/3 in 1\.0 s$/m);
  assert.deepEqual(fake.requests.map((r) => [r.calls.length, r.fault ?? "ok"]), [[1, "ok"], [6, "status"], [6, "ok"]]);
  assert.deepEqual(readLake(cwd, "tokens_data_v2-latest").rows, expectedRows(fake));
  const history = RunHistory.open(path.join(cwd, "data", "runs.sqlite"));
  t.after(() => history.close());
  assert.equal(history.list()[0]!.attempts, 2);
});

test("a hang, a cut-short answer and a non-JSON answer are retried (timeouts from DATA_PIPELINES_HTTP_TIMEOUT_SECONDS)", async (t) => {
  const fake = await fakeRpc(t);
  fake.injectFaults({ kind: "hang" }, { kind: "truncated" }, { kind: "malformed" });
  const cwd = tempDir(t);
  seed(cwd);
  const result = await runScript(SCRIPT, [], { cwd, env: { DATA_PIPELINES_POLYGON_RPC_URL: fake.url, DATA_PIPELINES_HTTP_TIMEOUT_SECONDS: "0.5" } });
  assert.equal(result.code, 0, result.stderr);
  const warnings = lines(result.stderr, /WARN/);
  assert.equal(warnings.length, 3, result.stderr);
  assert.match(warnings[0]!, /eth_chainId: no answer within 0\.5 s; retry 1\/3/);
  assert.match(warnings[1]!, /eth_chainId: answer cut short; retry 2\/3/);
  assert.match(warnings[2]!, /eth_chainId: answer is not valid JSON; retry 3\/3/);
  assert.equal(fake.requests.length, 5);
  assert.deepEqual(readLake(cwd, "tokens_data_v2-latest").rows, expectedRows(fake));
});

test("a revert fails at once with one line and leaves the previous tokens_data_v2-latest byte-identical", async (t) => {
  const fake = await fakeRpc(t);
  const cwd = tempDir(t);
  seed(cwd);
  const env = { DATA_PIPELINES_POLYGON_RPC_URL: fake.url };
  assert.equal((await runScript(SCRIPT, [], { cwd, env })).code, 0);
  const before = readFileSync(lakeFile(cwd, "tokens_data_v2-latest"));

  delete fake.contracts[addr("NBO")]!.feeRedeem; // NBO's contract no longer has feeRedeem(): it reverts
  fake.requests.length = 0;
  const result = await runScript(SCRIPT, [], { cwd, env });
  assert.equal(result.code, 1);
  const errors = lines(result.stderr, /ERROR/);
  assert.equal(errors.length, 1, result.stderr);
  assert.match(errors[0]!, /tokens_data_v2 run 2: failed: Polygon RPC \(http:\/\/127\.0\.0\.1:\d+\), 6 fee calls: NBO feeRedeem\(\) reverted \(execution reverted\)$/);
  assert.equal(lines(result.stderr, /WARN|retry/).length, 0, "not retried");
  assert.equal(result.stderr.trim().split("\n").length, 2, `a start line and the error line:\n${result.stderr}`);
  assert.deepEqual(fake.requests.map((r) => r.calls.length), [1, 6], "chain id, then one batch, not retried");
  assert.deepEqual(readFileSync(lakeFile(cwd, "tokens_data_v2-latest")), before);
});

test("an answer that does not decode as uint256 fails at once", async (t) => {
  const fake = await fakeRpc(t);
  fake.contracts[addr("NCT")]!.feeRedeemDivider = { raw: "0x" };
  const cwd = tempDir(t);
  seed(cwd);
  const result = await runScript(SCRIPT, [], { cwd, env: { DATA_PIPELINES_POLYGON_RPC_URL: fake.url } });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /failed: Polygon RPC \(http:\/\/127\.0\.0\.1:\d+\), 6 fee calls: malformed answer to NCT feeRedeemDivider\(\) \(.*returned no data.*\)$/m);
  assert.equal(fake.requests.length, 2);
});

test("an upstream without a needed column fails with a line naming it, before calling the RPC", async (t) => {
  const fake = await fakeRpc(t);
  const cwd = tempDir(t);
  const tables = upstreamTables();
  tables.polygon_pools_deposited_offsets = table({ quantity: "float", deposited_date: "timestamp" }, DEPOSITED.map(({ pool: _pool, ...r }) => r));
  seed(cwd, tables);
  const result = await runScript(SCRIPT, [], { cwd, env: { DATA_PIPELINES_POLYGON_RPC_URL: fake.url } });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /failed: polygon_pools_deposited_offsets-latest has no column "pool"$/m);
  assert.equal(fake.requests.length, 0);
});

test("without an RPC URL the flow fails naming both variables", async (t) => {
  const cwd = tempDir(t);
  seed(cwd);
  const result = await runScript(SCRIPT, [], { cwd });
  assert.equal(result.code, 1);
  const errors = lines(result.stderr, /ERROR/);
  assert.equal(errors.length, 1, result.stderr);
  assert.match(errors[0]!, /WEB3_INFURA_PROJECT_ID/);
  assert.match(errors[0]!, /DATA_PIPELINES_POLYGON_RPC_URL/);
  assert.ok(!/\n\s+at /.test(result.stderr), "no stack trace");
});

test("WEB3_INFURA_PROJECT_ID builds the Infura Polygon URL; the override wins; neither leaves it unset", () => {
  const id = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
  assert.equal(loadConfig({ WEB3_INFURA_PROJECT_ID: id }, "/srv").urls.polygonRpc, `https://polygon-mainnet.infura.io/v3/${id}`);
  assert.equal(
    loadConfig({ WEB3_INFURA_PROJECT_ID: id, DATA_PIPELINES_POLYGON_RPC_URL: "http://127.0.0.1:8545/" }, "/srv").urls.polygonRpc,
    "http://127.0.0.1:8545/",
  );
  assert.equal(loadConfig({}, "/srv").urls.polygonRpc, undefined);
});

test("the project id in the RPC URL path never reaches stderr or the run history", async (t) => {
  const fake = await fakeRpc(t);
  const cwd = tempDir(t);
  seed(cwd);
  // A real-looking Infura id (redact.ts would also mask its shape), then one no mask knows about:
  // the second proves that our messages never quote the URL path in the first place.
  const ids = ["9f8e7d6c5b4a39281706f5e4d3c2b1a0", "not-a-masked-shape"];
  const outputs: string[] = [];
  for (const id of ids) {
    fake.injectFaults({ kind: "status", status: 500, body: JSON.stringify({ error: `internal error for /v3/${id}` }) });
    const env = { DATA_PIPELINES_POLYGON_RPC_URL: `${fake.origin}/v3/${id}`, DATA_PIPELINES_RETRIES: "false" };
    const result = await runScript(SCRIPT, [], { cwd, env });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /failed: Polygon RPC \(http:\/\/127\.0\.0\.1:\d+\), eth_chainId: HTTP 500$/m);
    assert.equal(fake.requests.at(-1)!.path, `/v3/${id}`, "the request did go to the secret path");
    const runs = await runScript("scripts/runs.ts", ["--json"], { cwd, env });
    assert.equal(runs.code, 0, runs.stderr);
    outputs.push(result.stdout, result.stderr, runs.stdout, runs.stderr);
  }
  assert.equal(fake.requests.length, 2, "DATA_PIPELINES_RETRIES=false: one request per run");
  const history = JSON.parse(outputs[2 + 4]!) as Array<{ error: string }>;
  assert.equal(history.length, 2);
  for (const run of history) assert.match(run.error, /HTTP 500/);
  const db = readdirSync(path.join(cwd, "data")).filter((f) => f.startsWith("runs.sqlite")); // with -wal and -shm
  const everything = [...outputs, ...db.map((f) => readFileSync(path.join(cwd, "data", f)).toString("latin1"))].join("\n");
  for (const id of ids) assert.ok(!everything.includes(id), `${id} leaked`);
});

test("viem's parts are required each from its own file, are the very ones its indexes export, and leave its index unloaded", () => {
  // In a process of its own: this file's own `import "viem"` (its ES build) must not stand in for what the flow loads.
  const probe = [
    'import { createRequire } from "node:module";',
    'import { viem } from "./lib/sources/polygon.ts";',
    "const parts = viem();",
    "const require = createRequire(import.meta.url);",
    'const indexBefore = Object.keys(require.cache).some((f) => f.endsWith(`viem/_cjs/index.js`));',
    'const index = { ...require("viem/actions"), ...require("viem") };',
    "const same = Object.entries(parts).filter(([name, value]) => value === index[name]).map(([name]) => name);",
    "console.log(JSON.stringify({ parts: Object.keys(parts), same, indexBefore }));",
  ].join("\n");
  const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", probe], { cwd: path.resolve(import.meta.dirname, ".."), encoding: "utf8" });
  const { parts, same, indexBefore } = JSON.parse(out) as { parts: string[]; same: string[]; indexBefore: boolean };
  assert.equal(parts.length, 11);
  assert.deepEqual(same, parts, "each part is the one viem or viem/actions exports");
  assert.equal(indexBefore, false, "the parts load without viem's index (all of viem)");
});
