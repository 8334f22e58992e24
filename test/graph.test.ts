// The flows as a dependency graph (lib/run/graph.ts): the 34 flows' order, selection of a part, refusal of
// cycles and unknown upstreams, and upstreams a build reads as they are (build_frequent).
import assert from "node:assert/strict";
import { test } from "node:test";
import { DATASET_SLUGS } from "../lib/flows/datasets.ts";
import { derivedFlow, sourceFlow, type Flow } from "../lib/flows/flow.ts";
import { chainLengths, flowGraph, selectFlows, topologicalOrder } from "../lib/run/graph.ts";
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

test("each flow's chain of work: its last duration and the longest chain below it; a flow never run counts as the median, and with no history chains are counted in flows", () => {
  const graph = flowGraph([source("a"), source("b"), derived("c", ["a"]), derived("d", ["c"]), derived("e", ["a", "b"])]);
  const all = new Set(graph.flows.keys());
  const byDuration = chainLengths(graph, all, new Map([["a", 100], ["b", 7000], ["c", 50], ["d", 10], ["e", 500]]));
  assert.deepEqual(Object.fromEntries(byDuration), { a: 600, b: 7500, c: 60, d: 10, e: 500 });
  // b never ran: it counts as the median of the others (50, 10, 100, 500: the third smallest, 100).
  const partly = chainLengths(graph, all, new Map([["a", 100], ["c", 50], ["d", 10], ["e", 500]]));
  assert.equal(partly.get("b"), 600);
  assert.deepEqual(Object.fromEntries(chainLengths(graph, all, new Map())), { a: 3, b: 2, c: 2, d: 1, e: 1 });
  // Only the selected flows count: without d, c's chain is c alone.
  assert.equal(chainLengths(graph, new Set(["a", "c"]), new Map([["a", 100], ["c", 50], ["d", 10]])).get("a"), 150);
});
