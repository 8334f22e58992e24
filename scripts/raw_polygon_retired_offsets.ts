// raw_polygon_retired_offsets: every retirement of a Polygon carbon credit, one row each, with
// the credit's project and its current pool balances (docs/datasets.md §4.2, as fixed by docs/datasets.md §9 Q2:
// one row per retirement, the excluded retiree left out first, pool columns attached by credit).
import { runWhenMain } from "../lib/run/cli.ts";
import { col, type ColumnSpec } from "../lib/table/columns.ts";
import { EXCLUDED_RETIREE } from "../lib/sources/constants.ts";
import { sourceFlow } from "../lib/flows/flow.ts";
import { fetchPoolBalances, withPoolQuantities } from "../lib/flows/pools.ts";
import { fetchTable, together } from "../lib/sources/subgraph.ts";
import { filterRows } from "../lib/table/operations.ts";

/** A retirement's columns, read from each page of retirements as it arrives. */
const RETIRE_COLUMNS: Record<string, ColumnSpec> = {
  ID: col.string("id"),
  Quantity: col.tonnes("amount"),
  Date: col.int("timestamp"),
  Retiree: col.string("retiringAddress.id"),
  "Token Address": col.string("credit.id"),
  Bridge: col.string("credit.bridgeProtocol"),
  Region: col.string("credit.project.region"),
  Vintage: col.int("credit.vintage"),
  "Project ID": col.string("credit.project.id"),
  Methodology: col.string("credit.project.methodologies"),
  Country: col.string("credit.project.country"),
  "Project Type": col.string("credit.project.category"),
  Name: col.string("credit.project.name"),
  "Total Quantity": col.tonnes("credit.retired"),
  "Tx ID": col.string("hash"),
};

const flow = sourceFlow({
  slug: "raw_polygon_retired_offsets",
  fetch: async (ctx) => {
    // The retirements and the pool balances are asked for at the same time; the first failure stops both.
    const [table, balances] = await together(
      (signal) => fetchTable(ctx, "carbonPolygon", {
        collection: "retires",
        select: "amount timestamp hash retiringAddress { id } credit { id bridgeProtocol vintage retired project { id region methodologies country category name } }",
        orderBy: "timestamp",
        orderDirection: "desc",
      }, RETIRE_COLUMNS, signal),
      (signal) => fetchPoolBalances(ctx, signal),
    );
    const kept = filterRows(table, (r) => r.Retiree !== EXCLUDED_RETIREE);
    return withPoolQuantities(kept, "Token Address", balances);
  },
});

export default flow;
runWhenMain(import.meta, flow);
