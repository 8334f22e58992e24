// Writing an artifact: a table to Feather v2 (Arrow IPC file) with pandas metadata, column by
// column straight from the rows, then wrapped in the envelope in pieces.
import {
  bool, dateDay, Endianness, float64, getCompressionCodec, int64, timestamp, TimeUnit, utf8, Version, type DataType, type Field as ArrowField,
} from "@uwdata/flechette";
import { encodeIPC } from "@uwdata/flechette/src/encode/encode-ipc.js";
import { columnar, ColumnarTable, DictText, isEncodedText, NULL_BOOL, Utf8Vector, type Column, type ColumnType, type Table, type Vector } from "../table/table.ts";
import { ARROW_CODEC, COMPRESSIONS, compressionUnavailable, DEFAULT_COMPRESSION, type Compression } from "./compression.ts";
import { envelope, envelopeChunks, envelopeLength, type FeatherPieces } from "./envelope.ts";
import type { Turn } from "../core/turns.ts";

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
  columns: Column[];
  rowCount: number;
  nullCounts: number[];
  /** The table as written, by columns (what a later flow of the same build reads instead of the lake), unless not asked for. */
  table?: ColumnarTable;
}

/**
 * Encode a table as an envelope written in pieces (the Feather bytes are kept, the base64 is made on
 * demand). With `handOn: false` the table as written is not kept (nothing reads it after this write).
 */
export function encodeArtifactBody(input: Table, compression: Compression = DEFAULT_COMPRESSION, options: { handOn?: boolean } = {}): EncodedTable {
  return encodedTable(finish(featherPieces(input, compression, options.handOn ?? true)));
}

/** The longest the event loop waits for an encoding between two columns (one column is never cut). */
export const YIELD_MS = 10;

/**
 * {@link encodeArtifactBody}, letting the event loop run between columns every {@link YIELD_MS}: in
 * a build, the answers the other flows are waiting for are read while a large table is encoded
 * (raw_verra_data's requests no longer wait behind a second of another flow's encoding). With
 * `turn`, each pause lasts until the flow's turn (lib/core/turns.ts).
 */
export async function encodeArtifactBodyYielding(input: Table, compression: Compression = DEFAULT_COMPRESSION, options: { handOn?: boolean; turn?: Turn } = {}): Promise<EncodedTable> {
  const steps = featherPieces(input, compression, options.handOn ?? true);
  let since = performance.now();
  for (;;) {
    const step = steps.next();
    if (step.done) return encodedTable(step.value);
    if (performance.now() - since >= YIELD_MS) {
      await (options.turn ? options.turn() : new Promise(setImmediate));
      since = performance.now();
    }
  }
}

