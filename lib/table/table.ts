// The in-memory table every flow produces and every artifact decodes to:
// an ordered list of typed columns and an array of plain row objects.
import { UserError } from "../core/errors.ts";

/** Column types, as docs/datasets.md §3.3 names them; each maps to one Arrow type (lib/artifact/write.ts). */
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

/**
 * Makes a first row of nulls, so that V8 gives every field the general representation from the
 * start: rows holding numbers in some and nulls or text in others then share one hidden class,
 * instead of a chain of deprecated ones that slows later reads of those rows (polygon_retired_offsets_v2,
 * five steps over 47,000 rows: a quarter faster, measured).
 */
function primed<F>(make: F, prime: (make: F) => unknown): F {
  prime(make);
  return make;
}

/** Rows from an array of values in column order: `make([a, b, c])`. */
export function rowMaker(names: string[]): (values: Value[]) => Row {
  return primed(compileRow<[Value[]]>(names, (i) => `v[${i}]`), (make) => make(names.map(() => null)));
}

/** Row `i` from column arrays (the same order as `names`). */
export function columnsRowMaker(names: string[]): (columns: Value[][], i: number) => Row {
  return primed(compileRow<[Value[][], number]>(names, (c) => `v[${c}][i]`), (make) => make(names.map(() => [null]), 0));
}

/** A row with its keys renamed: `pairs` are [from, to] in output order. */
export function renamer(pairs: ReadonlyArray<readonly [string, string]>): (row: Row) => Row {
  return primed(compileRow<[Row]>(pairs.map(([, to]) => to), (i) => `(v[${JSON.stringify(pairs[i]![0])}] ?? null)`), (make) => make({}));
}

/** Where a projected column's value comes from: a column of the row (missing: null), or a computed value by index. */
export type Projected = { copy: string } | { computed: number };

/**
 * Rows from a row and the values computed for it, compiled once per shape: column i is
 * `row[copy] ?? null` or `values[computed]`. Copies no column that is not needed, makes no
 * array per row: several times faster than listing every value (mapTable) for wide tables.
 */
export function projector(names: string[], sources: Projected[]): (row: Row, values: Value[]) => Row {
  const make = compileRow<[Row, Value[]]>(names, (i) => {
    const source = sources[i]!;
    return "copy" in source ? `(v[${JSON.stringify(source.copy)}] ?? null)` : `i[${source.computed}]`;
  });
  return primed(make, (m) => m({}, []));
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
  return { columns, rows: input.rows.map(renamer(columns.map((c) => [c.name, c.name] as const))) };
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
  const make = projector(columns.map((c) => c.name), columns.map((c) => (addedAt.has(c.name) ? { computed: addedAt.get(c.name)! } : { copy: c.name })));
  return { columns, rows: input.rows.map((row, i) => make(row, values(row, i))) };
}

