// Checks the generated subgraph data against the real schemas (test/fixtures/subgraphs/*.graphql)
// and the shared store contract, and that the adversarial shapes the flow tests rely on are there.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Kind, parse, type TypeNode } from "graphql";
import {
  generateSubgraphData, byId, decimal, groupBy, longDecimal, weiToTonnes, TOKENS, TOKEN_KEYS, POOL_KEYS, SUBGRAPH_NAMES, EXCLUDED_RETIREE,
  MISPRICED_NCT_SWAP, KLIMA_TREASURY, OLYMPUS_DAO, ZERO_TX_HASH, type Store, type SubgraphData,
} from "./subgraph_data.ts";

// --- Schemas ---------------------------------------------------------------------------------------

interface FieldSpec { name: string; base: string; nonNull: boolean; list: boolean }
interface Schema { entities: Map<string, FieldSpec[]>; enums: Map<string, Set<string>> }

function unwrap(type: TypeNode): { base: string; nonNull: boolean; list: boolean } {
  if (type.kind === Kind.NON_NULL_TYPE) return { ...unwrap(type.type), nonNull: true };
  if (type.kind === Kind.LIST_TYPE) return { ...unwrap(type.type), list: true, nonNull: false };
  return { base: type.name.value, nonNull: false, list: false };
}

function loadSchema(name: string): Schema {
  const path = fileURLToPath(new URL(`../fixtures/subgraphs/${name}.graphql`, import.meta.url));
  const doc = parse(readFileSync(path, "utf8"));
  const entities = new Map<string, FieldSpec[]>();
  const enums = new Map<string, Set<string>>();
  for (const def of doc.definitions) {
    if (def.kind === Kind.ENUM_TYPE_DEFINITION) enums.set(def.name.value, new Set((def.values ?? []).map((v) => v.name.value)));
    if (def.kind !== Kind.OBJECT_TYPE_DEFINITION || !def.directives?.some((d) => d.name.value === "entity")) continue;
    const fields = (def.fields ?? [])
      .filter((f) => !f.directives?.some((d) => d.name.value === "derivedFrom"))
      .map((f) => {
        const outer = unwrap(f.type);
        return { name: f.name.value, base: outer.base, list: outer.list, nonNull: f.type.kind === Kind.NON_NULL_TYPE };
      });
    entities.set(def.name.value, fields);
  }
  return { entities, enums };
}

const SCHEMAS = new Map(SUBGRAPH_NAMES.map((name) => [name, loadSchema(name)]));

const HEX = /^0x(?:[0-9a-f]{2})*$/;
const BIGINT = /^-?\d+$/;
const BIGDECIMAL = /^-?\d+(?:\.\d+)?$/;

/** Why `value` is not a valid scalar/enum/reference of `field`, or null when it is. */
function invalid(value: unknown, field: FieldSpec, schema: Schema, ids: Map<string, Set<string>>): string | null {
  if (field.list) {
    if (!Array.isArray(value)) return "expected a list";
    for (const item of value) {
      const why = invalid(item, { ...field, list: false, nonNull: true }, schema, ids);
      if (why) return why;
    }
    return null;
  }
  const enumValues = schema.enums.get(field.base);
  if (enumValues) return typeof value === "string" && enumValues.has(value) ? null : `not a ${field.base} value`;
  const targets = ids.get(field.base);
  if (targets) return typeof value === "string" && targets.has(value) ? null : `dangling ${field.base} reference`;
  if (schema.entities.has(field.base)) return `references ${field.base}, which the store does not hold`;
  switch (field.base) {
    case "ID": case "String": return typeof value === "string" ? null : "expected a string";
    case "Bytes": return typeof value === "string" && HEX.test(value) ? null : "expected lower-case 0x hex bytes";
    case "BigInt": return typeof value === "string" && BIGINT.test(value) ? null : "expected a BigInt decimal string";
    case "BigDecimal": return typeof value === "string" && BIGDECIMAL.test(value) ? null : "expected a BigDecimal decimal string";
    case "Int": return Number.isInteger(value) && Math.abs(value as number) < 2 ** 31 ? null : "expected an Int";
    case "Boolean": return typeof value === "boolean" ? null : "expected a boolean";
    default: return `unknown scalar ${field.base}`;
  }
}

