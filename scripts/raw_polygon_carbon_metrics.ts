// raw_polygon_carbon_metrics: daily carbon metrics on Polygon, with the Klima shares of
// retirements (docs/datasets.md §4.15).
import { runWhenMain } from "../lib/run/cli.ts";
import { carbonMetricsFlow } from "../lib/flows/subgraph_flow.ts";

const flow = carbonMetricsFlow({
  slug: "raw_polygon_carbon_metrics",
  source: "carbonPolygon",
  metrics: [
    "bctSupply", "nctSupply", "mco2Supply", "uboSupply", "nboSupply", "bctRedeemed", "nctRedeemed", "uboRedeemed",
    "nboRedeemed", "totalCarbonSupply", "mco2Retired", "tco2Retired", "c3tRetired", "totalRetirements",
    "bctKlimaRetired", "nctKlimaRetired", "mco2KlimaRetired", "uboKlimaRetired", "nboKlimaRetired", "totalKlimaRetirements",
  ],
  computed: {
    tco2KlimaRetired: (m) => m("bctKlimaRetired") + m("nctKlimaRetired"),
    c3tKlimaRetired: (m) => m("uboKlimaRetired") + m("nboKlimaRetired"),
    not_klima_retired: (m) => m("totalRetirements") - m("totalKlimaRetirements"),
  },
});

export default flow;
runWhenMain(import.meta, flow);
