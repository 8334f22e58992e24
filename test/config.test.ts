import assert from "node:assert/strict";
import { test } from "node:test";
import { describeConfig, loadConfig, type Config } from "../lib/config/config.ts";
import { ConfigError } from "../lib/core/errors.ts";
import { redact, registerSecret } from "../lib/core/redact.ts";

// loadConfig reads only the env object and cwd it is given: nothing touches the disk,
// so a fixed, non-existent working directory keeps the expected paths exact.
const CWD = "/srv/pipelines";
const load = (env: Record<string, string | undefined> = {}): Config => loadConfig(env, CWD);

const STUDIO = "https://api.studio.thegraph.com/query/78559";
const GATEWAY = "https://gateway-arbitrum.network.thegraph.com/api";
const VERRA = "https://registry.verra.org/uiapi/asset/asset/search";
const IDS = {
  carbonPolygon: "ECLEwJKgujmiRCW1XbfbbUbpae2igeHa2KJ6BXNSWrZF",
  carbonEth: "A3dewmSVoxFvvyaMQUJFQHDg3cF8ageeq3hXHnMgs3kp",
  carbonCelo: "H5UMmbFgxE73i8s445cRuSx5bg7AUUrsKdtBBCQfinYX",
  holders: "BJFQSmoqffMD8e1pN9xdsuRDYQNgVs8z3DBiXa6AdkGY",
  pairs: "hwk9GJd5cf5EASZRxQZJ56KocpYt7tNDtho9HZwN6rL",
};
const OVERRIDES = {
  carbonPolygon: "DATA_PIPELINES_CARBON_SUBGRAPH_URL",
  carbonEth: "DATA_PIPELINES_CARBON_ETH_SUBGRAPH_URL",
  carbonCelo: "DATA_PIPELINES_CARBON_CELO_SUBGRAPH_URL",
  holders: "DATA_PIPELINES_CARBON_HOLDERS_SUBGRAPH_URL",
  pairs: "DATA_PIPELINES_PAIRS_SUBGRAPH_URL",
} as const;

/** Assert that loading `env` fails with a ConfigError whose message starts with `variable: `. */
function refused(env: Record<string, string>, variable: string, message?: string): void {
  assert.throws(() => load(env), (error: unknown) => {
    assert.ok(error instanceof ConfigError, `${JSON.stringify(env)}: a ConfigError, got ${String(error)}`);
    assert.ok(error.message.startsWith(`${variable}: `), `${JSON.stringify(env)}: "${error.message}" starts with ${variable}`);
    assert.ok(!error.message.includes("\n"), "one line");
    if (message !== undefined) assert.equal(error.message, message);
    return true;
  });
}

test("defaults: local lake and history under cwd, retries on, no caps, Studio and Verra URLs", () => {
  const config = load({});
  assert.deepEqual(config.storage, { kind: "local", dir: "/srv/pipelines/data/lake", label: "local" });
  assert.equal(config.db, "/srv/pipelines/data/runs.sqlite");
  assert.equal(config.attempts, 4);
  assert.equal(config.retryBackoffMs, 10_000);
  assert.equal(config.httpTimeoutMs, 300_000);
  assert.equal(config.httpDeadlineMs, 900_000);
  assert.equal(config.httpMaxBytes, 512_000_000);
  assert.equal(config.retryAfterMaxMs, 300_000);
  assert.equal(config.dryRun, false);
  assert.equal(config.maxRecords, undefined);
  assert.equal(config.verraMaxRecords, undefined);
  assert.equal(config.concurrency, undefined);
  assert.equal(config.awsStorage, undefined);
  assert.equal(config.production, false);
  assert.deepEqual(config.urls, {
    carbonPolygon: `${STUDIO}/staging-polygon-digital-carbon/version/latest`,
    carbonEth: `${STUDIO}/staging-ethereum-bridged-carbon/version/latest`,
    carbonCelo: `${STUDIO}/staging-celo-bridged-carbon/version/latest`,
    holders: `${STUDIO}/staging-klimadao-user-carbon/version/latest`,
    pairs: `${STUDIO}/staging-klimadao-pairs/version/latest`,
    verraSearch: VERRA,
    polygonRpc: undefined,
  });
  assert.equal(config.urls.carbonPolygon, "https://api.studio.thegraph.com/query/78559/staging-polygon-digital-carbon/version/latest");
});