// --- Small helpers ---------------------------------------------------------------------------------

const countBy = <T>(items: Iterable<T>, key: (item: T) => string) => {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
};
const max = (values: Iterable<number>) => Math.max(...values);
const utcDay = (seconds: string) => new Date(Number(seconds) * 1000).toISOString().slice(0, 10);

const data = generateSubgraphData({ seed: 1 });
const polygon = data["polygon-digital-carbon"];
const eth = data["ethereum-bridged-carbon"];

// --- Tests -----------------------------------------------------------------------------------------

describe("generateSubgraphData", () => {
  test("is deterministic for a seed and differs across seeds", () => {
    assert.deepStrictEqual(generateSubgraphData({ seed: 1 }), data);
    const other = generateSubgraphData({ seed: 2 });
    for (const name of SUBGRAPH_NAMES) assert.notDeepStrictEqual(other[name], data[name], name);
    assert.deepStrictEqual(generateSubgraphData(), data, "seed 1 is the default");
  });

  test("every store holds only schema entities with unique ids", () => {
    for (const name of SUBGRAPH_NAMES) {
      const schema = SCHEMAS.get(name)!;
      for (const [type, records] of Object.entries(data[name])) {
        assert.ok(schema.entities.has(type), `${name}: ${type} is not an entity of the schema`);
        assert.ok(records.length > 0, `${name}: ${type} is empty`);
        assert.equal(new Set(records.map((r) => r.id)).size, records.length, `${name}: duplicate ${type} ids`);
      }
    }
  });

  test("every non-null field is present with the right JS type; references resolve; no extra fields", () => {
    for (const name of SUBGRAPH_NAMES) {
      const schema = SCHEMAS.get(name)!;
      const store = data[name];
      const ids = new Map(Object.entries(store).map(([type, records]) => [type, new Set(records.map((r) => r.id as string))]));
      for (const [type, records] of Object.entries(store)) {
        const fields = schema.entities.get(type)!;
        const known = new Set(fields.map((f) => f.name));
        for (const record of records) {
          for (const key of Object.keys(record)) assert.ok(known.has(key), `${name} ${type}.${key} is not a stored schema field`);
          for (const field of fields) {
            const value = record[field.name];
            if (value === undefined || value === null) {
              assert.ok(!field.nonNull, `${name} ${type} ${record.id}: non-null ${field.name} is missing`);
              continue;
            }
            const why = invalid(value, field, schema, ids);
            assert.equal(why, null, `${name} ${type} ${record.id}: ${field.name} = ${JSON.stringify(value)}: ${why}`);
          }
        }
      }
    }
  });

  test("BigDecimal texts never take an exponent, also past 1e21 (metrics compounded over a large scale's days)", () => {
    for (const x of [0, -0, 1.5, 123.4567891, 1e20 + 0.5, 1e21, 4.76e25, -3e22]) {
      assert.match(decimal(x), BIGDECIMAL, String(x));
      assert.equal(Number(decimal(x)), Number(x.toFixed(6)), String(x));
      assert.match(longDecimal(() => 0.5, Math.abs(x)), BIGDECIMAL, String(x));
    }
  });

  test("scales the entity counts", () => {
    const big = generateSubgraphData({ seed: 1, scale: 4 });
    const ratio = (sub: keyof SubgraphData, type: string) => big[sub][type]!.length / data[sub][type]!.length;
    assert.equal(data["polygon-digital-carbon"].Retire!.length, 12_000);
    assert.ok(Math.abs(ratio("polygon-digital-carbon", "Retire") - 4) < 0.1);
    for (const [sub, type] of [
      ["polygon-digital-carbon", "CarbonCredit"], ["polygon-digital-carbon", "Bridge"], ["polygon-digital-carbon", "KlimaRetire"],
      ["polygon-digital-carbon", "PoolDeposit"], ["ethereum-bridged-carbon", "Batch"], ["user-carbon", "Holding"], ["pairs", "Swap"],
    ] as const) {
      assert.ok(Math.abs(ratio(sub, type) - 4) < 0.4, `${sub} ${type}: ${ratio(sub, type)}`);
    }
    const small = generateSubgraphData({ seed: 1, scale: 0.05 });
    assert.ok(small["polygon-digital-carbon"].Retire!.length === 600);
    assert.ok(small.pairs.Swap!.some((s) => s.id === MISPRICED_NCT_SWAP), "small scales keep the mispriced swap");
  });
});

