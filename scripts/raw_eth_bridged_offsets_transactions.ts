// raw_eth_bridged_offsets_transactions: bridge transactions on Ethereum (docs/datasets.md §4.12).
import { runWhenMain } from "../lib/run/cli.ts";
import { col } from "../lib/table/columns.ts";
import { subgraphFlow } from "../lib/flows/subgraph_flow.ts";

const flow = subgraphFlow({
  slug: "raw_eth_bridged_offsets_transactions",
  source: "carbonEth",
  query: { collection: "bridges", select: "value timestamp transaction { id }", orderBy: "timestamp", orderDirection: "desc" },
  columns: {
    Quantity: col.float("value"),
    Date: col.int("timestamp"),
    "Tx Address": col.string("transaction.id"),
  },
});

export default flow;
runWhenMain(import.meta, flow);
