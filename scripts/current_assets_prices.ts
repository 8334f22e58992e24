// current_assets_prices: today's USD price of each carbon token, one row (docs/datasets.md §4.17).
// Asks for the five pairs by id (docs/datasets.md §9 Q14), not the first 100 pairs of the subgraph.
import { runWhenMain } from "../lib/run/cli.ts";
import { checked, parseDecimal } from "../lib/table/columns.ts";
import { TOKEN_NAMES, TOKENS } from "../lib/sources/constants.ts";
import { SourceError } from "../lib/core/errors.ts";
import { sourceFlow } from "../lib/flows/flow.ts";
import { fetchCollection } from "../lib/sources/subgraph.ts";
import type { Column, Row } from "../lib/table/table.ts";
import { TOKEN_PREFIXES } from "../lib/flows/consumer.ts";

const DAY = 86_400_000;

const flow = sourceFlow({
  slug: "current_assets_prices",
  // What the dashboard API reads (docs/datasets.md §8.1).
  consumer: ["date", ...TOKEN_PREFIXES.map((t) => `${t}_price`)],
  historized: false,
  fetch: async (ctx) => {
    const pairs = await fetchCollection(ctx, "pairs", {
      collection: "pairs",
      select: "currentprice",
      where: { id_in: TOKEN_NAMES.map((t) => TOKENS[t].pairAddress) },
      capped: false,
    });
    const prices = new Map(pairs.map((p) => [String(p.id).toLowerCase(), checked(parseDecimal(p.currentprice), "pairs subgraph, pairs.currentprice", p.currentprice)]));
    const row: Row = { date: new Date(Math.floor(ctx.now.getTime() / DAY) * DAY) };
    const columns: Column[] = [{ name: "date", type: "date" }];
    for (const token of TOKEN_NAMES) {
      const price = prices.get(TOKENS[token].pairAddress);
      if (price === undefined) throw new SourceError(`pairs subgraph has no pair ${TOKENS[token].pairAddress} (${token})`, false);
      row[`${token.toLowerCase()}_price`] = price;
      columns.push({ name: `${token.toLowerCase()}_price`, type: "float" });
    }
    return { columns, rows: [row] };
  },
});

export default flow;
runWhenMain(import.meta, flow);
