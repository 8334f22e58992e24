// Which compression an artifact's Arrow body has, and the codecs that read and write it: each
// buffer of a record batch compressed on its own (Arrow's BodyCompression), as pyarrow does.
import { CompressionType, setCompressionCodec } from "@uwdata/flechette";
import { createRequire } from "node:module";
import { errorMessage } from "../core/errors.ts";

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

/** The LZ4 buffers the read in progress left compressed: each one's output (zeros so far) to its frame. */
let deferred: Map<ArrayBufferLike, Uint8Array> | undefined;

/**
 * Run `read` with every LZ4 buffer whose length is known left compressed: it reads as zeros of that
 * length (the OS gives them without touching memory) until {@link inflate} decompresses it in place.
 * Only the buffers of the columns a reader asks for are decompressed, each when it is read, and for
 * what the Arrow metadata says alone (columns, rows, null counts) none is. A buffer of unknown length
 * is decompressed at once.
 */
export function withoutValues<T>(read: () => T): T {
  const outer = deferred;
  deferred = new Map();
  try {
    return read();
  } finally {
    deferred = outer;
  }
}

/** Decompress in place a buffer that the read in progress left compressed (any other is left as it is). */
export function inflate(view: ArrayBufferView | undefined): void {
  const frame = view && deferred?.get(view.buffer);
  if (!frame) return;
  deferred!.delete(view.buffer);
  const out = new Uint8Array(view.buffer);
  const size = (load("lz4js") as typeof import("lz4js")).decompressFrame(frame, out);
  if (size !== out.length) throw new Error(`an LZ4 buffer holds ${size} bytes, not the ${out.length} its length prefix says`);
}

/**
 * An LZ4 frame of an Arrow buffer, decompressed. Arrow writes each buffer's uncompressed length in
 * the 8 bytes before its frame, and flechette hands the codec a view just after them: with it the
 * output is made once at its size (lz4js would otherwise take 4 MB per frame and cut it). A length
 * that is not there, or not right, and the frame is read the general way.
 */
export function decodeLz4(frame: Uint8Array): Uint8Array {
  const lz4 = load("lz4js") as typeof import("lz4js");
  const size = frame.byteOffset >= 8 ? new DataView(frame.buffer, frame.byteOffset - 8, 8).getBigInt64(0, true) : -1n;
  if (size > 0n && size <= BigInt(frame.byteLength) * 255n + 64n) {
    const out = new Uint8Array(Number(size));
    if (deferred) {
      deferred.set(out.buffer, frame);
      return out;
    }
    if (lz4.decompressFrame(frame, out) === out.length) return out;
  }
  return lz4.decompress(frame);
}

setCompressionCodec(CompressionType.LZ4_FRAME, {
  decode: decodeLz4,
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
export const ARROW_CODEC: Record<Compression, (typeof CompressionType)[keyof typeof CompressionType] | null> = {
  lz4: CompressionType.LZ4_FRAME,
  zstd: CompressionType.ZSTD,
  none: null,
};

