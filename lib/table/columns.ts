// Declarative columns for subgraph flows: each output column says its type and
// the path it reads in an entity (`retire.credit.project.name`), with the unit
// conversions the datasets use. `tableOf(entities, columns)` flattens them, and
// refuses values that do not parse as their column's type (docs/architecture.md §6): a null is
// a value the source said was null, never one we could not read.
import { ValidationError } from "../core/errors.ts";
import { ColumnarTable, take, Utf8Builder, vectorBuilder, withRoom, type ColumnType, type Value } from "./table.ts";

/** A record as a source returns it: scalars as strings/numbers/booleans, nested objects, lists. */
export type Entity = { [field: string]: unknown };

/** What a column met that it could not use while the table is made (one per column, an entry per problem only). */
export interface Tally {
  /** The record being read: its index among every record the table was given. */
  row: number;
  /**
   * Each value met that could not be used, with its record (its cell is null): a field absent from
   * the entity (not null: absent) though its parent is there, or a present value that does not parse
   * as the column's type (`raw`).
   */
  problems: Array<{ row: number; missing: true } | { row: number; missing: false; raw: unknown }>;
}

export interface ColumnSpec {
  type: ColumnType;
  /** The cell of this entity; what cannot be used is counted in `tally` (the cell is then null). */
  read(entity: Entity, tally: Tally): Value;
  /** What a value must be, for messages: "a number". */
  expected?: string;
  /** The dotted path read, for messages. */
  path?: string;
}

/** A present value that does not parse as the type asked for. */
export const INVALID: unique symbol = Symbol("invalid");
type Parsed<T> = T | null | typeof INVALID;

/** The value at a dotted path; null when any step is null or missing. */
export function at(entity: Entity, path: string): unknown {
  return reader(path)(entity) ?? null;
}

/**
 * `at` for one path, its steps split once (a column reads the same path in every entity). Null when
 * a step is null (a relation without a value); undefined when a step is absent from an object that
 * is there. GraphQL answers every selected field, null when it has no value, so an absent one means
 * the answer is not what was asked.
 */
function reader(path: string): (entity: Entity) => unknown {
  const steps = path.split(".");
  return (entity) => {
    let value: unknown = entity;
    for (const step of steps) {
      if (value === null) return null;
      if (typeof value !== "object") return undefined;
      value = (value as Entity)[step];
      if (value === undefined) return undefined;
    }
    return value;
  };
}

// Number texts as the subgraphs write them: BigInt and BigDecimal (graph-node never writes hex,
// blanks or "Infinity", which Number() would accept).
const DECIMAL_TEXT = /^-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$/;
const WHOLE_TEXT = /^-?\d+$/;

/** A decimal string (BigInt or BigDecimal) or a number as a float, parsed directly (no BigInt round trip). */
export function parseDecimal(value: unknown): Parsed<number> {
  if (value === null || value === undefined) return null;
  if (typeof value === "number") return Number.isFinite(value) ? value : INVALID;
  return typeof value === "string" && DECIMAL_TEXT.test(value) ? Number(value) : INVALID;
}

/** A BigInt amount in 18-decimal native units as tonnes, rounded once (exact for the decimal text). */
export function parseTonnes(value: unknown): Parsed<number> {
  if (value === null || value === undefined) return null;
  const text = typeof value === "number" && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof text !== "string" || !WHOLE_TEXT.test(text)) return INVALID;
  const negative = text.startsWith("-");
  const digits = (negative ? text.slice(1) : text).padStart(19, "0");
  return Number(`${negative ? "-" : ""}${digits.slice(0, -18)}.${digits.slice(-18)}`);
}

/** A whole number (BigInt text or Int) that a double holds exactly. */
export function parseInteger(value: unknown): Parsed<number> {
  if (value === null || value === undefined) return null;
  const n = typeof value === "number" ? value : typeof value === "string" && WHOLE_TEXT.test(value) ? Number(value) : Number.NaN;
  return Number.isSafeInteger(n) ? n : INVALID;
}

/** Unix seconds as `YYYY-MM-DD HH:MM:SS` in UTC (the original used the machine's zone, UTC in production). */
export function parseUnixText(value: unknown): Parsed<string> {
  const seconds = parseDecimal(value);
  if (seconds === null || seconds === INVALID) return seconds;
  const date = new Date(seconds * 1000);
  if (Number.isNaN(date.getTime())) return INVALID;
  const iso = date.toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
}

/** A scalar as text; an object (a path that stops at an entity instead of its field) does not parse. */
function parseText(value: unknown): Parsed<string> {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return value;
  return typeof value === "object" && !Array.isArray(value) ? INVALID : String(value);
}

const lenient = <T>(parsed: Parsed<T>): T | null => (parsed === INVALID ? null : parsed);

/** A source value read outside a declared column (a lookup, a join key): one that does not parse fails the flow, naming it. */
export function checked<T>(parsed: Parsed<T>, what: string, value: unknown): T | null {
  if (parsed === INVALID) throw new ValidationError(`${what}: ${shown(value)} does not parse as a number`);
  return parsed;
}

// The lenient forms, for values where a null is an acceptable answer to nonsense (a lookup's default).
/** `parseDecimal`, with null for what does not parse. */
export const decimal = (value: unknown): number | null => lenient(parseDecimal(value));
/** `parseTonnes`, with null for what does not parse. */
export const tonnes = (value: unknown): number | null => lenient(parseTonnes(value));
/** `parseUnixText`, with null for what does not parse. */
export const unixText = (value: unknown): string | null => lenient(parseUnixText(value));

