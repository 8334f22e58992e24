// The commands as a user runs them: `npx tsx scripts/<name>.ts ...` in a folder of their own,
// with only the environment given. Each spawn costs about half a second, so the
// independent ones run concurrently.
import assert from "node:assert/strict";
import { readFileSync, realpathSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { encodeArtifact } from "../lib/artifact/artifact.ts";
import { RunHistory } from "../lib/history/history.ts";
import { LocalLake } from "../lib/lake/lake.ts";
import { table } from "../lib/table/table.ts";
import { runScript, tempDir, type ScriptResult } from "./helpers.ts";

type T = Parameters<typeof tempDir>[0];

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l !== "");
}

/** A failure as the CLI must report it: non-zero, nothing on stdout, exactly one line on stderr, no stack trace. */
function assertOneLineFailure(result: ScriptResult, pattern: RegExp): void {
  assert.notEqual(result.code, 0, "exit status");
  assert.equal(result.stdout, "", "nothing on stdout");
  const errLines = lines(result.stderr);
  assert.equal(errLines.length, 1, `one line on stderr, got:\n${result.stderr}`);
  assert.match(errLines[0]!, pattern);
  assert.doesNotMatch(result.stderr, /^\s+at /m, "no stack trace");
  assert.ok(result.stderr.endsWith("\n"));
}

describe("--help and start-up failures", { concurrency: true, timeout: 60_000 }, () => {
  test("runs.ts --help prints its usage on stdout and exits 0", async (t) => {
    const r = await runScript("scripts/runs.ts", ["--help"], { cwd: tempDir(t) });
    assert.equal(r.code, 0);
    assert.equal(r.stderr, "");
    assert.equal(lines(r.stdout)[0], "usage: npx tsx scripts/runs.ts [--flow <slug>] [--failed] [--run <id>] [--limit <n>] [--status] [--json]");
    assert.match(r.stdout, /^ {2}--failed {8}only failed and crashed runs$/m);
  });

  test("show.ts --help prints its usage and the configured lake", async (t) => {
    const dir = realpathSync(tempDir(t)); // the script sees its cwd with symbolic links resolved
    const r = await runScript("scripts/show.ts", ["--help"], { cwd: dir });
    assert.equal(r.code, 0);
    assert.equal(r.stderr, "");
    assert.equal(lines(r.stdout)[0], "usage: npx tsx scripts/show.ts <slug | key> [--rows <n>] [--format csv|json] [--out <file>]");
    assert.ok(lines(r.stdout).includes(`  lake: local (${path.join(dir, "data", "lake")})`), r.stdout);
  });

  test("a flow's --help shows the endpoints with GRAPH_API_KEY masked", async (t) => {
    const r = await runScript("scripts/raw_verra_data.ts", ["--help"], {
      cwd: tempDir(t),
      env: { ENV: "production", GRAPH_API_KEY: "sekret-key-123" },
    });
    assert.equal(r.code, 0);
    assert.equal(r.stderr, "");
    const out = lines(r.stdout);
    assert.equal(out[0], "usage: npx tsx scripts/raw_verra_data.ts [options]");
    assert.ok(!r.stdout.includes("sekret-key-123"), "the key is not shown");
    assert.ok(r.stdout.includes("***"));
    assert.ok(out.includes("  endpoints (ENV=production: The Graph gateway):"), r.stdout);
    assert.ok(out.includes(
      "    carbon polygon  https://gateway-arbitrum.network.thegraph.com/api/***/subgraphs/id/ECLEwJKgujmiRCW1XbfbbUbpae2igeHa2KJ6BXNSWrZF",
    ), r.stdout);
    assert.equal(out.filter((l) => l.includes("/api/***/subgraphs/id/")).length, 5, "all five subgraphs");
  });

  test("a bad configuration value stops runs.ts with one line naming the variable", async (t) => {
    const dir = tempDir(t);
    const r = await runScript("scripts/runs.ts", [], { cwd: dir, env: { DATA_PIPELINES_MAX_RECORDS: "abc" } });
    assertOneLineFailure(r, /DATA_PIPELINES_MAX_RECORDS/);
    assert.equal(r.stderr, 'error: DATA_PIPELINES_MAX_RECORDS: "abc" is not a whole number of at least 1 (see --help)\n');
    assert.equal(r.code, 2, "a malformed value is a usage error");
  });

  test("an unknown flag stops runs.ts with one line naming it", async (t) => {
    const r = await runScript("scripts/runs.ts", ["--nope"], { cwd: tempDir(t) });
    assertOneLineFailure(r, /^error: unknown option --nope \(see --help\)$/);
    assert.equal(r.code, 2);
  });
});