test("set values are read: caps, retries off, backoff, dry run, history file", () => {
  const config = load({
    DATA_PIPELINES_MAX_RECORDS: "500",
    DATA_PIPELINES_VERRA_MAX_RECORDS: "20",
    DATA_PIPELINES_CONCURRENCY: "3",
    DATA_PIPELINES_RETRIES: "false",
    DATA_PIPELINES_RETRY_BACKOFF_SECONDS: "0.5",
    DATA_PIPELINES_DRY_RUN: "1",
    DATA_PIPELINES_DB: "state/history.sqlite",
  });
  assert.equal(config.maxRecords, 500);
  assert.equal(config.verraMaxRecords, 20);
  assert.equal(config.concurrency, 3);
  assert.equal(config.attempts, 1);
  assert.equal(config.retryBackoffMs, 500);
  assert.equal(config.dryRun, true);
  assert.equal(config.db, "/srv/pipelines/state/history.sqlite");
  assert.equal(load({ DATA_PIPELINES_RETRIES: "true" }).attempts, 4);
  assert.equal(load({ DATA_PIPELINES_RETRIES: "2" }).attempts, 2);
  assert.equal(load({ DATA_PIPELINES_RETRIES: "1" }).attempts, 1);
});

test("every storage form", () => {
  const storage = (value: string) => load({ DATA_PIPELINES_RESULT_STORAGE: value }).storage;
  assert.deepEqual(storage("local"), { kind: "local", dir: "/srv/pipelines/data/lake", label: "local" });
  assert.deepEqual(storage("file:lakes/mine"), { kind: "local", dir: "/srv/pipelines/lakes/mine", label: "file:lakes/mine" });
  assert.deepEqual(storage("file:../elsewhere"), { kind: "local", dir: "/srv/elsewhere", label: "file:../elsewhere" });
  assert.deepEqual(storage("file:/var/lake"), { kind: "local", dir: "/var/lake", label: "file:/var/lake" });
  assert.deepEqual(storage("s3-bucket/dev"), { kind: "s3", bucket: "dev-klimadao-data", prefix: "lake/", label: "s3-bucket/dev" });
  assert.deepEqual(storage("s3-bucket/prod"), { kind: "s3", bucket: "prod-klimadao-data", prefix: "lake/", label: "s3-bucket/prod" });
  assert.deepEqual(storage("s3://bucket/some/prefix"), { kind: "s3", bucket: "bucket", prefix: "some/prefix/", label: "s3://bucket/some/prefix" });
  assert.deepEqual(storage("s3://bucket/some/prefix/"), { kind: "s3", bucket: "bucket", prefix: "some/prefix/", label: "s3://bucket/some/prefix/" });
  assert.deepEqual(storage("s3://my-bucket"), { kind: "s3", bucket: "my-bucket", prefix: "", label: "s3://my-bucket" });
  assert.deepEqual(load({ AWS_STORAGE: "dev" }).awsStorage, { kind: "s3", bucket: "dev-klimadao-data", prefix: "lake/", label: "s3-bucket/dev" });
  assert.deepEqual(load({ AWS_STORAGE: "prod" }).awsStorage, { kind: "s3", bucket: "prod-klimadao-data", prefix: "lake/", label: "s3-bucket/prod" });
});

