// all_retirements: off-chain (Verra) and KlimaDAO retirements together, newest first (docs/datasets.md §5.11;
// beneficiary names and addresses and the bridge casing are mixed as the dashboard expects, Q22).
import { runWhenMain } from "../lib/run/cli.ts";
import { derivedFlow } from "../lib/flows/flow.ts";
import { table, type Row } from "../lib/table/table.ts";

const flow = derivedFlow({
  slug: "all_retirements",
  // What the dashboard API reads (docs/datasets.md §8.1).
  consumer: ["retirement_date", "quantity", "beneficiary", "origin"],
  from: {
    verra_retirements: ["retirement_beneficiary", "retirement_date", "serial_number", "bridge", "project_id", "quantity"],
    polygon_klima_retirements: "*",
  },
  build: ({ verra_retirements: verra, polygon_klima_retirements: klima }) => {
    const offchain = verra.rows.map((r): Row => ({
      beneficiary: r.retirement_beneficiary ?? null, retirement_date: r.retirement_date ?? null, serial_number: r.serial_number ?? null,
      bridge: r.bridge ?? null, project_id: r.project_id ?? null, quantity: r.quantity ?? null,
      origin: "Offchain", transaction_id: null, token: null,
    }));
    const onchain = klima.rows.map((r): Row => ({
      beneficiary: r.beneficiary ?? null, retirement_date: r.retirement_date ?? null, serial_number: null,
      bridge: r.bridge ?? null, project_id: r.project_id ?? null, quantity: r.quantity ?? null,
      origin: r.origin ?? "Klima", transaction_id: r.transaction_id ?? null, token: r.token ?? null,
    }));
    const time = (r: Row) => (r.retirement_date instanceof Date ? r.retirement_date.getTime() : -Infinity);
    // Newest first; ties keep Verra's rows before Klima's, each in its own order (a stable sort).
    const rows = [...offchain, ...onchain].sort((a, b) => time(b) - time(a));
    return table({
      beneficiary: "string", retirement_date: "timestamp", serial_number: "string", bridge: "string", project_id: "string",
      quantity: "float", origin: "string", transaction_id: "string", token: "string",
    }, rows);
  },
});

export default flow;
runWhenMain(import.meta, flow);
