// Checks that the Verra fake behaves like the real search API (and the brief that describes it),
// so that client tests built on it test the client, not the fake.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { startFakeVerra, generateVerraRecords, type FakeVerra, type VerraRecord } from "./verra.ts";

const KEYS = [
  "issuanceDate", "programObjectives", "instrumentType", "vintageStart", "vintageEnd", "reportingPeriodStart",
  "reportingPeriodEnd", "resourceIdentifier", "resourceName", "region", "country", "protocolCategory", "protocol",
  "totalVintageQuantity", "quantity", "serialNumbers", "additionalCertifications", "retiredCancelled",
  "retireOrCancelDate", "retirementBeneficiary", "retirementReason", "retirementDetails", "inputTypes", "holdingIdentifier", "externalSerialNumber",
];
const QUERY = "?$maxResults=20000&$count=true&$skip=0&format=csv";

interface Answer { totalCount: number; value: VerraRecord[] }

const searchBody = (start?: string, end?: string) => ({
  program: "VCS",
  issuanceTypeCodes: ["ISSUE"],
  ...(start === undefined ? {} : { issuanceStartInclusive: start }),
  ...(end === undefined ? {} : { issuanceEndInclusive: end }),
});

function post(fake: FakeVerra, body: unknown, query = QUERY, init: RequestInit = {}): Promise<Response> {
  return fetch(fake.url + query, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...init,
  });
}

async function search(fake: FakeVerra, start?: string, end?: string, query = QUERY): Promise<Answer> {
  const res = await post(fake, searchBody(start, end), query);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  return (await res.json()) as Answer;
}

/** What the API should answer: matching records in `records` order. */
const matching = (records: VerraRecord[], start?: string, end?: string) =>
  records.filter((r) => {
    const day = String(r.issuanceDate).slice(0, 10);
    return (start === undefined || day >= start) && (end === undefined || day <= end);
  });

/** Yields to the event loop (no wall-clock sleep) until `condition` holds. */
async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 100_000 && !condition(); i++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(condition(), "condition never became true");
}

