// The Graph client: complete collections, exactly once, in a documented order.
//
// The Graph caps `first` at 1000 and `skip` at 5000, so we page with a cursor on the
// sort key. A cursor alone (`timestamp_lt: last`) loses the records that share the
// boundary value; so when a full page ends, the records tied on its last value are
// set aside and fetched separately, by id, and the next page starts strictly past
// that value. The order is the sort key, then id ascending (graph-node's own tie-break).
import type { Urls } from "../config/config.ts";
import { SourceError } from "../core/errors.ts";
import { httpBounds, postJson } from "./http.ts";
import { redact } from "../core/redact.ts";
import type { SourceContext } from "./context.ts";
import { tableBuilder, type ColumnSpec, type Entity } from "../table/columns.ts";
import type { ColumnarTable } from "../table/table.ts";

export type SubgraphSource = keyof Omit<Urls, "verraSearch" | "polygonRpc">;

/** An entity as the subgraph returns it. */
export type { Entity };

export interface CollectionQuery {
  /** The root collection field, e.g. `klimaRetires`. */
  collection: string;
  /** The selection for each entity, e.g. `id retire { hash amount }`. */
  select: string;
  /** Sort key: a field, or `parent__child` for a field of a referenced entity. Default `id`. */
  orderBy?: string;
  orderDirection?: "asc" | "desc";
  /** Filter, as graph-node's `where` input, e.g. `{ timestamp_gt: 0 }`. */
  where?: Record<string, unknown>;
  /**
   * Whether DATA_PIPELINES_MAX_RECORDS applies (default true): the main query of a flow is capped,
   * lookups that complete it (pool balances of every credit) are not.
   */
  capped?: boolean;
}

export const PAGE_SIZE = 1000;

/** Every entity of a collection (or the first DATA_PIPELINES_MAX_RECORDS in its order). */
export async function fetchCollection(ctx: SourceContext, source: SubgraphSource, query: CollectionQuery, signal?: AbortSignal): Promise<Entity[]> {
  const entities: Entity[] = [];
  const order = await collect(ctx, source, query, signal, (page) => append(entities, page));
  return Array.from(order, (i) => entities[i]!);
}

/**
 * A collection as a table with these columns (as `tableOf` makes it from its entities), each page
 * read into columns as it arrives: the entities of a page are let go at once, so that a large
 * collection is never held as JSON objects (docs/architecture.md §5).
 */
export async function fetchTable(
  ctx: SourceContext, source: SubgraphSource, query: CollectionQuery, columns: Record<string, ColumnSpec>, signal?: AbortSignal,
): Promise<ColumnarTable> {
  const table = tableBuilder(columns);
  const order = await collect(ctx, source, query, signal, (page) => table.add(page));
  return table.finish(order);
}

/**
 * Page through a collection, handing each page's records to `take` as they come (a page's records
 * tied on the sort key are handed on once their group is complete), and return the order of the
 * records handed on (their indices in that sequence): sort key, then id, capped.
 */
