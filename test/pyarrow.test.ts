// The consumer's side at scale (issue 15): 200,000-row artifacts with multi-MB buffers, every column
// type we write, each compression this Node writes, read by pyarrow and by pandas.read_feather as the
// dashboard API does. Not optional: CI provides the Python (.ci/run); elsewhere it is skipped only
// when there is none, and says how to get one.
//
// The text column crosses 4 MiB with a value placed so that lz4js's compressor (the old encoder)
// starts its last match 11 bytes before the end of a full 4 MiB block, which pyarrow's liblz4
// refuses ("LZ4 decompress failed"): the failure depends on the data, so it is written in here.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import zlib from "node:zlib";
import { COMPRESSIONS, decodeArtifactSummary, encodeArtifactBody, type Compression } from "../lib/artifact/artifact.ts";
import { table, type Row, type Table } from "../lib/table/table.ts";
import { ROOT, tempDir } from "./helpers.ts";
import { pandasPython, recordBatches, requirePython, skipWithoutPandas } from "./codec_helpers.ts";

const ROWS = 200_000;
const LZ4JS_BLOCK = 4 * 1024 * 1024;
const WRITABLE = COMPRESSIONS.filter((c) => c !== "zstd" || "zstdCompressSync" in zlib);
const WORDS = ["Reducción", "forest", "São Paulo ✓", "wind", "cookstoves", "REDD+", "hydro", "landfill gas", "solar", "mangroves"];

/** A deterministic pseudo-random double in [0, 1e6): a buffer of them does not compress (kept as is, -1). */
const noise = (i: number) => ((Math.imul(i + 1, 2654435761) >>> 0) / 2 ** 32 + (Math.imul(i + 7, 40503) >>> 0) / 2 ** 64) * 1e6;

function scaleTable(): { data: Table; boundaryRow: number } {
  const rows: Row[] = new Array(ROWS);
  let textBytes = 0;
  let boundaryRow = -1;
  for (let i = 0; i < ROWS; i++) {
    let name: string | null = i % 13 === 0 ? null : `${WORDS[i % 10]} project ${i % 997} batch ${Math.floor(i / 50)}`;
    if (name !== null && boundaryRow < 0 && textBytes + 64 > LZ4JS_BLOCK) {
      // "proj" (seen before) 11 bytes before the block's end, after bytes that match nothing.
      name = `${"#".repeat(LZ4JS_BLOCK - 14 - textBytes)}qzxprojZZQQXXV and on`;
      boundaryRow = i;
    }
    if (name !== null) textBytes += Buffer.byteLength(name);
    rows[i] = {
      name,
      quantity: i % 7 === 0 ? null : (i * 7919) % 1_000_003,
      count: i,
      price: i % 11 === 0 ? null : (i % 4000) * 0.25,
      noise: noise(i),
      retired: i % 3 === 0,
      flag: i % 17 === 0 ? null : i % 2 === 0,
      issued: i % 19 === 0 ? null : new Date(Date.UTC(2015, 0, 1) + i * 61_001),
      day: i % 23 === 0 ? null : new Date(Date.UTC(2010, 0, 1) + (i % 5000) * 86_400_000),
    };
  }
  assert.ok(textBytes > LZ4JS_BLOCK + 1_000_000, `text column of ${textBytes} bytes`);
  const data = table({
    name: "string", quantity: "int", count: "int", price: "float", noise: "float", retired: "bool", flag: "bool", issued: "timestamp", day: "date",
  }, rows);
  return { data, boundaryRow };
}

/** What check_artifacts.py should report, computed from the rows. */
function expectations(data: Table) {
  const nulls: Record<string, number> = {};
  const sums: Record<string, string> = {};
  for (const { name, type } of data.columns) {
    let count = 0;
    let sum = 0;
    let big = 0n;
    for (const row of data.rows) {
      const v = row[name];
      if (v === null || v === undefined) { count++; continue; }
      if (type === "string") sum += (v as string).length; // one UTF-16 unit per character: no astral characters here
      else if (type === "bool") sum += v ? 1 : 0;
      else if (type === "timestamp") big += BigInt((v as Date).getTime());
      else if (type === "date") sum += (v as Date).getTime() / 86_400_000;
      else sum += v as number;
    }
    nulls[name] = count;
    sums[name] = type === "timestamp" ? String(big) : String(sum);
  }
  return { nulls, sums };
}

