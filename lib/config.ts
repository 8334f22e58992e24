// Configuration from the environment (and `.env`, loaded by the CLI): typed,
// validated once at start. A bad value stops the script with a line naming it.
import path from "node:path";
import { ConfigError } from "./errors.ts";
import { redact, registerSecret } from "./redact.ts";

export type Storage =
  | { kind: "local"; dir: string; label: string }
  | { kind: "s3"; bucket: string; prefix: string; label: string };

export interface Urls {
  carbonPolygon: string;
  carbonEth: string;
  carbonCelo: string;
  holders: string;
  pairs: string;
  verraSearch: string;
  /** Undefined when neither an override nor WEB3_INFURA_PROJECT_ID is set. */
  polygonRpc: string | undefined;
}

export interface Config {
  storage: Storage;
  /** The S3 lake the artifact scripts act on (`AWS_STORAGE`). */
  awsStorage: Storage | undefined;
  s3Endpoint: string;
  awsAccessKeyId: string | undefined;
  awsSecretAccessKey: string | undefined;
  dryRun: boolean;
  maxRecords: number | undefined;
  verraMaxRecords: number | undefined;
  verraConcurrency: number;
  retries: boolean;
  retryBackoffMs: number;
  httpTimeoutMs: number;
  concurrency: number | undefined;
  db: string;
  production: boolean;
  urls: Urls;
  logFormat: "human" | "json";
  scheduler: SchedulerConfig;
}

/** The scheduler daemon's settings (`schedule.ts`). */
export interface SchedulerConfig {
  /** A JSON schedule replacing the default one; undefined: the defaults of SPEC §8. */
  scheduleFile: string | undefined;
  /** How long a running job may go on after SIGINT/SIGTERM before it is stopped. */
  graceMs: number;
  /** Between SIGTERM and SIGKILL when a job is stopped (timeout, shutdown). */
  killAfterMs: number;
  retentionDays: number;
  retentionRuns: number;
}

/** Every variable we read, with its documentation (also the source of `.env.dist` and `--help`). */
export const VARIABLES: Record<string, string> = {
  DATA_PIPELINES_RESULT_STORAGE: "lake to write to: local | file:<dir> | s3-bucket/dev | s3-bucket/prod | s3://<bucket>/<prefix> (default local = ./data/lake)",
  AWS_STORAGE: "dev | prod: the S3 lake the clean-up and fetch scripts act on",
  AWS_ACCESS_KEY_ID: "S3 access key (secret)",
  AWS_SECRET_ACCESS_KEY: "S3 secret key (secret)",
  DATA_PIPELINES_S3_ENDPOINT: "S3 endpoint (default https://nyc3.digitaloceanspaces.com)",
  DATA_PIPELINES_DRY_RUN: "non-empty: Verra returns dummy data; flows validate but write nothing; artifact scripts only report",
  DATA_PIPELINES_MAX_RECORDS: "optional cap per subgraph query: the newest N records (default: complete)",
  DATA_PIPELINES_VERRA_MAX_RECORDS: "optional cap on Verra rows, oldest issuance first (default: complete)",
  DATA_PIPELINES_VERRA_CONCURRENCY: "Verra date windows fetched at once (default 4)",
  DATA_PIPELINES_RETRIES: "false disables retries (default: 3 retries of transient failures)",
  DATA_PIPELINES_RETRY_BACKOFF_SECONDS: "backoff factor: retry n waits up to factor x 2^(n-1) seconds, full jitter (default 10)",
  DATA_PIPELINES_HTTP_TIMEOUT_SECONDS: "timeout of one HTTP request to a source (default 300)",
  DATA_PIPELINES_CONCURRENCY: "flows run at once by build_all",
  DATA_PIPELINES_DB: "run-history SQLite file (default ./data/runs.sqlite)",
  DATA_PIPELINES_LOG_FORMAT: "human | json (default human; --json on any command)",
  DATA_PIPELINES_SCHEDULE_FILE: "scheduler: JSON file of job schedules replacing the defaults (schedule.ts --schedule wins)",
  DATA_PIPELINES_SCHEDULER_GRACE_SECONDS: "scheduler: how long a running job may finish after SIGINT/SIGTERM before it is stopped (default 300)",
  DATA_PIPELINES_SCHEDULER_KILL_SECONDS: "scheduler: from SIGTERM to SIGKILL when a job is stopped (default 10)",
  DATA_PIPELINES_RUN_RETENTION_DAYS: "scheduler: run history and per-run logs older than this are deleted (default 90)",
  DATA_PIPELINES_RUN_RETENTION_COUNT: "scheduler: runs kept per flow, the newest (default 500)",
  ENV: "production selects The Graph gateway URLs (needs GRAPH_API_KEY); anything else the Studio URLs",
  GRAPH_API_KEY: "The Graph gateway key (secret)",
  WEB3_INFURA_PROJECT_ID: "Polygon RPC through Infura (secret)",
  DATA_PIPELINES_CARBON_SUBGRAPH_URL: "override: polygon-digital-carbon subgraph URL",
  DATA_PIPELINES_CARBON_ETH_SUBGRAPH_URL: "override: ethereum-bridged-carbon subgraph URL",
  DATA_PIPELINES_CARBON_CELO_SUBGRAPH_URL: "override: celo-bridged-carbon subgraph URL",
  DATA_PIPELINES_CARBON_HOLDERS_SUBGRAPH_URL: "override: user-carbon (holders) subgraph URL",
  DATA_PIPELINES_PAIRS_SUBGRAPH_URL: "override: pairs subgraph URL",
  DATA_PIPELINES_VERRA_SEARCH_URL: "override: Verra search URL (default https://registry.verra.org/uiapi/asset/asset/search)",
  DATA_PIPELINES_POLYGON_RPC_URL: "override: Polygon JSON-RPC URL",
};

