// The derived datasets (docs/datasets.md §5.1–5.12), end to end: every fake source started, the whole
// build run once as a user runs it (`npx tsx scripts/build_all.ts`), then each derived `-latest`
// compared, column by column and row by row, with a table computed HERE from its upstream
// `-latest` artifacts. The rules below are written out from docs/datasets.md §3.2 and §5 with the
// departures of docs/datasets.md §9; nothing is imported from lib/table/transforms.ts or the scripts.
//
// A second test edits some upstream artifacts to reach rules the generated data does not
// (today's close among the raw prices, non-midnight metric times, null beneficiaries, malformed
// serials, duplicate Verra ids, cross-origin ties...) and runs the affected flows again.
import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { decodeArtifact, encodeArtifact } from "../lib/artifact/artifact.ts";
import type { ColumnType, Row, Table, Value } from "../lib/table/table.ts";
import { startFakeSources, type FakeSources } from "./fakes/all.ts";
import { runScript } from "./helpers.ts";

// ------------------------------------------------------------ constants (docs/datasets.md §6.1, §6)

const TOKEN_ADDRESS: Array<[string, string]> = [ // token symbol, Polygon token (pool) address
  ["BCT", "0x2f800db0fdb5223b3c3f354886d907a671414a7f"],
  ["NCT", "0xd838290e877e0188a4a44700463419ed96c16107"],
  ["MCO2", "0xaa7dbd1598251f856c12f63557a4c4397c253cea"],
  ["UBO", "0x2b3ecb0991af0498ece9135bcd04013d7993110c"],
  ["NBO", "0x6bca3b77c1909ce1a4ba1a20d1103bde8d222e48"],
];
const HOLDER_NAMES: Record<string, string> = {
  "0x7dd4f0b986f032a44f913bf92c9e8b7c17d77ad7": "KlimaDAO",
  "0x1e67124681b402064cd0abe8ed1b5c79d2e02f64": "Olympus DAO",
};
const ZERO_TX = `0x${"0".repeat(64)}`;
const DAY_MS = 86_400_000;

// ------------------------------------------------------------ the build, once

let sources: FakeSources;
let root: string; // temporary folder holding the working directories
let cwd: string; // build_all's working directory: its lake is <cwd>/data/lake
const daysOfBuild: number[] = []; // UTC day (ms) when the build started and ended

before(async () => {
  root = mkdtempSync(path.join(tmpdir(), "dp-derived-"));
  cwd = path.join(root, "build");
  mkdirSync(cwd);
  sources = await startFakeSources({ verraRows: 3000 });
  daysOfBuild.push(utcDayOf(Date.now()));
  const result = await runScript("scripts/build_all.ts", [], { cwd, env: sources.env });
  daysOfBuild.push(utcDayOf(Date.now()));
  assert.equal(result.code, 0, `build_all failed:\n${result.stdout.slice(-4000)}\n${result.stderr.slice(-4000)}`);
});

