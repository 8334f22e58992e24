// The artifact codec: a table to the bytes the dashboard API reads, and back.
// Bytes = Prefect 2's result envelope (JSON) around the base64 of a Feather v2
// file (Arrow IPC file format) carrying pandas metadata (docs/datasets.md §8.2).
import {
  Batch, bool, Column as ArrowColumn, CompressionType, dateDay, Endianness, float64, int64, setCompressionCodec,
  Table as ArrowTable, tableFromIPC, tableToIPC, timestamp, TimeUnit, Type, utf8, Version,
  type DataType, type Field as ArrowField,
} from "@uwdata/flechette";
import { isAscii } from "node:buffer";
import { createRequire } from "node:module";
import { ArtifactError, errorMessage } from "./errors.ts";
import { columnsRowMaker, type Column, type ColumnType, type Row, type Table, type Value } from "./table.ts";

/**
 * How the Arrow body is compressed: each buffer of the record batch on its own (Arrow's
 * BodyCompression), as pyarrow does. lz4 is what pandas writes by default and the original wrote.
 */
export type Compression = "lz4" | "zstd" | "none";
export const COMPRESSIONS: readonly Compression[] = ["lz4", "zstd", "none"];
export const DEFAULT_COMPRESSION: Compression = "lz4";

/** Why a compression cannot be written by this Node, or undefined when it can. */
export function compressionUnavailable(compression: Compression): string | undefined {
  if (compression === "zstd" && typeof zlib().zstdCompressSync !== "function") {
    return `writing zstd needs Node 22.15 or later (this is Node ${process.versions.node}); use lz4 or none`;
  }
  return undefined;
}

// The codecs are loaded when first needed, so that `--help` does not wait for them. Reading uses
// lz4js and fzstd (pure JS, lenient). Writing LZ4 uses lz4-napi (liblz4's format rules, which
// pyarrow enforces: lz4js's own compressor breaks them on some data), ZSTD Node's zlib.
const load = createRequire(import.meta.url);
/** node:zlib, loaded when first needed (it takes a few ms); zstd from Node 22.15 on. */
const zlib = () => process.getBuiltinModule("node:zlib") as typeof import("node:zlib") & {
  zstdCompressSync?: (data: Uint8Array, options?: { params?: Record<number, number>; pledgedSrcSize?: number }) => Buffer;
};
/** lz4-napi's binary ships as a package per platform: where there is none, say what to do. */
function lz4Native(): typeof import("lz4-napi") {
  try {
    return load("lz4-napi") as typeof import("lz4-napi");
  } catch (error) {
    throw new Error(`writing lz4 needs lz4-napi's binary for ${process.platform}-${process.arch} (${errorMessage(error).split("\n")[0]}); set DATA_PIPELINES_ARTIFACT_COMPRESSION=none`);
  }
}
/** Arrow's default ZSTD level, as pyarrow writes (Node's own default is 3). */
const ZSTD_LEVEL = 1;
/** A Buffer over the same bytes (the native encoders take Buffers only). */
const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

setCompressionCodec(CompressionType.LZ4_FRAME, {
  decode: (b) => (load("lz4js") as typeof import("lz4js")).decompress(b),
  // An empty buffer is kept as it is (flechette marks a buffer that compression does not shrink as uncompressed).
  encode: (b) => b.byteLength === 0 ? b : lz4Native().compressFrameSync(asBuffer(b)),
});
setCompressionCodec(CompressionType.ZSTD, {
  // fzstd may return a view at an odd offset; Arrow needs 8-byte-aligned buffers.
  decode: (b) => {
    const out = (load("fzstd") as typeof import("fzstd")).decompress(b);
    return out.byteOffset % 8 === 0 ? out : out.slice();
  },
  encode: (b) => {
    if (b.byteLength === 0) return b;
    const { constants, zstdCompressSync } = zlib();
    return zstdCompressSync!(b, {
      params: { [(constants as Record<string, number>).ZSTD_c_compressionLevel!]: ZSTD_LEVEL },
      pledgedSrcSize: b.byteLength, // the size in the frame header: the reader allocates once
    });
  },
});
const ARROW_CODEC: Record<Compression, (typeof CompressionType)[keyof typeof CompressionType] | null> = {
  lz4: CompressionType.LZ4_FRAME,
  zstd: CompressionType.ZSTD,
  none: null,
};

