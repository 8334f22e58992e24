// The artifact codec: a table to the bytes the dashboard API reads, and back. Bytes = Prefect 2's
// result envelope (JSON, lib/artifact/envelope.ts) around the base64 of a Feather v2 file (Arrow
// IPC file format) carrying pandas metadata (docs/datasets.md §8.2): written by lib/artifact/write.ts,
// read by lib/artifact/read.ts, compressed as lib/artifact/compression.ts says.
export * from "./compression.ts";
export { envelope, unwrapEnvelope } from "./envelope.ts";
export * from "./read.ts";
export * from "./write.ts";
