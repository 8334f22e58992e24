// all_retirements: off-chain (Verra) and KlimaDAO retirements together, newest first (docs/datasets.md §5.11;
// beneficiary names and addresses and the bridge casing are mixed as the dashboard expects, Q22).
import { runWhenMain } from "../lib/run/cli.ts";
import { derivedFlow } from "../lib/flows/flow.ts";
import { concatRows, renameColumns, selectColumns, sortRowsBy, withColumns } from "../lib/table/operations.ts";
import { columnsOf } from "../lib/table/table.ts";

const flow = derivedFlow({
  slug: "all_retirements",
  // What the dashboard API reads (docs/datasets.md §8.1).
  consumer: ["retirement_date", "quantity", "beneficiary", "origin"],
  from: {
    verra_retirements: ["retirement_beneficiary", "retirement_date", "serial_number", "bridge", "project_id", "quantity"],
    polygon_klima_retirements: "*",
  },
  build: ({ verra_retirements: verra, polygon_klima_retirements: klima }) => {
    const offchain = withColumns(
      renameColumns(verra, (name) => (name === "retirement_beneficiary" ? "beneficiary" : name)),
      [{ name: "origin", type: "string" }],
      () => ["Offchain"],
    );
    const onchain = withColumns(
      selectColumns(klima, ["beneficiary", "retirement_date", "bridge", "project_id", "quantity", "origin", "transaction_id", "token"]),
      [{ name: "origin", type: "string" }],
      (r) => [r.origin ?? "Klima"],
    );
    const all = concatRows(columnsOf(COLUMNS), [offchain, onchain]);
    // Newest first; ties (and rows without a date, last) keep Verra's rows before Klima's, each in its own order.
    const dates = all.vector("retirement_date") as Float64Array;
    return sortRowsBy(all, (i) => (dates[i] === dates[i] ? dates[i]! : -Infinity), { descending: true });
  },
});

const COLUMNS = {
  beneficiary: "string", retirement_date: "timestamp", serial_number: "string", bridge: "string", project_id: "string",
  quantity: "float", origin: "string", transaction_id: "string", token: "string",
} as const;

export default flow;
runWhenMain(import.meta, flow);
