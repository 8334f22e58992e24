// The flows as a dependency graph (lib/run/graph.ts): the 34 flows' order, selection of a part, refusal of
// cycles and unknown upstreams, and upstreams a build reads as they are (build_frequent).
import assert from "node:assert/strict";
import { test } from "node:test";
import { DATASET_SLUGS } from "../lib/flows/datasets.ts";
import { derivedFlow, sourceFlow, type Flow } from "../lib/flows/flow.ts";
import { flowGraph, selectFlows, topologicalOrder } from "../lib/run/graph.ts";
import { table } from "../lib/table/table.ts";
import { ALL_FLOWS } from "../scripts/flows.ts";

const source = (slug: string) => sourceFlow({ slug, fetch: async () => table({ a: "int" }, []) });
const derived = (slug: string, from: string[]) => derivedFlow({ slug, from, build: () => table({ a: "int" }, []) });

test("the 34 flows form a graph: every upstream known, no cycle, sources before what reads them", () => {
  const graph = flowGraph(ALL_FLOWS);
  assert.equal(graph.flows.size, 34);
  const order = topologicalOrder(graph, new Set(graph.flows.keys()));
  for (const flow of ALL_FLOWS) {
    if (flow.kind === "derived") for (const up of flow.from) assert.ok(order.indexOf(up) < order.indexOf(flow.slug), `${up} before ${flow.slug}`);
  }
  assert.deepEqual(graph.downstream.get("verra_data_v2")!.sort(), [
    "eth_moss_bridged_offsets_v2", "eth_retired_offsets_v2", "polygon_bridged_offsets_v2", "polygon_retired_offsets_v2", "verra_retirements",
  ]);
});

test("--from selects a flow and everything downstream of it; --only exactly the flows named", () => {
  const graph = flowGraph(ALL_FLOWS);
  assert.deepEqual([...selectFlows(graph, { from: ["verra_retirements"] })].sort(), ["all_retirements", "verra_retirements"]);
  assert.deepEqual([...selectFlows(graph, { from: ["raw_eth_moss_bridged_offsets"] })].sort(), [
    "all_retirements", "eth_moss_bridged_offsets_v2", "eth_retired_offsets_v2", "polygon_bridged_offsets_v2",
    "polygon_retired_offsets_v2", "raw_eth_moss_bridged_offsets", "tokens_data_v2", "verra_data_v2", "verra_retirements",
  ]);
  assert.deepEqual([...selectFlows(graph, { only: ["assets_prices", "raw_verra_data"] })], ["assets_prices", "raw_verra_data"]);
  assert.throws(() => selectFlows(graph, { only: ["nope"] }), /no flow nope/);
});

test("a cycle or an unknown upstream is refused at start, naming it", () => {
  const cycle: Flow[] = [source("a"), derived("b", ["a", "d"]), derived("c", ["b"]), derived("d", ["c"])];
  assert.throws(() => flowGraph(cycle), /the flows form a cycle: b -> d -> c -> b/);
  assert.throws(() => flowGraph([source("a"), derived("b", ["missing"])]), /flow b reads missing, which is not a flow of this build/);
});

test("an upstream read as it is (build_frequent) is allowed and not part of the graph", () => {
  const flows: Flow[] = [source("prices"), derived("tokens", ["prices", "pools", "eth"])];
  assert.throws(() => flowGraph(flows, ["pools"]), /flow tokens reads eth, which is not a flow of this build/);
  const graph = flowGraph(flows, ["pools", "eth"]);
  assert.deepEqual([...graph.flows.keys()], ["prices", "tokens"]);
  assert.deepEqual(graph.downstream.get("prices"), ["tokens"]);
  assert.equal(graph.downstream.get("pools"), undefined);
  assert.deepEqual(topologicalOrder(graph, new Set(graph.flows.keys())), ["prices", "tokens"]);
});

test("the list of datasets (lib/flows/datasets.ts) is the flows' slugs, in the same order", () => {
  assert.deepEqual(ALL_FLOWS.map((f) => f.slug), [...DATASET_SLUGS]);
});
