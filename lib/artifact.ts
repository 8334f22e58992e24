// The artifact codec: a table to the bytes the dashboard API reads, and back.
// Bytes = Prefect 2's result envelope (JSON) around the base64 of a Feather v2
// file (Arrow IPC file format) carrying pandas metadata (DATASETS.md §8.2).
import {
  Batch, bool, Column as ArrowColumn, CompressionType, dateDay, Endianness, float64, int64, setCompressionCodec,
  Table as ArrowTable, tableFromIPC, tableToIPC, timestamp, TimeUnit, Type, utf8, Version,
  type DataType, type Field as ArrowField,
} from "@uwdata/flechette";
import { decompress as zstdDecompress } from "fzstd";
import * as lz4 from "lz4js";
import { ArtifactError, errorMessage } from "./errors.ts";
import { columnsRowMaker, type Column, type ColumnType, type Row, type Table, type Value } from "./table.ts";

// Artifacts written by the original are LZ4-compressed; others may be ZSTD.
setCompressionCodec(CompressionType.LZ4_FRAME, {
  decode: (b) => lz4.decompress(b),
  encode: () => { throw new Error("writing LZ4 is not supported"); },
});
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

/** Artifact bytes produced piece by piece, so a large artifact is never whole in memory twice. */
export interface ArtifactBody {
  length: number;
  chunks(): Iterable<Uint8Array>;
}

/** Encode a table as an envelope written in pieces (the Feather bytes are kept, the base64 is made on demand). */
export function encodeArtifactBody(input: Table): ArtifactBody {
  const feather = encodeFeather(input);
  return { length: envelopeLength(feather.length), chunks: () => envelopeChunks(feather) };
}

/**
 * The Feather v2 bytes (Arrow IPC file) of a table, with pandas metadata. Uncompressed:
 * the only LZ4 frame encoder in pure JS (lz4js) writes large buffers that pyarrow cannot
 * decompress, and pyarrow reads uncompressed files as well (DATASETS.md §8.2).
 */
export function encodeFeather(input: Table): Uint8Array {
  if (input.columns.length === 0) throw new Error("a table without columns cannot be written as an artifact");
  const fields: ArrowField[] = [];
  const children: ArrowColumn<unknown>[] = [];
  const pandasColumns: object[] = [];
  for (const column of input.columns) {
    const type = arrowType(column.type);
    const batch = buildBatch(input.rows, column, type);
    fields.push({ name: column.name, type, nullable: true, metadata: new Map() });
    children.push(new ArrowColumn([batch], type));
    pandasColumns.push({ name: column.name, field_name: column.name, ...pandasType(column.type, batch.nullCount > 0), metadata: null });
  }
  const pandas = {
    index_columns: [{ kind: "range", name: null, start: 0, stop: input.rows.length, step: 1 }],
    column_indexes: [{ name: null, field_name: null, pandas_type: "unicode", numpy_type: "object", metadata: { encoding: "UTF-8" } }],
    columns: pandasColumns,
    creator: { library: "pyarrow", version: "12.0.0" },
    pandas_version: "1.5.3",
  };
  const schema = { version: Version.V5, endianness: Endianness.Little, fields, metadata: new Map([["pandas", JSON.stringify(pandas)]]) };
  const bytes = tableToIPC(new ArrowTable(schema, children), { format: "file" });
  if (!bytes) throw new Error("Arrow encoding produced no bytes");
  return bytes;
}

/**
 * One Arrow batch (validity, offsets, values buffers) straight from the rows:
 * one pass per column, no per-value allocation (strings are written into one buffer).
 */
