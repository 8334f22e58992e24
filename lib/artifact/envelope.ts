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

/**
 * Find the envelope's "data" string and base64-decode it in chunks, without ever making one huge JS
 * string. With `inPlace`, the caller's bytes are used up: the Feather file is decoded over them
 * (base64 is longer than what it encodes, so the output never overtakes the text still to read),
 * which spares an allocation the size of the file, provided the text is in regular lines.
 */
export function unwrapEnvelope(bytes: Buffer, options: { inPlace?: boolean } = {}): Buffer {
  const keyAt = dataKeyAt(bytes);
  if (keyAt < 0) throw new Error('no "data" field');
  const open = bytes.indexOf(0x22 /* " */, keyAt + 6);
  const close = open < 0 ? -1 : bytes.indexOf(0x22, open + 1);
  if (open < 0 || close < 0) throw new Error('the "data" string is not terminated');
  checkSerializer(bytes.subarray(0, open), bytes.subarray(close + 1));
  const inPlace = options.inPlace ? decodeRegularLines(bytes, open + 1, close) : undefined;
  if (inPlace !== undefined) return bytes.subarray(0, inPlace);
  const out = Buffer.allocUnsafe(Math.ceil(((close - open) * 3) / 4));
  const written = decodeLines(bytes, open + 1, close, out) ?? decodeBase64(bytes, open + 1, close, out);
  return out.subarray(0, written);
}

/** The envelope around its "data" string (`before` up to the opening quote, `after` from the closing one) says pandas_feather. */
function checkSerializer(before: Buffer, after: Buffer): void {
  const rest = JSON.parse(`${before.toString("utf8")}""${after.toString("utf8")}`);
  if (rest?.serializer?.type !== "pandas_feather") {
    throw new Error(`serializer is ${JSON.stringify(rest?.serializer)}, expected {"type": "pandas_feather"}`);
  }
}

/** Where an envelope in regular lines holds its Feather file: the data string's first character, and the file's length. */
export interface RegularEnvelope {
  dataStart: number;
  featherLength: number;
}

/**
 * The layout of an envelope of `size` bytes read from its two ends only (`head`: its first bytes,
 * `tail`: its last), when its data is in regular lines (76 characters, each but maybe the last
 * followed by an escaped newline: as Python and we write it), so that any Feather byte's place in
 * it is known. Undefined when the ends do not show that (or do not reach into the data: a small
 * file, to be read whole); throws for what is no envelope of ours. The lines between the two ends
 * are taken to be regular too: a reader of the Feather bytes so found must still check them.
 */
export function regularEnvelope(head: Buffer, tail: Buffer, size: number): RegularEnvelope | undefined {
  const keyAt = dataKeyAt(head);
  const open = keyAt < 0 ? -1 : head.indexOf(0x22 /* " */, keyAt + 6);
  const dataStart = open + 1;
  const tailStart = size - tail.length;
  if (open < 0 || dataStart + 78 > head.length || tailStart <= dataStart) return undefined;
  if (!isLineBreak(head, dataStart + 76) || !isBase64(head.subarray(dataStart, dataStart + 76))) return undefined;
  const close = tail.indexOf(0x22); // base64 and escaped newlines hold no quote: the first one ends the data
  if (close < 0) return undefined;
  checkSerializer(head.subarray(0, open), tail.subarray(close + 1));
  // The data is m lines of 76 characters, each followed by an escaped newline, then a last line of
  // r characters (1 to 76), maybe followed by one too.
  const end = tailStart + close;
  const endsInBreak = isLineBreak(tail, close - 2);
  const lines = end - (endsInBreak ? 2 : 0) - dataStart;
  const m = Math.floor(lines / 78);
  const r = lines - m * 78;
  if (r < 1 || r > 76) return undefined;
  const lastBreak = dataStart + m * 78 - 2; // the one before the last line, if the tail reaches it
  if (m > 0 && lastBreak >= tailStart && !isLineBreak(tail, lastBreak - tailStart)) return undefined;
  const chars = m * 76 + r;
  const lastLine = tail.subarray(Math.max(0, close - (endsInBreak ? 2 : 0) - r), close - (endsInBreak ? 2 : 0));
  if (chars % 4 !== 0 || !isBase64(lastLine)) return undefined;
  const padding = lastLine.at(-1) === 0x3d ? (lastLine.at(-2) === 0x3d ? 2 : 1) : 0;
  return { dataStart, featherLength: (chars / 4) * 3 - padding };
}

