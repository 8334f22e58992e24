// One strict parser for every number, boolean and duration a user gives (lib/core/parse.ts), and every
// variable that holds one: each malformed value is a usage error (ConfigError, exit 2) naming it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadConfig } from "../lib/config/config.ts";
import { ConfigError, UsageError } from "../lib/core/errors.ts";
import { parseBoolean, parseDuration, parseWhole, wholeFlag } from "../lib/core/parse.ts";

const MALFORMED_WHOLE = ["abc", "0x10", "1e2", "1.5", "-1", " 0x1 ", "1 000", "+3", "Infinity", "99999999999999999999"];

test("parseWhole: plain decimal digits only, within bounds", () => {
  assert.equal(parseWhole("0", "--days"), 0);
  assert.equal(parseWhole("007", "--days"), 7);
  assert.equal(parseWhole("42", "--limit", { min: 1 }), 42);
  for (const value of ["", " ", ...MALFORMED_WHOLE]) {
    assert.throws(() => parseWhole(value, "--days"), (error: unknown) => {
      assert.ok(error instanceof UsageError, value);
      assert.equal((error as Error).message, `--days: ${JSON.stringify(value)} is not a whole number`);
      return true;
    });
  }
  assert.throws(() => parseWhole("0", "--limit", { min: 1 }), { message: '--limit: "0" is not a whole number of at least 1' });
  assert.throws(() => parseWhole("101", "DATA_PIPELINES_RETRIES", { min: 1, max: 100 }), { message: 'DATA_PIPELINES_RETRIES: "101" is more than 100' });
});

test("parseBoolean: explicit words only", () => {
  for (const yes of ["true", "TRUE", "yes", "on", "1"]) assert.equal(parseBoolean(yes, "X"), true);
  for (const no of ["false", "False", "no", "off", "0"]) assert.equal(parseBoolean(no, "X"), false);
  for (const bad of ["", " ", "y", "2", "enabled", "truee"]) {
    assert.throws(() => parseBoolean(bad, "DATA_PIPELINES_DRY_RUN"), { name: "UsageError", message: `DATA_PIPELINES_DRY_RUN: ${JSON.stringify(bad)} is not true or false` });
  }
});

test("parseDuration: a number of the unit or a number with a unit; zero only when allowed; never negative", () => {
  const cases: Array<[string, number]> = [["300", 300_000], ["1.5", 1500], ["500ms", 500], ["30s", 30_000], ["90m", 5_400_000], ["90min", 5_400_000], ["6h", 21_600_000], ["7d", 604_800_000]];
  for (const [text, ms] of cases) assert.equal(parseDuration(text, "X"), ms, text);
  assert.equal(parseDuration("2", "X", { unit: "h" }), 7_200_000);
  assert.equal(parseDuration(90, "X"), 90_000, "a JSON number (the schedule file)");
  assert.equal(parseDuration("0", "X", { allowZero: true }), 0);
  assert.throws(() => parseDuration("0", "DATA_PIPELINES_HTTP_TIMEOUT_SECONDS"), { message: 'DATA_PIPELINES_HTTP_TIMEOUT_SECONDS: "0": must be more than zero' });
  for (const bad of ["", " ", "-1", "0x10", "1e3", "6 h", "h", "1.5.2", "soon"]) {
    assert.throws(() => parseDuration(bad, "X"), (error: unknown) => error instanceof UsageError && /is not a duration/.test((error as Error).message), bad);
  }
  assert.throws(() => parseDuration(-5, "X"), /is not a duration/);
  assert.throws(() => parseDuration("30d", "X", { maxMs: 2 ** 31 - 1 }), /longer than the most allowed/);
});

test("wholeFlag: absent gives the default, empty or blank is refused", () => {
  assert.equal(wholeFlag({}, "rows", 10), 10);
  assert.equal(wholeFlag({ rows: "3" }, "rows", 10), 3);
  for (const value of ["", "  "]) assert.throws(() => wholeFlag({ rows: value }, "rows", 10), { message: "--rows: needs a value" });
  assert.throws(() => wholeFlag({ rows: "1e2" }, "rows", 10), { message: '--rows: "1e2" is not a whole number' });
});

