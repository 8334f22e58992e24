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
  try {
    return !/^\d+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true;
  }
}