/** The envelope bytes [start, end) that hold the Feather bytes [from, to) of a regular envelope. */
export function envelopeSpan(layout: RegularEnvelope, from: number, to: number): { start: number; end: number } {
  const place = (char: number) => layout.dataStart + Math.floor(char / 76) * 78 + (char % 76);
  const last = Math.ceil(Math.min(to, layout.featherLength) / 3) * 4 - 1; // the last character of the last quartet
  return { start: place(Math.floor(from / 3) * 4), end: place(last) + 1 };
}

/** The Feather bytes [from, to) out of the envelope bytes `span` of {@link envelopeSpan}(layout, from, to). */
export function featherBytes(layout: RegularEnvelope, span: Buffer, from: number, to: number): Buffer {
  const text = span.toString("latin1").replaceAll("\\n", "");
  if (!isBase64(Buffer.from(text, "latin1"))) throw new Error("data is not base64");
  const skip = from - Math.floor(from / 3) * 3;
  return Buffer.from(text, "base64").subarray(skip, skip + Math.min(to, layout.featherLength) - from);
}

const isLineBreak = (bytes: Uint8Array, at: number) => at >= 0 && bytes[at] === 0x5c /* \ */ && bytes[at + 1] === 0x6e /* n */;
const isBase64 = (bytes: Uint8Array) => bytes.every((c, i) => DIGITS[c]! >= 0 || (c === 0x3d && i >= bytes.length - 2));

const REGULAR_PIECE = 78 * 1024; // 1,024 lines: whole quartets, and a string small enough to die young

/**
 * Regular lines (of 76 characters, each but the last followed by an escaped newline, as Python and
 * we write them) decoded over themselves: each escaped newline made two spaces, which Node's decoder
 * skips, then the text decoded by Node a thousand lines at a time, with no copy per line. Undefined
 * for text in other lines.
 */
function decodeRegularLines(bytes: Buffer, from: number, to: number): number | undefined {
  let escapes = 0;
  for (let at = from + 76; at < to; at += 78) {
    // Not lines of 76: read the general way (which skips the spaces made so far, as whitespace).
    if (at + 1 >= to || !isLineBreak(bytes, at)) return undefined;
    bytes[at] = 0x20;
    bytes[at + 1] = 0x20;
    escapes++;
  }
  if (to - from >= 2 && isLineBreak(bytes, to - 2)) { // a last line ended by one too
    bytes[to - 2] = bytes[to - 1] = 0x20;
    escapes++;
  }
  let written = 0;
  let last = to - 1; // the last character that is not one of those spaces
  while (last >= from && bytes[last] === 0x20) last--;
  const padding = bytes[last] === 0x3d ? (bytes[last - 1] === 0x3d ? 2 : 1) : 0;
  for (let at = from; at < to; at += REGULAR_PIECE) written += bytes.write(bytes.toString("latin1", at, Math.min(at + REGULAR_PIECE, to)), written, "base64");
  // Node's decoder skips what is not base64 too: the count of bytes tells whether there was any.
  const digits = to - from - 2 * escapes;
  if (digits % 4 !== 0 || written !== (digits / 4) * 3 - padding) throw new Error("data is not base64");
  return written;
}

const PIECE = 49_152; // base64 characters decoded at once: a string small enough to die young

/**
 * The common case, fast: lines of base64 between escaped newlines. Each piece of text is gathered
 * without its escapes (a copy per line, found with indexOf) and decoded by Node. Undefined when the
 * text holds anything else (another escape, whitespace, a stray character): {@link decodeBase64}
 * then reads it, and says what is wrong.
 */
