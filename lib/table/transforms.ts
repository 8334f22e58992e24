// Transformations shared by several flows (docs/datasets.md §3.2), column by column: each reads the
// vectors it needs and makes the ones it adds; the columns it keeps are shared, not copied.
import { UserError } from "../core/errors.ts";
import { renameColumns, withVectors } from "./operations.ts";
import { cell, ColumnarTable, columnar, take, vectorBuilder, type Column, type Table, type Value, type Vector } from "./table.ts";

/** auto-rename: spaces to `_`, then lower case; nothing else changes. */
export function snakeName(name: string): string {
  return name.replaceAll(" ", "_").toLowerCase();
}

/** Rename every column with `snakeName`, keeping order and values. */
export function autoRename(input: Table): Table {
  return renameColumns(input, snakeName);
}

/**
 * Parse a date or date-time text as naive UTC: `2021-03-04`, `2021-03-04T05:06:07`,
 * `2021-03-04 05:06:07`, with or without fraction and offset (an offset is applied).
 */
export function parseUtc(text: string | null | undefined): Date | null {
  const ms = utcMs(text);
  return ms !== ms ? null : new Date(ms);
}

/** {@link parseUtc} as milliseconds since the epoch, NaN for none (what a timestamp vector holds). */
export function utcMs(text: string | null | undefined): number {
  if (!text) return Number.NaN;
  // Dates repeat (a registry has thousands of rows per day): each text is parsed once.
  let ms = parsedUtc.get(text);
  if (ms === undefined) {
    ms = parseUtcMs(text) ?? Number.NaN;
    if (parsedUtc.size >= 100_000) parsedUtc.clear();
    parsedUtc.set(text, ms);
  }
  return ms;
}

const parsedUtc = new Map<string, number>();

function parseUtcMs(text: string): number | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/.exec(text.trim());
  if (!match) return null;
  const [y, mo, d, h, mi, s] = match.slice(1, 8).map((part) => Number(part ?? 0)) as number[];
  const zone = match[8];
  const naive = Date.UTC(y!, mo! - 1, d!, h!, mi!, s!, Number((match[7] ?? "").padEnd(3, "0").slice(0, 3)));
  // Date.UTC rolls impossible parts over (2021-02-30 -> March 2): refuse them instead.
  const check = new Date(naive);
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo! - 1 || check.getUTCDate() !== d
    || check.getUTCHours() !== h || check.getUTCMinutes() !== mi || check.getUTCSeconds() !== s) return null;
  let ms = naive;
  if (zone && zone !== "Z") {
    const sign = zone.startsWith("-") ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
  }
  return ms;
}

// ------------------------------------------------------------ shared steps of the derived datasets (docs/datasets.md §3.2)

const DAY = 86_400_000;

/** Unix seconds (a number or decimal text) as a Date; null stays null. */
export function fromUnix(value: Value | undefined): Date | null {
  const ms = unixMs(value);
  return ms !== ms ? null : new Date(ms);
}

/** {@link fromUnix} as milliseconds (NaN for none), truncated toward zero as a Date would be. */
function unixMs(value: Value | undefined): number {
  if (value === null || value === undefined || value === "") return Number.NaN;
  const seconds = Number(value);
  return Number.isFinite(seconds) ? Math.trunc(seconds * 1000) + 0 : Number.NaN;
}

/** A Date at UTC midnight of its day. */
export function utcDay(date: Date | null): Date | null {
  return date === null ? null : new Date(Math.floor(date.getTime() / DAY) * DAY);
}

/** Each value of a vector as a cell, one by one: `at(i)`. */
function reader(vector: Vector, column: Column): (i: number) => Value {
  return (i) => cell(vector, column.type, i);
}

/** The vector of a column of `input`, by name. */
function vectorNamed(input: ColumnarTable, name: string): { vector: Vector; column: Column } {
  const at = input.columns.findIndex((c) => c.name === name);
  return { vector: input.vectors[at]!, column: input.columns[at]! };
}

/** date manipulation: the unix-seconds column `date` (or `Date`) becomes timestamp column `target`, in place. */
export function unixToTimestamp(input: Table, target: string): Table {
  const source = input.columns.find((c) => c.name === "date")?.name ?? input.columns.find((c) => c.name === "Date")?.name;
  if (!source) throw new UserError(`no date column to turn into ${target}`);
  const t = columnar(input);
  const { vector, column } = vectorNamed(t, source);
  const read = reader(vector, column);
  const ms = new Float64Array(t.length);
  for (let i = 0; i < t.length; i++) ms[i] = unixMs(read(i));
  const columns = t.columns.map((c): Column => (c.name === source ? { name: target, type: "timestamp" } : c));
  return new ColumnarTable(columns, t.vectors.map((v, k) => (t.columns[k]!.name === source ? ms : v)), t.length);
}

const REGION_FIXES: Record<string, string> = {
  "South Korea": "Korea, Republic of",
  "Latin America": "Belize", // Verra confirmed this mapping to the original's authors
  Oceania: "Indonesia",
  Asia: "Cambodia",
};

