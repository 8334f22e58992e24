// Garbage collected between the flows of a build (lib/core/memory.ts) and the bytes a table holds outside V8's heap.
import assert from "node:assert/strict";
import { test } from "node:test";
import { collectGarbageBeyond, GARBAGE_LIMIT_BYTES } from "../lib/core/memory.ts";
import { bufferBytes, ColumnarTable, DictText, table, Utf8Vector } from "../lib/table/table.ts";

test("bufferBytes counts a table's typed arrays, text bytes, offsets, validity and codes; strings and rows are in V8's heap and count 0", () => {
  const columns = ["f", "b", "u", "d", "s"].map((name) => ({ name, type: name === "f" ? "float" as const : name === "b" ? "bool" as const : "string" as const }));
  const text = new Utf8Vector(Buffer.from("abcde"), new Int32Array([0, 2, 5, 5]), new Uint8Array([0b011]), 3);
  const t = new ColumnarTable(columns, [new Float64Array(3), new Uint8Array(3), text, new DictText(new Int32Array([0, -1, 0]), ["x"]), ["a", null, "b"]], 3);
  assert.equal(bufferBytes(t), 24 + 3 + (5 + 16 + 1) + 12);
  assert.equal(bufferBytes(table({ n: "int" }, [{ n: 1 }])), 0);
});

test("collectGarbageBeyond collects only when the process's buffers pass what is needed by more than the limit, and then frees the unused ones", async () => {
  let litter: WeakRef<Uint8Array[]> | undefined;
  (() => { litter = new WeakRef(Array.from({ length: 80 }, () => new Uint8Array(1 << 20).fill(1))); })();
  await new Promise(setImmediate); // a WeakRef keeps its target until the end of the job that made it
  const buffers = process.memoryUsage().arrayBuffers;
  assert.ok(buffers >= 80 << 20, `${buffers}`);
  // (8 MiB either side of the limit: other buffers of the process may come and go meanwhile)
  assert.equal(collectGarbageBeyond(buffers - GARBAGE_LIMIT_BYTES + (8 << 20)), false, "within the limit beyond what is needed: not collected");
  assert.equal(collectGarbageBeyond(buffers - (80 << 20), 96 << 20), false, "80 MiB beyond, within a larger limit given");
  assert.equal(collectGarbageBeyond(buffers - GARBAGE_LIMIT_BYTES - (8 << 20)), true, "past the limit");
  assert.equal(litter!.deref() === undefined, true, "collected"); // (deref'd before, it would be kept to the end of this job)
});
