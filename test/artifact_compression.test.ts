// Compressed artifacts (issue 15): each compression round-trips through our decoder; a flow writes
// the body compression DATA_PIPELINES_ARTIFACT_COMPRESSION asks for; a bad value is a usage error.
// pandas/pyarrow reading them at scale: test/pyarrow.test.ts.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import zlib from "node:zlib";
import {
  COMPRESSIONS, compressionUnavailable, decodeArtifact, decodeArtifactSummary, encodeArtifact, encodeArtifactBody, unwrapEnvelope, type Compression,
} from "../lib/artifact/artifact.ts";
import { ConfigError } from "../lib/core/errors.ts";
import { loadConfig } from "../lib/config/config.ts";
import { sourceFlow } from "../lib/flows/flow.ts";
import { runFlow } from "../lib/run/runner.ts";
import { table, type Table } from "../lib/table/table.ts";
import { recordBatches } from "./codec_helpers.ts";
import { flowBench, runScript, tempDir, plain } from "./helpers.ts";

const ZSTD_WRITABLE = "zstdCompressSync" in zlib; // Node 22.15 and later

/** The compressions this Node writes; zstd elsewhere is checked to fail with a clear message. */
const writable = COMPRESSIONS.filter((c) => c !== "zstd" || ZSTD_WRITABLE);

/** Every column type, nulls in each, unicode, and enough rows that buffers compress. */
function varied(rows: number): Table {
  const words = ["Reducción", "forest", "São Paulo ✓", "wind", "REDD+"];
  return table(
    { name: "string", count: "int", vintage: "int", price: "float", flag: "bool", maybe: "bool", when: "timestamp", day: "date" },
    Array.from({ length: rows }, (_, i) => ({
      name: i % 9 === 0 ? null : `${words[i % 5]} ${i % 211}`,
      count: i,
      vintage: i % 7 === 0 ? null : 2000 + (i % 25),
      price: i % 11 === 0 ? null : (i % 400) * 0.25,
      flag: i % 3 === 0,
      maybe: i % 13 === 0 ? null : i % 2 === 0,
      when: i % 17 === 0 ? null : new Date(Date.UTC(2020, 0, 1) + i * 61_000),
      day: i % 19 === 0 ? null : new Date(Date.UTC(2010, 0, 1) + (i % 4000) * 86_400_000),
    })),
  );
}

const nullCounts = (t: Table) => t.columns.map((c) => t.rows.filter((r) => r[c.name] === null || r[c.name] === undefined).length);

for (const compression of writable) {
  test(`${compression}: round-trips through our decoder with identical tables and null counts`, () => {
    for (const input of [varied(3), varied(20_000), table({ a: "string", b: "int" }, [])]) {
      const body = encodeArtifactBody(input, compression);
      const bytes = Buffer.concat([...body.chunks()]);
      assert.equal(bytes.length, body.length);
      assert.deepEqual(bytes, encodeArtifact(input, compression), "written in pieces or at once: the same bytes");
      assert.deepEqual(plain(decodeArtifact(bytes, "t-latest")), input);
      assert.deepEqual(body.nullCounts, nullCounts(input));
      assert.deepEqual(decodeArtifactSummary(bytes, "t-latest"), { columns: input.columns, rowCount: input.rows.length, nullCounts: nullCounts(input) });
      assert.deepEqual(decodeArtifactSummary(bytes, "t-latest", { checkValues: false }), decodeArtifactSummary(bytes, "t-latest"), "the metadata alone says as much");
      assert.deepEqual(recordBatches(bytes).map((b) => b.compression), [compression]);
    }
  });
}

test("lz4: a damaged body fails the checked summary; the shape alone still reads, and the next decode checks values again", () => {
  const bytes = encodeArtifact(varied(20_000), "lz4");
  const text = bytes.toString("latin1");
  const feather = unwrapEnvelope(bytes);
  // Damage the magic number of the last LZ4 frame (a column buffer's; the metadata is untouched).
  const damaged = Buffer.from(feather);
  damaged[damaged.lastIndexOf(Buffer.from([0x04, 0x22, 0x4d, 0x18]))] ^= 0xff;
  const envelope = Buffer.from(`${text.slice(0, text.indexOf('"data": "') + 9)}${damaged.toString("base64")}${text.slice(text.lastIndexOf('", "prefect_version"'))}`, "latin1");
  assert.throws(() => decodeArtifactSummary(envelope, "t-latest"), /holds no readable Feather table/);
  assert.deepEqual(decodeArtifactSummary(envelope, "t-latest", { checkValues: false }).rowCount, 20_000);
  assert.throws(() => decodeArtifact(envelope, "t-latest"), /holds no readable Feather table/, "values are decompressed again after it");
});

