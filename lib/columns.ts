// Declarative columns for subgraph flows: each output column says its type and
// the path it reads in an entity (`retire.credit.project.name`), with the unit
// conversions the datasets use. `tableOf(entities, columns)` flattens them.
import type { Entity } from "./subgraph.ts";
import { rowMaker, type ColumnType, type Table, type Value } from "./table.ts";

export interface ColumnSpec {
  type: ColumnType;
  read(entity: Entity): Value;
}

/** The value at a dotted path; null when any step is missing. */
export function at(entity: Entity, path: string): unknown {
  return reader(path)(entity);
}

/** `at` for one path, its steps split once (a column reads the same path in every entity). */
function reader(path: string): (entity: Entity) => unknown {
  const steps = path.split(".");
  return (entity) => {
    let value: unknown = entity;
    for (const step of steps) {
      if (value === null || value === undefined || typeof value !== "object") return null;
      value = (value as Entity)[step];
    }
    return value ?? null;
  };
}

/** A decimal string (BigInt or BigDecimal) as a float, parsed directly (no BigInt round trip). */
export function decimal(value: unknown): number | null {
  if (value === null || value === undefined || value === "") return null;
  const n = Number(value);
  return Number.isNaN(n) ? null : n;
}

/** A BigInt amount in 18-decimal native units as tonnes, rounded once (exact for the decimal text). */
export function tonnes(value: unknown): number | null {
  if (value === null || value === undefined || value === "") return null;
  const text = String(value);
  const negative = text.startsWith("-");
  const digits = (negative ? text.slice(1) : text).padStart(19, "0");
  const n = Number(`${negative ? "-" : ""}${digits.slice(0, -18)}.${digits.slice(-18)}`);
  return Number.isNaN(n) ? null : n;
}

/** Unix seconds as `YYYY-MM-DD HH:MM:SS` in UTC (the original used the machine's zone, UTC in production). */
export function unixText(value: unknown): string | null {
  const seconds = decimal(value);
  if (seconds === null) return null;
  const iso = new Date(seconds * 1000).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
}

function integer(value: unknown): number | null {
  const n = decimal(value);
  return n !== null && Number.isSafeInteger(n) ? n : null;
}

const text = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));

/** A column of `type`: the value at `path` of each entity, converted. */
const atPath = (type: ColumnType, convert: (value: unknown) => Value) => (path: string): ColumnSpec => {
  const read = reader(path);
  return { type, read: (e) => convert(read(e)) };
};

export const col = {
  string: atPath("string", text),
  /** Unix seconds or any whole number (BigInt text or Int). */
  int: atPath("int", integer),
  /** BigDecimal (or BigInt) text as a float, no unit change. */
  float: atPath("float", decimal),
  /** An 18-decimal BigInt amount in tonnes. */
  tonnes: atPath("float", tonnes),
  /** Unix seconds as a `YYYY-MM-DD HH:MM:SS` UTC string. */
  datetimeText: atPath("string", unixText),
  /** Anything else: a function of the entity. */
  computed: (type: ColumnType, read: (e: Entity) => Value): ColumnSpec => ({ type, read }),
};

/** Flatten entities into a table with these columns, in this order. */
export function tableOf(entities: Entity[], columns: Record<string, ColumnSpec>): Table {
  const specs = Object.entries(columns);
  const makeRow = rowMaker(specs.map(([name]) => name));
  const values: Value[] = new Array(specs.length);
  const rows = entities.map((entity) => {
    for (let i = 0; i < specs.length; i++) values[i] = specs[i]![1].read(entity);
    return makeRow(values);
  });
  return { columns: specs.map(([name, spec]) => ({ name, type: spec.type })), rows };
}
