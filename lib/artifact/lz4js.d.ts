// lz4js ships no types; we use its LZ4 frame functions only.
declare module "lz4js" {
  export function decompress(src: Uint8Array, maxSize?: number): Uint8Array;
  /** Decompress a frame into `dst`; returns the bytes the frame holds (more than dst's length: it did not fit). */
  export function decompressFrame(src: Uint8Array, dst: Uint8Array): number;
  export function compress(src: Uint8Array, maxSize?: number): Uint8Array;
}
