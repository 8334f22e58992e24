// What flows do with tables, column by column: keep some rows, add or replace computed columns,
// drop, rename, project, join rows of two tables, concatenate, sort. Each takes any table and gives
// a ColumnarTable that shares the vectors it keeps. A callback that gets a `row` gets a view of the
// row it is called for: read it, spread it (`{ ...row }` copies its values), but do not keep it, as
// it shows the next row on the next call.
import {
  cell, ColumnarTable, columnar, concatVectors, take, vectorBuilder, type Column, type Row, type Table, type Value, type Vector,
} from "./table.ts";

/**
 * One object standing for each row of `input` in turn: `at(i)` points it at row i. Its properties
 * are the columns, read from their vectors when asked (a Date made for an instant), so that a
 * callback reads `row.quantity` as it would of a row object, and no object is made per row.
 */
export function rowView(input: ColumnarTable): { at(i: number): Row } {
  let index = 0;
  const row = {} as Row;
  input.columns.forEach((c, k) => {
    const v = input.vectors[k]!;
    Object.defineProperty(row, c.name, { enumerable: true, get: () => cell(v, c.type, index) });
  });
  return { at: (i) => { index = i; return row; } };
}

/** Keep the rows matching `keep`, same columns. */
export function filterRows(input: Table, keep: (row: Row, index: number) => boolean): ColumnarTable {
  const t = columnar(input);
  const view = rowView(t);
  const at: number[] = [];
  for (let i = 0; i < t.length; i++) if (keep(view.at(i), i)) at.push(i);
  return selectRows(t, at);
}

/** These rows of the table, in this order (-1: a row of nulls). */
export function selectRows(input: Table, at: ArrayLike<number>): ColumnarTable {
  const t = columnar(input);
  return new ColumnarTable(t.columns, t.vectors.map((v) => take(v, at)), at.length);
}

/** Columns computed for each row: `values(row, i)` in the order of `columns`. */
function computed(t: ColumnarTable, columns: Column[], values: (row: Row, index: number) => Value[]): Vector[] {
  const builders = columns.map((c) => vectorBuilder(c, t.length));
  const view = rowView(t);
  for (let i = 0; i < t.length; i++) {
    const made = values(view.at(i), i);
    for (let k = 0; k < builders.length; k++) builders[k]!.set(i, made[k]);
  }
  return builders.map((b) => b.vector);
}

/** A new table with these columns, each row's values in column order from `values`. */
export function mapTable(input: Table, columns: Column[], values: (row: Row, index: number) => Value[]): ColumnarTable {
  const t = columnar(input);
  return new ColumnarTable(columns, computed(t, columns, values), t.length);
}

/** Columns appended at the end (or replaced in place when a column of that name exists). */
export function withColumns(input: Table, added: Column[], values: (row: Row, index: number) => Value[]): ColumnarTable {
  const t = columnar(input);
  return withVectors(t, added, computed(t, added, values));
}

/** These vectors as columns, appended at the end (or in place of a column of the same name). */
export function withVectors(input: Table, added: Column[], vectors: Vector[]): ColumnarTable {
  const t = columnar(input);
  const columns = [...t.columns];
  const kept = [...t.vectors];
  added.forEach((c, k) => {
    const at = columns.findIndex((existing) => existing.name === c.name);
    if (at < 0) {
      columns.push(c);
      kept.push(vectors[k]!);
    } else {
      columns[at] = c;
      kept[at] = vectors[k]!;
    }
  });
  return new ColumnarTable(columns, kept, t.length);
}

/** The same rows without these columns. */
export function dropColumns(input: Table, names: string[]): ColumnarTable {
  const drop = new Set(names);
  return selectColumns(input, input.columns.filter((c) => !drop.has(c.name)).map((c) => c.name));
}

/** The same rows with only these columns, in this order (a column the table lacks is left out). */
export function selectColumns(input: Table, names: readonly string[]): ColumnarTable {
  const t = columnar(input);
  const at = names.map((name) => t.columns.findIndex((c) => c.name === name)).filter((i) => i >= 0);
  return new ColumnarTable(at.map((i) => t.columns[i]!), at.map((i) => t.vectors[i]!), t.length);
}

/** Every column renamed by `rename`, same values (no copy). */
export function renameColumns(input: Table, rename: (name: string) => string): Table {
  if (input.columns.every((c) => rename(c.name) === c.name)) return input;
  const t = columnar(input);
  return new ColumnarTable(t.columns.map((c) => ({ ...c, name: rename(c.name) })), t.vectors, t.length);
}

/** The rows of several tables one after the other, as `columns` (each table's column of that name; none: nulls). */
export function concatRows(columns: Column[], tables: Table[]): ColumnarTable {
  const parts = tables.map(columnar);
  const length = parts.reduce((n, p) => n + p.length, 0);
  return new ColumnarTable(columns, columns.map((c) => concatVectors(c, parts.map((part) => {
    const k = part.columns.findIndex((pc) => pc.name === c.name);
    if (k >= 0 && part.columns[k]!.type === c.type) return part.vectors[k]!;
    // Missing (nulls), or of another type: its values, checked against this column's type.
    const out = vectorBuilder(c, part.length);
    for (let i = 0; i < part.length; i++) out.set(i, k < 0 ? null : cell(part.vectors[k]!, part.columns[k]!.type, i));
    return out.vector;
  })), length), length);
}

/** The rows in the order of `key` (a number per row), greatest first when `descending`; ties keep their order. */
export function sortRowsBy(input: Table, key: (index: number) => number, options: { descending?: boolean } = {}): ColumnarTable {
  const t = columnar(input);
  const keys = new Float64Array(t.length);
  for (let i = 0; i < t.length; i++) keys[i] = key(i);
  const sign = options.descending ? -1 : 1;
  const order = Array.from({ length: t.length }, (_, i) => i);
  order.sort((a, b) => sign * (keys[a]! - keys[b]!) || a - b); // stable by index
  return selectRows(t, order);
}
