// The artifact codec: a table to the bytes the dashboard API reads, and back.
// Bytes = Prefect 2's result envelope (JSON) around the base64 of a Feather v2
// file (Arrow IPC file format) carrying pandas metadata (DATASETS.md §8.2).
import {
  bool, columnFromArray, CompressionType, dateDay, Endianness, Version, float64, int64, setCompressionCodec,
  Table as ArrowTable, tableFromIPC, tableToIPC, timestamp, TimeUnit, Type, utf8,
  type Column as ArrowColumn, type DataType, type Field as ArrowField,
} from "@uwdata/flechette";
import { decompress as zstdDecompress } from "fzstd";
import * as lz4 from "lz4js";
import { ArtifactError, errorMessage } from "./errors.ts";
import type { Column, ColumnType, Row, Table, Value } from "./table.ts";

// Artifacts written by the original are LZ4-compressed; others may be ZSTD.
setCompressionCodec(CompressionType.LZ4_FRAME, { decode: (b) => lz4.decompress(b), encode: (b) => lz4.compress(b) });
setCompressionCodec(CompressionType.ZSTD, {
  // fzstd may return a view at an odd offset; Arrow needs 8-byte-aligned buffers.
  decode: (b) => {
    const out = zstdDecompress(b);
    return out.byteOffset % 8 === 0 ? out : out.slice();
  },
  encode: () => { throw new Error("writing ZSTD is not supported"); },
});

const PREFECT_VERSION = "2.20.3";
const ENVELOPE_HEAD = Buffer.from('{"serializer": {"type": "pandas_feather"}, "data": "');
const ENVELOPE_TAIL = Buffer.from(`", "prefect_version": "${PREFECT_VERSION}"}`);
const ESCAPED_NEWLINE = Buffer.from("\\n"); // a newline inside a JSON string
const LINE_BYTES = 57; // base64.encodebytes: 57 input bytes -> one 76-character line
const LINES_PER_CHUNK = 16_384;

// ---------------------------------------------------------------- encoding

/** Encode a table as artifact bytes (the envelope). */
export function encodeArtifact(input: Table): Buffer {
  return envelope(encodeFeather(input));
}

/** The Feather v2 bytes (Arrow IPC file) of a table, with pandas metadata. */
export function encodeFeather(input: Table): Uint8Array {
  if (input.columns.length === 0) throw new Error("a table without columns cannot be written as an artifact");
  const fields: ArrowField[] = [];
  const children: ArrowColumn<unknown>[] = [];
  const pandasColumns: object[] = [];
  for (const column of input.columns) {
    const values = input.rows.map((row) => normalise(row[column.name], column));
    const hasNulls = values.some((v) => v === null);
    const type = arrowType(column.type);
    // Timestamps are built as int64 nanoseconds (exact, via BigInt) and declared
    // timestamp[ns] in the schema: the two share one buffer layout.
    const built = column.type === "timestamp"
      ? columnFromArray(values.map((v) => (v === null ? null : BigInt(v as number) * 1_000_000n)), int64())
      : columnFromArray(values, type);
    fields.push({ name: column.name, type, nullable: true, metadata: new Map() });
    children.push(built);
    pandasColumns.push({ name: column.name, field_name: column.name, ...pandasType(column.type, hasNulls), metadata: null });
  }
  const pandas = {
    index_columns: [{ kind: "range", name: null, start: 0, stop: input.rows.length, step: 1 }],
    column_indexes: [{ name: null, field_name: null, pandas_type: "unicode", numpy_type: "object", metadata: { encoding: "UTF-8" } }],
    columns: pandasColumns,
    creator: { library: "pyarrow", version: "12.0.0" },
    pandas_version: "1.5.3",
  };
  const schema = { version: Version.V5, endianness: Endianness.Little, fields, metadata: new Map([["pandas", JSON.stringify(pandas)]]) };
  const arrow = new ArrowTable(schema, children);
  const bytes = tableToIPC(arrow, { format: "file" });
  if (!bytes) throw new Error("Arrow encoding produced no bytes");
  return bytes;
}

