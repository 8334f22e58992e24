import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { decodeArtifact, encodeArtifact } from "../lib/artifact/artifact.ts";
import { runFlow } from "../lib/run/runner.ts";
import { RunHistory } from "../lib/history/history.ts";
import { LocalLake } from "../lib/lake/lake.ts";
import { ColumnarTable, DictText, table, Utf8Vector } from "../lib/table/table.ts";
import { dayText, monthWindows, splitWindow, verraTable, type Window } from "../lib/sources/verra.ts";
import rawVerraData from "../scripts/raw_verra_data.ts";
import { generateVerraRecords, startFakeVerra, type FakeVerra, type VerraFault, type VerraRecord } from "./fakes/verra.ts";
import { memoryLogger, tempDir, testConfig } from "./helpers.ts";

const DAY = 86_400_000;

test("month windows cover every day exactly once, open before 2009 and after the current month", () => {
  const windows = monthWindows(new Date("2026-11-25T10:00:00Z"));
  assert.equal(windows.length, 1 + 18 * 12 - 1 + 1); // Jan 2009 .. Nov 2026 is 215 months
  assert.deepEqual(windows[0], { end: Date.UTC(2008, 11, 31) });
  assert.deepEqual(windows.at(-1), { start: Date.UTC(2026, 11, 1) });
  for (let i = 1; i < windows.length; i++) assert.equal(windows[i]!.start, windows[i - 1]!.end! + DAY, `gap before window ${i}`);
  assert.deepEqual([dayText(windows[2]!.start!), dayText(windows[2]!.end!)], ["2009-02-01", "2009-02-28"]);
});

test("splitting a window keeps every day, and a single day cannot be split", () => {
  const march: Window = { start: Date.UTC(2021, 2, 1), end: Date.UTC(2021, 2, 31) };
  const [a, b] = splitWindow(march)!;
  assert.deepEqual([dayText(a.start!), dayText(a.end!), dayText(b.start!), dayText(b.end!)], ["2021-03-01", "2021-03-16", "2021-03-17", "2021-03-31"]);
  assert.equal(splitWindow({ start: march.start, end: march.start }), undefined);
  const [before, lastYear] = splitWindow({ end: Date.UTC(2008, 11, 31) })!;
  assert.equal(before.start, undefined);
  assert.equal(lastYear.end, Date.UTC(2008, 11, 31));
  assert.equal(lastYear.start, before.end! + DAY);
  const [nextYear, after] = splitWindow({ start: Date.UTC(2026, 11, 1) })!;
  assert.equal(after.end, undefined);
  assert.equal(after.start, nextYear.end! + DAY);
});

/** The raw_verra_data flow against a fake Verra, in-process, with sleeps recorded instead of slept. */
async function harness(t: Parameters<typeof tempDir>[0], fake: FakeVerra, env: Record<string, string> = {}) {
  const dir = tempDir(t);
  const config = testConfig(dir, { DATA_PIPELINES_VERRA_SEARCH_URL: fake.url, ...env });
  const lake = new LocalLake(path.join(dir, "lake"));
  const history = RunHistory.open(config.db);
  t.after(() => history.close());
  const { log, lines } = memoryLogger();
  const sleeps: number[] = [];
  const run = (options: { handOn?: boolean } = {}) => runFlow(rawVerraData, {
    config, lake, history, log, now: () => new Date("2026-11-25T13:15:00Z"),
    retry: { sleep: async (ms) => { sleeps.push(ms); }, random: () => 0 }, ...options,
  });
  const rows = async () => decodeArtifact((await lake.read("raw_verra_data-latest"))!, "raw_verra_data-latest").rows;
  return { run, rows, lake, history, lines, sleeps };
}

async function fakeVerra(t: { after(fn: () => Promise<void>): void }, records: VerraRecord[], maxRowsPerAnswer = 10_000) {
  const fake = await startFakeVerra({ records, maxRowsPerAnswer });
  t.after(() => fake.stop());
  return fake;
}