const PREFECT_VERSION = "2.20.3";
const ENVELOPE_HEAD = Buffer.from('{"serializer": {"type": "pandas_feather"}, "data": "');
const ENVELOPE_TAIL = Buffer.from(`", "prefect_version": "${PREFECT_VERSION}"}`);
const ESCAPED_NEWLINE = Buffer.from("\\n"); // a newline inside a JSON string
const LINE_BYTES = 57; // base64.encodebytes: 57 input bytes -> one 76-character line
const LINES_PER_CHUNK = 16_384;
const BASE64_PIECE = LINE_BYTES * 1024; // a multiple of 3: pieces encode independently

// ---------------------------------------------------------------- encoding

/** Encode a table as artifact bytes (the envelope). */
export function encodeArtifact(input: Table, compression: Compression = DEFAULT_COMPRESSION): Buffer {
  return envelope(encodeFeather(input, compression));
}

/** Artifact bytes produced piece by piece, so a large artifact is never whole in memory twice. */
export interface ArtifactBody {
  length: number;
  chunks(): Iterable<Uint8Array>;
}

/** An encoded table and, by column in order, how many of its values are null (for validation). */
export interface EncodedTable extends ArtifactBody {
  nullCounts: number[];
}

/** Encode a table as an envelope written in pieces (the Feather bytes are kept, the base64 is made on demand). */
export function encodeArtifactBody(input: Table, compression: Compression = DEFAULT_COMPRESSION): EncodedTable {
  const feather = featherPieces(input, compression);
  return { length: envelopeLength(feather.length), chunks: () => envelopeChunks(feather), nullCounts: feather.nullCounts };
}

/**
 * The Feather v2 bytes (Arrow IPC file) of a table, with pandas metadata, each buffer compressed
 * as asked (a buffer that compression does not shrink is kept as it is, marked so, as pyarrow does).
 */
export function encodeFeather(input: Table, compression: Compression = DEFAULT_COMPRESSION): Uint8Array {
  const { pieces, length } = featherPieces(input, compression);
  return Buffer.concat(pieces, length);
}

/** The Feather file as the pieces Arrow's writer makes (column buffers, metadata, padding), never copied into one. */
interface FeatherPieces {
  pieces: Uint8Array[];
  length: number;
}

