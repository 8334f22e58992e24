// What the codec tests share: the Python they read artifacts with, as the dashboard API does (pandas +
// pyarrow), and a look at an artifact's Arrow record batches (their body compression).
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { CompressionType, MessageReader } from "apache-arrow";
import { unwrapEnvelope, type Compression } from "../lib/artifact/artifact.ts";
import { ROOT } from "./helpers.ts";

// The Python: PANDAS_PYTHON, else the virtualenv .ci/run prepares (.ci-cache/venv), else python3.
// In CI (CI=true) a missing one fails those tests; elsewhere they are skipped and say how to get it.

export const HOW_TO_GET_PANDAS = "run .ci/run once, or: python3 -m venv .ci-cache/venv && .ci-cache/venv/bin/pip install "
  + "--index-url file:///opt/pypi/simple 'pandas==2.3.3' 'pyarrow==25.0.1'; or set PANDAS_PYTHON";

const CACHED_VENV = path.join(ROOT, ".ci-cache", "venv", "bin", "python");

/** The Python to use, or why there is none (with how to get one). */
export function pandasPython(): { python: string } | { missing: string } {
  const python = process.env.PANDAS_PYTHON || (existsSync(CACHED_VENV) ? CACHED_VENV : "python3");
  try {
    execFileSync(python, ["-c", "import pandas, pyarrow"], { stdio: "ignore" });
    return { python };
  } catch {
    return { missing: `no pandas+pyarrow in ${python} (${HOW_TO_GET_PANDAS})` };
  }
}

/**
 * The `skip` option of a test that needs pandas: skipped (with the reason) when there is none,
 * except in CI, where the test runs and fails on `requirePython`.
 */
export function skipWithoutPandas(found: ReturnType<typeof pandasPython>): string | false {
  return "missing" in found && process.env.CI !== "true" ? found.missing : false;
}

/** The Python, or a failed test saying it is missing (CI). */
export function requirePython(found: ReturnType<typeof pandasPython>): string {
  if ("missing" in found) throw new Error(`CI=true and ${found.missing}`);
  return found.python;
}

/** Each record batch of an artifact: its body compression and, per non-empty buffer, the int64 length prefix. */
export function recordBatches(artifact: Uint8Array): Array<{ compression: Compression; prefixes: bigint[] }> {
  const feather = unwrapEnvelope(Buffer.from(artifact));
  const reader = new MessageReader(feather.subarray(8)); // the IPC stream after the file's magic and padding
  const batches: Array<{ compression: Compression; prefixes: bigint[] }> = [];
  for (let message = reader.readMessage(); message; message = reader.readMessage()) {
    const body = reader.readMessageBody(message.bodyLength);
    if (!message.isRecordBatch()) continue;
    const header = message.header();
    const codec = header.compression?.type;
    const compression = codec === undefined ? "none" : codec === CompressionType.LZ4_FRAME ? "lz4" : codec === CompressionType.ZSTD ? "zstd" : `codec ${codec}` as never;
    const view = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    const prefixes = header.compression ? header.buffers.filter((b) => b.length > 0).map((b) => view.readBigInt64LE(b.offset)) : [];
    batches.push({ compression, prefixes });
  }
  return batches;
}
