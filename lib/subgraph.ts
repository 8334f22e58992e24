// The Graph client: complete collections, exactly once, in a documented order.
//
// The Graph caps `first` at 1000 and `skip` at 5000, so we page with a cursor on the
// sort key. A cursor alone (`timestamp_lt: last`) loses the records that share the
// boundary value; so when a full page ends, the records tied on its last value are
// set aside and fetched separately, by id, and the next page starts strictly past
// that value. The order is the sort key, then id ascending (graph-node's own tie-break).
import type { Urls } from "./config.ts";
import { SourceError } from "./errors.ts";
import type { FlowContext } from "./flow.ts";
import { postJson } from "./http.ts";

export type SubgraphSource = keyof Omit<Urls, "verraSearch" | "polygonRpc">;

/** An entity as the subgraph returns it: scalars as strings/numbers/booleans, nested objects, lists. */
export type Entity = { [field: string]: unknown };

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
export async function fetchCollection(ctx: FlowContext, source: SubgraphSource, query: CollectionQuery): Promise<Entity[]> {
  const orderBy = query.orderBy ?? "id";
  const direction = query.orderDirection ?? "asc";
  const cap = query.capped === false ? undefined : ctx.config.maxRecords;
  const key = sortKey(orderBy);
  const select = `${query.select} id ${key.selection}`;
  const out: Entity[] = [];
  let pages = 0;
  const page = async (where: Record<string, unknown>, by: string, dir: string): Promise<Entity[]> => {
    const text = `{ ${query.collection}(first: ${PAGE_SIZE}, orderBy: ${by}, orderDirection: ${dir}, where: ${literal(where)}) { ${select} } }`;
    const data = await ask(ctx, source, text, `${query.collection} page ${pages + 1}`);
    pages++;
    const rows = data[query.collection];
    if (!Array.isArray(rows)) throw new SourceError(`${source} subgraph: answer has no ${query.collection} list`, false);
    ctx.log.progress(`${query.collection}: ${pages} pages, ${(out.length + rows.length).toLocaleString("en-US")} records`);
    return rows as Entity[];
  };
  /** All entities matching `where`, by id: the cursor is unique, so nothing is lost. */
  const allById = async (where: Record<string, unknown>): Promise<Entity[]> => {
    const found: Entity[] = [];
    for (let after: string | undefined; ;) {
      const rows = await page(merge(where, after === undefined ? {} : { id_gt: after }), "id", "asc");
      found.push(...rows);
      if (rows.length < PAGE_SIZE || (cap !== undefined && out.length + found.length >= cap)) return found;
      after = String(rows.at(-1)!.id);
    }
  };

  if (orderBy === "id" && direction === "asc") {
    out.push(...(await allById(query.where ?? {})));
  } else {
    const past = direction === "desc" ? "lt" : "gt";
    // The ties of one page are fetched while the next page is asked for: they do not wait on each other.
    const ties: Array<Promise<Entity[]>> = [];
    for (let cursor: unknown; ;) {
      const rows = await page(merge(query.where ?? {}, cursor === undefined ? {} : key.filter(past, cursor)), orderBy, direction);
      if (rows.length < PAGE_SIZE) {
        out.push(...rows);
        break;
      }
      const last = key.value(rows.at(-1)!);
      out.push(...rows.filter((r) => key.value(r) !== last));
      const tied = allById(merge(query.where ?? {}, key.filter("", last)));
      cursor = last;
      if (cap === undefined) {
        ties.push(tied);
        continue;
      }
      out.push(...(await tied)); // with a cap, the count must be known before asking for more
      if (out.length >= cap) break;
    }
    for (const group of await Promise.all(ties)) out.push(...group);
  }
  ctx.log.info(`${source} ${query.collection}: ${out.length} records in ${pages} pages`);
  // Servers differ in how they order ties (graph-node breaks them by id in the sort's direction);
  // sorting here makes the documented order hold whatever the server did.
  const sign = direction === "desc" ? -1 : 1;
  out.sort((a, b) => sign * compareValues(key.value(a), key.value(b)) || compareValues(a.id, b.id));
  return cap !== undefined ? out.slice(0, cap) : out;
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
export async function ask(ctx: FlowContext, source: SubgraphSource, query: string, what: string): Promise<Entity> {
  const where = `${source} subgraph, ${what}`;
  return ctx.retry(where, async () => {
    const answer = (await postJson(ctx.config.urls[source], { query }, { timeoutMs: ctx.config.httpTimeoutMs, what: `${source} subgraph, ${what}` })) as {
      data?: Entity | null;
      errors?: Array<{ message?: string }>;
    };
    if (answer === null || typeof answer !== "object") throw new SourceError(`${where}: answer is not a JSON object`, true);
    if (Array.isArray(answer.errors) && answer.errors.length > 0) {
      const messages = answer.errors.map((e) => e?.message ?? JSON.stringify(e)).join("; ");
      throw new SourceError(`${where}: ${messages}`, TRANSIENT_ERROR.test(messages));
    }
    if (!answer.data || typeof answer.data !== "object") throw new SourceError(`${where}: answer has no data`, true);
    return answer.data;
  });
}
