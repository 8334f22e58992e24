// Every process the project starts (the scheduler's jobs, build_all's and build_frequent's flows)
// is started by `spawnContained`: in a process group of its own, so that its parent stops it as a
// group (`signalGroup`) and a Ctrl-C meant for the parent does not reach it behind the parent's
// back; and with this module loaded (`--import`) and an IPC channel that the parent never uses: the
// channel closes only when the parent is gone (SIGKILL, a crash), and then the child stops itself
// as on SIGTERM (and stops its own children the same way). So nothing of ours outlives the process
// that started it, however that one ends. A process started any other way (by hand, by systemd)
// has no channel and is not affected.
import { spawn, type ChildProcess, type StdioNull, type StdioPipe } from "node:child_process";
import { parseDuration } from "../core/parse.ts";

const TSX = import.meta.resolve("tsx");
const SELF = import.meta.url;

/** Loaded twice (`--import` and imported by a parent module), it must watch the channel once. */
const WATCHING = Symbol.for("data-pipelines.exitWithParent");

if (process.channel && !(globalThis as Record<symbol, unknown>)[WATCHING]) {
  (globalThis as Record<symbol, unknown>)[WATCHING] = true;
  process.once("disconnect", () => {
    process.kill(process.pid, "SIGTERM");
    // Its own way of stopping may take the kill time (it stops its own children first); past that
    // and a margin, nothing more is waited for.
    setTimeout(() => process.kill(process.pid, "SIGKILL"), killAfterMs() + 5_000).unref();
  });
  // The unused channel must not keep a finished process alive.
  process.channel.unref();
}

/** DATA_PIPELINES_SCHEDULER_KILL_SECONDS, inherited from the parent (which checked it); 10 s when unset. */
function killAfterMs(): number {
  try {
    return parseDuration(process.env.DATA_PIPELINES_SCHEDULER_KILL_SECONDS ?? "10", "DATA_PIPELINES_SCHEDULER_KILL_SECONDS", { allowZero: true });
  } catch {
    return 10_000;
  }
}

/**
 * `node --import tsx --import <this module> <script> ...args`: its own process group, and the IPC
 * channel that stops it when this process dies. Stop it with `signalGroup`.
 */
export function spawnContained(
  script: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; stdio: [StdioNull | StdioPipe, StdioNull | StdioPipe, StdioNull | StdioPipe] },
): ChildProcess {
  return spawn(process.execPath, ["--import", TSX, "--import", SELF, script, ...args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: [...options.stdio, "ipc"],
    detached: true,
  });
}

/**
 * A signal to a child and every process of its group, also those left after the child itself has
 * ended (a pid is not reused while a group of that number has members).
 */
export function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}
