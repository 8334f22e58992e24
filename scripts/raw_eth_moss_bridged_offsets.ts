// raw_eth_moss_bridged_offsets: Verra batches bridged to Ethereum by Moss, with their
// serial numbers (docs/datasets.md §4.11).
import { runWhenMain } from "../lib/run/cli.ts";
import { col } from "../lib/table/columns.ts";
import { subgraphFlow } from "../lib/flows/subgraph_flow.ts";

const flow = subgraphFlow({
  slug: "raw_eth_moss_bridged_offsets",
  source: "carbonEth",
  query: { collection: "batches", select: "serialNumber timestamp tokenAddress vintage projectID value originaltx", orderBy: "timestamp", orderDirection: "desc" },
  columns: {
    ID: col.string("id"),
    "Serial Number": col.string("serialNumber"),
    Date: col.int("timestamp"),
    "Token Address": col.string("tokenAddress"),
    Vintage: col.string("vintage"),
    "Project ID": col.computed("string", (e) => (e.projectID === null || e.projectID === undefined ? null : `VCS-${e.projectID}`)),
    Quantity: col.float("value"),
    "Original Tx Address": col.string("originaltx"),
  },
});

export default flow;
runWhenMain(import.meta, flow);
