// Loaded before every test file (package.json's test script). A failed assert.ok without a message
// makes Node 20 look for the expression in the test file, which under tsx's transform takes seconds
// to minutes (a 150-line file: 14 s; subgraph_flows.test.ts: 460 s): one failing check turned a red
// run into an over-time one. Such a call fails at once with a fixed message; its stack names the line.
import assert from "node:assert";

const { ok } = assert;
const NO_MESSAGE = "assert.ok: the value is falsy (no message given: the stack names the line)";
const okWithMessage: typeof assert.ok = (value: unknown, message?: string | Error) => ok(value, message ?? NO_MESSAGE);
assert.ok = okWithMessage;
assert.strict.ok = okWithMessage;
