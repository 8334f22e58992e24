// test/setup.ts, which `npm test` loads before every test file: a failed assert.ok without a message
// fails at once with a fixed message, not after Node's search for the expression in this file.
import assert from "node:assert/strict";
import { test } from "node:test";

test("under npm test, a failed assert.ok without a message fails with the fixed message; one with a message keeps it", () => {
  const fixed = "assert.ok: the value is falsy (no message given: the stack names the line)";
  assert.throws(() => assert.ok(1 > 2), (error: unknown) => error instanceof assert.AssertionError && error.message === fixed);
  assert.throws(() => assert.ok(0, "mine"), (error: unknown) => error instanceof assert.AssertionError && error.message === "mine");
  assert.doesNotThrow(() => assert.ok("yes"));
});