function buildBatch(rows: Row[], column: Column, type: DataType): Batch<unknown> {
  const n = rows.length;
  const name = column.name;
  const validity = new Uint8Array((n + 7) >> 3);
  let nullCount = 0;
  const bad = (value: unknown) => new Error(`column "${name}" (${column.type}) cannot hold ${JSON.stringify(value)}`);
  const present = (i: number, value: Value | undefined): boolean => {
    if (value === null || value === undefined || (typeof value === "number" && Number.isNaN(value) && column.type === "float")) {
      nullCount++;
      return false;
    }
    validity[i >> 3]! |= 1 << (i & 7);
    return true;
  };
  let values: Uint8Array | Int32Array | Float64Array | BigInt64Array;
  let offsets: Int32Array | undefined;
  switch (column.type) {
    case "string": {
      offsets = new Int32Array(n + 1);
      // Size the text buffer by character count (exact for ASCII); grow only for multi-byte text.
      let chars = 0;
      for (let i = 0; i < n; i++) {
        const v = rows[i]![name];
        if (typeof v === "string") chars += v.length;
      }
      let data = Buffer.allocUnsafeSlow(chars + 16);
      let end = 0;
      for (let i = 0; i < n; i++) {
        const v = rows[i]![name];
        if (present(i, v)) {
          if (typeof v !== "string") throw bad(v);
          if (end + v.length * 3 > data.length && end + Buffer.byteLength(v) > data.length) {
            const grown = Buffer.allocUnsafeSlow(Math.max(Math.ceil(data.length * 1.5), end + v.length * 3));
            data.copy(grown, 0, 0, end);
            data = grown;
          }
          end += data.write(v, end, "utf8");
          if (end > 0x7fffffff) throw new Error(`column "${name}" holds more than 2 GB of text`);
        }
        offsets[i + 1] = end;
      }
      values = data.subarray(0, end);
      break;
    }
    case "int": {
      const out = new BigInt64Array(n);
      for (let i = 0; i < n; i++) {
        const v = rows[i]![name];
        if (!present(i, v)) continue;
        if (typeof v !== "number" || !Number.isSafeInteger(v)) throw bad(v);
        out[i] = BigInt(v);
      }
      values = out;
      break;
    }
    case "float": {
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const v = rows[i]![name];
        if (typeof v !== "number" && v !== null && v !== undefined) throw bad(v);
        out[i] = present(i, v) ? (v as number) : Number.NaN;
      }
      values = out;
      break;
    }
    case "bool": {
      const out = new Uint8Array((n + 7) >> 3);
      for (let i = 0; i < n; i++) {
        const v = rows[i]![name];
        if (!present(i, v)) continue;
        if (typeof v !== "boolean") throw bad(v);
        if (v) out[i >> 3]! |= 1 << (i & 7);
      }
      values = out;
      break;
    }
    case "timestamp":
    case "date": {
      const out = column.type === "date" ? new Int32Array(n) : new BigInt64Array(n);
      for (let i = 0; i < n; i++) {
        const v = rows[i]![name];
        if (!present(i, v)) continue;
        const ms = v instanceof Date ? v.getTime() : Number.NaN;
        // timestamp[ns] holds 1677-09-21 to 2262-04-11; beyond that int64 nanoseconds overflow.
        if (Number.isNaN(ms) || (column.type === "timestamp" && Math.abs(ms) > 9_223_372_036_854)) throw bad(v);
        if (out instanceof Int32Array) out[i] = Math.floor(ms / 86_400_000);
        else out[i] = BigInt(ms) * 1_000_000n; // exact, unlike ms * 1e6 in floating point
      }
      values = out;
      break;
    }
  }
  return new Batch({ length: n, nullCount, type, validity: nullCount ? validity : new Uint8Array(0), values, offsets });
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

/** Wrap Feather bytes in the envelope: base64 in 76-character lines, each ending in an escaped newline. */
export function envelope(feather: Uint8Array): Buffer {
  return Buffer.concat([...envelopeChunks(feather)], envelopeLength(feather.length));
}

function envelopeLength(featherLength: number): number {
  const lines = Math.ceil(featherLength / LINE_BYTES);
  return ENVELOPE_HEAD.length + Math.ceil(featherLength / 3) * 4 + lines * ESCAPED_NEWLINE.length + ENVELOPE_TAIL.length;
}

