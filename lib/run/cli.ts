// What every command shares: `.env` loading, config, common flags (--help, --version, --json,
// --progress, --verbose), and how a command ends: exit 0 on success, 2 for a usage error (with a
// pointer to --help), 1 for any other failure, each failure one line on stderr (JSON with --json).
// It also ends the process the way a good Unix tool does: quietly when the reader of its output
// goes away (EPIPE), and on SIGTERM/SIGINT, an uncaught error or the end of its npm launcher only
// after recording every run it holds open (lib/process/last_resort.ts).
import { config as loadDotenv } from "dotenv";
import { readFileSync, realpathSync, statSync } from "node:fs";
import { constants } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { describeConfig, loadConfig, type Config } from "../config/config.ts";
import { errorMessage, UsageError, UserError } from "../core/errors.ts";
import type { Flow } from "../flows/flow.ts";
import type { Trigger } from "../history/history.ts";
import { endOpenRuns } from "../process/last_resort.ts";
import { watchLauncher } from "../process/launcher.ts";
import { Logger } from "../core/log.ts";
import { parseWhole } from "../core/parse.ts";
import { redact } from "../core/redact.ts";
import { optimizeOnlyLongRunningCode } from "../core/tiering.ts";

// Every command lives seconds: V8 optimizes only the code that keeps running (lib/core/tiering.ts).
optimizeOnlyLongRunningCode();

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/** True when the module is the script node was started with (not imported). */
export function isMain(meta: ImportMeta): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(meta.url));
  } catch {
    return false;
  }
}

const COMMON_OPTIONS = {
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
  json: { type: "boolean" },
  progress: { type: "boolean" },
  verbose: { type: "boolean" },
} as const satisfies ParseArgsConfig["options"];

export interface CommandContext<V> {
  values: V;
  positionals: string[];
  config: Config;
  log: Logger;
}

export interface CommandSpec<O extends NonNullable<ParseArgsConfig["options"]>> {
  usage: string;
  /** Lines of help after the usage line. */
  help: string[];
  options?: O;
  allowPositionals?: boolean;
  /** Show the configuration (lake, endpoints) in --help. */
  showConfig?: boolean;
  /** The command handles SIGINT/SIGTERM itself (the scheduler daemon's graceful stop). */
  ownSignals?: boolean;
}

/** `data-pipelines 0.1.0 (commit 1a2b3c4d5e6f)`: what runs on a machine, for --version. */
export function versionLine(root = ROOT): string {
  const { name, version } = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { name: string; version: string };
  const commit = gitCommit(root);
  return `${name} ${version}${commit ? ` (commit ${commit.slice(0, 12)})` : ""}, Node ${process.version}`;
}

/**
 * The commit checked out in `root`, read from .git without running git; undefined outside a checkout.
 * In a linked worktree (`git worktree add`) or a submodule, .git is a file naming the folder that
 * holds HEAD, and the branches are in the repository's common folder.
 */
function gitCommit(root: string): string | undefined {
  try {
    const dotGit = path.join(root, ".git");
    const pointer = statSync(dotGit).isFile() ? /^gitdir: (.+)$/m.exec(readFileSync(dotGit, "utf8"))?.[1]?.trim() : undefined;
    const git = pointer ? path.resolve(root, pointer) : dotGit;
    const head = readFileSync(path.join(git, "HEAD"), "utf8").trim();
    const ref = /^ref: (.+)$/.exec(head)?.[1];
    if (!ref) return /^[0-9a-f]{40}$/.test(head) ? head : undefined;
    let common = git;
    try {
      common = path.resolve(git, readFileSync(path.join(git, "commondir"), "utf8").trim());
    } catch {
      // a checkout's own .git folder: it is the common folder
    }
    for (const folder of new Set([git, common])) {
      try {
        return readFileSync(path.join(folder, ref), "utf8").trim();
      } catch {
        // packed, or in the common folder
      }
    }
    const packed = readFileSync(path.join(common, "packed-refs"), "utf8");
    return packed.split("\n").find((line) => line.endsWith(` ${ref}`))?.split(" ")[0];
  } catch {
    return undefined;
  }
}

/** How the final error line is written: JSON with --json (or DATA_PIPELINES_LOG_FORMAT=json), a stack with --verbose. */
interface Reporting {
  json: boolean;
  verbose: boolean;
}

/** The signals that stop a command (exit 128 + the signal's number, from os.constants). */
const STOP_SIGNALS: NodeJS.Signals[] = ["SIGHUP", "SIGINT", "SIGTERM"];

/** The exit status a failure gives: 2 for a usage error, 1 for anything else. */
export function exitCodeOf(error: unknown): number {
  return error instanceof UsageError || isParseArgsError(error) ? 2 : 1;
}

