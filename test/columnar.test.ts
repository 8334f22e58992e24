// The columnar table (lib/table/table.ts, lib/table/operations.ts) and the decoding shortcuts that
// feed it (lib/artifact/read.ts, envelope.ts, compression.ts): each gives what the plain way gives.
import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeLz4 } from "../lib/artifact/compression.ts";
import { collectGarbage } from "../lib/core/memory.ts";
import { decodeArtifact, encodeArtifact, encodeArtifactBody, encodeArtifactBodyYielding, unwrapEnvelope } from "../lib/artifact/artifact.ts";
import {
  concatRows, dropColumns, filterRows, renameColumns, rowView, selectColumns, selectRows, sortRowsBy, withColumns, withVectors,
} from "../lib/table/operations.ts";
import { ColumnarTable, columnar, columnsOf, concatVectors, DictText, NULL_BOOL, rowCount, table, Utf8Vector, type Row, type Table } from "../lib/table/table.ts";
import { envelope } from "../lib/artifact/envelope.ts";
import {
  compressionRegistry, CompressionType, Dictionary, Float64, Int32, LargeUtf8, RecordBatch, RecordBatchFileWriter, Table as ArrowTable, tableToIPC, Utf8, vectorFromArray,
} from "apache-arrow";
import { col, tableBuilder, tableOf } from "../lib/table/columns.ts";
import { recordBatches } from "./codec_helpers.ts";
import { plain } from "./helpers.ts";

const sample = table(
  { name: "string", count: "int", price: "float", flag: "bool", when: "timestamp", day: "date" },
  [
    { name: "héllo ✓", count: 1, price: 1.5, flag: true, when: new Date("2023-03-21T21:00:00Z"), day: new Date("2023-03-21T00:00:00Z") },
    { name: null, count: null, price: null, flag: null, when: null, day: null },
    { name: "b", count: -(2 ** 40), price: Number.NaN, flag: false, when: new Date(-1), day: new Date(0) },
  ],
);

test("a table of rows by columns and back: the same rows (a float NaN is a null, as the artifact has it)", () => {
  const t = columnar(sample);
  assert.ok(t instanceof ColumnarTable);
  assert.equal(rowCount(t), 3);
  assert.deepEqual(t.vector("count"), new Float64Array([1, NaN, -(2 ** 40)]));
  assert.deepEqual(t.vector("flag"), new Uint8Array([1, NULL_BOOL, 0]));
  assert.deepEqual(t.vector("when"), new Float64Array([Date.UTC(2023, 2, 21, 21), NaN, -1]));
  assert.deepEqual(t.rows, sample.rows.map((r, i) => (i === 2 ? { ...r, price: null } : r)));
  assert.equal(t.rows, t.rows, "the rows are made once");
  assert.equal(columnar(t), t, "a columnar table is kept as it is");
});

test("a value its column cannot hold is refused with the writer's message", () => {
  const cases: Array<[Table, string]> = [
    [table({ id: "string" }, [{ id: 5 }]), 'column "id" (string) cannot hold 5'],
    [table({ n: "int" }, [{ n: 1.5 }]), 'column "n" (int) cannot hold 1.5'],
    [table({ n: "int" }, [{ n: Number.NaN }]), 'column "n" (int) cannot hold null'],
    [table({ f: "float" }, [{ f: "1" }]), 'column "f" (float) cannot hold "1"'],
    [table({ b: "bool" }, [{ b: 1 }]), 'column "b" (bool) cannot hold 1'],
    [table({ t: "timestamp" }, [{ t: new Date(Number.NaN) }]), 'column "t" (timestamp) cannot hold null'],
    [table({ t: "timestamp" }, [{ t: "2021-01-01" }]), 'column "t" (timestamp) cannot hold "2021-01-01"'],
  ];
  for (const [input, message] of cases) {
    assert.throws(() => columnar(input), { message });
    assert.throws(() => encodeArtifact(input), { message }, "the same through the writer");
  }
});

