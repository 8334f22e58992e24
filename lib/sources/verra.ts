// The Verra registry client: the complete VCS issuance dataset, fetched by
// issuance-date windows (the API ignores $skip/$top and times out unfiltered).
// Month windows from 2009, plus open-ended windows before and after so that an
// unexpectedly early or late record is never lost; a window that comes back
// with fewer rows than its totalCount is split in two, down to single days.
import { mapPool } from "../core/concurrency.ts";
import { count, INVALID, shown } from "../table/columns.ts";
import { SourceError, ValidationError } from "../core/errors.ts";
import { httpBounds, postJson } from "./http.ts";
import { ColumnarTable, concatVectors, DictText, vectorBuilder, type Column, type ColumnType, type Value, type Vector } from "../table/table.ts";
import type { SourceContext } from "./context.ts";

/** Verra key -> column name and type (docs/datasets.md §4.1). Unknown keys pass through as they are. */
export const VERRA_COLUMNS: Record<string, [string, ColumnType]> = {
  issuanceDate: ["Issuance Date", "string"],
  programObjectives: ["Sustainable Development Goals", "string"],
  instrumentType: ["Credit Type", "string"],
  vintageStart: ["Vintage Start", "string"],
  vintageEnd: ["Vintage End", "string"],
  reportingPeriodStart: ["Reporting Period Start", "string"],
  reportingPeriodEnd: ["Reporting Period End", "string"],
  resourceIdentifier: ["ID", "string"],
  resourceName: ["Name", "string"],
  region: ["Region", "string"],
  country: ["Country", "string"],
  protocolCategory: ["Project Type", "string"],
  protocol: ["Methodology", "string"],
  totalVintageQuantity: ["Total Vintage Quantity", "int"],
  quantity: ["Quantity Issued", "int"],
  serialNumbers: ["Serial Number", "string"],
  additionalCertifications: ["Additional Certifications", "string"],
  retiredCancelled: ["Is Cancelled", "bool"],
  retireOrCancelDate: ["Retirement/Cancellation Date", "string"],
  retirementBeneficiary: ["Retirement Beneficiary", "string"],
  retirementReason: ["Retirement Reason", "string"],
  retirementDetails: ["Retirement Details", "string"],
  inputTypes: ["Input Type", "string"],
  holdingIdentifier: ["Holding ID", "string"],
};

export type VerraRecord = Record<string, unknown>;

/** An inclusive window of issuance days; a missing bound is open. Days are UTC-midnight ms. */
export interface Window {
  start?: number;
  end?: number;
}

const DAY = 86_400_000;
const YEAR_DAYS = 365;
/** VCS issuances start in 2009; earlier records land in the open "before" window. */
const FIRST_MONTH = Date.UTC(2009, 0, 1);

export function dayText(day: number): string {
  return new Date(day).toISOString().slice(0, 10);
}

export function describeWindow(w: Window): string {
  return `${w.start === undefined ? "…" : dayText(w.start)} to ${w.end === undefined ? "…" : dayText(w.end)}`;
}

/** Before 2009, each month from January 2009 to the month of `now`, and after it. */
export function monthWindows(now: Date): Window[] {
  const windows: Window[] = [{ end: FIRST_MONTH - DAY }];
  let year = 2009;
  let month = 0;
  const lastYear = now.getUTCFullYear();
  const lastMonth = now.getUTCMonth();
  while (year < lastYear || (year === lastYear && month <= lastMonth)) {
    const start = Date.UTC(year, month, 1);
    const next = Date.UTC(year, month + 1, 1);
    windows.push({ start, end: next - DAY });
    month++;
    if (month === 12) { month = 0; year++; }
  }
  windows.push({ start: Date.UTC(lastYear, lastMonth + 1, 1) });
  return windows;
}

