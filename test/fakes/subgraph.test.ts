// Checks that the subgraph fake behaves like graph-node (and the brief that describes it), so that
// client tests built on it test the client, not the fake.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startFakeSubgraphs, derivedSchemaSdl, SUBGRAPH_NAMES, type FakeSubgraphs, type Store, type EntityRecord, type SubgraphName } from "./subgraph.ts";
import { generateSubgraphData } from "./subgraph_data.ts";

// --- Hand-made stores -----------------------------------------------------------------------------

const project: EntityRecord = {
  id: "VERRA-191", registry: "VERRA", projectID: "VCS-191", name: "Dayingjiang-3 Hydropower Project",
  methodologies: "ACM0002", category: "Renewable Energy", country: "China", region: "Yunnan",
};

const credit = (id: string, vintage: number, supply: string): EntityRecord => ({
  id, tokenAddress: id, bridgeProtocol: "TOUCAN", project: "VERRA-191", vintage, currentSupply: supply,
  bridged: supply, retired: "0", crossChainSupply: "0", provenanceCount: 1, lastBatchId: "0",
});

const pool = (id: string, name: string): EntityRecord => ({
  id, name, decimals: 18, supply: "0", supplyTonnes: "0", crossChainSupply: "0", lastSnapshotDayID: 19000, nextSnapshotDayID: 19001,
});

const balance = (pool: string, credit: string, amount: string): EntityRecord => ({
  id: pool + credit.slice(2), pool, credit, balance: amount, crossChainSupply: "0", deposited: amount, redeemed: "0",
  lastSnapshotDayID: 19000, nextSnapshotDayID: 19001,
});

const retire = (id: string, fields: Partial<EntityRecord>): EntityRecord => ({
  id, credit: "0xc001", pool: "0xb001", source: "KLIMA", amount: "1000000000000000000", amountTonnes: "1",
  beneficiaryAddress: "0xa001", beneficiaryName: "Beneficiário Ñandú", beneficiaryLocation: "", consumptionCountryCode: "",
  consumptionPeriodStart: "0", consumptionPeriodEnd: "0", retirementMessage: "", retiringAddress: "0xa001", retiringName: "",
  hash: `0x${id.slice(2).padEnd(64, "0")}`, timestamp: "1650000000", ...fields,
} as EntityRecord);

const klimaRetire = (id: string, retire: string, index: string): EntityRecord => ({
  id, retire, index, feeAmount: "10000000000000000", feeAmountTonnes: "0.01", specific: index === "1",
});

const carbonStore = (): Store => ({
  CarbonProject: [project],
  CarbonCredit: [credit("0xc002", 2012, "250000000000000000000"), credit("0xc001", 2008, "1500000000000000000"), credit("0xc003", 2015, "0")],
  CarbonPool: [pool("0xb001", "Base Carbon Tonne"), pool("0xb002", "Nature Carbon Tonne")],
  CarbonPoolCreditBalance: [
    balance("0xb001", "0xc001", "1000000000000000000"),
    balance("0xb002", "0xc001", "500000000000000000"),
    balance("0xb001", "0xc002", "250000000000000000000"),
  ],
  Account: [{ id: "0xa001", totalRetirements: 3 }, { id: "0xa002", totalRetirements: 2 }],
  Retire: [
    retire("0xa00103", { timestamp: "1660000000", amount: "5", amountTonnes: "0.25" }),
    retire("0xa00101", { timestamp: "1650000000", amountTonnes: "3" }),
    retire("0xa00102", { credit: "0xc002", timestamp: "1660000000", amount: "250000000000000000000", amountTonnes: "12.5" }),
    retire("0xa00201", { credit: "0xc003", pool: null, source: "OTHER", timestamp: "1670000000", amountTonnes: "100", beneficiaryAddress: "0xa002", retiringAddress: "0xa002" }),
    retire("0xa00202", { credit: "0xc002", timestamp: "1640000000", amountTonnes: "2", retirementTokenId: "7", beneficiaryAddress: "0xa002", retiringAddress: "0xa002" }),
  ],
  KlimaRetire: [
    klimaRetire("0xa00101aa", "0xa00101", "0"),
    klimaRetire("0xa00102aa", "0xa00102", "1"),
    klimaRetire("0xa00201aa", "0xa00201", "0"),
    klimaRetire("0xa00202aa", "0xa00202", "1"),
  ],
});

const KLIMA = "0x4e78011ce80ee02d2c3e649fb657e45898257815";
const BCT = "0x2f800db0fdb5223b3c3f354886d907a671414a7f";
const USDC = "0x2791bca1f2de4661ed88a30c99a7a9449aa84174";
const KLIMA_BCT = "0x9803c7ae526049210a1725f7487af26fe2c24614";
const KLIMA_USDC = "0x5786b267d35f9d011c4750e0b0ba584e1fdbead1";

const swap = (pair: string, timestamp: number, close: string, volume: string): EntityRecord => ({
  id: `${pair}-${timestamp}`, open: close, high: close, low: close, close, volume, lpfees: "0", klimaearnedfees: "0",
  slippage: "0", timestamp: String(timestamp), pair,
});