describe("generateVerraRecords", () => {
  const records = generateVerraRecords(5000, 7);

  test("is deterministic for a seed and differs across seeds", () => {
    assert.deepEqual(generateVerraRecords(5000, 7), records);
    assert.notDeepEqual(generateVerraRecords(5000, 8), records);
    assert.deepEqual(generateVerraRecords(300), generateVerraRecords(300, 1));
    assert.deepEqual(generateVerraRecords(0), []);
  });

  test("has the real API's 25 keys in order, with the real types", () => {
    for (const r of records) {
      assert.deepEqual(Object.keys(r), KEYS);
      assert.match(String(r.issuanceDate), /^\d{4}-\d{2}-\d{2}$/);
      assert.match(String(r.vintageStart), /^\d{4}-\d{2}-\d{2}T00:00:00$/);
      assert.match(String(r.reportingPeriodEnd), /^\d{4}-\d{2}-\d{2}T00:00:00$/);
      assert.equal(typeof r.resourceIdentifier, "string");
      assert.match(String(r.resourceIdentifier), /^\d+$/);
      assert.ok(Number.isInteger(r.quantity) && Number.isInteger(r.totalVintageQuantity));
      assert.ok((r.quantity as number) >= 1 && (r.totalVintageQuantity as number) >= (r.quantity as number));
      assert.equal(typeof r.retiredCancelled, "boolean");
      assert.equal(r.instrumentType, "VCU");
    }
  });

  test("is sorted by issuance date, within 2009-01-01..2026-10-31", () => {
    const dates = records.map((r) => String(r.issuanceDate));
    assert.deepEqual(dates, [...dates].sort());
    assert.ok(dates[0]! >= "2009-01-01" && dates.at(-1)! <= "2026-10-31");
  });

  test("has dates that make sense together", () => {
    for (const r of records) {
      assert.ok(String(r.vintageStart) <= String(r.vintageEnd));
      assert.ok(String(r.vintageEnd) < String(r.issuanceDate), "vintage ends before issuance");
      assert.ok(String(r.reportingPeriodEnd) < String(r.issuanceDate));
      if (r.retireOrCancelDate !== null) assert.ok(String(r.retireOrCancelDate) >= String(r.issuanceDate));
      assert.equal(r.retiredCancelled, r.retireOrCancelDate !== null);
    }
    const retired = records.filter((r) => r.retireOrCancelDate !== null);
    assert.ok(retired.length > 0.4 * records.length && retired.length < 0.6 * records.length);
    assert.ok(retired.some((r) => r.retireOrCancelDate === r.issuanceDate), "some retired the same day");
  });

  test("has unique serials built from the record's own numbers", () => {
    assert.equal(new Set(records.map((r) => r.serialNumbers)).size, records.length);
    for (const r of records) {
      const serial = String(r.serialNumbers);
      const [, start, end] = serial.split("-").map(Number) as [number, number, number];
      assert.equal(end - start + 1, r.quantity, serial);
      assert.ok(serial.includes(`-${r.resourceIdentifier}-`), serial);
    }
  });

  test("reuses real projects and real MCO2 serials from the sample", () => {
    const sample = readFileSync("/work/shared/samples/mco2_verra_data.csv", "utf8");
    const realSerials = new Set(sample.match(/\d+-\d+-\d+-[A-Z0-9-]+-\d{8}-\d{8}-\d/g));
    assert.ok(records.some((r) => r.resourceIdentifier === "1686" && r.resourceName === "Agrocortex REDD Project"));
    assert.ok(records.some((r) => realSerials.has(String(r.serialNumbers))));
  });

  test("has Toucan, C3 and unicode retirement details, and the registry's tricky country names", () => {
    const details = records.map((r) => r.retirementDetails).filter((d): d is string => typeof d === "string");
    const share = (word: string) => details.filter((d) => d.includes(word)).length / details.length;
    assert.ok(share("TOUCAN") > 0.06 && share("TOUCAN") < 0.14, `TOUCAN share ${share("TOUCAN")}`);
    assert.ok(share("C3T") > 0.02 && share("C3T") < 0.08, `C3T share ${share("C3T")}`);
    assert.ok(records.some((r) => r.retirementDetails === null && r.retiredCancelled), "some retired without details");
    assert.ok(details.some((d) => /[^\x00-\x7f]/.test(d)), "some unicode details");
    const countries = new Set(records.map((r) => r.country));
    for (const name of ["Viet Nam", "Korea, Republic of", "Congo, The Democratic Republic of the", "Türkiye", "Turkey", "Côte d'Ivoire", "Brazil"]) {
      assert.ok(countries.has(name), name);
    }
  });
});

