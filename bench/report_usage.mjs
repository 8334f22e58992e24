// Plain JS (it may load before tsx does). Preloaded (node --import) into a process the benchmarks measure: at exit, writes its
// peak RSS and CPU time as JSON to the file named by BENCH_USAGE_FILE.
import { writeFileSync } from "node:fs";

// BENCH_USAGE_DIR (inherited by child processes through NODE_OPTIONS) collects one file per process.
const file = process.env.BENCH_USAGE_FILE || (process.env.BENCH_USAGE_DIR ? `${process.env.BENCH_USAGE_DIR}/${process.pid}.json` : undefined);
if (file) {
  process.on("exit", () => {
    const usage = process.resourceUsage();
    writeFileSync(file, JSON.stringify({ script: process.argv[1], maxRssBytes: usage.maxRSS * 1024, userMs: usage.userCPUTime / 1000, systemMs: usage.systemCPUTime / 1000 }));
  });
}