test("a row view reads each row in turn; a spread copies its values, the view itself moves on", () => {
  const view = rowView(columnar(sample));
  const first = view.at(0);
  assert.equal(first.name, "héllo ✓");
  assert.deepEqual(first.when, new Date("2023-03-21T21:00:00Z"));
  const copy: Row = { ...first };
  assert.deepEqual(Object.keys(copy), ["name", "count", "price", "flag", "when", "day"]);
  const second = view.at(1);
  assert.equal(second, first, "one object for every row");
  assert.equal(first.count, null, "which now shows row 1");
  assert.equal(copy.count, 1, "the copy keeps row 0's values");
  assert.equal(view.at(2).flag, false);
  assert.equal(view.at(2).price, null);
});

test("filter, add, replace, drop, select and rename work by columns and share what they keep", () => {
  const t = columnar(sample);
  const kept = filterRows(t, (r) => r.name !== null);
  assert.deepEqual(kept.rows.map((r) => r.name), ["héllo ✓", "b"]);
  const added = withColumns(t, [{ name: "double", type: "float" }, { name: "name", type: "string" }], (r, i) => [
    r.count === null ? null : 2 * (r.count as number), `${i}:${r.name ?? "-"}`,
  ]);
  assert.deepEqual(added.columns.map((c) => c.name), ["name", "count", "price", "flag", "when", "day", "double"], "replaced in place, added at the end");
  assert.deepEqual(added.rows.map((r) => [r.name, r.double]), [["0:héllo ✓", 2], ["1:-", null], ["2:b", -(2 ** 41)]]);
  assert.equal(added.vector("count"), t.vector("count"), "a kept column is shared, not copied");
  assert.deepEqual(dropColumns(t, ["price", "when", "nope"]).columns.map((c) => c.name), ["name", "count", "flag", "day"]);
  assert.deepEqual(selectColumns(t, ["day", "nope", "name"]).columns.map((c) => c.name), ["day", "name"]);
  const renamed = renameColumns(t, (n) => n.toUpperCase());
  assert.deepEqual(renamed.columns.map((c) => c.name), ["NAME", "COUNT", "PRICE", "FLAG", "WHEN", "DAY"]);
  assert.equal((renamed as ColumnarTable).vectors[0], t.vectors[0]);
  assert.deepEqual(selectRows(t, [2, -1, 0]).rows.map((r) => [r.name, r.count, r.flag]), [["b", -(2 ** 40), false], [null, null, null], ["héllo ✓", 1, true]]);
  assert.deepEqual(withVectors(t, [{ name: "x", type: "int" }], [new Float64Array([7, NaN, 9])]).rows.map((r) => r.x), [7, null, 9]);
});

test("rows of several tables one after the other, by the columns asked for; a stable sort, greatest first", () => {
  const a = table({ k: "string", when: "timestamp", n: "int" }, [{ k: "a1", when: new Date(5), n: 1 }, { k: "a2", when: null, n: 2 }]);
  const b = table({ k: "string", n: "float", extra: "string" }, [{ k: "b1", n: 2.5, extra: "x" }, { k: "b2", n: null, extra: "y" }]);
  const all = concatRows([{ name: "k", type: "string" }, { name: "n", type: "float" }, { name: "when", type: "timestamp" }], [a, b]);
  assert.deepEqual(plain(all), table({ k: "string", n: "float", when: "timestamp" }, [
    { k: "a1", n: 1, when: new Date(5) }, { k: "a2", n: 2, when: null }, { k: "b1", n: 2.5, when: null }, { k: "b2", n: null, when: null },
  ]));
  const dates = all.vector("when") as Float64Array;
  const sorted = sortRowsBy(all, (i) => (dates[i] === dates[i] ? dates[i]! : -Infinity), { descending: true });
  assert.deepEqual(sorted.rows.map((r) => r.k), ["a1", "a2", "b1", "b2"], "ties keep their order");
  assert.deepEqual(sortRowsBy(all, (i) => [3, 1, 3, 0][i]!).rows.map((r) => r.k), ["b2", "a2", "a1", "b1"]);
});

