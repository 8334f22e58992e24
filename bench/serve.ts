// One fake source in a process of its own (benchmarks: the fakes must not share one event loop,
// as real sources do not). Prints its URLs as one JSON line, then serves until killed; a line
// "usage" on stdin is answered on stdout with the CPU time this process has used, as JSON.
import { createInterface } from "node:readline";
import { startFakePolygonRpc } from "../test/fakes/polygon_rpc.ts";
import { startFakeSubgraphs } from "../test/fakes/subgraph.ts";
import { generateSubgraphData } from "../test/fakes/subgraph_data.ts";
import { generateVerraRecords, startFakeVerra } from "../test/fakes/verra.ts";

const [kind, size, latency] = process.argv.slice(2);
const latencyMs = Number(latency ?? 0);
if (kind === "verra") {
  const fake = await startFakeVerra({ records: generateVerraRecords(Number(size)), latencyMs, serializeOnce: true });
  console.log(JSON.stringify({ DATA_PIPELINES_VERRA_SEARCH_URL: fake.url }));
} else if (kind === "rpc") {
  const fake = await startFakePolygonRpc();
  console.log(JSON.stringify({ DATA_PIPELINES_POLYGON_RPC_URL: fake.url }));
} else {
  const fake = await startFakeSubgraphs({ stores: generateSubgraphData({ seed: 1, scale: Number(size) / 12_000 }), latencyMs });
  const env: Record<string, string> = {
    polygon: "DATA_PIPELINES_CARBON_SUBGRAPH_URL", ethereum: "DATA_PIPELINES_CARBON_ETH_SUBGRAPH_URL", celo: "DATA_PIPELINES_CARBON_CELO_SUBGRAPH_URL",
    user: "DATA_PIPELINES_CARBON_HOLDERS_SUBGRAPH_URL", pairs: "DATA_PIPELINES_PAIRS_SUBGRAPH_URL",
  };
  const names = { polygon: "polygon-digital-carbon", ethereum: "ethereum-bridged-carbon", celo: "celo-bridged-carbon", user: "user-carbon", pairs: "pairs" } as const;
  console.log(JSON.stringify(Object.fromEntries(Object.entries(names).map(([k, n]) => [env[k]!, fake.url(n)]))));
}
createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() !== "usage") return;
  const cpu = process.cpuUsage();
  console.log(JSON.stringify({ cpuMs: (cpu.user + cpu.system) / 1000 }));
});
