// The sixteen subgraph datasets, each run as `npx tsx scripts/<slug>.ts` against the fake
// graph-node, compared with the rows computed here, independently, from the fake's data.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { decodeArtifact } from "../lib/artifact/artifact.ts";
import type { Row, Table } from "../lib/table/table.ts";
import { startFakeSubgraphs, type EntityRecord, type FakeSubgraphs, type Store } from "./fakes/subgraph.ts";
import { generateSubgraphData, type SubgraphData } from "./fakes/subgraph_data.ts";
import { runScript, tempDir } from "./helpers.ts";

const EXCLUDED = "0x693ad12dba5f6e07de86faa21098b691f60a1bea";
const MISPRICED = "0xdb995f975f1bfc3b2157495c47e4efb31196b2ca1679432400";
const TOKENS: Array<[string, string, string]> = [ // name, pair address, token address
  ["BCT", "0x9803c7ae526049210a1725f7487af26fe2c24614", "0x2f800db0fdb5223b3c3f354886d907a671414a7f"],
  ["NCT", "0xdb995f975f1bfc3b2157495c47e4efb31196b2ca", "0xd838290e877e0188a4a44700463419ed96c16107"],
  ["MCO2", "0x64a3b8ca5a7e406a78e660ae10c7563d9153a739", "0xaa7dbd1598251f856c12f63557a4c4397c253cea"],
  ["UBO", "0x5400a05b8b45eaf9105315b4f2e31f806ab706de", "0x2b3ecb0991af0498ece9135bcd04013d7993110c"],
  ["NBO", "0x251ca6a70cbd93ccd7039b6b708d4cb9683c266c", "0x6bca3b77c1909ce1a4ba1a20d1103bde8d222e48"],
];

let data: SubgraphData;
let fake: FakeSubgraphs;
let env: Record<string, string>;

before(async () => {
  data = generateSubgraphData({ seed: 3 });
  fake = await startFakeSubgraphs({ stores: data });
  env = {
    DATA_PIPELINES_CARBON_SUBGRAPH_URL: fake.url("polygon-digital-carbon"),
    DATA_PIPELINES_CARBON_ETH_SUBGRAPH_URL: fake.url("ethereum-bridged-carbon"),
    DATA_PIPELINES_CARBON_CELO_SUBGRAPH_URL: fake.url("celo-bridged-carbon"),
    DATA_PIPELINES_CARBON_HOLDERS_SUBGRAPH_URL: fake.url("user-carbon"),
    DATA_PIPELINES_PAIRS_SUBGRAPH_URL: fake.url("pairs"),
  };
});
after(() => fake.stop());

// ------------------------------------------------------------ expectations, from the store

const index = (store: Store, type: string) => new Map((store[type] ?? []).map((e) => [e.id as string, e]));
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const tonnes = (v: unknown): number | null => (v === null || v === undefined ? null : Number(BigInt(v as string)) / 1e18);
const bigint = (v: unknown) => BigInt(v as string);
/** Sort key descending (or ascending), then id ascending: the documented order of every dataset. */
function ordered(records: EntityRecord[], key: (e: EntityRecord) => bigint, direction: "asc" | "desc"): EntityRecord[] {
  return [...records].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    if (ka !== kb) return (ka < kb ? -1 : 1) * (direction === "asc" ? 1 : -1);
    return (a.id as string) < (b.id as string) ? -1 : 1;
  });
}
const utcText = (seconds: unknown) => new Date(Number(seconds) * 1000).toISOString().slice(0, 19).replace("T", " ");

