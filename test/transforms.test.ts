import assert from "node:assert/strict";
import { test } from "node:test";
import { ColumnarTable, table } from "../lib/table/table.ts";
import { renameColumns } from "../lib/table/operations.ts";
import { autoRename, mergeWithVerra, parseUtc, snakeName } from "../lib/table/transforms.ts";

test("snakeName: spaces to _, then lower case, nothing else", () => {
  assert.equal(snakeName("Retirement/Cancellation Date"), "retirement/cancellation_date");
  assert.equal(snakeName("externalSerialNumber"), "externalserialnumber");
  assert.equal(snakeName("Country code"), "country_code");
  assert.equal(snakeName("Quantity Issued"), "quantity_issued");
  assert.equal(snakeName("already_snake"), "already_snake");
  assert.equal(snakeName("Two  Spaces"), "two__spaces");
  assert.equal(snakeName("Project-Name (ID)"), "project-name_(id)");
});

test("autoRename renames every column, keeping order, types and values", () => {
  const input = table(
    { "Issuance Date": "date", "externalSerialNumber": "string", "Quantity Issued": "int", "Country code": "string" },
    [
      { "Issuance Date": new Date("2021-03-04T00:00:00Z"), "externalSerialNumber": "123-ABC", "Quantity Issued": 10, "Country code": "BRA" },
      { "Issuance Date": null, "externalSerialNumber": null, "Quantity Issued": null, "Country code": null },
    ],
  );
  const out = autoRename(input);
  assert.deepEqual(out.columns, [
    { name: "issuance_date", type: "date" },
    { name: "externalserialnumber", type: "string" },
    { name: "quantity_issued", type: "int" },
    { name: "country_code", type: "string" },
  ]);
  assert.deepEqual(out.rows, [
    { issuance_date: new Date("2021-03-04T00:00:00Z"), externalserialnumber: "123-ABC", quantity_issued: 10, country_code: "BRA" },
    { issuance_date: null, externalserialnumber: null, quantity_issued: null, country_code: null },
  ]);
  assert.deepEqual(Object.keys(out.rows[0]!), ["issuance_date", "externalserialnumber", "quantity_issued", "country_code"]);
  assert.deepEqual(input.columns.map((c) => c.name), ["Issuance Date", "externalSerialNumber", "Quantity Issued", "Country code"], "the input is not modified");
  assert.equal(autoRename(out), out, "nothing to rename: the same table");
});

test("renameColumns fills a missing cell with null", () => {
  const out = renameColumns(table({ A: "int", B: "string" }, [{ A: 1 }]), (n) => n.toLowerCase());
  assert.deepEqual(out.rows, [{ a: 1, b: null }]);
});

test("parseUtc reads dates and date-times as naive UTC, applying an offset", () => {
  const iso = (text: string | null | undefined) => parseUtc(text)?.toISOString() ?? null;
  assert.equal(iso("2021-03-04"), "2021-03-04T00:00:00.000Z");
  assert.equal(iso("2021-03-04T05:06:07"), "2021-03-04T05:06:07.000Z");
  assert.equal(iso("2021-03-04 05:06:07"), "2021-03-04T05:06:07.000Z");
  assert.equal(iso("2021-03-04 05:06:07.5"), "2021-03-04T05:06:07.500Z");
  assert.equal(iso("2021-03-04T05:06:07.123456789"), "2021-03-04T05:06:07.123Z");
  assert.equal(iso("2021-03-04T05:06"), "2021-03-04T05:06:00.000Z");
  assert.equal(iso("2021-03-04T05:06:07Z"), "2021-03-04T05:06:07.000Z");
  assert.equal(iso("2021-03-04T05:06:07+02:00"), "2021-03-04T03:06:07.000Z");
  assert.equal(iso("2021-03-04T01:06:07+02:00"), "2021-03-03T23:06:07.000Z");
  assert.equal(iso("2021-03-04T05:06:07-0530"), "2021-03-04T10:36:07.000Z");
  assert.equal(iso(" 2021-03-04 "), "2021-03-04T00:00:00.000Z");
  assert.equal(iso("2024-02-29"), "2024-02-29T00:00:00.000Z");
});

test("parseUtc gives null for impossible dates, other text and null", () => {
  assert.equal(parseUtc("2021-02-30"), null);
  assert.equal(parseUtc("2023-02-29"), null);
  assert.equal(parseUtc("2021-04-31T10:00:00"), null);
  assert.equal(parseUtc("something"), null);
  assert.equal(parseUtc("04/03/2021"), null);
  assert.equal(parseUtc("2021-03-04T05:06:07 UTC"), null);
  assert.equal(parseUtc(""), null);
  assert.equal(parseUtc(null), null);
  assert.equal(parseUtc(undefined), null);
});

// BUG (lib/table/transforms.ts, parseUtc): only the day of month is checked against the
// calendar, and not at all when the text has an offset, so these roll over into
// another date instead of giving null.
test("parseUtc refuses impossible months, times and dates that carry an offset", () => {
  const iso = (text: string) => parseUtc(text)?.toISOString() ?? null;
  assert.equal(iso("2021-02-30T05:06:07Z"), null, "Feb 30 with Z");
  assert.equal(iso("2021-02-30T05:06:07+02:00"), null, "Feb 30 with an offset");
  assert.equal(iso("2021-13-01"), null, "month 13");
  assert.equal(iso("2021-00-10"), null, "month 0");
  assert.equal(iso("2021-03-04T05:61:00"), null, "minute 61");
  assert.equal(iso("2021-03-04T05:06:75"), null, "second 75");
});

test("merging with Verra reads Verra's ids once per vector: the flows of a build that merge with the same verra_data_v2 find its first row per id made", () => {
  let idReads = 0;
  const ids = new Proxy(["101", "202", "101", null], {
    get: (target, key, receiver) => {
      if (typeof key === "string" && /^\d+$/.test(key)) idReads++;
      return Reflect.get(target, key, receiver);
    },
  });
  const verraColumns = [{ name: "id", type: "string" as const }, { name: "name", type: "string" as const }];
  const verra = new ColumnarTable(verraColumns, [ids, ["first", "second", "later", "none"]], 4);
  const batches = table({ project_id: "string", quantity: "int" }, [{ project_id: "VCS-101", quantity: 5 }, { project_id: "VCS-202", quantity: 7 }, { project_id: "VCS-9", quantity: 1 }]);
  const names = (t: ReturnType<typeof mergeWithVerra>) => t.rows.map((r) => [r.project_id_key, r.name, r.id]);
  const expected = [["101", "first", "101"], ["202", "second", "202"], ["9", null, null]];
  assert.deepEqual(names(mergeWithVerra(batches, verra)), expected);
  const afterFirst = idReads;
  assert.deepEqual(names(mergeWithVerra(batches, verra)), expected, "the same rows");
  // The second merge reads only the matched rows' ids (the id column it adds), not every id again.
  assert.equal(idReads - afterFirst, 2);
  // The same vector seen at another length is indexed again: "202" is not among the first row.
  assert.deepEqual(names(mergeWithVerra(batches, new ColumnarTable(verraColumns, [ids, ["first", "second", "later", "none"]], 1))), [["101", "first", "101"], ["202", null, null], ["9", null, null]]);
});
