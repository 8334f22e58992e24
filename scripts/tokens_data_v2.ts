// tokens_data_v2: one row per carbon token (BCT, NCT, MCO2, UBO, NBO) with its current supply,
// its redeem fee read from the Polygon contracts, today's price and the cost of a selective
// redeem (docs/datasets.md §5.13). Not historized: only tokens_data_v2-latest is written.
import { runWhenMain } from "../lib/run/cli.ts";
import { TOKEN_NAMES, TOKENS } from "../lib/sources/constants.ts";
import { UserError } from "../lib/core/errors.ts";
import { derivedFlow } from "../lib/flows/flow.ts";
import { feeRedeemFactors } from "../lib/sources/polygon.ts";
import { columnar, table, type Row, type Table } from "../lib/table/table.ts";

const flow = derivedFlow({
  slug: "tokens_data_v2",
  // What the dashboard API reads (docs/datasets.md §8.1).
  consumer: ["name", "token_address"],
  historized: false,
  from: {
    polygon_pools_deposited_offsets: ["quantity", "pool"],
    polygon_pools_redeemed_offsets: ["quantity", "pool"],
    eth_moss_bridged_offsets_v2: ["quantity"],
    eth_retired_offsets_v2: ["quantity"],
    current_assets_prices: TOKEN_NAMES.map((t) => `${t.toLowerCase()}_price`),
  },
  build: async (inputs, ctx) => {
    const {
      polygon_pools_deposited_offsets: deposited, polygon_pools_redeemed_offsets: redeemed,
      eth_moss_bridged_offsets_v2: mossBridged, eth_retired_offsets_v2: ethRetired,
    } = inputs as Record<string, Table>;
    const prices = inputs.current_assets_prices!.rows[0];
    if (!prices) throw new UserError("current_assets_prices-latest has no row");

    const fees = await feeRedeemFactors(ctx);

    const [depositedByPool, redeemedByPool] = [deposited, redeemed].map(totalsByPool);
    const rows: Row[] = TOKEN_NAMES.map((token) => {
      const info = TOKENS[token];
      const supply = token === "MCO2"
        ? total(mossBridged) - total(ethRetired)
        : (depositedByPool.get(info.tokenAddress) ?? 0) - (redeemedByPool.get(info.tokenAddress) ?? 0);
      const price = number(prices[`${token.toLowerCase()}_price`]);
      const fee = fees[token];
      return {
        name: token,
        pair_address: info.pairAddress,
        token_address: info.tokenAddress,
        full_name: info.fullName,
        bridge: info.bridge,
        decimals: info.decimals,
        current_supply: supply,
        fee_redeem_factor: fee,
        price,
        selective_cost_value: price === null ? null : price * (1 + fee),
      };
    });
    return table({
      name: "string",
      pair_address: "string",
      token_address: "string",
      full_name: "string",
      bridge: "string",
      decimals: "int",
      current_supply: "float",
      fee_redeem_factor: "float",
      price: "float",
      selective_cost_value: "float",
    }, rows);
  },
});

const number = (value: unknown): number | null => (typeof value === "number" && !Number.isNaN(value) ? value : null);

/** Σ quantity, a null quantity counting 0. */
function total(input: Table): number {
  const quantity = columnar(input).vector("quantity") as Float64Array;
  let sum = 0;
  for (const q of quantity) sum += q === q ? q : 0;
  return sum;
}

/** Σ quantity by lower-cased pool, each pool's rows added in order (read by columns: no row is made). */
function totalsByPool(input: Table): Map<string, number> {
  const t = columnar(input);
  const quantity = t.vector("quantity") as Float64Array;
  const pool = t.textAt("pool")!;
  const sums = new Map<string, number>();
  const lower = new Map<string, string>(); // a few pools over many rows: each lower-cased once
  for (let i = 0; i < t.length; i++) {
    const name = pool(i);
    if (name === null) continue;
    let key = lower.get(name);
    if (key === undefined) lower.set(name, (key = name.toLowerCase()));
    const q = quantity[i]!;
    sums.set(key, (sums.get(key) ?? 0) + (q === q ? q : 0));
  }
  return sums;
}

export default flow;
runWhenMain(import.meta, flow);