describe("constants", () => {
  test("the token table of §6.1, in key order", () => {
    assert.deepEqual(TOKEN_KEYS, ["BCT", "NCT", "MCO2", "UBO", "NBO"]);
    assert.equal(TOKENS.NCT.pairAddress + "1679432400", MISPRICED_NCT_SWAP);
    for (const key of TOKEN_KEYS) {
      const t = TOKENS[key];
      assert.match(t.pairAddress, /^0x[0-9a-f]{40}$/);
      assert.match(t.tokenAddress, /^0x[0-9a-f]{40}$/);
      assert.equal(t.address, t.tokenAddress);
      assert.equal(t.decimals, 18);
    }
    assert.equal(TOKENS.UBO.bridge, "C3");
    assert.equal(TOKENS.MCO2.name, "Moss Carbon Credit");
  });

  test("byId, groupBy and weiToTonnes", () => {
    const pools = byId(polygon, "CarbonPool");
    assert.equal(pools.get(TOKENS.BCT.tokenAddress)?.name, "Base Carbon Tonne");
    assert.equal(byId(polygon, "NoSuchType").size, 0);
    const byPool = groupBy(polygon, "Retire", "pool");
    const withPool = polygon.Retire!.filter((r) => r.pool !== null).length;
    assert.equal([...byPool.values()].reduce((n, g) => n + g.length, 0), withPool);
    assert.equal(weiToTonnes("1500000000000000000"), "1.5");
    assert.equal(weiToTonnes("1"), "0.000000000000000001");
    assert.equal(weiToTonnes(12n * 10n ** 18n), "12");
  });
});

