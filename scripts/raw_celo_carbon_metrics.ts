// raw_celo_carbon_metrics: daily carbon metrics on Celo (docs/datasets.md §4.14).
import { runWhenMain } from "../lib/run/cli.ts";
import { carbonMetricsFlow } from "../lib/flows/subgraph_flow.ts";

const flow = carbonMetricsFlow({
  slug: "raw_celo_carbon_metrics",
  source: "carbonCelo",
  metrics: ["bctSupply", "nctSupply", "mco2Supply", "totalCarbonSupply", "mco2Retired", "totalRetirements"],
});

export default flow;
runWhenMain(import.meta, flow);
