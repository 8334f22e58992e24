// Plain JS (it may load before tsx does). Preloaded (node --import) into a process the benchmarks measure: at exit, writes its
// peak RSS and CPU time as JSON to the file named by BENCH_USAGE_FILE, with every HTTP request the process made
// (undici's diagnostics channels, which Node's fetch shares): [start, end] in epoch ms, and where it went.
import { subscribe } from "node:diagnostics_channel";
import { writeFileSync } from "node:fs";

// BENCH_USAGE_DIR (inherited by child processes through NODE_OPTIONS) collects one file per process.
const file = process.env.BENCH_USAGE_FILE || (process.env.BENCH_USAGE_DIR ? `${process.env.BENCH_USAGE_DIR}/${process.pid}.json` : undefined);
if (file) {
  const now = () => performance.timeOrigin + performance.now();
  const started = new WeakMap();
  const requests = [];
  subscribe("undici:request:create", ({ request }) => started.set(request, now()));
  const done = ({ request }) => {
    const start = started.get(request);
    if (start !== undefined) requests.push({ start, end: now(), origin: String(request.origin), path: request.path });
    started.delete(request);
  };
  subscribe("undici:request:trailers", done);
  subscribe("undici:request:error", done);
  process.on("exit", () => {
    const usage = process.resourceUsage();
    writeFileSync(file, JSON.stringify({
      script: process.argv[1], maxRssBytes: usage.maxRSS * 1024, userMs: usage.userCPUTime / 1000, systemMs: usage.systemCPUTime / 1000, requests,
    }));
  });
}