function arrowType(type: ColumnType): DataType {
  switch (type) {
    case "string": return utf8();
    case "int": return int64();
    case "float": return float64();
    case "bool": return bool();
    case "timestamp": return timestamp(TimeUnit.NANOSECOND);
    case "date": return dateDay();
  }
}

function pandasType(type: ColumnType, hasNulls: boolean): { pandas_type: string; numpy_type: string } {
  switch (type) {
    case "string": return { pandas_type: "unicode", numpy_type: "object" };
    // pandas restores a nullable integer column as Int64 rather than float64.
    case "int": return { pandas_type: "int64", numpy_type: hasNulls ? "Int64" : "int64" };
    case "float": return { pandas_type: "float64", numpy_type: "float64" };
    case "bool": return { pandas_type: "bool", numpy_type: hasNulls ? "boolean" : "bool" };
    case "timestamp": return { pandas_type: "datetime", numpy_type: "datetime64[ns]" };
    case "date": return { pandas_type: "date", numpy_type: "object" };
  }
}

/** Check one cell against its column type; timestamps become epoch ms, dates UTC-midnight ms. */
function normalise(value: Value | undefined, column: Column): Value {
  if (value === null || value === undefined) return null;
  const bad = () => new Error(`column "${column.name}" (${column.type}) cannot hold ${JSON.stringify(value)}`);
  switch (column.type) {
    case "string":
      if (typeof value !== "string") throw bad();
      return value;
    case "int":
      if (typeof value !== "number" || !Number.isSafeInteger(value)) throw bad();
      return value;
    case "float":
      if (typeof value !== "number") throw bad();
      return Number.isNaN(value) ? null : value;
    case "bool":
      if (typeof value !== "boolean") throw bad();
      return value;
    case "timestamp":
    case "date": {
      if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw bad();
      const ms = value.getTime();
      // timestamp[ns] holds 1677-09-21 to 2262-04-11; beyond that int64 nanoseconds overflow.
      if (column.type === "timestamp" && Math.abs(ms) > 9_223_372_036_854) throw bad();
      return column.type === "date" ? Math.floor(ms / 86_400_000) * 86_400_000 : ms;
    }
  }
}

/** Wrap Feather bytes in the envelope: base64 in 76-character lines, each ending in an escaped newline. */
export function envelope(feather: Uint8Array): Buffer {
  const lines = Math.ceil(feather.length / LINE_BYTES);
  const base64Length = Math.ceil(feather.length / 3) * 4;
  const out = Buffer.allocUnsafe(ENVELOPE_HEAD.length + base64Length + lines * ESCAPED_NEWLINE.length + ENVELOPE_TAIL.length);
  let pos = ENVELOPE_HEAD.copy(out, 0);
  const chunkBytes = LINE_BYTES * LINES_PER_CHUNK;
  for (let start = 0; start < feather.length; start += chunkBytes) {
    const chunk = Buffer.from(feather.buffer, feather.byteOffset + start, Math.min(chunkBytes, feather.length - start));
    const text = Buffer.from(chunk.toString("base64"), "latin1");
    for (let line = 0; line < text.length; line += 76) {
      pos += text.copy(out, pos, line, Math.min(line + 76, text.length));
      pos += ESCAPED_NEWLINE.copy(out, pos);
    }
  }
  pos += ENVELOPE_TAIL.copy(out, pos);
  return out.subarray(0, pos);
}

// ---------------------------------------------------------------- decoding

