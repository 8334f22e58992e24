// raw_eth_retired_offsets: retirements of bridged credits on Ethereum (Moss), with the credit's
// metadata (docs/datasets.md §4.9). Total Quantity is the token's cumulative retired amount.
import { runWhenMain } from "../lib/run/cli.ts";
import { col } from "../lib/table/columns.ts";
import { subgraphFlow } from "../lib/flows/subgraph_flow.ts";

const flow = subgraphFlow({
  slug: "raw_eth_retired_offsets",
  source: "carbonEth",
  query: {
    collection: "retires",
    select: "value timestamp retiree offset { tokenAddress bridge region vintage projectID standard methodology country category name totalRetired } transaction { id from }",
    orderBy: "timestamp",
    orderDirection: "desc",
  },
  columns: {
    Quantity: col.float("value"),
    Date: col.int("timestamp"),
    Retiree: col.string("retiree"),
    "Token Address": col.string("offset.tokenAddress"),
    Bridge: col.string("offset.bridge"),
    Region: col.string("offset.region"),
    Vintage: col.string("offset.vintage"),
    "Project ID": col.string("offset.projectID"),
    Standard: col.string("offset.standard"),
    Methodology: col.string("offset.methodology"),
    Country: col.string("offset.country"),
    "Project Type": col.string("offset.category"),
    Name: col.string("offset.name"),
    "Total Quantity": col.float("offset.totalRetired"),
    "Tx ID": col.string("transaction.id"),
    "Tx From Address": col.string("transaction.from"),
  },
});

export default flow;
runWhenMain(import.meta, flow);