/** The result of a generator run to its end at once. */
function finish<T>(steps: Generator<unknown, T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

function encodedTable(feather: FeatherResult): EncodedTable {
  return {
    length: envelopeLength(feather.length), chunks: () => envelopeChunks(feather),
    columns: feather.columns, rowCount: feather.rows, nullCounts: feather.nullCounts, table: feather.table,
  };
}

/**
 * The Feather v2 bytes (Arrow IPC file) of a table, with pandas metadata, each buffer compressed
 * as asked (a buffer that compression does not shrink is kept as it is, marked so, as pyarrow does).
 */
export function encodeFeather(input: Table, compression: Compression = DEFAULT_COMPRESSION): Uint8Array {
  const { pieces, length } = finish(featherPieces(input, compression, false));
  return Buffer.concat(pieces, length);
}

type FeatherResult = FeatherPieces & { columns: Column[]; rows: number; nullCounts: number[]; table?: ColumnarTable };

/** The Feather pieces, and the null values of each column (counted while it was built); a step per column. */
function* featherPieces(input: Table, compression: Compression, handOn: boolean): Generator<void, FeatherResult> {
  if (input.columns.length === 0) throw new Error("a table without columns cannot be written as an artifact");
  if (!Object.hasOwn(ARROW_CODEC, compression)) throw new Error(`"${compression}" is not an artifact compression (${COMPRESSIONS.join(", ")})`);
  const unavailable = compressionUnavailable(compression);
  if (unavailable) throw new Error(unavailable);
  const fields: ArrowField[] = [];
  const pandasColumns: object[] = [];
  const nullCounts: number[] = [];
  const body = recordBatchBody(compression);
  const written: Vector[] | undefined = handOn ? [] : undefined; // the table as written: text as the bytes just made, not strings
  const t = columnar(input); // a table of rows is read column by column here, each value checked
  for (const [k, column] of t.columns.entries()) {
    const type = arrowType(column.type);
    // Each column's buffers are compressed as soon as they are made: only the compressed ones stay.
    const { nullCount, buffers, text } = columnBuffers(t.vectors[k]!, t.length, column);
    written?.push(text ?? t.vectors[k]!);
    body.add(t.length, nullCount, buffers);
    fields.push({ name: column.name, type, nullable: true, metadata: new Map() });
    nullCounts.push(nullCount);
    pandasColumns.push({ name: column.name, field_name: column.name, ...pandasType(column.type, nullCount > 0), metadata: null });
    yield;
  }
  const pandas = {
    index_columns: [{ kind: "range", name: null, start: 0, stop: t.length, step: 1 }],
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
  encodeIPC({ schema, dictionaries: [], records: [{ length: t.length, ...body.done() }] }, { format: "file", sink: sink as never, codec: ARROW_CODEC[compression] ?? undefined });
  if (length === 0) throw new Error("Arrow encoding produced no bytes");
  return { pieces, length, columns: t.columns, rows: t.length, nullCounts, table: written && new ColumnarTable(t.columns, written, t.length) };
}

/**
 * The body of a record batch, a column's buffers at a time, as Arrow lays it out (flechette's
 * tableToIPC would make the same bytes, but copies each compressed buffer once more): compressed,
 * each buffer is its uncompressed length in 8 bytes (-1: kept as it is, when compression does not
 * shrink it, as pyarrow does) then its bytes; every buffer padded to 8 bytes.
 */
function recordBatchBody(compression: Compression) {
  const id = ARROW_CODEC[compression];
  const codec = id === null ? undefined : getCompressionCodec(id)!;
  const nodes: Array<{ length: number; nullCount: number }> = [];
  const regions: Array<{ offset: number; length: number }> = [];
  const buffers: Uint8Array[] = [];
  let byteLength = 0;
  const append = (bytes: Uint8Array) => {
    if (bytes.byteLength) buffers.push(bytes);
    byteLength += (bytes.byteLength + 7) & ~7;
  };
  return {
    add(length: number, nullCount: number, columnBuffers: ArrayBufferView[]) {
      nodes.push({ length, nullCount });
      for (const buffer of columnBuffers) {
        const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
        if (!codec) {
          regions.push({ offset: byteLength, length: bytes.byteLength });
          append(bytes);
          continue;
        }
        const compressed = codec.encode(bytes);
        const keep = compressed.byteLength < bytes.byteLength;
        const prefix = new Uint8Array(8);
        new DataView(prefix.buffer).setBigInt64(0, keep ? BigInt(bytes.byteLength) : -1n, true);
        regions.push({ offset: byteLength, length: 8 + (keep ? compressed : bytes).byteLength });
        append(prefix);
        append(keep ? compressed : bytes);
      }
    },
    done: () => ({ nodes, regions, variadic: [], buffers, byteLength }),
  };
}

/**
 * A column's Arrow buffers (validity, offsets for text, values) from its vector: one pass, no
 * per-value allocation (strings are written into one buffer).
 */
function columnBuffers(vector: Vector, n: number, column: Column): { nullCount: number; buffers: ArrayBufferView[]; text?: Utf8Vector } {
  const validity = new Uint8Array((n + 7) >> 3);
  let nullCount = 0;
  const bad = (value: unknown) => new Error(`column "${column.name}" (${column.type}) cannot hold ${JSON.stringify(value)}`);
  const present = (i: number, isNull: boolean): boolean => {
    if (isNull) {
      nullCount++;
      return false;
    }
    validity[i >> 3]! |= 1 << (i & 7);
    return true;
  };
  let values: Uint8Array | Int32Array | Float64Array | BigInt64Array;
  let offsets: Int32Array | undefined;
  // Strings are made UTF-8 bytes first: those bytes are also what a later flow of the build reads.
  let made: Utf8Vector | undefined;
  if (Array.isArray(vector) || isEncodedText(vector)) {
    // Text as bytes (decoded from an artifact, or just made): its bytes and offsets, as they are.
    // Codes into distinct values are written as the text they stand for, and handed on as they are.
    if (Array.isArray(vector)) made = Utf8Vector.fromStrings(vector, n, column.name);
    const bytes = made ?? (vector instanceof DictText ? vector.toUtf8(column.name) : (vector as Utf8Vector));
    const { vector: text, nullCount: nulls } = bytes.compact();
    if (nulls) for (let i = 0; i < n; i++) present(i, text.isNull(i));
    values = text.bytes.subarray(0, text.offsets[n]);
    offsets = text.offsets.subarray(0, n + 1);
  } else if (column.type === "bool") {
    const out = new Uint8Array((n + 7) >> 3);
    for (let i = 0; i < n; i++) if (present(i, vector[i] === NULL_BOOL) && vector[i] === 1) out[i >> 3]! |= 1 << (i & 7);
    values = out;
  } else if (column.type === "float") {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const v = vector[i]!;
      out[i] = present(i, v !== v) ? v : Number.NaN;
    }
    values = out;
  } else if (column.type === "int") {
    // Written as two 32-bit halves: a BigInt per value would be an allocation each.
    const out = new BigInt64Array(n);
    const halves = new Int32Array(out.buffer);
    for (let i = 0; i < n; i++) {
      const v = vector[i]!;
      if (!present(i, v !== v)) continue;
      const high = Math.floor(v / 2 ** 32);
      halves[2 * i] = v - high * 2 ** 32;
      halves[2 * i + 1] = high;
    }
    values = out;
  } else {
    const out = column.type === "date" ? new Int32Array(n) : new BigInt64Array(n);
    const halves = out instanceof BigInt64Array ? new Int32Array(out.buffer) : undefined;
    for (let i = 0; i < n; i++) {
      const ms = vector[i]!;
      if (!present(i, ms !== ms)) continue;
      // timestamp[ns] holds 1677-09-21 to 2262-04-11; beyond that int64 nanoseconds overflow.
      if (column.type === "timestamp" && Math.abs(ms) > 9_223_372_036_854) throw bad(new Date(ms));
      if (out instanceof Int32Array) out[i] = Math.floor(ms / 86_400_000);
      else writeNanoseconds(halves!, i, ms);
    }
    values = out;
  }
  const buffers = [nullCount ? validity : new Uint8Array(0), ...(offsets ? [offsets] : []), values];
  return { nullCount, buffers, text: made };
}

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