test("text read back from an artifact: repeated and distinct values, nulls and UTF-8 across blocks", () => {
  // 10,000 rows (three blocks of 4,096): one column repeats a few values, one is all distinct,
  // one is distinct for 5,000 rows and then repeats (it stops being looked up, then reads on).
  const rows = Array.from({ length: 10_000 }, (_, i) => ({
    country: i % 7 === 0 ? null : ["Brazil", "Perú", "India"][i % 3]!,
    serial: `VCS-${i}-${"x".repeat(i % 20)}`,
    mixed: i < 5_000 ? `unique ${i}` : i % 11 === 0 ? null : `again ${i % 4} ✓`,
  }));
  const input = table({ country: "string", serial: "string", mixed: "string" }, rows);
  const back = decodeArtifact(encodeArtifact(input), "t-latest");
  assert.deepEqual(back.rows, rows);
});

test("text read a row at a time in order holds one block of strings, not the column's; read out of order, the column is made whole once", () => {
  const values = Array.from({ length: 10_000 }, (_, i) => (i % 7 === 0 ? null : i % 2 ? `Perú ${i % 5}` : `VCS-${i}`));
  const fresh = () => (decodeArtifact(encodeArtifact(table({ v: "string" }, values.map((v) => ({ v })))), "t-latest") as ColumnarTable).vectors[0] as Utf8Vector;
  const inOrder = fresh();
  for (let i = 0; i < values.length; i++) assert.equal(inOrder.at(i), values[i]);
  assert.equal(inOrder.holdsStrings, false, "a column read once in order leaves no string array behind");
  const view = rowView(new ColumnarTable([{ name: "v", type: "string" }], [inOrder], values.length));
  assert.deepEqual(Array.from({ length: values.length }, (_, i) => view.at(i).v), values, "a row view reads so too");
  assert.equal(inOrder.holdsStrings, false);
  const another = fresh();
  const byName = new ColumnarTable([{ name: "v", type: "string" }], [another], values.length).textAt("v")!;
  assert.deepEqual(Array.from({ length: values.length }, (_, i) => byName(i)), values, "and a table's textAt");
  assert.equal(another.holdsStrings, false);
  const shuffled = fresh();
  for (let k = 0; k < values.length; k++) {
    const i = (k * 7919) % values.length;
    assert.equal(shuffled.at(i), values[i]);
  }
  assert.equal(shuffled.holdsStrings, true, "out of order: made whole (after twice as many blocks as it has)");
  assert.deepEqual(shuffled.strings(), values);
});

test("text made from strings is their UTF-8 bytes: nulls, empty, multi-byte, a lone surrogate, runs longer than one write", () => {
  const values = [null, "", "héllo ✓", "lone \ud800 surrogate", "x".repeat(40_000), ...Array.from({ length: 9_000 }, (_, i) => (i % 5 ? `VCS-${i}` : null))];
  const text = Utf8Vector.fromStrings(values);
  assert.deepEqual(text.strings(), values.map((v) => v?.replace("\ud800", "\ufffd") ?? null));
  assert.deepEqual(Buffer.from(text.bytes.subarray(0, text.offsets[values.length])), Buffer.from(values.map((v) => v ?? "").join(""), "utf8"));
  assert.equal(text.isNull(0), true);
  assert.equal(text.isNull(1), false, "an empty text is not a null");
  assert.deepEqual(Utf8Vector.fromStrings(values, 3).strings(), values.slice(0, 3), "the first n only");
});

test("a table built a batch of entities at a time lets each batch go once read, and joins the batches in the order asked", async () => {
  const columns = { id: col.string("id"), n: col.int("n"), name: col.string("p.name") };
  const batch = (from: number) => Array.from({ length: 1_000 }, (_, i) => ({ id: `e-${from + i}`, n: String(from + i), p: { name: i % 3 ? `Perú ${i % 4}` : null } }));
  const all = [...batch(0), ...batch(1_000), ...batch(2_000)];
  const builder = tableBuilder(columns);
  // Watched by a FinalizationRegistry (a WeakRef would keep its target until the job that made it ends),
  // and added from a function of its own, so that no variable of this (async) one still holds a batch.
  const gone = new Set<string>();
  const registry = new FinalizationRegistry((what: string) => gone.add(what));
  for (const from of [0, 1_000, 2_000]) {
    ((entities) => {
      builder.add(entities);
      registry.register(entities, `batch ${from}`);
      registry.register(entities[1]!.p, `an object in batch ${from}`);
    })(batch(from));
  }
  for (let round = 0; round < 20 && gone.size < 6; round++) {
    collectGarbage();
    await new Promise(setImmediate); // finalization callbacks run after the collection, as tasks
  }
  assert.equal(gone.size, 6, `no entity kept; let go: ${[...gone].join(", ") || "none"}`);
  const order = Array.from({ length: all.length }, (_, i) => all.length - 1 - i);
  const got = builder.finish(order);
  assert.deepEqual(plain(got), plain(tableOf(order.map((i) => all[i]!), columns)));
  assert.ok(got.vector("id") instanceof Utf8Vector && got.vector("name") instanceof Utf8Vector, "text as bytes");
});

