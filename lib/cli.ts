// What every command shares: `.env` loading, config, common flags, one clear
// error line and a non-zero exit on failure, `--help`.
import { config as loadDotenv } from "dotenv";
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { describeConfig, loadConfig, type Config } from "./config.ts";
import { errorMessage, UserError } from "./errors.ts";
import type { Flow } from "./flow.ts";
import type { Trigger } from "./history.ts";
import { Logger } from "./log.ts";
import { redact } from "./redact.ts";

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
}

/**
 * Run a command: parse flags, load `.env` and the configuration, call `body`;
 * the exit code is what `body` returns. Expected failures print one line.
 */
export async function command<O extends NonNullable<ParseArgsConfig["options"]>>(
  spec: CommandSpec<O>,
  body: (ctx: CommandContext<Record<string, string | boolean | string[] | boolean[] | undefined>>) => Promise<number>,
): Promise<void> {
  let verbose = process.argv.includes("--verbose");
  try {
    const { values, positionals } = parseArgs({
      args: process.argv.slice(2),
      options: { ...COMMON_OPTIONS, ...spec.options },
      allowPositionals: spec.allowPositionals ?? false,
      strict: true,
    });
    verbose = Boolean(values.verbose);
    loadDotenv({ quiet: true });
    if (values.help) {
      const lines = [spec.usage, ...spec.help, "", "common options: --json (JSON log lines)  --progress (progress lines off a terminal)  --verbose (stack traces)  --help"];
      if (spec.showConfig) {
        lines.push("", "configuration (from the environment and .env; see .env.dist):");
        try {
          lines.push(...describeConfig(loadConfig()).map((l) => `  ${l}`));
        } catch (error) {
          lines.push(`  ${errorMessage(error)}`);
        }
      }
      process.stdout.write(`${lines.join("\n")}\n`);
      return;
    }
    const config = loadConfig();
    const log = new Logger({
      format: values.json ? "json" : config.logFormat,
      progress: values.progress ? true : undefined,
    });
    process.exitCode = await body({ values: values as Record<string, string | boolean | undefined>, positionals, config, log });
  } catch (error) {
    process.exitCode = 1;
    const expected = error instanceof UserError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    process.stderr.write(`error: ${redact(errorMessage(error))}${expected || verbose ? "" : " (--verbose shows where)"}\n`);
    if (verbose && error instanceof Error && error.stack) process.stderr.write(`${redact(error.stack)}\n`);
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
      const [{ runFlow }, { RunHistory }, { openLake }] = await Promise.all([import("./flow.ts"), import("./history.ts"), import("./lake.ts")]);
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
    throw new UserError(`--trigger: "${trigger}" is not manual, schedule or build_all`);
  }
  const id = (option: string): number | null => {
    const value = values[option] as string | undefined;
    if (value === undefined) return null;
    if (!/^[0-9]+$/.test(value)) throw new UserError(`--${option}: "${value}" is not a run id`);
    return Number(value);
  };
  return { trigger: trigger as Trigger, parentId: id("parent-run"), runId: id("run-id") };
}
