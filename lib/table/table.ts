// The in-memory table every flow produces and every artifact decodes to: an ordered list of typed
// columns, held either as rows (plain objects, how a flow that builds a few rows writes them) or as
// columns (a ColumnarTable: one typed array per column, how artifacts decode and the shared
// operations of lib/table/operations.ts work). A ColumnarTable makes rows only when asked for them.
import { UserError } from "../core/errors.ts";
import { concatDictText, concatUtf8, DictText, isEncodedText, Utf8Vector } from "./text.ts";

export { concatUtf8, DictText, isEncodedText, Utf8Builder, Utf8Vector, withRoom } from "./text.ts";

/** Column types, as docs/datasets.md §3.3 names them; each maps to one Arrow type (lib/artifact/write.ts). */
export type ColumnType = "string" | "int" | "float" | "bool" | "timestamp" | "date";

/** A cell. Timestamps and dates are `Date` (UTC); ints and floats are numbers; nulls are `null`. */
export type Value = string | number | boolean | Date | null;
export type Row = Record<string, Value>;

export interface Column {
  name: string;
  type: ColumnType;
}

export interface Table {
  columns: Column[];
  rows: Row[];
}

/** A schema written as `{ name: type }`, in column order. */
export type Schema = Record<string, ColumnType>;

export function columnsOf(schema: Schema): Column[] {
  return Object.entries(schema).map(([name, type]) => ({ name, type }));
}

/** A table of these rows (a flow that makes a few rows by hand). */
export function table(schema: Schema | Column[], rows: Row[]): Table {
  return { columns: Array.isArray(schema) ? schema : columnsOf(schema), rows };
}

// ------------------------------------------------------------------ columns

/**
 * A column's values. Numbers (int, float) and instants (timestamp, date: milliseconds since the
 * epoch) in a Float64Array, NaN for null (a float NaN is a null, as pandas has it); booleans in a
 * Uint8Array (0, 1, and {@link NULL_BOOL}); text in an array of strings and nulls, or (decoded
 * from an artifact) as UTF-8 bytes, a {@link Utf8Vector}, whose strings are made when first read,
 * or (a source's repeated text) as codes into its distinct values, a {@link DictText}.
 */
export type Vector = Float64Array | Uint8Array | (string | null)[] | Utf8Vector | DictText;

/** A text vector's values as strings (made now for a Utf8Vector, once), or undefined for a vector of numbers or booleans. */
function textsOf(vector: Vector): (string | null)[] | undefined {
  return Array.isArray(vector) ? vector : isEncodedText(vector) ? vector.strings() : undefined;
}

export const NULL_BOOL = 2;

/** What each column type's vector is (vectorBuilder makes them so). */
const KIND_OF: Record<ColumnType, string> = { string: "text", int: "numbers", float: "numbers", timestamp: "numbers", date: "numbers", bool: "booleans" };
const vectorKind = (vector: Vector): string =>
  Array.isArray(vector) || isEncodedText(vector) ? "text" : vector instanceof Float64Array ? "numbers" : vector instanceof Uint8Array ? "booleans" : "something else";

/** A table held by columns: `vectors[i]` holds `columns[i]`'s values. Immutable: operations make new tables (sharing the vectors they keep). */
export class ColumnarTable implements Table {
  #rows: Row[] | undefined;

  constructor(readonly columns: Column[], readonly vectors: Vector[], readonly length: number) {
    if (vectors.length !== columns.length) throw new Error(`${columns.length} columns but ${vectors.length} vectors`);
    // A vector of another kind than its column's type would be written as that kind under the type's name: a broken artifact.
    columns.forEach((column, i) => {
      const holds = vectorKind(vectors[i]!);
      if (holds !== KIND_OF[column.type]) throw new Error(`column "${column.name}" (${column.type}) is given ${holds}, not ${KIND_OF[column.type]}`);
      if (vectors[i]!.length < length) throw new Error(`column "${column.name}" has ${vectors[i]!.length} values for ${length} rows`);
    });
  }

