// polygon_carbon_metrics: the daily carbon metrics of Polygon with readable column names and a date
// (docs/datasets.md §5.12). Rows stay newest first: the dashboard samples the last row of each month.
import { runWhenMain } from "../lib/run/cli.ts";
import { derivedFlow } from "../lib/flows/flow.ts";
import { carbonMetricsByDay } from "../lib/table/transforms.ts";

const flow = derivedFlow({
  slug: "polygon_carbon_metrics",
  // What the dashboard API reads (docs/datasets.md §8.1).
  consumer: ["date", "total_retirements", "bct_supply", "nct_supply", "ubo_supply", "nbo_supply", "mco2_supply"],
  from: ["raw_polygon_carbon_metrics"],
  build: ({ raw_polygon_carbon_metrics: raw }) => carbonMetricsByDay(raw),
});

export default flow;
runWhenMain(import.meta, flow);