describe("runs.ts", { concurrency: true, timeout: 60_000 }, () => {
  test("an empty history: no runs recorded", async (t) => {
    const dir = tempDir(t);
    const db = path.join(dir, "runs.sqlite");
    const r = await runScript("scripts/runs.ts", [], { cwd: dir, env: { DATA_PIPELINES_DB: db } });
    assert.equal(r.code, 0);
    assert.equal(r.stderr, "");
    assert.equal(r.stdout, `no runs recorded in ${db}\n`);
  });

  test("a seeded history: --flow, --failed, --json, --run, --limit", { concurrency: true }, async (t) => {
    const dir = tempDir(t);
    const db = path.join(dir, "runs.sqlite");
    seedHistory(db);
    const runs = (...args: string[]) => runScript("scripts/runs.ts", args, { cwd: dir, env: { DATA_PIPELINES_DB: db } });
    const ok = (r: ScriptResult) => {
      assert.equal(r.stderr, "");
      assert.equal(r.code, 0);
      return r.stdout;
    };
    const HEADER = "id  flow            trigger  status     started (UTC)        duration   rows  cols  tries  parent  error";
    const RULE = "--  --------------  -------  ---------  -------------------  ---------  ----  ----  -----  ------  ------------------------------------------";
    const RUN4 = "4   raw_verra_data  manual   failed     2026-01-04 08:00:00  42.0 s                 4              Verra search: HTTP 503 Service Unavailable";
    const RUN1 = "1   raw_verra_data  manual   succeeded  2026-01-02 03:04:05  1 min 5 s  1500  12    1";

    await Promise.all([
      t.test("--flow raw_verra_data: only that flow's runs, newest first", async () => {
        assert.equal(ok(await runs("--flow", "raw_verra_data")), [HEADER, RULE, RUN4, RUN1, ""].join("\n"));
      }),
      t.test("--failed: only failed and crashed runs", async () => {
        const out = lines(ok(await runs("--failed")));
        assert.deepEqual(out.slice(2).map((l) => l.split(/\s+/).slice(0, 4)), [
          ["5", "clean_up_old_artifacts", "schedule", "crashed"],
          ["4", "raw_verra_data", "manual", "failed"],
        ]);
        assert.match(out[3]!, /Verra search: HTTP 503 Service Unavailable$/);
      }),
      t.test("--json: the records, newest first", async () => {
        const records = JSON.parse(ok(await runs("--json"))) as Array<Record<string, unknown>>;
        assert.deepEqual(records.map((r) => [r.id, r.flow, r.status, r.parentId]), [
          [5, "clean_up_old_artifacts", "crashed", null],
          [4, "raw_verra_data", "failed", null],
          [3, "verra_data_v2", "succeeded", 2],
          [2, "build_all", "succeeded", null],
          [1, "raw_verra_data", "succeeded", null],
        ]);
        assert.equal(records[1]!.error, "Verra search: HTTP 503 Service Unavailable");
        assert.equal(records[1]!.attempts, 4);
        assert.deepEqual(records[2]!.writtenKeys, ["verra_data_v2-2026_01_03__13_15_01", "verra_data_v2-latest"]);
        assert.deepEqual(records[2]!.upstreamKeys, ["raw_verra_data-latest"]);
      }),
      t.test("--run <id> of a build: notes and child runs", async () => {
        assert.equal(ok(await runs("--run", "2")), [
          "run 2: build_all (schedule) succeeded",
          `  started 2026-01-03T13:15:00.000Z, ended 2026-01-03T13:17:03.000Z (2 min 3 s), pid 2222 on ${hostname()}`,
          "  attempts 0, rows -, columns -",
          "  wrote: -",
          "  read: -",
          "  note: 1 of 1 flows succeeded",
          "",
          "id  flow           status     duration  rows  error",
          "--  -------------  ---------  --------  ----  -----",
          "3   verra_data_v2  succeeded  750 ms    1480",
          "",
        ].join("\n"));
      }),
      t.test("--run <id> of a flow: written keys, upstream keys, notes, parent", async () => {
        assert.equal(ok(await runs("--run", "3")), [
          "run 3: verra_data_v2 (build_all) succeeded",
          `  started 2026-01-03T13:15:01.000Z, ended 2026-01-03T13:15:01.750Z (750 ms), pid 3333 on ${hostname()}`,
          "  attempts 1, rows 1480, columns 20, parent run 2",
          "  wrote: verra_data_v2-2026_01_03__13_15_01, verra_data_v2-latest",
          "  read: raw_verra_data-latest",
          "  note: 12 rows without a country code",
          "  note: upstream raw_verra_data-latest is from a previous build",
          "",
        ].join("\n"));
      }),
      t.test("--limit 1: only the newest run", async () => {
        const out = lines(ok(await runs("--limit", "1")));
        assert.equal(out.length, 3);
        assert.match(out[2]!, /^5 +clean_up_old_artifacts +schedule +crashed +2026-01-05 22:00:00 +/);
      }),
    ]);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Five runs: two of raw_verra_data (one failed), a build with one child, a crashed clean-up. */
function seedHistory(file: string): void {
  const history = RunHistory.open(file);
  const d = (iso: string) => new Date(iso);
  try {
    const r1 = history.start({ flow: "raw_verra_data", trigger: "manual", pid: 1111, at: d("2026-01-02T03:04:05.000Z") });
    history.addWrittenKey(r1, "raw_verra_data-2026_01_02__03_04_05");
    history.addWrittenKey(r1, "raw_verra_data-latest");
    history.finish(r1, { status: "succeeded", attempts: 1, rows: 1500, columns: 12 }, d("2026-01-02T03:05:10.000Z"));

    const r2 = history.start({ flow: "build_all", trigger: "schedule", pid: 2222, at: d("2026-01-03T13:15:00.000Z") });
    const r3 = history.start({ flow: "verra_data_v2", trigger: "build_all", parentId: r2, pid: 3333, at: d("2026-01-03T13:15:01.000Z") });
    history.addUpstreamKey(r3, "raw_verra_data-latest");
    history.addWrittenKey(r3, "verra_data_v2-2026_01_03__13_15_01");
    history.addWrittenKey(r3, "verra_data_v2-latest");
    history.addNote(r3, "12 rows without a country code");
    history.addNote(r3, "upstream raw_verra_data-latest is from a previous build");
    history.finish(r3, { status: "succeeded", attempts: 1, rows: 1480, columns: 20 }, d("2026-01-03T13:15:01.750Z"));
    history.addNote(r2, "1 of 1 flows succeeded");
    history.finish(r2, { status: "succeeded" }, d("2026-01-03T13:17:03.000Z"));

    const r4 = history.start({ flow: "raw_verra_data", trigger: "manual", pid: 4444, at: d("2026-01-04T08:00:00.000Z") });
    history.finish(r4, { status: "failed", attempts: 4, error: "Verra search: HTTP 503 Service Unavailable" }, d("2026-01-04T08:00:42.000Z"));

    const r5 = history.start({ flow: "clean_up_old_artifacts", trigger: "schedule", pid: 5555, at: d("2026-01-05T22:00:00.000Z") });
    history.finish(r5, { status: "crashed", error: "process 5555 ended without recording the run's end" }, d("2026-01-05T22:10:00.000Z"));
  } finally {
    history.close();
  }
}

const SAMPLE = table(
  { project: "string", vintage: "int", price: "float", retired: "bool", retired_at: "timestamp", issued: "date" },
  [
    { project: "VCS-191", vintage: 2015, price: 1.5, retired: true, retired_at: new Date("2021-03-04T05:06:07Z"), issued: new Date("2020-01-02T00:00:00Z") },
    { project: 'Reducción, "Amazon" REDD+', vintage: null, price: null, retired: false, retired_at: null, issued: null },
    { project: "plain", vintage: 2020, price: -2.25, retired: true, retired_at: new Date("2022-12-31T23:59:59Z"), issued: new Date("2022-12-31T00:00:00Z") },
  ],
);

const SAMPLE_CSV = [
  "project,vintage,price,retired,retired_at,issued",
  "VCS-191,2015,1.5,true,2021-03-04 05:06:07,2020-01-02",
  '"Reducción, ""Amazon"" REDD+",,,false,,',
  "plain,2020,-2.25,true,2022-12-31 23:59:59,2022-12-31",
  "",
].join("\n");

/** A temporary folder with a file: lake holding sample_data-latest and a corrupted broken-latest. */
async function seededLake(t: T): Promise<{ dir: string; lakeDir: string; env: Record<string, string> }> {
  const dir = tempDir(t);
  const lakeDir = path.join(dir, "lake");
  const lake = new LocalLake(lakeDir);
  await lake.write("sample_data-latest", encodeArtifact(SAMPLE));
  const good = encodeArtifact(SAMPLE);
  await lake.write("broken-latest", good.subarray(0, Math.floor(good.length / 2)));
  return { dir, lakeDir, env: { DATA_PIPELINES_RESULT_STORAGE: `file:${lakeDir}`, DATA_PIPELINES_DB: path.join(dir, "runs.sqlite") } };
}

describe("show.ts", { concurrency: true, timeout: 60_000 }, () => {
  test("schema, row count and the first rows", async (t) => {
    const { dir, lakeDir, env } = await seededLake(t);
    const r = await runScript("scripts/show.ts", ["sample_data", "--rows", "2"], { cwd: dir, env });
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    const out = r.stdout.split("\n");
    assert.match(out[0]!, new RegExp(`^sample_data-latest in file:${escape(lakeDir)}: 3 rows x 6 columns, 0\\.00 MB$`));
    assert.deepEqual(out.slice(1), [
      "",
      "#  column      type       nulls",
      "-  ----------  ---------  -----",
      "1  project     string     0",
      "2  vintage     int        1",
      "3  price       float      1",
      "4  retired     bool       0",
      "5  retired_at  timestamp  1",
      "6  issued      date       1",
      "",
      "first 2 rows:",
      "project                    vintage  price  retired  retired_at           issued",
      "-------------------------  -------  -----  -------  -------------------  ----------",
      "VCS-191                    2015     1.5    true     2021-03-04 05:06:07  2020-01-02",
      'Reducción, "Amazon" REDD+                  false',
      "",
    ]);
  });

  test("--format csv: every row, quoted where needed, UTC timestamps and dates, nulls empty", async (t) => {
    const { dir, env } = await seededLake(t);
    const r = await runScript("scripts/show.ts", ["sample_data", "--format", "csv"], { cwd: dir, env });
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    assert.equal(r.stdout, SAMPLE_CSV);
  });

  test("--format json: an array of objects", async (t) => {
    const { dir, env } = await seededLake(t);
    const r = await runScript("scripts/show.ts", ["sample_data-latest", "--format", "json"], { cwd: dir, env });
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    assert.deepEqual(JSON.parse(r.stdout), [
      { project: "VCS-191", vintage: 2015, price: 1.5, retired: true, retired_at: "2021-03-04T05:06:07.000Z", issued: "2020-01-02" },
      { project: 'Reducción, "Amazon" REDD+', vintage: null, price: null, retired: false, retired_at: null, issued: null },
      { project: "plain", vintage: 2020, price: -2.25, retired: true, retired_at: "2022-12-31T23:59:59.000Z", issued: "2022-12-31" },
    ]);
  });

  test("--out writes the export to a file", async (t) => {
    const { dir, env } = await seededLake(t);
    const r = await runScript("scripts/show.ts", ["sample_data", "--format", "csv", "--out", "export.csv"], { cwd: dir, env });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, "wrote 3 rows of sample_data-latest to export.csv\n");
    assert.equal(readFileSync(path.join(dir, "export.csv"), "utf8"), SAMPLE_CSV);
  });

  test("--out without --format, or into a folder that does not exist, fails with one line", async (t) => {
    const { dir, env } = await seededLake(t);
    const noFormat = await runScript("scripts/show.ts", ["sample_data", "--out", "export.csv"], { cwd: dir, env });
    assertOneLineFailure(noFormat, /^error: --out needs --format csv\|json \(see --help\)$/);
    assert.equal(noFormat.code, 2, "a usage error");
    const noFolder = await runScript("scripts/show.ts", ["sample_data", "--format", "csv", "--out", "missing/export.csv"], { cwd: dir, env });
    assertOneLineFailure(noFolder, /^error: --out: cannot write missing\/export\.csv: ENOENT/);
    assert.doesNotMatch(noFolder.stderr, /--verbose/);
  });

  test("a missing artifact fails with one line naming the key", async (t) => {
    const { dir, lakeDir, env } = await seededLake(t);
    const r = await runScript("scripts/show.ts", ["nothing_here"], { cwd: dir, env });
    assertOneLineFailure(r, new RegExp(`^error: no artifact nothing_here-latest in file:${escape(lakeDir)}$`));
  });

  test("a corrupted artifact fails with one line naming the key, no stack trace", async (t) => {
    const { dir, env } = await seededLake(t);
    const r = await runScript("scripts/show.ts", ["broken"], { cwd: dir, env });
    assertOneLineFailure(r, /^error: artifact broken-latest /);
    assert.doesNotMatch(r.stderr, /--verbose/, "an expected failure, not a bug");
  });
});