/** The Feather pieces, and the null values of each column (counted while it was built). */
function featherPieces(input: Table, compression: Compression): FeatherPieces & { nullCounts: number[] } {
  if (input.columns.length === 0) throw new Error("a table without columns cannot be written as an artifact");
  if (!Object.hasOwn(ARROW_CODEC, compression)) throw new Error(`"${compression}" is not an artifact compression (${COMPRESSIONS.join(", ")})`);
  const unavailable = compressionUnavailable(compression);
  if (unavailable) throw new Error(unavailable);
  const fields: ArrowField[] = [];
  const children: ArrowColumn<unknown>[] = [];
  const pandasColumns: object[] = [];
  const nullCounts: number[] = [];
  for (const column of input.columns) {
    const type = arrowType(column.type);
    const batch = buildBatch(input.rows, column, type);
    fields.push({ name: column.name, type, nullable: true, metadata: new Map() });
    children.push(new ArrowColumn([batch], type));
    nullCounts.push(batch.nullCount);
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
  const pieces: Uint8Array[] = [];
  let length = 0;
  const sink = {
    write: (bytes: Uint8Array) => {
      pieces.push(bytes);
      length += bytes.byteLength;
    },
    pad: (count: number) => sink.write(new Uint8Array(count)),
    finish: () => null,
  };
  tableToIPC(new ArrowTable(schema, children), { format: "file", sink, codec: ARROW_CODEC[compression] });
  if (length === 0) throw new Error("Arrow encoding produced no bytes");
  return { pieces, length, nullCounts };
}

/**
 * One Arrow batch (validity, offsets, values buffers) straight from the rows:
 * one pass per column, no per-value allocation (strings are written into one buffer).
 */
function buildBatch(rows: Row[], column: Column, type: DataType): Batch<unknown> {
  const n = rows.length;
  const name = column.name;
  // Cells are read a block at a time into one small array: no array as long as the table, which
  // V8 would keep in its large-object space until a full collection.
  const read = cellReader(name);
  const cells: Array<Value | undefined> = new Array(Math.min(BLOCK, n));
  const each = (visit: (value: Value | undefined, i: number) => void) => {
    for (let start = 0; start < n; start += BLOCK) {
      const count = read(rows, start, cells);
      for (let j = 0; j < count; j++) visit(cells[j], start + j);
    }
  };
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
      // Size the text buffer by character count (exact for ASCII); it grows only for multi-byte text.
      let chars = 0;
      each((v) => {
        if (typeof v === "string") chars += v.length;
      });
      const text = textWriter(name, chars, offsets);
      const texts: string[] = new Array(cells.length);
      for (let start = 0; start < n; start += BLOCK) {
        const count = read(rows, start, cells);
        for (let j = 0; j < count; j++) {
          const v = cells[j];
          if (present(start + j, v)) {
            if (typeof v !== "string") throw bad(v);
            texts[j] = v;
          } else {
            texts[j] = "";
          }
        }
        text.write(texts, count, start);
      }
      values = text.bytes();
      break;
    }
    case "int": {
      // Written as two 32-bit halves: a BigInt per value would be an allocation each.
      const out = new BigInt64Array(n);
      const halves = new Int32Array(out.buffer);
      each((v, i) => {
        if (!present(i, v)) return;
        if (typeof v !== "number" || !Number.isSafeInteger(v)) throw bad(v);
        const high = Math.floor(v / 2 ** 32);
        halves[2 * i] = v - high * 2 ** 32;
        halves[2 * i + 1] = high;
      });
      values = out;
      break;
    }
    case "float": {
      const out = new Float64Array(n);
      each((v, i) => {
        if (typeof v !== "number" && v !== null && v !== undefined) throw bad(v);
        out[i] = present(i, v) ? (v as number) : Number.NaN;
      });
      values = out;
      break;
    }
    case "bool": {
      const out = new Uint8Array((n + 7) >> 3);
      each((v, i) => {
        if (!present(i, v)) return;
        if (typeof v !== "boolean") throw bad(v);
        if (v) out[i >> 3]! |= 1 << (i & 7);
      });
      values = out;
      break;
    }
    case "timestamp":
    case "date": {
      const out = column.type === "date" ? new Int32Array(n) : new BigInt64Array(n);
      const halves = out instanceof BigInt64Array ? new Int32Array(out.buffer) : undefined;
      each((v, i) => {
        if (!present(i, v)) return;
        const ms = v instanceof Date ? v.getTime() : Number.NaN;
        // timestamp[ns] holds 1677-09-21 to 2262-04-11; beyond that int64 nanoseconds overflow.
        if (Number.isNaN(ms) || (column.type === "timestamp" && Math.abs(ms) > 9_223_372_036_854)) throw bad(v);
        if (out instanceof Int32Array) out[i] = Math.floor(ms / 86_400_000);
        else writeNanoseconds(halves!, i, ms);
      });
      values = out;
      break;
    }
  }
  return new Batch({ length: n, nullCount, type, validity: nullCount ? validity : new Uint8Array(0), values, offsets });
}

const BLOCK = 4096; // rows read at a time
type CellReader = (rows: Row[], start: number, out: Array<Value | undefined>) => number;
const cellReaders = new Map<string, CellReader>();

/**
 * Reads a column's cells from `start` into `out` (as many as fit), returning how many: compiled for
 * the column's name, so that each row's property is a load V8 makes fast, where `rows[i][name]`
 * with a different name per column is a slow generic one.
 */
function cellReader(name: string): CellReader {
  let read = cellReaders.get(name);
  if (!read) {
    read = new Function("rows", "start", "out", `const count = Math.min(out.length, rows.length - start);
      for (let j = 0; j < count; j++) out[j] = rows[start + j][${JSON.stringify(name)}];
      return count;`) as CellReader;
    if (cellReaders.size > 10_000) cellReaders.clear();
    cellReaders.set(name, read);
  }
  return read;
}

const MAX_TEXT_BYTES = 0x7fffffff; // Arrow's 32-bit offsets
const RUN_CHARS = 32_768; // text joined and written at once: a small string, which dies young

/**
 * A column's text as UTF-8, a run of values at a time: one write per run of ASCII text (200,000
 * writes are most of the time of a large column, a few dozen are not), value by value otherwise,
 * as a value's lone surrogate must not pair with the next value's. The buffer is sized by
 * characters (exact for ASCII) and grows for multi-byte text.
 */