test("fetches every record exactly once, splitting windows the registry answers short", async (t) => {
  const records = generateVerraRecords(3_000, 7);
  // Records outside the month range must land in the open windows.
  records.unshift({ ...records[0]!, issuanceDate: "1998-05-05", serialNumbers: "EARLY-1" });
  records.push({ ...records[1]!, issuanceDate: "2031-01-01", serialNumbers: "LATE-1" });
  const fake = await fakeVerra(t, records, 40);
  const { run, rows, history } = await harness(t, fake);
  const result = await run();
  assert.equal(result.status, "succeeded", result.error);
  const got = await rows();
  assert.equal(got.length, records.length);
  const serials = got.map((r) => r["Serial Number"]);
  assert.equal(new Set(serials).size, records.length, "no record twice");
  assert.deepEqual(serials, records.map((r) => r.serialNumbers), "every record, in issuance order");
  const split = fake.requests.filter((r) => r.served < r.totalCount);
  assert.ok(split.length > 0, "some windows came back short");
  assert.equal(fake.requests.length, 217 + 2 * split.length, "each short window was split in two");
  assert.equal(history.get(result.runId)!.rows, records.length);
  for (const request of fake.requests) {
    assert.deepEqual(request.query, { $maxResults: "20000", $count: "true", $skip: "0", format: "csv" });
    assert.equal(request.body.program, "VCS");
    assert.deepEqual(request.body.issuanceTypeCodes, ["ISSUE"]);
  }
});

test("renames the known keys, keeps unknown keys in place, and types the columns", async (t) => {
  const records: VerraRecord[] = generateVerraRecords(50, 3).map((r) => ({ ...r, newField: 1 }));
  const fake = await fakeVerra(t, records);
  const { run, lake } = await harness(t, fake);
  assert.equal((await run()).status, "succeeded");
  const data = decodeArtifact((await lake.read("raw_verra_data-latest"))!, "raw_verra_data-latest");
  assert.deepEqual(data.columns.map((c) => `${c.name}:${c.type}`), [
    "Issuance Date:string", "Sustainable Development Goals:string", "Credit Type:string", "Vintage Start:string",
    "Vintage End:string", "Reporting Period Start:string", "Reporting Period End:string", "ID:string", "Name:string",
    "Region:string", "Country:string", "Project Type:string", "Methodology:string", "Total Vintage Quantity:int",
    "Quantity Issued:int", "Serial Number:string", "Additional Certifications:string", "Is Cancelled:bool",
    "Retirement/Cancellation Date:string", "Retirement Beneficiary:string", "Retirement Reason:string",
    "Retirement Details:string", "Input Type:string", "Holding ID:string", "externalSerialNumber:string", "newField:int",
  ]);
  assert.deepEqual(data.rows[0], {
    "Issuance Date": records[0]!.issuanceDate, "Sustainable Development Goals": records[0]!.programObjectives,
    "Credit Type": records[0]!.instrumentType, "Vintage Start": records[0]!.vintageStart, "Vintage End": records[0]!.vintageEnd,
    "Reporting Period Start": records[0]!.reportingPeriodStart, "Reporting Period End": records[0]!.reportingPeriodEnd,
    ID: records[0]!.resourceIdentifier, Name: records[0]!.resourceName, Region: records[0]!.region, Country: records[0]!.country,
    "Project Type": records[0]!.protocolCategory, Methodology: records[0]!.protocol,
    "Total Vintage Quantity": records[0]!.totalVintageQuantity, "Quantity Issued": records[0]!.quantity,
    "Serial Number": records[0]!.serialNumbers, "Additional Certifications": records[0]!.additionalCertifications,
    "Is Cancelled": records[0]!.retiredCancelled, "Retirement/Cancellation Date": records[0]!.retireOrCancelDate,
    "Retirement Beneficiary": records[0]!.retirementBeneficiary, "Retirement Reason": records[0]!.retirementReason,
    "Retirement Details": records[0]!.retirementDetails, "Input Type": records[0]!.inputTypes,
    "Holding ID": records[0]!.holdingIdentifier, externalSerialNumber: records[0]!.externalSerialNumber, newField: 1,
  });
});

