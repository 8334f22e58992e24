// Freshness (lib/schedule/freshness.ts): each dataset's expected maximum age from the schedule that refreshes
// it, or the schedule file's `freshness`; its age from the last successful write in the run history;
// `runs.ts --status` shows both. The lineage the status page draws is read from the scripts as text:
// checked here against the flows' own declared upstreams.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { datasetFreshness, datasetsOfJob, expectedAges, maxAgeOf, triggerInterval } from "../lib/schedule/freshness.ts";
import { upstreamOf } from "../lib/flows/flow.ts";
import { RunHistory } from "../lib/history/history.ts";
import { flowSlugs, loadSchedule } from "../lib/schedule/schedule.ts";
import { declaredUpstreams } from "../lib/status/data.ts";
import { runScript, tempDir } from "./helpers.ts";

const HOUR = 3_600_000;

function scheduleFile(t: Parameters<typeof tempDir>[0], content: unknown): string {
  const file = path.join(tempDir(t), "schedule.json");
  writeFileSync(file, JSON.stringify(content));
  return file;
}

describe("expected ages", () => {
  test("the default schedule: 26 h for what build_all builds, 2 h for build_frequent's two datasets", () => {
    const ages = expectedAges(loadSchedule());
    assert.equal(ages.size, 34);
    for (const slug of flowSlugs()) {
      const expected = ["current_assets_prices", "tokens_data_v2"].includes(slug) ? { maxAgeMs: 2 * HOUR, by: "build_frequent" } : { maxAgeMs: 26 * HOUR, by: "build_all" };
      assert.deepEqual(ages.get(slug), expected, slug);
    }
  });

  test("a flow scheduled on its own: its interval plus a margin; the schedule file's freshness wins; off: not checked", (t) => {
    const file = scheduleFile(t, {
      build_all: "15 13 * * *",
      raw_verra_data: "0 */6 * * *",
      raw_assets_prices: "0 9 * * 1-5",
      freshness: { verra_data_v2: "48h", raw_polygon_carbon_metrics: "off", all_retirements: 7200 },
    });
    const ages = expectedAges(loadSchedule({ file }));
    assert.deepEqual(ages.get("raw_verra_data"), { maxAgeMs: 8 * HOUR, by: "raw_verra_data" });
    assert.deepEqual(ages.get("raw_assets_prices"), { maxAgeMs: 26 * HOUR, by: "build_all" }, "weekdays wait 72 h over a weekend: build_all's 26 h is less");
    assert.deepEqual(ages.get("verra_data_v2"), { maxAgeMs: 48 * HOUR, by: "schedule file" });
    assert.deepEqual(ages.get("all_retirements"), { maxAgeMs: 2 * HOUR, by: "schedule file" });
    assert.equal(ages.has("raw_polygon_carbon_metrics"), false);
    assert.equal(triggerInterval("0 9 * * 1-5"), 72 * HOUR);
    assert.equal(triggerInterval("*/5 * * * *"), 5 * 60_000);
    assert.deepEqual([maxAgeOf(24 * HOUR), maxAgeOf(HOUR), maxAgeOf(6 * HOUR), maxAgeOf(60_000)], [26 * HOUR, 2 * HOUR, 8 * HOUR, 120_000]);
  });

  test("the schedule file's freshness is checked strictly, one line naming the file and the entry", (t) => {
    const refused = (freshness: unknown, message: string) => {
      const file = scheduleFile(t, { build_all: "15 13 * * *", freshness });
      assert.throws(() => loadSchedule({ file }), { message: `schedule file ${file}: freshness${message}` });
    };
    refused(["raw_verra_data"], ': expected an object of dataset slugs to a maximum age ("26h", "90m", seconds) or "off"');
    refused({ raw_verra_dta: "48h" }, ": raw_verra_dta: not a dataset flow's slug");
    refused({ raw_verra_data: "two days" }, ': raw_verra_data: "two days" is not a duration (a number of seconds, or e.g. 500ms, 30s, 90m, 6h)');
    refused({ raw_verra_data: "0h" }, ': raw_verra_data: "0h": must be more than zero');
    refused({ raw_verra_data: true }, ': raw_verra_data: expected a maximum age such as "26h", or "off"');
  });

  test("which datasets a job refreshes: build_all all 34, build_frequent its two, a flow itself, the clean-ups none", () => {
    assert.deepEqual(datasetsOfJob("build_all"), flowSlugs());
    assert.deepEqual(datasetsOfJob("build_frequent"), ["current_assets_prices", "tokens_data_v2"]);
    assert.deepEqual(datasetsOfJob("raw_verra_data"), ["raw_verra_data"]);
    assert.deepEqual(datasetsOfJob("clean_up_old_artifacts"), []);
  });
});

