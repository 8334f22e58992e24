import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { decodeArtifact } from "../lib/artifact.ts";
import { runScript, tempDir } from "./helpers.ts";

test("the demo runs the Verra flows offline into ./data/lake and prints a summary", async (t) => {
  const cwd = tempDir(t);
  const result = await runScript("scripts/demo.ts", ["--verra-rows", "600"], { cwd });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /raw_verra_data\s+succeeded\s+600\s/);
  assert.match(result.stdout, /verra_data_v2\s+succeeded\s+600\s/);
  assert.match(result.stdout, /verra_retirements\s+succeeded\s+\d+/);
  assert.ok(result.stdout.includes(`artifacts: local (${path.join(cwd, "data", "lake")})`));
  const v2 = decodeArtifact(readFileSync(path.join(cwd, "data", "lake", "verra_data_v2-latest")), "verra_data_v2-latest");
  assert.equal(v2.rows.length, 600);
  assert.ok(v2.rows.some((r) => r.moss === true), "real MCO2 serials from the sample are flagged Moss");
});
