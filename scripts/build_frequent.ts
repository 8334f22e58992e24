// build_frequent: the hourly refresh, current_assets_prices then tokens_data_v2, each in its own
// process (stopped with this one, and by itself if this one dies: lib/process/exit_with_parent.ts).
import { constants } from "node:os";
import { runBuild, summaryTable } from "../lib/run/build.ts";
import { command, RUN_OPTIONS, RUN_OPTIONS_HELP, runOrigin } from "../lib/run/cli.ts";
import currentAssetsPrices from "./current_assets_prices.ts";
import tokensDataV2 from "./tokens_data_v2.ts";

await command(
  {
    usage: "usage: npx tsx scripts/build_frequent.ts",
    help: [
      "",
      "Runs current_assets_prices, then tokens_data_v2 (which reads it and the latest pool and Ethereum datasets),",
      "each in its own process. SIGINT/SIGTERM stop the running flow (SIGKILL after half DATA_PIPELINES_SCHEDULER_KILL_SECONDS),",
      "record both runs failed and exit 130/143.",
      RUN_OPTIONS_HELP,
    ],
    options: RUN_OPTIONS,
    showConfig: true,
    ownSignals: true, // runBuild: stops and waits for the flow process before recording the build
  },
  async ({ values, config, log }) => {
    // tokens_data_v2's other upstreams are built daily by build_all: here they are read as they are.
    const readAsIs = tokensDataV2.from.filter((slug) => slug !== currentAssetsPrices.slug);
    const { outcomes, stoppedBy } = await runBuild({
      name: "build_frequent", flows: [currentAssetsPrices, tokensDataV2], readAsIs, config, log, concurrency: 1, ...runOrigin(values),
    });
    process.stdout.write(`\n${summaryTable(outcomes)}\n`);
    if (stoppedBy) return 128 + constants.signals[stoppedBy];
    return outcomes.some((o) => o.status === "failed") ? 1 : 0;
  },
);
