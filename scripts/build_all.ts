// build_all: every dataset flow, as a dependency graph (upstreams first, independent flows in
// parallel), in this process or one process per flow (--isolate). Prints a summary; exits
// non-zero if any flow failed.
import { constants } from "node:os";
import { DEFAULT_CONCURRENCY, DEFAULT_ISOLATED_CONCURRENCY, runBuild, summaryTable } from "../lib/run/build.ts";
import { command, RUN_OPTIONS, RUN_OPTIONS_HELP, runOrigin } from "../lib/run/cli.ts";
import { wholeFlag } from "../lib/core/parse.ts";
import { ALL_FLOWS } from "./flows.ts";

await command(
  {
    usage: "usage: npx tsx scripts/build_all.ts [--only <slug,...>] [--from <slug,...>] [--concurrency <n>] [--isolate]",
    help: [
      "",
      `Runs the ${ALL_FLOWS.length} dataset flows into the lake, each as soon as its upstream flows have finished,`,
      `at most DATA_PIPELINES_CONCURRENCY at once (default ${DEFAULT_CONCURRENCY}; ${DEFAULT_ISOLATED_CONCURRENCY} with --isolate). A failed flow does`,
      "not stop the others; a flow whose upstream failed runs on that upstream's previous -latest and is",
      "flagged. Exits 1 if any flow failed.",
      "SIGINT/SIGTERM stop it: flow processes are stopped and waited for (flows in this process cannot be),",
      "every open run is recorded failed, and it exits 130/143.",
      "  --only <slugs>        run only these flows",
      "  --from <slugs>        run these flows and everything downstream of them",
      "  --concurrency <n>     flows at once (overrides DATA_PIPELINES_CONCURRENCY)",
      "  --isolate             run each flow in its own process (memory and crash isolation; about 0.5 s of start-up each)",
      RUN_OPTIONS_HELP,
    ],
    options: {
      only: { type: "string" },
      from: { type: "string" },
      concurrency: { type: "string" },
      isolate: { type: "boolean" },
      ...RUN_OPTIONS,
    },
    showConfig: true,
    ownSignals: true, // runBuild: stops and waits for the flow processes before recording the build
  },
  async ({ values, config, log }) => {
    const list = (v: unknown) => (typeof v === "string" ? v.split(",").map((s) => s.trim()).filter(Boolean) : undefined);
    const concurrency = wholeFlag(values, "concurrency", config.concurrency ?? (values.isolate ? DEFAULT_ISOLATED_CONCURRENCY : DEFAULT_CONCURRENCY), { min: 1 });
    const { outcomes, stoppedBy } = await runBuild({
      name: "build_all", flows: ALL_FLOWS, config, log, concurrency, ...runOrigin(values),
      only: list(values.only), from: list(values.from), inProcess: !values.isolate,
    });
    process.stdout.write(`\n${summaryTable(outcomes)}\n`);
    if (stoppedBy) return 128 + constants.signals[stoppedBy];
    return outcomes.some((o) => o.status === "failed") ? 1 : 0;
  },
);
