// Validation of a new table against the previous `-latest`: the columns it had, and rows and null
// shares that fall or rise more than a bound (docs/architecture.md §7).
import type { Column } from "../table/table.ts";

export interface TableShape {
  columns: Column[];
  rowCount: number;
  /** Null values by column, in the order of `columns` (when known: the null-share checks need them). */
  nullCounts?: number[];
}

/** A column's share of nulls may grow by this much (20 percentage points) before it must also not have doubled. */
export const NULL_SHARE_JUMP = 0.2;

/**
 * What makes `next` unacceptable as the successor of `previous`: row count under 99%, columns
 * added, removed or retyped; and, for columns not declared `sparse`, a column that had values and
 * is now all null, or whose share of nulls grew by more than 20 percentage points and at least
 * doubled (12% -> 35% fails; 30% -> 45%, 1% -> 15% pass).
 */
export function compareTables(previous: TableShape, next: TableShape, sparse: readonly string[] = []): string[] {
  const problems: string[] = [];
  if (next.rowCount < 0.99 * previous.rowCount) {
    problems.push(`${next.rowCount} rows, fewer than 99% of the previous ${previous.rowCount} rows`);
  }
  const before = new Map(previous.columns.map((c) => [c.name, c.type]));
  const after = new Map(next.columns.map((c) => [c.name, c.type]));
  const added = [...after.keys()].filter((name) => !before.has(name));
  const removed = [...before.keys()].filter((name) => !after.has(name));
  const retyped = [...after].filter(([name, type]) => before.has(name) && before.get(name) !== type)
    .map(([name, type]) => `${name} (${before.get(name)} -> ${type})`);
  if (added.length || removed.length) {
    problems.push(`columns changed (${previous.columns.length} -> ${next.columns.length}): added [${added.join(", ")}], removed [${removed.join(", ")}]`);
  }
  if (retyped.length) problems.push(`column types changed: ${retyped.join(", ")}`);
  problems.push(...nullShareProblems(previous, next, new Set(sparse)));
  return problems;
}

function nullShareProblems(previous: TableShape, next: TableShape, sparse: Set<string>): string[] {
  if (!previous.nullCounts || !next.nullCounts || previous.rowCount === 0 || next.rowCount === 0) return [];
  const was = new Map(previous.columns.map((c, i) => [c.name, previous.nullCounts![i]! / previous.rowCount]));
  const problems: string[] = [];
  next.columns.forEach((column, i) => {
    const before = was.get(column.name);
    if (before === undefined || sparse.has(column.name)) return;
    const now = next.nullCounts![i]! / next.rowCount;
    const emptied = now === 1 && before < 1;
    const jumped = now - before > NULL_SHARE_JUMP && now >= 2 * before;
    if (emptied || jumped) problems.push(`column ${column.name}: ${percent(now)} null, was ${percent(before)} in the previous -latest`);
  });
  if (problems.length) problems[problems.length - 1] += " (a column that may legitimately be this empty belongs in the flow's `sparse` list)";
  return problems;
}

/** A share as a percentage with one decimal, rounded down: only an all-null column shows 100%. */
function percent(share: number): string {
  return share === 1 ? "100%" : `${(Math.floor(share * 1000) / 10).toFixed(1)}%`;
}
