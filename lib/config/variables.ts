// Every environment variable we read, with its documentation (the source of `.env.dist` and of
// `--help`), and the refusal of a near miss: a misspelled name would otherwise be silently ignored.
import { ConfigError } from "../core/errors.ts";

/** The environment, as process.env gives it. */
export type Env = Record<string, string | undefined>;

/** Every variable we read, with its documentation (also the source of `.env.dist` and `--help`). */
export const VARIABLES: Record<string, string> = {
  DATA_PIPELINES_RESULT_STORAGE: "lake to write to: local | file:<dir> | s3-bucket/dev | s3-bucket/prod | s3://<bucket>/<prefix> (default local = ./data/lake)",
  AWS_STORAGE: "dev | prod: the S3 lake the clean-up and fetch scripts act on",
  AWS_ACCESS_KEY_ID: "S3 access key (secret)",
  AWS_SECRET_ACCESS_KEY: "S3 secret key (secret)",
  DATA_PIPELINES_S3_ENDPOINT: "S3 endpoint (default https://nyc3.digitaloceanspaces.com)",
  DATA_PIPELINES_DRY_RUN: "true (or 1, yes): Verra returns dummy data; flows validate but write nothing; artifact scripts only report",
  DATA_PIPELINES_MAX_RECORDS: "optional cap per subgraph query: the newest N records (default: complete)",
  DATA_PIPELINES_VERRA_MAX_RECORDS: "optional cap on Verra rows, oldest issuance first (default: complete)",
  DATA_PIPELINES_VERRA_CONCURRENCY: "Verra date windows fetched at once (default 4)",
  DATA_PIPELINES_RETRIES: "true | false | a number of attempts, the first included (default true: 4 attempts, i.e. 3 retries of transient failures)",
  DATA_PIPELINES_RETRY_BACKOFF_SECONDS: "backoff factor: retry n waits up to factor x 2^(n-1) seconds, full jitter (default 10)",
  DATA_PIPELINES_RETRY_AFTER_MAX_SECONDS: "longest Retry-After of a source that is honoured; a source asking for more fails the attempt (default 300)",
  DATA_PIPELINES_HTTP_TIMEOUT_SECONDS: "idle timeout of one HTTP request: no byte for this long fails it (default 300; more than 0)",
  DATA_PIPELINES_HTTP_DEADLINE_SECONDS: "total deadline of one HTTP request, connect to last byte (default 900; more than 0)",
  DATA_PIPELINES_HTTP_MAX_MB: "largest answer accepted from a source or an S3 object read, in MB; a larger one fails at once (default 512)",
  DATA_PIPELINES_CONCURRENCY: "flows run at once by build_all",
  DATA_PIPELINES_ARTIFACT_COMPRESSION: "how artifacts are compressed: lz4 | zstd | none (default lz4, what pandas writes; zstd needs Node 22.15 or later)",
  DATA_PIPELINES_DB: "run-history SQLite file (default ./data/runs.sqlite)",
  DATA_PIPELINES_LOG_FORMAT: "human | json (default human; --json on any command)",
  DATA_PIPELINES_SCHEDULE_FILE: "scheduler: JSON file of job schedules replacing the defaults (schedule.ts --schedule wins)",
  DATA_PIPELINES_SCHEDULER_GRACE_SECONDS: "scheduler: how long a running job may finish after SIGINT/SIGTERM before it is stopped (default 300)",
  DATA_PIPELINES_SCHEDULER_KILL_SECONDS: "scheduler: from SIGTERM to SIGKILL when a job is stopped (default 10)",
  DATA_PIPELINES_RUN_RETENTION_DAYS: "scheduler: run history and per-run logs older than this are deleted (default 90)",
  DATA_PIPELINES_RUN_RETENTION_COUNT: "scheduler: runs kept per flow, the newest (default 500)",
  DATA_PIPELINES_ALERT_WEBHOOK: "alerts: webhook URL(s), comma-separated (secret); a Slack incoming webhook gets a Slack message",
  DATA_PIPELINES_ALERT_COMMAND: "alerts: a shell command given each alert's JSON on stdin (secret)",
  DATA_PIPELINES_ALERT_TIMEOUT_SECONDS: "alerts: the longest one alert's delivery to one target takes, retries included (default 20)",
  DATA_PIPELINES_STATUS_ADDR: "status page: host:port the daemon serves it on, or off (default 127.0.0.1:8411)",
  DATA_PIPELINES_STATUS_TOKEN: "status page: token asked as a bearer token or basic-auth password; required off loopback (secret)",
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

/** Variables we do not read whose name is one or two letters away from one we do: a typo that would be silently ignored. */
export function reportMisspelled(env: Env): void {
  for (const name of Object.keys(env)) {
    if (name in VARIABLES || name.length < 6 || !/^[A-Z0-9_]+$/.test(name)) continue;
    if (name.startsWith("DATA_PIPELINES_")) {
      const near = Object.keys(VARIABLES).find((known) => within(known, name, 3));
      throw new ConfigError(`${name}: unknown variable${near ? ` (did you mean ${near}?)` : ""} (see .env.dist for the ones we read)`);
    }
    const near = Object.keys(VARIABLES).find((known) => within(known, name, 2));
    if (near) throw new ConfigError(`${name}: unknown variable; did you mean ${near}? (see .env.dist for the ones we read)`);
  }
}

/** Whether two names are at most `edits` apart; names whose lengths differ by more cannot be (and most do: this runs at every start). */
function within(a: string, b: string, edits: number): boolean {
  return Math.abs(a.length - b.length) <= edits && editDistance(a, b) <= edits;
}

/** Levenshtein distance, for typo hints. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
