// polygon_klima_retirements: KlimaDAO retirements with a timestamp, an origin and the pool's token
// symbol (docs/datasets.md §5.10).
import { runWhenMain } from "../lib/run/cli.ts";
import { TOKEN_NAMES, TOKENS } from "../lib/sources/constants.ts";
import { derivedFlow } from "../lib/flows/flow.ts";
import { withColumns } from "../lib/table/operations.ts";
import { autoRename, parseUtc } from "../lib/table/transforms.ts";

const SYMBOL_BY_ADDRESS = new Map(TOKEN_NAMES.map((t) => [TOKENS[t].tokenAddress, t]));

const flow = derivedFlow({
  slug: "polygon_klima_retirements",
  // What the dashboard API reads (docs/datasets.md §8.1).
  consumer: ["retirement_date", "quantity", "beneficiary", "token"],
  from: ["raw_polygon_klima_retirements"],
  build: ({ raw_polygon_klima_retirements: raw }) =>
    autoRename(withColumns(
      raw,
      [{ name: "Retirement Date", type: "timestamp" }, { name: "Token", type: "string" }, { name: "Origin", type: "string" }],
      (row) => [parseUtc(row["Retirement Date"] as string | null), SYMBOL_BY_ADDRESS.get(row.Token as string) ?? null, "Klima"],
    )),
});

export default flow;
runWhenMain(import.meta, flow);