/** Decode artifact bytes; every failure names the key. */
export function decodeArtifact(bytes: Uint8Array, key: string): Table {
  let feather: Uint8Array;
  try {
    feather = unwrapEnvelope(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (error) {
    throw new ArtifactError(`artifact ${key} is not a readable result envelope: ${errorMessage(error)}`);
  }
  try {
    return decodeFeather(feather);
  } catch (error) {
    throw new ArtifactError(`artifact ${key} holds no readable Feather table (corrupted or truncated?): ${errorMessage(error)}`);
  }
}

/** Find the envelope's "data" string and base64-decode it, without ever making one huge JS string. */
export function unwrapEnvelope(bytes: Buffer): Buffer {
  const keyAt = findDataKey(bytes);
  const open = bytes.indexOf(0x22 /* " */, keyAt + 6);
  const close = bytes.indexOf(0x22, open + 1);
  if (open < 0 || close < 0) throw new Error('the "data" string is not terminated');
  const rest = JSON.parse(`${bytes.subarray(0, open).toString("utf8")}""${bytes.subarray(close + 1).toString("utf8")}`);
  if (rest?.serializer?.type !== "pandas_feather") {
    throw new Error(`serializer is ${JSON.stringify(rest?.serializer)}, expected {"type": "pandas_feather"}`);
  }
  // Compact the base64 characters (dropping escaped and raw newlines), then decode in aligned chunks.
  const text = bytes.subarray(open + 1, close);
  const compact = Buffer.allocUnsafe(text.length);
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === 0x5c /* \ */) {
      const next = text[i + 1];
      if (next === 0x6e /* n */ || next === 0x72 /* r */) { i++; continue; }
      if (next === 0x2f /* / */) { compact[length++] = 0x2f; i++; continue; }
      throw new Error(`unexpected escape in base64 data at byte ${open + 1 + i}`);
    }
    if (c === 0x0a || c === 0x0d || c === 0x20) continue;
    compact[length++] = c;
  }
  if (length % 4 !== 0) throw new Error("base64 data is truncated");
  const out = Buffer.allocUnsafe((length / 4) * 3);
  let written = 0;
  const step = 4 * 1_048_576;
  for (let start = 0; start < length; start += step) {
    const piece = compact.subarray(start, Math.min(start + step, length)).toString("latin1");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(piece)) throw new Error("data is not base64");
    written += out.write(piece, written, "base64");
  }
  return out.subarray(0, written);
}

function findDataKey(bytes: Buffer): number {
  const compact = bytes.indexOf('"data":');
  if (compact >= 0) return compact;
  const spaced = bytes.indexOf('"data" :');
  if (spaced >= 0) return spaced;
  throw new Error('no "data" field');
}

/** Arrow IPC file bytes to a table. pandas index columns are dropped. */
export function decodeFeather(feather: Uint8Array): Table {
  const magic = Buffer.from(feather.buffer, feather.byteOffset, Math.min(6, feather.length)).toString("latin1");
  if (magic !== "ARROW1") throw new Error("not an Arrow IPC file (no ARROW1 magic)");
  const arrow = tableFromIPC(feather);
  const indexColumns = pandasIndexColumns(arrow.schema.metadata);
  const columns: Column[] = [];
  const data: Array<{ name: string; values: unknown[]; convert: (v: unknown) => Value }> = [];
  arrow.schema.fields.forEach((field, i) => {
    if (indexColumns.has(field.name) || /^__index_level_\d+__$/.test(field.name)) return;
    const type = columnType(field);
    columns.push({ name: field.name, type });
    const convert = type === "timestamp" || type === "date"
      ? (v: unknown) => (v === null || v === undefined ? null : new Date(Number(v)))
      : (v: unknown) => (v === undefined ? null : (v as Value));
    data.push({ name: field.name, values: arrow.getChildAt(i).toArray() as unknown[], convert });
  });
  const rows: Row[] = new Array(arrow.numRows);
  for (let r = 0; r < arrow.numRows; r++) {
    const row: Row = {};
    for (const column of data) row[column.name] = column.convert(column.values[r]);
    rows[r] = row;
  }
  return { columns, rows };
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