/** Two windows covering `w` exactly; undefined for a single day, which cannot be split. */
export function splitWindow(w: Window): [Window, Window] | undefined {
  if (w.start !== undefined && w.end !== undefined) {
    if (w.end <= w.start) return undefined;
    const mid = w.start + Math.floor((w.end - w.start) / DAY / 2) * DAY;
    return [{ start: w.start, end: mid }, { start: mid + DAY, end: w.end }];
  }
  // An open window gives up its nearest year, and stays open beyond it.
  if (w.end !== undefined) return [{ end: w.end - YEAR_DAYS * DAY }, { start: w.end - (YEAR_DAYS - 1) * DAY, end: w.end }];
  if (w.start !== undefined) return [{ start: w.start, end: w.start + (YEAR_DAYS - 1) * DAY }, { start: w.start + YEAR_DAYS * DAY }];
  return undefined;
}

const MIN_OPEN = Date.UTC(1900, 0, 1);
const MAX_OPEN = Date.UTC(2200, 0, 1);

interface Answer {
  totalCount: number;
  value: VerraRecord[];
}

function checkAnswer(answer: unknown, where: string): Answer {
  const a = answer as Partial<Answer> | null;
  if (!a || typeof a !== "object" || !Array.isArray(a.value) || typeof a.totalCount !== "number") {
    throw new SourceError(`${where}: answer has no totalCount and value array`, false);
  }
  if (a.value.some((r) => !r || typeof r !== "object" || Array.isArray(r))) {
    throw new SourceError(`${where}: value holds something other than records`, false);
  }
  return a as Answer;
}

/** Fetch every VCS issuance record (or the first `verraMaxRecords`, oldest first) as the raw_verra_data table. */
export async function fetchVerra(ctx: SourceContext): Promise<ColumnarTable> {
  const { config, log } = ctx;
  const cap = config.verraMaxRecords;
  const windows = monthWindows(ctx.now);
  let rowsSoFar = 0;
  let requests = 0;
  let windowsDone = 0;
  // The first failure stops the other windows: no new one starts, the requests under way are aborted
  // (and fail as "cancelled"); that first failure is the one every window reports.
  const stop = new AbortController();
  const dictionaries: Dictionaries = new Map();
  let failure: { error: unknown } | undefined;

  const fetchWindow = async (w: Window): Promise<VerraRecord[]> => {
    try {
      return await fetchWindowRecords(w);
    } catch (error) {
      failure ??= { error };
      stop.abort();
      throw failure.error;
    }
  };

  const fetchWindowRecords = async (w: Window): Promise<VerraRecord[]> => {
    const what = `Verra issuances ${describeWindow(w)}`;
    const answer = await ctx.retry(what, async () => {
      requests++;
      const body: Record<string, unknown> = { program: "VCS", issuanceTypeCodes: ["ISSUE"] };
      if (w.start !== undefined) body.issuanceStartInclusive = dayText(w.start);
      if (w.end !== undefined) body.issuanceEndInclusive = dayText(w.end);
      const query = { $maxResults: "20000", $count: "true", $skip: "0", format: "csv" }; // as the original sent them (Q24)
      return checkAnswer(await postJson(config.urls.verraSearch, body, { ...httpBounds(config), what, query, signal: stop.signal, turn: ctx.turn }), what);
    });
    if (answer.value.length > answer.totalCount) {
      throw new SourceError(`${what}: ${answer.value.length} rows, more than its totalCount ${answer.totalCount}`, false);
    }
    if (answer.value.length === answer.totalCount) return answer.value;
    const halves = splitWindow(w);
    const tooFar = (h: Window) => (h.start === undefined && h.end! < MIN_OPEN) || (h.end === undefined && h.start! > MAX_OPEN);
    if (!halves || halves.some(tooFar)) {
      throw new SourceError(
        `${what}: the registry answered ${answer.value.length} of ${answer.totalCount} rows and the window cannot be split further`,
        false,
      );
    }
    log.info(`${what}: ${answer.value.length} of ${answer.totalCount} rows in one answer; splitting`);
    const [first, second] = halves;
    return [...(await fetchWindow(first)), ...(await fetchWindow(second))];
  };

  const parts = await mapPool(
    windows,
    config.verraConcurrency,
    async (w) => {
      // Columns are made as each window arrives, so the parsed answers do not pile up in memory.
      const part = toColumns(await fetchWindow(w), dictionaries);
      rowsSoFar += part.length;
      windowsDone++;
      log.progress(`Verra: ${windowsDone}/${windows.length} windows, ${rowsSoFar.toLocaleString("en-US")} rows`);
      return part;
    },
    () => stop.signal.aborted || (cap !== undefined && rowsSoFar >= cap),
  );
  const result = assemble(parts.filter(Boolean), cap);
  log.info(`Verra: ${result.length} records from ${requests} requests over ${windows.length} windows`);
  return result;
}