function textWriter(name: string, chars: number, offsets: Int32Array) {
  let data = Buffer.allocUnsafeSlow(chars + 16);
  let end = 0;
  const room = (bytes: number) => {
    if (end + bytes <= data.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(Math.ceil(data.length * 1.5), end + bytes));
    data.copy(grown, 0, 0, end);
    data = grown;
  };
  const checked = () => {
    if (end > MAX_TEXT_BYTES) throw new Error(`column "${name}" holds more than 2 GB of text`);
  };
  /** texts[from..to), the values of rows first + from to first + to - 1. */
  const run = (texts: string[], from: number, to: number, first: number) => {
    const text = to - from === 1 ? texts[from]! : texts.slice(from, to).join("");
    if (Buffer.byteLength(text, "utf8") === text.length) { // all ASCII
      room(text.length);
      data.write(text, end, "latin1");
      for (let j = from; j < to; j++) offsets[first + j + 1] = end += texts[j]!.length;
      checked();
      return;
    }
    for (let j = from; j < to; j++) {
      const v = texts[j]!;
      if (end + v.length * 3 > data.length) room(Buffer.byteLength(v, "utf8"));
      offsets[first + j + 1] = end += data.write(v, end, "utf8");
      checked();
    }
  };
  return {
    /** texts[0..count), the values of rows first to first + count - 1. */
    write(texts: string[], count: number, first: number) {
      let from = 0;
      let runChars = 0;
      for (let j = 0; j < count; j++) {
        const length = texts[j]!.length;
        if (j > from && runChars + length > RUN_CHARS) {
          run(texts, from, j, first);
          from = j;
          runChars = 0;
        }
        runChars += length;
      }
      if (count > from) run(texts, from, count, first);
    },
    bytes: () => data.subarray(0, end),
  };
}

const TEXT_BLOCK = 4096; // values decoded at once

/** ms x 1,000,000 as an int64 (little-endian halves at i), exactly: the product is beyond a double's 53 bits. */
function writeNanoseconds(halves: Int32Array, i: number, ms: number): void {
  const highMs = Math.floor(ms / 2 ** 32); // ms = highMs x 2^32 + lowMs, 0 <= lowMs < 2^32
  const low = (ms - highMs * 2 ** 32) * 1_000_000; // < 2^52: exact
  const carry = Math.floor(low / 2 ** 32);
  halves[2 * i] = low - carry * 2 ** 32;
  halves[2 * i + 1] = highMs * 1_000_000 + carry; // wraps to the two's complement high half
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
  return Buffer.concat([...envelopeChunks({ pieces: [feather], length: feather.length })], envelopeLength(feather.length));
}

function envelopeLength(featherLength: number): number {
  const lines = Math.ceil(featherLength / LINE_BYTES);
  return ENVELOPE_HEAD.length + Math.ceil(featherLength / 3) * 4 + lines * ESCAPED_NEWLINE.length + ENVELOPE_TAIL.length;
}

function* envelopeChunks(feather: FeatherPieces): Generator<Uint8Array> {
  yield ENVELOPE_HEAD;
  const chunkBytes = LINE_BYTES * LINES_PER_CHUNK;
  const read = pieceReader(feather.pieces, chunkBytes);
  for (let start = 0; start < feather.length; start += chunkBytes) {
    const length = Math.min(chunkBytes, feather.length - start);
    const chars = Math.ceil(length / 3) * 4;
    const lines = Math.ceil(length / LINE_BYTES);
    // The base64 written into the chunk at once, then its 76-character lines moved apart from the
    // last one back, each followed by an escaped newline: no copy of the text per line.
    const out = Buffer.allocUnsafe(chars + lines * ESCAPED_NEWLINE.length);
    const bytes = read(length);
    // In pieces of 1,024 lines: each base64 string stays small enough to die young (a large one
    // lives in V8's large-object space until a full collection, and those come often then).
    for (let at = 0; at < length; at += BASE64_PIECE) {
      out.write(bytes.toString("base64", at, Math.min(at + BASE64_PIECE, length)), (at / 3) * 4, "latin1");
    }
    for (let line = lines - 1; line >= 0; line--) {
      const from = line * 76;
      const to = Math.min(from + 76, chars);
      const at = line * (76 + ESCAPED_NEWLINE.length);
      out.copyWithin(at, from, to);
      out[at + to - from] = 0x5c; // the escaped newline: backslash, n
      out[at + to - from + 1] = 0x6e;
    }
    yield out;
  }
  yield ENVELOPE_TAIL;
}

/**
 * The next `length` bytes of the pieces, in order: a view when they lie in one piece, else copied
 * into one staging buffer (reused: each read is used up before the next).
 */
