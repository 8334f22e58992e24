// Imports run one way: no module of lib/, scripts/ or schedule.ts imports, directly or through
// others, a module that imports it back (static, type-only and dynamic `import()` alike); and the
// parts of lib/ (its folders) are layered the same way: no folder reaches back into one that uses
// it. Read with the TypeScript compiler's own import scanner, so every form of import counts.
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

/** Each file's imports among `files` (relative specifiers only: packages are outside the question). */
function importGraph(files: string[]): Map<string, string[]> {
  const known = new Set(files);
  return new Map(files.map((file) => {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
    const targets = importedFiles.map((i) => i.fileName).filter((name) => name.startsWith("."))
      .map((name) => path.resolve(path.dirname(file), name)).filter((target) => known.has(target));
    return [file, [...new Set(targets)]];
  }));
}

/** The same graph between folders: a folder imports another when one of its files imports one of the other's. */
function folderGraph(files: string[]): Map<string, string[]> {
  const folders = new Map<string, Set<string>>();
  for (const [file, targets] of importGraph(files)) {
    const from = path.dirname(file);
    const out = folders.get(from) ?? new Set<string>();
    for (const target of targets) if (path.dirname(target) !== from) out.add(path.dirname(target));
    folders.set(from, out);
  }
  for (const targets of folders.values()) for (const target of targets) if (!folders.has(target)) folders.set(target, new Set());
  return new Map([...folders].map(([folder, targets]) => [folder, [...targets]]));
}

/** The cycles among `files`: each as the list of files around it, the first repeated at the end. */
export function importCycles(files: string[]): string[][] {
  return cycles(importGraph(files));
}

/** The cycles of a graph, each as the nodes around it, the first repeated at the end. */
function cycles(edges: Map<string, string[]>): string[][] {
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
  for (const node of edges.keys()) if (!state.has(node)) visit(node);
  return cycles;
}

test("lib/, scripts/ and schedule.ts import one way: no import cycle", () => {
  const cycles = importCycles(sources(ROOT, ["lib", "scripts", "schedule.ts"]));
  assert.deepEqual(cycles.map((c) => c.map((f) => path.relative(ROOT, f)).join(" -> ")), [], "import cycles");
});

test("the parts of lib/ (its folders) import one way: no folder imports one that imports it back", () => {
  const graph = folderGraph(sources(ROOT, ["lib"]));
  assert.ok(graph.size >= 10, `lib/ has its parts in folders (${graph.size} found)`);
  assert.deepEqual(cycles(graph).map((c) => c.map((f) => path.relative(ROOT, f)).join(" -> ")), [], "folder cycles");
});

test("the folder check finds two folders that import each other, through files that do not form a cycle", (t) => {
  const dir = tempDir(t);
  for (const folder of ["lake", "run"]) mkdirSync(path.join(dir, "lib", folder), { recursive: true });
  writeFileSync(path.join(dir, "lib", "lake", "a.ts"), 'import "../run/b.ts";\n');
  writeFileSync(path.join(dir, "lib", "run", "b.ts"), "export {};\n");
  writeFileSync(path.join(dir, "lib", "run", "c.ts"), 'import "../lake/d.ts";\n');
  writeFileSync(path.join(dir, "lib", "lake", "d.ts"), "export {};\n");
  const files = sources(dir, ["lib"]);
  assert.deepEqual(importCycles(files), [], "no file imports itself back");
  assert.deepEqual(cycles(folderGraph(files)).map((c) => c.map((f) => path.basename(f)).join(" -> ")), ["lake -> run -> lake"]);
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

/** Packages a flow script must not load at its start: each costs every start tenths of a second and tens of MiB. */
const LOADED_WHEN_NEEDED = ["viem", "@aws-sdk/client-s3", "i18n-iso-countries"];

/** What a file loads as it is loaded: its static imports that are not type-only (a dynamic import() waits). */
function loadedAtStart(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest);
  return source.statements.flatMap((s) => {
    if (!ts.isImportDeclaration(s) && !(ts.isExportDeclaration(s) && s.moduleSpecifier)) return [];
    if (ts.isImportDeclaration(s) ? s.importClause?.isTypeOnly : s.isTypeOnly) return [];
    return [(s.moduleSpecifier as ts.StringLiteral).text];
  });
}

test("starting a flow script loads neither viem, the S3 SDK nor i18n's 80 languages: they load when first needed", () => {
  const seen = new Set<string>();
  const packages: string[] = [];
  const visit = (file: string) => {
    // The demo's fake sources (test/fakes) are the demo's own business.
    if (seen.has(file) || path.relative(ROOT, file).startsWith("test")) return;
    seen.add(file);
    for (const specifier of loadedAtStart(file)) {
      if (specifier.startsWith(".")) visit(path.resolve(path.dirname(file), specifier));
      else if (LOADED_WHEN_NEEDED.includes(specifier)) packages.push(`${path.relative(ROOT, file)}: ${specifier}`);
    }
  };
  for (const script of sources(ROOT, ["scripts", "schedule.ts"])) visit(script);
  assert.ok(seen.has(path.join(ROOT, "lib", "sources", "polygon.ts")), "the walk reaches the module that calls the RPC");
  assert.deepEqual(packages, []);
});

test("the start-up check sees a static import through a re-export, and not a type-only or dynamic one", (t) => {
  const dir = tempDir(t);
  writeFileSync(path.join(dir, "a.ts"), 'import type { X } from "viem";\nexport { b } from "./b.ts";\nexport const s3 = () => import("@aws-sdk/client-s3");\n');
  writeFileSync(path.join(dir, "b.ts"), 'import countries from "i18n-iso-countries";\nexport const b = countries;\n');
  assert.deepEqual(loadedAtStart(path.join(dir, "a.ts")), ["./b.ts"]);
  assert.deepEqual(loadedAtStart(path.join(dir, "b.ts")), ["i18n-iso-countries"]);
});
