// Transformations shared by several flows (DATASETS.md §3.2).
import { renamer, type Column, type Table } from "./table.ts";

/** auto-rename: spaces to `_`, then lower case; nothing else changes. */
export function snakeName(name: string): string {
  return name.replaceAll(" ", "_").toLowerCase();
}

/** Rename every column with `snakeName`, keeping order and values. */
export function autoRename(input: Table): Table {
  return renameColumns(input, snakeName);
}

export function renameColumns(input: Table, rename: (name: string) => string): Table {
  const pairs = input.columns.map((c) => [c.name, rename(c.name)] as const);
  if (pairs.every(([from, to]) => from === to)) return input;
  const columns: Column[] = input.columns.map((c) => ({ ...c, name: rename(c.name) }));
  return { columns, rows: input.rows.map(renamer(pairs)) };
}

/**
 * Parse a date or date-time text as naive UTC: `2021-03-04`, `2021-03-04T05:06:07`,
 * `2021-03-04 05:06:07`, with or without fraction and offset (an offset is applied).
 */
export function parseUtc(text: string | null | undefined): Date | null {
  if (!text) return null;
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/.exec(text.trim());
  if (!match) return null;
  const [y, mo, d, h, mi, s] = match.slice(1, 8).map((part) => Number(part ?? 0)) as number[];
  const zone = match[8];
  const naive = Date.UTC(y!, mo! - 1, d!, h!, mi!, s!, Number((match[7] ?? "").padEnd(3, "0").slice(0, 3)));
  // Date.UTC rolls impossible parts over (2021-02-30 -> March 2): refuse them instead.
  const check = new Date(naive);
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo! - 1 || check.getUTCDate() !== d
    || check.getUTCHours() !== h || check.getUTCMinutes() !== mi || check.getUTCSeconds() !== s) return null;
  let ms = naive;
  if (zone && zone !== "Z") {
    const sign = zone.startsWith("-") ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
  }
  return new Date(ms);
}
