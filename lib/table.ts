// The in-memory table every flow produces and every artifact decodes to:
import { UserError } from "./errors.ts";
// an ordered list of typed columns and an array of plain row objects.

/** Column types, as DATASETS.md names them; each maps to one Arrow type (lib/artifact.ts). */
export type ColumnType = "string" | "int" | "float" | "bool" | "timestamp" | "date";

/** A cell. Timestamps and dates are `Date` (UTC); ints and floats are numbers; nulls are `null`. */
export type Value = string | number | boolean | Date | null;
export type Row = Record<string, Value>;

export interface Column {
  name: string;
  type: ColumnType;
}

export interface Table {
  columns: Column[];
  rows: Row[];
}

/** A schema written as `{ name: type }`, in column order. */
export type Schema = Record<string, ColumnType>;

export function columnsOf(schema: Schema): Column[] {
  return Object.entries(schema).map(([name, type]) => ({ name, type }));
}

export function table(schema: Schema | Column[], rows: Row[]): Table {
  return { columns: Array.isArray(schema) ? schema : columnsOf(schema), rows };
}

/** Keep the rows matching `keep`, same columns. */
export function filterRows(input: Table, keep: (row: Row) => boolean): Table {
  return { columns: input.columns, rows: input.rows.filter(keep) };
}


/** Fail with a clear message when an input table lacks columns a flow needs. */
export function requireColumns(input: Table, source: string, names: string[]): void {
  const have = new Set(input.columns.map((c) => c.name));
  const missing = names.filter((n) => !have.has(n));
  if (missing.length) throw new UserError(`${source} has no column ${missing.map((n) => `"${n}"`).join(", ")}`);
}

/**
 * A function making rows with these columns from a source, compiled once per shape:
 * an object literal with constant keys is the fastest way to make many objects in V8,
 * and keeps them compact (an object grown key by key from `{}` turns into a hash table
 * past a few dozen keys, five times larger). `read(i)` is the JS expression giving
 * column i's value, over the parameters `v` (values) and `i` (row index).
 */
function compileRow<A extends unknown[]>(names: string[], read: (index: number) => string): (...args: A) => Row {
  const body = `return {${names.map((name, index) => `${JSON.stringify(name)}: ${read(index)}`).join(", ")}};`;
  return new Function("v", "i", body) as (...args: A) => Row;
}

/** Rows from an array of values in column order: `make([a, b, c])`. */
export function rowMaker(names: string[]): (values: Value[]) => Row {
  return compileRow<[Value[]]>(names, (i) => `v[${i}]`);
}

/** Row `i` from column arrays (the same order as `names`). */
export function columnsRowMaker(names: string[]): (columns: Value[][], i: number) => Row {
  return compileRow<[Value[][], number]>(names, (c) => `v[${c}][i]`);
}

/** A row with its keys renamed: `pairs` are [from, to] in output order. */
export function renamer(pairs: ReadonlyArray<readonly [string, string]>): (row: Row) => Row {
  return compileRow<[Row]>(pairs.map(([, to]) => to), (i) => `(v[${JSON.stringify(pairs[i]![0])}] ?? null)`);
}

/** A new table with these columns, each row's values in column order from `values`. */
export function mapTable(input: Table, columns: Column[], values: (row: Row, index: number) => Value[]): Table {
  const make = rowMaker(columns.map((c) => c.name));
  return { columns, rows: input.rows.map((row, i) => make(values(row, i))) };
}

/** The same rows without these columns. */
export function dropColumns(input: Table, names: string[]): Table {
  const drop = new Set(names);
  const columns = input.columns.filter((c) => !drop.has(c.name));
  return mapTable(input, columns, (row) => columns.map((c) => row[c.name] ?? null));
}

/** Columns appended at the end (or replaced in place when a column of that name exists). */
export function withColumns(input: Table, added: Column[], values: (row: Row, index: number) => Value[]): Table {
  const existing = new Map(input.columns.map((c, i) => [c.name, i]));
  const columns = [...input.columns];
  for (const c of added) {
    const at = existing.get(c.name);
    if (at === undefined) columns.push(c);
    else columns[at] = c;
  }
  const addedAt = new Map(added.map((c, i) => [c.name, i]));
  return mapTable(input, columns, (row, i) => {
    const extra = values(row, i);
    return columns.map((c) => (addedAt.has(c.name) ? extra[addedAt.get(c.name)!]! : row[c.name] ?? null));
  });
}

