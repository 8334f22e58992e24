// demo: the whole pipeline offline. Starts the bundled fake sources on loopback (the ones the
// tests use: a Verra registry, a graph-node with the five subgraphs, a Polygon JSON-RPC node),
// runs build_all against them into the configured lake (./data/lake by default), prints its
// summary and where the artifacts are, and stops the fakes.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { command } from "../lib/run/cli.ts";
import { spawnContained } from "../lib/process/exit_with_parent.ts";
import { wholeFlag } from "../lib/core/parse.ts";
import { startFakeSources } from "../test/fakes/all.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

await command(
  {
    usage: "usage: npm run demo [-- --verra-rows <n>]",
    help: [
      "",
      "Runs build_all offline against the bundled fake sources (127.0.0.1 only) into the lake selected by",
      "DATA_PIPELINES_RESULT_STORAGE (default ./data/lake), recording runs in the run history. The fakes serve",
      "generated data shaped like the real sources (real MCO2 serial numbers and project names from",
      "test/fixtures/mco2_verra_data.csv), never the network.",
      "  --verra-rows <n>   Verra records the fake registry serves (default 20000)",
    ],
    options: { "verra-rows": { type: "string" } },
  },
  async ({ values, config, log }) => {
    const rows = wholeFlag(values, "verra-rows", 20_000, { min: 1 });
    const sources = await startFakeSources({ verraRows: rows });
    log.info(`fake sources on 127.0.0.1: Verra registry (${rows} records), graph-node (5 subgraphs), Polygon RPC`);
    let code: number;
    try {
      code = await new Promise<number>((resolve) => {
        // Its own process group, stopped with the demo (lib/process/exit_with_parent.ts).
        const child = spawnContained(path.join(ROOT, "scripts", "build_all.ts"), [], {
          env: { ...process.env, ...sources.env },
          stdio: ["inherit", "inherit", "inherit"],
        });
        child.on("exit", (c) => resolve(c ?? 1));
      });
    } finally {
      await sources.stop();
    }
    process.stdout.write(`\nartifacts: ${config.storage.label}${config.storage.kind === "local" ? ` (${config.storage.dir})` : ""}\n`);
    process.stdout.write("look at one:   npx tsx scripts/show.ts all_retirements\n");
    process.stdout.write("run history:   npx tsx scripts/runs.ts\n");
    return code;
  },
);