test("records with other keys, in another order or fewer, each keep their own values", () => {
  const [a, b] = generateVerraRecords(2, 1) as [VerraRecord, VerraRecord];
  const { issuanceDate, country, ...rest } = b;
  const records: VerraRecord[] = [
    { ...a, extra: 1 },
    { ...a, extra: 2, country: "Peru" },
    { later: "x", ...rest, country, issuanceDate }, // another order, an unknown key first, no "extra"
    { later: "y", ...rest }, // fewer keys than the record before
    { ...a, extra: 3 }, // the first shape again
    {},
  ];
  const rows = verraTable(records).rows;
  assert.deepEqual(rows.map((r) => [r.extra, r.later, r.Country, r["Issuance Date"]]), [
    [1, null, a.country, a.issuanceDate],
    [2, null, "Peru", a.issuanceDate],
    [null, "x", country, issuanceDate],
    [null, "y", null, null],
    [3, null, a.country, a.issuanceDate],
    [null, null, null, null],
  ]);
  assert.deepEqual(Object.keys(rows[0]!).slice(-2), ["extra", "later"], "unknown keys in order of first appearance");
});

test("a repeated key's column is codes into one dictionary for the whole fetch, each distinct value once; the others stay text", async (t) => {
  const records = generateVerraRecords(3_000, 5);
  const fake = await fakeVerra(t, records, 400); // many windows, some split
  const { run, rows } = await harness(t, fake);
  const result = await run({ handOn: true });
  assert.equal(result.status, "succeeded");
  const handed = result.table as ColumnarTable;
  const country = handed.vector("Country");
  assert.ok(country instanceof DictText);
  assert.equal(country.dictionary.length, new Set(records.map((r) => r.country)).size, "one dictionary, each country once");
  assert.ok(handed.vector("Serial Number") instanceof Utf8Vector, "a key whose values differ stays text");
  const sent = new Map(records.map((r) => [r.serialNumbers, r]));
  for (const row of await rows()) assert.equal(row.Country, sent.get(row["Serial Number"] as string)!.country);
});

test("DATA_PIPELINES_VERRA_MAX_RECORDS keeps the oldest N and stops asking", async (t) => {
  const records = generateVerraRecords(2_000, 5);
  const fake = await fakeVerra(t, records);
  const { run, rows } = await harness(t, fake, { DATA_PIPELINES_VERRA_MAX_RECORDS: "100", DATA_PIPELINES_VERRA_CONCURRENCY: "1" });
  assert.equal((await run()).status, "succeeded");
  assert.deepEqual((await rows()).map((r) => r["Serial Number"]), records.slice(0, 100).map((r) => r.serialNumbers));
  assert.ok(fake.requests.length < 100, `stopped early (${fake.requests.length} requests)`);
});

test("a single day with more records than one answer holds is an error, not a silent loss", async (t) => {
  const records = generateVerraRecords(30, 2).map((r) => ({ ...r, issuanceDate: "2021-06-15" }));
  const fake = await fakeVerra(t, records, 10);
  const { run, lake } = await harness(t, fake);
  const result = await run();
  assert.equal(result.status, "failed");
  assert.equal(result.error, "Verra issuances 2021-06-15 to 2021-06-15: the registry answered 10 of 30 rows and the window cannot be split further");
  assert.equal(await lake.read("raw_verra_data-latest"), undefined);
});

const transientFaults: Array<[string, VerraFault]> = [
  ["503", { kind: "status", status: 503 }],
  ["429 with Retry-After", { kind: "status", status: 429, retryAfterSeconds: 7 }],
  ["truncated body", { kind: "truncated" }],
  ["HTTP 200 with malformed JSON", { kind: "malformed" }],
  ["timeout", { kind: "hang" }],
];

for (const [what, fault] of transientFaults) {
  test(`a ${what} is retried and the run succeeds when the fault clears`, async (t) => {
    const records = generateVerraRecords(300, 11);
    const fake = await fakeVerra(t, records);
    const { run, rows, sleeps, history } = await harness(t, fake, { DATA_PIPELINES_HTTP_TIMEOUT_SECONDS: "0.3" });
    fake.injectFaults(fault, fault);
    const result = await run();
    assert.equal(result.status, "succeeded", result.error);
    assert.equal((await rows()).length, 300);
    assert.equal(history.get(result.runId)!.attempts, 3, "two retries recorded");
    assert.deepEqual(sleeps, fault.kind === "status" && fault.retryAfterSeconds ? [7_000, 7_000] : [0, 0]);
  });
}