function pieceReader(pieces: Uint8Array[], maxLength: number): (length: number) => Buffer {
  let piece = 0;
  let offset = 0; // into pieces[piece]
  let staging: Buffer | undefined;
  return (length) => {
    while (piece < pieces.length && offset === pieces[piece]!.byteLength) { piece++; offset = 0; }
    const current = pieces[piece]!;
    if (current.byteLength - offset >= length) {
      const view = Buffer.from(current.buffer, current.byteOffset + offset, length);
      offset += length;
      return view;
    }
    staging ??= Buffer.allocUnsafe(maxLength);
    let filled = 0;
    while (filled < length) {
      while (offset === pieces[piece]!.byteLength) { piece++; offset = 0; }
      const from = pieces[piece]!;
      const take = Math.min(length - filled, from.byteLength - offset);
      staging.set(from.subarray(offset, offset + take), filled);
      filled += take;
      offset += take;
    }
    return staging.subarray(0, length);
  };
}

// ---------------------------------------------------------------- decoding

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
export function decodeArtifactSummary(bytes: Uint8Array, key: string): ArtifactSummary {
  return readArtifact(bytes, key, (feather) => {
    const { arrow, columns } = readFeather(feather);
    // Each record batch's FieldNode says how many nulls it holds: no value is read (a compressed
    // buffer is still decompressed, as the Arrow reader prepares every buffer of a batch).
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
      // A block of ASCII values is read as one string and cut (cheap slices); other text value by value.
      for (let start = 0; start < n; start += TEXT_BLOCK) {
        const stop = Math.min(start + TEXT_BLOCK, n);
        const from = big ? Number(offsets[start]) : offsets[start];
        const to = big ? Number(offsets[stop]) : offsets[stop];
        const block = !big && isAscii(text.subarray(from, to)) ? text.toString("latin1", from, to) : undefined;
        for (let i = start; i < stop; i++) {
          if (!valid(i)) out[at + i] = null;
          else if (block !== undefined) out[at + i] = block.slice(offsets[i] - from, offsets[i + 1] - from);
          else out[at + i] = text.toString("utf8", big ? Number(offsets[i]) : offsets[i], big ? Number(offsets[i + 1]) : offsets[i + 1]);
        }
      }
    } else if (arrowType.typeId === Type.Bool) {
      for (let i = 0; i < n; i++) out[at + i] = valid(i) ? ((batch.values[i >> 3] >> (i & 7)) & 1) === 1 : null;
    } else if (arrowType.typeId === Type.Timestamp) {
      const perMs = BigInt(NS_PER_MS[arrowType.unit ?? 3]! >= 1 ? NS_PER_MS[arrowType.unit ?? 3]! : 1);
      const seconds = arrowType.unit === 0;
      // Nanoseconds (ours, and pandas'): from the two 32-bit halves, without a BigInt per value.
      const halves = arrowType.unit === 3 && batch.values instanceof BigInt64Array ? new Int32Array(batch.values.buffer, batch.values.byteOffset, 2 * n) : undefined;
      for (let i = 0; i < n; i++) {
        if (!valid(i)) { out[at + i] = null; continue; }
        if (halves) { out[at + i] = new Date(nanosecondsToMs(halves[2 * i + 1]!, halves[2 * i]! >>> 0)); continue; }
        const v = batch.values[i] as bigint;
        out[at + i] = new Date(seconds ? Number(v) * 1000 : Number(v / perMs));
      }
    } else if (arrowType.typeId === Type.Date) {
      const days = arrowType.unit === 0; // DateUnit.DAY
      for (let i = 0; i < n; i++) out[at + i] = valid(i) ? new Date(days ? batch.values[i] * 86_400_000 : Number(batch.values[i])) : null;
    } else {
      const values = batch.values;
      const big = values instanceof BigInt64Array || values instanceof BigUint64Array;
      // int64 from its two 32-bit halves (exact whenever the value is a safe integer), without a BigInt per value.
      const halves = values instanceof BigInt64Array ? new Int32Array(values.buffer, values.byteOffset, 2 * n) : undefined;
      for (let i = 0; i < n; i++) {
        if (!valid(i)) { out[at + i] = null; continue; }
        const v = halves ? halves[2 * i + 1]! * 2 ** 32 + (halves[2 * i]! >>> 0) : big ? Number(values[i]) : values[i];
        if (big && !Number.isSafeInteger(v)) throw new Error(`column value ${values[i]} is beyond the safe integer range`);
        out[at + i] = type === "float" && Number.isNaN(v) ? null : v;
      }
    }
    at += n;
  }
  return out;
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
