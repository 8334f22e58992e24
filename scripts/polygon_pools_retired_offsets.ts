// polygon_pools_retired_offsets: raw_polygon_pools_retired_offsets with a retirement_date timestamp,
// lower-case pool addresses and snake_case columns (docs/datasets.md §5.2).
import { runWhenMain } from "../lib/run/cli.ts";
import { derivedFlow } from "../lib/flows/flow.ts";
import { autoRename, lowerCasePools, unixToTimestamp } from "../lib/table/transforms.ts";

const flow = derivedFlow({
  slug: "polygon_pools_retired_offsets",
  // What the dashboard API reads (docs/datasets.md §8.1).
  consumer: ["pool", "quantity", "retirement_date"],
  // Optional texts a retiree may leave empty (sparse in raw_polygon_pools_retired_offsets too).
  sparse: ["beneficiary", "retirement_message"],
  from: ["raw_polygon_pools_retired_offsets"],
  build: ({ raw_polygon_pools_retired_offsets: raw }) => autoRename(lowerCasePools(unixToTimestamp(raw, "retirement_date"))),
});

export default flow;
runWhenMain(import.meta, flow);
