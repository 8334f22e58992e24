// flechette's decoder of an Arrow file's metadata (schema, footer blocks, record batch headers), which
// its package does not export: the summary of an artifact reads only those (lib/artifact/read.ts).
// The version is pinned exactly in package.json.
declare module "@uwdata/flechette/src/decode/decode-ipc.js" {
  export { decodeIPCFile } from "@uwdata/flechette/dist/types/decode/decode-ipc.js";
}
declare module "@uwdata/flechette/src/decode/block.js" {
  export { decodeBlocks } from "@uwdata/flechette/dist/types/decode/block.js";
}
declare module "@uwdata/flechette/src/util/read.js" {
  export { readObject } from "@uwdata/flechette/dist/types/util/read.js";
}
declare module "@uwdata/flechette/src/encode/encode-ipc.js" {
  export { encodeIPC } from "@uwdata/flechette/dist/types/encode/encode-ipc.js";
}
