// The copies of shared data the tests use stay equal to ../shared, where a checkout has it beside.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { ROOT } from "./helpers.ts";

const SHARED = path.join(ROOT, "..", "shared");
const have = existsSync(path.join(SHARED, "subgraphs"));

test("the subgraph schemas and the MCO2 sample match ../shared", { skip: have ? false : "no ../shared beside this checkout" }, () => {
  const schemas = readdirSync(path.join(SHARED, "subgraphs")).filter((f) => f.endsWith(".graphql")).sort();
  assert.deepEqual(readdirSync(path.join(ROOT, "test", "fixtures", "subgraphs")).sort(), schemas);
  for (const file of schemas) {
    assert.equal(readFileSync(path.join(ROOT, "test", "fixtures", "subgraphs", file), "utf8"), readFileSync(path.join(SHARED, "subgraphs", file), "utf8"), file);
  }
  assert.equal(readFileSync(path.join(ROOT, "test", "fixtures", "mco2_verra_data.csv"), "utf8"), readFileSync(path.join(SHARED, "samples", "mco2_verra_data.csv"), "utf8"));
});
