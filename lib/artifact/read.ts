// Reading an artifact: unwrap the envelope, read the Feather file (only the columns asked for), and
// turn its columns back into a table; every failure is one line naming the key.
import {
  Batch, Column as ArrowColumn, Table as ArrowTable, tableFromIPC, Type, type DataType, type Field as ArrowField,
} from "@uwdata/flechette";
import { ArtifactError, errorMessage } from "../core/errors.ts";
import { ColumnarTable, concatUtf8, NULL_BOOL, Utf8Vector, vectorBuilder, type Column, type ColumnType, type Table, type Value, type Vector } from "../table/table.ts";
import { decodeBlocks } from "@uwdata/flechette/src/decode/block.js";
import { decodeIPCFile } from "@uwdata/flechette/src/decode/decode-ipc.js";
import { readObject } from "@uwdata/flechette/src/util/read.js";
import { inflate, withoutValues } from "./compression.ts"; // and the codecs that decompress the body
import { envelopeSpan, featherBytes, regularEnvelope, unwrapEnvelope } from "./envelope.ts";

/** Decode artifact bytes; every failure names the key. With `columns`, only those are read (faster, leaner). */
export function decodeArtifact(bytes: Uint8Array, key: string, columns?: readonly string[], options: ConsumeOption = {}): Table {
  return readArtifact(bytes, key, options, (feather) => decodeFeather(feather, columns));
}

/** `consume`: the bytes are the caller's to give up, and are overwritten as they are read (one copy less in memory). */
export interface ConsumeOption {
  consume?: boolean;
}

/** What validation needs of an artifact: its columns, row count and null values by column. */
export interface ArtifactSummary {
  columns: Column[];
  rowCount: number;
  /** Null values by column (same order as `columns`), from the record batches' null counts. */
  nullCounts: number[];
}

/** The columns, row count and null counts of an artifact, without reading its values (for validation). */
export function decodeArtifactSummary(bytes: Uint8Array, key: string, options: { checkValues?: boolean } & ConsumeOption = {}): ArtifactSummary {
  return readArtifact(bytes, key, options, (feather) => {
    // Each record batch's FieldNode says how many nulls it holds: no value is read. The buffers are
    // still decompressed (which proves them whole: promote and fetch check artifacts so) unless
    // `checkValues` is false (the runner, sizing up the previous -latest it is about to replace).
    if (options.checkValues === false) return summaryOf(feather);
    const { arrow, columns } = readFeather(feather);
    const nullCounts = columns.map(({ index }) => arrow.getChildAt(index).nullCount);
    return { columns: columns.map((c) => c.column), rowCount: arrow.numRows, nullCounts };
  });
}

/** A stored artifact's size, and its bytes [start, end) on demand (a lake's readRanges gives them). */
export interface ByteRanges {
  size: number;
  read(start: number, end: number): Promise<Buffer>;
}

const END_BYTES = 65_536; // read at each end of an artifact: the envelope, and most often all the Arrow metadata

/**
 * What {@link decodeArtifactSummary} says without checking values, from a few ranges of the artifact:
 * its two ends (the envelope; the Feather file's footer, and most often its record batch's header),
 * and what they point to. The values are not read, nor, for a large artifact, most of its bytes.
 * Undefined when the artifact is small or not in regular lines (read it whole then). A failure
 * names the key; the whole artifact, read, tells then whether it is unreadable.
 */
