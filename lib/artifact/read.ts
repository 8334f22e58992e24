// Reading an artifact: unwrap the envelope, read the Feather file (only the columns asked for), and
// turn its columns back into a table; every failure is one line naming the key.
import {
  Batch, Column as ArrowColumn, Table as ArrowTable, tableFromIPC, Type, type DataType, type Field as ArrowField,
} from "@uwdata/flechette";
import { isAscii } from "node:buffer";
import { ArtifactError, errorMessage } from "../core/errors.ts";
import { ColumnarTable, NULL_BOOL, vectorBuilder, type Column, type ColumnType, type Table, type Value, type Vector } from "../table/table.ts";
import { withoutValues } from "./compression.ts"; // and the codecs that decompress the body
import { unwrapEnvelope } from "./envelope.ts";

/** Decode artifact bytes; every failure names the key. With `columns`, only those are read (faster, leaner). */
export function decodeArtifact(bytes: Uint8Array, key: string, columns?: readonly string[]): Table {
  return readArtifact(bytes, key, (feather) => decodeFeather(feather, columns));
}

/** What validation needs of an artifact: its columns, row count and null values by column. */
export interface ArtifactSummary {
  columns: Column[];
  rowCount: number;
  /** Null values by column (same order as `columns`), from the record batches' null counts. */
  nullCounts: number[];
}

/** The columns, row count and null counts of an artifact, without reading its values (for validation). */
export function decodeArtifactSummary(bytes: Uint8Array, key: string, options: { checkValues?: boolean } = {}): ArtifactSummary {
  return readArtifact(bytes, key, (feather) => {
    // Each record batch's FieldNode says how many nulls it holds: no value is read. The buffers are
    // still decompressed (which proves them whole: promote and fetch check artifacts so) unless
    // `checkValues` is false (the runner, sizing up the previous -latest it is about to replace).
    const { arrow, columns } = options.checkValues === false ? withoutValues(() => readFeather(feather)) : readFeather(feather);
    const nullCounts = columns.map(({ index }) => arrow.getChildAt(index).nullCount);
    return { columns: columns.map((c) => c.column), rowCount: arrow.numRows, nullCounts };
  });
}

