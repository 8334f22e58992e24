// Every fake source at once, on loopback, with generated data: for the demo, the end-to-end tests
// and the benchmarks. `env` points the pipelines at them.
import { startFakePolygonRpc, type FakePolygonRpc } from "./polygon_rpc.ts";
import { startFakeSubgraphs, type FakeSubgraphs } from "./subgraph.ts";
import { generateSubgraphData, type DataOptions } from "./subgraph_data.ts";
import { generateVerraRecords, startFakeVerra, type FakeVerra } from "./verra.ts";

export interface FakeSources {
  verra: FakeVerra;
  subgraphs: FakeSubgraphs;
  rpc: FakePolygonRpc;
  /** The DATA_PIPELINES_*_URL variables that point every flow at these fakes. */
  env: Record<string, string>;
  setLatency(ms: number): void;
  stop(): Promise<void>;
}

export async function startFakeSources(options: { verraRows?: number; subgraphs?: DataOptions; latencyMs?: number } = {}): Promise<FakeSources> {
  const verra = await startFakeVerra({ records: generateVerraRecords(options.verraRows ?? 20_000), latencyMs: options.latencyMs });
  const subgraphs = await startFakeSubgraphs({ stores: generateSubgraphData(options.subgraphs), latencyMs: options.latencyMs });
  const rpc = await startFakePolygonRpc();
  return {
    verra, subgraphs, rpc,
    env: {
      DATA_PIPELINES_VERRA_SEARCH_URL: verra.url,
      DATA_PIPELINES_CARBON_SUBGRAPH_URL: subgraphs.url("polygon-digital-carbon"),
      DATA_PIPELINES_CARBON_ETH_SUBGRAPH_URL: subgraphs.url("ethereum-bridged-carbon"),
      DATA_PIPELINES_CARBON_CELO_SUBGRAPH_URL: subgraphs.url("celo-bridged-carbon"),
      DATA_PIPELINES_CARBON_HOLDERS_SUBGRAPH_URL: subgraphs.url("user-carbon"),
      DATA_PIPELINES_PAIRS_SUBGRAPH_URL: subgraphs.url("pairs"),
      DATA_PIPELINES_POLYGON_RPC_URL: rpc.url,
    },
    setLatency: (ms) => {
      verra.setLatency(ms);
      subgraphs.setLatency(ms);
    },
    stop: async () => {
      await Promise.all([verra.stop(), subgraphs.stop(), rpc.stop()]);
    },
  };
}
