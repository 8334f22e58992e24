import { startFakeSubgraphs } from "../test/fakes/subgraph.ts";
import { generateSubgraphData } from "../test/fakes/subgraph_data.ts";
const fake = await startFakeSubgraphs({ stores: generateSubgraphData({ seed: 3, scale: Number(process.argv[2] ?? 1) }) });
for (const n of ["polygon-digital-carbon", "ethereum-bridged-carbon", "celo-bridged-carbon", "user-carbon", "pairs"] as const) console.log(n, fake.url(n));
setInterval(() => { process.stderr.write(`requests ${fake.requests.length}\n`); }, 5000);
