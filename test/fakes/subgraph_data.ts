// Deterministic, realistic entity data for the fake graph-node server (test/fakes/subgraph.ts),
// one store per subgraph the pipelines read: polygon-digital-carbon, ethereum-bridged-carbon,
// celo-bridged-carbon, user-carbon and pairs (schemas in test/fixtures/subgraphs/*.graphql).
//
// Beyond looking like the real subgraphs, the data deliberately contains the shapes that broke
// the original Python flows (docs/datasets.md §9), so that the port's tests can show they are handled:
// thousands of entities tied on one sort key (Q3), credits without pool balances (Q6), non-Toucan
// credits sharing lastBatchId 0 (Q3), credits with more than 100 bridges (nested cap), the
// excluded retiree, the mispriced NCT swap, the price pairs sitting beyond the first 100 pair ids
// (Q14), zero-timestamp carbon metrics and zero closes on a day's last candle.

import { int, mulberry32, pick, weighted, type Rand } from "./random.ts";
import { readSample } from "./sample.ts";

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/**
 * One record as the fake server stores it: ID/String/Bytes as strings (Bytes lower-case 0x hex),
 * BigInt/BigDecimal as decimal strings, Int as number, Boolean as boolean, enums by name,
 * references by the referenced entity's id. `@derivedFrom` fields are never stored.
 */
export type EntityRecord = Record<string, string | number | boolean | null | string[]>;
/** Records by entity type name, e.g. `store.Retire`. */
export type Store = Record<string, EntityRecord[]>;

export interface SubgraphData {
  "polygon-digital-carbon": Store;
  "ethereum-bridged-carbon": Store;
  "celo-bridged-carbon": Store;
  "user-carbon": Store;
  pairs: Store;
}
export type SubgraphName = keyof SubgraphData;
export const SUBGRAPH_NAMES: readonly SubgraphName[] = [
  "polygon-digital-carbon", "ethereum-bridged-carbon", "celo-bridged-carbon", "user-carbon", "pairs",
];

export interface DataOptions {
  seed?: number;
  /** Multiplies the entity counts (default 1): scale 4 gives ~48,000 polygon retirements. */
  scale?: number;
}

export interface TokenInfo {
  symbol: string;
  /** Pair in the pairs subgraph whose candles price the token (lower-case). */
  pairAddress: string;
  /** Polygon token address (lower-case); also the pool id in polygon-digital-carbon (MCO2: a credit id). */
  tokenAddress: string;
  /** Same as tokenAddress: the original table carries it twice. */
  address: string;
  /** "Full Name" of DATASETS §6.1. */
  name: string;
  bridge: "Toucan" | "Moss" | "C3";
  decimals: number;
}

/** DATASETS §6.1; the key order BCT, NCT, MCO2, UBO, NBO is the iteration order everywhere. */
export const TOKENS = {
  BCT: token("BCT", "0x9803c7ae526049210a1725f7487af26fe2c24614", "0x2f800db0fdb5223b3c3f354886d907a671414a7f", "Base Carbon Tonne", "Toucan"),
  NCT: token("NCT", "0xdb995f975f1bfc3b2157495c47e4efb31196b2ca", "0xd838290e877e0188a4a44700463419ed96c16107", "Nature Carbon Tonne", "Toucan"),
  MCO2: token("MCO2", "0x64a3b8ca5a7e406a78e660ae10c7563d9153a739", "0xaa7dbd1598251f856c12f63557a4c4397c253cea", "Moss Carbon Credit", "Moss"),
  UBO: token("UBO", "0x5400a05b8b45eaf9105315b4f2e31f806ab706de", "0x2b3ecb0991af0498ece9135bcd04013d7993110c", "Universal Basic Offset", "C3"),
  NBO: token("NBO", "0x251ca6a70cbd93ccd7039b6b708d4cb9683c266c", "0x6bca3b77c1909ce1a4ba1a20d1103bde8d222e48", "Nature Based Offset", "C3"),
} as const satisfies Record<string, TokenInfo>;
export type TokenKey = keyof typeof TOKENS;
export const TOKEN_KEYS = Object.keys(TOKENS) as TokenKey[];

function token(symbol: string, pairAddress: string, tokenAddress: string, name: string, bridge: TokenInfo["bridge"]): TokenInfo {
  return { symbol, pairAddress, tokenAddress, address: tokenAddress, name, bridge, decimals: 18 };
}

export const EXCLUDED_RETIREE = "0x693ad12dba5f6e07de86faa21098b691f60a1bea";
/** NCT/USDC pair address + hour 1679432400 (2023-03-21 21:00 UTC). */
export const MISPRICED_NCT_SWAP = "0xdb995f975f1bfc3b2157495c47e4efb31196b2ca1679432400";
export const KLIMA_TREASURY = "0x7dd4f0b986f032a44f913bf92c9e8b7c17d77ad7";
export const OLYMPUS_DAO = "0x1e67124681b402064cd0abe8ed1b5c79d2e02f64";
export const ZERO_TX_HASH = "0x" + "0".repeat(64);
/** MCO2 on Ethereum (the Moss offset of ethereum-bridged-carbon), lower-case. */
export const MCO2_ETHEREUM = "0xfc98e825a2264d890f9a1e68ed50e1526abccacd";
export const KLIMA_POLYGON = "0x4e78011ce80ee02d2c3e649fb657e45898257815";
export const USDC_POLYGON = "0x2791bca1f2de4661ed88a30c99a7a9449aa84174";
/** The four pools of polygon-digital-carbon (MCO2 is a credit there, not a pool). */
export const POOL_KEYS = ["BCT", "NCT", "UBO", "NBO"] as const satisfies readonly TokenKey[];

/** Generates all five stores. Same options, same output (to the byte). */
export function generateSubgraphData(options: DataOptions = {}): SubgraphData {
  const seed = options.seed ?? 1;
  const scale = options.scale ?? 1;
  if (!(scale > 0) || !Number.isFinite(scale)) throw new RangeError(`scale must be a positive number, got ${scale}`);
  // One stream per subgraph: a change in one generator does not reshuffle the others.
  const ctx = (name: string): Ctx => ({ rand: mulberry32(seed ^ fnv1a(name)), scale });
  return {
    "polygon-digital-carbon": polygonDigitalCarbon(ctx("polygon-digital-carbon")),
    "ethereum-bridged-carbon": ethereumBridgedCarbon(ctx("ethereum-bridged-carbon")),
    "celo-bridged-carbon": celoBridgedCarbon(ctx("celo-bridged-carbon")),
    "user-carbon": userCarbon(ctx("user-carbon")),
    pairs: pairs(ctx("pairs")),
  };
}

/** The records of `type` by id (empty when the store has none). */
export function byId(store: Store, type: string): Map<string, EntityRecord> {
  const map = new Map<string, EntityRecord>();
  for (const record of store[type] ?? []) map.set(record.id as string, record);
  return map;
}

/** The records of `type` grouped by the value of `field` (typically a reference); null values are skipped. */
export function groupBy(store: Store, type: string, field: string): Map<string, EntityRecord[]> {
  const map = new Map<string, EntityRecord[]>();
  for (const record of store[type] ?? []) {
    const key = record[field];
    if (key === null || key === undefined) continue;
    const group = map.get(String(key));
    if (group) group.push(record);
    else map.set(String(key), [record]);
  }
  return map;
}

/** Exact decimal text of a native 18-decimal amount: "1500000000000000000" → "1.5". */
export function weiToTonnes(wei: string | bigint): string {
  return formatUnits(BigInt(wei), 18);
}

// ---------------------------------------------------------------------------------------------
// Randomness and small value helpers
// ---------------------------------------------------------------------------------------------

