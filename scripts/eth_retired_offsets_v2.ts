// eth_retired_offsets_v2: retirements on Ethereum with Verra's project data and the beneficiary
// from the Moss retirements (DATASETS.md §5.8; SPEC §12 Q11: mco2_quantity is the row's quantity).
import { runWhenMain } from "../lib/cli.ts";
import { derivedFlow } from "../lib/flow.ts";
import { mapTable, type Column, type Row } from "../lib/table.ts";
import { autoRename, fromUnix, mergeWithVerra, VERRA_MERGE_COLUMNS, vintageYear } from "../lib/transforms.ts";

const flow = derivedFlow({
  slug: "eth_retired_offsets_v2",
  from: ["raw_eth_retired_offsets", "raw_eth_moss_retired_offsets", "verra_data_v2"],
  columns: { verra_data_v2: [...VERRA_MERGE_COLUMNS] },
  build: ({ raw_eth_retired_offsets: retires, raw_eth_moss_retired_offsets: moss, verra_data_v2: verra }) => {
    const merged = mergeWithVerra(autoRename(retires), verra);
    // The first Moss retirement of each transaction gives its retiree and beneficiary.
    const byTx = new Map<string, Row>();
    for (const m of autoRename(moss).rows) if (typeof m.tx_id === "string" && !byTx.has(m.tx_id)) byTx.set(m.tx_id, m);
    const columns: Column[] = [
      ...merged.columns.map((c): Column => (c.name === "date" ? { name: "retirement_date", type: "timestamp" } : c.name === "vintage" ? { name: "vintage", type: "int" } : c)),
      { name: "beneficiary", type: "string" },
      { name: "mco2_quantity", type: "float" },
    ];
    return mapTable(merged, columns, (row) => {
      const m = typeof row.tx_id === "string" ? byTx.get(row.tx_id) : undefined;
      const beneficiary = m ? (m.beneficiary ?? m.retiree ?? null) : null;
      return [
        ...merged.columns.map((c) =>
          c.name === "date" ? fromUnix(row.date) : c.name === "vintage" ? vintageYear(row.vintage) : c.name === "total_quantity" ? row.quantity ?? null : row[c.name] ?? null),
        beneficiary,
        row.quantity ?? null,
      ];
    });
  },
});

export default flow;
runWhenMain(import.meta, flow);