test("a 400 fails at once, and the previous -latest stays intact", async (t) => {
  const fake = await fakeVerra(t, generateVerraRecords(100));
  const { run, lake, sleeps } = await harness(t, fake, { DATA_PIPELINES_VERRA_CONCURRENCY: "1" });
  const previous = encodeArtifact(table({ x: "int" }, [{ x: 1 }]));
  await lake.write("raw_verra_data-latest", previous);
  fake.injectFaults({ kind: "status", status: 400, body: '{"message":"bad filter"}' });
  const result = await run();
  assert.equal(result.status, "failed");
  assert.match(result.error!, /^Verra issuances … to 2008-12-31 \(http:\/\/127\.0\.0\.1:\d+\/uiapi\/asset\/asset\/search\): HTTP 400: \{"message":"bad filter"\}$/);
  assert.deepEqual(sleeps, []);
  assert.deepEqual(await lake.read("raw_verra_data-latest"), previous);
});

test("DATA_PIPELINES_RETRIES=false fails on the first fault", async (t) => {
  const fake = await fakeVerra(t, generateVerraRecords(100));
  const { run, sleeps } = await harness(t, fake, { DATA_PIPELINES_RETRIES: "false", DATA_PIPELINES_VERRA_CONCURRENCY: "1" });
  fake.injectFaults({ kind: "status", status: 503 });
  const result = await run();
  assert.equal(result.status, "failed");
  assert.match(result.error!, /HTTP 503/);
  assert.deepEqual(sleeps, []);
});

test("a source that keeps failing gives up after 3 retries with a clear message", async (t) => {
  const fake = await fakeVerra(t, generateVerraRecords(100));
  const { run } = await harness(t, fake, { DATA_PIPELINES_VERRA_CONCURRENCY: "1" });
  fake.injectFaults(...Array.from({ length: 4 }, (): VerraFault => ({ kind: "status", status: 502 })));
  const result = await run();
  assert.equal(result.status, "failed");
  assert.match(result.error!, /HTTP 502.*\(gave up after 4 attempts\)$/);
});

test("a source that is down fails with 'connection refused'", async (t) => {
  const fake = await fakeVerra(t, []);
  const url = fake.url;
  await fake.stop();
  const { run } = await harness(t, { ...fake, url }, { DATA_PIPELINES_RETRIES: "false", DATA_PIPELINES_VERRA_CONCURRENCY: "1" });
  const result = await run();
  assert.match(result.error!, /connection refused \(is the source up\?\)/);
});

test("a Retry-After over DATA_PIPELINES_RETRY_AFTER_MAX_SECONDS fails the run at once; no other window is asked for", async (t) => {
  const fake = await fakeVerra(t, generateVerraRecords(100));
  const { run, sleeps, history, lake } = await harness(t, fake, { DATA_PIPELINES_RETRY_AFTER_MAX_SECONDS: "60" });
  const previous = encodeArtifact(table({ x: "int" }, [{ x: 1 }]));
  await lake.write("raw_verra_data-latest", previous);
  fake.injectFaults({ kind: "status", status: 429, retryAfterSeconds: 3_600 });
  const result = await run();
  assert.equal(result.status, "failed");
  assert.match(result.error!, /^Verra issuances .* \(http:\/\/127\.0\.0\.1:\d+\/uiapi\/asset\/asset\/search\): HTTP 429, asked to wait 3600 s \(Retry-After\), more than DATA_PIPELINES_RETRY_AFTER_MAX_SECONDS=60$/);
  assert.equal(history.get(result.runId)!.status, "failed");
  assert.deepEqual(sleeps, []);
  assert.ok(fake.requests.length <= 4, `the windows under way at most (${fake.requests.length} requests)`);
  assert.deepEqual(await lake.read("raw_verra_data-latest"), previous);
});
