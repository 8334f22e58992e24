// raw_polygon_pools_redeemed_offsets: every redemption from a Polygon carbon pool (docs/datasets.md §4.4).
import { runWhenMain } from "../lib/run/cli.ts";
import { col } from "../lib/table/columns.ts";
import { subgraphFlow } from "../lib/flows/subgraph_flow.ts";

const flow = subgraphFlow({
  slug: "raw_polygon_pools_redeemed_offsets",
  source: "carbonPolygon",
  query: { collection: "poolRedeems", select: "amount timestamp pool { id }", orderBy: "timestamp", orderDirection: "desc" },
  columns: {
    Quantity: col.tonnes("amount"),
    Date: col.int("timestamp"),
    Pool: col.string("pool.id"),
  },
});

export default flow;
runWhenMain(import.meta, flow);
