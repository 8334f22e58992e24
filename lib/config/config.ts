// Configuration from the environment (and `.env`, loaded by the CLI): typed,
// validated once at start. A bad value stops the script with a line naming it.
import path from "node:path";
import type { Compression } from "../artifact/artifact.ts";
import { ConfigError, errorMessage } from "../core/errors.ts";
import { parseBoolean, parseDuration, parseWhole } from "../core/parse.ts";
import { isCredentialParameter, redact, registerSecret } from "../core/redact.ts";
import { parseListen, type StatusSettings } from "./status.ts";
import { reportMisspelled, type Env } from "./variables.ts";

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
  /** Tries of a source request, the first included (DATA_PIPELINES_RETRIES: true = 4, false = 1, or a number). */
  attempts: number;
  retryBackoffMs: number;
  /** Longest a `Retry-After` may make us wait; a source asking for more fails the attempt. */
  retryAfterMaxMs: number;
  /** Idle timeout of one HTTP request: no byte for this long fails it. */
  httpTimeoutMs: number;
  /** Total deadline of one HTTP request: connect, headers and body together. */
  httpDeadlineMs: number;
  /** Largest answer accepted from a source, in bytes; a larger one fails at once (not retried). */
  httpMaxBytes: number;
  concurrency: number | undefined;
  /** How artifacts are written (DATA_PIPELINES_ARTIFACT_COMPRESSION): Arrow body compression, lz4 by default. */
  artifactCompression: Compression;
  db: string;
  production: boolean;
  urls: Urls;
  logFormat: "human" | "json";
  scheduler: SchedulerConfig;
  /** Where alerts go (lib/alerts/alert.ts). */
  alert: AlertSettings;
  /** The status page (lib/status/server.ts). */
  status: StatusSettings;
}

/** Alerts: webhooks and a command (both secrets), and how long one alert's delivery may take. */
export interface AlertSettings {
  webhooks: string[];
  command: string | undefined;
  /** One alert's delivery to one target, every attempt and wait included. */
  timeoutMs: number;
}

export type { StatusSettings };

/** The scheduler daemon's settings (`schedule.ts`). */
export interface SchedulerConfig {
  /** A JSON schedule replacing the default one; undefined: the defaults of docs/architecture.md §8. */
  scheduleFile: string | undefined;
  /** How long a running job may go on after SIGINT/SIGTERM before it is stopped. */
  graceMs: number;
  /** Between SIGTERM and SIGKILL when a job is stopped (timeout, shutdown). */
  killAfterMs: number;
  retentionDays: number;
  retentionRuns: number;
}

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

export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const get = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value.trim() === "" ? undefined : value.trim();
  };
  for (const secret of ["GRAPH_API_KEY", "WEB3_INFURA_PROJECT_ID", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DATA_PIPELINES_ALERT_COMMAND", "DATA_PIPELINES_STATUS_TOKEN"]) {
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
  reportMisspelled(env);
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
    dryRun: parse(get, "DATA_PIPELINES_DRY_RUN", parseBoolean) ?? false,
    maxRecords: parseCount(get, "DATA_PIPELINES_MAX_RECORDS"),
    verraMaxRecords: parseCount(get, "DATA_PIPELINES_VERRA_MAX_RECORDS"),
    verraConcurrency: parseCount(get, "DATA_PIPELINES_VERRA_CONCURRENCY") ?? 4,
    attempts: parse(get, "DATA_PIPELINES_RETRIES", parseAttempts) ?? DEFAULT_ATTEMPTS,
    retryBackoffMs: parseSeconds(get, "DATA_PIPELINES_RETRY_BACKOFF_SECONDS", 10, { allowZero: true }),
    retryAfterMaxMs: parseSeconds(get, "DATA_PIPELINES_RETRY_AFTER_MAX_SECONDS", 300, { allowZero: true }),
    httpTimeoutMs: parseSeconds(get, "DATA_PIPELINES_HTTP_TIMEOUT_SECONDS", 300),
    httpDeadlineMs: parseSeconds(get, "DATA_PIPELINES_HTTP_DEADLINE_SECONDS", 900),
    httpMaxBytes: (parseCount(get, "DATA_PIPELINES_HTTP_MAX_MB") ?? 512) * 1_000_000,
    concurrency: parseCount(get, "DATA_PIPELINES_CONCURRENCY"),
    artifactCompression: parseCompression(get("DATA_PIPELINES_ARTIFACT_COMPRESSION") ?? "lz4"),
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
      graceMs: parseSeconds(get, "DATA_PIPELINES_SCHEDULER_GRACE_SECONDS", 300, { allowZero: true }),
      killAfterMs: parseSeconds(get, "DATA_PIPELINES_SCHEDULER_KILL_SECONDS", 10, { allowZero: true }),
      retentionDays: parseCount(get, "DATA_PIPELINES_RUN_RETENTION_DAYS") ?? 90,
      retentionRuns: parseCount(get, "DATA_PIPELINES_RUN_RETENTION_COUNT") ?? 500,
    },
    alert: {
      webhooks: parseWebhooks(get("DATA_PIPELINES_ALERT_WEBHOOK")),
      command: get("DATA_PIPELINES_ALERT_COMMAND"),
      timeoutMs: parseSeconds(get, "DATA_PIPELINES_ALERT_TIMEOUT_SECONDS", 20),
    },
    status: {
      listen: parseListen(get("DATA_PIPELINES_STATUS_ADDR") ?? "127.0.0.1:8411", "DATA_PIPELINES_STATUS_ADDR"),
      token: parseToken(get("DATA_PIPELINES_STATUS_TOKEN")),
    },
  };
}