test("the table a write hands to the next flows of a build holds text as the bytes written, and reads as the artifact does", () => {
  const input = table({ name: "string", n: "int" }, [
    { name: "héllo ✓", n: 1 }, { name: null, n: 2 }, { name: "lone \ud800 surrogate", n: 3 }, { name: "", n: null },
  ]);
  const body = encodeArtifactBody(input);
  const handed = body.table!;
  assert.ok(handed.vectors[0] instanceof Utf8Vector, "no array of strings kept");
  const bytes = Buffer.concat([...body.chunks()]);
  assert.deepEqual(plain(handed), plain(decodeArtifact(bytes, "t-latest")), "what a flow reading the lake would read (U+FFFD for the lone surrogate)");
  assert.equal(handed.rows[2]!.name, "lone \ufffd surrogate");
  assert.equal(encodeArtifactBody(input, "lz4", { handOn: false }).table, undefined, "a flow nothing reads after it keeps no such copy");
});

test("a flow's encoding lets the event loop run between columns once it has taken 10 ms, and makes the same bytes as at once", async () => {
  const rows = 100_000;
  const columns = Array.from({ length: 40 }, (_, i) => ({ name: `c${i}`, type: "float" as const }));
  const input = new ColumnarTable(columns, columns.map((_, i) => Float64Array.from({ length: rows }, (_, r) => Math.sin(r * (i + 1)))), rows);
  let settled = false;
  const encoding = encodeArtifactBodyYielding(input).then((body) => { settled = true; return body; });
  let settledWhenOthersRan: boolean | undefined;
  setImmediate(() => { settledWhenOthersRan = settled; }); // another flow's answer, arrived meanwhile
  const body = await encoding;
  assert.equal(settledWhenOthersRan, false, "the event loop ran before the encoding ended (32 MB: well over 10 ms)");
  assert.ok(Buffer.concat([...body.chunks()]).equals(Buffer.concat([...encodeArtifactBody(input).chunks()])), "the same bytes");
  assert.deepEqual([body.rowCount, body.columns.length, (body.table!.vectors[3] as Float64Array)[7]], [rows, 40, Math.sin(7 * 4)]);

  // In a build, each pause is the flow's turn (lib/core/turns.ts): the encoding goes on only when it is given.
  let turnsAsked = 0;
  const withTurns = await encodeArtifactBodyYielding(input, "lz4", { turn: () => { turnsAsked++; return new Promise(setImmediate); } });
  assert.ok(turnsAsked >= 1, "paused on its turns");
  assert.ok(Buffer.concat([...withTurns.chunks()]).equals(Buffer.concat([...body.chunks()])), "the same bytes");
});

test("text decoded from an artifact stays UTF-8 bytes: carried, filtered, sorted, joined and concatenated, then written back the same", () => {
  const schema = { country: "string", serial: "string", n: "int" } as const;
  const rows = Array.from({ length: 9_000 }, (_, i) => ({
    country: i % 7 === 0 ? null : ["Brazil", "Perú", "India"][i % 3]!,
    serial: `VCS-${i}-${"✓".repeat(i % 5)}`,
    n: i,
  }));
  const bytes = encodeArtifact(table(schema, rows));
  const decoded = decodeArtifact(bytes, "t-latest") as ColumnarTable;
  assert.ok(decoded.vector("serial") instanceof Utf8Vector);
  assert.deepEqual(encodeArtifact(decoded), bytes, "written back: the same bytes");
  const same = (made: Table, expected: Row[]) => {
    assert.deepEqual(plain(made).rows, expected);
    assert.deepEqual(encodeArtifact(made), encodeArtifact(table(schema, expected)), "the bytes of the same rows written from strings");
  };
  same(selectRows(decoded, [5, -1, 0, 7]), [rows[5]!, { country: null, serial: null, n: null }, rows[0]!, rows[7]!]);
  same(sortRowsBy(decoded, (i) => i % 10, { descending: true }), [...rows.keys()].sort((a, b) => (b % 10) - (a % 10) || a - b).map((i) => rows[i]!));
  same(filterRows(decoded, (r) => r.country === "Perú"), rows.filter((r) => r.country === "Perú"));
  same(concatRows(decoded.columns, [decoded, selectRows(decoded, [1, 2])]), [...rows, rows[1]!, rows[2]!]);
  same(concatRows(decoded.columns, [decoded, table(schema, [rows[3]!])]), [...rows, rows[3]!]);
});

