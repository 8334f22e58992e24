// Pool balances of Polygon carbon credits, as `Credit <TOKEN> Quantity` columns
// (docs/datasets.md §3.2 "pool-balance flattening", done per credit, every credit kept).
import { checked, parseTonnes } from "../table/columns.ts";
import { TOKEN_NAMES, TOKENS, type TokenName } from "../sources/constants.ts";
import type { FlowContext } from "./flow.ts";
import { fetchCollection } from "../sources/subgraph.ts";
import { withColumns } from "../table/operations.ts";
import { type Column, type Table } from "../table/table.ts";

export type PoolQuantities = Record<TokenName, number>;

export const POOL_COLUMNS: Column[] = TOKEN_NAMES.map((t) => ({ name: `Credit ${t} Quantity`, type: "float" }));

/** Every credit's balance in each pool, in tonnes; a pool the credit is not in counts 0. `signal` stops the fetch. */
export async function fetchPoolBalances(ctx: FlowContext, signal?: AbortSignal): Promise<Map<string, PoolQuantities>> {
  const balances = await fetchCollection(ctx, "carbonPolygon", {
    collection: "carbonPoolCreditBalances",
    select: "balance pool { id } credit { id }",
    capped: false, // a lookup: every credit's balances, whatever the cap on the main query
  }, signal);
  const byCredit = new Map<string, PoolQuantities>();
  const seen = new Set<string>();
  for (const b of balances) {
    const credit = (b.credit as { id: string } | null)?.id;
    const pool = (b.pool as { id: string } | null)?.id?.slice(0, 42);
    if (!credit || !pool) continue;
    const token = TOKEN_NAMES.find((t) => TOKENS[t].tokenAddress === pool);
    if (!token || seen.has(`${credit} ${token}`)) continue; // the first balance of a credit in a pool counts
    seen.add(`${credit} ${token}`);
    const quantities = byCredit.get(credit) ?? zeroQuantities();
    quantities[token] = checked(parseTonnes(b.balance), "carbonPolygon subgraph, carbonPoolCreditBalances.balance", b.balance) ?? 0;
    byCredit.set(credit, quantities);
  }
  return byCredit;
}

function zeroQuantities(): PoolQuantities {
  return { BCT: 0, NCT: 0, MCO2: 0, UBO: 0, NBO: 0 };
}

/** The table with the five `Credit <TOKEN> Quantity` columns appended, looked up by the credit in `creditColumn`. */
export function withPoolQuantities(table: Table, creditColumn: string, balances: Map<string, PoolQuantities>): Table {
  return withColumns(table, POOL_COLUMNS, (row) => {
    const quantities = balances.get(row[creditColumn] as string) ?? zeroQuantities();
    return TOKEN_NAMES.map((t) => quantities[t]);
  });
}
