// polygon_retired_offsets_v2: Polygon retirements with Verra's project data, fixed regions, a
// retirement_date timestamp and per-pool quantities (docs/datasets.md §5.5, docs/datasets.md §9 Q5: no technical columns).
import { runWhenMain } from "../lib/run/cli.ts";
import { derivedFlow } from "../lib/flows/flow.ts";
import { autoRename, fixRegions, mergeWithVerra, VERRA_MERGE_COLUMNS, poolQuantities, unixToTimestamp } from "../lib/table/transforms.ts";
import { POLYGON_V2, retired } from "../lib/flows/consumer.ts";

const flow = derivedFlow({
  slug: "polygon_retired_offsets_v2",
  // What the dashboard API reads (docs/datasets.md §8.1).
  consumer: retired(POLYGON_V2),
  from: {
    raw_polygon_retired_offsets: "*",
    verra_data_v2: [...VERRA_MERGE_COLUMNS],
  },
  build: ({ raw_polygon_retired_offsets: raw, verra_data_v2: verra }) =>
    poolQuantities(unixToTimestamp(fixRegions(mergeWithVerra(autoRename(raw), verra)), "retirement_date")),
});

export default flow;
runWhenMain(import.meta, flow);