after(async () => {
  await sources?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

type Lake = (slug: string) => Table;
const lakeAt = (dir: string): Lake => {
  const cache = new Map<string, Table>();
  return (slug) => {
    let table = cache.get(slug);
    if (!table) {
      const key = `${slug}-latest`;
      table = decodeArtifact(readFileSync(path.join(dir, "data", "lake", key)), key);
      cache.set(slug, table);
    }
    return table;
  };
};
const writeLatest = (dir: string, slug: string, table: Table) =>
  writeFileSync(path.join(dir, "data", "lake", `${slug}-latest`), encodeArtifact(table));

// ------------------------------------------------------------ shared rules (docs/datasets.md §3.2)

/** auto-rename: each space becomes `_`, then the whole name is lower-cased; nothing else. */
const snake = (name: string) => name.replaceAll(" ", "_").toLowerCase();

/** date manipulation: unix seconds to a naive UTC timestamp; null stays null (docs/datasets.md §9 Q6: never bridged → null). */
const fromUnix = (seconds: Value | undefined): Date | null =>
  seconds === null || seconds === undefined ? null : new Date(Number(seconds) * 1000);

function utcDayOf(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/** region fix: four exact replacements, every other value (null and "" included) unchanged. */
const REGION_FIX: Record<string, string> = {
  "South Korea": "Korea, Republic of",
  "Latin America": "Belize",
  Oceania: "Indonesia",
  Asia: "Cambodia",
};
const fixRegion = (region: Value | undefined): Value =>
  typeof region === "string" && Object.hasOwn(REGION_FIX, region) ? REGION_FIX[region]! : region ?? null;

/**
 * merge with Verra v2, the Verra side: verra_data_v2's columns id, name, region, country,
 * country_code, project_type, methodology (plus extras), de-duplicated on id (as text) keeping
 * the FIRST row in verra_data_v2's order.
 */
function verraFirstRowById(verra: Table): Map<string, Row> {
  const first = new Map<string, Row>();
  for (const row of verra.rows) {
    if (row.id === null || row.id === undefined) continue;
    const id = String(row.id);
    if (!first.has(id)) first.set(id, row);
  }
  return first;
}

/** merge with Verra v2, the key: project_id as text without its first 4 characters (`VCS-`). */
const projectIdKey = (projectId: Value | undefined): string | null =>
  projectId === null || projectId === undefined ? null : String(projectId).slice(4);

/**
 * The merge's outcome for one row. The dataset's own name, country and project_type are dropped;
 * a left join on project_id_key = id brings Verra's name, country, country_code and project_type
 * (null without a match). region, methodology and id come from Verra ONLY when the dataset has
 * no such column (otherwise the dataset's value wins, even a null one): callers pick them.
 */
function verraSide(verra: Map<string, Row>, projectId: Value | undefined) {
  const key = projectIdKey(projectId);
  const match = key === null ? undefined : verra.get(key);
  const field = (name: string): Value => (match ? match[name] ?? null : null);
  return {
    project_id_key: key,
    matched: match !== undefined,
    id: match ? String(match.id) : null,
    name: field("name"),
    region: field("region"),
    country: field("country"),
    country_code: field("country_code"),
    project_type: field("project_type"),
    methodology: field("methodology"),
  };
}

/**
 * pool quantities (v2 polygon): for bct, nct, nbo, ubo in that order, `<pool>_quantity` is the
 * row's whole quantity where `Credit <POOL> Quantity` is non-zero, else 0 (Q15 kept). The
 * `credit_*_quantity` columns, MCO2's included (docs/datasets.md §9 Q5), are not written.
 */
function poolQuantities(raw: Row, quantity: Value): Row {
  const pool = (t: string) => (raw[`Credit ${t} Quantity`] !== 0 ? quantity : 0);
  return { bct_quantity: pool("BCT"), nct_quantity: pool("NCT"), nbo_quantity: pool("NBO"), ubo_quantity: pool("UBO") };
}

/** vintage manipulation: null counts as 0 (→ 1970); "" gives null; numeric text is unix seconds → its UTC year. */
function vintageYear(vintage: Value | undefined): number | null {
  if (vintage === null || vintage === undefined) return 1970;
  if (vintage === "") return null;
  const seconds = Number(vintage);
  return Number.isFinite(seconds) ? new Date(seconds * 1000).getUTCFullYear() : null;
}

// ------------------------------------------------------------ expected tables, per dataset

interface Expected {
  columns: Array<[string, ColumnType]>;
  rows: Row[];
}
const cols = (spec: string): Array<[string, ColumnType]> =>
  spec.trim().split(/\s*,\s*/).map((c) => c.split(":") as [string, ColumnType]);

const EXPECTED: Record<string, (lake: Lake) => Expected> = {
  // §5.1: auto-rename the daily closes; today's live row first; raw rows of its date removed.
  assets_prices: (lake) => {
    const current = lake("current_assets_prices").rows[0]!;
    const today = (current.date as Date).getTime();
    const raw = lake("raw_assets_prices").rows.filter((r) => !(r.Date instanceof Date && r.Date.getTime() === today));
    const tokens = ["bct", "nct", "mco2", "ubo", "nbo"];
    const row = (r: Row, date: Value, price: (t: string) => Value, address: (t: string) => Value): Row => ({
      date,
      ...Object.fromEntries(tokens.map((t) => [`${t}_price`, price(t)])),
      ...Object.fromEntries(tokens.map((t) => [`${t}_address`, address(t)])),
    });
    return {
      columns: cols(`date:date, ${tokens.map((t) => `${t}_price:float`).join(",")}, ${tokens.map((t) => `${t}_address:string`).join(",")}`),
      rows: [
        row(current, current.date!, (t) => current[`${t}_price`] ?? null, () => null),
        ...raw.map((r) => row(r, r.Date!, (t) => r[`${t.toUpperCase()}_Price`] ?? null, (t) => r[`${t.toUpperCase()}_Address`] ?? null)),
      ],
    };
  },

  // §5.2: Date → timestamp renamed in place, Pool lower-cased, auto-rename (Q4: intended address names).
  polygon_pools_retired_offsets: (lake) => ({
    columns: cols("retirement_date:timestamp, pool:string, tx_id:string, quantity:float, retiring_address:string, beneficiary:string, beneficiary_address:string, retirement_message:string"),
    rows: lake("raw_polygon_pools_retired_offsets").rows.map((r) => ({
      retirement_date: fromUnix(r.Date), pool: typeof r.Pool === "string" ? r.Pool.toLowerCase() : null, tx_id: r["Tx ID"]!,
      quantity: r.Quantity!, retiring_address: r["Retiring Address"]!, beneficiary: r.Beneficiary!,
      beneficiary_address: r["Beneficiary Address"]!, retirement_message: r["Retirement Message"]!,
    })),
  }),
  polygon_pools_redeemed_offsets: (lake) => poolEvents(lake("raw_polygon_pools_redeemed_offsets"), "redeemed_date"),
  polygon_pools_deposited_offsets: (lake) => poolEvents(lake("raw_polygon_pools_deposited_offsets"), "deposited_date"),

  // §5.4: Verra rows neither bridged (toucan, c3, moss all false) nor unretired (status Retired).
  verra_retirements: (lake) => {
    const verra = lake("verra_data_v2");
    return {
      columns: verra.columns.map((c) => [c.name, c.type]),
      rows: verra.rows.filter((r) => r.toucan === false && r.c3 === false && r.moss === false && r.status === "Retired"),
    };
  },

  // §5.5 + docs/datasets.md §9 Q5: merge (dataset keeps id, region, methodology), region fix, retirement_date, pools.
  polygon_retired_offsets_v2: (lake) => {
    const verra = verraFirstRowById(lake("verra_data_v2"));
    return {
      columns: cols(`id:string, quantity:float, retirement_date:timestamp, retiree:string, token_address:string, bridge:string,
        region:string, vintage:int, project_id:string, methodology:string, total_quantity:float, tx_id:string,
        project_id_key:string, name:string, country:string, country_code:string, project_type:string,
        bct_quantity:float, nct_quantity:float, nbo_quantity:float, ubo_quantity:float`),
      rows: lake("raw_polygon_retired_offsets").rows.map((r) => {
        const v = verraSide(verra, r["Project ID"]);
        return {
          id: r.ID!, quantity: r.Quantity!, retirement_date: fromUnix(r.Date), retiree: r.Retiree!, token_address: r["Token Address"]!,
          bridge: r.Bridge!, region: fixRegion(r.Region), vintage: r.Vintage!, project_id: r["Project ID"]!, methodology: r.Methodology!,
          total_quantity: r["Total Quantity"]!, tx_id: r["Tx ID"]!,
          project_id_key: v.project_id_key, name: v.name, country: v.country, country_code: v.country_code, project_type: v.project_type,
          ...poolQuantities(r, r.Quantity!),
        };
      }),
    };
  },

  // §5.6 + docs/datasets.md §9 Q5, Q6: merge (methodology and id from Verra: the dataset has neither), region
  // fix, bridged_date (null when never bridged), pools, id dropped.
  polygon_bridged_offsets_v2: (lake) => {
    const verra = verraFirstRowById(lake("verra_data_v2"));
    return {
      columns: cols(`token_address:string, quantity:float, total_quantity:float, bridge:string, region:string, vintage:int,
        project_id:string, carboncredits_project_methodologies:string, bridged_date:timestamp, project_id_key:string,
        name:string, country:string, country_code:string, project_type:string, methodology:string,
        bct_quantity:float, nct_quantity:float, nbo_quantity:float, ubo_quantity:float`),
      rows: lake("raw_polygon_bridged_offsets").rows.map((r) => {
        const v = verraSide(verra, r["Project ID"]);
        return {
          token_address: r["Token Address"]!, quantity: r.Quantity!, total_quantity: r["Total Quantity"]!, bridge: r.Bridge!,
          region: fixRegion(r.Region), vintage: r.Vintage!, project_id: r["Project ID"]!,
          carboncredits_project_methodologies: r.carbonCredits_project_methodologies!, bridged_date: fromUnix(r.Date),
          project_id_key: v.project_id_key, name: v.name, country: v.country, country_code: v.country_code,
          project_type: v.project_type, methodology: v.methodology,
          ...poolQuantities(r, r.Quantity!),
        };
      }),
    };
  },

  // §5.7 + docs/datasets.md §9 Q20: merge (the batch's vintage dropped; region, methodology from Verra; id kept),
  // bridge Moss, vintage from the serial, one row per bridge event of the original transaction,
  // bridged_date, quantity truncated to an integer (null stays null), mco2 and total = quantity.
  eth_moss_bridged_offsets_v2: (lake) => {
    const verra = verraFirstRowById(lake("verra_data_v2"));
    const datesByTx = new Map<string, Value[]>();
    for (const t of lake("raw_eth_bridged_offsets_transactions").rows) {
      const tx = t["Tx Address"] as string;
      datesByTx.set(tx, [...(datesByTx.get(tx) ?? []), t.Date ?? null]);
    }
    return {
      columns: cols(`id:string, serial_number:string, bridged_date:timestamp, token_address:string, project_id:string, quantity:int,
        original_tx_address:string, project_id_key:string, name:string, region:string, country:string, country_code:string,
        project_type:string, methodology:string, bridge:string, vintage:int, mco2_quantity:int, total_quantity:int`),
      rows: lake("raw_eth_moss_bridged_offsets").rows.flatMap((b) => {
        const v = verraSide(verra, b["Project ID"]);
        const quantity = typeof b.Quantity === "number" ? Math.trunc(b.Quantity) : null;
        const tx = b["Original Tx Address"] as string;
        // Left join: one row per matching bridge (in the transactions' order), one row with no date otherwise.
        const joined = datesByTx.get(tx) ?? [null];
        return joined.map((bridgeDate): Row => ({
          id: b.ID!, serial_number: b["Serial Number"]!,
          // The batch's own timestamp only for the zero transaction; otherwise the bridge's (null without one).
          bridged_date: fromUnix(tx === ZERO_TX ? b.Date : bridgeDate),
          token_address: b["Token Address"]!, project_id: b["Project ID"]!, quantity, original_tx_address: tx,
          project_id_key: v.project_id_key, name: v.name, region: v.region, country: v.country, country_code: v.country_code,
          project_type: v.project_type, methodology: v.methodology,
          bridge: "Moss", vintage: serialVintage(b["Serial Number"]), mco2_quantity: quantity, total_quantity: quantity,
        }));
      }),
    };
  },

  // §5.8 + docs/datasets.md §9 Q11: merge (Verra's id added; region, methodology kept), beneficiary from the first
  // Moss retirement of the transaction (its retiree when null), retirement_date, vintage year,
  // total_quantity and mco2_quantity both = quantity.
  eth_retired_offsets_v2: (lake) => {
    const verra = verraFirstRowById(lake("verra_data_v2"));
    const moss = new Map<string, Row>();
    for (const m of lake("raw_eth_moss_retired_offsets").rows) if (!moss.has(m["Tx ID"] as string)) moss.set(m["Tx ID"] as string, m);
    return {
      columns: cols(`quantity:float, retirement_date:timestamp, retiree:string, token_address:string, bridge:string, region:string,
        vintage:int, project_id:string, standard:string, methodology:string, total_quantity:float, tx_id:string,
        tx_from_address:string, project_id_key:string, id:string, name:string, country:string, country_code:string,
        project_type:string, beneficiary:string, mco2_quantity:float`),
      rows: lake("raw_eth_retired_offsets").rows.map((r) => {
        const v = verraSide(verra, r["Project ID"]);
        const m = moss.get(r["Tx ID"] as string);
        return {
          quantity: r.Quantity!, retirement_date: fromUnix(r.Date), retiree: r.Retiree!, token_address: r["Token Address"]!,
          bridge: r.Bridge!, region: r.Region!, vintage: vintageYear(r.Vintage), project_id: r["Project ID"]!, standard: r.Standard!,
          methodology: r.Methodology!, total_quantity: r.Quantity!, tx_id: r["Tx ID"]!, tx_from_address: r["Tx From Address"]!,
          project_id_key: v.project_id_key, id: v.id, name: v.name, country: v.country, country_code: v.country_code,
          project_type: v.project_type, beneficiary: m ? m.Beneficiary ?? m.Retiree ?? null : null, mco2_quantity: r.Quantity!,
        };
      }),
    };
  },

  // §5.9: latest holding per (holder, token), summed per holder (tokens mixed, Q16), addresses ascending.
  offsets_holders_data: (lake) => {
    const latest = new Map<string, Row>();
    const when = (r: Row) => (typeof r.Date === "number" ? r.Date : -Infinity);
    for (const h of lake("raw_offsets_holders_data").rows) {
      const key = `${h.Klimate_Address}-${h.Token}`;
      const seen = latest.get(key);
      if (!seen || when(h) > when(seen)) latest.set(key, h);
    }
    const sums = new Map<string, number>();
    for (const h of latest.values()) {
      const address = h.Klimate_Address as string;
      sums.set(address, (sums.get(address) ?? 0) + (typeof h.Quantity === "number" ? h.Quantity : 0));
    }
    return {
      columns: cols("klimate_address:string, quantity:float, klimate_name:string"),
      rows: [...sums.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((address) => ({
        klimate_address: address, quantity: sums.get(address)!,
        klimate_name: HOLDER_NAMES[address] ?? `${address.slice(0, 4)}...${address.slice(-1)}`,
      })),
    };
  },

  // §5.10: Retirement Date text as UTC, Origin Klima, the pool address as its token symbol.
  polygon_klima_retirements: (lake) => ({
    columns: cols("transaction_id:string, beneficiary:string, project_id:string, bridge:string, token:string, retirement_date:timestamp, quantity:float, proof:string, origin:string"),
    rows: lake("raw_polygon_klima_retirements").rows.map((r) => ({
      transaction_id: r["Transaction ID"]!, beneficiary: r.Beneficiary!, project_id: r["Project ID"]!, bridge: r.Bridge!,
      token: TOKEN_ADDRESS.find(([, address]) => address === r.Token)?.[0] ?? null,
      retirement_date: parseUtcText(r["Retirement Date"]), quantity: r.Quantity!, proof: r.Proof!, origin: "Klima",
    })),
  }),

  // §5.11: Verra retirements then Klima ones, newest first; ties keep Verra's rows before Klima's, each in its order.
  all_retirements: (lake) => {
    const offchain = lake("verra_retirements").rows.map((r): Row => ({
      beneficiary: r.retirement_beneficiary ?? null, retirement_date: r.retirement_date ?? null, serial_number: r.serial_number ?? null,
      bridge: r.bridge ?? null, project_id: r.project_id ?? null, quantity: r.quantity ?? null,
      origin: "Offchain", transaction_id: null, token: null,
    }));
    const klima = lake("polygon_klima_retirements").rows.map((r): Row => ({
      beneficiary: r.beneficiary ?? null, retirement_date: r.retirement_date ?? null, serial_number: null,
      bridge: r.bridge ?? null, project_id: r.project_id ?? null, quantity: r.quantity ?? null,
      origin: r.origin ?? null, transaction_id: r.transaction_id ?? null, token: r.token ?? null,
    }));
    const both = [...offchain, ...klima].map((row, position) => ({ row, position }));
    const time = (r: Row) => (r.retirement_date instanceof Date ? r.retirement_date.getTime() : -Infinity); // NaT last
    both.sort((a, b) => time(b.row) - time(a.row) || a.position - b.position);
    return {
      columns: cols("beneficiary:string, retirement_date:timestamp, serial_number:string, bridge:string, project_id:string, quantity:float, origin:string, transaction_id:string, token:string"),
      rows: both.map((x) => x.row),
    };
  },

  // §5.12: labels, ID and Timestamp dropped, date = calendar day of the datetime text; rows as upstream.
  eth_carbon_metrics: (lake) => metrics(lake("raw_eth_carbon_metrics"), ["mco2Supply", "totalCarbonSupply", "mco2Retired", "totalRetirements"],
    "date, mco2_supply, total_carbon_supply, mco2_retired, total_retirements"),
  celo_carbon_metrics: (lake) => metrics(lake("raw_celo_carbon_metrics"),
    ["bctSupply", "nctSupply", "mco2Supply", "totalCarbonSupply", "mco2Retired", "totalRetirements"],
    "date, bct_supply, nct_supply, mco2_supply, total_carbon_supply, mco2_retired, total_retirements"),
  polygon_carbon_metrics: (lake) => metrics(lake("raw_polygon_carbon_metrics"), [
    "bctSupply", "nctSupply", "mco2Supply", "uboSupply", "nboSupply", "bctRedeemed", "nctRedeemed", "uboRedeemed", "nboRedeemed",
    "totalCarbonSupply", "mco2Retired", "tco2Retired", "c3tRetired", "totalRetirements", "bctKlimaRetired", "nctKlimaRetired",
    "mco2KlimaRetired", "uboKlimaRetired", "nboKlimaRetired", "totalKlimaRetirements", "tco2KlimaRetired", "c3tKlimaRetired", "not_klima_retired",
  ], `date, bct_supply, nct_supply, mco2_supply, ubo_supply, nbo_supply, bct_redeemed, nct_redeemed, ubo_redeemed, nbo_redeemed,
      total_carbon_supply, mco2_retired, tco2_retired, c3t_retired, total_retirements, bct_klima_retired, nct_klima_retired,
      mco2_klima_retired, ubo_klima_retired, nbo_klima_retired, total_klima_retirements, tco2_klima_retired, c3t_klima_retired,
      not_klima_retired`),
};

function poolEvents(raw: Table, dateName: string): Expected {
  return {
    columns: cols(`quantity:float, ${dateName}:timestamp, pool:string`),
    rows: raw.rows.map((r) => ({ quantity: r.Quantity!, [dateName]: fromUnix(r.Date), pool: typeof r.Pool === "string" ? r.Pool.toLowerCase() : null })),
  };
}

/** The vintage from a Verra serial: the 4 characters ending 11 before the end; null when they are not a year (docs/datasets.md §9 Q20). */
function serialVintage(serial: Value | undefined): number | null {
  if (typeof serial !== "string") return null;
  const year = serial.slice(-15, -11);
  return /^\d{4}$/.test(year) ? Number(year) : null;
}

/** `YYYY-MM-DD HH:MM:SS` read as UTC (docs/datasets.md §9 Q8, Q17). */
function parseUtcText(text: Value | undefined): Date | null {
  if (typeof text !== "string") return null;
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(text);
  assert.ok(m, `unexpected datetime text ${JSON.stringify(text)}`);
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
}

/** Metric labels of §5.12, before auto-rename. */
const METRIC_LABEL: Record<string, string> = {
  bctSupply: "BCT supply", nctSupply: "NCT supply", mco2Supply: "MCO2 supply", uboSupply: "UBO supply", nboSupply: "NBO supply",
  bctRedeemed: "BCT redeemed", nctRedeemed: "NCT redeemed", uboRedeemed: "UBO redeemed", nboRedeemed: "NBO redeemed",
  totalCarbonSupply: "Total carbon supply",
  mco2Retired: "MCO2 retired", tco2Retired: "TCO2 retired", c3tRetired: "C3T retired",
  totalRetirements: "Total retirements",
  bctKlimaRetired: "BCT Klima retired", nctKlimaRetired: "NCT Klima retired", mco2KlimaRetired: "MCO2 Klima retired",
  uboKlimaRetired: "UBO Klima retired", nboKlimaRetired: "NBO Klima retired", tco2KlimaRetired: "TCO2 Klima retired",
  c3tKlimaRetired: "C3T Klima retired",
  totalKlimaRetirements: "Total Klima retirements",
  not_klima_retired: "Not Klima retired",
};

function metrics(raw: Table, fields: string[], columns: string): Expected {
  const names = columns.trim().split(/\s*,\s*/);
  assert.deepEqual(names, ["date", ...fields.map((f) => snake(METRIC_LABEL[f]!))], "the §5.12 column list agrees with its labels");
  return {
    columns: names.map((n): [string, ColumnType] => [n, n === "date" ? "date" : "float"]),
    rows: raw.rows.map((r) => {
      const text = r.carbonMetrics_datetime as string;
      assert.match(text, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
      const row: Row = { date: new Date(Date.UTC(+text.slice(0, 4), +text.slice(5, 7) - 1, +text.slice(8, 10))) };
      for (const f of fields) row[snake(METRIC_LABEL[f]!)] = r[`carbonMetrics_${f}`] ?? null;
      return row;
    }),
  };
}

// ------------------------------------------------------------ comparison

const show = (v: Value) => (v instanceof Date ? v.toISOString() : JSON.stringify(v));

function sameCell(got: Value, want: Value, type: ColumnType): boolean {
  if (got === null || want === null) return got === want;
  if (want instanceof Date) return got instanceof Date && got.getTime() === want.getTime();
  if (type === "float" && typeof got === "number" && typeof want === "number") {
    return got === want || Math.abs(got - want) <= 1e-9 * Math.max(Math.abs(got), Math.abs(want));
  }
  return got === want;
}

function assertTable(slug: string, got: Table, want: Expected): void {
  const names = want.columns.map(([n]) => n);
  for (const [i, row] of want.rows.entries()) {
    // A guard on this file's own expectations: every expected row has exactly the expected columns.
    assert.deepEqual(Object.keys(row).sort(), [...names].sort(), `${slug}: expected row ${i} is malformed (test bug)`);
  }
  assert.deepEqual(got.columns.map((c) => `${c.name}:${c.type}`), want.columns.map(([n, t]) => `${n}:${t}`), `${slug}: column names, order and types`);
  assert.equal(got.rows.length, want.rows.length, `${slug}: row count`);
  const problems: string[] = [];
  let differing = 0;
  for (let i = 0; i < want.rows.length; i++) {
    for (const [name, type] of want.columns) {
      const have = got.rows[i]![name] ?? null;
      const expected = want.rows[i]![name] ?? null;
      if (sameCell(have, expected, type)) continue;
      differing++;
      if (problems.length < 10) problems.push(`row ${i} ${name}: got ${show(have)}, expected ${show(expected)}`);
    }
  }
  assert.equal(differing, 0, `${slug}: ${differing} cells differ, first ones:\n  ${problems.join("\n  ")}`);
}

const check = (lake: Lake, slug: string) => assertTable(slug, lake(slug), EXPECTED[slug]!(lake));
const count = <T>(items: T[], keep: (item: T) => boolean) => items.reduce((n, item) => n + (keep(item) ? 1 : 0), 0);

// ------------------------------------------------------------ the datasets of the build

test("assets_prices: today's live row first, then the daily closes of other days", () => {
  const lake = lakeAt(cwd);
  check(lake, "assets_prices");
  const got = lake("assets_prices").rows;
  assert.ok(daysOfBuild.includes((got[0]!.date as Date).getTime()), `row 0 is today's: ${show(got[0]!.date!)}`);
  assert.ok(["bct", "nct", "mco2", "ubo", "nbo"].every((t) => got[0]![`${t}_address`] === null), "the live row has no addresses");
  assert.ok(got.length > 100);
});

for (const slug of ["polygon_pools_retired_offsets", "polygon_pools_redeemed_offsets", "polygon_pools_deposited_offsets"]) {
  test(`${slug}: timestamp renamed in place, lower-case pools, snake_case names`, () => {
    const lake = lakeAt(cwd);
    check(lake, slug);
    const raw = lake(`raw_${slug}`).rows;
    assert.ok(raw.length > 1000);
    assert.ok(new Set(raw.map((r) => r.Pool)).size >= 4, "several pools");
    if (slug === "polygon_pools_retired_offsets") assert.ok(raw.some((r) => r.Pool === null), "retirements outside a pool keep a null pool");
  });
}

test("verra_retirements: off-chain retirements only", () => {
  const lake = lakeAt(cwd);
  check(lake, "verra_retirements");
  const verra = lake("verra_data_v2").rows;
  assert.ok(count(verra, (r) => r.status === "Retired" && (r.toucan === true || r.c3 === true || r.moss === true)) > 0, "bridged retirements left out");
  assert.ok(count(verra, (r) => r.status === "Available") > 0, "available credits left out");
});

/** What the Verra merge of a v2 dataset met in the generated data: matches, misses, and ids Verra repeats. */
function assertMergeExercised(lake: Lake, slug: string, projectIds: Value[], options: { allMiss?: boolean } = {}) {
  const verra = lake("verra_data_v2").rows;
  const ids = new Set(verra.map((r) => String(r.id)));
  const keys = projectIds.map(projectIdKey);
  const matched = count(keys, (k) => k !== null && ids.has(k));
  if (options.allMiss) {
    assert.equal(matched, 0, `${slug}: no Verra match expected (Q21)`);
    return;
  }
  assert.ok(matched > 0, `${slug}: some rows match a Verra project`);
  assert.ok(matched < keys.length, `${slug}: some rows match none`);
  const rowsPerId = new Map<string, number>();
  for (const r of verra) rowsPerId.set(String(r.id), (rowsPerId.get(String(r.id)) ?? 0) + 1);
  assert.ok(keys.some((k) => k !== null && (rowsPerId.get(k) ?? 0) > 1), `${slug}: some matched ids have several Verra rows (first one wins)`);
}

test("polygon_retired_offsets_v2: Verra merge, region fix, retirement_date, pool quantities", () => {
  const lake = lakeAt(cwd);
  check(lake, "polygon_retired_offsets_v2");
  const raw = lake("raw_polygon_retired_offsets").rows;
  assertMergeExercised(lake, "polygon_retired_offsets_v2", raw.map((r) => r["Project ID"]!));
  assert.ok(raw.some((r) => !String(r["Project ID"]).startsWith("VCS-")), "non-Verra registries too");
  for (const region of Object.keys(REGION_FIX)) assert.ok(raw.some((r) => r.Region === region), `region "${region}" to fix`);
  assert.ok(raw.some((r) => r.Region === ""), "an empty region stays empty");
  assert.ok(raw.every((r) => ["BCT", "NCT", "MCO2", "UBO", "NBO"].every((t) => typeof r[`Credit ${t} Quantity`] === "number")), "no null pool balance (Q6: 0)");
  assert.ok(raw.some((r) => r["Credit BCT Quantity"] !== 0 && r["Credit NCT Quantity"] !== 0), "a credit in two pools counts in both (Q15)");
  assert.ok(raw.some((r) => ["BCT", "NCT", "UBO", "NBO"].every((t) => r[`Credit ${t} Quantity`] === 0)), "a credit in no pool");
});

test("polygon_bridged_offsets_v2: Verra merge with Verra's methodology, null bridged_date when never bridged", () => {
  const lake = lakeAt(cwd);
  check(lake, "polygon_bridged_offsets_v2");
  const raw = lake("raw_polygon_bridged_offsets").rows;
  assertMergeExercised(lake, "polygon_bridged_offsets_v2", raw.map((r) => r["Project ID"]!));
  const got = lake("polygon_bridged_offsets_v2").rows;
  assert.ok(count(got, (r) => r.bridged_date === null) > 0, "some credits were never bridged (docs/datasets.md §9 Q6)");
  assert.ok(count(got, (r) => r.bridged_date !== null) > 0, "some were");
  assert.ok(got.some((r) => r.methodology !== null && r.methodology !== r.carboncredits_project_methodologies), "methodology is Verra's, not the subgraph's");
  for (const region of ["Latin America", "Asia"]) assert.ok(raw.some((r) => r.Region === region), `region "${region}" to fix`);
});

test("eth_moss_bridged_offsets_v2: Verra merge, serial vintage, bridge-transaction dates", () => {
  const lake = lakeAt(cwd);
  check(lake, "eth_moss_bridged_offsets_v2");
  const batches = lake("raw_eth_moss_bridged_offsets").rows;
  const ids = new Set(lake("verra_data_v2").rows.map((r) => String(r.id)));
  assert.ok(batches.some((b) => ids.has(projectIdKey(b["Project ID"])!)), "some batches match a Verra project");
  assert.ok(batches.every((b) => typeof b["Original Tx Address"] === "string"), "every batch has an original transaction");
  const bridgeTxs = new Map<string, number>();
  for (const t of lake("raw_eth_bridged_offsets_transactions").rows) bridgeTxs.set(t["Tx Address"] as string, (bridgeTxs.get(t["Tx Address"] as string) ?? 0) + 1);
  assert.ok(batches.some((b) => b["Original Tx Address"] === ZERO_TX), "zero transaction: own date");
  assert.ok(batches.some((b) => b["Original Tx Address"] !== ZERO_TX && !bridgeTxs.has(b["Original Tx Address"] as string)), "unknown transaction: null date");
  assert.ok(batches.some((b) => (bridgeTxs.get(b["Original Tx Address"] as string) ?? 0) > 1), "a transaction with several bridges repeats the batch");
  assert.ok(batches.some((b) => typeof b.Quantity === "number" && !Number.isInteger(b.Quantity)), "a fractional quantity to truncate");
  assert.ok(lake("eth_moss_bridged_offsets_v2").rows.length > batches.length);
});

test("eth_retired_offsets_v2: Verra merge adds id, beneficiary from the Moss retirements, mco2_quantity = quantity", () => {
  const lake = lakeAt(cwd);
  check(lake, "eth_retired_offsets_v2");
  const raw = lake("raw_eth_retired_offsets").rows;
  assertMergeExercised(lake, "eth_retired_offsets_v2", raw.map((r) => r["Project ID"]!), { allMiss: true });
  assert.ok(raw.every((r) => r.Vintage === ""), "the subgraph's empty vintage (Q21): null");
  const tokenTotals = raw.filter((r) => r["Total Quantity"] !== r.Quantity);
  assert.ok(tokenTotals.length > 0, "the upstream total is the token's cumulative total, which Q11 replaces");
  const got = lake("eth_retired_offsets_v2").rows;
  assert.ok(got.some((r) => r.beneficiary === ""), "an empty beneficiary stays empty");
  assert.ok(got.some((r) => typeof r.beneficiary === "string" && r.beneficiary !== ""), "named beneficiaries");
});

test("offsets_holders_data: latest holding per token, summed per holder, short names", () => {
  const lake = lakeAt(cwd);
  check(lake, "offsets_holders_data");
  const raw = lake("raw_offsets_holders_data").rows;
  const perKey = new Map<string, number>();
  for (const h of raw) perKey.set(`${h.Klimate_Address}-${h.Token}`, (perKey.get(`${h.Klimate_Address}-${h.Token}`) ?? 0) + 1);
  assert.ok([...perKey.values()].some((n) => n > 1), "older holdings of a token are left out");
  const tokensPerHolder = new Map<string, Set<Value>>();
  for (const h of raw) tokensPerHolder.set(h.Klimate_Address as string, (tokensPerHolder.get(h.Klimate_Address as string) ?? new Set()).add(h.Token!));
  assert.ok([...tokensPerHolder.values()].some((s) => s.size > 1), "holders of several tokens (summed together, Q16)");
  const names = lake("offsets_holders_data").rows.map((r) => r.klimate_name);
  assert.ok(names.includes("KlimaDAO") && names.includes("Olympus DAO"));
});

test("polygon_klima_retirements: UTC timestamps, origin, token symbols", () => {
  const lake = lakeAt(cwd);
  check(lake, "polygon_klima_retirements");
  const tokens = new Set(lake("polygon_klima_retirements").rows.map((r) => r.token));
  for (const t of ["BCT", "NCT", "UBO", "NBO", null]) assert.ok(tokens.has(t), `token ${t}`);
});

test("all_retirements: Verra and Klima rows, newest first, ties in a stable order", () => {
  const lake = lakeAt(cwd);
  check(lake, "all_retirements");
  const got = lake("all_retirements").rows;
  assert.ok(count(got, (r) => r.origin === "Offchain") > 100 && count(got, (r) => r.origin === "Klima") > 100, "both origins");
  const times = got.map((r) => (r.retirement_date as Date).getTime());
  assert.ok(times.some((t, i) => i > 0 && t === times[i - 1]), "ties on retirement_date");
  assert.ok(got.some((r, i) => i > 0 && r.origin !== got[i - 1]!.origin), "the two origins interleave");
});

for (const slug of ["eth_carbon_metrics", "celo_carbon_metrics", "polygon_carbon_metrics"]) {
  test(`${slug}: labels, the calendar day, newest first`, () => {
    const lake = lakeAt(cwd);
    check(lake, slug);
    assert.ok(lake(slug).rows.length > 100);
  });
}

// ------------------------------------------------------------ rules the generated data does not reach

test("the derived flows again, on upstreams edited to reach the remaining rules", async () => {
  const dir = path.join(root, "edited");
  cpSync(path.join(cwd, "data", "lake"), path.join(dir, "data", "lake"), { recursive: true });
  const original = lakeAt(cwd);
  const edit = (slug: string, change: (rows: Row[]) => Row[]) => {
    const table = original(slug);
    writeLatest(dir, slug, { columns: table.columns, rows: change(table.rows.map((r) => ({ ...r }))) });
  };

  // assets_prices: the raw closes already hold today's day (its close is replaced by the live row).
  const today = (original("current_assets_prices").rows[0]!.date as Date).getTime();
  edit("raw_assets_prices", (rows) => [{ ...rows[0]!, Date: new Date(today) }, ...rows]);

  // Carbon metrics: times of day other than midnight, also the last second of a day.
  for (const slug of ["raw_eth_carbon_metrics", "raw_celo_carbon_metrics", "raw_polygon_carbon_metrics"]) {
    edit(slug, (rows) => rows.map((r, i) => {
      const text = r.carbonMetrics_datetime as string;
      return i % 3 === 0 ? { ...r, carbonMetrics_datetime: `${text.slice(0, 10)} ${i % 2 ? "23:59:59" : "13:45:07"}` } : r;
    }));
  }

  // verra_data_v2: a second row for an id the polygon credits use, with other values: the first row still wins.
  const polygonKeys = new Set(original("raw_polygon_retired_offsets").rows.map((r) => projectIdKey(r["Project ID"])));
  const duplicated = original("verra_data_v2").rows.findIndex((r) => polygonKeys.has(String(r.id)));
  assert.ok(duplicated >= 0);
  edit("verra_data_v2", (rows) => {
    const copy: Row = { ...rows[duplicated]!, name: "Later duplicate", country: "Kenya", country_code: "KEN", project_type: "Other", methodology: "VM9999", region: "Africa" };
    return [...rows.slice(0, duplicated + 1), copy, ...rows.slice(duplicated + 1)];
  });
  const matchedId = String(original("verra_data_v2").rows[duplicated]!.id);

  // eth_retired_offsets_v2: a Verra match (its id is added, the dataset's region and methodology kept),
  // null and numeric vintages, Moss beneficiaries that are null (the Moss retiree then).
  edit("raw_eth_retired_offsets", (rows) => rows.map((r, i) =>
    i % 50 === 0 ? { ...r, "Project ID": `VCS-${matchedId}`, Region: "Asia", Methodology: "VM0001", Vintage: i % 100 === 0 ? null : "1262304000" } : r));
  edit("raw_eth_moss_retired_offsets", (rows) => rows.map((r, i) => (i % 4 === 0 ? { ...r, Beneficiary: null } : r)));

  // eth_moss_bridged_offsets_v2 (docs/datasets.md §9 Q20): malformed serials and a null quantity give nulls.
  edit("raw_eth_moss_bridged_offsets", (rows) => rows.map((r, i) =>
    i === 0 ? { ...r, "Serial Number": "MALFORMED-SERIAL-NUMBER-XX" } : i === 1 ? { ...r, "Serial Number": "SHORT" } : i === 2 ? { ...r, Quantity: null } : r));

  // all_retirements: Klima retirements at the very time of Verra ones (ties across origins).
  const verraTimes = original("verra_retirements").rows.map((r) => r.retirement_date as Date);
  edit("polygon_klima_retirements", (rows) => rows.map((r, i) => (i % 7 === 0 ? { ...r, retirement_date: verraTimes[(i * 13) % verraTimes.length]! } : r)));

  const rerun = [
    "assets_prices", "eth_carbon_metrics", "celo_carbon_metrics", "polygon_carbon_metrics", "polygon_retired_offsets_v2",
    "polygon_bridged_offsets_v2", "eth_moss_bridged_offsets_v2", "eth_retired_offsets_v2", "all_retirements",
  ];
  const result = await runScript("scripts/build_all.ts", ["--only", rerun.join(",")], { cwd: dir, env: sources.env });
  assert.equal(result.code, 0, `build_all --only failed:\n${result.stdout.slice(-4000)}\n${result.stderr.slice(-4000)}`);

  const lake = lakeAt(dir);
  const failures: string[] = [];
  for (const slug of rerun) {
    try {
      check(lake, slug);
    } catch (error) {
      failures.push((error as Error).message);
    }
  }
  assert.equal(failures.length, 0, failures.join("\n\n"));

  // The edits reached the rules they aim at.
  const prices = lake("assets_prices").rows;
  assert.equal(count(prices, (r) => (r.date as Date).getTime() === today), 1, "one row of today's date: the live one");
  assert.equal(prices.length, original("assets_prices").rows.length);
  assert.ok(lake("raw_eth_carbon_metrics").rows.some((r) => (r.carbonMetrics_datetime as string).endsWith("23:59:59")));
  const retired = lake("eth_retired_offsets_v2").rows;
  assert.ok(retired.some((r) => r.id === matchedId && r.region === "Asia" && r.methodology === "VM0001" && r.name !== "Later duplicate" && r.name !== null));
  assert.ok(retired.some((r) => r.vintage === 1970) && retired.some((r) => r.vintage === 2010));
  const mossRetiree = new Map(lake("raw_eth_moss_retired_offsets").rows.filter((m) => m.Beneficiary === null).map((m) => [m["Tx ID"], m.Retiree]));
  assert.ok(retired.some((r) => mossRetiree.has(r.tx_id!) && r.beneficiary === mossRetiree.get(r.tx_id!)), "beneficiary from the Moss retiree");
  const bridged = lake("eth_moss_bridged_offsets_v2").rows;
  assert.ok(bridged.some((r) => r.serial_number === "SHORT" && r.vintage === null) && bridged.some((r) => r.quantity === null));
  const all = lake("all_retirements").rows;
  assert.ok(all.some((r, i) => i > 0 && r.origin === "Klima" && all[i - 1]!.origin === "Offchain"
    && (r.retirement_date as Date).getTime() === (all[i - 1]!.retirement_date as Date).getTime()), "a cross-origin tie");
});