export async function decodeArtifactSummaryByRanges(source: ByteRanges, key: string): Promise<ArtifactSummary | undefined> {
  const { size } = source;
  if (size <= 4 * END_BYTES) return undefined;
  try {
    const head = await source.read(0, END_BYTES);
    const tailStart = size - END_BYTES;
    const tail = await source.read(tailStart, size);
    const layout = regularEnvelope(head, tail, size);
    if (!layout) return undefined;
    const length = layout.featherLength;
    // The Feather file at its length, zeros (which the OS does not back) but where its metadata is.
    const feather = new Uint8Array(length);
    const fill = async (from: number, to: number) => {
      if (from < 0 || to > length || from > to) throw new Error(`the Arrow metadata points to bytes ${from} to ${to} of a ${length}-byte file`);
      const { start, end } = envelopeSpan(layout, from, to);
      const span = end <= head.length ? head.subarray(start, end) : start >= tailStart ? tail.subarray(start - tailStart, end - tailStart) : await source.read(start, end);
      feather.set(featherBytes(layout, span, from, to), from);
    };
    await fill(0, 8);
    await fill(length - 10, length);
    if (Buffer.from(feather.buffer, length - 6, 6).toString("latin1") !== "ARROW1") throw new Error("no ARROW1 magic at the end");
    const footerLength = new DataView(feather.buffer).getInt32(length - 10, true);
    await fill(length - 10 - footerLength, length - 10);
    const footer = readObject(feather, length - 10 - footerLength);
    for (const block of [...footer(8, decodeBlocks, []), ...footer(10, decodeBlocks, [])]) await fill(block.offset, block.offset + block.metadataLength);
    return summaryOf(feather);
  } catch (error) {
    throw new ArtifactError(`artifact ${key} holds no readable Feather table (corrupted or truncated?): ${errorMessage(error)}`);
  }
}

/** Columns, rows and null counts from the Arrow metadata alone (the schema, the record batches' FieldNodes). */
function summaryOf(feather: Uint8Array): ArtifactSummary {
  checkMagic(feather);
  const { schema, records } = decodeIPCFile(feather);
  if (!schema) throw new Error("no schema");
  const indexColumns = pandasIndexColumns(schema.metadata);
  // Each field takes one FieldNode per level of it, in order: the first is its own.
  const nodeCount = (type: DataType): number => 1 + ((type as { children?: ArrowField[] }).children ?? []).reduce((n, child) => n + nodeCount(child.type), 0);
  const columns: Column[] = [];
  const nodes: number[] = [];
  let node = 0;
  for (const field of schema.fields) {
    if (!indexColumns.has(field.name) && !/^__index_level_\d+__$/.test(field.name)) {
      columns.push({ name: field.name, type: columnType(field) });
      nodes.push(node);
    }
    node += nodeCount(field.type);
  }
  const batches = records ?? [];
  return {
    columns,
    rowCount: batches.reduce((n, batch) => n + (batch.length ?? 0), 0),
    nullCounts: nodes.map((at) => batches.reduce((n, batch) => n + batch.nodes[at]!.nullCount, 0)),
  };
}

