// The Prefect 2 result envelope around the Feather bytes: JSON whose "data" is the file in base64,
// in 76-character lines (Python's base64.encodebytes), written and read in chunks so that a large
// artifact is never one huge string (docs/datasets.md §8.2).

const PREFECT_VERSION = "2.20.3";
const ENVELOPE_HEAD = Buffer.from('{"serializer": {"type": "pandas_feather"}, "data": "');
const ENVELOPE_TAIL = Buffer.from(`", "prefect_version": "${PREFECT_VERSION}"}`);
const ESCAPED_NEWLINE = Buffer.from("\\n"); // a newline inside a JSON string
const LINE_BYTES = 57; // base64.encodebytes: 57 input bytes -> one 76-character line
const LINES_PER_CHUNK = 16_384;
const BASE64_PIECE = LINE_BYTES * 1024; // a multiple of 3: pieces encode independently

/** The Feather file as the pieces Arrow's writer makes (column buffers, metadata, padding), never copied into one. */
export interface FeatherPieces {
  pieces: Uint8Array[];
  length: number;
}

/** Wrap Feather bytes in the envelope: base64 in 76-character lines, each ending in an escaped newline. */
export function envelope(feather: Uint8Array): Buffer {
  return Buffer.concat([...envelopeChunks({ pieces: [feather], length: feather.length })], envelopeLength(feather.length));
}

export function envelopeLength(featherLength: number): number {
  const lines = Math.ceil(featherLength / LINE_BYTES);
  return ENVELOPE_HEAD.length + Math.ceil(featherLength / 3) * 4 + lines * ESCAPED_NEWLINE.length + ENVELOPE_TAIL.length;
}

export function* envelopeChunks(feather: FeatherPieces): Generator<Uint8Array> {
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
