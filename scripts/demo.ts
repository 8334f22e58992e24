// demo: the pipeline offline. Starts the bundled fake sources on loopback (the ones the
// tests use), runs the flows against them as a user would (one process each) into the
// default lake ./data/lake and run history ./data/runs.sqlite, prints a summary, stops the fakes.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { encodeArtifact } from "../lib/artifact.ts";
import { command } from "../lib/cli.ts";
import { UserError } from "../lib/errors.ts";
import { formatDuration, renderTable } from "../lib/format.ts";
import { RunHistory } from "../lib/history.ts";
import { latestKey, openLake } from "../lib/lake.ts";
import { table } from "../lib/table.ts";
import { generateVerraRecords, startFakeVerra } from "../test/fakes/verra.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const FLOWS = ["raw_verra_data", "verra_data_v2", "verra_retirements"];

await command(
  {
    usage: "usage: npm run demo [-- --verra-rows <n>]",
    help: [
      "",
      "Runs the pipeline offline against the bundled fake sources (loopback only) into the lake",
      "selected by DATA_PIPELINES_RESULT_STORAGE (default ./data/lake), recording runs in the run history.",
      `Flows: ${FLOWS.join(", ")}.`,
      "The Moss batches that verra_data_v2 reads come from test/fixtures/mco2_verra_data.csv (real MCO2",
      "serial numbers) until the Ethereum subgraph flow exists.",
      "  --verra-rows <n>   Verra records the fake registry serves (default 20000)",
    ],
    options: { "verra-rows": { type: "string" } },
  },
  async ({ values, config, log }) => {
    const rows = values["verra-rows"] === undefined ? 20_000 : Number(values["verra-rows"]);
    if (!Number.isInteger(rows) || rows < 1) throw new UserError(`--verra-rows: "${values["verra-rows"]}" is not a positive whole number`);
    const lake = await openLake(config.storage);
    await lake.write(latestKey("raw_eth_moss_bridged_offsets"), encodeArtifact(mossBatchesFromSample()));

    const verra = await startFakeVerra({ records: generateVerraRecords(rows) });
    log.info(`fake Verra registry on ${verra.url} serving ${rows} records`);
    const results: string[][] = [];
    let failed = 0;
    try {
      for (const flow of FLOWS) {
        const started = Date.now();
        const code = await run(flow, { DATA_PIPELINES_VERRA_SEARCH_URL: verra.url });
        if (code !== 0) failed++;
        results.push([flow, code === 0 ? "succeeded" : "failed", "", formatDuration(Date.now() - started)]);
      }
    } finally {
      await verra.stop();
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

/** raw_eth_moss_bridged_offsets as the Ethereum subgraph would give it, from real MCO2 serial numbers. */
function mossBatchesFromSample() {
  const file = path.join(ROOT, "test", "fixtures", "mco2_verra_data.csv");
  if (!existsSync(file)) throw new UserError(`${file} is missing`);
  const lines = readFileSync(file, "utf8").replace(/^\uFEFF/, "").trim().split(/\r?\n/).slice(1);
  return table(
    { ID: "string", "Serial Number": "string", Date: "int", "Token Address": "string", Vintage: "string", "Project ID": "string", Quantity: "float", "Original Tx Address": "string" },
    lines.map((line, i) => {
      const cells = line.match(/("([^"]|"")*"|[^,]*)(,|$)/g)!.map((c) => c.replace(/,$/, "").replace(/^"|"$/g, "").replaceAll('""', '"'));
      const [, vintage, projectId, , , quantity, serial] = cells;
      return {
        ID: `0x${i.toString(16).padStart(8, "0")}`, "Serial Number": serial!, Date: 1_640_000_000 + i * 3600,
        "Token Address": "0xfc98e825a2264d890f9a1e68ed50e1526abccacd", Vintage: vintage!.slice(6, 10),
        "Project ID": `VCS-${projectId}`, Quantity: Number(quantity!.replaceAll(",", "")), "Original Tx Address": `0x${"0".repeat(64)}`,
      };
    }),
  );
}
