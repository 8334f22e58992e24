// Transformations shared by several flows (docs/datasets.md §3.2).
import { UserError } from "../core/errors.ts";
import { mapTable, projector, renamer, withColumns, type Column, type Row, type Table, type Value } from "./table.ts";

/** auto-rename: spaces to `_`, then lower case; nothing else changes. */
export function snakeName(name: string): string {
  return name.replaceAll(" ", "_").toLowerCase();
}

/** Rename every column with `snakeName`, keeping order and values. */
export function autoRename(input: Table): Table {
  return renameColumns(input, snakeName);
}

export function renameColumns(input: Table, rename: (name: string) => string): Table {
  const pairs = input.columns.map((c) => [c.name, rename(c.name)] as const);
  if (pairs.every(([from, to]) => from === to)) return input;
  const columns: Column[] = input.columns.map((c) => ({ ...c, name: rename(c.name) }));
  return { columns, rows: input.rows.map(renamer(pairs)) };
}

/**
 * Parse a date or date-time text as naive UTC: `2021-03-04`, `2021-03-04T05:06:07`,
 * `2021-03-04 05:06:07`, with or without fraction and offset (an offset is applied).
 */
export function parseUtc(text: string | null | undefined): Date | null {
  if (!text) return null;
  // Dates repeat (a registry has thousands of rows per day): each text is parsed once.
  let ms = parsedUtc.get(text);
  if (ms === undefined) {
    ms = parseUtcMs(text);
    if (parsedUtc.size >= 100_000) parsedUtc.clear();
    parsedUtc.set(text, ms);
  }
  return ms === null ? null : new Date(ms);
}

const parsedUtc = new Map<string, number | null>();

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
  if (value === null || value === undefined || value === "") return null;
  const seconds = Number(value);
  return Number.isFinite(seconds) ? new Date(seconds * 1000) : null;
}

/** A Date at UTC midnight of its day. */
export function utcDay(date: Date | null): Date | null {
  return date === null ? null : new Date(Math.floor(date.getTime() / DAY) * DAY);
}

/** date manipulation: the unix-seconds column `date` (or `Date`) becomes timestamp column `target`, in place. */
export function unixToTimestamp(input: Table, target: string): Table {
  const source = input.columns.find((c) => c.name === "date")?.name ?? input.columns.find((c) => c.name === "Date")?.name;
  if (!source) throw new UserError(`no date column to turn into ${target}`);
  const columns = input.columns.map((c): Column => (c.name === source ? { name: target, type: "timestamp" } : c));
  const make = projector(columns.map((c) => c.name), input.columns.map((c) => (c.name === source ? { computed: 0 } : { copy: c.name })));
  return { columns, rows: input.rows.map((row) => make(row, [fromUnix(row[source])])) };
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
  return withColumns(input, [{ name, type: "string" }], (row) => {
    const region = row[name] as string | null;
    return [region !== null && region in REGION_FIXES ? REGION_FIXES[region]! : region];
  });
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
  const dropped = new Set(["bct", "nct", "mco2", "ubo", "nbo"].map((t) => `credit_${t}_quantity`));
  const kept = input.columns.filter((c) => !dropped.has(c.name));
  const columns: Column[] = [...kept, ...POOLS.map((p): Column => ({ name: `${p}_quantity`, type: "float" }))];
  const make = projector(columns.map((c) => c.name), [...kept.map((c) => ({ copy: c.name })), ...POOLS.map((_, i) => ({ computed: i }))]);
  const credits = POOLS.map((p) => `credit_${p}_quantity`);
  return {
    columns,
    rows: input.rows.map((row) => make(row, credits.map((credit) => (Number(row[credit] ?? 0) !== 0 ? (row.quantity as number | null) : 0)))),
  };
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
  const merge = [...VERRA_MERGE, ...(extra.merge ?? [])];
  const byId = new Map<string, Row>();
  for (const row of verra.rows) {
    const id = row.id === null || row.id === undefined ? null : String(row.id);
    if (id !== null && !byId.has(id)) byId.set(id, row);
  }
  const verraTypes = new Map(verra.columns.map((c) => [c.name, c.type]));
  const dropped = new Set(["name", "country", "project_type", ...(extra.drop ?? [])]);
  const left = input.columns.filter((c) => !dropped.has(c.name));
  const leftNames = new Set(left.map((c) => c.name));
  // Verra's columns that the dataset does not have come after its own, in Verra's merge order.
  const fromVerra = merge.filter((name) => !leftNames.has(name) && name !== "project_id_key");
  const columns: Column[] = [
    ...left,
    { name: "project_id_key", type: "string" },
    ...fromVerra.map((name): Column => ({ name, type: name === "id" ? "string" : verraTypes.get(name) ?? "string" })),
  ];
  const make = projector(columns.map((c) => c.name), [...left.map((c) => ({ copy: c.name })), ...columns.slice(left.length).map((_, i) => ({ computed: i }))]);
  // The values after the dataset's own depend on the key only: made once per key.
  const joined = new Map<string | null, Value[]>();
  const valuesOf = (key: string | null): Value[] => {
    let values = joined.get(key);
    if (!values) {
      const match = key === null ? undefined : byId.get(key);
      values = [key, ...fromVerra.map((name) => (match ? (name === "id" ? String(match.id) : match[name] ?? null) : null))];
      joined.set(key, values);
    }
    return values;
  };
  return {
    columns,
    rows: input.rows.map((row) => {
      const projectId = row.project_id;
      return make(row, valuesOf(projectId === null || projectId === undefined ? null : String(projectId).slice(4)));
    }),
  };
}

/** `Pool` (or `pool`) lower-cased, null stays null. */
export function lowerCasePools(input: Table): Table {
  const name = input.columns.find((c) => c.name === "Pool" || c.name === "pool")?.name;
  if (!name) return input;
  return withColumns(input, [{ name, type: "string" }], (row) => [typeof row[name] === "string" ? (row[name] as string).toLowerCase() : null]);
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
  const metrics = raw.columns.filter((c) => c.name.startsWith("carbonMetrics_") && !["carbonMetrics_id", "carbonMetrics_timestamp", "carbonMetrics_datetime"].includes(c.name));
  const columns: Column[] = [
    { name: "date", type: "date" },
    ...metrics.map((c): Column => ({ name: snakeName(metricLabel(c.name.slice("carbonMetrics_".length))), type: "float" })),
  ];
  return mapTable(raw, columns, (row) => [
    utcDay(parseUtc(row.carbonMetrics_datetime as string | null)),
    ...metrics.map((c) => row[c.name] ?? null),
  ]);
}