  /** The rows, made on first use (kept: a second use is free). */
  get rows(): Row[] {
    return (this.#rows ??= materialize(this));
  }

  /** The vector of a column, or undefined without that column. */
  vector(name: string): Vector | undefined {
    const at = this.columns.findIndex((c) => c.name === name);
    return at < 0 ? undefined : this.vectors[at];
  }

  /**
   * A text column's value by row, or undefined without that column or when it is not text: read
   * in row order, a decoded column keeps no array of its strings (see Utf8Vector.at).
   */
  textAt(name: string): ((i: number) => string | null) | undefined {
    const vector = this.vector(name);
    if (isEncodedText(vector)) return (i) => vector.at(i);
    return Array.isArray(vector) ? (i) => vector[i]! : undefined;
  }

  /** A text column's values as strings, or undefined without that column or when it is not text. */
  texts(name: string): (string | null)[] | undefined {
    const vector = this.vector(name);
    return vector && textsOf(vector);
  }
}

/** How many rows a table has (without making the rows of a columnar one). */
export function rowCount(input: Table): number {
  return input instanceof ColumnarTable ? input.length : input.rows.length;
}

/**
 * The bytes a table's columns hold outside V8's heap (typed arrays, text bytes, offsets, codes); a
 * table held by rows, or text held as strings, counts 0 (those are in the heap).
 */
export function bufferBytes(input: Table): number {
  if (!(input instanceof ColumnarTable)) return 0;
  let bytes = 0;
  for (const v of input.vectors) {
    if (v instanceof Float64Array || v instanceof Uint8Array) bytes += v.byteLength;
    else if (v instanceof Utf8Vector) bytes += v.bytes.byteLength + v.offsets.byteLength + (v.validity?.byteLength ?? 0);
    else if (v instanceof DictText) bytes += v.codes.byteLength;
  }
  return bytes;
}

/** The table by columns: as it is when it is columnar, else each column read from the rows and checked against its type. */
export function columnar(input: Table): ColumnarTable {
  if (input instanceof ColumnarTable) return input;
  const { columns, rows } = input;
  return new ColumnarTable(columns, columns.map((c) => {
    const read = cellReader(c.name);
    const out = vectorBuilder(c, rows.length);
    for (let i = 0; i < rows.length; i++) out.set(i, read(rows[i]!));
    return out.vector;
  }), rows.length);
}

/** Builds a column's vector value by value, each value checked against the column's type (the message an artifact's writer gives). */
export function vectorBuilder(column: Column, length: number): { set(i: number, value: Value | undefined): void; vector: Vector } {
  const bad = (v: unknown) => new Error(`column "${column.name}" (${column.type}) cannot hold ${JSON.stringify(v)}`);
  switch (column.type) {
    case "string": {
      const out: (string | null)[] = new Array(length);
      return { vector: out, set: (i, v) => { if (v === null || v === undefined) out[i] = null; else if (typeof v === "string") out[i] = v; else throw bad(v); } };
    }
    case "int":
    case "float": {
      const out = new Float64Array(length);
      const float = column.type === "float";
      return {
        vector: out,
        set: (i, v) => {
          if (v === null || v === undefined) out[i] = Number.NaN;
          else if (typeof v !== "number" || (!float && !Number.isSafeInteger(v))) throw bad(v);
          else out[i] = v;
        },
      };
    }
    case "bool": {
      const out = new Uint8Array(length);
      return { vector: out, set: (i, v) => { if (v === null || v === undefined) out[i] = NULL_BOOL; else if (typeof v !== "boolean") throw bad(v); else out[i] = v ? 1 : 0; } };
    }
    case "timestamp":
    case "date": {
      const out = new Float64Array(length);
      return {
        vector: out,
        set: (i, v) => {
          if (v === null || v === undefined) out[i] = Number.NaN;
          else if (!(v instanceof Date) || Number.isNaN(v.getTime())) throw bad(v);
          else out[i] = v.getTime();
        },
      };
    }
  }
}

/** Row i's value of a column, as a cell (a Date made for an instant). */
export function cell(vector: Vector, type: ColumnType, i: number): Value {
  const v = isEncodedText(vector) ? vector.at(i) : vector[i]!;
  if (typeof v === "number") {
    if (type === "bool") return v === NULL_BOOL ? null : v === 1;
    if (v !== v) return null; // NaN
    return type === "timestamp" || type === "date" ? new Date(v) : v;
  }
  return v;
}

/** The same vector at these rows, in this order (a filter, a sort, a join's matches); -1 gives a null. */
export function take(vector: Vector, at: ArrayLike<number>): Vector {
  const n = at.length;
  if (isEncodedText(vector)) return vector.take(at);
  if (Array.isArray(vector)) {
    const out: (string | null)[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = at[i]! < 0 ? null : vector[at[i]!]!;
    return out;
  }
  const out = vector instanceof Uint8Array ? new Uint8Array(n) : new Float64Array(n);
  const none = vector instanceof Uint8Array ? NULL_BOOL : Number.NaN;
  for (let i = 0; i < n; i++) out[i] = at[i]! < 0 ? none : vector[at[i]!]!;
  return out;
}

/** Vectors of one column type one after the other, the first `length` values (all of them by default). */
export function concatVectors(column: Column, parts: Vector[], length = parts.reduce((n, p) => n + p.length, 0)): Vector {
  if (parts.length === 1 && parts[0]!.length === length) return parts[0]!;
  if (parts.every((p) => p instanceof Utf8Vector)) return concatUtf8(parts, length);
  const codes = parts.every((p) => p instanceof DictText) ? concatDictText(parts, length) : undefined;
  if (codes) return codes;
  const out = vectorBuilder(column, length).vector;
  let at = 0;
  for (const part of parts) {
    const count = Math.min(part.length, length - at);
    const texts = textsOf(part);
    if (Array.isArray(out)) for (let i = 0; i < count; i++) out[at + i] = texts![i]!;
    else (out as Float64Array | Uint8Array).set((part as Float64Array | Uint8Array).subarray(0, count), at);
    at += count;
  }
  return out;
}

/** Fail with a clear message when an input table lacks columns a flow needs. */
export function requireColumns(input: Table, source: string, names: string[]): void {
  const have = new Set(input.columns.map((c) => c.name));
  const missing = names.filter((n) => !have.has(n));
  if (missing.length) throw new UserError(`${source} has no column ${missing.map((n) => `"${n}"`).join(", ")}`);
}

// ------------------------------------------------------------------ rows

/**
 * A function making rows with these columns from a source, compiled once per shape:
 * an object literal with constant keys is the fastest way to make many objects in V8,
 * and keeps them compact (an object grown key by key from `{}` turns into a hash table
 * past a few dozen keys, five times larger). `read(i)` is the JS expression giving
 * column i's value, over the parameters `v` (values) and `i` (row index).
 */
function compileRow<A extends unknown[]>(names: string[], read: (index: number) => string, helpers: Record<string, unknown> = {}): (...args: A) => Row {
  const body = `return {${names.map((name, index) => `${JSON.stringify(name)}: ${read(index)}`).join(", ")}};`;
  const make = new Function(...Object.keys(helpers), `return function (v, i) { ${body} };`)(...Object.values(helpers));
  return make as (...args: A) => Row;
}

/**
 * Makes a first row of nulls, so that V8 gives every field the general representation from the
 * start: rows holding numbers in some and nulls or text in others then share one hidden class,
 * instead of a chain of deprecated ones that slows later reads of those rows (polygon_retired_offsets_v2,
 * five steps over 47,000 rows: a quarter faster, measured).
 */
function primed<F>(make: F, prime: (make: F) => unknown): F {
  prime(make);
  return make;
}

/** The rows of a columnar table, each value read from its vector. */
function materialize(input: ColumnarTable): Row[] {
  const { columns, vectors, length } = input;
  const make = compileRow<[Vector[], number]>(columns.map((c) => c.name), (c) => `cell(v[${c}], ${JSON.stringify(columns[c]!.type)}, i)`, { cell });
  primed(make, (m) => m(columns.map((c) => (c.type === "string" ? [null] : new Float64Array([Number.NaN]))), 0));
  const rows: Row[] = new Array(length);
  for (let i = 0; i < length; i++) rows[i] = make(vectors, i);
  return rows;
}

type CellReader = (row: Row) => Value | undefined;
const cellReaders = new Map<string, CellReader>();

/**
 * Reads a column's cell of a row: compiled for the column's name, so that each row's property is a
 * load V8 makes fast, where `row[name]` with a different name per column is a slow generic one.
 */
function cellReader(name: string): CellReader {
  let read = cellReaders.get(name);
  if (!read) {
    read = new Function("row", `return row[${JSON.stringify(name)}];`) as CellReader;
    if (cellReaders.size > 10_000) cellReaders.clear();
    cellReaders.set(name, read);
  }
  return read;
}
