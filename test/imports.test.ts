// Imports run one way: no module of lib/, scripts/ or schedule.ts imports, directly or through
// others, a module that imports it back (static, type-only and dynamic `import()` alike). Read with
// the TypeScript compiler's own import scanner, so every form of import counts.
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import ts from "typescript";
import { ROOT, tempDir } from "./helpers.ts";

/** Every .ts file under `dirs` (and the single files given), as absolute paths. */
function sources(root: string, entries: string[]): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    if (statSync(p).isDirectory()) for (const name of readdirSync(p)) walk(path.join(p, name));
    else if (p.endsWith(".ts") && !p.endsWith(".d.ts")) out.push(p);
  };
  for (const entry of entries) walk(path.join(root, entry));
  return out;
}

/** The cycles among `files`: each as the list of files around it, the first repeated at the end. */
export function importCycles(files: string[]): string[][] {
  const known = new Set(files);
  const edges = new Map(files.map((file) => {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
    const targets = importedFiles.map((i) => i.fileName).filter((name) => name.startsWith("."))
      .map((name) => path.resolve(path.dirname(file), name)).filter((target) => known.has(target));
    return [file, [...new Set(targets)]];
  }));
  const cycles: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, "open");
    stack.push(file);
    for (const next of edges.get(file)!) {
      if (state.get(next) === "open") cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of files) if (!state.has(file)) visit(file);
  return cycles;
}

test("lib/, scripts/ and schedule.ts import one way: no import cycle", () => {
  const cycles = importCycles(sources(ROOT, ["lib", "scripts", "schedule.ts"]));
  assert.deepEqual(cycles.map((c) => c.map((f) => path.relative(ROOT, f)).join(" -> ")), [], "import cycles");
});

test("the check finds a cycle through a type-only and a dynamic import", (t) => {
  const dir = tempDir(t);
  mkdirSync(path.join(dir, "lib"));
  writeFileSync(path.join(dir, "lib", "a.ts"), 'import type { B } from "./b.ts";\nexport type A = B;\n');
  writeFileSync(path.join(dir, "lib", "b.ts"), 'export type B = string;\nexport const c = () => import("./c.ts");\n');
  writeFileSync(path.join(dir, "lib", "c.ts"), 'import "./a.ts";\n');
  writeFileSync(path.join(dir, "lib", "d.ts"), 'import "./a.ts";\n');
  const cycles = importCycles(sources(dir, ["lib"]));
  assert.deepEqual(cycles.map((c) => c.map((f) => path.basename(f)).join(" -> ")), ["a.ts -> b.ts -> c.ts -> a.ts"]);
});
