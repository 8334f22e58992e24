import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { decodeArtifact } from "../lib/artifact/artifact.ts";
import { RunHistory } from "../lib/history/history.ts";
import { ALL_FLOWS } from "../scripts/flows.ts";
import { runScript, tempDir } from "./helpers.ts";

test("the demo runs build_all offline into ./data/lake and prints the summary and where the artifacts are", async (t) => {
  const cwd = tempDir(t);
  const result = await runScript("scripts/demo.ts", ["--verra-rows", "600"], { cwd });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /raw_verra_data\s+succeeded\s+600\s/);
  assert.match(result.stdout, /tokens_data_v2\s+succeeded\s+5\s/);
  assert.equal(result.stdout.match(/\bsucceeded\b/g)!.length, 34);
  assert.ok(result.stdout.includes(`artifacts: local (${path.join(cwd, "data", "lake")})`));
  const lake = path.join(cwd, "data", "lake");
  assert.equal(readdirSync(lake).filter((k) => k.endsWith("-latest")).length, 34);
  const v2 = decodeArtifact(readFileSync(path.join(lake, "verra_data_v2-latest")), "verra_data_v2-latest");
  assert.ok(v2.rows.some((r) => r.moss === true), "real MCO2 serials bridged by Moss are flagged");

  // In one process every source flow starts at once by default (lib/run/build.ts, DEFAULT_CONCURRENCY):
  // the last of the 17 started before the first of them ended.
  const history = RunHistory.open(path.join(cwd, "data", "runs.sqlite"));
  const sources = new Set(ALL_FLOWS.filter((f) => f.kind === "source").map((f) => f.slug));
  const runs = history.list({ limit: 100 }).filter((r) => sources.has(r.flow));
  history.close();
  assert.equal(runs.length, 17);
  const lastStart = Math.max(...runs.map((r) => Date.parse(r.startedAt)));
  const firstEnd = Math.min(...runs.map((r) => Date.parse(r.endedAt!)));
  assert.ok(lastStart <= firstEnd, `the last source flow started ${lastStart - firstEnd} ms after the first ended`);
});