function isParseArgsError(error: unknown): boolean {
  return Boolean((error as { code?: string } | null)?.code?.startsWith("ERR_PARSE_ARGS"));
}

/** node:util's parseArgs messages, said as one short line that points to --help. */
function usageMessage(error: unknown): string {
  const message = errorMessage(error);
  const option = /'(-[^ ']+)/.exec(message)?.[1];
  const code = (error as { code?: string }).code;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return `unknown option ${option ?? message}`;
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    if (/argument missing/.test(message)) return `${option} needs a value`;
    // `--rows -1`: the value looks like an option.
    const value = /specify the option argument for '[^']+'|ambiguous/.test(message) ? argvAfter(option) : undefined;
    return value !== undefined ? `${option} needs a value (write ${option}=${value} if "${value}" is the value)` : `${option} takes no value`;
  }
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") return `unexpected argument ${/'([^']*)'/.exec(message)?.[1] ?? message}`;
  return message;
}

/** The argument after `option` on the command line. */
function argvAfter(option: string | undefined): string | undefined {
  const args = process.argv.slice(2);
  const at = option === undefined ? -1 : args.indexOf(option);
  return at >= 0 ? args[at + 1] : undefined;
}

/** One line on stderr for a failure; with --verbose the stack follows. Never throws (stderr may be gone). */
function reportFailure(error: unknown, reporting: Reporting, hint = ""): void {
  const usage = exitCodeOf(error) === 2;
  const message = redact(isParseArgsError(error) ? usageMessage(error) : errorMessage(error));
  const expected = error instanceof UserError || usage;
  const suffix = usage ? " (see --help)" : expected || reporting.verbose ? hint : `${hint} (--verbose shows where)`;
  try {
    if (reporting.json) {
      process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: "error", msg: `${message}${suffix}`, exit: exitCodeOf(error) })}\n`);
    } else {
      process.stderr.write(`error: ${message}${suffix}\n`);
    }
    if (reporting.verbose && error instanceof Error && error.stack) process.stderr.write(`${redact(error.stack)}\n`);
  } catch {
    // stderr is closed: nothing more to say.
  }
}

/**
 * The ways a command can end early, handled once for every command: the reader of stdout or
 * stderr went away (exit 0, as `git log | head`), an uncaught error or unhandled rejection (a bug:
 * one line, exit 1), SIGINT/SIGTERM/SIGHUP and the end of an npm launcher (exit 128+n). Each first
 * records the runs the process holds open.
 */
function guardProcess(reporting: Reporting, ownSignals: boolean): void {
  const quit = (code: number, reason: string) => {
    endOpenRuns(reason);
    process.exit(code);
  };
  // A child of the scheduler or of build_all whose parent was killed meets a closed pipe too: say which.
  const hadParentChannel = Boolean(process.channel);
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "EPIPE" && error.code !== "ERR_STREAM_DESTROYED") return lastResort(error);
      quit(0, hadParentChannel && !process.connected ? "stopped: its parent process ended" : "stopped: the reader of its output went away");
    });
  }
  const lastResort = (error: unknown) => {
    reportFailure(error, reporting, " (an unexpected failure: please report it)");
    quit(1, `crashed: ${redact(errorMessage(error))}`);
  };
  process.on("uncaughtException", lastResort);
  process.on("unhandledRejection", lastResort);
  if (!ownSignals) {
    for (const signal of STOP_SIGNALS) {
      process.once(signal, () => {
        const open = endOpenRuns(`stopped by ${signal}`);
        reportFailure(new UserError(`stopped by ${signal}${open ? `; ${open} open run(s) recorded as failed` : ""}`), reporting);
        process.exit(128 + constants.signals[signal]);
      });
    }
  }
  // A child of ours (the daemon's job, a build's flow) follows its parent instead (lib/process/exit_with_parent.ts):
  // its own stop is the parent's to decide, grace period included.
  if (hadParentChannel) return;
  watchLauncher((launcher) => {
    try {
      process.stderr.write(`its launcher (npm, pid ${launcher.pid}) has ended: stopping as on SIGTERM\n`);
    } catch {
      // stderr went with the launcher.
    }
    process.kill(process.pid, "SIGTERM");
  });
}

/**
 * Run a command: parse flags, load `.env` and the configuration, call `body`;
 * the exit code is what `body` returns. Expected failures print one line.
 */
export async function command<O extends NonNullable<ParseArgsConfig["options"]>>(
  spec: CommandSpec<O>,
  body: (ctx: CommandContext<Record<string, string | boolean | string[] | boolean[] | undefined>>) => Promise<number>,
): Promise<void> {
  const argv = process.argv.slice(2);
  const reporting: Reporting = { verbose: argv.includes("--verbose"), json: argv.includes("--json") || process.env.DATA_PIPELINES_LOG_FORMAT === "json" };
  guardProcess(reporting, spec.ownSignals ?? false);
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...COMMON_OPTIONS, ...spec.options },
      allowPositionals: spec.allowPositionals ?? false,
      strict: true,
    });
    if (values.version) {
      process.stdout.write(`${versionLine()}\n`);
      return;
    }
    loadDotenv({ quiet: true });
    if (values.help) {
      const lines = [spec.usage, ...spec.help, "", "common options: --json (JSON log lines)  --progress (progress lines off a terminal)  --verbose (stack traces)  --version  --help"];
      if (spec.showConfig) {
        lines.push("", "configuration (from the environment and .env; see .env.dist):");
        try {
          lines.push(...describeConfig(loadConfig()).map((l) => `  ${l}`));
        } catch (error) {
          lines.push(`  ${redact(errorMessage(error))}`);
        }
      }
      process.stdout.write(`${lines.join("\n")}\n`);
      return;
    }
    const config = loadConfig();
    reporting.json ||= config.logFormat === "json";
    const log = new Logger({
      format: values.json ? "json" : config.logFormat,
      progress: values.progress ? true : undefined,
      verbose: Boolean(values.verbose),
    });
    process.exitCode = await body({ values: values as Record<string, string | boolean | undefined>, positionals, config, log });
  } catch (error) {
    process.exitCode = exitCodeOf(error);
    reportFailure(error, reporting);
  }
}

/** Run a flow script from the command line when it is the main module. */
export function runWhenMain(meta: ImportMeta, flow: Flow): void {
  if (!isMain(meta)) return;
  void command(
    {
      usage: `usage: npx tsx scripts/${flow.slug}.ts [options]`,
      help: [
        "",
        flow.kind === "source"
          ? `Fetches ${flow.slug} from its source, validates it against the previous ${flow.slug}-latest and writes it to the lake.`
          : `Builds ${flow.slug} from ${flow.from.map((s) => `${s}-latest`).join(", ")}, validates it against the previous ${flow.slug}-latest and writes it to the lake.`,
        `Writes ${flow.historized === false ? `${flow.slug}-latest only` : `${flow.slug}-<YYYY_MM_DD__HH_MM_SS> then ${flow.slug}-latest`}; records the run in the run history.`,
        RUN_OPTIONS_HELP,
        "  --stale-upstream <slug,...>: set by build_all (upstreams that failed in this build)",
      ],
      options: { ...RUN_OPTIONS, "stale-upstream": { type: "string" } },
      showConfig: true,
    },
    async ({ values, config, log }) => {
      // Loaded here, not at the top: every command imports this module, and --help should start fast.
      const [{ runFlow }, { RunHistory }, { openLake }] = await Promise.all([import("./runner.ts"), import("../history/history.ts"), import("../lake/lake.ts")]);
      const lake = await openLake(config.storage, config);
      const history = RunHistory.open(config.db);
      try {
        const { trigger, parentId, runId } = runOrigin(values);
        // build_all says which upstreams failed in this build: the flow runs on their previous -latest.
        const staleUpstreams = typeof values["stale-upstream"] === "string" ? values["stale-upstream"].split(",").filter(Boolean) : [];
        // A failure is logged by the runner as one line with the run id.
        const result = await runFlow(flow, { config, lake, history, log, trigger, parentId, runId, staleUpstreams });
        return result.status === "succeeded" ? 0 : 1;
      } finally {
        history.close();
      }
    },
  );
}

/** Options of every command that records a run: set by build_all and the scheduler. */
export const RUN_OPTIONS = {
  trigger: { type: "string" },
  "parent-run": { type: "string" },
  "run-id": { type: "string" },
} as const satisfies ParseArgsConfig["options"];

export const RUN_OPTIONS_HELP = "  --trigger manual|schedule|build_all, --parent-run <id>, --run-id <id>: set by build_all and the scheduler";

export interface RunOrigin {
  trigger: Trigger;
  parentId: number | null;
  /** A run recorded by the scheduler before it started this process: the command takes it over. */
  runId: number | null;
}

/** `--trigger`, `--parent-run` and `--run-id`, given by build_all and the scheduler to the commands they start. */
export function runOrigin(values: Record<string, unknown>): RunOrigin {
  const trigger = (values.trigger ?? "manual") as string;
  if (!["manual", "schedule", "build_all"].includes(trigger)) {
    throw new UsageError(`--trigger: "${trigger}" is not manual, schedule or build_all`);
  }
  const id = (option: string): number | null => {
    const value = values[option] as string | undefined;
    return value === undefined ? null : parseWhole(value, `--${option}`, { min: 1 });
  };
  return { trigger: trigger as Trigger, parentId: id("parent-run"), runId: id("run-id") };
}
