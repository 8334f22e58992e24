// Text columns as Arrow holds them: the UTF-8 bytes of all values one after the other, an offset
// per value and a validity bitmap. An artifact's text columns decode to this form and are written
// from it; strings are made only for a column a flow reads, so a column that is merely carried
// along, filtered, sorted or joined costs no string and no JavaScript object at all.
import { isAscii } from "node:buffer";

export class Utf8Vector {
  #strings: (string | null)[] | undefined;
  #decoder: ReturnType<typeof blockDecoder> | undefined;
  #block = -1; // the block whose strings `at` holds
  #blockStrings: (string | null)[] = [];
  #blocksDecoded = 0;

  /**
   * Value i is bytes[offsets[i]..offsets[i + 1]) as UTF-8, or null when bit i of `validity` is 0
   * (no bitmap: no null). The vector is immutable and owns its buffers (they are never written).
   */
  constructor(readonly bytes: Uint8Array, readonly offsets: Int32Array, readonly validity: Uint8Array | null, readonly length: number) {
    if (offsets.length < length + 1) throw new Error(`${length} text values need ${length + 1} offsets, not ${offsets.length}`);
  }

  /**
   * Strings (and nulls) as a text vector, the first `length` of them: their UTF-8 bytes, made by a
   * {@link Utf8Builder} sized for them. `name` is the column's, for the one error: more than Arrow's
   * 2 GB of text in a column.
   */
  static fromStrings(values: readonly (string | null)[], length = values.length, name = "text"): Utf8Vector {
    // Sized by character count (exact for ASCII); the bytes grow only for multi-byte text.
    let chars = 0;
    for (let i = 0; i < length; i++) chars += values[i]?.length ?? 0;
    return new Utf8Builder(name, chars, length).append(values, length).finish();
  }

  isNull(i: number): boolean {
    return this.validity !== null && ((this.validity[i >> 3]! >> (i & 7)) & 1) === 0;
  }