test("repeated text as codes into its distinct values: read, carried, filtered, sorted, joined, concatenated, written as the same text", () => {
  const schema = { country: "string", n: "int" } as const;
  const rows = Array.from({ length: 9_000 }, (_, i) => ({ country: i % 7 === 3 ? null : ["Brazil", "Perú", "India ✓", ""][i % 4]!, n: i }));
  const dictionary: string[] = [];
  const codes = new Map<string, number>();
  const codeOf = (v: string | null) => (v === null ? -1 : codes.get(v) ?? (codes.set(v, dictionary.push(v) - 1), dictionary.length - 1));
  // Two windows of a source, the dictionary growing as the second is read.
  const part = (from: number, to: number) => new DictText(Int32Array.from(rows.slice(from, to), (r) => codeOf(r.country)), dictionary);
  const first = part(0, 4_000);
  const joined = concatVectors({ name: "country", type: "string" }, [first, part(4_000, 9_000)]);
  assert.ok(joined instanceof DictText, "parts sharing a dictionary join by their codes");
  assert.equal(joined.dictionary.length, 4, "each distinct value once");
  const t = new ColumnarTable(columnsOf(schema), [joined, Float64Array.from(rows, (r) => r.n)], rows.length);
  assert.deepEqual(plain(t).rows, rows);
  assert.deepEqual(t.texts("country"), rows.map((r) => r.country));
  const bytes = encodeArtifact(table(schema, rows));
  assert.deepEqual(encodeArtifact(t), bytes, "written as the text it stands for: the same bytes as from strings");
  assert.ok(encodeArtifactBody(t).table!.vectors[0] instanceof DictText, "handed on to the next flows as codes, not as the bytes written");
  const same = (made: Table, expected: Row[]) => {
    assert.deepEqual(plain(made).rows, expected);
    assert.deepEqual(encodeArtifact(made), encodeArtifact(table(schema, expected)));
  };
  const picked = selectRows(t, [5, -1, 0, 7]);
  assert.ok((picked as ColumnarTable).vectors[0] instanceof DictText, "rows taken as codes");
  same(picked, [rows[5]!, { country: null, n: null }, rows[0]!, rows[7]!]);
  same(sortRowsBy(t, (i) => i % 10, { descending: true }), [...rows.keys()].sort((a, b) => (b % 10) - (a % 10) || a - b).map((i) => rows[i]!));
  same(filterRows(t, (r) => r.country === "Perú"), rows.filter((r) => r.country === "Perú"));
  const decoded = decodeArtifact(bytes, "t-latest") as ColumnarTable;
  same(concatRows(t.columns, [t, decoded, selectRows(t, [1, 2])]), [...rows, ...rows, rows[1]!, rows[2]!]);
  // Taken at rows whose text passes Arrow's 2 GB: refused before anything is made (as codes, or as bytes).
  const long = new DictText(Int32Array.of(0), ["x".repeat(1 << 20)]);
  assert.throws(() => long.take(new Int32Array(2_049)).toUtf8(), /2,049 text values of 2,148,532,224 bytes: more than 2 GB of text in one column/);
  assert.throws(() => long.toUtf8().take(new Int32Array(2_049)), /more than 2 GB of text in one column/);
  // Parts with dictionaries of their own: their values, as strings.
  const apart = concatVectors({ name: "country", type: "string" }, [part(0, 3), new DictText(Int32Array.of(0, -1), ["Chile"])]);
  assert.deepEqual(apart, ["Brazil", "Perú", "India ✓", "Chile", null]);
  // The first n of a longer part.
  assert.deepEqual((concatVectors({ name: "country", type: "string" }, [first, first], 4_002) as DictText).strings().slice(3_998), ["India ✓", "", "Brazil", "Perú"]);
});

