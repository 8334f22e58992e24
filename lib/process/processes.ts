// Whether a process still runs, for the runs and temporary files a dead process left behind
// (lib/history/history.ts marks its runs crashed, lib/lake/local.ts removes its temporaries).
import { readFileSync } from "node:fs";

export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  // A zombie (ended, not yet reaped by its parent) runs nothing any more. Linux only; elsewhere it exists.
  return !processInfo(pid)?.zombie;
}

export interface ProcessInfo {
  ppid: number;
  /** Clock ticks after boot: with the pid, names one process even if the pid is reused. */
  startTime: string;
  zombie: boolean;
}

/** A process's parent, start time and state from /proc (Linux); undefined when it cannot be read. */
export function processInfo(pid: number): ProcessInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name in parentheses (which may hold spaces): state ppid ... starttime (22nd field).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(fields[1]), startTime: fields[19]!, zombie: fields[0] === "Z" };
  } catch {
    return undefined;
  }
}