/** Every credit's first balance in each of the five token pools, in tonnes (0 when none). */
function poolQuantities(store: Store): (credit: string) => Row {
  const seen = new Map<string, Row>();
  for (const b of [...store.CarbonPoolCreditBalance!].sort((x, y) => ((x.id as string) < (y.id as string) ? -1 : 1))) {
    const row = seen.get(b.credit as string) ?? Object.fromEntries(TOKENS.map(([t]) => [`Credit ${t} Quantity`, 0]));
    const token = TOKENS.find(([, , address]) => address === (b.pool as string).slice(0, 42));
    if (token && row[`Credit ${token[0]} Quantity`] === 0 && !row[`_${token[0]}`]) {
      row[`Credit ${token[0]} Quantity`] = tonnes(b.balance);
      row[`_${token[0]}`] = true;
    }
    seen.set(b.credit as string, row);
  }
  return (credit) => {
    const row = seen.get(credit);
    return Object.fromEntries(TOKENS.map(([t]) => [`Credit ${t} Quantity`, row ? row[`Credit ${t} Quantity`]! : 0]));
  };
}

const expectations: Record<string, { columns: string[]; rows: () => Row[] }> = {
  raw_polygon_retired_offsets: {
    columns: ["ID:string", "Quantity:float", "Date:int", "Retiree:string", "Token Address:string", "Bridge:string", "Region:string", "Vintage:int", "Project ID:string", "Methodology:string", "Country:string", "Project Type:string", "Name:string", "Total Quantity:float", "Tx ID:string", ...TOKENS.map(([t]) => `Credit ${t} Quantity:float`)],
    rows: () => {
      const store = data["polygon-digital-carbon"];
      const credits = index(store, "CarbonCredit");
      const projects = index(store, "CarbonProject");
      const pools = poolQuantities(store);
      return ordered(store.Retire!.filter((r) => r.retiringAddress !== EXCLUDED), (r) => bigint(r.timestamp), "desc").map((r) => {
        const credit = credits.get(r.credit as string)!;
        const project = projects.get(credit.project as string)!;
        return {
          ID: r.id, Quantity: tonnes(r.amount), Date: num(r.timestamp), Retiree: r.retiringAddress, "Token Address": credit.id,
          Bridge: credit.bridgeProtocol, Region: project.region, Vintage: credit.vintage, "Project ID": project.id,
          Methodology: project.methodologies, Country: project.country, "Project Type": project.category, Name: project.name,
          "Total Quantity": tonnes(credit.retired), "Tx ID": r.hash, ...pools(credit.id as string),
        } as Row;
      });
    },
  },
  raw_polygon_pools_retired_offsets: {
    columns: ["Date:int", "Pool:string", "Tx ID:string", "Quantity:float", "Retiring Address:string", "Beneficiary:string", "Beneficiary Address:string", "Retirement Message:string"],
    rows: () => {
      const store = data["polygon-digital-carbon"];
      const retires = index(store, "Retire");
      return ordered(store.KlimaRetire!, (k) => bigint(retires.get(k.retire as string)!.timestamp), "desc").map((k) => {
        const r = retires.get(k.retire as string)!;
        return {
          Date: num(r.timestamp), Pool: r.pool ?? null, "Tx ID": r.hash, Quantity: tonnes(r.amount), "Retiring Address": r.retiringAddress,
          Beneficiary: r.beneficiaryName, "Beneficiary Address": r.beneficiaryAddress, "Retirement Message": r.retirementMessage,
        } as Row;
      });
    },
  },
  raw_polygon_pools_redeemed_offsets: poolEvents("PoolRedeem"),
  raw_polygon_pools_deposited_offsets: poolEvents("PoolDeposit"),
  raw_polygon_klima_retirements: {
    columns: ["Transaction ID:string", "Beneficiary:string", "Project ID:string", "Bridge:string", "Token:string", "Retirement Date:string", "Quantity:float", "Proof:string"],
    rows: () => {
      const store = data["polygon-digital-carbon"];
      const retires = index(store, "Retire");
      const credits = index(store, "CarbonCredit");
      const projects = index(store, "CarbonProject");
      return ordered(store.KlimaRetire!, (k) => bigint(retires.get(k.retire as string)!.timestamp), "desc").map((k) => {
        const r = retires.get(k.retire as string)!;
        const credit = credits.get(r.credit as string)!;
        return {
          "Transaction ID": r.hash, Beneficiary: r.beneficiaryAddress, "Project ID": projects.get(credit.project as string)!.projectID,
          Bridge: credit.bridgeProtocol, Token: r.pool ?? null, "Retirement Date": utcText(r.timestamp), Quantity: tonnes(r.amount),
          Proof: `https://polygonscan.com/tx/${r.hash}`,
        } as Row;
      });
    },
  },
  raw_polygon_bridged_offsets: {
    columns: ["Token Address:string", "Quantity:float", "Total Quantity:float", "Bridge:string", "Region:string", "Vintage:int", "Project ID:string", "carbonCredits_project_methodologies:string", "Country:string", "Project Type:string", "Name:string", ...TOKENS.map(([t]) => `Credit ${t} Quantity:float`), "Date:int"],
    rows: () => {
      const store = data["polygon-digital-carbon"];
      const projects = index(store, "CarbonProject");
      const pools = poolQuantities(store);
      const firstBridge = new Map<string, number>();
      for (const b of store.Bridge ?? []) {
        const at = Number(b.timestamp);
        if (at < (firstBridge.get(b.credit as string) ?? Infinity)) firstBridge.set(b.credit as string, at);
      }
      return [...store.CarbonCredit!].sort((a, b) => ((a.id as string) < (b.id as string) ? -1 : 1)).map((c) => {
        const p = projects.get(c.project as string)!;
        return {
          "Token Address": c.id, Quantity: tonnes(c.currentSupply), "Total Quantity": tonnes(c.bridged), Bridge: c.bridgeProtocol,
          Region: p.region, Vintage: c.vintage, "Project ID": p.id, carbonCredits_project_methodologies: p.methodologies,
          Country: p.country, "Project Type": p.category, Name: p.name, ...pools(c.id as string), Date: firstBridge.get(c.id as string) ?? null,
        } as Row;
      });
    },
  },
  raw_offsets_holders_data: {
    columns: ["ID:string", "Token:string", "Date:int", "Quantity:float", "CarbonValue:float", "Klimate_Address:string"],
    rows: () => ordered(data["user-carbon"].Holding!, (h) => bigint(h.timestamp), "desc").map((h) => ({
      ID: h.id, Token: h.token, Date: num(h.timestamp), Quantity: num(h.tokenAmount), CarbonValue: num(h.carbonValue), Klimate_Address: h.klimate,
    }) as Row),
  },
  raw_eth_retired_offsets: {
    columns: ["Quantity:float", "Date:int", "Retiree:string", "Token Address:string", "Bridge:string", "Region:string", "Vintage:string", "Project ID:string", "Standard:string", "Methodology:string", "Country:string", "Project Type:string", "Name:string", "Total Quantity:float", "Tx ID:string", "Tx From Address:string"],
    rows: () => {
      const store = data["ethereum-bridged-carbon"];
      const offsets = index(store, "CarbonOffset");
      const txs = index(store, "Transaction");
      return ordered(store.Retire!, (r) => bigint(r.timestamp), "desc").map((r) => {
        const o = offsets.get(r.offset as string)!;
        const tx = txs.get(r.transaction as string)!;
        return {
          Quantity: num(r.value), Date: num(r.timestamp), Retiree: r.retiree, "Token Address": o.tokenAddress, Bridge: o.bridge, Region: o.region,
          Vintage: o.vintage, "Project ID": o.projectID, Standard: o.standard, Methodology: o.methodology, Country: o.country,
          "Project Type": o.category, Name: o.name, "Total Quantity": num(o.totalRetired), "Tx ID": tx.id, "Tx From Address": tx.from,
        } as Row;
      });
    },
  },
  raw_eth_moss_retired_offsets: {
    columns: ["Id:string", "Quantity:float", "Date:int", "Retiree:string", "Beneficiary:string", "Tx ID:string", "Tx From Address:string"],
    rows: () => {
      const store = data["ethereum-bridged-carbon"];
      const txs = index(store, "Transaction");
      return ordered(store.Retire!, (r) => bigint(r.timestamp), "asc").map((r) => ({
        Id: r.id, Quantity: num(r.value), Date: num(r.timestamp), Retiree: r.retiree, Beneficiary: r.beneficiary,
        "Tx ID": r.transaction, "Tx From Address": txs.get(r.transaction as string)!.from,
      }) as Row);
    },
  },
  raw_eth_moss_bridged_offsets: {
    columns: ["ID:string", "Serial Number:string", "Date:int", "Token Address:string", "Vintage:string", "Project ID:string", "Quantity:float", "Original Tx Address:string"],
    rows: () => ordered(data["ethereum-bridged-carbon"].Batch!, (b) => bigint(b.timestamp), "desc").map((b) => ({
      ID: b.id, "Serial Number": b.serialNumber, Date: num(b.timestamp), "Token Address": b.tokenAddress, Vintage: b.vintage,
      "Project ID": `VCS-${b.projectID}`, Quantity: num(b.value), "Original Tx Address": b.originaltx,
    }) as Row),
  },
  raw_eth_bridged_offsets_transactions: {
    columns: ["Quantity:float", "Date:int", "Tx Address:string"],
    rows: () => ordered(data["ethereum-bridged-carbon"].Bridge!, (b) => bigint(b.timestamp), "desc").map((b) => ({
      Quantity: num(b.value), Date: num(b.timestamp), "Tx Address": b.transaction,
    }) as Row),
  },
  raw_eth_carbon_metrics: metrics("ethereum-bridged-carbon", ["mco2Supply", "totalCarbonSupply", "mco2Retired", "totalRetirements"]),
  raw_celo_carbon_metrics: metrics("celo-bridged-carbon", ["bctSupply", "nctSupply", "mco2Supply", "totalCarbonSupply", "mco2Retired", "totalRetirements"]),
  raw_polygon_carbon_metrics: metrics("polygon-digital-carbon", [
    "bctSupply", "nctSupply", "mco2Supply", "uboSupply", "nboSupply", "bctRedeemed", "nctRedeemed", "uboRedeemed",
    "nboRedeemed", "totalCarbonSupply", "mco2Retired", "tco2Retired", "c3tRetired", "totalRetirements",
    "bctKlimaRetired", "nctKlimaRetired", "mco2KlimaRetired", "uboKlimaRetired", "nboKlimaRetired", "totalKlimaRetirements",
  ], true),
  raw_assets_prices: {
    columns: ["BCT_Address:string", "BCT_Price:float", "Date:date", ...TOKENS.slice(1).flatMap(([t]) => [`${t}_Address:string`, `${t}_Price:float`])],
    rows: () => {
      const byDay = new Map<number, Row>();
      for (const [token, pair] of TOKENS) {
        // Timestamp is a String in this schema; graph-node orders it as text.
        const swaps = data.pairs.Swap!.filter((s) => s.pair === pair && !(token === "NCT" && s.id === MISPRICED))
          .sort((a, b) => (a.timestamp === b.timestamp ? ((a.id as string) < (b.id as string) ? -1 : 1) : (a.timestamp as string) < (b.timestamp as string) ? 1 : -1));
        const done = new Set<number>();
        for (const s of swaps) {
          const day = Math.floor(Number(s.timestamp) / 86400) * 86400_000;
          if (done.has(day)) continue;
          done.add(day);
          if (Number(s.close) === 0) continue;
          const row = byDay.get(day) ?? { Date: new Date(day) };
          row[`${token}_Address`] = pair;
          row[`${token}_Price`] = Number(s.close);
          byDay.set(day, row);
        }
      }
      const names = ["BCT_Address", "BCT_Price", "Date", ...TOKENS.slice(1).flatMap(([t]) => [`${t}_Address`, `${t}_Price`])];
      return [...byDay.keys()].sort((a, b) => b - a).map((d) => Object.fromEntries(names.map((n) => [n, byDay.get(d)![n] ?? null])) as Row);
    },
  },
};