interface Ctx { rand: Rand; scale: number }

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Index in [0, n) skewed towards 0: a few accounts/credits get most of the activity. */
const skewed = (rand: Rand, n: number, power = 3) => Math.min(n - 1, Math.floor(n * rand() ** power));
/** Scaled count, never below `min`. */
const count = (ctx: Ctx, base: number, min = 1) => Math.max(min, Math.round(base * ctx.scale));

function shuffle<T>(rand: Rand, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** Standard normal (Box-Muller). */
function normal(rand: Rand): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** Log-normal around `typical`: most values near it, a long tail of large ones. */
const heavy = (rand: Rand, typical: number, spread = 1.4) => typical * Math.exp(normal(rand) * spread);

/** `length` lower-case hex digits, 32 bits per draw (a char per draw is the generator's hot spot). */
function hex(rand: Rand, length: number): string {
  let out = "";
  while (out.length < length) out += ((rand() * 0x100000000) >>> 0).toString(16).padStart(8, "0");
  return out.slice(0, length);
}

/** `length` decimal digits. */
function digits(rand: Rand, length: number): string {
  let out = "";
  while (out.length < length) out += String(Math.floor(rand() * 1e9)).padStart(9, "0");
  return out.slice(0, length);
}

const address = (rand: Rand) => "0x" + hex(rand, 40);
const txHash = (rand: Rand) => "0x" + hex(rand, 64);
/** graph-ts `Bytes.concatI32`: the 4 bytes of n, little-endian, as hex (no 0x). */
function i32le(n: number): string {
  let out = "";
  for (let i = 0; i < 4; i++) out += ((n >>> (8 * i)) & 255).toString(16).padStart(2, "0");
  return out;
}
/** Concatenation of Bytes values: "0xaa" + "0xbb" → "0xaabb". */
const concatBytes = (...parts: string[]) => "0x" + parts.map((p) => (p.startsWith("0x") ? p.slice(2) : p)).join("");

/** Decimal text of v / 10^decimals, without trailing zeros ("12.5", "3", "-0.25"). */
function formatUnits(v: bigint, decimals: number): string {
  const negative = v < 0n;
  const text = (negative ? -v : v).toString().padStart(decimals + 1, "0");
  const whole = text.slice(0, text.length - decimals);
  const frac = text.slice(text.length - decimals).replace(/0+$/, "");
  return (negative ? "-" : "") + whole + (frac ? "." + frac : "");
}

/** A BigDecimal text of a float, as graph-node prints them: no exponent, no trailing zeros. */
export function decimal(x: number, places = 6): string {
  const text = fixed(x, places);
  const trimmed = text.includes(".") ? text.replace(/\.?0+$/, "") : text;
  return trimmed === "-0" ? "0" : trimmed;
}

/** `x.toFixed(places)`, also from 1e21 on, where toFixed writes an exponent (metrics compounded over years of days). */
function fixed(x: number, places: number): string {
  return Math.abs(x) < 1e21 ? x.toFixed(places) : `${BigInt(Math.round(x))}.${"0".repeat(places)}`;
}

/** A BigDecimal with the long fractions the subgraphs produce (up to 18 places). */
export function longDecimal(rand: Rand, x: number): string {
  const base = fixed(Math.max(0, x), 6);
  return decimal(Number(base), 6) === "0" ? "0" : (base + digits(rand, int(rand, 0, 12))).replace(/\.?0+$/, "");
}

/** A native 18-decimal amount and its exact tonnes. */
interface Amount { wei: bigint; text: string; tonnes: string }

function amountOf(wei: bigint): Amount {
  return { wei, text: wei.toString(), tonnes: formatUnits(wei, 18) };
}

/**
 * Tonnes × 10^18 around `typical` tonnes: whole tonnes half the time, otherwise a short (x.123)
 * or a full 18-digit fraction, as token transfers of fractional tonnes produce.
 */
function drawAmount(rand: Rand, typical: number): Amount {
  const whole = Math.min(5e8, Math.floor(heavy(rand, typical)));
  const r = rand();
  const frac = r < 0.5 ? "" : r < 0.8 ? String(int(rand, 1, 999)).padStart(3, "0") : digits(rand, 18);
  let wei = BigInt(whole) * 10n ** 18n + BigInt(frac.padEnd(18, "0"));
  if (wei === 0n) wei = BigInt(int(rand, 1, 999)) * 10n ** 15n;
  return amountOf(wei);
}

/** Part of an amount (0..1 of it), at wei precision. */
const fraction = (wei: bigint, share: number) => (wei * BigInt(Math.floor(share * 1_000_000))) / 1_000_000n;

// --- Time ----------------------------------------------------------------------------------------

const DAY = 86_400;
const HOUR = 3_600;
const unix = (y: number, m: number, d: number, h = 0) => Date.UTC(y, m - 1, d, h) / 1000;
const dayStart = (ts: number) => ts - (ts % DAY);

// ---------------------------------------------------------------------------------------------
// Vocabularies
// ---------------------------------------------------------------------------------------------

// Region strings as the carbon subgraphs carry them, including every value the region fix maps.
const REGIONS_BY_COUNTRY: Record<string, string[]> = {
  Brazil: ["Latin America"], Peru: ["Latin America"], Colombia: ["Latin America"], Bolivia: ["Latin America"],
  "Korea, Republic of": ["South Korea", "Asia"], China: ["Asia"], India: ["Asia"], Indonesia: ["Asia", "Oceania"],
  Cambodia: ["Asia"], "Viet Nam": ["Asia"], Türkiye: ["Europe", "Asia"], Kenya: ["Africa"], "Côte d'Ivoire": ["Africa"],
  "Congo, The Democratic Republic of the": ["Africa"], "Papua New Guinea": ["Oceania"], "United States": ["North America"],
  Uruguay: ["Latin America", ""], Zimbabwe: ["Africa"], Belize: ["Latin America"],
};
const COUNTRY_NAMES = Object.keys(REGIONS_BY_COUNTRY);

const CATEGORIES = [
  { name: "Forestry", methodologies: ["VM0015", "VM0007", "VM0009", "AR-ACM0003", "VM0010", "VM0042", "VM0006"] },
  { name: "Renewable Energy", methodologies: ["ACM0002", "AMS-I.D.", "ACM0006", "AMS-I.C., AMS-I.D.", "ACM0018"] },
  { name: "Energy Efficiency", methodologies: ["AMS-II.G.", "VMR0006", "AMS-II.J."] },
  { name: "Agriculture", methodologies: ["AMS-III.D.", "ACM0010", "VM0017"] },
  { name: "Industrial Processing", methodologies: ["AM0021", "AM0028", "ACM0005"] },
  { name: "Other", methodologies: ["ACM0001", "AMS-III.G.", "ACM0008"] },
  { name: "Blue Carbon", methodologies: ["VM0033"] },
  { name: "Biochar", methodologies: ["PURO-BIOCHAR"] },
] as const;

const PLACES = [
  "Rio Jaú", "Keo Seima", "Kasigau", "Katingan", "Gansu", "Tamil Nadu", "Mai Ndombe", "Cordillera Azul", "Kariba",
  "São Félix do Xingu", "Đắk Lắk", "Rimba Raya", "Ceará", "Inner Mongolia", "Gujarat", "Madre de Dios", "Lake Kivu",
  "Chyulu Hills", "Alto Mayo", "Karnataka", "Yunnan", "Sichuan", "Mato Grosso", "Oaxaca", "Bugesera", "İzmir", "Jeju-do",
];
const KINDS = [
  "REDD+ Project", "Wind Power Project", "Hydropower Project", "Solar Power Plant", "Biomass Cogeneration Project",
  "Landfill Gas Project", "Improved Cookstoves Project", "Mangrove Restoration", "Improved Forest Management",
  "Run-of-River Hydro", "Biochar Facility",
];

const REGISTRY_PREFIX = {
  VERRA: "VCS", GOLD_STANDARD: "GS", PURO_EARTH: "PURO", ICR: "ICR", J_CREDIT: "JCS", ECO_REGISTRY: "ECO", CCS: "CCS", CMARK: "CMARK",
} as const;
type Registry = keyof typeof REGISTRY_PREFIX;
const REGISTRIES = Object.keys(REGISTRY_PREFIX) as Registry[];
const REGISTRY_WEIGHTS = [80, 8, 4, 5, 1, 1, 0.5, 0.5];

const BRIDGE_PROTOCOLS = ["TOUCAN", "C3", "MOSS", "ICR", "COOREST"] as const;
type BridgeProtocol = (typeof BRIDGE_PROTOCOLS)[number];
const BRIDGE_WEIGHTS = [65, 20, 3, 8, 4];

const BENEFICIARY_NAMES = [
  "", "", "", "KlimaDAO", "Microsoft", "Delta Air Lines", "Toucan Protocol", "Shell Energy Europe", "South Pole",
  "Société Générale", "Beneficiário Ñandú", "Øresund Logistics AS", "碳中和 上海", "Müller & Söhne GmbH", "🌍 Planet Positive",
  "Offset Party #3", "Carbonmark", "anon", "Ελληνικά Δάση", "Zürich Kantonalbank",
];
const RETIREMENT_MESSAGES = [
  "", "", "Offsetting our 2022 emissions", "Retired via KlimaDAO", "Carbon neutral shipment programme",
  "Compensação de emissões – São Paulo", "カーボンオフセット 2023", "For a greener future 🌱", "gm", "Scope 1 & 2 offset, Q3",
  "Retirement for \"Climate Week\" event, line\nbreak included", "Reducción de emisiones — Bogotá",
];

const HOLDING_TOKENS = ["BCT", "NCT", "MCO2", "UBO", "NBO", "KLIMA"] as const;

// --- Real Verra rows of the MCO2 sample (./sample.ts; test/fakes/verra.ts extracts more of them) --

interface SampleRow { projectId: string; name: string; quantity: number; serial: string }

let sampleRows: SampleRow[] | undefined;
function loadSampleRows(): SampleRow[] {
  if (sampleRows) return sampleRows;
  const { rows, column } = readSample();
  const [id, name, quantity, serial] = ["Project ID", "Project Name", "Quantity of Credits", "Serial Number"].map(column) as number[];
  sampleRows = rows
    .filter((r) => r.length > serial! && r[serial!]!.includes("-"))
    .map((r) => ({ projectId: r[id!]!, name: r[name!]!, quantity: Number(r[quantity!]!.replace(/,/g, "")), serial: r[serial!]! }));
  return sampleRows;
}

// =============================================================================================
// polygon-digital-carbon
// =============================================================================================

interface Project { id: string; registry: Registry; record: EntityRecord }
interface Credit { id: string; protocol: BridgeProtocol; record: EntityRecord; pools: string[]; retired: bigint; bridged: bigint }
interface Balance { id: string; pool: string; credit: Credit; record: EntityRecord; snapshot?: string }

// Polygon activity window: the Klima retirement aggregator era.
const POLYGON_START = unix(2021, 10, 20);
const POLYGON_END = unix(2025, 5, 31);

function polygonDigitalCarbon(ctx: Ctx): Store {
  const { rand } = ctx;
  const projects = makeProjects(ctx);
  const credits = makeCredits(ctx, projects);
  const accounts = makeAccountIds(ctx);
  const balances = makeBalances(ctx, credits);
  const bridges = makeBridges(ctx, credits, accounts);
  const { retires, klimaRetires, retireCounts } = makeRetires(ctx, credits, accounts);
  const pools = makePools(rand, balances);
  const snapshots = { pool: [] as EntityRecord[], credit: [] as EntityRecord[], poolDays: new Map<string, string>() };
  const deposits = makePoolEvents(ctx, "deposit", balances, accounts, snapshots);
  const redeems = makePoolEvents(ctx, "redeem", balances, accounts, snapshots);

  // Credit totals agree with their events: retired is the sum of the retirements, bridged covers it.
  for (const credit of credits) {
    const crossChain = rand() < 0.9 ? 0n : fraction(credit.bridged, rand() * 0.1);
    const bridged = credit.bridged + credit.retired;
    credit.record.retired = credit.retired.toString();
    credit.record.bridged = bridged.toString();
    credit.record.crossChainSupply = crossChain.toString();
    credit.record.currentSupply = (bridged - credit.retired - crossChain).toString();
  }

  return {
    CarbonPool: pools,
    CarbonProject: projects.map((p) => p.record),
    CarbonCredit: credits.map((c) => c.record),
    Account: accounts.map((id) => ({ id, totalRetirements: retireCounts.get(id) ?? 0 })),
    CarbonPoolCreditBalance: balances.map((b) => b.record),
    CarbonPoolDailySnapshot: snapshots.pool,
    CarbonPoolCreditBalanceDailySnapshot: snapshots.credit,
    Bridge: bridges,
    Retire: retires,
    KlimaRetire: klimaRetires,
    PoolDeposit: deposits,
    PoolRedeem: redeems,
    CarbonMetric: polygonMetrics(ctx),
  };
}

/** Real projects first (VCS-191 and the MCO2 sample's), then generated ones with distinct ids. */
function makeProjects(ctx: Ctx): Project[] {
  const { rand } = ctx;
  const total = count(ctx, 300, 12);
  const projects: Project[] = [];
  const used = new Set<string>();
  const add = (registry: Registry, number: string, name: string, category: string, methodologies: string, country: string) => {
    const id = `${REGISTRY_PREFIX[registry]}-${number}`;
    if (used.has(id)) return;
    used.add(id);
    const region = pick(rand, REGIONS_BY_COUNTRY[country] ?? [""]);
    projects.push({
      id, registry,
      record: { id, registry, projectID: id, name, methodologies, category, country, region },
    });
  };

  add("VERRA", "191", "4×50 MW Dayingjiang-3 Hydropower Project Phases 1&2", "Renewable Energy", "ACM0002", "China");
  for (const row of loadSampleRows()) {
    const country = row.serial.includes("-PE-") ? "Peru" : "Brazil";
    const category = /REDD|IFM|FLORESTAL/i.test(row.name) ? "Forestry" : "Renewable Energy";
    add("VERRA", row.projectId, row.name, category, category === "Forestry" ? "VM0015" : "AMS-I.C.", country);
  }
  const pickRegistry = weighted(REGISTRIES, REGISTRY_WEIGHTS);
  while (projects.length < total) {
    const registry = pickRegistry(rand);
    const category = pick(rand, CATEGORIES);
    const country = pick(rand, COUNTRY_NAMES);
    const methodologies = rand() < 0.15
      ? `${pick(rand, category.methodologies)}, ${pick(rand, category.methodologies)}`
      : pick(rand, category.methodologies);
    const name = `${pick(rand, PLACES)} ${pick(rand, KINDS)}${rand() < 0.2 ? ` ${int(rand, 2, 9)}` : ""}`;
    add(registry, String(int(rand, 1, 4000)), name, category.name, methodologies, country);
  }
  return projects;
}

function makeCredits(ctx: Ctx, projects: Project[]): Credit[] {
  const { rand } = ctx;
  const total = count(ctx, 1500, 20);
  const pickProtocol = weighted(BRIDGE_PROTOCOLS, BRIDGE_WEIGHTS);
  const byRegistry = (r: Registry) => projects.filter((p) => p.registry === r);
  const verra = byRegistry("VERRA");
  const icr = byRegistry("ICR");
  const others = projects.filter((p) => p.registry !== "VERRA" && p.registry !== "ICR");
  // ICR credits are ERC-1155 ids on a handful of contracts: id = contract address + token id.
  const icrContracts = Array.from({ length: 4 }, () => address(rand));
  let icrTokenId = 0;
  // Toucan batch ids grow with time; a few credits share one (the sort key ties, Q3).
  let batchId = int(rand, 1000, 3000);

  const credits: Credit[] = [];
  const seen = new Set<string>();
  const add = (protocol: BridgeProtocol, project: Project, id: string, tokenAddress: string, extra: EntityRecord) => {
    if (seen.has(id)) return;
    seen.add(id);
    const vintage = Math.min(2023, Math.max(2008, Math.round(2017 + normal(rand) * 3)));
    const record: EntityRecord = {
      id, tokenAddress, bridgeProtocol: protocol, project: project.id, vintage,
      currentSupply: "0", bridged: "0", retired: "0", crossChainSupply: "0", // totals filled in once the events exist
      provenanceCount: skewed(rand, 600, 2),
      lastBatchId: "0",
      ...extra,
    };
    if (protocol === "TOUCAN") {
      batchId += rand() < 0.03 ? 0 : int(rand, 1, 25);
      record.lastBatchId = String(batchId);
    }
    credits.push({ id, protocol, record, pools: [], retired: 0n, bridged: drawAmount(rand, 5000).wei });
  };

  // MCO2 is a credit token on Polygon (bridged by Moss), with the Moss project behind it.
  const moss = projects.find((p) => p.id === "VCS-1686") ?? verra[0]!;
  add("MOSS", moss, TOKENS.MCO2.tokenAddress, TOKENS.MCO2.tokenAddress, { isExAnte: false });

  while (credits.length < total) {
    const protocol = pickProtocol(rand);
    if (protocol === "ICR") {
      const contract = pick(rand, icrContracts);
      const tokenId = ++icrTokenId;
      add(protocol, pick(rand, icr.length ? icr : projects), concatBytes(contract, i32le(tokenId)), contract, {
        tokenId: String(tokenId), isExAnte: rand() < 0.1,
      });
      continue;
    }
    const project = protocol === "COOREST" && others.length && rand() < 0.7 ? pick(rand, others)
      : protocol === "TOUCAN" && rand() < 0.1 ? pick(rand, projects)
      : pick(rand, verra.length ? verra : projects);
    const tokenAddress = address(rand);
    add(protocol, project, tokenAddress, tokenAddress, {});
  }
  return credits;
}

/** ~2,000 accounts, the excluded retiree among them. Index 0.. is the popularity order. */
function makeAccountIds(ctx: Ctx): string[] {
  const { rand } = ctx;
  const ids = new Set<string>();
  const total = count(ctx, 2000, 20);
  while (ids.size < total - 1) ids.add(address(rand));
  const list = [...ids];
  list.splice(int(rand, 0, 20), 0, EXCLUDED_RETIREE);
  return list;
}

const POOL_IDS = POOL_KEYS.map((k) => TOKENS[k].tokenAddress);

/** Pools per credit: Toucan credits in BCT/NCT, C3 ones in UBO/NBO, a few in a third pool; many in none. */
function makeBalances(ctx: Ctx, credits: Credit[]): Balance[] {
  const { rand } = ctx;
  const [bct, nct, ubo, nbo] = POOL_IDS as [string, string, string, string];
  const balances: Balance[] = [];
  for (const credit of credits) {
    const family = credit.protocol === "TOUCAN" ? [bct, nct] : credit.protocol === "C3" ? [ubo, nbo] : null;
    if (!family || rand() > (credit.protocol === "TOUCAN" ? 0.8 : 0.7)) continue;
    const r = rand();
    const pools = r < 0.5 ? [family[0]] : r < 0.75 ? [family[1]] : [...family];
    if (rand() < 0.04) pools.push(credit.protocol === "TOUCAN" ? pick(rand, [ubo, nbo]) : pick(rand, [bct, nct]));
    credit.pools = pools;
    for (const pool of pools) {
      const deposited = drawAmount(rand, 8000);
      const r2 = rand();
      // Some balances fully redeemed (balance 0), some never redeemed (redeemed 0).
      const redeemed = r2 < 0.1 ? deposited.wei : r2 < 0.3 ? 0n : fraction(deposited.wei, rand());
      const balance = deposited.wei - redeemed;
      const lastDay = Math.floor(POLYGON_END / DAY) - skewed(rand, 900, 2);
      const id = concatBytes(pool, credit.id);
      balances.push({
        id, pool, credit,
        record: {
          id, pool, credit: credit.id,
          balance: balance.toString(),
          crossChainSupply: rand() < 0.85 ? "0" : fraction(balance, rand() * 0.3).toString(),
          deposited: deposited.text,
          redeemed: redeemed.toString(),
          lastSnapshotDayID: lastDay,
          nextSnapshotDayID: lastDay + 1,
        },
      });
    }
  }
  return balances;
}

function makePools(rand: Rand, balances: Balance[]): EntityRecord[] {
  return POOL_KEYS.map((key) => {
    const id = TOKENS[key].tokenAddress;
    let supply = 0n;
    for (const b of balances) if (b.pool === id) supply += BigInt(b.record.balance as string);
    const lastDay = Math.floor(POLYGON_END / DAY) - int(rand, 0, 3);
    return {
      id, name: TOKENS[key].name, decimals: 18,
      supply: supply.toString(), supplyTonnes: formatUnits(supply, 18),
      crossChainSupply: fraction(supply, rand() * 0.05).toString(),
      lastSnapshotDayID: lastDay, nextSnapshotDayID: lastDay + 1,
    };
  });
}

/**
 * ~3,000 bridge events: a few credits with 150+ (past the 100-per-parent nested cap), most with
 * a handful, some with none; timestamps drawn from a small set, so ties (also within a credit)
 * are common.
 */
function makeBridges(ctx: Ctx, credits: Credit[], accounts: string[]): EntityRecord[] {
  const { rand } = ctx;
  const total = count(ctx, 3000, 20);
  const times = Array.from({ length: count(ctx, 900, 10) }, () => int(rand, POLYGON_START - 200 * DAY, POLYGON_END));
  const bridges: EntityRecord[] = [];
  const add = (credit: Credit, timestamp: number) => {
    const amount = drawAmount(rand, 2000);
    credit.bridged += amount.wei;
    bridges.push({
      id: concatBytes(txHash(rand), i32le(int(rand, 0, 400))),
      credit: credit.id,
      account: accounts[skewed(rand, accounts.length, 4)]!,
      amount: amount.text,
      timestamp: String(timestamp),
    });
  };

  const toucan = credits.filter((c) => c.protocol === "TOUCAN");
  const heavyCredits = shuffle(rand, toucan.slice()).slice(0, 4);
  for (const credit of heavyCredits) {
    const n = Math.max(101, Math.round(int(rand, 150, 220) * ctx.scale));
    const ownTimes = Array.from({ length: Math.ceil(n / 3) }, () => pick(rand, times));
    for (let i = 0; i < n; i++) add(credit, pick(rand, ownTimes));
  }
  // The rest over ~75% of the credits (Toucan and C3 ones mostly): a quarter never bridged here.
  const candidates = credits.filter((c) => !heavyCredits.includes(c) && (c.protocol === "TOUCAN" || c.protocol === "C3" ? rand() < 0.85 : rand() < 0.4));
  while (bridges.length < total && candidates.length) {
    const credit = candidates[skewed(rand, candidates.length, 1.5)]!;
    add(credit, pick(rand, times));
  }
  return bridges;
}

interface RetireSlot { timestamp: number; hash: string }

/**
 * Timestamps with adversarial ties: one timestamp shared by 3,000 retirements (at scale 1),
 * clusters of 5–50, the rest spread out. Retirements in one transaction share a hash.
 */
function retireSlots(ctx: Ctx, total: number): RetireSlot[] {
  const { rand } = ctx;
  const slots: RetireSlot[] = [];
  const fill = (timestamp: number, n: number) => {
    let left = n;
    while (left > 0) {
      const inTx = Math.min(left, rand() < 0.7 ? 1 : int(rand, 2, 5));
      const hash = txHash(rand);
      for (let i = 0; i < inTx; i++) slots.push({ timestamp, hash });
      left -= inTx;
    }
  };
  const bigTie = Math.min(total, Math.round(3000 * ctx.scale));
  const bigTime = int(rand, unix(2023, 1, 1), unix(2024, 1, 1));
  // Other times never land on the big one: its group is exactly `bigTie` strong.
  const drawTime = () => {
    const t = int(rand, POLYGON_START, POLYGON_END);
    return t === bigTime ? t + 1 : t;
  };
  fill(bigTime, bigTie);
  let clustered = Math.round((total - bigTie) * 0.3);
  while (clustered > 0 && slots.length < total) {
    const n = Math.min(clustered, total - slots.length, int(rand, 5, 50));
    fill(drawTime(), n);
    clustered -= n;
  }
  while (slots.length < total) fill(drawTime(), Math.min(total - slots.length, 1 + (rand() < 0.1 ? 1 : 0)));
  // Time order, so that per-account counters (in the ids) grow with time; ties keep their order.
  return slots.sort((a, b) => a.timestamp - b.timestamp);
}

function makeRetires(ctx: Ctx, credits: Credit[], accounts: string[]) {
  const { rand } = ctx;
  const total = count(ctx, 12000, 20);
  const slots = retireSlots(ctx, total);
  const pooled = credits.filter((c) => c.pools.length > 0);
  const creditById = new Map(credits.map((c) => [c.id, c]));
  const retireCounts = new Map<string, number>();
  const klimaCounts = new Map<string, number>();
  const retires: EntityRecord[] = [];
  const klimaRetires: EntityRecord[] = [];

  for (const slot of slots) {
    // ~30% of retirements are not from a pool (any credit, MCO2 included); the rest redeem from
    // one of the credit's pools.
    let credit: Credit;
    let pool: string | null = null;
    if (rand() < 0.3 || pooled.length === 0) {
      credit = rand() < 0.05 ? creditById.get(TOKENS.MCO2.tokenAddress)! : credits[skewed(rand, credits.length, 2)]!;
    } else {
      credit = pooled[skewed(rand, pooled.length, 2)]!;
      pool = pick(rand, credit.pools);
    }
    const retiring = rand() < 0.05 ? EXCLUDED_RETIREE : accounts[skewed(rand, accounts.length, 3)]!;
    const beneficiary = rand() < 0.6 ? retiring : accounts[skewed(rand, accounts.length, 2)]!;
    const counter = retireCounts.get(retiring) ?? 0;
    retireCounts.set(retiring, counter + 1);
    const amount = drawAmount(rand, credit.protocol === "MOSS" ? 5 : 20);
    credit.retired += amount.wei;
    const id = concatBytes(retiring, i32le(counter));
    const klima = rand() < 0.5;
    const record: EntityRecord = {
      id,
      bridgeID: credit.protocol === "C3" ? String(int(rand, 1, 90000)) : null,
      credit: credit.id,
      pool,
      source: klima ? "KLIMA" : "OTHER",
      amount: amount.text,
      amountTonnes: amount.tonnes,
      beneficiaryAddress: beneficiary,
      beneficiaryName: pick(rand, BENEFICIARY_NAMES),
      beneficiaryLocation: rand() < 0.9 ? "" : pick(rand, ["Berlin", "São Paulo", "東京", "Nairobi"]),
      consumptionCountryCode: rand() < 0.9 ? "" : pick(rand, ["DE", "BR", "JP", "KE", "US"]),
      consumptionPeriodStart: "0",
      consumptionPeriodEnd: "0",
      retirementMessage: pick(rand, RETIREMENT_MESSAGES),
      retiringAddress: retiring,
      retiringName: rand() < 0.8 ? "" : pick(rand, BENEFICIARY_NAMES),
      hash: slot.hash,
      timestamp: String(slot.timestamp),
    };
    if (credit.protocol === "C3") record.asyncRetireStatus = "FINALIZED";
    retires.push(record);

    if (klima) {
      const index = klimaCounts.get(retiring) ?? 0;
      klimaCounts.set(retiring, index + 1);
      const fee = fraction(amount.wei, 0.01);
      klimaRetires.push({
        id: concatBytes(retiring, i32le(index)),
        retire: id,
        index: String(index),
        feeAmount: fee.toString(),
        feeAmountTonnes: formatUnits(fee, 18),
        specific: rand() < 0.35,
      });
    }
  }
  return { retires, klimaRetires, retireCounts };
}

interface Snapshots { pool: EntityRecord[]; credit: EntityRecord[]; poolDays: Map<string, string> }

/**
 * Pool deposits or redeems on existing (pool, credit) balances. Each points at its balance's
 * daily snapshot (one per balance, on its last snapshot day) and at that day's pool snapshot:
 * the references resolve, the snapshot days need not match the event's day.
 */
function makePoolEvents(ctx: Ctx, kind: "deposit" | "redeem", balances: Balance[], accounts: string[], snapshots: Snapshots): EntityRecord[] {
  const { rand } = ctx;
  const total = balances.length ? count(ctx, 6000, 10) : 0;
  const events: EntityRecord[] = [];
  for (let i = 0; i < total; i++) {
    const balance = balances[skewed(rand, balances.length, 1.5)]!;
    const timestamp = rand() < 0.2 && events.length ? Number(events[events.length - 1]!.timestamp) : int(rand, POLYGON_START - 300 * DAY, POLYGON_END);
    const amount = drawAmount(rand, kind === "deposit" ? 3000 : 500);
    const poolCreditSnapshotID = creditSnapshot(rand, balance, snapshots);
    events.push({
      id: concatBytes(txHash(rand), i32le(int(rand, 0, 300))),
      account: accounts[skewed(rand, accounts.length, 3)]!,
      pool: balance.pool,
      credit: balance.credit.id,
      amount: amount.text,
      timestamp: String(timestamp),
      poolSnapshotID: poolSnapshotOf(rand, balance, snapshots),
      poolCreditSnapshotID,
    });
  }
  return events;
}

function poolSnapshotOf(rand: Rand, balance: Balance, snapshots: Snapshots): string {
  const day = balance.record.lastSnapshotDayID as number;
  const key = `${balance.pool}:${day}`;
  let id = snapshots.poolDays.get(key);
  if (!id) {
    id = concatBytes(balance.pool, i32le(day));
    snapshots.poolDays.set(key, id);
    const supply = drawAmount(rand, 5_000_000).wei;
    const delta = fraction(supply, rand() * 0.01);
    snapshots.pool.push({
      id, pool: balance.pool, dayID: day, supply: supply.toString(),
      deltaSupply: (rand() < 0.5 ? -delta : delta).toString(), // supply also shrinks: BigInt may be negative
      lastUpdateTimestamp: String(day * DAY + int(rand, 0, DAY - 1)),
      lastUpdateBlockNumber: String(blockAt(day * DAY)),
    });
  }
  return id;
}

function creditSnapshot(rand: Rand, balance: Balance, snapshots: Snapshots): string {
  if (balance.snapshot) return balance.snapshot;
  const day = balance.record.lastSnapshotDayID as number;
  const id = concatBytes(balance.pool, balance.credit.id, i32le(day));
  balance.snapshot = id;
  const r = balance.record;
  const delta = (v: string) => fraction(BigInt(v), rand() * 0.05).toString();
  snapshots.credit.push({
    id, pool: balance.pool, credit: balance.credit.id, creditBalance: balance.id, dayID: day,
    poolSnapshot: poolSnapshotOf(rand, balance, snapshots),
    balance: r.balance as string, crossChainSupply: r.crossChainSupply as string,
    deposited: r.deposited as string, redeemed: r.redeemed as string,
    deltaBalance: delta(r.balance as string), deltaCrossChainSupply: "0",
    deltaRedeemed: delta(r.redeemed as string), deltaDeposited: delta(r.deposited as string),
    lastUpdateTimestamp: String(day * DAY + int(rand, 0, DAY - 1)),
    lastUpdateBlockNumber: String(blockAt(day * DAY)),
  });
  return id;
}

/** Rough Polygon block number at a time (2 s blocks), for plausible-looking block fields. */
const blockAt = (ts: number) => Math.max(1, 20_000_000 + Math.floor((ts - unix(2021, 10, 20)) / 2));

const POLYGON_METRIC_FIELDS = [
  "bctSupply", "nctSupply", "mco2Supply", "cco2Supply", "uboSupply", "nboSupply", "bctRedeemed", "nctRedeemed",
  "uboRedeemed", "nboRedeemed", "totalCarbonSupply", "bctCrosschainSupply", "nctCrosschainSupply",
  "totalCrosschainSupply", "tco2Retired", "mco2Retired", "cco2Retired", "c3tRetired", "icrRetired", "totalRetirements",
  "bctKlimaRetired", "nctKlimaRetired", "mco2KlimaRetired", "cco2KlimaRetired", "uboKlimaRetired", "nboKlimaRetired",
  "totalKlimaRetirements",
];

function polygonMetrics(ctx: Ctx): EntityRecord[] {
  return dailyMetrics(ctx, count(ctx, 1200, 5), unix(2025, 6, 1), POLYGON_METRIC_FIELDS, {
    totalCarbonSupply: ["bctSupply", "nctSupply", "mco2Supply", "cco2Supply", "uboSupply", "nboSupply"],
    totalCrosschainSupply: ["bctCrosschainSupply", "nctCrosschainSupply"],
    totalRetirements: ["tco2Retired", "mco2Retired", "cco2Retired", "c3tRetired", "icrRetired"],
    totalKlimaRetirements: ["bctKlimaRetired", "nctKlimaRetired", "mco2KlimaRetired", "cco2KlimaRetired", "uboKlimaRetired", "nboKlimaRetired"],
  });
}

/**
 * One metric per day, `days` days up to `end` (day starts, ids as the subgraphs make them: the
 * day number), plus a few with timestamp 0 that the flows' `timestamp > 0` filter must drop.
 * Supplies wander, "Retired"/"Redeemed" fields only grow; totals are sums of their parts.
 */
function dailyMetrics(ctx: Ctx, days: number, end: number, fields: string[], totals: Record<string, string[]>): EntityRecord[] {
  const { rand } = ctx;
  const level = new Map<string, number>();
  // Starting levels by kind, so that e.g. Klima's retirements stay a share of all retirements.
  const typical = (f: string) =>
    /KlimaRetired/.test(f) ? 150_000 : /Retired/.test(f) ? 1_000_000 : /Redeemed|Crosschain/.test(f) ? 300_000 : 3_000_000;
  for (const f of fields) level.set(f, totals[f] ? 0 : heavy(rand, typical(f), 0.8));
  const rows: EntityRecord[] = [];
  const first = dayStart(end) - (days - 1) * DAY;
  for (let i = 0; i < days; i++) {
    const timestamp = first + i * DAY;
    const row: EntityRecord = { id: String(timestamp / DAY), timestamp: String(timestamp) };
    for (const f of fields) {
      if (totals[f]) continue;
      const v = level.get(f)!;
      const grows = /Retired|Redeemed|Retirements/.test(f);
      const next = grows ? v + Math.abs(normal(rand)) * v * 0.003 : Math.max(0, v * (1 + normal(rand) * 0.01));
      level.set(f, next);
      row[f] = rand() < 0.02 ? "0" : longDecimal(rand, next);
    }
    for (const [f, parts] of Object.entries(totals)) {
      row[f] = longDecimal(rand, parts.reduce((sum, p) => sum + Number(row[p]), 0));
    }
    rows.push(row);
  }
  // Entities created before the first metric update: timestamp 0, all metrics 0.
  const zeros = Math.max(2, Math.round(3 * ctx.scale));
  for (let i = 0; i < zeros; i++) {
    const row: EntityRecord = { id: i === 0 ? "0" : `0-${i}`, timestamp: "0" };
    for (const f of fields) row[f] = rand() < 0.5 ? "0" : decimal(rand() * 1000, 3);
    rows.push(row);
  }
  return shuffle(rand, rows); // the server sorts; insertion order must not matter
}

// =============================================================================================
// ethereum-bridged-carbon (Moss)
// =============================================================================================

const ETH_START = unix(2020, 9, 1);
const ETH_END = unix(2024, 1, 1);

interface EthOffset { id: string; record: EntityRecord; bridged: number; retired: number }

/** Values in micro-tonnes (integers), so that the offsets' totals are exact sums. */
/** Whole tonnes half the time, otherwise up to 6 decimals (as micro-tonnes). */
function micro(rand: Rand, typical: number): number {
  const tonnes = heavy(rand, typical);
  return rand() < 0.5 ? Math.max(1, Math.round(tonnes)) * 1_000_000 : Math.max(1, Math.round(tonnes * 1_000_000));
}
const microText = (v: number) => formatUnits(BigInt(v), 6);

function ethereumBridgedCarbon(ctx: Ctx): Store {
  const { rand } = ctx;
  const transactions: EntityRecord[] = [];
  const newTx = (timestamp: number, from = address(rand)): string => {
    const id = txHash(rand);
    transactions.push({
      id, timestamp: String(timestamp), blockNumber: String(10_770_000 + Math.floor((timestamp - ETH_START) / 13)),
      blockHash: txHash(rand), from, to: MCO2_ETHEREUM, value: "0", gasPrice: String(int(rand, 5, 300) * 1_000_000_000),
    });
    return id;
  };

  // ~50 offsets: the MCO2 token itself (most activity) and other Moss-bridged tokens. The subgraph
  // initializes vintage, projectID and the other metadata to "" and never fills them (§4.9, Q21).
  const offsets: EthOffset[] = [];
  const offsetCount = count(ctx, 50, 3);
  for (let i = 0; i < offsetCount; i++) {
    const id = i === 0 ? MCO2_ETHEREUM : address(rand);
    offsets.push({
      id, bridged: 0, retired: 0,
      record: {
        id, name: i === 0 ? "Moss Carbon Credit" : `Moss Carbon Credit ${pick(rand, ["Amazônia", "Batch", "Series"])} ${i}`,
        tokenAddress: id, bridge: "Moss", registry: "Verra",
        totalBridged: "0", totalRetired: "0", currentSupply: "0",
        vintage: "", projectID: "", standard: "", methodology: "", country: "", region: "",
        storageMethod: "", method: "", emissionType: "", category: "", isCorsiaCompliant: null,
        coBenefits: "", correspAdjustment: "", additionalCertification: "", klimaRanking: "0",
        lastUpdate: "0",
      },
    });
  }
  const pickOffsets = (n: number) => {
    // Distinct offsets per timestamp: the subgraph's ids are timestamp + token address.
    const chosen = shuffle(rand, offsets.slice(1)).slice(0, n - 1);
    return rand() < 0.8 || n === offsets.length ? [offsets[0]!, ...chosen] : shuffle(rand, offsets.slice()).slice(0, n);
  };

  /** Events grouped by timestamp: clusters of 5–50 (capped by the number of offsets), singles otherwise. */
  const timeGroups = (total: number) => {
    const groups: Array<{ timestamp: number; n: number }> = [];
    const used = new Set<number>(); // distinct timestamps keep the (timestamp + token) ids unique
    let made = 0;
    while (made < total) {
      const timestamp = int(rand, ETH_START, ETH_END);
      if (used.has(timestamp)) continue;
      used.add(timestamp);
      const n = Math.min(total - made, offsets.length, rand() < 0.15 ? int(rand, 5, 50) : 1);
      groups.push({ timestamp, n });
      made += n;
    }
    return groups.sort((a, b) => a.timestamp - b.timestamp);
  };

  const bridges: EntityRecord[] = [];
  for (const { timestamp, n } of timeGroups(count(ctx, 3000, 10))) {
    // Several offsets bridged in one transaction now and then (duplicates in the batch join, Q20).
    const shared = n > 1 && rand() < 0.3 ? newTx(timestamp) : null;
    for (const offset of pickOffsets(n)) {
      const value = micro(rand, 3000);
      offset.bridged += value;
      bridges.push({
        id: String(timestamp) + offset.id, timestamp: String(timestamp), transaction: shared ?? newTx(timestamp),
        offset: offset.id, value: microText(value), bridger: address(rand),
      });
    }
  }

  const retires: EntityRecord[] = [];
  const retirees = Array.from({ length: count(ctx, 600, 5) }, () => address(rand));
  for (const { timestamp, n } of timeGroups(count(ctx, 4000, 10))) {
    const retiree = retirees[skewed(rand, retirees.length, 3)]!;
    const shared = n > 1 && rand() < 0.3 ? newTx(timestamp, retiree) : null;
    for (const offset of pickOffsets(n)) {
      const value = micro(rand, 10);
      offset.retired += value;
      retires.push({
        id: String(timestamp) + offset.id, timestamp: String(timestamp), transaction: shared ?? newTx(timestamp, retiree),
        offset: offset.id, value: microText(value),
        beneficiary: rand() < 0.4 ? "" : pick(rand, BENEFICIARY_NAMES), retiree,
      });
    }
  }

  const batches = makeBatches(ctx, bridges, newTx);

  for (const offset of offsets) {
    offset.record.totalBridged = microText(offset.bridged);
    offset.record.totalRetired = microText(offset.retired);
    offset.record.currentSupply = microText(Math.max(0, offset.bridged - offset.retired));
    offset.record.lastUpdate = String(int(rand, ETH_END - 300 * DAY, ETH_END));
  }

  return {
    CarbonOffset: offsets.map((o) => o.record),
    Bridge: bridges,
    Retire: retires,
    Batch: batches,
    Transaction: transactions,
    CarbonMetric: dailyMetrics(ctx, count(ctx, 800, 5), unix(2024, 1, 1), ["mco2Supply", "totalCarbonSupply", "mco2Retired", "totalRetirements"], {}),
  };
}

/**
 * Moss batches: the real MCO2 serial numbers of the sample first, then generated ones of the
 * same shape (same projects, new ranges). ~20% have a zero original tx; most others point at a
 * bridge's transaction (what eth_moss_bridged_offsets_v2 joins on), a few at unknown ones.
 */
function makeBatches(ctx: Ctx, bridges: EntityRecord[], newTx: (timestamp: number) => string): EntityRecord[] {
  const { rand } = ctx;
  const samples = loadSampleRows();
  const total = count(ctx, 2500, 5);
  const batches: EntityRecord[] = [];
  const serials = new Set<string>();
  let batchNo = 12_000;
  let next = 500_000_000;
  for (let i = 0; i < total; i++) {
    let serial: string;
    let row: SampleRow;
    if (i < samples.length) {
      row = samples[i]!;
      serial = row.serial;
    } else {
      // batch-start-end-<middle>-CC-sector-project-ddmmyyyy-ddmmyyyy-flag, dates shifted by whole years
      row = pick(rand, samples);
      const parts = row.serial.split("-");
      const quantity = Math.max(1, Math.round(heavy(rand, 800)));
      const shift = int(rand, 0, 4);
      const moveYear = (dmy: string) => dmy.slice(0, 4) + String(Number(dmy.slice(4)) + shift);
      batchNo += int(rand, 0, 3);
      const start = next;
      next += quantity + int(rand, 0, 1000);
      serial = [batchNo, start, start + quantity - 1, ...parts.slice(3, -3), moveYear(parts.at(-3)!), moveYear(parts.at(-2)!), parts.at(-1)!].join("-");
      row = { ...row, quantity, serial };
    }
    if (serials.has(serial)) continue;
    serials.add(serial);
    const timestamp = int(rand, ETH_START, ETH_END);
    const r = rand();
    const originaltx = r < 0.2 ? ZERO_TX_HASH : r < 0.9 && bridges.length ? (pick(rand, bridges).transaction as string) : txHash(rand);
    batches.push({
      id: String(timestamp) + serial,
      serialNumber: serial,
      projectID: row.projectId,
      vintage: serial.slice(-15, -11), // the vintage start year, as the flows read it from the serial
      creditType: "VCU",
      value: decimal(row.quantity + (rand() < 0.1 ? rand() : 0), 6),
      tokenAddress: MCO2_ETHEREUM,
      broker: address(rand),
      timestamp: String(timestamp),
      originaltx,
      transaction: newTx(timestamp),
    });
  }
  return batches;
}

// =============================================================================================
// celo-bridged-carbon
// =============================================================================================

function celoBridgedCarbon(ctx: Ctx): Store {
  const { rand } = ctx;
  const fields = ["bctSupply", "nctSupply", "mco2Supply", "totalCarbonSupply", "tco2Retired", "mco2Retired", "totalRetirements"];
  const offsets: EntityRecord[] = Array.from({ length: 3 }, (_, i) => {
    const id = address(rand);
    return {
      id, name: `Toucan Protocol: TCO2-VCS-${int(rand, 100, 2000)}-${2012 + i}`, tokenAddress: id, bridge: "Toucan",
      registry: "Verra", totalBridged: decimal(rand() * 1e5, 4), totalRetired: decimal(rand() * 1e3, 4),
      currentSupply: decimal(rand() * 1e4, 4), vintage: "", projectID: "", standard: "", methodology: "",
      methodologyCategory: "", country: "", region: "", storageMethod: "", method: "", emissionType: "", category: "",
      isCorsiaCompliant: null, coBenefits: "", correspAdjustment: "", additionalCertification: "", klimaRanking: "0",
      balanceBCT: decimal(rand() * 1e3, 4), balanceNCT: "0", lastUpdate: String(unix(2023, 5, 1) + int(rand, 0, 300 * DAY)),
    };
  });
  return {
    CarbonOffset: offsets,
    CarbonMetric: dailyMetrics(ctx, count(ctx, 600, 5), unix(2024, 9, 1), fields, {
      totalCarbonSupply: ["bctSupply", "nctSupply", "mco2Supply"],
      totalRetirements: ["tco2Retired", "mco2Retired"],
    }),
  };
}

// =============================================================================================
// user-carbon (holders)
// =============================================================================================

function userCarbon(ctx: Ctx): Store {
  const { rand } = ctx;
  const klimateCount = count(ctx, 800, 5);
  const ids = new Set<string>([KLIMA_TREASURY, OLYMPUS_DAO]);
  while (ids.size < klimateCount) ids.add(address(rand));
  const klimates = [...ids];

  // Holdings are snapshots on (mostly) day starts: thousands tie on the sort key (Q3).
  const days = Array.from({ length: count(ctx, 400, 10) }, (_, i) => unix(2022, 1, 1) + i * DAY);
  const drawTime = () => (rand() < 0.8 ? pick(rand, days) : pick(rand, days) + int(rand, 1, DAY - 1));
  const total = count(ctx, 7000, 20);
  const holdings: EntityRecord[] = [];
  const seen = new Set<string>();
  const add = (klimate: string, big: boolean) => {
    const token = pick(rand, HOLDING_TOKENS);
    const timestamp = drawTime();
    const id = `${klimate}-${token}-${timestamp}`;
    if (seen.has(id)) return; // one holding per (holder, token, time): "latest per key" stays well defined
    seen.add(id);
    const amount = rand() < 0.03 ? 0 : heavy(rand, big ? 2_000_000 : 200, 1.8); // some emptied holdings
    const tokenAmount = longDecimal(rand, amount);
    // KLIMA is backed by carbon (~1 t per token early on); carbon tokens are one tonne each.
    const carbonValue = token === "KLIMA" ? longDecimal(rand, amount * (0.5 + rand() * 2)) : tokenAmount;
    holdings.push({ id, klimate, token, timestamp: String(timestamp), tokenAmount, carbonValue });
  };
  const treasuryShare = Math.round(total * 0.03);
  for (let i = 0; i < treasuryShare; i++) add(KLIMA_TREASURY, true);
  for (let i = 0; i < treasuryShare / 3; i++) add(OLYMPUS_DAO, true);
  let guard = 0;
  while (holdings.length < total && guard++ < total * 3) add(klimates[skewed(rand, klimates.length, 2)]!, false);

  return {
    Klimate: klimates.map((id) => ({ id, active: rand() < 0.85 })),
    Holding: holdings,
  };
}

// =============================================================================================
// pairs (prices)
// =============================================================================================

const PAIRS_END = unix(2024, 2, 1);
const MISPRICED_HOUR = 1679432400;

interface PairSpec { key: TokenKey; base: string; start: number }

function pairs(ctx: Ctx): Store {
  const { rand } = ctx;
  const tokens: EntityRecord[] = [
    ...TOKEN_KEYS.map((k) => ({ id: TOKENS[k].tokenAddress, name: TOKENS[k].name, symbol: k, decimals: 18 })),
    { id: KLIMA_POLYGON, name: "Klima DAO", symbol: "KLIMA", decimals: 9 },
    { id: USDC_POLYGON, name: "USD Coin (PoS)", symbol: "USDC", decimals: 6 },
  ];
  const ordered = (a: string, b: string) => (a < b ? [a, b] : [b, a]) as [string, string];
  const specs: PairSpec[] = [
    { key: "BCT", base: KLIMA_POLYGON, start: 1.6 },
    { key: "NCT", base: USDC_POLYGON, start: 2.2 },
    { key: "MCO2", base: KLIMA_POLYGON, start: 3.1 },
    { key: "UBO", base: KLIMA_POLYGON, start: 1.1 },
    { key: "NBO", base: KLIMA_POLYGON, start: 2.6 },
  ];

  const days = count(ctx, 500, 30);
  const firstDay = dayStart(PAIRS_END) - days * DAY;
  const swaps: EntityRecord[] = [];
  const pairRecords: EntityRecord[] = [];
  for (const spec of specs) {
    const pairId = TOKENS[spec.key].pairAddress;
    const { candles, last, fees, volume } = hourlyCandles(rand, pairId, spec, firstDay, days);
    swaps.push(...candles);
    const [token0, token1] = ordered(TOKENS[spec.key].tokenAddress, spec.base);
    pairRecords.push({
      id: pairId, token0, token1,
      currentprice: decimal(last.price, 12), currentpricepertonne: decimal(last.price, 12),
      totalklimaearnedfees: decimal(fees, 8), totalvolume: decimal(volume, 6), lastupdate: String(last.timestamp),
    });
  }

  // Other pairs, all with ids sorting before the five (lowest: NBO's 0x251c…), so that a `pairs`
  // query without `first` (100 by id) sees none of the price pairs (Q14).
  const others = Math.max(120, Math.round(150 * ctx.scale));
  const ids = new Set<string>();
  while (ids.size < others) ids.add("0x" + pick(rand, ["0", "1"]) + hex(rand, 39));
  for (const id of ids) {
    const a = pick(rand, tokens).id as string;
    let b = pick(rand, tokens).id as string;
    while (b === a) b = pick(rand, tokens).id as string;
    const [token0, token1] = ordered(a, b);
    const price = heavy(rand, 1.5, 1);
    pairRecords.push({
      id, token0, token1, currentprice: decimal(price, 12), currentpricepertonne: decimal(price, 12),
      totalklimaearnedfees: decimal(rand() * 100, 8), totalvolume: decimal(heavy(rand, 50_000), 6),
      lastupdate: String(PAIRS_END - int(rand, 0, 400 * DAY)),
    });
  }
  return { Token: tokens, Pair: pairRecords, Swap: swaps };
}

/**
 * USD candles of one pair: ~half the hours traded, ~3% of days with no candle at all, a few
 * close-0 candles (some on a day's last candle), and for NCT the mispriced candle, made the
 * last of its day so that dropping it changes that day's close.
 */
function hourlyCandles(rand: Rand, pairId: string, spec: PairSpec, firstDay: number, days: number) {
  const candles: EntityRecord[] = [];
  let price = spec.start;
  let fees = 0;
  let volume = 0;
  let last = { price, timestamp: firstDay };
  const mispricedDay = dayStart(MISPRICED_HOUR);
  const forceMispriced = spec.key === "NCT";
  for (let d = 0; d < days; d++) {
    const day = firstDay + d * DAY;
    const isMispricedDay = forceMispriced && day === mispricedDay;
    if (!isMispricedDay && rand() < 0.03) continue;
    const zeroLast = rand() < 0.02;
    const hours: number[] = [];
    for (let h = 0; h < 24; h++) if (rand() < 0.5) hours.push(day + h * HOUR);
    if (isMispricedDay) {
      // the mispriced hour present, nothing after it that day
      const kept = hours.filter((t) => t < MISPRICED_HOUR);
      hours.length = 0;
      hours.push(...kept, MISPRICED_HOUR);
    }
    if (hours.length === 0) hours.push(day + int(rand, 0, 23) * HOUR);
    for (let i = 0; i < hours.length; i++) {
      const timestamp = hours[i]!;
      const open = price;
      price = Math.min(50, Math.max(0.05, price * (1 + normal(rand) * 0.012)));
      const high = Math.max(open, price) * (1 + rand() * 0.005);
      const low = Math.min(open, price) * (1 - rand() * 0.005);
      const vol = heavy(rand, 2000, 1.2);
      const lastOfDay = i === hours.length - 1;
      let close = decimal(price, 12);
      if ((zeroLast && lastOfDay) || rand() < 0.003) close = "0"; // a failed price read in the subgraph
      if (timestamp === MISPRICED_HOUR && forceMispriced) close = "48702117.296341"; // absurd, as in production
      else if (close !== "0") last = { price, timestamp };
      fees += vol * 0.003 * 0.5;
      volume += vol;
      candles.push({
        id: pairId + String(timestamp),
        open: decimal(open, 12), high: decimal(high, 12), low: decimal(low, 12), close,
        volume: decimal(vol, 6), lpfees: decimal(vol * 0.003, 8), klimaearnedfees: decimal(vol * 0.0015, 8),
        slippage: decimal(rand() * 0.02, 8), timestamp: String(timestamp), pair: pairId,
      });
    }
  }
  // A window that does not reach March 2023 (small scales) still gets the mispriced candle.
  if (forceMispriced && !candles.some((c) => c.id === MISPRICED_NCT_SWAP)) {
    candles.push({
      id: MISPRICED_NCT_SWAP, open: "2.1", high: "48702117.296341", low: "2.1", close: "48702117.296341",
      volume: "12.5", lpfees: "0.0375", klimaearnedfees: "0.01875", slippage: "0.9", timestamp: String(MISPRICED_HOUR), pair: pairId,
    });
  }
  return { candles, last, fees, volume };
}
