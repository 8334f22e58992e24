// assets_prices: today's live prices on top of the daily closes, newest first (docs/datasets.md §5.1).
import { runWhenMain } from "../lib/run/cli.ts";
import { TOKEN_NAMES } from "../lib/sources/constants.ts";
import { derivedFlow, everyColumn } from "../lib/flows/flow.ts";
import { mapTable } from "../lib/table/operations.ts";
import { type Column } from "../lib/table/table.ts";
import { autoRename } from "../lib/table/transforms.ts";
import { TOKEN_PREFIXES } from "../lib/flows/consumer.ts";

const COLUMNS: Column[] = [
  { name: "date", type: "date" },
  ...TOKEN_NAMES.map((t): Column => ({ name: `${t.toLowerCase()}_price`, type: "float" })),
  ...TOKEN_NAMES.map((t): Column => ({ name: `${t.toLowerCase()}_address`, type: "string" })),
];

const flow = derivedFlow({
  slug: "assets_prices",
  // What the dashboard API reads (docs/datasets.md §8.1).
  consumer: ["date", ...TOKEN_PREFIXES.flatMap((t) => [`${t}_price`, `${t}_address`])],
  // current_assets_prices: every column (its prices are copied as they are), its date required.
  from: { raw_assets_prices: "*", current_assets_prices: everyColumn("date") },
  build: ({ raw_assets_prices: raw, current_assets_prices: current }) => {
    const daily = autoRename(raw);
    const today = current.rows[0]?.date instanceof Date ? (current.rows[0].date as Date).getTime() : undefined;
    // The live row replaces the day's close of the same date.
    const rows = [...current.rows, ...daily.rows.filter((r) => !(r.date instanceof Date && r.date.getTime() === today))];
    return mapTable({ columns: COLUMNS, rows }, COLUMNS, (row) => COLUMNS.map((c) => row[c.name] ?? null));
  },
});

export default flow;
runWhenMain(import.meta, flow);