const STUDIO = "https://api.studio.thegraph.com/query/78559";
const GATEWAY = "https://gateway-arbitrum.network.thegraph.com/api";
const SUBGRAPHS = {
  carbonPolygon: { override: "DATA_PIPELINES_CARBON_SUBGRAPH_URL", studio: "staging-polygon-digital-carbon", id: "ECLEwJKgujmiRCW1XbfbbUbpae2igeHa2KJ6BXNSWrZF" },
  carbonEth: { override: "DATA_PIPELINES_CARBON_ETH_SUBGRAPH_URL", studio: "staging-ethereum-bridged-carbon", id: "A3dewmSVoxFvvyaMQUJFQHDg3cF8ageeq3hXHnMgs3kp" },
  carbonCelo: { override: "DATA_PIPELINES_CARBON_CELO_SUBGRAPH_URL", studio: "staging-celo-bridged-carbon", id: "H5UMmbFgxE73i8s445cRuSx5bg7AUUrsKdtBBCQfinYX" },
  holders: { override: "DATA_PIPELINES_CARBON_HOLDERS_SUBGRAPH_URL", studio: "staging-klimadao-user-carbon", id: "BJFQSmoqffMD8e1pN9xdsuRDYQNgVs8z3DBiXa6AdkGY" },
  pairs: { override: "DATA_PIPELINES_PAIRS_SUBGRAPH_URL", studio: "staging-klimadao-pairs", id: "hwk9GJd5cf5EASZRxQZJ56KocpYt7tNDtho9HZwN6rL" },
} as const;
const VERRA_SEARCH = "https://registry.verra.org/uiapi/asset/asset/search";

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const get = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value.trim() === "" ? undefined : value.trim();
  };
  for (const name of Object.keys(env)) {
    if (name.startsWith("DATA_PIPELINES_") && !(name in VARIABLES)) {
      throw new ConfigError(`${name}: unknown variable (see .env.dist for the ones we read)`);
    }
  }
  for (const secret of ["GRAPH_API_KEY", "WEB3_INFURA_PROJECT_ID", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]) {
    registerSecret(get(secret));
  }

  const production = get("ENV") === "production";
  const graphKey = get("GRAPH_API_KEY");
  const subgraphUrl = (which: keyof typeof SUBGRAPHS): string => {
    const { override, studio, id } = SUBGRAPHS[which];
    const explicit = get(override);
    if (explicit) return parseUrl(override, explicit);
    if (!production) return `${STUDIO}/${studio}/version/latest`;
    if (!graphKey) throw new ConfigError(`GRAPH_API_KEY: required when ENV=production (or set ${override})`);
    return `${GATEWAY}/${graphKey}/subgraphs/id/${id}`;
  };
  const rpcOverride = get("DATA_PIPELINES_POLYGON_RPC_URL");
  const infura = get("WEB3_INFURA_PROJECT_ID");

  const awsStorageName = get("AWS_STORAGE");
  if (awsStorageName !== undefined && awsStorageName !== "dev" && awsStorageName !== "prod") {
    throw new ConfigError(`AWS_STORAGE: "${awsStorageName}" is not dev or prod`);
  }
  const retriesValue = get("DATA_PIPELINES_RETRIES");
  if (retriesValue !== undefined && !["true", "false"].includes(retriesValue)) {
    throw new ConfigError(`DATA_PIPELINES_RETRIES: "${retriesValue}" is not true or false`);
  }
  const logFormat = get("DATA_PIPELINES_LOG_FORMAT") ?? "human";
  if (logFormat !== "human" && logFormat !== "json") {
    throw new ConfigError(`DATA_PIPELINES_LOG_FORMAT: "${logFormat}" is not human or json`);
  }

  return {
    storage: parseStorage("DATA_PIPELINES_RESULT_STORAGE", get("DATA_PIPELINES_RESULT_STORAGE") ?? "local", cwd),
    awsStorage: awsStorageName ? s3Lake(awsStorageName) : undefined,
    s3Endpoint: parseUrl("DATA_PIPELINES_S3_ENDPOINT", get("DATA_PIPELINES_S3_ENDPOINT") ?? "https://nyc3.digitaloceanspaces.com"),
    awsAccessKeyId: get("AWS_ACCESS_KEY_ID"),
    awsSecretAccessKey: get("AWS_SECRET_ACCESS_KEY"),
    dryRun: get("DATA_PIPELINES_DRY_RUN") !== undefined,
    maxRecords: parseCount(get, "DATA_PIPELINES_MAX_RECORDS"),
    verraMaxRecords: parseCount(get, "DATA_PIPELINES_VERRA_MAX_RECORDS"),
    verraConcurrency: parseCount(get, "DATA_PIPELINES_VERRA_CONCURRENCY") ?? 4,
    retries: retriesValue !== "false",
    retryBackoffMs: parseSeconds(get, "DATA_PIPELINES_RETRY_BACKOFF_SECONDS", 10),
    httpTimeoutMs: parseSeconds(get, "DATA_PIPELINES_HTTP_TIMEOUT_SECONDS", 300),
    concurrency: parseCount(get, "DATA_PIPELINES_CONCURRENCY"),
    db: path.resolve(cwd, get("DATA_PIPELINES_DB") ?? "data/runs.sqlite"),
    production,
    urls: {
      carbonPolygon: subgraphUrl("carbonPolygon"),
      carbonEth: subgraphUrl("carbonEth"),
      carbonCelo: subgraphUrl("carbonCelo"),
      holders: subgraphUrl("holders"),
      pairs: subgraphUrl("pairs"),
      verraSearch: parseUrl("DATA_PIPELINES_VERRA_SEARCH_URL", get("DATA_PIPELINES_VERRA_SEARCH_URL") ?? VERRA_SEARCH),
      polygonRpc: rpcOverride
        ? parseUrl("DATA_PIPELINES_POLYGON_RPC_URL", rpcOverride)
        : infura ? `https://polygon-mainnet.infura.io/v3/${infura}` : undefined,
    },
    logFormat,
    scheduler: {
      scheduleFile: get("DATA_PIPELINES_SCHEDULE_FILE") === undefined ? undefined : path.resolve(cwd, get("DATA_PIPELINES_SCHEDULE_FILE")!),
      graceMs: parseSeconds(get, "DATA_PIPELINES_SCHEDULER_GRACE_SECONDS", 300),
      killAfterMs: parseSeconds(get, "DATA_PIPELINES_SCHEDULER_KILL_SECONDS", 10),
      retentionDays: parseCount(get, "DATA_PIPELINES_RUN_RETENTION_DAYS") ?? 90,
      retentionRuns: parseCount(get, "DATA_PIPELINES_RUN_RETENTION_COUNT") ?? 500,
    },
  };
}

