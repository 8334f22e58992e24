// raw_polygon_bridged_offsets: every carbon credit bridged to Polygon, with its project, its
// current pool balances and its first bridge date (docs/datasets.md §4.7, as fixed by docs/datasets.md §9:
// every credit kept, also without pool balances or bridges; no technical columns).
import { runWhenMain } from "../lib/run/cli.ts";
import { checked, col, parseDecimal, type ColumnSpec } from "../lib/table/columns.ts";
import { sourceFlow } from "../lib/flows/flow.ts";
import { fetchPoolBalances, withPoolQuantities } from "../lib/flows/pools.ts";
import { fetchCollection, fetchTable, together } from "../lib/sources/subgraph.ts";
import { withColumns } from "../lib/table/operations.ts";

/** A credit's columns, read from each page of credits as it arrives. */
const CREDIT_COLUMNS: Record<string, ColumnSpec> = {
  "Token Address": col.string("id"),
  Quantity: col.tonnes("currentSupply"),
  "Total Quantity": col.tonnes("bridged"),
  Bridge: col.string("bridgeProtocol"),
  Region: col.string("project.region"),
  Vintage: col.int("vintage"),
  "Project ID": col.string("project.id"),
  // The name the original produced; verra-based v2 datasets take the methodology from Verra.
  carbonCredits_project_methodologies: col.string("project.methodologies"),
  Country: col.string("project.country"),
  "Project Type": col.string("project.category"),
  Name: col.string("project.name"),
};

const flow = sourceFlow({
  slug: "raw_polygon_bridged_offsets",
  fetch: async (ctx) => {
    // The three collections do not depend on each other: asked for at the same time; the first failure stops all.
    const [table, balances, bridged] = await together(
      (signal) => fetchTable(ctx, "carbonPolygon", {
        collection: "carbonCredits",
        select: "currentSupply bridged bridgeProtocol vintage project { id region methodologies country category name }",
      }, CREDIT_COLUMNS, signal),
      (signal) => fetchPoolBalances(ctx, signal),
      (signal) => firstBridgeDates(ctx, signal),
    );
    const withPools = withPoolQuantities(table, "Token Address", balances);
    return withColumns(withPools, [{ name: "Date", type: "int" }], (r) => [bridged.get(r["Token Address"] as string) ?? null]);
  },
});

/** The earliest bridge timestamp of each credit (unix seconds). */
async function firstBridgeDates(ctx: Parameters<typeof fetchCollection>[0], signal: AbortSignal): Promise<Map<string, number>> {
  const bridges = await fetchCollection(ctx, "carbonPolygon", { collection: "bridges", select: "timestamp credit { id }", capped: false }, signal);
  const first = new Map<string, number>();
  for (const b of bridges) {
    const credit = (b.credit as { id: string } | null)?.id;
    const at = checked(parseDecimal(b.timestamp), "carbonPolygon subgraph, bridges.timestamp", b.timestamp);
    if (credit && at !== null && at < (first.get(credit) ?? Infinity)) first.set(credit, at);
  }
  return first;
}

export default flow;
runWhenMain(import.meta, flow);