test("a decoded table keeps nothing of the file it was read from: text left uncompressed in it is copied out", () => {
  const rows = [{ s: "a" }, { s: null }, { s: "b".repeat(50) }];
  for (const compression of ["none", "lz4"] as const) {
    const bytes = encodeArtifact(table({ s: "string" }, rows), compression);
    const decoded = decodeArtifact(bytes, "t-latest", undefined, { consume: true }) as ColumnarTable;
    const text = decoded.vector("s") as Utf8Vector;
    for (const buffer of [text.bytes, text.offsets, text.validity!]) assert.notEqual(buffer.buffer, bytes.buffer, compression);
    assert.deepEqual(plain(decoded).rows, rows);
  }
});

test("text in other Arrow layouts reads and writes as its rows: record batches, LargeUtf8, offsets not from 0, bytes under a null", () => {
  const parts = [["a", null, "ß"], ["", "zz", null, "last ✓"]];
  const ipc = tableToIPC(new ArrowTable(parts.map((values) => new RecordBatch({
    small: vectorFromArray(values, new Utf8()).data[0]!, large: vectorFromArray(values, new LargeUtf8()).data[0]!,
  }))), "file");
  const decoded = decodeArtifact(envelope(ipc), "t-latest");
  const rows = parts.flat().map((v) => ({ small: v, large: v }));
  assert.deepEqual(plain(decoded).rows, rows);
  assert.deepEqual(encodeArtifact(decoded), encodeArtifact(table({ small: "string", large: "string" }, rows)));

  // "abc", null (over the bytes "yy"), "d", the first value 2 bytes in.
  const loose = new Utf8Vector(Buffer.from("xxabcyyd"), new Int32Array([2, 5, 7, 8]), new Uint8Array([0b101]), 3);
  const tight = [{ s: "abc" }, { s: null }, { s: "d" }];
  assert.deepEqual(loose.strings(), ["abc", null, "d"]);
  assert.deepEqual(encodeArtifact(new ColumnarTable([{ name: "s", type: "string" }], [loose], 3)), encodeArtifact(table({ s: "string" }, tight)));
});

test("LZ4 buffers are decompressed for the columns read only, and a file with a dictionary-encoded column is read whole", async () => {
  const { compressFrameSync } = await import("lz4-napi");
  compressionRegistry.set(CompressionType.LZ4_FRAME, { encode: (b) => compressFrameSync(Buffer.from(b)), decode: (b) => decodeLz4(b) });
  const countries = ["Brazil", null, "India", "Brazil", "Perú"];
  const ipc = RecordBatchFileWriter.writeAll(new ArrowTable({
    country: vectorFromArray(countries, new Dictionary(new Utf8(), new Int32())),
    n: vectorFromArray([1.5, 2, null, 4, 5], new Float64()),
    text: vectorFromArray(["a".repeat(100), "b", null, "c", "d"], new Utf8()),
  }), { compressionType: CompressionType.LZ4_FRAME }).toUint8Array(true);
  const artifact = envelope(ipc);
  assert.deepEqual(recordBatches(artifact).map((b) => b.compression), ["lz4"]);
  assert.deepEqual(plain(decodeArtifact(artifact, "t-latest")).rows, countries.map((country, i) => ({
    country, n: [1.5, 2, null, 4, 5][i]!, text: ["a".repeat(100), "b", null, "c", "d"][i]!,
  })));

  const ours = encodeArtifact(table({ a: "string", b: "float", c: "int" }, [{ a: "x".repeat(500), b: 1, c: 2 }, { a: null, b: null, c: 3 }]));
  assert.deepEqual(plain(decodeArtifact(ours, "t-latest", ["c", "a"])).rows, [{ c: 2, a: "x".repeat(500) }, { c: 3, a: null }]);
});