test("malformed values are refused with a ConfigError naming the variable", () => {
  refused({ DATA_PIPELINES_MAX_RECORDS: "abc" }, "DATA_PIPELINES_MAX_RECORDS", 'DATA_PIPELINES_MAX_RECORDS: "abc" is not a whole number of at least 1');
  refused({ DATA_PIPELINES_MAX_RECORDS: "0" }, "DATA_PIPELINES_MAX_RECORDS", 'DATA_PIPELINES_MAX_RECORDS: "0" is not a whole number of at least 1');
  refused({ DATA_PIPELINES_MAX_RECORDS: "-5" }, "DATA_PIPELINES_MAX_RECORDS", 'DATA_PIPELINES_MAX_RECORDS: "-5" is not a whole number of at least 1');
  refused({ DATA_PIPELINES_MAX_RECORDS: "1.5" }, "DATA_PIPELINES_MAX_RECORDS");
  refused({ DATA_PIPELINES_VERRA_MAX_RECORDS: "ten" }, "DATA_PIPELINES_VERRA_MAX_RECORDS");
  refused({ DATA_PIPELINES_RESULT_STORAGE: "ftp://x" }, "DATA_PIPELINES_RESULT_STORAGE");
  refused({ DATA_PIPELINES_RESULT_STORAGE: "s3-bucket/qa" }, "DATA_PIPELINES_RESULT_STORAGE");
  refused({ DATA_PIPELINES_RESULT_STORAGE: "s3://bucket/../x" }, "DATA_PIPELINES_RESULT_STORAGE");
  refused({ DATA_PIPELINES_RESULT_STORAGE: "s3://bucket/a/./b" }, "DATA_PIPELINES_RESULT_STORAGE");
  refused({ DATA_PIPELINES_RESULT_STORAGE: "file:" }, "DATA_PIPELINES_RESULT_STORAGE");
  refused({ AWS_STORAGE: "staging" }, "AWS_STORAGE", 'AWS_STORAGE: "staging" is not dev or prod');
  refused({ DATA_PIPELINES_RETRIES: "maybe" }, "DATA_PIPELINES_RETRIES", 'DATA_PIPELINES_RETRIES: "maybe" is not true or false');
  refused({ DATA_PIPELINES_RETRY_BACKOFF_SECONDS: "0x10" }, "DATA_PIPELINES_RETRY_BACKOFF_SECONDS");
  refused({ DATA_PIPELINES_LOG_FORMAT: "xml" }, "DATA_PIPELINES_LOG_FORMAT");
  refused({ DATA_PIPELINES_VERRA_SEARCH_URL: "not-a-url" }, "DATA_PIPELINES_VERRA_SEARCH_URL", 'DATA_PIPELINES_VERRA_SEARCH_URL: "not-a-url" is not a URL');
  refused({ DATA_PIPELINES_POLYGON_RPC_URL: "ws://node:8546" }, "DATA_PIPELINES_POLYGON_RPC_URL");
});

test("an unknown DATA_PIPELINES_ variable (the original's misspelling MAX_RECORD) is refused, naming it", () => {
  refused(
    { DATA_PIPELINES_MAX_RECORD: "100" },
    "DATA_PIPELINES_MAX_RECORD",
    "DATA_PIPELINES_MAX_RECORD: unknown variable (did you mean DATA_PIPELINES_MAX_RECORDS?) (see .env.dist for the ones we read)",
  );
  // Other variables of the environment are none of our business.
  assert.doesNotThrow(() => load({ PATH: "/usr/bin", HOME: "/root", NODE_ENV: "test" }));
});

test("empty (and blank) values count as unset", () => {
  const config = load({
    DATA_PIPELINES_RESULT_STORAGE: "",
    DATA_PIPELINES_MAX_RECORDS: "",
    DATA_PIPELINES_VERRA_MAX_RECORDS: "  ",
    DATA_PIPELINES_RETRIES: "",
    DATA_PIPELINES_RETRY_BACKOFF_SECONDS: "",
    DATA_PIPELINES_DRY_RUN: "",
    DATA_PIPELINES_DB: "",
    DATA_PIPELINES_VERRA_SEARCH_URL: "",
    DATA_PIPELINES_CARBON_SUBGRAPH_URL: "",
    AWS_STORAGE: "",
    ENV: "",
    GRAPH_API_KEY: "",
    WEB3_INFURA_PROJECT_ID: "",
  });
  assert.deepEqual(config, load({}));
});

test("ENV=production without GRAPH_API_KEY is refused, naming GRAPH_API_KEY", () => {
  refused({ ENV: "production" }, "GRAPH_API_KEY");
  refused({ ENV: "production", GRAPH_API_KEY: "" }, "GRAPH_API_KEY");
});