function s3Lake(name: "dev" | "prod"): Storage {
  return { kind: "s3", bucket: `${name}-klimadao-data`, prefix: "lake/", label: `s3-bucket/${name}` };
}

export function parseStorage(variable: string, value: string, cwd: string): Storage {
  if (value === "local") return { kind: "local", dir: path.resolve(cwd, "data/lake"), label: "local" };
  if (value.startsWith("file:")) {
    const dir = value.slice("file:".length);
    if (!dir) throw new ConfigError(`${variable}: "file:" needs a folder, e.g. file:/srv/lake`);
    return { kind: "local", dir: path.resolve(cwd, dir), label: value };
  }
  if (value === "s3-bucket/dev" || value === "s3-bucket/prod") return s3Lake(value === "s3-bucket/dev" ? "dev" : "prod");
  const s3 = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(value);
  if (s3) {
    const prefix = (s3[2] ?? "").replace(/^\/+|\/+$/g, "");
    if (prefix.split("/").some((part) => part === ".." || part === ".")) {
      throw new ConfigError(`${variable}: the prefix of "${value}" may not contain . or .. segments`);
    }
    return { kind: "s3", bucket: s3[1]!, prefix: prefix ? `${prefix}/` : "", label: value };
  }
  throw new ConfigError(
    `${variable}: "${value}" is not local, file:<dir>, s3-bucket/dev, s3-bucket/prod or s3://<bucket>/<prefix>`,
  );
}

