// offsets_holders_data: each holder's latest holding per token, summed per holder, with a short
// name (docs/datasets.md §5.9; the sum across different tokens is kept, Q16).
import { runWhenMain } from "../lib/run/cli.ts";
import { HOLDER_NAMES } from "../lib/sources/constants.ts";
import { derivedFlow } from "../lib/flows/flow.ts";
import { table } from "../lib/table/table.ts";

const flow = derivedFlow({
  slug: "offsets_holders_data",
  // What the dashboard API reads (docs/datasets.md §8.1).
  consumer: ["klimate_address", "klimate_name", "quantity"],
  from: ["raw_offsets_holders_data"],
  build: ({ raw_offsets_holders_data: holdings }) => {
    const latest = new Map<string, { date: number; quantity: number; address: string }>();
    for (const h of holdings.rows) {
      const address = h.Klimate_Address as string;
      const key = `${address}-${h.Token}`;
      const date = (h.Date as number | null) ?? -Infinity;
      const seen = latest.get(key);
      if (!seen || date > seen.date) latest.set(key, { date, quantity: (h.Quantity as number | null) ?? 0, address });
    }
    const totals = new Map<string, number>();
    for (const { address, quantity } of latest.values()) totals.set(address, (totals.get(address) ?? 0) + quantity);
    return table(
      { klimate_address: "string", quantity: "float", klimate_name: "string" },
      [...totals].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([address, quantity]) => ({
        klimate_address: address,
        quantity,
        klimate_name: HOLDER_NAMES[address] ?? `${address.slice(0, 4)}...${address.slice(-1)}`,
      })),
    );
  },
});

export default flow;
runWhenMain(import.meta, flow);
