// lz4js ships no types; we use its LZ4 frame functions only.
declare module "lz4js" {
  export function decompress(src: Uint8Array, maxSize?: number): Uint8Array;
  export function compress(src: Uint8Array, maxSize?: number): Uint8Array;
}
