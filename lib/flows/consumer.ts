// Column groups the dashboard API (KlimaDAO/dash-apps, carbon-api) reads from several datasets
// (docs/datasets.md §8.1). Each flow declares its own `consumer` columns, built from these where
// they share a shape; validation and promote read the declarations from the flows.

/** The `bridge=all` subset; the retired datasets have `retirement_date` in place of `bridged_date`. */
const BRIDGE_ALL = [
  "token_address", "bridged_date", "project_id", "project_id_key", "project_type", "region",
  "country", "country_code", "methodology", "vintage", "name", "quantity",
];
/** The Polygon bridged offsets, per pool. */
export const POLYGON_V2 = ["bridge", "bct_quantity", "nct_quantity", "ubo_quantity", "nbo_quantity", "total_quantity", ...BRIDGE_ALL];
/** The Ethereum (Moss) bridged offsets. */
export const ETH_V2 = ["bridge", "total_quantity", "mco2_quantity", ...BRIDGE_ALL];
/** A bridged group as its retired dataset has it: `retirement_date` for `bridged_date`. */
export const retired = (columns: readonly string[]): string[] => columns.map((c) => (c === "bridged_date" ? "retirement_date" : c));
/** The Verra credits. */
export const CREDITS = ["retirement_date", "quantity", "vintage", "country", "country_code", "project_type", "methodology", "bridge"];
/** The five carbon tokens, as column prefixes. */
export const TOKEN_PREFIXES = ["bct", "nct", "mco2", "ubo", "nbo"];