/** A value as check_artifacts.py renders it: timestamps in ISO-8601 UTC, dates as YYYY-MM-DD. */
const render = (v: unknown, type: string) => v instanceof Date ? (type === "date" ? v.toISOString().slice(0, 10) : v.toISOString()) : v ?? null;

const found = pandasPython();

test(`pyarrow and pandas read ${ROWS.toLocaleString("en-US")}-row artifacts of every column type, each compression (${WRITABLE.join(", ")})`, { skip: skipWithoutPandas(found), timeout: 120_000 }, (t) => {
  const python = requirePython(found);
  const dir = tempDir(t);
  const { data, boundaryRow } = scaleTable();
  const files: Record<string, Compression> = {};
  for (const compression of WRITABLE) {
    const body = encodeArtifactBody(data, compression);
    const bytes = Buffer.concat([...body.chunks()], body.length);
    const name = `scale_${compression}.artifact`;
    writeFileSync(path.join(dir, name), bytes);
    files[name] = compression;
    // Our own reader agrees, and the body is compressed as asked, with multi-MB buffers.
    assert.deepEqual(decodeArtifactSummary(bytes, name).nullCounts, body.nullCounts, compression);
    const [batch] = recordBatches(bytes);
    assert.equal(batch!.compression, compression);
    if (compression !== "none") {
      assert.ok(batch!.prefixes.some((p) => p > 4_000_000n), `${compression}: a buffer of more than 4 MB was compressed`);
      assert.ok(batch!.prefixes.includes(-1n), `${compression}: the noise buffer, which does not compress, is kept as it is`);
    }
  }
  const samples = [0, 1, 12, 13, boundaryRow, 99_999, 123_457, ROWS - 1];
  const out = JSON.parse(execFileSync(python, [path.join(ROOT, "test", "fixtures", "check_artifacts.py"), samples.join(","), ...Object.keys(files).map((f) => path.join(dir, f))], { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 }));
  const want = expectations(data);
  for (const [file, compression] of Object.entries(files)) {
    const got = out[file];
    assert.equal(got.rows, ROWS, compression);
    assert.deepEqual(got.arrow_types, {
      name: "string", quantity: "int64", count: "int64", price: "double", noise: "double", retired: "bool", flag: "bool", issued: "timestamp[ns]", day: "date32[day]",
    }, compression);
    assert.deepEqual(got.arrow_nulls, want.nulls, `${compression}: pyarrow's null counts`);
    assert.deepEqual(got.dtypes, {
      name: "object", quantity: "Int64", count: "int64", price: "float64", noise: "float64", retired: "bool", flag: "boolean", issued: "datetime64[ns]", day: "object",
    }, `${compression}: the dtypes the dashboard expects`);
    assert.deepEqual(got.nulls, want.nulls, `${compression}: pandas' NA counts`);
    const { noise: noiseSum, ...exact } = got.sums as Record<string, string>;
    const { noise: wantNoise, ...wantExact } = want.sums;
    assert.deepEqual(exact, wantExact, `${compression}: aggregates`);
    assert.ok(Math.abs(Number(noiseSum) - Number(wantNoise)) < 1e-6 * Number(wantNoise), `${compression}: noise sum ${noiseSum} vs ${wantNoise}`);
    for (const r of samples) {
      assert.deepEqual(got.samples[String(r)], data.columns.map((c) => render(data.rows[r]![c.name], c.type)), `${compression}: row ${r}`);
    }
    t.diagnostic(`${compression}: pandas.read_feather ${got.read_feather_seconds.toFixed(2)} s`);
  }
});
