// verra_retirements: Verra credits retired off-chain, i.e. not through a bridge (docs/datasets.md §5.4).
import { runWhenMain } from "../lib/run/cli.ts";
import { derivedFlow } from "../lib/flows/flow.ts";
import { filterRows } from "../lib/table/operations.ts";
import { CREDITS } from "../lib/flows/consumer.ts";

const flow = derivedFlow({
  slug: "verra_retirements",
  // What the dashboard API reads (docs/datasets.md §8.1).
  consumer: CREDITS,
  // The registry's free text, sparse in raw_verra_data too: its share of nulls may move a lot in a day.
  sparse: ["retirement_beneficiary", "retirement_reason", "retirement_details", "additional_certifications"],
  from: ["verra_data_v2"],
  build: ({ verra_data_v2 }) =>
    filterRows(verra_data_v2, (r) => !r.toucan && !r.c3 && !r.moss && r.status === "Retired"),
});

export default flow;
runWhenMain(import.meta, flow);
