import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { test } from "node:test";
import zlib from "node:zlib";
import { compressionRegistry, CompressionType, tableFromIPC } from "apache-arrow";
import { COMPRESSIONS, decodeArtifact, encodeArtifact, unwrapEnvelope } from "../lib/artifact/artifact.ts";
import { ArtifactError } from "../lib/core/errors.ts";
import { table, type Table } from "../lib/table/table.ts";
import { ROOT, tempDir, plain } from "./helpers.ts";
import { pandasPython, requirePython, skipWithoutPandas } from "./codec_helpers.ts";

const FIXTURES = path.join(ROOT, "test", "fixtures");
/** The compressions this Node writes (zstd needs Node 22.15). */
const WRITABLE = COMPRESSIONS.filter((c) => c !== "zstd" || "zstdCompressSync" in zlib);

// apache-arrow, a reader independent of ours, with the same pure-JS decompressors.
const load = createRequire(import.meta.url);
compressionRegistry.set(CompressionType.LZ4_FRAME, { decode: (b) => load("lz4js").decompress(b) });
compressionRegistry.set(CompressionType.ZSTD, { decode: (b) => load("fzstd").decompress(b).slice() });


const sample: Table = table(
  { name: "string", count: "int", vintage: "int", price: "float", flag: "bool", when: "timestamp", day: "date" },
  [
    { name: "héllo ✓", count: 1, vintage: 2010, price: 1.5, flag: true, when: new Date("2023-03-21T21:00:00Z"), day: new Date("2024-02-29T00:00:00Z") },
    { name: null, count: 2, vintage: null, price: null, flag: false, when: null, day: null },
    { name: "Reducción — São Paulo", count: 3, vintage: 2021, price: -2.25, flag: true, when: new Date("1969-12-31T23:59:59Z"), day: new Date("1970-01-01T00:00:00Z") },
  ],
);

test("round-trips every column type, nulls and unicode", () => {
  const back = decodeArtifact(encodeArtifact(sample), "sample-latest");
  assert.deepEqual(plain(back), sample);
});

test("round-trips an empty table with its schema", () => {
  const empty = table({ a: "string", b: "int", c: "timestamp" }, []);
  assert.deepEqual(plain(decodeArtifact(encodeArtifact(empty), "empty-latest")), empty);
});

test("the envelope has the exact JSON shape and base64 line layout of Python's base64.encodebytes", () => {
  const bytes = encodeArtifact(sample);
  const text = bytes.toString("utf8");
  assert.match(text, /^\{"serializer": \{"type": "pandas_feather"\}, "data": "[A-Za-z0-9+/=\\n]+", "prefect_version": "2\.20\.3"\}$/);
  const doc = JSON.parse(text);
  assert.deepEqual(Object.keys(doc), ["serializer", "data", "prefect_version"]);
  const lines = (doc.data as string).split("\n");
  assert.equal(lines.pop(), "", "the last line ends in a newline too");
  assert.ok(lines.slice(0, -1).every((l) => l.length === 76), "every full line is 76 characters");
  assert.ok(lines.at(-1)!.length <= 76 && lines.at(-1)!.length > 0);
  const feather = Buffer.from(doc.data, "base64");
  assert.equal(feather.subarray(0, 6).toString(), "ARROW1");
  assert.equal(feather.subarray(-6).toString(), "ARROW1");
  assert.deepEqual(unwrapEnvelope(bytes), feather);
});

for (const compression of WRITABLE) test(`writes the Arrow types and pandas metadata the dashboard API needs (read by apache-arrow), ${compression}`, () => {
  const arrow = tableFromIPC(unwrapEnvelope(encodeArtifact(sample, compression)));
  assert.deepEqual(arrow.schema.fields.map((f) => `${f.name}:${f.type}`), [
    "name:Utf8", "count:Int64", "vintage:Int64", "price:Float64", "flag:Bool", "when:Timestamp<NANOSECOND>", "day:Date32<DAY>",
  ]);
  const pandas = JSON.parse(arrow.schema.metadata.get("pandas")!);
  assert.deepEqual(pandas.index_columns, [{ kind: "range", name: null, start: 0, stop: 3, step: 1 }]);
  const numpy = Object.fromEntries(pandas.columns.map((c: { name: string; numpy_type: string }) => [c.name, c.numpy_type]));
  assert.deepEqual(numpy, { name: "object", count: "int64", vintage: "Int64", price: "float64", flag: "bool", when: "datetime64[ns]", day: "object" });
  assert.equal(arrow.getChild("when")!.get(0), Date.UTC(2023, 2, 21, 21));
  assert.deepEqual(arrow.getChild("name")!.toArray(), sample.rows.map((r) => r.name));
});

