// A flow with nothing to fetch or build (one row): `npm run bench -- startup` times it with `npx tsx`
// to show what every flow pays before its own work: start-up, config, run history, lake write.
import { runWhenMain } from "../lib/run/cli.ts";
import { sourceFlow } from "../lib/flows/flow.ts";
import { table } from "../lib/table/table.ts";

const flow = sourceFlow({
  slug: "bench_noop",
  fetch: async () => table({ ok: "bool" }, [{ ok: true }]),
});

export default flow;
runWhenMain(import.meta, flow);