/** Alert webhooks: each URL is a secret (registered before anything could print it), named by position in errors. */
function parseWebhooks(value: string | undefined): string[] {
  const urls = (value ?? "").split(",").map((u) => u.trim()).filter(Boolean);
  urls.forEach((url, i) => {
    registerSecret(url);
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (parsed?.protocol !== "http:" && parsed?.protocol !== "https:") {
      throw new ConfigError(`DATA_PIPELINES_ALERT_WEBHOOK: URL ${i + 1} of ${urls.length} is not an http(s) URL`);
    }
    if (parsed.password) registerSecret(decodeURIComponent(parsed.password));
  });
  return urls;
}

/** The status page's token: long enough not to be guessed, and masked like every secret. */
function parseToken(value: string | undefined): string | undefined {
  if (value !== undefined && value.length < 16) throw new ConfigError("DATA_PIPELINES_STATUS_TOKEN: shorter than 16 characters (use e.g. openssl rand -hex 24)");
  return value;
}

/** DATA_PIPELINES_ARTIFACT_COMPRESSION; zstd only where Node's zlib writes it (22.15 and later). */
function parseCompression(value: string): Compression {
  const name = "DATA_PIPELINES_ARTIFACT_COMPRESSION";
  if (value !== "lz4" && value !== "zstd" && value !== "none") throw new ConfigError(`${name}: "${value}" is not lz4, zstd or none`);
  if (value === "zstd" && !("zstdCompressSync" in process.getBuiltinModule("node:zlib"))) {
    throw new ConfigError(`${name}: zstd needs Node 22.15 or later (this is Node ${process.versions.node}); use lz4 or none, or upgrade Node`);
  }
  return value;
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

type Get = (name: string) => string | undefined;

/** A variable read with one of lib/core/parse.ts's parsers; its error becomes a ConfigError (exit 2) naming the variable. */
function parse<T>(get: Get, name: string, parser: (value: string, name: string) => T): T | undefined {
  const value = get(name);
  if (value === undefined) return undefined;
  try {
    return parser(value, name);
  } catch (error) {
    throw new ConfigError(errorMessage(error));
  }
}

function parseCount(get: Get, name: string): number | undefined {
  return parse(get, name, (value) => parseWhole(value, name, { min: 1 }));
}

/** The longest a Node timer waits (about 24.8 days): a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function parseSeconds(get: Get, name: string, fallback: number, options: { allowZero?: boolean } = {}): number {
  return parse(get, name, (value) => parseDuration(value, name, { ...options, unit: "s", maxMs: MAX_TIMER_MS })) ?? fallback * 1000;
}

/** 3 retries after the first try (docs/architecture.md §6). */
export const DEFAULT_ATTEMPTS = 4;

/** DATA_PIPELINES_RETRIES: true (the default attempts), false (one attempt), or a number of attempts. */
function parseAttempts(value: string, name: string): number {
  if (/^[0-9]+$/.test(value)) return parseWhole(value, name, { min: 1, max: 100 });
  return parseBoolean(value, name) ? DEFAULT_ATTEMPTS : 1;
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
  if (url.username) registerSecret(decodeURIComponent(url.username));
  for (const [parameter, secret] of url.searchParams) if (isCredentialParameter(parameter)) registerSecret(secret);
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
    `http: idle timeout ${config.httpTimeoutMs / 1000} s, deadline ${config.httpDeadlineMs / 1000} s, answers up to ${config.httpMaxBytes / 1e6} MB, Retry-After up to ${config.retryAfterMaxMs / 1000} s`,
    `retries: ${config.attempts > 1 ? `${config.attempts} attempts (backoff factor ${config.retryBackoffMs / 1000} s)` : "off"}${config.dryRun ? "; DRY RUN" : ""}`,
  ].map(redact);
}
