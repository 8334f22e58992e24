// raw_eth_moss_retired_offsets: Moss retirements on Ethereum, oldest first (docs/datasets.md §4.10).
import { runWhenMain } from "../lib/run/cli.ts";
import { col } from "../lib/table/columns.ts";
import { subgraphFlow } from "../lib/flows/subgraph_flow.ts";

const flow = subgraphFlow({
  slug: "raw_eth_moss_retired_offsets",
  source: "carbonEth",
  // Fetched newest first so that DATA_PIPELINES_MAX_RECORDS keeps the newest; written oldest first.
  query: { collection: "retires", select: "value timestamp retiree beneficiary transaction { id from }", orderBy: "timestamp", orderDirection: "desc" },
  columns: {
    Id: col.string("id"),
    Quantity: col.float("value"),
    Date: col.int("timestamp"),
    Retiree: col.string("retiree"),
    Beneficiary: col.string("beneficiary"),
    "Tx ID": col.string("transaction.id"),
    "Tx From Address": col.string("transaction.from"),
  },
  then: (table) => ({ columns: table.columns, rows: oldestFirst(table.rows) }),
});

/** Timestamp ascending, ties by id ascending, from rows in timestamp-descending, id-ascending order. */
function oldestFirst<T extends Record<string, unknown>>(rows: T[]): T[] {
  return [...rows].sort((a, b) => (a.Date as number) - (b.Date as number) || ((a.Id as string) < (b.Id as string) ? -1 : 1));
}

export default flow;
runWhenMain(import.meta, flow);