/** Unwrap the envelope and read the Feather bytes, turning any failure into one line naming the key. */
function readArtifact<T>(bytes: Uint8Array, key: string, options: ConsumeOption, read: (feather: Uint8Array) => T): T {
  let feather: Uint8Array;
  try {
    feather = unwrapEnvelope(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { inPlace: options.consume });
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
  checkMagic(feather);
  const arrow = tableFromIPC(feather);
  const indexColumns = pandasIndexColumns(arrow.schema.metadata);
  const columns: Array<{ column: Column; index: number }> = [];
  arrow.schema.fields.forEach((field, index) => {
    if (indexColumns.has(field.name) || /^__index_level_\d+__$/.test(field.name)) return;
    columns.push({ column: { name: field.name, type: columnType(field) }, index });
  });
  return { arrow, columns };
}

function checkMagic(feather: Uint8Array): void {
  const magic = Buffer.from(feather.buffer, feather.byteOffset, Math.min(6, feather.length)).toString("latin1");
  if (magic !== "ARROW1") throw new Error("not an Arrow IPC file (no ARROW1 magic)");
}

/** Arrow IPC file bytes to a (columnar) table. pandas index columns are dropped. */
export function decodeFeather(feather: Uint8Array, only?: readonly string[]): ColumnarTable {
  // The buffers are decompressed column by column as they are read: those of a column not asked
  // for never are, and a numeric column's are garbage before the next column's are made.
  const toTable = (read: ReturnType<typeof readFeather>) => {
    const { arrow } = read;
    const columns = only ? read.columns.filter((c) => only.includes(c.column.name)) : read.columns;
    const vectors = columns.map(({ column, index }) => readColumn(arrow.getChildAt(index), column));
    return new ColumnarTable(columns.map((c) => c.column), vectors, arrow.numRows);
  };
  // A dictionary's values are read while the file is (a file of ours has none): such a file is read whole.
  return withoutValues(() => {
    const read = readFeather(feather);
    return read.arrow.schema.fields.some((f) => f.type.typeId === Type.Dictionary) ? undefined : toTable(read);
  }) ?? toTable(readFeather(feather));
}

const NS_PER_MS = [1e-3, 1, 1e3, 1e6]; // by Arrow TimeUnit: s, ms, us, ns

type ArrowBatch = Batch<unknown> & { validity: Uint8Array; values: any; offsets?: any };

/** A column's values as a vector, reading the Arrow buffers directly (no per-value views, no cells). */
function readColumn(arrowColumn: ArrowColumn<unknown>, column: Column): Vector {
  const batches = arrowColumn.data as ArrowBatch[];
  for (const batch of batches) for (const buffer of [batch.validity, batch.values, batch.offsets]) inflate(buffer);
  const type = column.type;
  const isText = (b: ArrowBatch) => b.type.typeId === Type.Utf8 || b.type.typeId === Type.LargeUtf8;
  // Text stays UTF-8 bytes (strings are made if a flow reads them), unless it is dictionary-encoded.
  if (type === "string" && batches.every(isText)) {
    const parts = batches.map(textOf);
    return parts.length === 1 ? parts[0]! : concatUtf8(parts, arrowColumn.length);
  }
  const length = arrowColumn.length;
  const strings: (string | null)[] | undefined = type === "string" ? new Array(length) : undefined;
  const numbers = type === "int" || type === "float" || type === "timestamp" || type === "date" ? new Float64Array(length) : undefined;
  const bools = type === "bool" ? new Uint8Array(length) : undefined;
  let at = 0;
  for (const batch of batches) {
    const n = batch.length;
    const valid = batch.nullCount === 0 ? () => true : (i: number) => ((batch.validity[i >> 3]! >> (i & 7)) & 1) === 1;
    const arrowType = batch.type as DataType & { unit?: number };
    const id = arrowType.typeId;
    const fast = (numbers && (id === Type.Int || id === Type.Timestamp || id === Type.Date || (id === Type.Float && (batch.values instanceof Float64Array || batch.values instanceof Float32Array))))
      || (bools && id === Type.Bool);
    if (!fast) {
      // Dictionaries and rare types, value by value through the generic accessor.
      const out = vectorBuilder(column, n);
      for (let i = 0; i < n; i++) out.set(i, toCell(batch.at(i), type));
      if (strings) for (let i = 0; i < n; i++) strings[at + i] = (out.vector as (string | null)[])[i]!;
      else (numbers ?? bools)!.set(out.vector as Float64Array & Uint8Array, at);
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
 * A batch's text as a Utf8Vector. Decompressed buffers are the batch's own and are kept as they
 * are; the buffers of an uncompressed file are views of the whole file, and are copied so as not
 * to keep it alive.
 */
function textOf(batch: ArrowBatch): Utf8Vector {
  const n = batch.length;
  if (n === 0) return new Utf8Vector(new Uint8Array(0), new Int32Array(1), null, 0); // a writer may leave out the one offset
  // A copy, not Buffer#slice (a view): a Buffer's slice would keep the whole file alive.
  const own = <T extends Uint8Array | Int32Array>(b: T, length: number): T =>
    b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : (new (b.constructor === Int32Array ? Int32Array : Uint8Array)(b.subarray(0, length)) as T);
  const offsets = batch.offsets instanceof Int32Array
    ? own(batch.offsets, n + 1)
    : Int32Array.from(batch.offsets as BigInt64Array, Number); // LargeUtf8: our columns are far below 2 GB
  const validity = batch.nullCount === 0 ? null : own(batch.validity as Uint8Array, (n + 7) >> 3);
  return new Utf8Vector(own(batch.values as Uint8Array, offsets[n]!), offsets, validity, n);
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