const pairsStore = (extraSwaps: EntityRecord[] = []): Store => ({
  Token: [
    { id: KLIMA, name: "Klima DAO", symbol: "KLIMA", decimals: 9 },
    { id: BCT, name: "Toucan Protocol: Base Carbon Tonne", symbol: "BCT", decimals: 18 },
    { id: USDC, name: "USD Coin (PoS)", symbol: "USDC", decimals: 6 },
  ],
  Pair: [
    { id: KLIMA_BCT, token0: BCT, token1: KLIMA, currentprice: "0.95", currentpricepertonne: "1.05", totalklimaearnedfees: "12.5", totalvolume: "1000000", lastupdate: "1660003600" },
    { id: KLIMA_USDC, token0: USDC, token1: KLIMA, currentprice: "2.5", currentpricepertonne: "2.5", totalklimaearnedfees: "3", totalvolume: "500000", lastupdate: "1660007200" },
  ],
  Swap: [
    swap(KLIMA_BCT, 1660000000, "0.9", "1500.5"),
    swap(KLIMA_BCT, 1660003600, "0.95", "99.25"),
    swap(KLIMA_BCT, 1660007200, "0.4", "20000"),
    swap(KLIMA_USDC, 1660000000, "2.5", "10"),
    ...extraSwaps,
  ],
});

/** 2,500 hourly swaps of one pair, in shuffled order. */
function manySwaps(count: number): EntityRecord[] {
  const swaps = Array.from({ length: count }, (_, i) => swap(KLIMA_USDC, 1_600_000_000 + i * 3600, `${(i % 97) / 10}`, String(i)));
  let seed = 7;
  for (let i = swaps.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const j = seed % (i + 1);
    [swaps[i], swaps[j]] = [swaps[j]!, swaps[i]!];
  }
  return swaps;
}

// --- Plumbing ----------------------------------------------------------------------------------------

type Data = Record<string, any>;
interface Answer { data?: Data | null; errors?: Array<{ message: string; locations?: unknown; path?: unknown }> }

function post(fake: FakeSubgraphs, name: SubgraphName, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(fake.url(name), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...init,
  });
}

async function ask(fake: FakeSubgraphs, name: SubgraphName, query: string, variables?: Record<string, unknown>): Promise<Answer> {
  const res = await post(fake, name, { query, variables });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  return (await res.json()) as Answer;
}

/** The data of an answer that must have no errors. */
async function data(fake: FakeSubgraphs, name: SubgraphName, query: string, variables?: Record<string, unknown>): Promise<Data> {
  const answer = await ask(fake, name, query, variables);
  assert.equal(answer.errors, undefined, JSON.stringify(answer.errors));
  return answer.data!;
}

/** The error messages of an answer that must have errors and no data. */
async function errors(fake: FakeSubgraphs, name: SubgraphName, query: string, variables?: Record<string, unknown>): Promise<string[]> {
  const answer = await ask(fake, name, query, variables);
  assert.ok(!("data" in answer), `expected no data, got ${JSON.stringify(answer)}`);
  assert.ok(answer.errors && answer.errors.length > 0);
  return answer.errors.map((e) => e.message);
}

const ids = (list: Array<{ id: string }>) => list.map((e) => e.id);

/** Yields to the event loop (no wall-clock sleep) until `condition` holds. */
async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 100_000 && !condition(); i++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(condition(), "condition never became true");
}

// --- Derived schema ------------------------------------------------------------------------------------

