// raw_eth_carbon_metrics: daily carbon metrics on Ethereum (docs/datasets.md §4.13).
import { runWhenMain } from "../lib/run/cli.ts";
import { carbonMetricsFlow } from "../lib/flows/subgraph_flow.ts";

const flow = carbonMetricsFlow({
  slug: "raw_eth_carbon_metrics",
  source: "carbonEth",
  metrics: ["mco2Supply", "totalCarbonSupply", "mco2Retired", "totalRetirements"],
});

export default flow;
runWhenMain(import.meta, flow);