  /** The values as strings (each distinct value of a repetitive column made once), made at first use and kept. */
  strings(): (string | null)[] {
    if (this.#strings) return this.#strings;
    const decoder = (this.#decoder ??= blockDecoder(this));
    const out: (string | null)[] = new Array(this.length);
    for (let block = 0; block * BLOCK < this.length; block++) decoder(block, out, block * BLOCK);
    return (this.#strings = out);
  }

  /** Whether the column's strings are made whole and kept (what {@link strings} does; `at` in order does not). */
  get holdsStrings(): boolean {
    return this.#strings !== undefined;
  }

  /**
   * Value i as a string. A row at a time in order (a flow's rows, a filter), only the strings of the
   * current block of values are held, so that a column read once leaves no string behind; read in
   * any other order (a sort), the column's strings are made whole, once, as by {@link strings}.
   */
  at(i: number): string | null {
    if (this.#strings) return this.#strings[i]!;
    const block = Math.floor(i / BLOCK);
    if (block !== this.#block) {
      if (++this.#blocksDecoded > 2 * Math.ceil(this.length / BLOCK)) return this.strings()[i]!;
      this.#decoder ??= blockDecoder(this);
      this.#decoder(block, this.#blockStrings, 0);
      this.#block = block;
    }
    return this.#blockStrings[i - block * BLOCK]!;
  }

  /** The values at these rows, in this order (-1 gives a null), copied as bytes: no string is made. `name`: the column's, for a refusal. */
  take(at: ArrayLike<number>, name?: string): Utf8Vector {
    const n = at.length;
    let size = 0;
    for (let i = 0; i < n; i++) {
      const from = at[i]!;
      if (from >= 0 && !this.isNull(from)) size += this.offsets[from + 1]! - this.offsets[from]!;
    }
    // A join that repeats long values can pass what Arrow's 32-bit offsets hold: said, not wrapped.
    if (size > MAX_TEXT_BYTES) throw new Error(`${name === undefined ? "" : `column "${name}": `}${n.toLocaleString("en-US")} text values of ${size.toLocaleString("en-US")} bytes: more than 2 GB of text in one column`);
    const bytes = new Uint8Array(size);
    const offsets = new Int32Array(n + 1);
    const validity = new Uint8Array((n + 7) >> 3);
    let nulls = 0;
    let end = 0;
    for (let i = 0; i < n; i++) {
      const from = at[i]!;
      if (from < 0 || this.isNull(from)) {
        nulls++;
      } else {
        validity[i >> 3]! |= 1 << (i & 7);
        const start = this.offsets[from]!;
        const stop = this.offsets[from + 1]!;
        // Most values are a few dozen bytes: a loop beats set() on a subarray for those.
        if (stop - start > 64) bytes.set(this.bytes.subarray(start, stop), end);
        else for (let b = start; b < stop; b++) bytes[end + b - start] = this.bytes[b]!;
        end += stop - start;
      }
      offsets[i + 1] = end;
    }
    return new Utf8Vector(bytes, offsets, nulls ? validity : null, n);
  }

  /**
   * The same values in the form the artifact writer needs: offsets from 0, no byte under a null,
   * and the null count. Arrow allows other forms (a file may have them); those are copied.
   */
  compact(): { vector: Utf8Vector; nullCount: number } {
    let nullCount = 0;
    let compact = this.offsets[0] === 0;
    for (let i = 0; i < this.length; i++) {
      if (!this.isNull(i)) continue;
      nullCount++;
      if (this.offsets[i] !== this.offsets[i + 1]) compact = false;
    }
    if (compact) return { vector: this, nullCount };
    return { vector: this.take(Int32Array.from({ length: this.length }, (_, i) => i)), nullCount };
  }
}

/**
 * Text whose values repeat, held as Arrow's dictionary encoding holds it: each row a code into a list
 * of the distinct values (-1: null). A registry's countries, methodologies and dates take 4 bytes a
 * row and one string per distinct value; taking rows (a filter, a sort, a join) copies codes, no text.
 * Written to an artifact as plain text, the same bytes as the strings would be ({@link toUtf8}).
 * The dictionary may grow after the vector is made (a source's columns share one as they are read),
 * never change.
 */
export class DictText {
  #strings: (string | null)[] | undefined;

  constructor(readonly codes: Int32Array, readonly dictionary: readonly string[], readonly length = codes.length) {}

  isNull(i: number): boolean {
    return this.codes[i]! < 0;
  }

  at(i: number): string | null {
    const code = this.codes[i]!;
    return code < 0 ? null : this.dictionary[code]!;
  }

  /** The values as strings (the dictionary's own), made at first use and kept. */
  strings(): (string | null)[] {
    if (this.#strings) return this.#strings;
    const out: (string | null)[] = new Array(this.length);
    for (let i = 0; i < this.length; i++) out[i] = this.at(i);
    return (this.#strings = out);
  }

  /** The values at these rows, in this order (-1 gives a null): their codes, the same dictionary. */
  take(at: ArrayLike<number>): DictText {
    const codes = new Int32Array(at.length);
    for (let i = 0; i < at.length; i++) codes[i] = at[i]! < 0 ? -1 : this.codes[at[i]!]!;
    return new DictText(codes, this.dictionary);
  }

  /** The values as UTF-8 text (what an artifact holds): each distinct value encoded once, then copied to its rows. */
  toUtf8(name = "text"): Utf8Vector {
    return Utf8Vector.fromStrings(this.dictionary, this.dictionary.length, name).take(this.codes.subarray(0, this.length), name);
  }
}

/** Whether a column's values are text held as bytes or as codes (not an array of strings): both read by `at`, `strings` and `take`. */
export function isEncodedText(vector: unknown): vector is Utf8Vector | DictText {
  return vector instanceof Utf8Vector || vector instanceof DictText;
}

/** The codes of dictionary texts one after the other (the first `length`), or undefined unless they share one dictionary. */
export function concatDictText(parts: DictText[], length: number): DictText | undefined {
  const dictionary = parts[0]?.dictionary;
  if (!dictionary || parts.some((p) => p.dictionary !== dictionary)) return undefined;
  const codes = new Int32Array(length);
  let at = 0;
  for (const part of parts) {
    const count = Math.min(part.length, length - at);
    codes.set(part.codes.subarray(0, count), at);
    at += count;
  }
  return new DictText(codes, dictionary);
}

/** Text vectors one after the other, as bytes (the first `length` values). */
export function concatUtf8(parts: Utf8Vector[], length: number): Utf8Vector {
  let size = 0;
  let counted = 0;
  for (const part of parts) {
    const count = Math.min(part.length, length - counted);
    size += part.offsets[count]! - part.offsets[0]!;
    counted += count;
  }
  const bytes = new Uint8Array(size);
  const offsets = new Int32Array(length + 1);
  const validity = new Uint8Array((length + 7) >> 3);
  let nulls = 0;
  let at = 0;
  let end = 0;
  for (const part of parts) {
    const count = Math.min(part.length, length - at);
    const base = part.offsets[0]!;
    bytes.set(part.bytes.subarray(base, part.offsets[count]), end);
    for (let i = 0; i < count; i++) {
      offsets[at + i + 1] = end + part.offsets[i + 1]! - base;
      if (part.isNull(i)) nulls++;
      else validity[(at + i) >> 3]! |= 1 << ((at + i) & 7);
    }
    end += part.offsets[count]! - base;
    at += count;
  }
  return new Utf8Vector(bytes, offsets, nulls ? validity : null, length);
}

const BLOCK = 4096; // values decoded at once

/**
 * Decodes a text vector's strings a block at a time. A block of ASCII values is read as one string
 * and cut (cheap slices); other text value by value. Each distinct value is looked up, and only a
 * new one is kept, as a string of its own rather than a slice that would hold its whole block: a
 * registry repeats its countries, methodologies and dates a hundred thousand times. A column whose
 * values are mostly distinct (serial numbers) stops looking after its first blocks.
 */
function blockDecoder(vector: Utf8Vector): (block: number, out: (string | null)[], at: number) => void {
  const { offsets, length } = vector;
  const text = Buffer.from(vector.bytes.buffer, vector.bytes.byteOffset, vector.bytes.byteLength);
  let known: Map<string, string> | undefined = new Map();
  let seen = 0;
  return (block, out, at) => {
    const start = block * BLOCK;
    const stop = Math.min(start + BLOCK, length);
    const from = offsets[start]!;
    const whole = isAscii(text.subarray(from, offsets[stop])) ? text.toString("latin1", from, offsets[stop]) : undefined;
    for (let i = start; i < stop; i++) {
      if (vector.isNull(i)) {
        out[at + i - start] = null;
        continue;
      }
      const value = whole !== undefined ? whole.slice(offsets[i]! - from, offsets[i + 1]! - from) : text.toString("utf8", offsets[i], offsets[i + 1]);
      if (!known) {
        out[at + i - start] = value;
        continue;
      }
      let found = known.get(value);
      if (found === undefined) known.set((found = text.toString("utf8", offsets[i], offsets[i + 1])), found);
      out[at + i - start] = found;
    }
    // Keep looking while at most half of the values seen were new.
    seen += stop - start;
    if (known && known.size > seen / 2) known = undefined;
  };
}

/**
 * `array` when it holds `needed` elements, else a copy of its first `used` in one half as large again
 * (or of `needed`, if more): the buffers of a column built a batch at a time.
 */
export function withRoom<T extends Int32Array | Uint8Array | Float64Array>(array: T, needed: number, used = array.length): T {
  if (needed <= array.length) return array;
  const grown = new (array.constructor as new (length: number) => T)(Math.max(needed, Math.ceil(array.length * 1.5)));
  grown.set(array.subarray(0, used));
  return grown;
}

const WRITE_BLOCK = 4096; // text values written at a time
const MAX_TEXT_BYTES = 0x7fffffff; // Arrow's 32-bit offsets
const RUN_CHARS = 32_768; // text joined and written at once: a small string, which dies young

/**
 * A text column made UTF-8 bytes a batch of values at a time, in buffers that grow by half when full:
 * a source's answers as they arrive (their strings then die young), or an array of strings at once
 * ({@link Utf8Vector.fromStrings}). One write per run of ASCII values (200,000 writes are most of the
 * time of a large column, a few dozen are not), value by value otherwise, as a value's lone
 * surrogate must not pair with the next value's.
 */
export class Utf8Builder {
  #data: Buffer;
  #end = 0;
  #offsets: Int32Array;
  #validity: Uint8Array;
  #length = 0;
  #nulls = 0;

  /** Room for `chars` characters of text (bytes, for ASCII) and `values` values to start with. */
  constructor(readonly name = "text", chars = 64 * 1024, values = 1024) {
    this.#data = Buffer.allocUnsafeSlow(chars + 16);
    this.#offsets = new Int32Array(values + 1);
    this.#validity = new Uint8Array((values + 7) >> 3);
  }

  /** The first `count` values appended. */
  append(values: readonly (string | null)[], count = values.length): this {
    const first = this.#length;
    this.#offsets = withRoom(this.#offsets, first + count + 1);
    this.#validity = withRoom(this.#validity, (first + count + 7) >> 3);
    const texts: string[] = new Array(Math.min(WRITE_BLOCK, count));
    for (let start = 0; start < count; start += WRITE_BLOCK) {
      const n = Math.min(WRITE_BLOCK, count - start);
      for (let j = 0; j < n; j++) {
        const v = values[start + j];
        const at = first + start + j;
        if (v === null || v === undefined) {
          this.#nulls++;
          texts[j] = "";
        } else {
          this.#validity[at >> 3]! |= 1 << (at & 7);
          texts[j] = v;
        }
      }
      this.#write(texts, n, first + start);
    }
    this.#length += count;
    return this;
  }

  /** The values appended, as a text vector (over these buffers: append no more). */
  finish(): Utf8Vector {
    return new Utf8Vector(this.#data.subarray(0, this.#end), this.#offsets, this.#nulls ? this.#validity : null, this.#length);
  }

  /** texts[0..count), the values of rows first to first + count - 1. */
  #write(texts: string[], count: number, first: number): void {
    let from = 0;
    let runChars = 0;
    for (let j = 0; j < count; j++) {
      const length = texts[j]!.length;
      if (j > from && runChars + length > RUN_CHARS) {
        this.#run(texts, from, j, first);
        from = j;
        runChars = 0;
      }
      runChars += length;
    }
    if (count > from) this.#run(texts, from, count, first);
  }

  /** texts[from..to), the values of rows first + from to first + to - 1. */
  #run(texts: string[], from: number, to: number, first: number): void {
    const offsets = this.#offsets;
    const text = to - from === 1 ? texts[from]! : texts.slice(from, to).join("");
    if (Buffer.byteLength(text, "utf8") === text.length) { // all ASCII
      this.#room(text.length);
      this.#data.write(text, this.#end, "latin1");
      for (let j = from; j < to; j++) offsets[first + j + 1] = this.#end += texts[j]!.length;
      this.#checked();
      return;
    }
    for (let j = from; j < to; j++) {
      const v = texts[j]!;
      if (this.#end + v.length * 3 > this.#data.length) this.#room(Buffer.byteLength(v, "utf8"));
      offsets[first + j + 1] = this.#end += this.#data.write(v, this.#end, "utf8");
      this.#checked();
    }
  }

  #room(bytes: number): void {
    if (this.#end + bytes <= this.#data.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(Math.ceil(this.#data.length * 1.5), this.#end + bytes));
    this.#data.copy(grown, 0, 0, this.#end);
    this.#data = grown;
  }

  #checked(): void {
    if (this.#end > MAX_TEXT_BYTES) throw new Error(`column "${this.name}" holds more than 2 GB of text`);
  }
}