const expected = JSON.parse(readFileSync(path.join(FIXTURES, "pandas_expected.json"), "utf8"));

for (const fixture of ["pandas_lz4.artifact", "pandas_zstd.artifact", "pandas_index.artifact"]) {
  test(`reads an artifact written by pandas/pyarrow: ${fixture}`, () => {
    const got = decodeArtifact(readFileSync(path.join(FIXTURES, fixture)), fixture);
    assert.deepEqual(got.columns.map((c) => c.name), expected.columns, "no __index_level_0__ column");
    assert.deepEqual(got.columns.map((c) => c.type), ["string", "int", "int", "float", "bool", "timestamp", "date"]);
    assert.deepEqual(got.rows, sample.rows);
  });
}

test("a corrupted or truncated artifact gives an error naming the key", () => {
  const bytes = encodeArtifact(sample);
  const cases: Array<[string, Buffer]> = [
    ["truncated", bytes.subarray(0, Math.floor(bytes.length / 2))],
    ["not json", Buffer.from("<html>oops</html>")],
    ["bad base64", Buffer.from('{"serializer": {"type": "pandas_feather"}, "data": "!!!!\\n", "prefect_version": "2.20.3"}')],
    ["other serializer", Buffer.from('{"serializer": {"type": "pickle"}, "data": "QUJD\\n", "prefect_version": "2.20.3"}')],
    ["cut feather", (() => {
      const doc = JSON.parse(bytes.toString());
      const feather = Buffer.from(doc.data, "base64");
      return Buffer.from(JSON.stringify({ ...doc, data: feather.subarray(0, feather.length - 40).toString("base64") }));
    })()],
  ];
  for (const [what, broken] of cases) {
    assert.throws(() => decodeArtifact(broken, "verra_data_v2-latest"), (error: unknown) => {
      assert.ok(error instanceof ArtifactError, what);
      assert.match(error.message, /^artifact verra_data_v2-latest /, what);
      assert.ok(!error.message.includes("\n"), `${what}: one line`);
      return true;
    });
  }
});

test("refuses values that do not fit their column type, before writing anything", () => {
  assert.throws(() => encodeArtifact(table({ n: "int" }, [{ n: 1.5 }])), /column "n" \(int\) cannot hold 1.5/);
  assert.throws(() => encodeArtifact(table({ t: "timestamp" }, [{ t: new Date("2300-01-01") }])), /column "t"/);
  assert.throws(() => encodeArtifact(table({}, [])), /without columns/);
});

// The real consumer: pandas.read_feather, in the Python test/python.ts finds (CI provides it; elsewhere
// the test is skipped and says how to get one). At scale: test/pyarrow.test.ts.
const found = pandasPython();

test("pandas reads our artifacts with the original dtypes, each compression", { skip: skipWithoutPandas(found) }, (t) => {
  const python = requirePython(found);
  for (const compression of WRITABLE) {
    const file = path.join(tempDir(t), `ours_${compression}.artifact`);
    writeFileSync(file, encodeArtifact(sample, compression));
    const out = JSON.parse(execFileSync(python, [path.join(FIXTURES, "read_artifact.py"), file], { encoding: "utf8" }));
    assert.deepEqual(out.columns, expected.columns);
    assert.deepEqual(out.dtypes, { name: "object", count: "int64", vintage: "Int64", price: "float64", flag: "bool", when: "datetime64[ns]", day: "object" });
    assert.equal(out.index, "RangeIndex");
    assert.deepEqual(out.rows, expected.rows, compression);
  }
});