/** region fix: continent names the map charts cannot place, replaced by a country (kept for the dashboard, Q19). */
export function fixRegions(input: Table): Table {
  const name = input.columns.find((c) => c.name === "region" || c.name === "Region")?.name;
  if (!name) return input;
  return mapStrings(input, name, (region) => (region !== null && region in REGION_FIXES ? REGION_FIXES[region]! : region));
}

/** Column `name` as text, each value through `map` (a value that is not text reads as null). */
function mapStrings(input: Table, name: string, map: (value: string | null) => string | null): Table {
  const t = columnar(input);
  const text = t.textAt(name);
  const out: (string | null)[] = new Array(t.length);
  for (let i = 0; i < t.length; i++) out[i] = map(text ? text(i) : null);
  return withVectors(t, [{ name, type: "string" }], [out]);
}

/** vintage manipulation: unix seconds text to its calendar year; null counts as 0 (1970), empty or unreadable text is null. */
export function vintageYear(value: Value | undefined): number | null {
  const date = fromUnix(value === null || value === undefined ? 0 : value);
  return date === null ? null : date.getUTCFullYear();
}

const POOLS = ["bct", "nct", "nbo", "ubo"] as const;

/**
 * pool quantities: `<pool>_quantity` is the row's whole `quantity` where the credit has a balance in that
 * pool, else 0 (the original's rule, kept: a credit in two pools counts in both, Q15). The
 * `credit_<token>_quantity` columns are dropped, MCO2's too (Q5).
 */
export function poolQuantities(input: Table): Table {
  const t = columnar(input);
  const dropped = new Set(["bct", "nct", "mco2", "ubo", "nbo"].map((token) => `credit_${token}_quantity`));
  const keep = t.columns.map((c, k) => k).filter((k) => !dropped.has(t.columns[k]!.name));
  const quantity = numbers(t, "quantity");
  const added = POOLS.map((pool) => {
    const credit = numbers(t, `credit_${pool}_quantity`);
    const out = new Float64Array(t.length);
    // Number(null ?? 0) is 0: a credit without a balance in the pool counts 0.
    for (let i = 0; i < t.length; i++) out[i] = credit && credit[i]! === credit[i]! && credit[i] !== 0 ? (quantity ? quantity[i]! : Number.NaN) : 0;
    return out;
  });
  return new ColumnarTable(
    [...keep.map((k) => t.columns[k]!), ...POOLS.map((p): Column => ({ name: `${p}_quantity`, type: "float" }))],
    [...keep.map((k) => t.vectors[k]!), ...added],
    t.length,
  );
}

/** A column's numbers (NaN for null), or undefined when the table has no such column. */
function numbers(t: ColumnarTable, name: string): Float64Array | undefined {
  const at = t.columns.findIndex((c) => c.name === name);
  if (at < 0) return undefined;
  const v = t.vectors[at]!;
  if (v instanceof Float64Array && t.columns[at]!.type !== "timestamp" && t.columns[at]!.type !== "date") return v;
  const out = new Float64Array(t.length);
  const read = reader(v, t.columns[at]!);
  for (let i = 0; i < t.length; i++) {
    const x = read(i);
    out[i] = x === null ? Number.NaN : Number(x);
  }
  return out;
}

const VERRA_MERGE = ["id", "name", "region", "country", "country_code", "project_type", "methodology"];

/** The columns of verra_data_v2 that a merge reads (plus any extra merge columns). */
export const VERRA_MERGE_COLUMNS: readonly string[] = VERRA_MERGE;

/**
 * merge with Verra v2 (docs/datasets.md §3.2): `project_id_key` (project_id without `VCS-`), left join on
 * it with verra_data_v2's first row per id. name, country, project_type and country_code always come
 * from Verra (null without a match); region, methodology and id only where the dataset lacks them.
 */
export function mergeWithVerra(input: Table, verra: Table, extra: { merge?: string[]; drop?: string[] } = {}): Table {
  const left = columnar(input);
  const right = columnar(verra);
  const merge = [...VERRA_MERGE, ...(extra.merge ?? [])];
  const idAt = right.columns.findIndex((c) => c.name === "id");
  const byId = idAt < 0 ? new Map<string, number>() : firstRowById(right.vectors[idAt]!, right.columns[idAt]!, right.length);
  const dropped = new Set(["name", "country", "project_type", ...(extra.drop ?? [])]);
  const kept = left.columns.map((c, k) => k).filter((k) => !dropped.has(left.columns[k]!.name));
  const leftNames = new Set(kept.map((k) => left.columns[k]!.name));
  // Verra's columns that the dataset does not have come after its own, in Verra's merge order.
  const fromVerra = merge.filter((name) => !leftNames.has(name) && name !== "project_id_key");
  // Each row's key (project_id without "VCS-") and the Verra row it matches (-1: none).
  const projectIds = left.columns.findIndex((c) => c.name === "project_id");
  const readProjectId = projectIds < 0 ? () => null : reader(left.vectors[projectIds]!, left.columns[projectIds]!);
  const keys: (string | null)[] = new Array(left.length);
  const matches = new Int32Array(left.length);
  for (let i = 0; i < left.length; i++) {
    const projectId = readProjectId(i);
    const key = projectId === null ? null : String(projectId).slice(4);
    keys[i] = key;
    matches[i] = key === null ? -1 : byId.get(key) ?? -1;
  }
  const added = fromVerra.map((name): { column: Column; vector: Vector } => {
    const at = right.columns.findIndex((c) => c.name === name);
    if (name === "id") {
      const ids = at < 0 ? undefined : reader(right.vectors[at]!, right.columns[at]!);
      const out: (string | null)[] = new Array(left.length);
      for (let i = 0; i < left.length; i++) out[i] = matches[i]! < 0 || !ids ? null : String(ids(matches[i]!));
      return { column: { name, type: "string" }, vector: out };
    }
    if (at < 0) return { column: { name, type: "string" }, vector: new Array(left.length).fill(null) };
    return { column: { name, type: right.columns[at]!.type }, vector: take(right.vectors[at]!, matches) };
  });
  return new ColumnarTable(
    [...kept.map((k) => left.columns[k]!), { name: "project_id_key", type: "string" }, ...added.map((a) => a.column)],
    [...kept.map((k) => left.vectors[k]!), keys, ...added.map((a) => a.vector)],
    left.length,
  );
}