test("ENV=production with GRAPH_API_KEY: gateway URLs with the key in the path", () => {
  const config = load({ ENV: "production", GRAPH_API_KEY: "abc123secretkey" });
  assert.equal(config.production, true);
  assert.equal(
    config.urls.carbonPolygon,
    "https://gateway-arbitrum.network.thegraph.com/api/abc123secretkey/subgraphs/id/ECLEwJKgujmiRCW1XbfbbUbpae2igeHa2KJ6BXNSWrZF",
  );
  for (const which of Object.keys(IDS) as Array<keyof typeof IDS>) {
    assert.equal(config.urls[which], `${GATEWAY}/abc123secretkey/subgraphs/id/${IDS[which]}`, which);
  }
  assert.equal(config.urls.verraSearch, VERRA);
  assert.equal(config.urls.polygonRpc, undefined);
});

test("each per-source override wins over the production gateway URL (and over Studio)", () => {
  for (const [which, variable] of Object.entries(OVERRIDES) as Array<[keyof typeof OVERRIDES, string]>) {
    const url = `http://127.0.0.1:8000/subgraphs/name/${which}`;
    for (const base of [{ ENV: "production", GRAPH_API_KEY: "abc123secretkey" }, {}]) {
      const config = load({ ...base, [variable]: url });
      assert.equal(config.urls[which], url, `${variable} ${JSON.stringify(base)}`);
      for (const other of Object.keys(OVERRIDES) as Array<keyof typeof OVERRIDES>) {
        if (other === which) continue;
        const expected = "ENV" in base ? `${GATEWAY}/abc123secretkey/subgraphs/id/${IDS[other]}` : undefined;
        if (expected) assert.equal(config.urls[other], expected, `${variable} leaves ${other} alone`);
        else assert.match(config.urls[other], /^https:\/\/api\.studio\.thegraph\.com\//);
      }
    }
  }
  // With every subgraph overridden, production needs no gateway key.
  const all = Object.fromEntries(Object.entries(OVERRIDES).map(([which, variable]) => [variable, `http://graph.local/${which}`]));
  const config = load({ ENV: "production", ...all });
  assert.equal(config.urls.holders, "http://graph.local/holders");
  assert.equal(load({ DATA_PIPELINES_VERRA_SEARCH_URL: "http://127.0.0.1:9000/search" }).urls.verraSearch, "http://127.0.0.1:9000/search");
  assert.equal(load({ DATA_PIPELINES_POLYGON_RPC_URL: "http://127.0.0.1:8545", WEB3_INFURA_PROJECT_ID: "0123456789abcdef0123456789abcdef" }).urls.polygonRpc, "http://127.0.0.1:8545");
});

test("WEB3_INFURA_PROJECT_ID gives the Infura Polygon RPC URL", () => {
  const id = "9f8e7d6c5b4a39281706f5e4d3c2b1a0";
  assert.equal(load({ WEB3_INFURA_PROJECT_ID: id }).urls.polygonRpc, `https://polygon-mainnet.infura.io/v3/${id}`);
});

test("describeConfig masks the gateway key, the Infura id and a password inside an override URL", () => {
  const config = load({
    ENV: "production",
    GRAPH_API_KEY: "abc123secretkey",
    WEB3_INFURA_PROJECT_ID: "1a2b3c4d5e6f70819a2b3c4d5e6f7081",
    DATA_PIPELINES_PAIRS_SUBGRAPH_URL: "https://user:pw12345@host/x",
  });
  const lines = describeConfig(config);
  const text = lines.join("\n");
  for (const secret of ["abc123secretkey", "1a2b3c4d5e6f70819a2b3c4d5e6f7081", "pw12345"]) {
    assert.ok(!text.includes(secret), `${secret} is not shown`);
  }
  assert.ok(text.includes("***"));
  assert.deepEqual(lines, [
    "lake: local (/srv/pipelines/data/lake)",
    "run history: /srv/pipelines/data/runs.sqlite",
    "endpoints (ENV=production: The Graph gateway):",
    `  carbon polygon  ${GATEWAY}/***/subgraphs/id/${IDS.carbonPolygon}`,
    `  carbon eth      ${GATEWAY}/***/subgraphs/id/${IDS.carbonEth}`,
    `  carbon celo     ${GATEWAY}/***/subgraphs/id/${IDS.carbonCelo}`,
    `  holders         ${GATEWAY}/***/subgraphs/id/${IDS.holders}`,
    "  pairs           https://***:***@host/x",
    `  verra           ${VERRA}`,
    "  polygon rpc     https://polygon-mainnet.infura.io/v3/***",
    "http: idle timeout 300 s, deadline 900 s, answers up to 512 MB, Retry-After up to 300 s",
    "retries: 4 attempts (backoff factor 10 s)",
  ]);
});

test("describeConfig of the defaults and of an S3 lake", () => {
  const lines = describeConfig(load({ DATA_PIPELINES_RESULT_STORAGE: "s3://bucket/some/prefix", DATA_PIPELINES_RETRIES: "false", DATA_PIPELINES_DRY_RUN: "yes" }));
  assert.equal(lines[0], "lake: s3://bucket/some/prefix (bucket bucket, prefix some/prefix/)");
  assert.equal(lines[2], "endpoints (development: Studio URLs):");
  assert.equal(lines[3], `  carbon polygon  ${STUDIO}/staging-polygon-digital-carbon/version/latest`);
  assert.equal(lines[9], "  polygon rpc     (not set: WEB3_INFURA_PROJECT_ID or DATA_PIPELINES_POLYGON_RPC_URL)");
  assert.equal(lines.at(-1), "retries: off; DRY RUN");
});

test("a malformed override URL is refused without echoing its password", () => {
  assert.throws(
    () => load({ DATA_PIPELINES_CARBON_SUBGRAPH_URL: "ftp://bob:hunter2pw@graph.example/x" }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.message, 'DATA_PIPELINES_CARBON_SUBGRAPH_URL: "ftp://***:***@graph.example/x" is not an http(s) URL');
      return true;
    },
  );
});

