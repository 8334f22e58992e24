// raw_verra_data: every VCS issuance record on the Verra registry (docs/datasets.md §4.1),
// complete: fetched by issuance-date windows rather than one capped request.
import { runWhenMain } from "../lib/run/cli.ts";
import { sourceFlow } from "../lib/flows/flow.ts";
import { fetchVerra, verraTable } from "../lib/sources/verra.ts";

const flow = sourceFlow({
  slug: "raw_verra_data",
  // Free text that registries fill in when they like: its share of nulls may move a lot in a day.
  sparse: ["Retirement Beneficiary", "Retirement Reason", "Retirement Details", "Additional Certifications"],
  dryRunDummy: true,
  fetch: async (ctx) =>
    // DRY_RUN: the original's one-row dummy instead of calling Verra.
    ctx.config.dryRun ? verraTable([{ issuanceDate: "something" }]) : fetchVerra(ctx),
});

export default flow;
runWhenMain(import.meta, flow);