/** A column of `type`: the value at `path` of each entity, converted; absent fields and unparsed values counted. */
const atPath = (type: ColumnType, expected: string, parse: (value: unknown) => Parsed<Value>) => (path: string): ColumnSpec => {
  const read = reader(path);
  return {
    type,
    expected,
    path,
    read: (entity, tally) => {
      const raw = read(entity);
      if (raw === undefined) {
        tally.problems.push({ row: tally.row, missing: true });
        return null;
      }
      const value = parse(raw);
      if (value !== INVALID) return value;
      tally.problems.push({ row: tally.row, missing: false, raw });
      return null;
    },
  };
};

export const col = {
  string: atPath("string", "text", parseText),
  /** Unix seconds or any whole number (BigInt text or Int). */
  int: atPath("int", "a whole number", parseInteger),
  /** BigDecimal (or BigInt) text as a float, no unit change. */
  float: atPath("float", "a number", parseDecimal),
  /** An 18-decimal BigInt amount in tonnes. */
  tonnes: atPath("float", "a number", parseTonnes),
  /** Unix seconds as a `YYYY-MM-DD HH:MM:SS` UTC string. */
  datetimeText: atPath("string", "a number", parseUnixText),
  /** Anything else: a function of the entity (it checks what it reads itself). */
  computed: (type: ColumnType, read: (e: Entity) => Value): ColumnSpec => ({ type, read }),
};

/**
 * Flatten entities into a table with these columns, in this order. Fails (ValidationError, once,
 * naming every column at fault) when a value does not parse as its column's type or a field is
 * absent from the answer: a table of nulls where the source sent nonsense is never returned.
 */
export function tableOf(entities: Entity[], columns: Record<string, ColumnSpec>): ColumnarTable {
  const table = tableBuilder(columns);
  table.add(entities);
  return table.finish();
}

/**
 * `tableOf` a batch of entities at a time (a subgraph's pages as they arrive): each batch is read
 * into the columns at once, text as UTF-8 bytes, so that its entities can go. `finish` gives the
 * table, its rows in `order` when given (indices into all the entities added), and fails as
 * `tableOf` does.
 */
export function tableBuilder(columns: Record<string, ColumnSpec>): { add(entities: Entity[]): void; finish(order?: ArrayLike<number>): ColumnarTable } {
  const specs = Object.entries(columns);
  const tallies: Tally[] = specs.map(() => ({ row: 0, problems: [] }));
  const table = specs.map(([name, spec]) => ({ name, type: spec.type }));
  // Each column in buffers that grow as batches come (a batch's own vector is young garbage at once).
  const built = table.map((column) => (column.type === "string" ? new Utf8Builder(column.name) : column.type === "bool" ? growing(Uint8Array) : growing(Float64Array)));
  let records = 0;
  return {
    add(entities) {
      specs.forEach(([, { read }], i) => {
        const batch = vectorBuilder(table[i]!, entities.length);
        const tally = tallies[i]!;
        for (let r = 0; r < entities.length; r++) {
          tally.row = records + r;
          batch.set(r, read(entities[r]!, tally));
        }
        built[i]!.append(batch.vector as never);
      });
      records += entities.length;
    },
    finish(order) {
      // A record past the cap (not in `order`) is no problem of the table.
      const kept = order && order.length < records ? keptRows(order, records) : undefined;
      const problems = specs.flatMap(([name, spec], i) => tallyProblems(name, spec, tallies[i]!, order ? order.length : records, kept));
      if (problems.length) throw new ValidationError(problems.join("; "));
      // Records that came in their order (most collections) are not copied into it.
      const reorder = order && !isEveryRowInOrder(order, records) ? order : undefined;
      const vectors = built.map((b) => (reorder ? take(b.finish(), reorder) : b.finish()));
      return new ColumnarTable(table, vectors, order ? order.length : records);
    },
  };
}

/** Whether `order` is every one of `records` rows, as they are. */
function isEveryRowInOrder(order: ArrayLike<number>, records: number): boolean {
  if (order.length !== records) return false;
  for (let i = 0; i < records; i++) if (order[i] !== i) return false;
  return true;
}

/** 1 at each record of `order`, among `records`. */
function keptRows(order: ArrayLike<number>, records: number): Uint8Array {
  const kept = new Uint8Array(records);
  for (let k = 0; k < order.length; k++) kept[order[k]!] = 1;
  return kept;
}

/** A typed array appended to a batch at a time, in a buffer that grows by half when full. */
function growing<T extends Float64Array | Uint8Array>(Type: { new (length: number): T }): { append(values: T): void; finish(): T } {
  let data = new Type(1024);
  let length = 0;
  return {
    append(values) {
      data = withRoom(data, length + values.length, length);
      data.set(values, length);
      length += values.length;
    },
    finish: () => data.subarray(0, length) as T,
  };
}

/** The lines for a column's problems among the records kept (all without `kept`); the first invalid value as it came. */
function tallyProblems(name: string, spec: ColumnSpec, tally: Tally, records: number, kept?: Uint8Array): string[] {
  const problems = kept ? tally.problems.filter((p) => kept[p.row]) : tally.problems;
  const missing = problems.filter((p) => p.missing).length;
  const invalid = problems.flatMap((p) => (p.missing ? [] : [p.raw]));
  const lines: string[] = [];
  if (missing) {
    lines.push(`column ${name}: field ${spec.path ?? "?"} is absent from ${count(missing)} of ${count(records)} records (the source did not answer it)`);
  }
  if (invalid.length) {
    lines.push(`column ${name}: ${count(invalid.length)} ${invalid.length === 1 ? "value does" : "values do"} not parse as ${spec.expected ?? spec.type} (first: ${shown(invalid[0])})`);
  }
  return lines;
}

export const count = (n: number): string => n.toLocaleString("en-US");

/** A value as it appeared in the answer, short enough for one line. */
export function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