/** Unwrap the envelope and read the Feather bytes, turning any failure into one line naming the key. */
function readArtifact<T>(bytes: Uint8Array, key: string, read: (feather: Uint8Array) => T): T {
  let feather: Uint8Array;
  try {
    feather = unwrapEnvelope(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (error) {
    throw new ArtifactError(`artifact ${key} is not a readable result envelope: ${errorMessage(error)}`);
  }
  try {
    return read(feather);
  } catch (error) {
    throw new ArtifactError(`artifact ${key} holds no readable Feather table (corrupted or truncated?): ${errorMessage(error)}`);
  }
}

function readFeather(feather: Uint8Array): { arrow: ArrowTable; columns: Array<{ column: Column; index: number }> } {
  const magic = Buffer.from(feather.buffer, feather.byteOffset, Math.min(6, feather.length)).toString("latin1");
  if (magic !== "ARROW1") throw new Error("not an Arrow IPC file (no ARROW1 magic)");
  const arrow = tableFromIPC(feather);
  const indexColumns = pandasIndexColumns(arrow.schema.metadata);
  const columns: Array<{ column: Column; index: number }> = [];
  arrow.schema.fields.forEach((field, index) => {
    if (indexColumns.has(field.name) || /^__index_level_\d+__$/.test(field.name)) return;
    columns.push({ column: { name: field.name, type: columnType(field) }, index });
  });
  return { arrow, columns };
}

/** Arrow IPC file bytes to a (columnar) table. pandas index columns are dropped. */
export function decodeFeather(feather: Uint8Array, only?: readonly string[]): ColumnarTable {
  const read = readFeather(feather);
  const { arrow } = read;
  const columns = only ? read.columns.filter((c) => only.includes(c.column.name)) : read.columns;
  const vectors = columns.map(({ column, index }) => readColumn(arrow.getChildAt(index), column));
  return new ColumnarTable(columns.map((c) => c.column), vectors, arrow.numRows);
}

const TEXT_BLOCK = 4096; // values decoded at once
const NS_PER_MS = [1e-3, 1, 1e3, 1e6]; // by Arrow TimeUnit: s, ms, us, ns

/** A column's values as a vector, reading the Arrow buffers directly (no per-value views, no cells). */
function readColumn(arrowColumn: ArrowColumn<unknown>, column: Column): Vector {
  const type = column.type;
  const length = arrowColumn.length;
  const strings: (string | null)[] | undefined = type === "string" ? new Array(length) : undefined;
  const numbers = type === "int" || type === "float" || type === "timestamp" || type === "date" ? new Float64Array(length) : undefined;
  const bools = type === "bool" ? new Uint8Array(length) : undefined;
  let repeated = strings ? distinctStrings() : undefined;
  let at = 0;
  for (const batch of arrowColumn.data as Array<Batch<unknown> & { validity: Uint8Array; values: any; offsets?: any }>) {
    const n = batch.length;
    const valid = batch.nullCount === 0 ? () => true : (i: number) => ((batch.validity[i >> 3]! >> (i & 7)) & 1) === 1;
    const arrowType = batch.type as DataType & { unit?: number };
    const id = arrowType.typeId;
    const fast = (strings && (id === Type.Utf8 || id === Type.LargeUtf8))
      || (numbers && (id === Type.Int || id === Type.Timestamp || id === Type.Date || (id === Type.Float && (batch.values instanceof Float64Array || batch.values instanceof Float32Array))))
      || (bools && id === Type.Bool);
    if (!fast) {
      // Dictionaries and rare types, value by value through the generic accessor.
      const out = vectorBuilder(column, n);
      for (let i = 0; i < n; i++) out.set(i, toCell(batch.at(i), type));
      if (strings) for (let i = 0; i < n; i++) strings[at + i] = (out.vector as (string | null)[])[i]!;
      else (numbers ?? bools)!.set(out.vector as Float64Array & Uint8Array, at);
    } else if (strings) {
      const text = Buffer.from(batch.values.buffer, batch.values.byteOffset, batch.values.byteLength);
      const offsets = batch.offsets;
      const big = offsets instanceof BigInt64Array;
      const offset = big ? (i: number) => Number(offsets[i]) : (i: number) => offsets[i] as number;
      // A block of ASCII values is read as one string and cut (cheap slices); other text value by value.
      for (let start = 0; start < n; start += TEXT_BLOCK) {
        const stop = Math.min(start + TEXT_BLOCK, n);
        const from = offset(start);
        const block = !big && isAscii(text.subarray(from, offset(stop))) ? text.toString("latin1", from, offset(stop)) : undefined;
        for (let i = start; i < stop; i++) {
          if (!valid(i)) {
            strings[at + i] = null;
            continue;
          }
          const value = block !== undefined ? block.slice(offsets[i] - from, offsets[i + 1] - from) : text.toString("utf8", offset(i), offset(i + 1));
          strings[at + i] = repeated ? repeated.one(value, () => text.toString("utf8", offset(i), offset(i + 1))) : value;
        }
        if (repeated && !repeated.worthIt(at + stop)) repeated = undefined;
      }
    } else if (bools) {
      for (let i = 0; i < n; i++) bools[at + i] = valid(i) ? (batch.values[i >> 3] >> (i & 7)) & 1 : NULL_BOOL;
    } else if (id === Type.Timestamp) {
      const out = numbers!;
      const perMs = BigInt(NS_PER_MS[arrowType.unit ?? 3]! >= 1 ? NS_PER_MS[arrowType.unit ?? 3]! : 1);
      const seconds = arrowType.unit === 0;
      // Nanoseconds (ours, and pandas'): from the two 32-bit halves, without a BigInt per value.
      const halves = arrowType.unit === 3 && batch.values instanceof BigInt64Array ? new Int32Array(batch.values.buffer, batch.values.byteOffset, 2 * n) : undefined;
      for (let i = 0; i < n; i++) {
        if (!valid(i)) out[at + i] = Number.NaN;
        else if (halves) out[at + i] = nanosecondsToMs(halves[2 * i + 1]!, halves[2 * i]! >>> 0);
        else {
          const v = batch.values[i] as bigint;
          out[at + i] = seconds ? Number(v) * 1000 : Number(v / perMs);
        }
      }
    } else if (id === Type.Date) {
      const out = numbers!;
      const days = arrowType.unit === 0; // DateUnit.DAY
      for (let i = 0; i < n; i++) out[at + i] = valid(i) ? (days ? batch.values[i] * 86_400_000 : Number(batch.values[i])) : Number.NaN;
    } else {
      const out = numbers!;
      const values = batch.values;
      const big = values instanceof BigInt64Array || values instanceof BigUint64Array;
      // int64 from its two 32-bit halves (exact whenever the value is a safe integer), without a BigInt per value.
      const halves = values instanceof BigInt64Array ? new Int32Array(values.buffer, values.byteOffset, 2 * n) : undefined;
      for (let i = 0; i < n; i++) {
        if (!valid(i)) { out[at + i] = Number.NaN; continue; }
        const v = halves ? halves[2 * i + 1]! * 2 ** 32 + (halves[2 * i]! >>> 0) : big ? Number(values[i]) : values[i];
        if (big && !Number.isSafeInteger(v)) throw new Error(`column value ${values[i]} is beyond the safe integer range`);
        out[at + i] = v;
      }
    }
    at += n;
  }
  return (strings ?? numbers ?? bools)!;
}

/**
 * One string per distinct value of a text column (a registry repeats its countries, methodologies
 * and dates a hundred thousand times): each value is looked up, and only a new one is kept, as a
 * string of its own rather than a slice that would hold its whole block of text. A column whose
 * values are mostly distinct (serial numbers) stops looking after its first blocks.
 */
function distinctStrings() {
  const known = new Map<string, string>();
  return {
    one(value: string, own: () => string): string {
      let found = known.get(value);
      if (found === undefined) known.set((found = own()), found);
      return found;
    },
    /** After `seen` values: keep looking while at most half of them were new. */
    worthIt: (seen: number) => known.size <= seen / 2,
  };
}

/**
 * int64 nanoseconds (high and unsigned low halves) to ms, truncated toward zero like BigInt
 * division, exactly: a double cannot hold the nanoseconds themselves.
 */
function nanosecondsToMs(high: number, low: number): number {
  if (high < 0) { // |ns| in two's complement, then the sign back
    const negLow = low === 0 ? 0 : 2 ** 32 - low;
    return -nanosecondsToMs(-high - (low === 0 ? 0 : 1), negLow) || 0;
  }
  const a = Math.floor(high / 1_000_000);
  const rest = (high - a * 1_000_000) * 2 ** 32 + low; // < 1e6 x 2^32 < 2^53: exact
  const r = rest % 1_000_000;
  return a * 2 ** 32 + (rest - r) / 1_000_000;
}

/** A value from the generic accessor (dictionaries and rare types) as a cell. */
function toCell(value: unknown, type: ColumnType): Value {
  if (value === null || value === undefined) return null;
  if (type === "timestamp" || type === "date") return new Date(Number(value));
  if (typeof value === "bigint") return Number(value);
  if (typeof value === "number" && Number.isNaN(value) && type === "float") return null;
  return value as Value;
}

function pandasIndexColumns(metadata: Map<string, string> | null | undefined): Set<string> {
  const text = metadata?.get("pandas");
  if (!text) return new Set();
  try {
    const pandas = JSON.parse(text) as { index_columns?: unknown[] };
    return new Set((pandas.index_columns ?? []).filter((c): c is string => typeof c === "string"));
  } catch {
    return new Set();
  }
}

function columnType(field: ArrowField): ColumnType {
  const type = field.type.typeId === Type.Dictionary ? (field.type as { dictionary: DataType }).dictionary : field.type;
  switch (type.typeId) {
    case Type.Utf8:
    case Type.LargeUtf8:
    case Type.Utf8View:
    case Type.Null: // an all-null object column written by pandas
      return "string";
    case Type.Int: return "int";
    case Type.Float: return "float";
    case Type.Bool: return "bool";
    case Type.Timestamp: return "timestamp";
    case Type.Date: return "date";
    default:
      throw new Error(`column "${field.name}" has Arrow type id ${type.typeId}, which artifacts do not use`);
  }
}
