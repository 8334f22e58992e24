// Retries (lib/run/retry.ts): `attempts` tries in all, only transient failures tried again, exponential
// backoff with full jitter, a longer Retry-After wins; the clock and the dice are injected.
import assert from "node:assert/strict";
import { test } from "node:test";
import { SourceError, UserError } from "../lib/core/errors.ts";
import { withRetries } from "../lib/run/retry.ts";

/** A source that fails with `errors` in turn, then answers "ok"; counts its calls. */
function source(errors: Error[]) {
  let calls = 0;
  return { calls: () => calls, ask: async () => { calls++; if (calls <= errors.length) throw errors[calls - 1]; return "ok"; } };
}

test("transient failures are tried again, up to the attempts, with backoff factor x 2^(n-1) times the dice", async () => {
  const sleeps: number[] = [];
  const retries: string[] = [];
  const s = source([new SourceError("503", true), new SourceError("timeout", true), new SourceError("429", true)]);
  const answer = await withRetries("page 1", s.ask, {
    attempts: 4, backoffMs: 10_000, random: () => 0.5, sleep: async (ms) => { sleeps.push(ms); },
    onRetry: ({ retry, retries: of, error }) => retries.push(`${retry}/${of} ${(error as Error).message}`),
  });
  assert.equal(answer, "ok");
  assert.equal(s.calls(), 4);
  assert.deepEqual(sleeps, [5_000, 10_000, 20_000]);
  assert.deepEqual(retries, ["1/3 503", "2/3 timeout", "3/3 429"]);
});

test("after the last attempt the failure says how many attempts it took", async () => {
  const s = source(Array.from({ length: 5 }, () => new SourceError("HTTP 503", true)));
  await assert.rejects(withRetries("page 1", s.ask, { attempts: 3, backoffMs: 0, sleep: async () => {} }), {
    name: "SourceError", message: "HTTP 503 (gave up after 3 attempts)",
  });
  assert.equal(s.calls(), 3);
});

test("a permanent failure, or one that is not a source's, fails at once", async () => {
  for (const error of [new SourceError("HTTP 402", false), new UserError("bad query"), new TypeError("a bug")]) {
    const s = source([error]);
    await assert.rejects(withRetries("page 1", s.ask, { attempts: 4, backoffMs: 0, sleep: async () => {} }), error);
    assert.equal(s.calls(), 1, error.message);
  }
});

test("attempts 1 (DATA_PIPELINES_RETRIES=false) tries once; a Retry-After longer than the backoff wins", async () => {
  const once = source([new SourceError("503", true)]);
  await assert.rejects(withRetries("x", once.ask, { attempts: 1, backoffMs: 0, sleep: async () => {} }), { message: "503" });
  assert.equal(once.calls(), 1);
  const sleeps: number[] = [];
  const s = source([new SourceError("429", true, 7_000), new SourceError("429", true, 1)]);
  await withRetries("x", s.ask, { attempts: 4, backoffMs: 1_000, random: () => 1, sleep: async (ms) => { sleeps.push(ms); } });
  assert.deepEqual(sleeps, [7_000, 2_000]);
});