// Every variable that holds a number, a duration or a boolean, with what it accepts.
const WHOLE_VARIABLES = [
  "DATA_PIPELINES_MAX_RECORDS", "DATA_PIPELINES_VERRA_MAX_RECORDS", "DATA_PIPELINES_VERRA_CONCURRENCY",
  "DATA_PIPELINES_CONCURRENCY", "DATA_PIPELINES_HTTP_MAX_MB", "DATA_PIPELINES_RUN_RETENTION_DAYS", "DATA_PIPELINES_RUN_RETENTION_COUNT",
];
const DURATION_VARIABLES = [
  "DATA_PIPELINES_RETRY_BACKOFF_SECONDS", "DATA_PIPELINES_RETRY_AFTER_MAX_SECONDS", "DATA_PIPELINES_HTTP_TIMEOUT_SECONDS",
  "DATA_PIPELINES_HTTP_DEADLINE_SECONDS", "DATA_PIPELINES_SCHEDULER_GRACE_SECONDS", "DATA_PIPELINES_SCHEDULER_KILL_SECONDS",
  "DATA_PIPELINES_ALERT_TIMEOUT_SECONDS",
];
const load = (env: Record<string, string>) => loadConfig(env, "/srv/pipelines");

function refusedNaming(env: Record<string, string>, variable: string): void {
  assert.throws(() => load(env), (error: unknown) => {
    assert.ok(error instanceof ConfigError, `${JSON.stringify(env)} is a ConfigError`);
    assert.ok(error instanceof UsageError, "a usage error: exit 2");
    assert.ok((error as Error).message.startsWith(`${variable}: `), (error as Error).message);
    return true;
  });
}

test("every whole-number variable refuses hex, exponents, fractions, signs and words", () => {
  for (const variable of WHOLE_VARIABLES) {
    assert.doesNotThrow(() => load({ [variable]: "3" }), variable);
    for (const value of [...MALFORMED_WHOLE, "0"]) refusedNaming({ [variable]: value }, variable);
  }
});

test("every duration variable refuses what is not a duration; timeouts and deadlines refuse zero", () => {
  for (const variable of DURATION_VARIABLES) {
    assert.doesNotThrow(() => load({ [variable]: "1.5" }), variable);
    for (const value of ["abc", "0x10", "1e2", "-1", "6 h"]) refusedNaming({ [variable]: value }, variable);
  }
  for (const variable of ["DATA_PIPELINES_HTTP_TIMEOUT_SECONDS", "DATA_PIPELINES_HTTP_DEADLINE_SECONDS", "DATA_PIPELINES_ALERT_TIMEOUT_SECONDS"]) refusedNaming({ [variable]: "0" }, variable);
  for (const variable of ["DATA_PIPELINES_RETRY_BACKOFF_SECONDS", "DATA_PIPELINES_SCHEDULER_GRACE_SECONDS"]) assert.doesNotThrow(() => load({ [variable]: "0" }));
});

test("the boolean and attempt variables: explicit words, or a number of attempts", () => {
  assert.equal(load({ DATA_PIPELINES_DRY_RUN: "yes" }).dryRun, true);
  assert.equal(load({ DATA_PIPELINES_DRY_RUN: "false" }).dryRun, false);
  refusedNaming({ DATA_PIPELINES_DRY_RUN: "maybe" }, "DATA_PIPELINES_DRY_RUN");
  assert.equal(load({ DATA_PIPELINES_RETRIES: "7" }).attempts, 7);
  for (const value of ["0", "maybe", "1e1", "0x3", "-2"]) refusedNaming({ DATA_PIPELINES_RETRIES: value }, "DATA_PIPELINES_RETRIES");
});

test("a misspelled variable is reported with the one meant, not ignored", () => {
  assert.throws(() => load({ DATA_PIPELINES_HTTP_TIMEOUT_SECOND: "5" }), {
    message: "DATA_PIPELINES_HTTP_TIMEOUT_SECOND: unknown variable (did you mean DATA_PIPELINES_HTTP_TIMEOUT_SECONDS?) (see .env.dist for the ones we read)",
  });
  assert.throws(() => load({ AWS_STORAGES: "dev" }), {
    message: "AWS_STORAGES: unknown variable; did you mean AWS_STORAGE? (see .env.dist for the ones we read)",
  });
  assert.throws(() => load({ GRAPH_API_KEYS: "k" }), /did you mean GRAPH_API_KEY\?/);
  // Variables of other programs far from ours pass.
  assert.doesNotThrow(() => load({ AWS_REGION: "us-east-1", HOSTNAME: "vm", NODE_OPTIONS: "--max-old-space-size=4096" }));
});