function parseCount(get: (name: string) => string | undefined, name: string): number | undefined {
  const value = get(name);
  if (value === undefined) return undefined;
  if (!/^[0-9]+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new ConfigError(`${name}: "${value}" is not a positive whole number`);
  }
  return Number(value);
}

function parseSeconds(get: (name: string) => string | undefined, name: string, fallback: number): number {
  const value = get(name);
  if (value === undefined) return fallback * 1000;
  if (!/^[0-9]+(\.[0-9]+)?$/.test(value)) throw new ConfigError(`${name}: "${value}" is not a number of seconds`);
  return Number(value) * 1000;
}

function parseUrl(name: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${name}: "${redact(value)}" is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(`${name}: "${redact(value)}" is not an http(s) URL`);
  }
  if (url.password) registerSecret(decodeURIComponent(url.password));
  return value;
}

/** The configuration as lines for `--help` and logs, secrets masked. */
export function describeConfig(config: Config): string[] {
  const u = config.urls;
  return [
    `lake: ${config.storage.label}${config.storage.kind === "local" ? ` (${config.storage.dir})` : ` (bucket ${config.storage.bucket}, prefix ${config.storage.prefix || "/"})`}`,
    `run history: ${config.db}`,
    `endpoints (${config.production ? "ENV=production: The Graph gateway" : "development: Studio URLs"}):`,
    `  carbon polygon  ${u.carbonPolygon}`,
    `  carbon eth      ${u.carbonEth}`,
    `  carbon celo     ${u.carbonCelo}`,
    `  holders         ${u.holders}`,
    `  pairs           ${u.pairs}`,
    `  verra           ${u.verraSearch}`,
    `  polygon rpc     ${u.polygonRpc ?? "(not set: WEB3_INFURA_PROJECT_ID or DATA_PIPELINES_POLYGON_RPC_URL)"}`,
    `retries: ${config.retries ? `on (backoff factor ${config.retryBackoffMs / 1000} s)` : "off"}${config.dryRun ? "; DRY RUN" : ""}`,
  ].map(redact);
}
