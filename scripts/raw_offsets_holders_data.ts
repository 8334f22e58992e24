// raw_offsets_holders_data: carbon-token holdings of KlimaDAO users (docs/datasets.md §4.8).
import { runWhenMain } from "../lib/run/cli.ts";
import { col } from "../lib/table/columns.ts";
import { subgraphFlow } from "../lib/flows/subgraph_flow.ts";

const flow = subgraphFlow({
  slug: "raw_offsets_holders_data",
  source: "holders",
  query: { collection: "holdings", select: "token timestamp tokenAmount carbonValue klimate { id }", orderBy: "timestamp", orderDirection: "desc" },
  columns: {
    ID: col.string("id"),
    Token: col.string("token"),
    Date: col.int("timestamp"),
    Quantity: col.float("tokenAmount"),
    CarbonValue: col.float("carbonValue"),
    Klimate_Address: col.string("klimate.id"),
  },
});

export default flow;
runWhenMain(import.meta, flow);