describe("polygon-digital-carbon", () => {
  const credits = byId(polygon, "CarbonCredit");
  const retires = polygon.Retire!;

  test("the four pools, MCO2 a Moss credit", () => {
    assert.deepEqual(polygon.CarbonPool!.map((p) => p.id), POOL_KEYS.map((k) => TOKENS[k].tokenAddress));
    assert.equal(credits.get(TOKENS.MCO2.tokenAddress)?.bridgeProtocol, "MOSS");
    assert.ok(!byId(polygon, "CarbonPool").has(TOKENS.MCO2.tokenAddress));
  });

  test("projects: Verra mostly, other registries, VCS-191, unicode names", () => {
    const projects = polygon.CarbonProject!;
    assert.ok(projects.length >= 290);
    const registries = countBy(projects, (p) => p.registry as string);
    assert.ok(registries.get("VERRA")! > projects.length * 0.6);
    assert.ok(registries.size >= 4);
    assert.ok(projects.some((p) => p.id === "VCS-191" && p.projectID === "VCS-191"));
    assert.ok(projects.some((p) => /[^\x00-\x7f]/.test(p.name as string)));
    for (const region of ["Latin America", "Asia", "Oceania", "South Korea"]) assert.ok(projects.some((p) => p.region === region), region);
  });

  test("credits: protocols spread, vintages 2008–2023, 18-decimal amounts with fractions", () => {
    const protocols = countBy(credits.values(), (c) => c.bridgeProtocol as string);
    assert.deepEqual([...protocols.keys()].sort(), ["C3", "COOREST", "ICR", "MOSS", "TOUCAN"]);
    assert.ok(protocols.get("TOUCAN")! > protocols.get("C3")!);
    for (const c of credits.values()) {
      assert.ok((c.vintage as number) >= 2008 && (c.vintage as number) <= 2023);
      assert.equal(BigInt(c.currentSupply as string) + BigInt(c.retired as string) + BigInt(c.crossChainSupply as string), BigInt(c.bridged as string));
    }
    assert.ok([...credits.values()].some((c) => !(c.retired as string).endsWith("000000000000000000")), "fractional tonnes");
  });

  test("retired totals are the sums of the retirements", () => {
    const sums = new Map<string, bigint>();
    for (const r of retires) sums.set(r.credit as string, (sums.get(r.credit as string) ?? 0n) + BigInt(r.amount as string));
    for (const c of credits.values()) assert.equal(BigInt(c.retired as string), sums.get(c.id as string) ?? 0n);
  });

  test("lastBatchId: many non-Toucan credits at 0, Toucan ones distinct-ish", () => {
    const all = [...credits.values()];
    const zeroNonToucan = all.filter((c) => c.bridgeProtocol !== "TOUCAN" && c.lastBatchId === "0").length;
    assert.ok(zeroNonToucan > 100, `${zeroNonToucan}`);
    const toucan = all.filter((c) => c.bridgeProtocol === "TOUCAN").map((c) => c.lastBatchId);
    const distinct = new Set(toucan).size;
    assert.ok(distinct > toucan.length * 0.9 && distinct < toucan.length, `${distinct} of ${toucan.length}`);
  });

  test("pool balances: ~60% of credits in 1–3 pools, some credits in none", () => {
    const balances = groupBy(polygon, "CarbonPoolCreditBalance", "credit");
    const share = balances.size / credits.size;
    assert.ok(share > 0.5 && share < 0.75, `${share}`);
    assert.ok(max([...balances.values()].map((g) => g.length)) === 3);
    for (const b of polygon.CarbonPoolCreditBalance!) {
      assert.equal(b.id, (b.pool as string) + (b.credit as string).slice(2));
      assert.equal(BigInt(b.balance as string), BigInt(b.deposited as string) - BigInt(b.redeemed as string));
      assert.equal(b.nextSnapshotDayID, (b.lastSnapshotDayID as number) + 1);
    }
    assert.ok(polygon.CarbonPoolCreditBalance!.some((b) => b.balance === "0"));
  });

  test("bridges: credits with none, at least 3 with 150+, shared timestamps", () => {
    const perCredit = groupBy(polygon, "Bridge", "credit");
    assert.ok(perCredit.size < credits.size, "some credits were never bridged");
    assert.ok([...perCredit.values()].filter((g) => g.length >= 150).length >= 3);
    const ties = countBy(polygon.Bridge!, (b) => b.timestamp as string);
    assert.ok(ties.size < polygon.Bridge!.length / 2);
    const heavy = [...perCredit.values()].find((g) => g.length >= 150)!;
    assert.ok(countBy(heavy, (b) => b.timestamp as string).size < heavy.length, "ties within one credit");
  });

  test("retirements: 3,000 on one timestamp, clusters of 5–50, shared hashes, ~30% without pool", () => {
    const ties = countBy(retires, (r) => r.timestamp as string);
    assert.equal(max(ties.values()), 3000);
    assert.ok([...ties.values()].filter((n) => n >= 5 && n <= 50).length > 50);
    const hashes = countBy(retires, (r) => r.hash as string);
    assert.ok([...hashes.values()].filter((n) => n > 1).length > 100);
    const noPool = retires.filter((r) => r.pool === null).length / retires.length;
    assert.ok(noPool > 0.2 && noPool < 0.4, `${noPool}`);
    const names = retires.map((r) => r.beneficiaryName as string);
    assert.ok(names.includes(""));
    assert.ok(names.some((n) => /[^\x00-\x7f]/.test(n)));
    for (const r of retires) assert.equal(r.amountTonnes, weiToTonnes(r.amount as string));
  });

  test("retirements from a pool come from a pool that holds the credit", () => {
    const balanceIds = new Set(polygon.CarbonPoolCreditBalance!.map((b) => b.id));
    for (const r of retires) if (r.pool !== null) assert.ok(balanceIds.has((r.pool as string) + (r.credit as string).slice(2)));
  });

  test("the excluded retiree is an account retiring ~5%", () => {
    const accounts = byId(polygon, "Account");
    const excluded = accounts.get(EXCLUDED_RETIREE);
    assert.ok(excluded);
    const share = retires.filter((r) => r.retiringAddress === EXCLUDED_RETIREE).length / retires.length;
    assert.ok(share > 0.03 && share < 0.07, `${share}`);
    const perAccount = countBy(retires, (r) => r.retiringAddress as string);
    for (const a of accounts.values()) assert.equal(a.totalRetirements, perAccount.get(a.id as string) ?? 0);
    assert.ok(accounts.size >= 2000);
  });

  test("Klima retirements: ~6,000, each on a distinct KLIMA-sourced Retire", () => {
    const klima = polygon.KlimaRetire!;
    assert.ok(klima.length > 5500 && klima.length < 6500);
    assert.equal(new Set(klima.map((k) => k.retire)).size, klima.length);
    const retireById = byId(polygon, "Retire");
    for (const k of klima) assert.equal(retireById.get(k.retire as string)!.source, "KLIMA");
    assert.equal(retires.filter((r) => r.source === "KLIMA").length, klima.length);
    const bigTie = max(countBy(klima, (k) => retireById.get(k.retire as string)!.timestamp as string).values());
    assert.ok(bigTie > 900, "klimaRetires tie across a 900-row page");
  });

  test("pool deposits and redeems on existing balances, with snapshots", () => {
    for (const type of ["PoolDeposit", "PoolRedeem"]) {
      const events = polygon[type]!;
      assert.equal(events.length, 6000);
      for (const e of events) {
        assert.ok((e.poolCreditSnapshotID as string).startsWith((e.pool as string) + (e.credit as string).slice(2)));
        assert.ok((e.poolSnapshotID as string).startsWith(e.pool as string));
      }
    }
    assert.ok(polygon.CarbonPoolDailySnapshot!.length < polygon.PoolDeposit!.length / 4);
  });

  test("carbon metrics at day starts, a few with timestamp 0", () => {
    const metrics = polygon.CarbonMetric!;
    const zeros = metrics.filter((m) => m.timestamp === "0").length;
    assert.ok(zeros >= 2 && zeros < 10);
    assert.ok(metrics.length > 1150);
    for (const m of metrics) assert.equal(Number(m.timestamp) % 86_400, 0);
  });
});

