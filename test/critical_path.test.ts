// The benchmark's critical-path arithmetic (bench/critical_path.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { attribute, busyTime, flowBound, longestChain, sequentialRounds } from "../bench/critical_path.ts";
import { derivedFlow, sourceFlow } from "../lib/flows/flow.ts";
import { flowGraph } from "../lib/run/graph.ts";
import { table } from "../lib/table/table.ts";

const r = (start: number, end: number) => ({ start, end });

test("requests in flight together count as one round; one after another, each a round", () => {
  assert.equal(sequentialRounds([]), 0);
  assert.equal(sequentialRounds([r(0, 100), r(0, 100), r(5, 105), r(10, 110)]), 1);
  assert.equal(sequentialRounds([r(0, 100), r(100, 200), r(201, 300)]), 3);
  // Pages one after another, tie fetches beside them: the pages are the rounds.
  assert.equal(sequentialRounds([r(0, 100), r(101, 200), r(105, 190), r(201, 300), r(202, 290), r(301, 400)]), 4);
  // Four at a time, in order of arrival.
  const pooled = Array.from({ length: 12 }, (_, i) => r(Math.floor(i / 4) * 110, Math.floor(i / 4) * 110 + 100 + (i % 4)));
  assert.equal(sequentialRounds(pooled), 3);
});

test("busy time is the union of the requests' intervals", () => {
  assert.equal(busyTime([]), 0);
  assert.equal(busyTime([r(0, 100), r(50, 150), r(200, 250)]), 200);
  assert.equal(busyTime([r(0, 300), r(50, 150)]), 300);
});

test("a flow's bound: its rounds at the latency, plus the time it did not wait on a source", () => {
  const bound = flowBound({ slug: "a", ms: 500, requests: [r(0, 120), r(130, 260), r(140, 250)] }, 100);
  assert.deepEqual(bound, { slug: "a", ms: 500, requests: 3, rounds: 2, computeMs: 250, boundMs: 450 });
});

test("the longest chain through the graph, upstream first", () => {
  const empty = async () => table({ x: "int" }, []);
  const graph = flowGraph([
    sourceFlow({ slug: "a", fetch: empty }),
    sourceFlow({ slug: "b", fetch: empty }),
    derivedFlow({ slug: "c", from: ["a", "b"], build: () => table({ x: "int" }, []) }),
    derivedFlow({ slug: "d", from: ["c"], build: () => table({ x: "int" }, []) }),
  ]);
  const cost: Record<string, number> = { a: 5, b: 7, c: 1, d: 2 };
  assert.deepEqual(longestChain(graph, (slug) => cost[slug]!), { ms: 10, chain: ["b", "c", "d"] });
});

test("requests go to the flow whose run window holds their start", () => {
  const windows = [{ slug: "a", start: 0, end: 100 }, { slug: "b", start: 101, end: 200 }];
  const got = attribute([r(5, 50), r(150, 160), r(300, 310)], windows);
  assert.deepEqual(Object.fromEntries(got), { a: [r(5, 50)], b: [r(150, 160)] });
});