async function collect(
  ctx: SourceContext, source: SubgraphSource, query: CollectionQuery, signal: AbortSignal | undefined, take: (page: Entity[]) => void,
): Promise<Int32Array> {
  const orderBy = query.orderBy ?? "id";
  const direction = query.orderDirection ?? "asc";
  const sign = direction === "desc" ? -1 : 1;
  const cap = query.capped === false ? undefined : ctx.config.maxRecords;
  const key = sortKey(orderBy);
  const select = `${query.select} id ${key.selection}`;
  const label = `${source} subgraph, ${query.collection}`;
  // Stopped at the first failure (of this collection or of the caller's): no request of it goes on after that.
  const stop = new AbortController();
  if (signal?.aborted) stop.abort();
  signal?.addEventListener("abort", () => stop.abort(), { once: true, signal: stop.signal });
  // Each record's sort key and id, in the order handed on: all the final sort needs.
  const keys: unknown[] = [];
  const ids: unknown[] = [];
  const add = (records: Entity[]) => {
    for (const e of records) {
      keys.push(key.value(e));
      ids.push(e.id);
    }
    take(records);
  };
  let pages = 0;
  /** The first failure of a tie group fetched alongside the paging: it is the one reported. */
  let tieFailure: { error: unknown } | undefined;
  /**
   * One page. `cursor` is where the filter should have moved past: a record at or before it
   * means the source ignored the filter, and asking on would repeat the same page forever.
   */
  const page = async (where: Record<string, unknown>, by: string, dir: string, cursor?: Cursor): Promise<Entity[]> => {
    const n = ++pages;
    const text = `{ ${query.collection}(first: ${PAGE_SIZE}, orderBy: ${by}, orderDirection: ${dir}, where: ${literal(where)}) { ${select} } }`;
    const data = await ask(ctx, source, text, `${query.collection} page ${n}`, stop.signal);
    const rows = data[query.collection];
    if (!Array.isArray(rows)) throw new SourceError(`${label}: answer has no ${query.collection} list`, false);
    if (cursor && (rows as Entity[]).some(cursor.notPast)) {
      const repeated = rows.length === cursor.previous.length && (rows as Entity[]).every((r, i) => r.id === cursor.previous[i]!.id);
      throw new SourceError(
        `${label}: the cursor did not advance past ${cursor.shown} (page ${n} ${repeated ? "repeats the previous one" : "holds records the cursor had passed"}); the source ignored the filter`,
        false,
      );
    }
    ctx.log.progress(`${query.collection}: ${pages} pages, ${(ids.length + rows.length).toLocaleString("en-US")} records`);
    return rows as Entity[];
  };
  /**
   * All entities matching `where`, by id, each page to `into` (the cursor is unique, so nothing is
   * lost); with a cap, it stops once `total()` (the records so far, these included) reaches it.
   */
  const allById = async (where: Record<string, unknown>, into: (records: Entity[]) => void, total: () => number): Promise<void> => {
    let previous: Entity[] = [];
    for (let after: string | undefined; ;) {
      const cursor = after === undefined ? undefined : { shown: `id ${after}`, notPast: (e: Entity) => String(e.id) === after, previous };
      const rows = await page(merge(where, after === undefined ? {} : { id_gt: after }), "id", "asc", cursor);
      into(rows);
      if (rows.length < PAGE_SIZE || (cap !== undefined && total() >= cap)) return;
      after = String(rows.at(-1)!.id);
      previous = rows;
    }
  };
  /** A tie group: its records, handed on together once complete. */
  const tieGroup = async (where: Record<string, unknown>): Promise<Entity[]> => {
    const group: Entity[] = [];
    await allById(where, (rows) => append(group, rows), () => ids.length + group.length);
    return group;
  };

  try {
    if (orderBy === "id" && direction === "asc") {
      await allById(query.where ?? {}, add, () => ids.length);
    } else {
      const past = direction === "desc" ? "lt" : "gt";
      // The ties at the end of a page are fetched while the next page is asked for: they do not wait on
      // each other. Each group is watched from the start, so that its failure stops the paging at once
      // (never unobserved). What comes after a group is handed on once the group is: in key order.
      let handedOn: Promise<void> = Promise.resolve();
      const handOn = (records: Entity[] | Promise<Entity[]>) => {
        handedOn = handedOn.then(async () => add(await records));
        handedOn.catch(() => {}); // met where it is awaited, or through tieFailure
      };
      let previous: Entity[] = [];
      for (let cursor: unknown; ;) {
        if (tieFailure) throw tieFailure.error;
        const last = cursor;
        const check = last === undefined ? undefined : {
          shown: `${orderBy} ${String(last)}`,
          notPast: (e: Entity) => sign * compareValues(key.value(e), last) <= 0,
          previous,
        };
        const rows = await page(merge(query.where ?? {}, last === undefined ? {} : key.filter(past, last)), orderBy, direction, check);
        if (rows.length < PAGE_SIZE) {
          handOn(rows);
          break;
        }
        cursor = key.value(rows.at(-1)!);
        if (cursor === null || cursor === undefined) {
          throw new SourceError(`${label}: a full page ends on a record without ${orderBy} (id ${String(rows.at(-1)!.id)}); the cursor cannot move past it`, false);
        }
        handOn(rows.filter((r) => key.value(r) !== cursor));
        const tied = tieGroup(merge(query.where ?? {}, key.filter("", cursor)));
        previous = rows;
        if (cap === undefined) {
          tied.catch((error: unknown) => {
            tieFailure ??= { error };
            stop.abort();
          });
          handOn(tied);
          continue;
        }
        handOn(tied);
        await handedOn; // with a cap, the count must be known before asking for more
        if (ids.length >= cap) break;
      }
      await handedOn;
    }
  } catch (error) {
    throw tieFailure ? tieFailure.error : error;
  } finally {
    stop.abort(); // what is still under way stops; and the listener on `signal` goes
  }
  ctx.log.info(`${source} ${query.collection}: ${ids.length} records in ${pages} pages`);
  const order = recordOrder(keys, ids, sign);
  return cap !== undefined ? order.slice(0, cap) : order;
}

/**
 * The records' order: sort key in `sign`'s direction, then id ascending. Servers differ in how they
 * order ties (graph-node breaks them by id in the sort's direction), so the order is made here,
 * whatever the server did. Records are handed on in key order (that is how they are paged): then
 * only each group of ties is sorted by id, and a collection whose ties came by id keeps its order.
 * Out of key order, all are sorted.
 */
