// polygon_bridged_offsets_v2: credits bridged to Polygon with Verra's project data (methodology
// included), fixed regions, a bridged_date timestamp (null when never bridged) and per-pool
// quantities (docs/datasets.md §5.6, docs/datasets.md §9 Q5, Q6).
import { runWhenMain } from "../lib/run/cli.ts";
import { derivedFlow } from "../lib/flows/flow.ts";
import { dropColumns } from "../lib/table/operations.ts";
import { autoRename, fixRegions, mergeWithVerra, VERRA_MERGE_COLUMNS, poolQuantities, unixToTimestamp } from "../lib/table/transforms.ts";
import { POLYGON_V2 } from "../lib/flows/consumer.ts";

const flow = derivedFlow({
  slug: "polygon_bridged_offsets_v2",
  // What the dashboard API reads (docs/datasets.md §8.1).
  consumer: POLYGON_V2,
  from: {
    raw_polygon_bridged_offsets: "*",
    verra_data_v2: [...VERRA_MERGE_COLUMNS],
  },
  build: ({ raw_polygon_bridged_offsets: raw, verra_data_v2: verra }) =>
    dropColumns(poolQuantities(unixToTimestamp(fixRegions(mergeWithVerra(autoRename(raw), verra)), "bridged_date")), ["id"]),
});

export default flow;
runWhenMain(import.meta, flow);