test("compression makes artifacts smaller; a buffer it does not shrink is kept as it is, marked -1 (as pyarrow writes)", () => {
  const input = varied(20_000);
  const sizes = Object.fromEntries(writable.map((c) => [c, encodeArtifact(input, c).length]));
  assert.ok(sizes.lz4! < sizes.none! / 2, JSON.stringify(sizes));
  if (ZSTD_WRITABLE) assert.ok(sizes.zstd! < sizes.lz4!, JSON.stringify(sizes));
  // One row: every buffer is a few bytes, which no frame makes smaller.
  const tiny = encodeArtifact(varied(1), "lz4");
  const [batch] = recordBatches(tiny);
  assert.ok(batch!.prefixes.length > 0);
  assert.ok(batch!.prefixes.every((p) => p === -1n), `prefixes ${batch!.prefixes}`);
  assert.deepEqual(plain(decodeArtifact(tiny, "tiny-latest")), varied(1));
  // 20,000 rows: the large buffers are compressed, each prefixed with its uncompressed length.
  assert.ok(recordBatches(encodeArtifact(input, "lz4"))[0]!.prefixes.some((p) => p > 0n));
});

test(`zstd on this Node (${process.versions.node}): ${ZSTD_WRITABLE ? "written" : "refused with the Node it needs"}`, () => {
  if (ZSTD_WRITABLE) {
    assert.equal(compressionUnavailable("zstd"), undefined);
    return;
  }
  const needs = /zstd needs Node 22\.15 or later \(this is Node 20\.\d+\.\d+\)/;
  assert.match(compressionUnavailable("zstd")!, /writing zstd needs Node 22\.15 or later/);
  assert.throws(() => encodeArtifact(varied(3), "zstd"), /writing zstd needs Node 22\.15 or later/);
  assert.throws(() => loadConfig({ DATA_PIPELINES_ARTIFACT_COMPRESSION: "zstd" }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /^DATA_PIPELINES_ARTIFACT_COMPRESSION: /);
    assert.match(error.message, needs);
    return true;
  });
});

const settings: Array<[string | undefined, Compression]> = [[undefined, "lz4"], ["lz4", "lz4"], ["zstd", "zstd"], ["none", "none"]];
for (const [value, expected] of settings) {
  const refused = expected === "zstd" && !ZSTD_WRITABLE;
  test(`a flow run with DATA_PIPELINES_ARTIFACT_COMPRESSION=${value ?? "(unset)"} ${refused ? "is refused at start on this Node" : `writes ${expected} artifacts`}`, async (t) => {
    const env: Record<string, string> = value === undefined ? {} : { DATA_PIPELINES_ARTIFACT_COMPRESSION: value };
    if (refused) {
      assert.throws(() => flowBench(t, env), (error: unknown) => error instanceof ConfigError && /zstd needs Node 22\.15/.test(error.message));
      return;
    }
    const { config, lake, lakeDir, history, log } = flowBench(t, env);
    assert.equal(config.artifactCompression, expected);
    const data = varied(5_000);
    const result = await runFlow(sourceFlow({ slug: "sample", fetch: async () => data }), { config, lake, history, log });
    assert.equal(result.status, "succeeded", result.error);
    for (const key of result.writtenKeys) {
      const bytes = readFileSync(path.join(lakeDir, key));
      assert.deepEqual(recordBatches(bytes).map((b) => b.compression), [expected], key);
      assert.deepEqual(plain(decodeArtifact(bytes, key)), data);
    }
  });
}

test("a bad DATA_PIPELINES_ARTIFACT_COMPRESSION is a usage error naming the variable (exit 2)", async (t) => {
  for (const bad of ["gzip", "LZ4", "lz4 ", "snappy"]) {
    if (bad.trim() === "lz4") continue; // surrounding spaces are trimmed, like every variable
    assert.throws(() => loadConfig({ DATA_PIPELINES_ARTIFACT_COMPRESSION: bad }), (error: unknown) => {
      assert.ok(error instanceof ConfigError, bad);
      assert.equal(error.message, `DATA_PIPELINES_ARTIFACT_COMPRESSION: "${bad}" is not lz4, zstd or none`);
      return true;
    });
  }
  const r = await runScript("scripts/runs.ts", [], { cwd: tempDir(t), env: { DATA_PIPELINES_ARTIFACT_COMPRESSION: "gzip" } });
  assert.equal(r.stderr, 'error: DATA_PIPELINES_ARTIFACT_COMPRESSION: "gzip" is not lz4, zstd or none (see --help)\n');
  assert.equal(r.code, 2);
});
