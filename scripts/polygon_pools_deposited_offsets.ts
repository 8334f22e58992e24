// polygon_pools_deposited_offsets: raw_polygon_pools_deposited_offsets with a deposited_date timestamp,
// lower-case pool addresses and snake_case columns (docs/datasets.md §5.2).
import { runWhenMain } from "../lib/run/cli.ts";
import { derivedFlow } from "../lib/flows/flow.ts";
import { autoRename, lowerCasePools, unixToTimestamp } from "../lib/table/transforms.ts";

const flow = derivedFlow({
  slug: "polygon_pools_deposited_offsets",
  // What the dashboard API reads (docs/datasets.md §8.1).
  consumer: ["pool", "quantity", "deposited_date"],
  from: ["raw_polygon_pools_deposited_offsets"],
  build: ({ raw_polygon_pools_deposited_offsets: raw }) => autoRename(lowerCasePools(unixToTimestamp(raw, "deposited_date"))),
});

export default flow;
runWhenMain(import.meta, flow);