/** Records to the raw_verra_data table: keys renamed, in order of first appearance. */
export function verraTable(records: VerraRecord[]): ColumnarTable {
  return assemble([toColumns(records, new Map())]);
}

/** The records of one window, by columns. */
interface Part {
  /** Verra keys in order of first appearance. */
  keys: string[];
  length: number;
  /** The known columns' vectors, in the order of KNOWN. */
  known: Vector[];
  /** Keys we do not know: each record's raw value (undefined where it has none), typed in `assemble`. */
  unknown: Map<string, unknown[]>;
  /** Typed columns whose values did not all parse, by column name. */
  invalid: Map<string, Unparsed>;
}

/** Keys whose values repeat across records (one project, country, date ... has many issuances). */
const REPEATED = new Set([
  "issuanceDate", "programObjectives", "instrumentType", "vintageStart", "vintageEnd", "reportingPeriodStart",
  "reportingPeriodEnd", "resourceIdentifier", "resourceName", "region", "country", "protocolCategory", "protocol",
  "additionalCertifications", "retireOrCancelDate", "retirementBeneficiary", "retirementReason", "inputTypes",
]);
// A repeated key's column is codes into its distinct values (a DictText): JSON.parse makes a new
// string per occurrence, and 500,000 records hold millions of copies of a few thousand names. One
// dictionary per key for the whole fetch, so that the windows' columns join by their codes.
type Dictionaries = Map<string, { codes: Map<string, number>; values: string[] }>;

function codeOf(dictionary: { codes: Map<string, number>; values: string[] }, value: string): number {
  let code = dictionary.codes.get(value);
  if (code === undefined) {
    code = dictionary.values.push(value) - 1;
    dictionary.codes.set(value, code);
  }
  return code;
}

/** The known keys, renamed and typed. */
const KNOWN = Object.entries(VERRA_COLUMNS).map(([key, [name, type]]) => ({ key, name, type, repeated: REPEATED.has(key) && type === "string" }));

function toColumns(records: VerraRecord[], dictionaries: Dictionaries): Part {
  const keys = new Set<string>();
  const invalid = new Map<string, Unparsed>();
  const valueAt = (r: number, key: string, name: string, type: ColumnType): Value => {
    const raw = records[r]![key];
    const value = coerce(raw, type);
    if (value !== INVALID) return value;
    countInvalid(invalid, name, type, raw);
    return null;
  };
  const known = KNOWN.map(({ key, name, type, repeated }): Vector => {
    if (repeated) {
      let dictionary = dictionaries.get(key);
      if (!dictionary) dictionaries.set(key, (dictionary = { codes: new Map(), values: [] }));
      const codes = new Int32Array(records.length);
      for (let r = 0; r < records.length; r++) {
        const value = valueAt(r, key, name, type) as string | null;
        codes[r] = value === null ? -1 : codeOf(dictionary, value);
      }
      return new DictText(codes, dictionary.values);
    }
    const out = vectorBuilder({ name, type }, records.length);
    for (let r = 0; r < records.length; r++) out.set(r, valueAt(r, key, name, type));
    return out.vector;
  });
  const unknown = new Map<string, unknown[]>();
  records.forEach((record, r) => {
    for (const key in record) {
      keys.add(key);
      if (key in VERRA_COLUMNS) continue;
      let values = unknown.get(key);
      if (!values) unknown.set(key, (values = new Array(records.length)));
      values[r] = record[key];
    }
  });
  return { keys: [...keys], length: records.length, known, unknown, invalid };
}

/** Present values of a typed column that do not parse as its type: how many, and the first. */
interface Unparsed {
  type: ColumnType;
  count: number;
  first: unknown;
}

