// An artifact's summary from a few byte ranges (its two ends and the Arrow metadata they point to),
// as a flow reads its previous -latest: the same columns, rows and null counts as from the whole
// artifact, for every layout of the envelope's last line; files in other layouts are left to a whole
// read; damage fails in one line naming the key; a flow's run reads only ranges of a large -latest.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { Dictionary, Int32, Table as ArrowTable, tableToIPC, Utf8, vectorFromArray } from "apache-arrow";
import {
  decodeArtifactSummary, decodeArtifactSummaryByRanges, encodeArtifact, envelope, unwrapEnvelope, type ArtifactSummary,
} from "../lib/artifact/artifact.ts";
import { sourceFlow } from "../lib/flows/flow.ts";
import { LocalLake, StorageError, type ByteRanges, type Lake } from "../lib/lake/lake.ts";
import { runFlow } from "../lib/run/runner.ts";
import { table, type Table } from "../lib/table/table.ts";
import { flowBench } from "./helpers.ts";

/** Rows with nulls in each column; enough of them that the artifact is well beyond both ends' reads. */
function rows(count: number): Table {
  return table({ name: "string", n: "int", price: "float", flag: "bool", when: "timestamp" }, Array.from({ length: count }, (_, i) => ({
    name: i % 9 === 0 ? null : `project ${(i * 7919) % 100_003} of ${i % 17}`,
    n: i % 7 === 0 ? null : i,
    price: i % 11 === 0 ? null : ((i * 31) % 1000) / 8,
    flag: i % 13 === 0 ? null : i % 2 === 0,
    when: i % 5 === 0 ? null : new Date(Date.UTC(2020, 0, 1) + i * 60_000),
  })));
}

/** Ranges over bytes in memory, counting what is read. */
function ranges(bytes: Buffer): ByteRanges & { reads: number; bytesRead: number } {
  const source = {
    size: bytes.length, reads: 0, bytesRead: 0,
    read: async (start: number, end: number) => {
      source.reads++;
      source.bytesRead += end - start;
      return bytes.subarray(start, end);
    },
  };
  return source;
}

const whole = (bytes: Buffer): ArtifactSummary => decodeArtifactSummary(bytes, "t-latest", { checkValues: false });