function poolEvents(type: string) {
  return {
    columns: ["Quantity:float", "Date:int", "Pool:string"],
    rows: () => ordered(data["polygon-digital-carbon"][type]!, (e) => bigint(e.timestamp), "desc").map((e) => ({
      Quantity: tonnes(e.amount), Date: num(e.timestamp), Pool: e.pool,
    }) as Row),
  };
}

function metrics(subgraph: keyof SubgraphData, fields: string[], polygon = false) {
  const extra = polygon ? ["tco2KlimaRetired", "c3tKlimaRetired", "not_klima_retired"] : [];
  return {
    columns: ["carbonMetrics_id:string", "carbonMetrics_timestamp:int", "carbonMetrics_datetime:string", ...[...fields, ...extra].map((f) => `carbonMetrics_${f}:float`)],
    rows: () => ordered(data[subgraph].CarbonMetric!.filter((m) => bigint(m.timestamp) > 0n), (m) => bigint(m.timestamp), "desc").map((m) => {
      const row: Row = { carbonMetrics_id: m.id as string, carbonMetrics_timestamp: num(m.timestamp), carbonMetrics_datetime: utcText(m.timestamp) };
      for (const f of fields) row[`carbonMetrics_${f}`] = num(m[f]);
      if (polygon) {
        const n = (f: string) => Number(m[f]);
        row.carbonMetrics_tco2KlimaRetired = n("bctKlimaRetired") + n("nctKlimaRetired");
        row.carbonMetrics_c3tKlimaRetired = n("uboKlimaRetired") + n("nboKlimaRetired");
        row.carbonMetrics_not_klima_retired = n("totalRetirements") - n("totalKlimaRetirements");
      }
      return row;
    }),
  };
}

