// The columns the dashboard API (KlimaDAO/dash-apps, carbon-api) reads, per slug
// (docs/datasets.md §8.1). promote.ts refuses a staging set that lost any of them.
/** The `bridge=all` subset; the retired datasets have `retirement_date` in place of `bridged_date`. */
const BRIDGE_ALL = [
  "token_address", "bridged_date", "project_id", "project_id_key", "project_type", "region",
  "country", "country_code", "methodology", "vintage", "name", "quantity",
];
const POLYGON_V2 = ["bridge", "bct_quantity", "nct_quantity", "ubo_quantity", "nbo_quantity", "total_quantity", ...BRIDGE_ALL];
const ETH_V2 = ["bridge", "total_quantity", "mco2_quantity", ...BRIDGE_ALL];
const retired = (columns: string[]) => columns.map((c) => (c === "bridged_date" ? "retirement_date" : c));
const CREDITS = ["retirement_date", "quantity", "vintage", "country", "country_code", "project_type", "methodology", "bridge"];
const TOKENS = ["bct", "nct", "mco2", "ubo", "nbo"];

export const CONSUMER_COLUMNS: Readonly<Record<string, readonly string[]>> = {
  verra_data_v2: ["toucan", "c3", "moss", "status", "issuance_date", ...CREDITS],
  verra_retirements: CREDITS,
  polygon_bridged_offsets_v2: POLYGON_V2,
  polygon_retired_offsets_v2: retired(POLYGON_V2),
  eth_moss_bridged_offsets_v2: ETH_V2,
  eth_retired_offsets_v2: retired(ETH_V2),
  polygon_pools_retired_offsets: ["pool", "quantity", "retirement_date"],
  polygon_pools_deposited_offsets: ["pool", "quantity", "deposited_date"],
  polygon_pools_redeemed_offsets: ["pool", "quantity", "redeemed_date"],
  tokens_data_v2: ["name", "token_address"],
  offsets_holders_data: ["klimate_address", "klimate_name", "quantity"],
  assets_prices: ["date", ...TOKENS.flatMap((t) => [`${t}_price`, `${t}_address`])],
  current_assets_prices: ["date", ...TOKENS.map((t) => `${t}_price`)],
  polygon_carbon_metrics: ["date", "total_retirements", "bct_supply", "nct_supply", "ubo_supply", "nbo_supply", "mco2_supply"],
  eth_carbon_metrics: ["date", "total_retirements", "mco2_supply"],
  celo_carbon_metrics: ["date", "total_retirements", "bct_supply", "nct_supply", "mco2_supply"],
  all_retirements: ["retirement_date", "quantity", "beneficiary", "origin"],
  polygon_klima_retirements: ["retirement_date", "quantity", "beneficiary", "token"],
};

/** The consumer's columns that `columns` lacks (none for slugs the API does not read). */
export function missingConsumerColumns(slug: string, columns: readonly string[]): string[] {
  const present = new Set(columns);
  return (CONSUMER_COLUMNS[slug] ?? []).filter((c) => !present.has(c));
}
