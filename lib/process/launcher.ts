// A command started through `npx` or `npm run` has npm as its launcher, and npm does not pass
// SIGTERM or SIGINT on to its children: `kill <npx pid>` (a supervisor, `kill %1`, `timeout`) ends
// npm at once and leaves the command running, orphaned. So a command looks for such a launcher
// among its ancestors at start and, when it ends, stops the way it would on SIGTERM.
// Linux only (/proc); elsewhere nothing is watched.
import { readFileSync } from "node:fs";
import { processInfo } from "./processes.ts";

/** npm sets its process title to `npm exec …` / `npm run …`; older ones show the npm-cli.js path. */
function isNpm(pid: number): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return /^(npm|npx)( |$)/.test(argv[0]!) || argv.slice(0, 2).some((a) => /(^|\/)(npm|npx)(-cli\.js)?$/.test(a));
  } catch {
    return false;
  }
}

export interface Launcher {
  pid: number;
  startTime: string;
}

/** The nearest npm/npx ancestor within a few generations (npx → sh → tsx → this process). */
export function findLauncher(from = process.ppid): Launcher | undefined {
  let pid = from;
  for (let depth = 0; depth < 5 && pid > 1; depth++) {
    const info = processInfo(pid);
    if (!info) return undefined;
    if (isNpm(pid)) return { pid, startTime: info.startTime };
    pid = info.ppid;
  }
  return undefined;
}

export function launcherAlive(launcher: Launcher): boolean {
  const info = processInfo(launcher.pid);
  return info !== undefined && !info.zombie && info.startTime === launcher.startTime;
}

/**
 * Call `onGone` once when the npm launcher of this process has ended (checked every `everyMs`).
 * Returns a function that stops watching; the timer never keeps the process alive.
 */
export function watchLauncher(onGone: (launcher: Launcher) => void, everyMs = 500): () => void {
  const launcher = findLauncher();
  if (!launcher) return () => {};
  const timer = setInterval(() => {
    if (launcherAlive(launcher)) return;
    clearInterval(timer);
    onGone(launcher);
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
