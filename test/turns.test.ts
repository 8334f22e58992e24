// Turns on the one thread for the flows of a build in one process (lib/core/turns.ts): one step per
// turn of the event loop, the highest priority first, first come first served among equals.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Turns } from "../lib/core/turns.ts";

test("steps resume one per turn of the event loop, the highest priority first, in arrival order among equals", async () => {
  const turns = new Turns();
  // A counter of event-loop turns: it moves once per check phase while the steps are waiting.
  let loopTurn = 0;
  let ticking = true;
  const tick = () => { loopTurn++; if (ticking) setImmediate(tick); };
  setImmediate(tick);
  const resumed: Array<[string, number]> = [];
  const step = (name: string, priority: number) => turns.for(priority)().then(() => void resumed.push([name, loopTurn]));
  const all = Promise.all([step("low", 1), step("high first", 5), step("high second", 5), step("middle", 3)]);
  assert.equal(turns.size, 4);
  await all;
  ticking = false;
  assert.deepEqual(resumed.map(([name]) => name), ["high first", "high second", "middle", "low"]);
  assert.equal(new Set(resumed.map(([, at]) => at)).size, 4, "each on a turn of its own");
  assert.equal(turns.size, 0);
});

test("a step that asks again while a lower one waits goes first again: the long chain keeps the thread", async () => {
  const turns = new Turns();
  const order: string[] = [];
  const flow = async (name: string, priority: number, steps: number) => {
    const turn = turns.for(priority);
    for (let i = 0; i < steps; i++) {
      await turn();
      order.push(name);
    }
  };
  await Promise.all([flow("side", 1, 3), flow("chain", 2, 3)]);
  assert.deepEqual(order, ["chain", "chain", "chain", "side", "side", "side"]);
});