test("the summary from ranges equals the whole artifact's, for each length of the last line and padding, read in two ranges", async () => {
  const lengthsMod3 = new Set<number>();
  const lastLines = new Set<number>();
  for (const compression of ["lz4", "none"] as const) {
    for (const count of [30_000, 30_005, 30_008, 30_013]) {
      const bytes = encodeArtifact(rows(count), compression);
      const length = unwrapEnvelope(bytes).length;
      lengthsMod3.add(length % 3);
      lastLines.add((Math.ceil(length / 3) * 4) % 76);
      const text = bytes.toString("latin1");
      const variants = {
        "as written (a last escaped newline)": bytes,
        "no escaped newline after the last line": Buffer.from(text.replace(/\\n", "prefect_version"/, '", "prefect_version"'), "latin1"),
        "compact JSON, other key order": Buffer.from(`{"data":"${text.slice(text.indexOf('"data": "') + 9, text.lastIndexOf('", "prefect_version"'))}","prefect_version":"2.20.3","serializer":{"type":"pandas_feather"}}`, "latin1"),
      };
      for (const [layout, variant] of Object.entries(variants)) {
        const source = ranges(variant);
        const summary = await decodeArtifactSummaryByRanges(source, "t-latest");
        assert.deepEqual(summary, whole(variant), `${compression}, ${count} rows, ${layout}`);
        assert.equal(summary!.rowCount, count);
        assert.equal(source.reads, 2, "the two ends hold the envelope, the schema, the record batch's header and the footer");
        assert.ok(source.bytesRead < variant.length / 4, `${source.bytesRead} of ${variant.length} bytes read`);
      }
    }
  }
  assert.deepEqual([...lengthsMod3].sort(), [0, 1, 2], "Feather lengths with each base64 padding");
  assert.ok(lastLines.has(0), "a last line of 76 characters, as full as the others");
});

test("record batches and dictionaries pointed to from the footer are read where they are (a file pyarrow or arrow-js wrote)", async () => {
  const id = vectorFromArray(Array.from({ length: 110_000 }, (_, i) => (i % 10 === 0 ? null : i)), new Int32());
  const kind = vectorFromArray(Array.from({ length: 110_000 }, (_, i) => (i % 6 === 0 ? null : ["wind", "solar", "forest"][i % 3]!)), new Dictionary(new Utf8(), new Int32()));
  const part = (from: number, to: number) => new ArrowTable({ id: id.slice(from, to), kind: kind.slice(from, to) });
  const arrow = part(0, 60_000).concat(part(60_000, 110_000)); // two record batches, one dictionary
  assert.equal(arrow.batches.length, 2);
  const bytes = envelope(tableToIPC(arrow, "file"));
  const source = ranges(bytes);
  const summary = await decodeArtifactSummaryByRanges(source, "t-latest");
  assert.deepEqual(summary, decodeArtifactSummary(bytes, "t-latest"), "as the whole file, values read, says");
  assert.deepEqual(summary, { columns: [{ name: "id", type: "int" }, { name: "kind", type: "string" }], rowCount: 110_000, nullCounts: [11_000, 18_334] });
  assert.ok(source.reads >= 3, "the second batch's header lies between the two ends");
});

test("a small artifact, or one whose data is not in regular lines, is left to a whole read", async () => {
  assert.equal(await decodeArtifactSummaryByRanges(ranges(encodeArtifact(rows(100))), "t-latest"), undefined);
  const bytes = encodeArtifact(rows(30_000));
  const text = bytes.toString("latin1");
  const data = text.slice(text.indexOf('"data": "') + 9, text.lastIndexOf('", "prefect_version"')).replaceAll("\\n", "");
  const wrap = (lines: string) => Buffer.from(`{"serializer": {"type": "pandas_feather"}, "data": "${lines}", "prefect_version": "2.20.3"}`, "latin1");
  for (const [layout, other] of Object.entries({
    "one line": wrap(data),
    "lines of 64": wrap(data.match(/.{1,64}/g)!.join("\\n")),
    "raw newlines": wrap(data.match(/.{1,76}/g)!.join("\n")),
  })) {
    assert.equal(await decodeArtifactSummaryByRanges(ranges(other), "t-latest"), undefined, layout);
    assert.deepEqual(whole(other), whole(bytes), `${layout}: still an artifact, read whole`);
  }
});

test("damage where the ranges read fails in one line naming the key; damage elsewhere is the values' (not read, as from the whole)", async () => {
  const bytes = encodeArtifact(rows(30_000));
  const feather = unwrapEnvelope(bytes);
  const rewrap = (damaged: Uint8Array) => {
    const text = bytes.toString("latin1");
    const lines = Buffer.from(damaged).toString("base64").match(/.{1,76}/g)!.join("\\n");
    return Buffer.from(`${text.slice(0, text.indexOf('"data": "') + 9)}${lines}\\n${text.slice(text.lastIndexOf('", "prefect_version"'))}`, "latin1");
  };
  assert.deepEqual(await decodeArtifactSummaryByRanges(ranges(rewrap(feather)), "t-latest"), whole(bytes), "re-wrapped as Python does: the same");
  const footerLength = feather.readInt32LE(feather.length - 10);
  const footer = feather.length - 10 - footerLength;
  for (const [where, at] of Object.entries({
    "the footer's length": feather.length - 8, "the footer's root": footer + 2, "the end magic": feather.length - 3, "the start magic": 1,
  })) {
    const damaged = Buffer.from(feather);
    damaged[at] ^= 0xff;
    await assert.rejects(decodeArtifactSummaryByRanges(ranges(rewrap(damaged)), "t-latest"), /^ArtifactError: artifact t-latest holds no readable Feather table/, where);
  }
  const values = Buffer.from(feather);
  values[Math.floor(values.length / 2)] ^= 0xff; // inside a column's LZ4 frame
  assert.deepEqual(await decodeArtifactSummaryByRanges(ranges(rewrap(values)), "t-latest"), whole(bytes));
  const cut = bytes.subarray(0, bytes.length - 100_000);
  assert.equal(await decodeArtifactSummaryByRanges(ranges(cut), "t-latest"), undefined, "truncated: no end to the data string, left to the whole read (which fails)");
});

test("a flow's run reads only ranges of its large previous -latest, and still validates against it", async (t) => {
  const { config, lakeDir, history, log } = flowBench(t);
  const local = new LocalLake(lakeDir);
  const wholeReads: string[] = [];
  const rangeReads: string[] = [];
  const lake: Lake = Object.assign(Object.create(local) as Lake, {
    read: (key: string) => { wholeReads.push(key); return local.read(key); },
    readRanges: <T>(key: string, use: Parameters<Lake["readRanges"]>[1]) => { rangeReads.push(key); return local.readRanges(key, use) as Promise<T | undefined>; },
  });
  const flow = (data: Table) => sourceFlow({ slug: "sample", fetch: async () => data });
  await local.write("sample-latest", encodeArtifact(rows(40_000)));
  const refused = await runFlow(flow(rows(39_000)), { config, lake, history, log });
  assert.match(refused.error!, /validation against sample-latest failed: 39000 rows, fewer than 99% of the previous 40000 rows/);
  const accepted = await runFlow(flow(rows(39_800)), { config, lake, history, log });
  assert.equal(accepted.status, "succeeded");
  assert.deepEqual(rangeReads, ["sample-latest", "sample-latest"]);
  assert.deepEqual(wholeReads, [], "never read whole");
  assert.equal(readdirSync(lakeDir).length, 2);
  assert.equal(whole(readFileSync(path.join(lakeDir, "sample-latest"))).rowCount, 39_800);
});

test("a large previous -latest whose ranges do not read is read whole, which decides: unreadable, it is never replaced by an empty table; a lake that fails fails the run, the previous kept", async (t) => {
  const { config, lakeDir, history, log } = flowBench(t);
  const local = new LocalLake(lakeDir);
  const bytes = encodeArtifact(rows(40_000));
  const feather = unwrapEnvelope(bytes);
  const damaged = Buffer.from(feather);
  damaged[feather.length - 8] ^= 0xff; // the footer's length: the ranged read fails, so does the whole one
  const text = bytes.toString("latin1");
  const broken = Buffer.from(`${text.slice(0, text.indexOf('"data": "') + 9)}${damaged.toString("base64").match(/.{1,76}/g)!.join("\\n")}\\n${text.slice(text.lastIndexOf('", "prefect_version"'))}`, "latin1");
  await local.write("sample-latest", broken);
  const wholeReads: string[] = [];
  const lake: Lake = Object.assign(Object.create(local) as Lake, { read: (key: string) => { wholeReads.push(key); return local.read(key); } });
  const flow = (data: Table) => sourceFlow({ slug: "sample", fetch: async () => data });
  const empty = await runFlow(flow(rows(0)), { config, lake, history, log });
  assert.equal(empty.status, "failed");
  assert.match(empty.error!, /^validation against sample-latest failed: 0 rows, and the previous sample-latest cannot be read to tell whether it holds data \(artifact sample-latest holds no readable Feather table/);
  assert.deepEqual(wholeReads, ["sample-latest"], "read whole once the ranges failed");
  assert.deepEqual(readFileSync(path.join(lakeDir, "sample-latest")), broken, "the previous -latest as it was");

  const failing: Lake = Object.assign(Object.create(local) as Lake, {
    readRanges: async () => { throw new StorageError(`lake ${local.label}: cannot read sample-latest: disk gone (EIO)`, "EIO"); },
  });
  const down = await runFlow(flow(rows(40_000)), { config, lake: failing, history, log });
  assert.equal(down.error, `lake ${local.label}: cannot read sample-latest: disk gone (EIO)`);
  assert.deepEqual(readFileSync(path.join(lakeDir, "sample-latest")), broken, "still as it was");
  assert.deepEqual(readdirSync(lakeDir), ["sample-latest"], "nothing else written");
});