describe("ethereum-bridged-carbon", () => {
  test("offsets as the subgraph initializes them", () => {
    const offsets = eth.CarbonOffset!;
    assert.ok(offsets.length >= 45);
    for (const o of offsets) {
      assert.equal(o.bridge, "Moss");
      assert.equal(o.vintage, "");
      assert.equal(o.projectID, "");
    }
  });

  test("batches: the sample's real serials first, same shape after, zero original txs", () => {
    const csv = readFileSync(fileURLToPath(new URL("../fixtures/mco2_verra_data.csv", import.meta.url)), "utf8");
    const real = csv.split(/\r?\n/).slice(1).map((line) => line.match(/,(\d+-\d+-\d+-[A-Z0-9-]+-\d{8}-\d{8}-\d),/)?.[1]).filter(Boolean);
    assert.ok(real.length >= 150);
    const batches = eth.Batch!;
    assert.ok(batches.length >= 2400);
    assert.deepEqual(batches.slice(0, real.length).map((b) => b.serialNumber), real);
    assert.equal(new Set(batches.map((b) => b.serialNumber)).size, batches.length);
    for (const b of batches) {
      const serial = b.serialNumber as string;
      assert.match(serial, /^\d+-\d+-\d+-[A-Z0-9-]+-[A-Z]{2}-\d+-(\d+)-\d{8}-\d{8}-\d$/);
      assert.equal(serial.split("-").at(-4), b.projectID);
      assert.match(serial.slice(-15, -11), /^20[01]\d$|^202\d$/);
      assert.equal(b.id, (b.timestamp as string) + serial);
    }
    const zero = batches.filter((b) => b.originaltx === ZERO_TX_HASH).length / batches.length;
    assert.ok(zero > 0.15 && zero < 0.25, `${zero}`);
    const bridgeTxs = new Set(eth.Bridge!.map((b) => b.transaction));
    assert.ok(batches.filter((b) => bridgeTxs.has(b.originaltx)).length > batches.length / 2, "most batches join a bridge tx");
    assert.ok(batches.some((b) => b.originaltx !== ZERO_TX_HASH && !bridgeTxs.has(b.originaltx)), "some join nothing");
  });

  test("retires and bridges with shared timestamps, one transaction each (or shared)", () => {
    assert.ok(eth.Retire!.length === 4000 && eth.Bridge!.length === 3000);
    assert.ok(max(countBy(eth.Retire!, (r) => r.timestamp as string).values()) >= 5);
    const txs = byId(eth, "Transaction");
    for (const r of [...eth.Retire!, ...eth.Bridge!, ...eth.Batch!]) assert.equal(txs.get(r.transaction as string)!.timestamp, r.timestamp);
    const offsets = byId(eth, "CarbonOffset");
    for (const r of eth.Retire!) assert.equal(r.id, (r.timestamp as string) + (offsets.get(r.offset as string)!.tokenAddress as string));
  });

  test("carbon metrics of eth and celo, some with timestamp 0", () => {
    for (const [store, min] of [[eth, 780], [data["celo-bridged-carbon"], 580]] as Array<[Store, number]>) {
      const metrics = store.CarbonMetric!;
      assert.ok(metrics.length >= min);
      assert.ok(metrics.some((m) => m.timestamp === "0"));
    }
  });
});

