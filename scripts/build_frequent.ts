// build_frequent: the hourly refresh, current_assets_prices then tokens_data_v2.
import { runBuild, summaryTable } from "../lib/build.ts";
import { command, RUN_OPTIONS, RUN_OPTIONS_HELP, runOrigin } from "../lib/cli.ts";
import currentAssetsPrices from "./current_assets_prices.ts";
import tokensDataV2 from "./tokens_data_v2.ts";

await command(
  {
    usage: "usage: npx tsx scripts/build_frequent.ts",
    help: ["", "Runs current_assets_prices, then tokens_data_v2 (which reads it and the latest pool and Ethereum datasets).", RUN_OPTIONS_HELP],
    options: RUN_OPTIONS,
    showConfig: true,
  },
  async ({ values, config, log }) => {
    // tokens_data_v2's other upstreams are built daily by build_all: here they are read as they are.
    const flows = [currentAssetsPrices, { ...tokensDataV2, from: tokensDataV2.from.filter((s) => s === "current_assets_prices") }];
    const { outcomes } = await runBuild({
      name: "build_frequent", flows, config, log, concurrency: 1, ...runOrigin(values),
    });
    process.stdout.write(`\n${summaryTable(outcomes)}\n`);
    return outcomes.some((o) => o.status === "failed") ? 1 : 0;
  },
);