function decodeLines(bytes: Buffer, from: number, to: number, out: Buffer): number | undefined {
  const piece = Buffer.allocUnsafe(PIECE + 80);
  let filled = 0; // characters in `piece`
  let written = 0;
  const flush = (all: boolean): boolean => {
    const usable = all ? filled : filled - (filled % 4);
    const text = piece.toString("latin1", 0, usable);
    const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
    if (out.write(text, written, "base64") !== (usable / 4) * 3 - padding || usable % 4 !== 0) return false;
    written += (usable / 4) * 3 - padding;
    piece.copy(piece, 0, usable, filled); // the characters of a quartet that goes on in the next piece
    filled -= usable;
    return true;
  };
  for (let at = from; at < to;) {
    const escape = bytes.indexOf(0x5c /* \ */, at);
    const end = escape < 0 || escape >= to ? to : escape;
    while (at < end) { // the line, into the piece
      const take = Math.min(end - at, PIECE + 80 - filled);
      bytes.copy(piece, filled, at, at + take);
      filled += take;
      at += take;
      if (filled >= PIECE && !flush(false)) return undefined;
    }
    if (end === to) break;
    if (bytes[end + 1] !== 0x6e /* n */) return undefined;
    at = end + 2;
  }
  return flush(true) ? written : undefined;
}

/** Each byte's value as a base64 digit, -1 for a byte that is not one. */
const DIGITS = new Int8Array(256).fill(-1);
[..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"].forEach((c, i) => { DIGITS[c.charCodeAt(0)] = i; });
DIGITS[0x2d] = 62; // "-" and "_": the URL-safe alphabet, which Node's decoder reads too
DIGITS[0x5f] = 63;

/**
 * The base64 text of a JSON string (bytes[from..to)) decoded into `out` a character at a time,
 * skipping escaped newlines (backslash n or r) and raw whitespace, reading an escaped slash as a
 * slash: the general case, and the one that says what is wrong. Returns the bytes written.
 */
function decodeBase64(bytes: Uint8Array, from: number, to: number, out: Uint8Array): number {
  let written = 0;
  let bits = 0; // accumulated, 6 per digit
  let count = 0; // digits in the current quartet
  let padding = 0;
  for (let i = from; i < to; i++) {
    let c = bytes[i]!;
    if (c === 0x5c) { // an escape: \n and \r are line breaks, \/ is a slash
      const next = bytes[++i];
      if (next === 0x6e || next === 0x72) continue;
      if (next !== 0x2f) throw new Error("data is not base64");
      c = 0x2f;
    } else if (c === 0x0a || c === 0x0d || c === 0x20) {
      continue;
    }
    if (c === 0x3d) { // "=": the end of the data
      padding++;
      continue;
    }
    const digit = DIGITS[c]!;
    if (digit < 0 || padding > 0) throw new Error("data is not base64");
    bits = (bits << 6) | digit;
    if (++count === 4) {
      out[written++] = bits >>> 16;
      out[written++] = (bits >>> 8) & 0xff;
      out[written++] = bits & 0xff;
      bits = 0;
      count = 0;
    }
  }
  // A last quartet of 2 or 3 digits, padded to 4 by "==" or "=", gives 1 or 2 bytes.
  if ((count > 0 || padding > 0) && (count < 2 || count + padding !== 4)) throw new Error("base64 data is truncated");
  if (count === 2) out[written++] = (bits >>> 4) & 0xff;
  if (count === 3) {
    out[written++] = bits >>> 10;
    out[written++] = (bits >>> 2) & 0xff;
  }
  return written;
}

/** Where the envelope's "data" key is, or -1. */
function dataKeyAt(bytes: Buffer): number {
  const compact = bytes.indexOf('"data":');
  return compact >= 0 ? compact : bytes.indexOf('"data" :');
}
