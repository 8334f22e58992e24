// eth_carbon_metrics: the daily carbon metrics of Ethereum with readable column names and a date
// (docs/datasets.md §5.12). Rows stay newest first: the dashboard samples the last row of each month.
import { runWhenMain } from "../lib/run/cli.ts";
import { derivedFlow } from "../lib/flows/flow.ts";
import { carbonMetricsByDay } from "../lib/table/transforms.ts";

const flow = derivedFlow({
  slug: "eth_carbon_metrics",
  // What the dashboard API reads (docs/datasets.md §8.1).
  consumer: ["date", "total_retirements", "mco2_supply"],
  from: ["raw_eth_carbon_metrics"],
  build: ({ raw_eth_carbon_metrics: raw }) => carbonMetricsByDay(raw),
});

export default flow;
runWhenMain(import.meta, flow);
