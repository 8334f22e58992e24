// raw_assets_prices: the daily closing USD price of each carbon token, newest day first
// (docs/datasets.md §4.16): the day's last hourly candle, zero closes and the known mispriced
// NCT candle left out, the tokens joined on the day.
import { runWhenMain } from "../lib/run/cli.ts";
import { checked, parseDecimal } from "../lib/table/columns.ts";
import { MISPRICED_NCT_SWAP, TOKEN_NAMES, TOKENS } from "../lib/sources/constants.ts";
import { sourceFlow } from "../lib/flows/flow.ts";
import { fetchCollection } from "../lib/sources/subgraph.ts";
import type { Column, Row } from "../lib/table/table.ts";

const DAY = 86_400_000;

const flow = sourceFlow({
  slug: "raw_assets_prices",
  fetch: async (ctx) => {
    // The five tokens' candles are asked for at the same time, then joined in token order.
    const candles = await Promise.all(TOKEN_NAMES.map((token) => fetchCollection(ctx, "pairs", {
      collection: "swaps",
      select: "close timestamp pair { id }",
      orderBy: "timestamp",
      orderDirection: "desc",
      where: { pair: TOKENS[token].pairAddress },
    })));
    const days = new Map<number, Row>(); // day (ms) -> the row being joined
    const columns: Column[] = [];
    TOKEN_NAMES.forEach((token, i) => {
      columns.push({ name: `${token}_Address`, type: "string" }, { name: `${token}_Price`, type: "float" });
      if (i === 0) columns.push({ name: "Date", type: "date" });
      const closed = new Set<number>();
      for (const swap of candles[i]!) {
        if (token === "NCT" && swap.id === MISPRICED_NCT_SWAP) continue;
        const day = Math.floor(Number(swap.timestamp) * 1000 / DAY) * DAY;
        // Newest first: the first candle of a day is its close. A zero close drops the day for this token.
        if (closed.has(day)) continue;
        closed.add(day);
        const price = checked(parseDecimal(swap.close), "pairs subgraph, swaps.close", swap.close);
        if (!price) continue;
        const row = days.get(day) ?? { Date: new Date(day) };
        row[`${token}_Address`] = (swap.pair as { id: string }).id;
        row[`${token}_Price`] = price;
        days.set(day, row);
      }
    });
    const rows = [...days.keys()].sort((a, b) => b - a).map((day) => {
      const row = days.get(day)!;
      return Object.fromEntries(columns.map((c) => [c.name, row[c.name] ?? null])) as Row;
    });
    return { columns, rows };
  },
});

export default flow;
runWhenMain(import.meta, flow);
