// eth_retired_offsets_v2: retirements on Ethereum with Verra's project data and the beneficiary
// from the Moss retirements (docs/datasets.md §5.8; docs/datasets.md §9 Q11: mco2_quantity is the row's quantity).
import { runWhenMain } from "../lib/run/cli.ts";
import { derivedFlow } from "../lib/flows/flow.ts";
import { withColumns } from "../lib/table/operations.ts";
import { type Column, type Row } from "../lib/table/table.ts";
import { autoRename, mergeWithVerra, unixToTimestamp, VERRA_MERGE_COLUMNS, vintageYear } from "../lib/table/transforms.ts";
import { ETH_V2, retired } from "../lib/flows/consumer.ts";

const flow = derivedFlow({
  slug: "eth_retired_offsets_v2",
  // What the dashboard API reads (docs/datasets.md §8.1).
  consumer: retired(ETH_V2),
  from: {
    raw_eth_retired_offsets: "*",
    raw_eth_moss_retired_offsets: "*",
    verra_data_v2: [...VERRA_MERGE_COLUMNS],
  },
  build: ({ raw_eth_retired_offsets: retires, raw_eth_moss_retired_offsets: moss, verra_data_v2: verra }) => {
    const merged = unixToTimestamp(mergeWithVerra(autoRename(retires), verra), "retirement_date");
    // The first Moss retirement of each transaction gives its retiree and beneficiary.
    const byTx = new Map<string, Row>();
    for (const m of autoRename(moss).rows) if (typeof m.tx_id === "string" && !byTx.has(m.tx_id)) byTx.set(m.tx_id, m);
    const replaced: Column[] = [
      { name: "vintage", type: "int" },
      { name: "total_quantity", type: "float" },
      { name: "beneficiary", type: "string" },
      { name: "mco2_quantity", type: "float" },
    ];
    return withColumns(merged, replaced, (row) => {
      const m = typeof row.tx_id === "string" ? byTx.get(row.tx_id) : undefined;
      const beneficiary = m ? (m.beneficiary ?? m.retiree ?? null) : null;
      return [vintageYear(row.vintage), row.quantity ?? null, beneficiary, row.quantity ?? null];
    });
  },
});

export default flow;
runWhenMain(import.meta, flow);
