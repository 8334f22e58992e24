// demo: the pipeline offline. Starts the bundled fake sources on loopback (the ones the
// tests use), runs the flows against them as a user would (one process each) into the
// default lake ./data/lake and run history ./data/runs.sqlite, prints a summary, stops the fakes.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { command } from "../lib/cli.ts";
import { UserError } from "../lib/errors.ts";
import { formatDuration, renderTable } from "../lib/format.ts";
import { RunHistory } from "../lib/history.ts";
import { openLake } from "../lib/lake.ts";
import { startFakeSubgraphs } from "../test/fakes/subgraph.ts";
import { generateSubgraphData } from "../test/fakes/subgraph_data.ts";
import { generateVerraRecords, startFakeVerra } from "../test/fakes/verra.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
// Sources first, then what is built from them (build_all will run these as a graph).
const FLOWS = [
  "raw_verra_data", "raw_polygon_retired_offsets", "raw_polygon_pools_retired_offsets", "raw_polygon_pools_redeemed_offsets",
  "raw_polygon_pools_deposited_offsets", "raw_polygon_klima_retirements", "raw_polygon_bridged_offsets", "raw_offsets_holders_data",
  "raw_eth_retired_offsets", "raw_eth_moss_retired_offsets", "raw_eth_moss_bridged_offsets", "raw_eth_bridged_offsets_transactions",
  "raw_eth_carbon_metrics", "raw_celo_carbon_metrics", "raw_polygon_carbon_metrics", "raw_assets_prices", "current_assets_prices",
  "verra_data_v2", "verra_retirements",
];

await command(
  {
    usage: "usage: npm run demo [-- --verra-rows <n>]",
    help: [
      "",
      "Runs the pipeline offline against the bundled fake sources (loopback only) into the lake",
      "selected by DATA_PIPELINES_RESULT_STORAGE (default ./data/lake), recording runs in the run history.",
      `Flows: ${FLOWS.join(", ")}.`,
      "The fakes serve generated data shaped like the real sources (real MCO2 serial numbers and project names",
      "from test/fixtures/mco2_verra_data.csv), never the network.",
      "  --verra-rows <n>   Verra records the fake registry serves (default 20000)",
    ],
    options: { "verra-rows": { type: "string" } },
  },
  async ({ values, config, log }) => {
    const rows = values["verra-rows"] === undefined ? 20_000 : Number(values["verra-rows"]);
    if (!Number.isInteger(rows) || rows < 1) throw new UserError(`--verra-rows: "${values["verra-rows"]}" is not a positive whole number`);
    const lake = await openLake(config.storage);
    const verra = await startFakeVerra({ records: generateVerraRecords(rows) });
    const subgraphs = await startFakeSubgraphs({ stores: generateSubgraphData() });
    log.info(`fake Verra registry (${rows} records) and fake graph-node (5 subgraphs) on ${new URL(verra.url).host} and ${new URL(subgraphs.url("pairs")).host}`);
    const sources = {
      DATA_PIPELINES_VERRA_SEARCH_URL: verra.url,
      DATA_PIPELINES_CARBON_SUBGRAPH_URL: subgraphs.url("polygon-digital-carbon"),
      DATA_PIPELINES_CARBON_ETH_SUBGRAPH_URL: subgraphs.url("ethereum-bridged-carbon"),
      DATA_PIPELINES_CARBON_CELO_SUBGRAPH_URL: subgraphs.url("celo-bridged-carbon"),
      DATA_PIPELINES_CARBON_HOLDERS_SUBGRAPH_URL: subgraphs.url("user-carbon"),
      DATA_PIPELINES_PAIRS_SUBGRAPH_URL: subgraphs.url("pairs"),
    };
    const results: string[][] = [];
    let failed = 0;
    try {
      for (const flow of FLOWS) {
        const started = Date.now();
        const code = await run(flow, sources);
        if (code !== 0) failed++;
        results.push([flow, code === 0 ? "succeeded" : "failed", "", formatDuration(Date.now() - started)]);
      }
    } finally {
      await Promise.all([verra.stop(), subgraphs.stop()]);
    }
    const history = RunHistory.open(config.db);
    try {
      for (const row of results) row[2] = history.list({ flow: row[0], limit: 1 })[0]?.rows?.toLocaleString("en-US") ?? "";
    } finally {
      history.close();
    }
    process.stdout.write(`\n${renderTable(["flow", "status", "rows", "duration"], results)}\n\n`);
    process.stdout.write(`artifacts: ${lake.label}${config.storage.kind === "local" ? ` (${config.storage.dir})` : ""}\n`);
    process.stdout.write("look at one:   npx tsx scripts/show.ts verra_data_v2\n");
    process.stdout.write("run history:   npx tsx scripts/runs.ts\n");
    return failed ? 1 : 0;
  },
);

/** Run one flow script as a user would, in its own process, with the fake's URL. */
function run(flow: string, env: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), path.join(ROOT, "scripts", `${flow}.ts`)], {
      env: { ...process.env, ...env },
      stdio: "inherit",
    });
    child.on("exit", (code) => resolve(code ?? 1));
  });
}