/**
 * Each id's first row among the first `length` of a vector of ids, read as `column`'s type. Kept per
 * vector: the four flows that merge with verra_data_v2 in one build are handed the same vectors, so
 * its ids (200,000 at the bench scale) are read once, not once per flow. A vector is never changed
 * once made.
 */
const firstRows = new WeakMap<Vector, { length: number; type: Column["type"]; byId: Map<string, number> }>();
function firstRowById(ids: Vector, column: Column, length: number): Map<string, number> {
  const known = firstRows.get(ids);
  if (known?.length === length && known.type === column.type) return known.byId;
  const byId = new Map<string, number>();
  const read = reader(ids, column);
  for (let i = 0; i < length; i++) {
    const id = read(i);
    if (id !== null && !byId.has(String(id))) byId.set(String(id), i);
  }
  firstRows.set(ids, { length, type: column.type, byId });
  return byId;
}

/** `Pool` (or `pool`) lower-cased, null stays null. */
export function lowerCasePools(input: Table): Table {
  const name = input.columns.find((c) => c.name === "Pool" || c.name === "pool")?.name;
  if (!name) return input;
  return mapStrings(input, name, (pool) => (pool === null ? null : pool.toLowerCase()));
}

/** Metric labels of the carbon-metrics datasets, before auto-rename (docs/datasets.md §5.12). */
const METRIC_LABELS: Record<string, string> = {
  totalCarbonSupply: "Total carbon supply",
  totalRetirements: "Total retirements",
  totalKlimaRetirements: "Total Klima retirements",
  not_klima_retired: "Not Klima retired",
};

function metricLabel(field: string): string {
  if (METRIC_LABELS[field]) return METRIC_LABELS[field]!;
  const match = /^([a-z0-9]+?)(Supply|Redeemed|Retired|KlimaRetired)$/.exec(field);
  if (!match) return field;
  const what = { Supply: "supply", Redeemed: "redeemed", Retired: "retired", KlimaRetired: "Klima retired" }[match[2] as "Supply"];
  return `${match[1]!.toUpperCase()} ${what}`;
}

/**
 * A raw carbon-metrics table as the dashboard reads it: `date` (the calendar day of the
 * `carbonMetrics_datetime` text) then each metric under its label, snake-cased; newest first.
 */
export function carbonMetricsByDay(raw: Table): Table {
  const t = columnar(raw);
  const metrics = t.columns.map((c, k) => k).filter((k) => {
    const name = t.columns[k]!.name;
    return name.startsWith("carbonMetrics_") && !["carbonMetrics_id", "carbonMetrics_timestamp", "carbonMetrics_datetime"].includes(name);
  });
  const datetime = t.columns.findIndex((c) => c.name === "carbonMetrics_datetime");
  const readDatetime = datetime < 0 ? () => null : reader(t.vectors[datetime]!, t.columns[datetime]!);
  const days = new Float64Array(t.length);
  for (let i = 0; i < t.length; i++) {
    const text = readDatetime(i);
    const ms = typeof text === "string" ? utcMs(text) : Number.NaN;
    days[i] = Math.floor(ms / DAY) * DAY; // NaN stays NaN
  }
  const columns: Column[] = [
    { name: "date", type: "date" },
    ...metrics.map((k): Column => ({ name: snakeName(metricLabel(t.columns[k]!.name.slice("carbonMetrics_".length))), type: "float" })),
  ];
  const vectors = metrics.map((k) => {
    const v = t.vectors[k]!;
    const type = t.columns[k]!.type;
    if (v instanceof Float64Array && (type === "int" || type === "float")) return v;
    const out = vectorBuilder(columns[1 + metrics.indexOf(k)]!, t.length); // a metric that is not a number fails here, as in the writer
    for (let i = 0; i < t.length; i++) out.set(i, cell(v, type, i));
    return out.vector;
  });
  return new ColumnarTable(columns, [days, ...vectors], t.length);
}