describe("derivedSchemaSdl", () => {
  test("gives entity list fields graph-node's collection arguments", () => {
    const sdl = derivedSchemaSdl("pairs");
    assert.ok(
      sdl.includes("swaps(skip: Int = 0, first: Int = 100, orderBy: Swap_orderBy, orderDirection: OrderDirection, where: Swap_filter): [Swap!]!"),
    );
    assert.match(sdl, /\n  pairs\(\n    skip: Int = 0\n    first: Int = 100\n    orderBy: Pair_orderBy\n    orderDirection: OrderDirection\n    where: Pair_filter\n/);
    assert.match(sdl, /subgraphError: _SubgraphErrorPolicy_! = deny\n  \): \[Swap!\]!/);
    assert.match(sdl, /\n  swap\(\n    id: ID!\n/);
    assert.match(sdl, /_meta\(block: Block_height\): _Meta_/);
  });

  test("names Query fields like graph-node (Inflector plurals, camel case)", () => {
    const fields = (name: SubgraphName) => {
      const sdl = derivedSchemaSdl(name);
      return new Set([...sdl.slice(sdl.indexOf("type Query {")).matchAll(/^ {2}(\w+)\(/gm)].map((m) => m[1]));
    };
    const carbon = fields("polygon-digital-carbon");
    for (const name of [
      "retires", "klimaRetires", "poolRedeems", "poolDeposits", "carbonCredits", "carbonPoolCreditBalances", "holdings",
      "bridges", "carbonMetrics", "tokens", "methodologies", "crossChainBridges", "accounts", "toucanBatches", "epoches",
      "c3RetirementMetadata_collection", "c3RetireRequestDetails_collection", "tokenURISafeguards", "klimaRetire", "carbonPoolCreditBalance",
    ]) assert.ok(carbon.has(name), name);
    for (const name of ["batches", "transactions", "carbonOffsets"]) assert.ok(fields("ethereum-bridged-carbon").has(name), name);
    for (const name of ["crosschainBridges", "retires"]) assert.ok(fields("celo-bridged-carbon").has(name), name);
    for (const name of ["klimates", "holdings", "transactions"]) assert.ok(fields("user-carbon").has(name), name);
    for (const name of ["swaps", "pairs", "tokens"]) assert.ok(fields("pairs").has(name), name);
  });

  test("derives filters and orderBy values like graph-node", () => {
    const sdl = derivedSchemaSdl("polygon-digital-carbon");
    const block = (start: string) => sdl.slice(sdl.indexOf(start), sdl.indexOf("\n}", sdl.indexOf(start)));
    const retireFilter = block("input Retire_filter {");
    for (const line of [
      "timestamp_gt: BigInt", "timestamp_in: [BigInt!]", "amountTonnes_lte: BigDecimal", "hash_contains: Bytes",
      "credit: String", "credit_starts_with_nocase: String", "credit_: CarbonCredit_filter", "klimaRetire_: KlimaRetire_filter",
      "source_in: [RetireSource!]", "beneficiaryName_not_ends_with_nocase: String", "_change_block: BlockChangedFilter",
      "and: [Retire_filter]", "or: [Retire_filter]",
    ]) assert.ok(retireFilter.includes(`  ${line}\n`) || retireFilter.endsWith(`  ${line}`), line);
    assert.ok(!retireFilter.includes("source_gt"), "enums have no ordering filters");
    assert.ok(!retireFilter.includes("klimaRetire_not"), "derived fields only have the child filter");
    assert.ok(!retireFilter.includes("hash_contains_nocase"));
    const holdingFilter = block("input Holding_filter {");
    assert.ok(holdingFilter.includes("activeProvenanceRecords_contains: [String!]"));
    assert.ok(!holdingFilter.includes("activeProvenanceRecords_contains_nocase"), "Bytes ids have no case");
    assert.ok(holdingFilter.includes("activeProvenanceRecords_: ProvenanceRecord_filter"));
    const klimaOrder = block("enum KlimaRetire_orderBy {");
    for (const value of ["retire", "retire__timestamp", "retire__amountTonnes", "retire__source", "retire__id"]) {
      assert.ok(klimaOrder.includes(`  ${value}\n`) || klimaOrder.endsWith(`  ${value}`), value);
    }
    assert.ok(!klimaOrder.includes("retire__credit"), "no child sort on the child's references");
    assert.ok(block("enum CarbonCredit_orderBy {").includes("  poolBalances\n"), "list fields are listed");
  });

  test("keeps the entity schema's descriptions and builds for every subgraph", () => {
    assert.match(derivedSchemaSdl("polygon-digital-carbon"), /"""Block timestamp of retirement"""\n {2}timestamp: BigInt!/);
    for (const name of SUBGRAPH_NAMES) assert.match(derivedSchemaSdl(name), /type Query \{/);
  });
});

// --- Queries ---------------------------------------------------------------------------------------

describe("startFakeSubgraphs queries", () => {
  let fake: FakeSubgraphs;
  before(async () => {
    fake = await startFakeSubgraphs({ stores: { "polygon-digital-carbon": carbonStore(), pairs: pairsStore() } });
  });
  after(() => fake.stop());

  test("serves each subgraph on 127.0.0.1 under /subgraphs/name/<name>", () => {
    for (const name of SUBGRAPH_NAMES) assert.match(fake.url(name), new RegExp(`^http://127\\.0\\.0\\.1:\\d+/subgraphs/name/${name}$`));
  });

  test("refuses a field that does not exist with graphql's validation error, HTTP 200, no data", async () => {
    const answer = await ask(fake, "polygon-digital-carbon", "{ retires { id nope } }");
    assert.deepEqual(answer, { errors: [{ message: 'Cannot query field "nope" on type "Retire".', locations: [{ line: 1, column: 16 }] }] });
    const [unknownFilter] = await errors(fake, "pairs", "{ swaps(where: { price_gt: 1 }) { id } }");
    assert.match(unknownFilter!, /^Field "price_gt" is not defined by type "Swap_filter"\./);
    assert.deepEqual(fake.requests.at(-1)!.errors, [unknownFilter]);
  });

  test("refuses first above 1000 and skip above 5000 with graph-node's messages, at every level", async () => {
    const carbon = "polygon-digital-carbon";
    assert.deepEqual(await errors(fake, carbon, "{ retires(first: 1001) { id } }"), ["The `first` argument must be between 0 and 1000, but is 1001"]);
    assert.deepEqual(await errors(fake, carbon, "{ retires(skip: 5001) { id } }"), ["The `skip` argument must be between 0 and 5000, but is 5001"]);
    assert.deepEqual(await errors(fake, carbon, "{ carbonCredits { poolBalances(first: 1500) { id } } }"), [
      "The `first` argument must be between 0 and 1000, but is 1500",
    ]);
    assert.deepEqual(await errors(fake, carbon, "query($n: Int) { retires(first: $n) { id } }", { n: -1 }), [
      "The `first` argument must be between 0 and 1000, but is -1",
    ]);
    // graph-node refuses first: 0 too, with the same words.
    assert.deepEqual(await errors(fake, carbon, "{ retires(first: 0) { id } }"), ["The `first` argument must be between 0 and 1000, but is 0"]);
    const edges = await data(fake, carbon, "{ a: retires(first: 1000, skip: 5000) { id } b: retires(first: 1000, skip: 0) { id } }");
    assert.equal(edges.a.length, 0);
    assert.equal(edges.b.length, 5);
  });

  test("serves BigInt and BigDecimal as strings, Int as numbers, references as objects", async () => {
    const { retire } = await data(fake, "polygon-digital-carbon", `{
      retire(id: "0xA00102") { id amount amountTonnes timestamp source pool { id name } retiringAddress { id totalRetirements }
        credit { id vintage currentSupply project { id name } } klimaRetire { id index feeAmountTonnes } }
    }`);
    assert.deepEqual(retire, {
      id: "0xa00102", amount: "250000000000000000000", amountTonnes: "12.5", timestamp: "1660000000", source: "KLIMA",
      pool: { id: "0xb001", name: "Base Carbon Tonne" }, retiringAddress: { id: "0xa001", totalRetirements: 3 },
      credit: { id: "0xc002", vintage: 2012, currentSupply: "250000000000000000000", project: { id: "VERRA-191", name: project.name } },
      klimaRetire: { id: "0xa00102aa", index: "1", feeAmountTonnes: "0.01" },
    });
    const other = await data(fake, "polygon-digital-carbon", '{ retire(id: "0xa00201") { pool { id } retirementTokenId } missing: retire(id: "0xdead") { id } }');
    assert.deepEqual(other, { retire: { pool: null, retirementTokenId: null }, missing: null });
  });

  test("defaults to the first 100 entities, ordered by id", async () => {
    const many = await startFakeSubgraphs({ stores: { pairs: pairsStore(manySwaps(250)) } });
    try {
      const { swaps } = await data(many, "pairs", "{ swaps { id } }");
      const all = pairsStore(manySwaps(250)).Swap!.map((s) => String(s.id)).sort();
      assert.deepEqual(ids(swaps), all.slice(0, 100));
      // orderDirection without orderBy changes nothing: graph-node still orders by id ascending.
      assert.deepEqual(ids((await data(many, "pairs", "{ swaps(orderDirection: desc) { id } }")).swaps), all.slice(0, 100));
    } finally {
      await many.stop();
    }
  });

  test("orders numerically, breaks ties by id in the sort's direction, puts nulls last ascending", async () => {
    const carbon = "polygon-digital-carbon";
    const order = async (args: string) => ids((await data(fake, carbon, `{ retires(${args}) { id } }`)).retires);
    assert.deepEqual(await order("orderBy: timestamp"), ["0xa00202", "0xa00101", "0xa00102", "0xa00103", "0xa00201"]);
    assert.deepEqual(await order("orderBy: timestamp, orderDirection: desc"), ["0xa00201", "0xa00103", "0xa00102", "0xa00101", "0xa00202"]);
    assert.deepEqual(await order("orderBy: amount"), ["0xa00103", "0xa00101", "0xa00201", "0xa00202", "0xa00102"]); // BigInt, not text
    assert.deepEqual(await order("orderBy: amountTonnes, orderDirection: desc"), ["0xa00201", "0xa00102", "0xa00101", "0xa00202", "0xa00103"]);
    assert.deepEqual(await order("orderBy: retirementTokenId"), ["0xa00202", "0xa00101", "0xa00102", "0xa00103", "0xa00201"]);
    assert.deepEqual(await order("orderBy: retirementTokenId, orderDirection: desc"), ["0xa00201", "0xa00103", "0xa00102", "0xa00101", "0xa00202"]);
    assert.deepEqual(await order("orderBy: id, orderDirection: desc, first: 2, skip: 1"), ["0xa00201", "0xa00103"]);
    assert.deepEqual(await order("orderBy: beneficiaryName"), ["0xa00101", "0xa00102", "0xa00103", "0xa00201", "0xa00202"]);
  });

  test("sorts by a child's field (f__x), plain and derived", async () => {
    const carbon = "polygon-digital-carbon";
    const klima = async (args: string) => ids((await data(fake, carbon, `{ klimaRetires(${args}) { id } }`)).klimaRetires);
    assert.deepEqual(await klima("orderBy: retire__timestamp"), ["0xa00202aa", "0xa00101aa", "0xa00102aa", "0xa00201aa"]);
    assert.deepEqual(await klima("orderBy: retire__timestamp, orderDirection: desc"), ["0xa00201aa", "0xa00102aa", "0xa00101aa", "0xa00202aa"]);
    assert.deepEqual(await klima("orderBy: retire__amountTonnes, orderDirection: desc"), ["0xa00201aa", "0xa00102aa", "0xa00101aa", "0xa00202aa"]);
    const retires = await data(fake, carbon, "{ retires(orderBy: klimaRetire__index, orderDirection: desc) { id } }");
    // 0xa00103 has no KlimaRetire: null, so first when descending; then index 1 (ids desc), then index 0.
    assert.deepEqual(ids(retires.retires), ["0xa00103", "0xa00202", "0xa00102", "0xa00201", "0xa00101"]);
  });

  test("refuses orderings graph-node refuses", async () => {
    const carbon = "polygon-digital-carbon";
    assert.deepEqual(await errors(fake, carbon, "{ retires(orderBy: credit) { id } }"), ["Ordering by `credit` is not supported for type `Retire`"]);
    assert.deepEqual(await errors(fake, carbon, "{ carbonCredits(orderBy: poolBalances) { id } }"), [
      "Ordering by `poolBalances` is not supported for type `CarbonCredit`",
    ]);
    assert.deepEqual(await errors(fake, carbon, "{ klimaRetires(orderBy: retire__source) { id } }"), [
      "Ordering by `source` is not supported for type `Retire`",
    ]);
  });

  test("filters with _gt, _lt, _gte, _lte, _in, _not, nulls and enums like SQL", async () => {
    const carbon = "polygon-digital-carbon";
    const where = async (filter: string) => ids((await data(fake, carbon, `{ retires(where: ${filter}) { id } }`)).retires);
    assert.deepEqual(await where('{ timestamp_gt: "1650000000" }'), ["0xa00102", "0xa00103", "0xa00201"]);
    assert.deepEqual(await where('{ timestamp_lt: "1660000000" }'), ["0xa00101", "0xa00202"]);
    assert.deepEqual(await where('{ timestamp_gte: "1660000000", timestamp_lte: 1660000000 }'), ["0xa00102", "0xa00103"]);
    assert.deepEqual(await where('{ timestamp_in: ["1640000000", "1670000000"] }'), ["0xa00201", "0xa00202"]);
    assert.deepEqual(await where('{ timestamp_not_in: ["1640000000", "1670000000"] }'), ["0xa00101", "0xa00102", "0xa00103"]);
    assert.deepEqual(await where('{ credit_not: "0xc002" }'), ["0xa00101", "0xa00103", "0xa00201"]);
    assert.deepEqual(await where('{ credit: "0xC002" }'), ["0xa00102", "0xa00202"]); // hex in any case
    assert.deepEqual(await where('{ amountTonnes_gt: "2" }'), ["0xa00101", "0xa00102", "0xa00201"]); // 3, 12.5, 100: numeric
    assert.deepEqual(await where('{ amountTonnes: "12.50" }'), ["0xa00102"]);
    assert.deepEqual(await where('{ amount_gt: "1000000000000000000" }'), ["0xa00102"]);
    assert.deepEqual(await where("{ source: OTHER }"), ["0xa00201"]);
    assert.deepEqual(await where("{ pool: null }"), ["0xa00201"]);
    assert.deepEqual(await where('{ pool_not: "0xb002" }'), ["0xa00101", "0xa00102", "0xa00103", "0xa00202"]); // null never matches _not
    assert.deepEqual(await where('{ retirementTokenId_not: "1" }'), ["0xa00202"]);
    assert.deepEqual(await where("{ timestamp_in: [] }"), []);
    assert.deepEqual(await where('{ id_gt: "0xa00103", id_lte: "0xa00201" }'), ["0xa00201"]);
    assert.deepEqual(await where('{ beneficiaryName_contains_nocase: "ñandú", beneficiaryName_starts_with: "Benef" }'), []); // ASCII folding only
    assert.deepEqual((await where('{ beneficiaryName_contains_nocase: "BENEFICI" }')).length, 5);
    assert.deepEqual(await where('{ or: [{ timestamp: "1640000000" }, { source: OTHER }] }'), ["0xa00201", "0xa00202"]);
    assert.deepEqual(await where('{ and: [{ timestamp_gt: "1640000000" }, { timestamp_lt: "1660000000" }] }'), ["0xa00101"]);
    assert.deepEqual(await where("{ or: [] }"), []);
  });

  test("filters through references and derived fields with f_", async () => {
    const carbon = "polygon-digital-carbon";
    const klima = await data(fake, carbon, '{ klimaRetires(where: { retire_: { timestamp_lt: "1665000000" } }, orderBy: retire__timestamp) { id retire { timestamp } } }');
    assert.deepEqual(klima.klimaRetires, [
      { id: "0xa00202aa", retire: { timestamp: "1640000000" } },
      { id: "0xa00101aa", retire: { timestamp: "1650000000" } },
      { id: "0xa00102aa", retire: { timestamp: "1660000000" } },
    ]);
    assert.deepEqual(ids((await data(fake, carbon, "{ retires(where: { credit_: { vintage_gte: 2012 } }) { id } }")).retires), ["0xa00102", "0xa00201", "0xa00202"]);
    assert.deepEqual(ids((await data(fake, carbon, "{ retires(where: { klimaRetire_: { specific: true } }) { id } }")).retires), ["0xa00102", "0xa00202"]);
    const credits = await data(fake, carbon, '{ carbonCredits(where: { poolBalances_: { pool: "0xb002" } }) { id } }');
    assert.deepEqual(ids(credits.carbonCredits), ["0xc001"]);
    const pairs = await data(fake, "pairs", '{ pairs(where: { swaps_: { volume_gt: "1000" } }) { id } }');
    assert.deepEqual(ids(pairs.pairs), [KLIMA_BCT]);
    assert.deepEqual(await errors(fake, carbon, '{ klimaRetires(where: { retire_: { credit_: { vintage: 2008 } } }) { id } }'), [
      'Child filter nesting not supported by value `credit`: `join on credit with CarbonCredit({"vintage":2008})`',
    ]);
    const [mixed] = await errors(fake, carbon, '{ retires(where: { source: KLIMA, or: [{ timestamp: "1" }] }) { id } }');
    assert.match(mixed!, /^Cannot mix column filters with 'or' operator at the same level\. Found column filter\(s\) 'source' alongside 'or' operator\./);
  });

  test("resolves derived list fields with arguments", async () => {
    const carbon = await data(fake, "polygon-digital-carbon", `{
      carbonCredit(id: "0xc001") {
        all: poolBalances { id balance pool { name } }
        big: poolBalances(where: { balance_gt: "600000000000000000" }) { id }
        sorted: poolBalances(orderBy: balance, first: 1) { id }
        retires(orderBy: timestamp, orderDirection: desc) { id }
      }
      carbonProject(id: "VERRA-191") { carbonCredits(orderBy: vintage, orderDirection: desc, skip: 1) { id vintage } }
    }`);
    assert.deepEqual(carbon.carbonCredit, {
      all: [
        { id: "0xb001c001", balance: "1000000000000000000", pool: { name: "Base Carbon Tonne" } },
        { id: "0xb002c001", balance: "500000000000000000", pool: { name: "Nature Carbon Tonne" } },
      ],
      big: [{ id: "0xb001c001" }],
      sorted: [{ id: "0xb002c001" }],
      retires: [{ id: "0xa00103" }, { id: "0xa00101" }],
    });
    assert.deepEqual(carbon.carbonProject.carbonCredits, [{ id: "0xc002", vintage: 2012 }, { id: "0xc001", vintage: 2008 }]);
    const pairs = await data(fake, "pairs", `{
      pair(id: "${KLIMA_BCT}") {
        token0 { symbol decimals } token1 { symbol }
        swaps(first: 2, orderBy: timestamp, orderDirection: desc, where: { close_lt: "0.95" }) { id close volume pair { id } }
      }
    }`);
    assert.deepEqual(pairs.pair, {
      token0: { symbol: "BCT", decimals: 18 },
      token1: { symbol: "KLIMA" },
      swaps: [
        { id: `${KLIMA_BCT}-1660007200`, close: "0.4", volume: "20000", pair: { id: KLIMA_BCT } },
        { id: `${KLIMA_BCT}-1660000000`, close: "0.9", volume: "1500.5", pair: { id: KLIMA_BCT } },
      ],
    });
  });

  test("takes variables, operation names and custom scalars as strings or numbers", async () => {
    const query = "query A($t: BigInt!) { retires(where: { timestamp_gt: $t }) { id } } query B { tokens { id } }";
    for (const t of ["1660000000", 1660000000]) {
      const res = await post(fake, "polygon-digital-carbon", { query, variables: { t }, operationName: "A" });
      assert.deepEqual(await res.json(), { data: { retires: [{ id: "0xa00201" }] } });
    }
    const [invalid] = await errors(fake, "polygon-digital-carbon", "query($t: BigInt!) { retires(where: { timestamp_gt: $t }) { id } }", { t: "soon" });
    assert.match(invalid!, /^Variable "\$t" got invalid value "soon"/);
    const [bytes] = await errors(fake, "polygon-digital-carbon", '{ retires(where: { hash: "0xabc" }) { id } }');
    assert.match(bytes!, /Expected value of type "Bytes", found "0xabc"; invalid Bytes: Odd number of digits/);
  });

  test("answers _meta with something plausible", async () => {
    const { _meta } = await data(fake, "pairs", "{ _meta { deployment hasIndexingErrors block { number hash timestamp } } }");
    assert.match(_meta.deployment, /^Qm[1-9A-HJ-NP-Za-km-z]{44}$/);
    assert.equal(_meta.hasIndexingErrors, false);
    assert.ok(Number.isInteger(_meta.block.number) && _meta.block.number > 1_000_000);
    assert.match(_meta.block.hash, /^0x[0-9a-f]{64}$/);
    assert.ok(Math.abs(_meta.block.timestamp - Date.now() / 1000) < 3600);
  });

  test("pages with id_gt through 2,500 entities, each exactly once", async () => {
    const many = await startFakeSubgraphs({ stores: { pairs: pairsStore(manySwaps(2500)) } });
    try {
      const seen: string[] = [];
      let last = "";
      for (let page = 0; page < 10; page++) {
        const { swaps } = await data(many, "pairs", "query($last: ID!) { swaps(first: 1000, orderBy: id, where: { id_gt: $last }) { id } }", { last });
        if (swaps.length === 0) break;
        seen.push(...ids(swaps));
        last = seen.at(-1)!;
      }
      assert.equal(seen.length, 2504);
      assert.equal(new Set(seen).size, 2504);
      assert.deepEqual(seen, [...seen].sort());
      assert.equal(many.requests.length, 4); // three full-ish pages and an empty one
    } finally {
      await many.stop();
    }
  });

  test("answers 400 to bodies that are not GraphQL requests, 404 elsewhere", async () => {
    const before = fake.requests.length;
    for (const [body, message] of [
      ["{not json", /^GraphQL server error \(client error\): /],
      ["[]", /Request data is not an object$/],
      [{ variables: {} }, /The "query" field is missing in request data$/],
      [{ query: "{ tokens { id } }", variables: [1] }, /Invalid query variables provided$/],
    ] as const) {
      const res = await post(fake, "pairs", body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.match(((await res.json()) as { error: string }).error, message);
    }
    assert.equal(fake.requests.length, before + 4);
    assert.equal(fake.requests.at(-4)!.query, "{not json");
    const unknown = await fetch(fake.url("pairs").replace("/pairs", "/uniswap"), { method: "POST", body: "{}" });
    assert.equal(unknown.status, 404);
    await unknown.text();
    const get = await fetch(fake.url("pairs"));
    assert.equal(get.status, 404);
    await get.text();
    assert.equal(fake.requests.length, before + 4);
  });

  test("answers as the plain way does (graphql-js, a walk over every entity), body for body", async () => {
    const generated = generateSubgraphData({ seed: 5, scale: 0.05 });
    const broken = carbonStore();
    broken.Retire!.push(
      retire("0xa00301", { amount: null, timestamp: "1655000000" }), // null in a non-null field
      retire("0xa00302", { credit: "0xc999", timestamp: "1655000001" }), // a reference to nothing
    );
    const stores = (carbon: Store) => ({ "polygon-digital-carbon": carbon, pairs: generated.pairs, "user-carbon": generated["user-carbon"] });
    // The most shared timestamp (thousands of ties at full scale), and one with a single retirement.
    const counts = new Map<string, number>();
    for (const r of generated["polygon-digital-carbon"].Retire!) counts.set(String(r.timestamp), (counts.get(String(r.timestamp)) ?? 0) + 1);
    const tied = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
    const single = [...counts].find(([, n]) => n === 1)![0];
    const pair = String(generated.pairs.Swap![0]!.pair);
    const retireFields = "amount timestamp hash retiringAddress { id } credit { id bridgeProtocol vintage retired project { id region methodologies country category name } } id timestamp";
    const queries: Array<[SubgraphName, string]> = [
      ["polygon-digital-carbon", `{ retires(first: 1000, orderBy: timestamp, orderDirection: desc, where: {}) { ${retireFields} } }`],
      ["polygon-digital-carbon", "{ carbonPoolCreditBalances(first: 1000, orderBy: id, orderDirection: asc, where: {}) { balance pool { id } credit { id } id } }"],
      ["polygon-digital-carbon", "{ retires(first: 5, skip: 2, orderBy: amount) { id source amount pool { id name } } }"],
      ["polygon-digital-carbon", "{ retires { id credit { id vintage } } }"], // with the broken store: a field error, some data
      ["polygon-digital-carbon", "{ retires(orderBy: timestamp) { id amount } }"], // a null in a non-null field
      ["polygon-digital-carbon", "{ retires(first: 1001) { id } }"],
      ["polygon-digital-carbon", '{ retires(orderBy: timestamp, where: {timestamp_lt: "x"}) { id } }'],
      ["polygon-digital-carbon", "{ retires { id __typename } a: retires(first: 1) { id } }"],
      ["polygon-digital-carbon", "{ retires { id credit { poolBalances(first: 2) { id } } } }"],
      ["pairs", `{ swaps(first: 1000, orderBy: timestamp, orderDirection: desc, where: {pair: "${pair}"}) { close timestamp pair { id } id timestamp } }`],
      ["pairs", `{ swaps(first: 1000, orderBy: timestamp, orderDirection: desc, where: {pair: "${pair.toUpperCase().replace("0X", "0x")}", timestamp_lt: "1690000000"}) { close timestamp id } }`],
      ["user-carbon", "{ holdings(first: 1000, orderBy: timestamp, orderDirection: desc, where: {}) { token timestamp tokenAmount carbonValue klimate { id } id timestamp } }"],
    ];
    // Cursors on the sort key, on both sides of a tie, each way: the narrowed walk must start right.
    for (const value of [tied, single]) {
      for (const op of ["", "_lt", "_lte", "_gt", "_gte"]) {
        for (const direction of ["asc", "desc"]) {
          queries.push(["polygon-digital-carbon", `{ retires(first: 1000, orderBy: timestamp, orderDirection: ${direction}, where: {timestamp${op}: "${value}"}) { id } }`]);
          queries.push(["polygon-digital-carbon", `{ klimaRetires(first: 1000, orderBy: retire__timestamp, orderDirection: ${direction}, where: {retire_: {timestamp${op}: "${value}"}}) { id retire { timestamp } } }`]);
          queries.push(["polygon-digital-carbon", `{ retires(first: 1000, orderBy: id, orderDirection: ${direction}, where: {timestamp: "${value}", id${op || "_not"}: "0x8"}) { id } }`]);
        }
      }
    }
    for (const op of ["", "_lt", "_lte", "_gt", "_gte"]) { // a sort key with nulls (last ascending, first descending)
      for (const direction of ["asc", "desc"]) queries.push(["polygon-digital-carbon", `{ retires(orderBy: retirementTokenId, orderDirection: ${direction}, where: {retirementTokenId${op}: "7"}) { id } }`]);
    }
    queries.push(queries[0]!, queries[1]!); // again: the direct path answers from the entity texts it made the first time
    for (const carbon of [generated["polygon-digital-carbon"], broken]) {
      const [fast, plain] = await Promise.all([startFakeSubgraphs({ stores: stores(carbon) }), startFakeSubgraphs({ stores: stores(carbon), plain: true })]);
      try {
        for (const [name, query] of queries) {
          const [a, b] = await Promise.all([fast, plain].map(async (f) => {
            const res = await post(f, name, { query });
            return `${res.status} ${await res.text()}`;
          }));
          assert.equal(a, b, query);
        }
      } finally {
        await Promise.all([fast.stop(), plain.stop()]);
      }
    }
  });

  test("records queries and variables", async () => {
    await data(fake, "pairs", "query($n: Int) { tokens(first: $n) { id } }", { n: 1 });
    assert.deepEqual(fake.requests.at(-1), { subgraph: "pairs", query: "query($n: Int) { tokens(first: $n) { id } }", variables: { n: 1 } });
  });
});

// --- Stores, faults, latency ----------------------------------------------------------------------------

describe("startFakeSubgraphs stores and faults", () => {
  test("setStore replaces the data and its indexes; stores are checked against the schema", async () => {
    const fake = await startFakeSubgraphs({ stores: { pairs: pairsStore() } });
    try {
      const query = "{ swaps(orderBy: timestamp, orderDirection: desc, first: 1) { id } pair(id: \"" + KLIMA_USDC + "\") { swaps { id } } }";
      const before = await data(fake, "pairs", query);
      assert.equal(before.swaps[0].id, `${KLIMA_BCT}-1660007200`);
      fake.setStore("pairs", pairsStore([swap(KLIMA_USDC, 1700000000, "1", "1")]));
      const after = await data(fake, "pairs", query);
      assert.equal(after.swaps[0].id, `${KLIMA_USDC}-1700000000`);
      assert.equal(after.pair.swaps.length, 2);
      assert.deepEqual((await data(fake, "polygon-digital-carbon", "{ retires { id } }")).retires, []);

      assert.throws(() => fake.setStore("pairs", { Retire: [] }), /"Retire", which is not an entity type/);
      assert.throws(() => fake.setStore("pairs", { Pair: [{ id: "p", swaps: [] }] }), /"swaps" is @derivedFrom/);
      assert.throws(() => fake.setStore("pairs", { Swap: [{ id: "s", close: 1.5 }] }), /"close" must be a BigDecimal as a decimal string, got 1.5/);
      assert.throws(() => fake.setStore("pairs", { Token: [{ id: "t", decimals: "18" }] }), /"decimals" must be a 32-bit integer/);
      assert.throws(() => fake.setStore("polygon-digital-carbon", { Retire: [{ id: "0xab", hash: "0xAB" }] }), /"hash" must be lower-case 0x hex/);
      assert.throws(() => fake.setStore("polygon-digital-carbon", { Retire: [{ id: "0xab", source: "MOSS" }] }), /must be a value of enum RetireSource/);
      assert.throws(() => fake.setStore("pairs", { Token: [{ id: "t" }, { id: "t" }] }), /duplicate id t/);
      assert.equal((await data(fake, "pairs", "{ swaps { id } }")).swaps.length, 5, "a refused store changes nothing");

      // Two KlimaRetires pointing at one Retire: graph-node's field error for a one-to-one derived field.
      const store = carbonStore();
      store.KlimaRetire!.push(klimaRetire("0xa00101bb", "0xa00101", "9"));
      fake.setStore("polygon-digital-carbon", store);
      const answer = await ask(fake, "polygon-digital-carbon", '{ retire(id: "0xa00101") { id klimaRetire { id } } }');
      assert.deepEqual(answer.data, { retire: { id: "0xa00101", klimaRetire: null } });
      assert.deepEqual(answer.errors!.map((e) => [e.message, e.path]), [
        ["Ambiguous result for derived field `klimaRetire`: Multiple `KlimaRetire` entities refer back via `retire`", ["retire", "klimaRetire"]],
      ]);
    } finally {
      await fake.stop();
    }
  });

  test("serves each fault once, in order, then answers normally", async () => {
    const fake = await startFakeSubgraphs({ stores: { pairs: pairsStore(manySwaps(200)) } });
    try {
      fake.injectFaults(
        "pairs",
        { kind: "status", status: 503 },
        { kind: "status", status: 429, retryAfterSeconds: 7 },
        { kind: "status", status: 400, body: '{"message":"bad"}' },
        { kind: "malformed" },
        { kind: "truncated" },
        { kind: "graphqlError", message: "indexing_error" },
      );
      const body = { query: "{ swaps(first: 200) { id timestamp close } }" };

      const unavailable = await post(fake, "pairs", body);
      assert.equal(unavailable.status, 503);
      assert.deepEqual(await unavailable.json(), { error: "fault" });

      const limited = await post(fake, "pairs", body);
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get("retry-after"), "7");
      await limited.text();

      const refused = await post(fake, "pairs", body);
      assert.equal(refused.status, 400);
      assert.equal(await refused.text(), '{"message":"bad"}');

      const malformed = await post(fake, "pairs", body);
      assert.equal(malformed.status, 200);
      await assert.rejects(malformed.json(), SyntaxError);

      const truncated = await post(fake, "pairs", body);
      assert.equal(truncated.status, 200);
      assert.ok(Number(truncated.headers.get("content-length")) > 1000);
      await assert.rejects(truncated.text()); // the socket ends before content-length bytes

      const indexer = await post(fake, "pairs", body);
      assert.equal(indexer.status, 200);
      assert.deepEqual(await indexer.json(), { errors: [{ message: "indexing_error" }] });

      const normal = (await (await post(fake, "pairs", body)).json()) as Answer;
      assert.equal(normal.data!.swaps.length, 200);
      assert.equal(fake.requests.length, 7);
      assert.ok(fake.requests.every((r) => r.subgraph === "pairs" && r.query === body.query));
      assert.deepEqual(fake.requests.map((r) => r.errors), [undefined, undefined, undefined, undefined, undefined, ["indexing_error"], undefined]);
    } finally {
      await fake.stop();
    }
  });

  test("faults are per subgraph; 'any' goes to whichever subgraph is asked next", async () => {
    const fake = await startFakeSubgraphs({ stores: { pairs: pairsStore() } });
    try {
      fake.injectFaults("pairs", { kind: "status", status: 502 });
      fake.injectFaults("any", { kind: "status", status: 504 });
      const query = { query: "{ _meta { deployment } }" };
      const carbon = await post(fake, "polygon-digital-carbon", query);
      assert.equal(carbon.status, 504); // the pairs fault waits for pairs
      await carbon.text();
      const carbonAgain = await post(fake, "polygon-digital-carbon", query);
      assert.equal(carbonAgain.status, 200);
      await carbonAgain.text();
      const pairs = await post(fake, "pairs", query);
      assert.equal(pairs.status, 502);
      await pairs.text();
      assert.equal((await post(fake, "pairs", query)).status, 200);
    } finally {
      await fake.stop();
    }
  });

  test("a hang makes the client time out, then service resumes", async () => {
    const fake = await startFakeSubgraphs({ stores: { pairs: pairsStore() } });
    try {
      fake.injectFaults("pairs", { kind: "hang" });
      await assert.rejects(post(fake, "pairs", { query: "{ tokens { id } }" }, { signal: AbortSignal.timeout(200) }), { name: "TimeoutError" });
      assert.equal((await data(fake, "pairs", "{ tokens { id } }")).tokens.length, 3);
      assert.equal(fake.requests.length, 2);
    } finally {
      await fake.stop();
    }
  });

  test("adds the configured latency before answering", async () => {
    const fake = await startFakeSubgraphs({ stores: { pairs: pairsStore() }, latencyMs: 40 });
    try {
      const started = performance.now();
      await data(fake, "pairs", "{ tokens { id } }");
      assert.ok(performance.now() - started >= 35);
      fake.setLatency(0);
      assert.equal((await data(fake, "pairs", "{ tokens { id } }")).tokens.length, 3);
    } finally {
      await fake.stop();
    }
  });

  test("stop() closes while a request hangs and while one waits on latency", async () => {
    const fake = await startFakeSubgraphs({ stores: { pairs: pairsStore() } });
    fake.injectFaults("any", { kind: "hang" });
    const settle = (p: Promise<Response>) => p.then(() => "answered", (error: unknown) => error);
    const hanging = settle(post(fake, "pairs", { query: "{ tokens { id } }" }));
    await waitFor(() => fake.requests.length === 1);
    fake.setLatency(60_000); // a pending timer must not keep the process alive after stop()
    const waiting = settle(post(fake, "polygon-digital-carbon", { query: "{ tokens { id } }" }));
    await fake.stop();
    assert.ok((await hanging) instanceof Error);
    assert.ok((await waiting) instanceof Error);
    await fake.stop(); // idempotent
  });
});
