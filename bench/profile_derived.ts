// Profiling aid: the 17 derived flows as one in-process build on a lake (argv[2]), the Polygon RPC
// answered by the local fake. Run with `node --cpu-prof --import tsx bench/profile_derived.ts <lake>`.
import { loadConfig } from "../lib/config/config.ts";
import { Logger } from "../lib/core/log.ts";
import { runBuild } from "../lib/run/build.ts";
import { ALL_FLOWS } from "../scripts/flows.ts";
import { startFakePolygonRpc } from "../test/fakes/polygon_rpc.ts";

const lake = process.argv[2];
if (!lake) throw new Error("usage: bench/profile_derived.ts <lake folder>");
const rpc = await startFakePolygonRpc();
try {
  const config = loadConfig({ DATA_PIPELINES_POLYGON_RPC_URL: rpc.url, DATA_PIPELINES_RESULT_STORAGE: `file:${lake}`, DATA_PIPELINES_DB: `${lake}/../runs.sqlite` });
  const log = new Logger({ format: "human", progress: false, stream: process.stderr });
  const started = process.cpuUsage();
  const { outcomes } = await runBuild({ name: "build_all", flows: ALL_FLOWS, config, log, concurrency: 8, inProcess: true, only: ALL_FLOWS.filter((f) => f.kind === "derived").map((f) => f.slug) });
  const cpu = process.cpuUsage(started);
  process.stderr.write(`${outcomes.filter((o) => o.status === "succeeded").length} succeeded; CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s; peak RSS ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB\n`);
} finally {
  await rpc.stop();
}
