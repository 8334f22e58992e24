// undici, loaded when a flow first makes a request (at import it would be most of a flow's start-up),
// through require, and once. A CommonJS package imported from an ES module has each of its files
// resolved by tsx's loader thread, one round trip each (undici's hundred: 30 ms more CPU), and an
// `await import()` at every request went through that thread again: with 17 flows asking at once,
// `build_all` ended 0.8 s later (docs/architecture.md §3).
import { createRequire } from "node:module";

let loaded: typeof import("undici") | undefined;

export function undici(): typeof import("undici") {
  return (loaded ??= createRequire(import.meta.url)("undici") as typeof import("undici"));
}
