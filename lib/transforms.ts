// Transformations shared by several flows (DATASETS.md §3.2).
import type { Column, Row, Table } from "./table.ts";

/** auto-rename: spaces to `_`, then lower case; nothing else changes. */
export function snakeName(name: string): string {
  return name.replaceAll(" ", "_").toLowerCase();
}

/** Rename every column with `snakeName`, keeping order and values. */
export function autoRename(input: Table): Table {
  return renameColumns(input, snakeName);
}

export function renameColumns(input: Table, rename: (name: string) => string): Table {
  const names = input.columns.map((c) => [c.name, rename(c.name)] as const);
  if (names.every(([from, to]) => from === to)) return input;
  const columns: Column[] = input.columns.map((c) => ({ ...c, name: rename(c.name) }));
  const rows = input.rows.map((row) => {
    const out: Row = {};
    for (const [from, to] of names) out[to] = row[from] ?? null;
    return out;
  });
  return { columns, rows };
}

/**
 * Parse a date or date-time text as naive UTC: `2021-03-04`, `2021-03-04T05:06:07`,
 * `2021-03-04 05:06:07`, with or without fraction and offset (an offset is applied).
 */
export function parseUtc(text: string | null | undefined): Date | null {
  if (!text) return null;
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/.exec(text.trim());
  if (!match) return null;
  const [, y, mo, d, h = "0", mi = "0", s = "0", frac = "", zone] = match;
  let ms = Date.UTC(+y!, +mo! - 1, +d!, +h, +mi, +s, Number(frac.padEnd(3, "0").slice(0, 3)));
  if (zone && zone !== "Z") {
    const sign = zone.startsWith("-") ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
  }
  const date = new Date(ms);
  // Reject impossible calendar dates such as 2021-02-30.
  if (!zone && date.getUTCDate() !== +d!) return null;
  return date;
}
