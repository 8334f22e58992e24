// Garbage collected between the flows of a build. V8 frees a buffer (a column, an artifact read or
// written) only when its next full collection finds it unused, and it schedules those by the growth
// of its own heap, not of the buffers: a derived build carried up to 200 MB of its finished flows'
// columns into the next ones (docs/architecture.md §10).
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** Garbage in buffers past which a collection pays: below it, V8's own schedule is cheaper (the 17 derived flows: 6 collections of 15 to 30 ms). */
export const GARBAGE_LIMIT_BYTES = 32 * 1024 * 1024;

let gc: (() => void) | undefined;

/** A full collection now: the `gc` of --expose-gc without the flag (it would have to be on every command line); a context made once the flag is set has it. */
export function collectGarbage(): void {
  if (!gc) {
    setFlagsFromString("--expose-gc");
    gc = runInNewContext("gc") as () => void;
  }
  gc();
}

/**
 * A full collection now, when the process's buffers exceed `neededBytes` (those still in use) by
 * more than `limitBytes`. True when it collected; the buffers found unused are freed just after, by
 * a V8 thread.
 */
export function collectGarbageBeyond(neededBytes: number, limitBytes = GARBAGE_LIMIT_BYTES): boolean {
  if (process.memoryUsage().arrayBuffers - neededBytes <= limitBytes) return false;
  collectGarbage();
  return true;
}