function countInvalid(invalid: Map<string, Unparsed>, name: string, type: ColumnType, raw: unknown): void {
  const seen = invalid.get(name);
  if (seen) seen.count++;
  else invalid.set(name, { type, count: 1, first: raw });
}

const EXPECTED: Partial<Record<ColumnType, string>> = { int: "a whole number", float: "a number", bool: "true or false" };

/**
 * Concatenate the parts in order (capped), type the unknown columns, fill missing keys with null.
 * Fails when a typed column met values that do not parse as its type (docs/architecture.md §6): never nulls for nonsense.
 */
function assemble(parts: Part[], cap?: number): ColumnarTable {
  const keys = new Set<string>();
  const invalid = new Map<string, Unparsed>();
  for (const part of parts) {
    for (const key of part.keys) keys.add(key);
    for (const [name, u] of part.invalid) {
      const seen = invalid.get(name);
      if (seen) seen.count += u.count;
      else invalid.set(name, { ...u });
    }
  }
  if (invalid.size) {
    throw new ValidationError([...invalid].map(([name, u]) =>
      `column ${name}: ${count(u.count)} ${u.count === 1 ? "value does" : "values do"} not parse as ${EXPECTED[u.type] ?? u.type} (first: ${shown(u.first)})`).join("; "));
  }
  const length = Math.min(parts.reduce((n, p) => n + p.length, 0), cap ?? Infinity);
  const knownAt = new Map(KNOWN.map((k, i) => [k.key, i]));
  const columns: Column[] = [];
  const vectors: Vector[] = [];
  for (const key of keys) {
    const k = knownAt.get(key);
    if (k !== undefined) {
      const column = { name: KNOWN[k]!.name, type: KNOWN[k]!.type };
      columns.push(column);
      vectors.push(concatVectors(column, parts.map((p) => p.known[k]!), length));
      continue;
    }
    // A key Verra added that we do not know: the narrowest type that holds every value (nothing is lost).
    const raw = parts.map((p) => ({ length: p.length, read: (i: number) => p.unknown.get(key)?.[i] }));
    const column: Column = { name: key, type: inferType(raw, length) };
    columns.push(column);
    vectors.push(concatenated(column, length, raw.map((p) => ({ length: p.length, read: (i: number) => coerce(p.read(i), column.type) as Value }))));
  }
  return new ColumnarTable(columns, vectors, length);
}

/** The parts' values one after the other, the first `length`, as a column's vector. */
function concatenated(column: Column, length: number, parts: { length: number; read: (i: number) => Value | undefined }[]): Vector {
  const out = vectorBuilder(column, length);
  let at = 0;
  for (const part of parts) {
    for (let i = 0; i < part.length && at < length; i++) out.set(at++, part.read(i) ?? null);
  }
  return out.vector;
}

/** A value as its column's type: null when absent, INVALID when present but not of that type. */
function coerce(value: unknown, type: ColumnType): Value | typeof INVALID {
  if (value === undefined || value === null) return null;
  switch (type) {
    case "string":
      return typeof value === "string" ? value : typeof value === "object" ? JSON.stringify(value) : String(value);
    case "int": {
      const n = typeof value === "string" && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
      return typeof n === "number" && Number.isSafeInteger(n) ? n : INVALID;
    }
    case "float":
      return typeof value === "number" ? value : INVALID;
    case "bool":
      return typeof value === "boolean" ? value : value === "true" ? true : value === "false" ? false : INVALID;
    default:
      return INVALID;
  }
}

/** The type of a key Verra added that we do not know: the narrowest that holds every value (of the first `length`). */
function inferType(parts: { length: number; read: (i: number) => unknown }[], length: number): ColumnType {
  let type: ColumnType | undefined;
  let at = 0;
  for (const part of parts) {
    for (let i = 0; i < part.length && at < length; i++, at++) {
      const v = part.read(i);
      if (v === null || v === undefined) continue;
      const t: ColumnType = typeof v === "boolean" ? "bool" : typeof v === "number" ? (Number.isSafeInteger(v) ? "int" : "float") : "string";
      if (type === undefined || type === t) type = t;
      else if ((type === "int" && t === "float") || (type === "float" && t === "int")) type = "float";
      else return "string";
    }
  }
  return type ?? "string";
}