// ------------------------------------------------------------ comparison

function assertTableEqual(got: Table, columns: string[], rows: Row[], slug: string): void {
  assert.deepEqual(got.columns.map((c) => `${c.name}:${c.type}`), columns, `${slug}: columns, order and types`);
  assert.equal(got.rows.length, rows.length, `${slug}: row count`);
  for (let i = 0; i < rows.length; i++) {
    for (const name of columns.map((c) => c.slice(0, c.lastIndexOf(":")))) {
      const want = rows[i]![name] ?? null;
      const have = got.rows[i]![name] ?? null;
      if (typeof want === "number" && typeof have === "number" && !Number.isInteger(want)) {
        assert.ok(Math.abs(want - have) <= 1e-9 * Math.max(1, Math.abs(want)), `${slug} row ${i} ${name}: ${have} != ${want}`);
      } else {
        assert.deepEqual(have, want, `${slug} row ${i} ${name}`);
      }
    }
  }
}

const readLatest = (cwd: string, slug: string) => decodeArtifact(readFileSync(path.join(cwd, "data", "lake", `${slug}-latest`)), `${slug}-latest`);

test("each subgraph dataset writes exactly the rows the fake holds, in the documented order and types", async (t) => {
  const cwd = tempDir(t);
  const slugs = Object.keys(expectations);
  // Two at a time: each is its own process, as a user runs it.
  for (let i = 0; i < slugs.length; i += 2) {
    const results = await Promise.all(slugs.slice(i, i + 2).map((slug) => runScript(`scripts/${slug}.ts`, [], { cwd, env })));
    results.forEach((r, j) => assert.equal(r.code, 0, `${slugs[i + j]}: ${r.stderr}`));
  }
  for (const slug of slugs) {
    const { columns, rows } = expectations[slug]!;
    assertTableEqual(readLatest(cwd, slug), columns, rows(), slug);
  }
});