test("redact masks registered secrets wherever they appear", () => {
  registerSecret("registered-token-7781");
  assert.equal(
    redact("calling with registered-token-7781 and again registered-token-7781!"),
    "calling with *** and again ***!",
  );
  assert.equal(redact('{"auth":"registered-token-7781"}'), '{"auth":"***"}');
  assert.equal(redact("nothing to hide here"), "nothing to hide here");
  // Loading a configuration registers its secrets.
  load({ AWS_SECRET_ACCESS_KEY: "aws-secret-value-55", GRAPH_API_KEY: "graph-key-value-66" });
  assert.equal(redact("S3 said aws-secret-value-55; graph said graph-key-value-66"), "S3 said ***; graph said ***");
});

test("redact masks secrets in URL shapes even when nobody registered them", () => {
  assert.equal(
    redact("POST https://gateway-arbitrum.network.thegraph.com/api/f00dfacef00dface1234/subgraphs/id/ECLEwJKgujmiRCW1XbfbbUbpae2igeHa2KJ6BXNSWrZF failed"),
    "POST https://gateway-arbitrum.network.thegraph.com/api/***/subgraphs/id/ECLEwJKgujmiRCW1XbfbbUbpae2igeHa2KJ6BXNSWrZF failed",
  );
  assert.equal(
    redact("rpc https://polygon-mainnet.infura.io/v3/abcdef0123456789abcdef0123456789 timed out"),
    "rpc https://polygon-mainnet.infura.io/v3/*** timed out",
  );
  assert.equal(redact("connect https://alice:s3cr3t-pass@db.example.com/path"), "connect https://***:***@db.example.com/path");
  assert.equal(redact('"url":"https://alice:s3cr3t-pass@db.example.com"'), '"url":"https://***:***@db.example.com"');
  // Not secrets: a Studio URL, a plain host with a port.
  const studio = `${STUDIO}/staging-polygon-digital-carbon/version/latest`;
  assert.equal(redact(studio), studio);
  assert.equal(redact("http://127.0.0.1:8545/"), "http://127.0.0.1:8545/");
});

test(".env.dist documents every variable the configuration reads, and nothing else", async () => {
  const { readFileSync } = await import("node:fs");
  const { VARIABLES } = await import("../lib/config/variables.ts");
  const text = readFileSync(new URL("../.env.dist", import.meta.url), "utf8");
  const listed = [...text.matchAll(/^([A-Z0-9_]+)=/gm)].map((m) => m[1]);
  assert.deepEqual([...listed].sort(), Object.keys(VARIABLES).sort());
});
