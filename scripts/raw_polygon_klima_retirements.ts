// raw_polygon_klima_retirements: retirements made through KlimaDAO, newest first, with a
// Polygonscan proof link (docs/datasets.md §4.6).
import { runWhenMain } from "../lib/run/cli.ts";
import { col } from "../lib/table/columns.ts";
import { PROOF_URL_PREFIX } from "../lib/sources/constants.ts";
import { subgraphFlow } from "../lib/flows/subgraph_flow.ts";

const flow = subgraphFlow({
  slug: "raw_polygon_klima_retirements",
  source: "carbonPolygon",
  query: {
    collection: "klimaRetires",
    select: "retire { hash amount timestamp beneficiaryAddress { id } credit { bridgeProtocol project { projectID } } pool { id } }",
    orderBy: "retire__timestamp",
    orderDirection: "desc",
  },
  columns: {
    "Transaction ID": col.string("retire.hash"),
    Beneficiary: col.string("retire.beneficiaryAddress.id"),
    "Project ID": col.string("retire.credit.project.projectID"),
    Bridge: col.string("retire.credit.bridgeProtocol"),
    Token: col.string("retire.pool.id"),
    "Retirement Date": col.datetimeText("retire.timestamp"),
    Quantity: col.tonnes("retire.amount"),
    Proof: col.computed("string", (e) => `${PROOF_URL_PREFIX}${(e.retire as { hash: string }).hash}`),
  },
});

export default flow;
runWhenMain(import.meta, flow);