test("current_assets_prices: one row of today's prices, asked for by pair id", async (t) => {
  const cwd = tempDir(t);
  const day = new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000);
  const before = fake.requests.length;
  const result = await runScript("scripts/current_assets_prices.ts", [], { cwd, env });
  assert.equal(result.code, 0, result.stderr);
  const got = readLatest(cwd, "current_assets_prices");
  const pairs = index(data.pairs, "Pair");
  assert.deepEqual(got.columns.map((c) => `${c.name}:${c.type}`), ["date:date", "bct_price:float", "nct_price:float", "mco2_price:float", "ubo_price:float", "nbo_price:float"]);
  assert.equal(got.rows.length, 1);
  assert.deepEqual(got.rows[0]!.date, day);
  for (const [token, pair] of TOKENS) assert.equal(got.rows[0]![`${token.toLowerCase()}_price`], Number(pairs.get(pair)!.currentprice));
  assert.ok(fake.requests.slice(before).every((r) => /id_in/.test(r.query)), "pairs selected by id");
  const keys = (await import("node:fs")).readdirSync(path.join(cwd, "data", "lake"));
  assert.deepEqual(keys, ["current_assets_prices-latest"], "not historized");
});

test("every query sent stays within The Graph's page limits and never pages with skip", () => {
  assert.ok(fake.requests.length > 50);
  for (const request of fake.requests) {
    assert.equal(request.errors, undefined, `${request.query}: ${request.errors}`);
    for (const match of request.query.matchAll(/first: (\d+)/g)) assert.ok(Number(match[1]) <= 1000, request.query);
    assert.doesNotMatch(request.query, /skip:/);
  }
});