function* envelopeChunks(feather: Uint8Array): Generator<Uint8Array> {
  yield ENVELOPE_HEAD;
  const chunkBytes = LINE_BYTES * LINES_PER_CHUNK;
  for (let start = 0; start < feather.length; start += chunkBytes) {
    const chunk = Buffer.from(feather.buffer, feather.byteOffset + start, Math.min(chunkBytes, feather.length - start));
    const text = Buffer.from(chunk.toString("base64"), "latin1");
    const out = Buffer.allocUnsafe(text.length + Math.ceil(text.length / 76) * ESCAPED_NEWLINE.length);
    let pos = 0;
    for (let line = 0; line < text.length; line += 76) {
      pos += text.copy(out, pos, line, Math.min(line + 76, text.length));
      pos += ESCAPED_NEWLINE.copy(out, pos);
    }
    yield out;
  }
  yield ENVELOPE_TAIL;
}

// ---------------------------------------------------------------- decoding

/** Decode artifact bytes; every failure names the key. With `columns`, only those are read (faster, leaner). */
export function decodeArtifact(bytes: Uint8Array, key: string, columns?: readonly string[]): Table {
  return readArtifact(bytes, key, (feather) => decodeFeather(feather, columns));
}

/** The columns and row count of an artifact, without reading its rows (for validation). */
export function decodeArtifactSummary(bytes: Uint8Array, key: string): { columns: Column[]; rowCount: number } {
  return readArtifact(bytes, key, (feather) => {
    const { arrow, columns } = readFeather(feather);
    return { columns: columns.map((c) => c.column), rowCount: arrow.numRows };
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

/** Find the envelope's "data" string and base64-decode it in chunks, without ever making one huge JS string. */
export function unwrapEnvelope(bytes: Buffer): Buffer {
  const keyAt = findDataKey(bytes);
  const open = bytes.indexOf(0x22 /* " */, keyAt + 6);
  const close = open < 0 ? -1 : bytes.indexOf(0x22, open + 1);
  if (open < 0 || close < 0) throw new Error('the "data" string is not terminated');
  const rest = JSON.parse(`${bytes.subarray(0, open).toString("utf8")}""${bytes.subarray(close + 1).toString("utf8")}`);
  if (rest?.serializer?.type !== "pandas_feather") {
    throw new Error(`serializer is ${JSON.stringify(rest?.serializer)}, expected {"type": "pandas_feather"}`);
  }
  const out = Buffer.allocUnsafe(Math.ceil(((close - open) * 3) / 4));
  let written = 0;
  let carry = ""; // base64 characters left over from the previous chunk (fewer than 4)
  const step = 4 * 1_048_576;
  for (let start = open + 1; start < close; ) {
    let end = Math.min(start + step, close);
    if (bytes[end - 1] === 0x5c && end < close) end++; // never split an escape (backslash + n) between chunks
    const text = bytes.toString("latin1", start, end).replace(/\\[nr]|[\n\r ]/g, "").replaceAll("\\/", "/");
    const piece = carry + text;
    const usable = piece.length - (piece.length % 4);
    const quartet = piece.slice(0, usable);
    const expected = (usable / 4) * 3 - (quartet.endsWith("==") ? 2 : quartet.endsWith("=") ? 1 : 0);
    // Node skips characters that are not base64: fewer bytes than expected means the data is damaged.
    if (out.write(quartet, written, "base64") !== expected) throw new Error("data is not base64");
    written += expected;
    carry = piece.slice(usable);
    start = end;
  }
  if (carry.length) throw new Error("base64 data is truncated");
  return out.subarray(0, written);
}

function findDataKey(bytes: Buffer): number {
  const compact = bytes.indexOf('"data":');
  if (compact >= 0) return compact;
  const spaced = bytes.indexOf('"data" :');
  if (spaced >= 0) return spaced;
  throw new Error('no "data" field');
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

/** Arrow IPC file bytes to a table. pandas index columns are dropped. */
export function decodeFeather(feather: Uint8Array, only?: readonly string[]): Table {
  const read = readFeather(feather);
  const { arrow } = read;
  const columns = only ? read.columns.filter((c) => only.includes(c.column.name)) : read.columns;
  const values = columns.map(({ column, index }) => readColumn(arrow.getChildAt(index), column.type));
  const makeRow = columnsRowMaker(columns.map((c) => c.column.name));
  const rows: Row[] = new Array(arrow.numRows);
  for (let r = 0; r < arrow.numRows; r++) rows[r] = makeRow(values, r);
  return { columns: columns.map((c) => c.column), rows };
}


const NS_PER_MS = [1e-3, 1, 1e3, 1e6]; // by Arrow TimeUnit: s, ms, us, ns

/** A column's values as table cells, reading the Arrow buffers directly (no per-value views). */
function readColumn(column: ArrowColumn<unknown>, type: ColumnType): Value[] {
  const out: Value[] = new Array(column.length);
  let at = 0;
  for (const batch of column.data as Array<Batch<unknown> & { validity: Uint8Array; values: any; offsets?: any }>) {
    const n = batch.length;
    const valid = batch.nullCount === 0 ? () => true : (i: number) => ((batch.validity[i >> 3]! >> (i & 7)) & 1) === 1;
    const arrowType = batch.type as DataType & { unit?: number };
    const fast = arrowType.typeId === Type.Utf8 || arrowType.typeId === Type.LargeUtf8 || arrowType.typeId === Type.Int
      || arrowType.typeId === Type.Float || arrowType.typeId === Type.Bool || arrowType.typeId === Type.Timestamp || arrowType.typeId === Type.Date;
    if (!fast || (arrowType.typeId === Type.Float && !(batch.values instanceof Float64Array || batch.values instanceof Float32Array))) {
      for (let i = 0; i < n; i++) out[at + i] = toCell(batch.at(i), type);
    } else if (arrowType.typeId === Type.Utf8 || arrowType.typeId === Type.LargeUtf8) {
      const text = Buffer.from(batch.values.buffer, batch.values.byteOffset, batch.values.byteLength);
      const offsets = batch.offsets;
      const big = offsets instanceof BigInt64Array;
      for (let i = 0; i < n; i++) {
        out[at + i] = valid(i) ? text.toString("utf8", big ? Number(offsets[i]) : offsets[i], big ? Number(offsets[i + 1]) : offsets[i + 1]) : null;
      }
    } else if (arrowType.typeId === Type.Bool) {
      for (let i = 0; i < n; i++) out[at + i] = valid(i) ? ((batch.values[i >> 3] >> (i & 7)) & 1) === 1 : null;
    } else if (arrowType.typeId === Type.Timestamp) {
      const perMs = BigInt(NS_PER_MS[arrowType.unit ?? 3]! >= 1 ? NS_PER_MS[arrowType.unit ?? 3]! : 1);
      const seconds = arrowType.unit === 0;
      for (let i = 0; i < n; i++) {
        if (!valid(i)) { out[at + i] = null; continue; }
        const v = batch.values[i] as bigint;
        out[at + i] = new Date(seconds ? Number(v) * 1000 : Number(v / perMs));
      }
    } else if (arrowType.typeId === Type.Date) {
      const days = arrowType.unit === 0; // DateUnit.DAY
      for (let i = 0; i < n; i++) out[at + i] = valid(i) ? new Date(days ? batch.values[i] * 86_400_000 : Number(batch.values[i])) : null;
    } else {
      const values = batch.values;
      const big = values instanceof BigInt64Array || values instanceof BigUint64Array;
      for (let i = 0; i < n; i++) {
        if (!valid(i)) { out[at + i] = null; continue; }
        const v = big ? Number(values[i]) : values[i];
        if (big && !Number.isSafeInteger(v)) throw new Error(`column value ${values[i]} is beyond the safe integer range`);
        out[at + i] = type === "float" && Number.isNaN(v) ? null : v;
      }
    }
    at += n;
  }
  return out;
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
