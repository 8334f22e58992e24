// raw_polygon_pools_retired_offsets: retirements made through KlimaDAO's aggregator, with the
// pool they came from (docs/datasets.md §4.3). The account columns are the intended ones (docs/datasets.md §9, Q4):
// the addresses, not the Account objects' expanded fields.
import { runWhenMain } from "../lib/run/cli.ts";
import { col } from "../lib/table/columns.ts";
import { subgraphFlow } from "../lib/flows/subgraph_flow.ts";

const flow = subgraphFlow({
  slug: "raw_polygon_pools_retired_offsets",
  // Optional texts a retiree may leave empty.
  sparse: ["Beneficiary", "Retirement Message"],
  source: "carbonPolygon",
  query: {
    collection: "klimaRetires",
    select: "retire { timestamp hash amount beneficiaryName retirementMessage pool { id } retiringAddress { id } beneficiaryAddress { id } }",
    orderBy: "retire__timestamp",
    orderDirection: "desc",
  },
  columns: {
    Date: col.int("retire.timestamp"),
    Pool: col.string("retire.pool.id"),
    "Tx ID": col.string("retire.hash"),
    Quantity: col.tonnes("retire.amount"),
    "Retiring Address": col.string("retire.retiringAddress.id"),
    Beneficiary: col.string("retire.beneficiaryName"),
    "Beneficiary Address": col.string("retire.beneficiaryAddress.id"),
    "Retirement Message": col.string("retire.retirementMessage"),
  },
});

export default flow;
runWhenMain(import.meta, flow);