describe("startFakeVerra", () => {
  let fake: FakeVerra;
  before(async () => {
    fake = await startFakeVerra();
  });
  after(() => fake.stop());

  test("serves 2000 generated records by default on 127.0.0.1", () => {
    assert.equal(fake.records.length, 2000);
    assert.match(fake.url, /^http:\/\/127\.0\.0\.1:\d+\/uiapi\/asset\/asset\/search$/);
  });

  test("answers a window with both bounds inclusive, in record order", async () => {
    const start = String(fake.records[500]!.issuanceDate);
    const end = String(fake.records[900]!.issuanceDate);
    const expected = matching(fake.records, start, end);
    const answer = await search(fake, start, end);
    assert.equal(answer.totalCount, expected.length);
    assert.deepEqual(answer.value, expected);
    assert.equal(answer.value[0]!.issuanceDate, start);
    assert.equal(answer.value.at(-1)!.issuanceDate, end);
    assert.deepEqual(fake.requests.at(-1), {
      query: { $maxResults: "20000", $count: "true", $skip: "0", format: "csv" },
      body: searchBody(start, end),
      served: expected.length,
      totalCount: expected.length,
    });
  });

  test("ignores $skip, $top and $maxResults", async () => {
    const plain = await search(fake, "2021-01-01", "2021-06-30");
    const paged = await search(fake, "2021-01-01", "2021-06-30", "?$skip=100&$top=5&$maxResults=3");
    assert.deepEqual(paged, plain);
    assert.ok(plain.value.length > 5);
  });

  test("answers open-ended windows", async () => {
    const all = await search(fake);
    assert.equal(all.totalCount, 2000);
    assert.deepEqual(all.value, fake.records); // 2 streamed pieces joined correctly
    const from = await search(fake, "2022-01-01");
    assert.deepEqual(from.value, matching(fake.records, "2022-01-01"));
    const until = await search(fake, undefined, "2012-12-31");
    assert.deepEqual(until.value, matching(fake.records, undefined, "2012-12-31"));
    const empty = await search(fake, "2030-01-01");
    assert.deepEqual(empty, { totalCount: 0, value: [] });
  });

  test("refuses bad bodies with 400 and a JSON error", async () => {
    const bad: unknown[] = [
      "{not json",
      { issuanceTypeCodes: ["ISSUE"] },
      { ...searchBody(), program: "GS" },
      searchBody("2021-02-30"),
      searchBody(undefined, "2021/03/01"),
      { ...searchBody(), issuanceStartInclusive: 20210301 },
      [],
    ];
    for (const body of bad) {
      const res = await post(fake, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      const error = (await res.json()) as { error: unknown };
      assert.equal(typeof error.error, "string");
    }
    assert.deepEqual(fake.requests.at(-1)!.body, []);
    assert.equal(fake.requests.at(-1)!.served, 0);
  });

  test("answers 404 to other methods and paths", async () => {
    const get = await fetch(fake.url);
    assert.equal(get.status, 404);
    await get.text();
    const other = await fetch(fake.url.replace("/search", "/other"), { method: "POST", body: "{}" });
    assert.equal(other.status, 404);
    await other.text();
  });

  test("serializeOnce (benchmarks) answers the same bytes, records in date order or not", async () => {
    const shuffled = [...fake.records].reverse(); // a window's records are then not neighbours in the encoded buffer
    const fakes = await Promise.all([
      startFakeVerra({ records: fake.records, serializeOnce: true }),
      startFakeVerra({ records: shuffled }),
      startFakeVerra({ records: shuffled, serializeOnce: true }),
    ]);
    try {
      for (const [plain, once] of [[fake, fakes[0]!], [fakes[1]!, fakes[2]!]]) {
        for (const [start, end] of [[undefined, undefined], ["2019-01-01", "2021-12-31"], ["2030-01-01", undefined]] as const) {
          const [a, b] = await Promise.all([plain, once].map(async (f) => (await post(f, searchBody(start, end))).text()));
          assert.equal(b, a);
        }
      }
      // Answers longer than one streamed chunk (1,000 records) too.
      const all = JSON.parse(await (await post(fakes[2]!, searchBody(undefined, undefined))).text());
      assert.ok(all.value.length > 1000 && all.value.length === Math.min(10_000, shuffled.length), String(all.value.length));
    } finally {
      await Promise.all(fakes.map((f) => f.stop()));
    }
  });

  test("accepts records in any order and still answers in their order", async () => {
    const shuffled = [...fake.records].reverse();
    const reversed = await startFakeVerra({ records: shuffled });
    try {
      const answer = await search(reversed, "2019-01-01", "2021-12-31");
      assert.deepEqual(answer.value, matching(shuffled, "2019-01-01", "2021-12-31"));
    } finally {
      await reversed.stop();
    }
  });
});

describe("startFakeVerra limits and faults", () => {
  test("caps each answer at maxRowsPerAnswer, so wide windows come back short", async () => {
    const fake = await startFakeVerra({ records: generateVerraRecords(500), maxRowsPerAnswer: 50 });
    try {
      const expected = matching(fake.records, "2015-01-01", "2024-12-31");
      const answer = await search(fake, "2015-01-01", "2024-12-31");
      assert.ok(expected.length > 50);
      assert.equal(answer.totalCount, expected.length);
      assert.deepEqual(answer.value, expected.slice(0, 50));
      assert.equal(fake.requests.at(-1)!.served, 50);
    } finally {
      await fake.stop();
    }
  });

  test("serves each fault once, in order, then answers normally", async () => {
    const fake = await startFakeVerra({ records: generateVerraRecords(300) });
    try {
      fake.injectFaults(
        { kind: "status", status: 503 },
        { kind: "status", status: 429, retryAfterSeconds: 7 },
        { kind: "status", status: 400, body: '{"message":"bad"}' },
      );
      fake.injectFaults({ kind: "malformed" }, { kind: "truncated" });
      const body = searchBody("2010-01-01", "2026-10-31");

      const unavailable = await post(fake, body);
      assert.equal(unavailable.status, 503);
      assert.deepEqual(await unavailable.json(), { error: "fault" });

      const limited = await post(fake, body);
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get("retry-after"), "7");
      await limited.text();

      const refused = await post(fake, body);
      assert.equal(refused.status, 400);
      assert.equal(await refused.text(), '{"message":"bad"}');

      const malformed = await post(fake, body);
      assert.equal(malformed.status, 200);
      await assert.rejects(malformed.json(), SyntaxError);

      const truncated = await post(fake, body);
      assert.equal(truncated.status, 200);
      assert.ok(Number(truncated.headers.get("content-length")) > 1000);
      await assert.rejects(truncated.text()); // the socket ends before content-length bytes

      const normal = await search(fake, "2010-01-01", "2026-10-31");
      assert.deepEqual(normal.value, matching(fake.records, "2010-01-01", "2026-10-31"));
      assert.deepEqual(fake.requests.map((r) => r.served), [0, 0, 0, 0, 0, normal.value.length]);
    } finally {
      await fake.stop();
    }
  });

  test("a hang makes the client time out, then service resumes", async () => {
    const fake = await startFakeVerra({ records: generateVerraRecords(100) });
    try {
      fake.injectFaults({ kind: "hang" });
      await assert.rejects(post(fake, searchBody(), QUERY, { signal: AbortSignal.timeout(200) }), { name: "TimeoutError" });
      const answer = await search(fake);
      assert.equal(answer.totalCount, 100);
      assert.equal(fake.requests.length, 2);
    } finally {
      await fake.stop();
    }
  });

  test("adds the configured latency before answering", async () => {
    const fake = await startFakeVerra({ records: generateVerraRecords(100), latencyMs: 40 });
    try {
      const started = performance.now();
      await search(fake);
      assert.ok(performance.now() - started >= 35);
      fake.setLatency(0);
      assert.equal((await search(fake)).totalCount, 100);
    } finally {
      await fake.stop();
    }
  });

  test("serves a monthly window out of 100,000 records", async () => {
    const fake = await startFakeVerra({ records: generateVerraRecords(100_000) });
    try {
      const expected = matching(fake.records, "2021-03-01", "2021-03-31");
      const answer = await search(fake, "2021-03-01", "2021-03-31");
      assert.equal(answer.totalCount, expected.length);
      assert.deepEqual(answer.value, expected.slice(0, 10_000));
    } finally {
      await fake.stop();
    }
  });

  test("stop() closes while a request hangs and while one waits on latency", async () => {
    const fake = await startFakeVerra({ records: generateVerraRecords(100) });
    fake.injectFaults({ kind: "hang" });
    const hanging = post(fake, searchBody()).then(
      () => "answered",
      (error: unknown) => error,
    );
    await waitFor(() => fake.requests.length === 1);
    fake.setLatency(60_000); // a pending timer must not keep the process alive after stop()
    const waiting = post(fake, searchBody()).then(
      () => "answered",
      (error: unknown) => error,
    );
    await fake.stop();
    assert.ok((await hanging) instanceof Error);
    assert.ok((await waiting) instanceof Error);
    await fake.stop(); // idempotent
  });
});