test("the Graph key in a gateway-style URL never reaches a log line, an error or the run history", async (t) => {
  const cwd = tempDir(t);
  const key = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
  const origin = new URL(fake.url("user-carbon")).origin;
  // A gateway-shaped URL the fake does not serve: the run fails, and its error quotes the URL and the answer.
  const gatewayEnv = {
    ...env, ENV: "production", GRAPH_API_KEY: key, DATA_PIPELINES_RETRIES: "false",
    DATA_PIPELINES_CARBON_HOLDERS_SUBGRAPH_URL: `${origin}/api/${key}/subgraphs/id/BJFQSmoqffMD8e1pN9xdsuRDYQNgVs8z3DBiXa6AdkGY`,
  };
  const human = await runScript("scripts/raw_offsets_holders_data.ts", [], { cwd, env: gatewayEnv });
  const json = await runScript("scripts/raw_offsets_holders_data.ts", ["--json"], { cwd, env: gatewayEnv });
  const help = await runScript("scripts/raw_polygon_retired_offsets.ts", ["--help"], { cwd, env: { ENV: "production", GRAPH_API_KEY: key } });
  const runs = await runScript("scripts/runs.ts", ["--json"], { cwd, env: gatewayEnv });
  assert.equal(human.code, 1);
  assert.match(human.stderr, /holders subgraph, holdings page 1 \(http:\/\/127\.0\.0\.1:\d+\/api\/\*\*\*\/subgraphs\/id\/BJFQ[^)]*\): HTTP 404/);
  assert.match(help.stdout, /carbon polygon {2}https:\/\/gateway-arbitrum\.network\.thegraph\.com\/api\/\*\*\*\/subgraphs\/id\/ECLEwJKgujmiRCW1XbfbbUbpae2igeHa2KJ6BXNSWrZF/);
  const history = JSON.parse(runs.stdout) as Array<{ error: string }>;
  assert.equal(history.length, 2);
  const everything = [human.stdout, human.stderr, json.stdout, json.stderr, help.stdout, runs.stdout, readFileSync(path.join(cwd, "data", "runs.sqlite")).toString("latin1")].join("\n");
  assert.ok(!everything.includes(key), "the key leaked");
});
