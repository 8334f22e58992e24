// When V8 compiles a hot function with its optimizing compiler (TurboFan). V8 11.3 (Node 20) does it
// once about 66 KB of the function's bytecode has run, which suits servers that live for days: a
// command here lives seconds, and optimizing every function that warms up in that time cost the 17
// derived flows 1.4 s of CPU on V8's background threads, more than a quarter of their CPU, for code
// that then ran for milliseconds (docs/architecture.md §3). Sixteen times as much optimizes only the
// code that keeps running. Only when code is optimized changes, never what it computes.
import { setFlagsFromString } from "node:v8";

/** How much later: 16 times V8's default (`npm run bench -- derived`: 8 and 32 times did worse on Node 20). */
export const TIERING_FACTOR = 16;

/**
 * The flag that makes V8 optimize later, for the V8 versions it was measured on or checked against:
 * V8 11.3 (Node 20) optimizes a function once 67,584 bytes of its bytecode have run; V8 11.8 to 14
 * (Node 21 to 26) count invocations, 3,000 before TurboFan (Maglev, their cheaper middle compiler, is
 * left as it is). Another V8 may name its flags otherwise (it would print an error for one it does
 * not know): undefined.
 */
export function tieringFlag(v8Version = process.versions.v8): string | undefined {
  const [major = 0, minor = 0] = v8Version.split(".").map(Number);
  if (major === 11 && minor === 3) return `--interrupt-budget=${67_584 * TIERING_FACTOR}`;
  if ((major === 11 && minor >= 8) || (major >= 12 && major <= 14)) return `--invocation-count-for-turbofan=${3_000 * TIERING_FACTOR}`;
  return undefined;
}

/** Set before the flows' code runs, it governs them: V8 reads it each time a function's budget is spent. */
export function optimizeOnlyLongRunningCode(): void {
  const flag = tieringFlag();
  if (flag) setFlagsFromString(flag);
}