describe("freshness from the run history", () => {
  test("never built, fresh, stale: by the last succeeded run that wrote the dataset", (t) => {
    const history = RunHistory.open(path.join(tempDir(t), "runs.sqlite"));
    t.after(() => history.close());
    const at = new Date("2026-03-10T13:20:00Z");
    const wrote = (flow: string, keys: string[], status: "succeeded" | "failed" = "succeeded") => {
      const id = history.start({ flow, trigger: "schedule", at });
      for (const key of keys) history.addWrittenKey(id, key);
      history.finish(id, { status, rows: 10 }, at);
      return id;
    };
    const verra = wrote("raw_verra_data", ["raw_verra_data-latest"]);
    wrote("raw_verra_data", [], "failed"); // a later failure: the write still counts
    wrote("current_assets_prices", ["current_assets_prices-latest"]);
    wrote("assets_prices", []); // a dry run wrote nothing
    const now = new Date(at.getTime() + 3 * HOUR);
    const byslug = new Map(datasetFreshness(history, loadSchedule(), now).map((d) => [d.slug, d]));
    assert.equal(byslug.size, 34);
    const verraState = byslug.get("raw_verra_data")!;
    assert.deepEqual([verraState.state, verraState.lastWrite?.id, verraState.ageMs, verraState.maxAgeMs, verraState.by], ["fresh", verra, 3 * HOUR, 26 * HOUR, "build_all"]);
    assert.equal(byslug.get("current_assets_prices")!.state, "stale");
    assert.equal(byslug.get("assets_prices")!.state, "never built");
    assert.equal(byslug.get("tokens_data_v2")!.state, "never built");
  });

  test("runs.ts --status lists each dataset's last success, age, expected age and freshness", async (t) => {
    const dir = tempDir(t);
    const db = path.join(dir, "runs.sqlite");
    const history = RunHistory.open(db);
    const id = history.start({ flow: "raw_verra_data", trigger: "manual" });
    history.addWrittenKey(id, "raw_verra_data-latest");
    history.finish(id, { status: "succeeded", rows: 600 });
    history.close();
    const [text, json] = await Promise.all([
      runScript("scripts/runs.ts", ["--status"], { cwd: dir, env: { DATA_PIPELINES_DB: db } }),
      runScript("scripts/runs.ts", ["--status", "--json"], { cwd: dir, env: { DATA_PIPELINES_DB: db } }),
    ]);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.split("\n");
    const from = lines.indexOf("datasets: 1 fresh, 33 never built");
    assert.ok(from > 0, text.stdout);
    assert.match(lines[from + 2]!, /^dataset +last success \(UTC\) +age +expected within +freshness +run$/);
    assert.match(lines[from + 4]!, /^raw_verra_data +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +\d+ s +26 h \(build_all\) +fresh +1$/);
    assert.match(text.stdout, /^tokens_data_v2 +2 h \(build_frequent\) +never built$/m);
    const status = JSON.parse(json.stdout) as { datasets: { slug: string; state: string; runId: number | null; maxAgeMs: number }[] };
    assert.equal(status.datasets.length, 34);
    assert.deepEqual(status.datasets.find((d) => d.slug === "raw_verra_data"), { ...status.datasets.find((d) => d.slug === "raw_verra_data"), state: "fresh", runId: 1, maxAgeMs: 26 * HOUR });
  });
});

test("the lineage read from the scripts' text is the flows' declared upstreams", async () => {
  const { ALL_FLOWS } = await import("../scripts/flows.ts");
  const declared = declaredUpstreams();
  assert.deepEqual([...declared.keys()], ALL_FLOWS.map((f) => f.slug));
  for (const flow of ALL_FLOWS) assert.deepEqual(declared.get(flow.slug), upstreamOf(flow), flow.slug);
});