test("the envelope: lines, escaped slashes, whitespace and the URL-safe alphabet read alike; damage is named", () => {
  const bytes = encodeArtifact(sample);
  const feather = unwrapEnvelope(bytes);
  const text = bytes.toString("latin1");
  const data = text.slice(text.indexOf('"data": "') + 9, text.lastIndexOf('", "prefect_version"'));
  const envelopeOf = (body: string) => Buffer.from(`{"serializer": {"type": "pandas_feather"}, "data": "${body}", "prefect_version": "2.20.3"}`, "latin1");
  const plainBase64 = data.replaceAll("\\n", "");
  for (const [what, body] of [
    ["one line", plainBase64],
    ["escaped slashes", plainBase64.replaceAll("/", "\\/")],
    ["spaces and \\r", data.replaceAll("\\n", " \\r\\n")],
    ["URL-safe", plainBase64.replaceAll("+", "-").replaceAll("/", "_")],
  ] as const) assert.deepEqual(unwrapEnvelope(envelopeOf(body)), feather, what);
  assert.throws(() => unwrapEnvelope(envelopeOf(`${plainBase64.slice(0, 40)}*${plainBase64.slice(40)}`)), /data is not base64/);
  assert.throws(() => unwrapEnvelope(envelopeOf(`${plainBase64.slice(0, 40)}\\t${plainBase64.slice(40)}`)), /data is not base64/);
  assert.throws(() => unwrapEnvelope(envelopeOf(plainBase64.replace(/=+$/, "").slice(0, -1))), /truncated/);

  // Decoded over the caller's bytes (a flow's own read): the same Feather file, whatever the lines.
  const lines = (body: string, width: number) => body.match(new RegExp(`.{1,${width}}`, "g"))!;
  for (const [what, body] of [
    ["ours", data],
    ["the last line short, no newline after it", lines(plainBase64, 76).join("\\n")],
    ["the last line short, a newline after it", `${lines(plainBase64, 76).join("\\n")}\\n`],
    ["the last line whole, a newline after it", `${lines(plainBase64.slice(0, 76 * 3), 76).join("\\n")}\\n`],
    ["lines of another width (read the general way)", lines(plainBase64, 64).join("\\n")],
    ["escaped slashes (read the general way)", plainBase64.replaceAll("/", "\\/")],
  ] as const) {
    const input = envelopeOf(body);
    const expected = unwrapEnvelope(Buffer.from(input));
    if (!what.startsWith("the last line whole")) assert.deepEqual(expected, feather, what);
    assert.deepEqual(unwrapEnvelope(input, { inPlace: true }), expected, `${what}, in place`);
  }
  const damaged = lines(plainBase64, 76);
  damaged[1] = `${damaged[1]!.slice(0, 10)}*${damaged[1]!.slice(11)}`;
  assert.throws(() => unwrapEnvelope(envelopeOf(damaged.join("\\n")), { inPlace: true }), /data is not base64/);
  assert.deepEqual(plain(decodeArtifact(Buffer.from(bytes), "t-latest", undefined, { consume: true })), plain(decodeArtifact(bytes, "t-latest")));
});

test("an LZ4 buffer reads the same whether or not the length before it is there and right", async () => {
  const { compressFrameSync } = await import("lz4-napi");
  const data = Buffer.from("carbon credit ".repeat(5_000) + "retired", "latin1");
  const frame = compressFrameSync(data);
  const withLength = (length: bigint) => {
    const body = new Uint8Array(8 + frame.length);
    new DataView(body.buffer).setBigInt64(0, length, true);
    body.set(frame, 8);
    return body.subarray(8);
  };
  assert.deepEqual(Buffer.from(decodeLz4(withLength(BigInt(data.length)))), data, "the length Arrow writes");
  assert.deepEqual(Buffer.from(decodeLz4(withLength(BigInt(data.length - 1)))), data, "too short");
  assert.deepEqual(Buffer.from(decodeLz4(withLength(BigInt(data.length + 10)))), data, "too long");
  assert.deepEqual(Buffer.from(decodeLz4(withLength(-1n))), data, "no length");
  assert.deepEqual(Buffer.from(decodeLz4(new Uint8Array(frame))), data, "nothing before the frame");
});