describe("user-carbon", () => {
  test("holdings of the treasury and Olympus, many timestamp ties", () => {
    const holdings = data["user-carbon"].Holding!;
    assert.ok(holdings.length === 7000 && data["user-carbon"].Klimate!.length === 800);
    const holders = new Set(holdings.map((h) => h.klimate));
    assert.ok(holders.has(KLIMA_TREASURY) && holders.has(OLYMPUS_DAO));
    assert.deepEqual(new Set(holdings.map((h) => h.token)), new Set(["BCT", "NCT", "MCO2", "UBO", "NBO", "KLIMA"]));
    const ties = countBy(holdings, (h) => h.timestamp as string);
    assert.ok(max(ties.values()) > 10 && ties.size < holdings.length / 2);
    assert.equal(new Set(holdings.map((h) => `${h.klimate}-${h.token}-${h.timestamp}`)).size, holdings.length);
  });
});

describe("pairs", () => {
  const pairsStore = data.pairs;

  test("tokens and pairs; the five price pairs beyond the first 100 ids", () => {
    assert.equal(pairsStore.Token!.length, 7);
    const ids = pairsStore.Pair!.map((p) => p.id as string).sort();
    const first100 = new Set(ids.slice(0, 100));
    for (const key of TOKEN_KEYS) {
      assert.ok(ids.includes(TOKENS[key].pairAddress), key);
      assert.ok(!first100.has(TOKENS[key].pairAddress), `${key} pair within the first 100`);
    }
    assert.ok(ids.length >= 150);
  });

  test("hourly candles: ids, gaps, zero closes on a day's last candle, the mispriced NCT swap", () => {
    const swaps = pairsStore.Swap!;
    for (const s of swaps.slice(0, 2000)) {
      assert.equal(s.id, (s.pair as string) + (s.timestamp as string));
      assert.equal(Number(s.timestamp) % 3600, 0);
    }
    const mispriced = swaps.find((s) => s.id === MISPRICED_NCT_SWAP);
    assert.ok(mispriced && Number(mispriced.close) > 1000);
    assert.equal(mispriced.pair, TOKENS.NCT.pairAddress);
    assert.equal(mispriced.timestamp, "1679432400");

    let zeroLast = 0;
    for (const key of TOKEN_KEYS) {
      const own = swaps.filter((s) => s.pair === TOKENS[key].pairAddress);
      const days = groupBy({ Swap: own.map((s) => ({ ...s, day: utcDay(s.timestamp as string) })) }, "Swap", "day");
      const spanDays = (Number(own.at(-1)!.timestamp) - Number(own[0]!.timestamp)) / 86_400;
      assert.ok(days.size > 400 && days.size < spanDays, `${key}: ${days.size} days over ${spanDays}`);
      for (const candles of days.values()) {
        const lastOfDay = candles.reduce((a, b) => (Number(a.timestamp) > Number(b.timestamp) ? a : b));
        if (lastOfDay.close === "0") zeroLast++;
      }
      if (key === "NCT") {
        const day = days.get(utcDay("1679432400"))!;
        assert.equal(max(day.map((s) => Number(s.timestamp))), 1679432400, "the mispriced candle closes its day");
      }
    }
    assert.ok(zeroLast >= 5, `${zeroLast}`);
    assert.ok(swaps.filter((s) => s.close === "0").length > zeroLast);
    const pairs = byId(pairsStore, "Pair");
    for (const key of TOKEN_KEYS) assert.ok(Number(pairs.get(TOKENS[key].pairAddress)!.currentprice) > 0);
  });
});