export function recordOrder(keys: unknown[], ids: unknown[], sign: number): Int32Array {
  const n = keys.length;
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const byId = (a: number, b: number) => compareValues(ids[a], ids[b]);
  let ties = 0; // where the current group of equal keys starts
  for (let i = 1; i <= n; i++) {
    const step = i < n ? sign * compareValues(keys[order[i - 1]!], keys[order[i]!]) : -1; // past the last: a group ends
    if (step > 0) return order.sort((a, b) => sign * compareValues(keys[a], keys[b]) || byId(a, b)); // not in key order
    if (step === 0) continue;
    if (i - ties > 1) order.subarray(ties, i).sort(byId);
    ties = i;
  }
  return order;
}

/**
 * Fetches run at the same time, their results in order. The first failure is the one thrown and
 * aborts the others (each is handed the signal), so that none goes on asking after the run failed;
 * no rejection is left unobserved.
 */
export async function together<T extends readonly unknown[]>(...fetches: { [K in keyof T]: (signal: AbortSignal) => Promise<T[K]> }): Promise<T> {
  const stop = new AbortController();
  try {
    return (await Promise.all(fetches.map((fetch) => fetch(stop.signal)))) as unknown as T;
  } finally {
    stop.abort(); // after a success: nothing left to stop
  }
}

interface Cursor {
  /** The cursor, for messages: `timestamp 1700000000`, `id 0x12`. */
  shown: string;
  /** A record the filter should have excluded. */
  notPast: (e: Entity) => boolean;
  /** The page the cursor came from. */
  previous: Entity[];
}

/** `into.push(...more)` without the spread, which overflows the stack past about 100,000 items. */
function append(into: Entity[], more: Entity[]): void {
  for (const e of more) into.push(e);
}

/** Compare two sort-key values: whole numbers (BigInt or Int, as text or numbers) numerically, the rest as text. */
export function compareValues(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  const integer = /^-?\d+$/;
  if (integer.test(String(a)) && integer.test(String(b))) {
    const x = BigInt(String(a));
    const y = BigInt(String(b));
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return String(a) < String(b) ? -1 : 1;
}

/** How to read and filter on a sort key such as `timestamp` or `retire__timestamp`. */
function sortKey(orderBy: string) {
  const [parent, child] = orderBy.split("__") as [string, string | undefined];
  if (child === undefined) {
    return {
      selection: parent,
      value: (e: Entity) => e[parent],
      filter: (op: string, v: unknown) => ({ [op ? `${parent}_${op}` : parent]: v }),
    };
  }
  return {
    selection: `${parent} { ${child} }`,
    value: (e: Entity) => (e[parent] as Entity | null)?.[child],
    filter: (op: string, v: unknown) => ({ [`${parent}_`]: { [op ? `${child}_${op}` : child]: v } }),
  };
}

/** Two filters that must both hold. Nested filters (`retire_`) are merged; a clash goes to `and`. */
function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (!(k in out)) out[k] = v;
    else if (k.endsWith("_") && typeof out[k] === "object" && typeof v === "object") out[k] = merge(out[k] as Record<string, unknown>, v as Record<string, unknown>);
    else return { and: [a, b] };
  }
  return out;
}

/** A JS value as a GraphQL input literal: `{timestamp_lt: "1690000000", pair: "0x.."}`. */
export function literal(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(literal).join(", ")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.entries(value).map(([k, v]) => `${k}: ${literal(v)}`).join(", ")}}`;
  }
  return JSON.stringify(value);
}

// An indexer that is behind, down or overloaded says so in the errors of an HTTP 200 answer:
// those are worth retrying; an invalid query is not.
const TRANSIENT_ERROR = /indexer|unavailable|behind|timeout|timed out|too many|rate limit|overloaded|try again|temporar|store error|database|connection|internal error|bad gateway/i;

/** Send one query; the `data` of the answer, or a SourceError (transient or not, by what the source says). */
export async function ask(ctx: SourceContext, source: SubgraphSource, query: string, what: string, signal?: AbortSignal): Promise<Entity> {
  const where = `${source} subgraph, ${what}`;
  return ctx.retry(where, async () => {
    const answer = (await postJson(ctx.config.urls[source], { query }, { ...httpBounds(ctx.config), what: where, signal, turn: ctx.turn })) as {
      data?: Entity | null;
      errors?: Array<{ message?: string }>;
    };
    if (answer === null || typeof answer !== "object") throw new SourceError(`${where}: answer is not a JSON object`, true);
    if (Array.isArray(answer.errors) && answer.errors.length > 0) {
      // Redacted: a source may quote the request, key and all.
      const messages = redact(answer.errors.map((e) => e?.message ?? JSON.stringify(e)).join("; "));
      throw new SourceError(`${where}: ${messages}`, TRANSIENT_ERROR.test(messages));
    }
    if (!answer.data || typeof answer.data !== "object") throw new SourceError(`${where}: answer has no data`, true);
    return answer.data;
  });
}
