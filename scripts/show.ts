// show: an artifact's schema, row count and first rows; or the whole table as CSV or JSON.
import { createWriteStream } from "node:fs";
import { once } from "node:events";
import { decodeArtifact } from "../lib/artifact/artifact.ts";
import { command } from "../lib/run/cli.ts";
import { UsageError, UserError } from "../lib/core/errors.ts";
import { csvField, formatValue, renderTable } from "../lib/table/format.ts";
import { checkKey, isArtifactKey, latestKey, openLake } from "../lib/lake/lake.ts";
import { wholeFlag } from "../lib/core/parse.ts";
import type { Table } from "../lib/table/table.ts";

await command(
  {
    usage: "usage: npx tsx scripts/show.ts <slug | key> [--rows <n>] [--format csv|json] [--out <file>]",
    help: [
      "",
      "Reads <slug>-latest (or the exact key given, e.g. raw_verra_data-2026_11_25__13_15_00) from the lake",
      "selected by DATA_PIPELINES_RESULT_STORAGE and prints its schema, row count and first rows.",
      "  --rows <n>          how many rows to print (default 10)",
      "  --format csv|json   export every row instead (JSON: an array of objects; timestamps ISO-8601 UTC)",
      "  --out <file>        write the export to a file instead of stdout",
    ],
    options: { rows: { type: "string" }, format: { type: "string" }, out: { type: "string" } },
    allowPositionals: true,
    showConfig: true,
  },
  async ({ values, positionals, config }) => {
    const [name, ...extra] = positionals;
    if (!name || extra.length) throw new UsageError("give one slug or key, e.g. npx tsx scripts/show.ts verra_data_v2");
    const key = isArtifactKey(name) ? name : latestKey(name);
    checkKey(key);
    const format = values.format as string | undefined;
    if (format !== undefined && format !== "csv" && format !== "json") throw new UsageError(`--format: "${format}" is not csv or json`);
    if (values.out !== undefined && !format) throw new UsageError("--out needs --format csv|json");
    const count = wholeFlag(values, "rows", 10);

    const lake = await openLake(config.storage, config);
    const bytes = await lake.read(key);
    if (!bytes) throw new UserError(`no artifact ${key} in ${lake.label}`);
    const data = decodeArtifact(bytes, key);

    if (format) {
      const out = values.out ? await openOutput(values.out as string) : process.stdout;
      for (const chunk of (format === "csv" ? csvLines : jsonLines)(data)) {
        if (!out.write(chunk)) await once(out, "drain");
      }
      if (values.out) {
        (out as ReturnType<typeof createWriteStream>).end();
        await once(out, "finish");
        process.stderr.write(`wrote ${data.rows.length} rows of ${key} to ${values.out}\n`);
      }
      return 0;
    }
    const nulls = data.columns.map((c) => data.rows.reduce((n, r) => n + (r[c.name] === null ? 1 : 0), 0));
    const lines = [
      `${key} in ${lake.label}: ${data.rows.length} rows x ${data.columns.length} columns, ${(bytes.length / 1e6).toFixed(2)} MB`,
      "",
      renderTable(["#", "column", "type", "nulls"], data.columns.map((c, i) => [String(i + 1), c.name, c.type, String(nulls[i])])),
    ];
    if (count > 0 && data.rows.length > 0) {
      lines.push("", `first ${Math.min(count, data.rows.length)} rows:`, renderTable(
        data.columns.map((c) => c.name),
        data.rows.slice(0, count).map((r) => data.columns.map((c) => formatValue(r[c.name], c.type))),
        32,
      ));
    }
    process.stdout.write(`${lines.join("\n")}\n`);
    return 0;
  },
);

function* csvLines(data: Table): Generator<string> {
  yield `${data.columns.map((c) => csvField(c.name)).join(",")}\n`;
  for (const row of data.rows) yield `${data.columns.map((c) => csvField(formatValue(row[c.name], c.type))).join(",")}\n`;
}

function* jsonLines(data: Table): Generator<string> {
  yield "[";
  for (let i = 0; i < data.rows.length; i++) {
    const row = data.rows[i]!;
    const out: Record<string, unknown> = {};
    for (const c of data.columns) {
      const v = row[c.name];
      out[c.name] = v instanceof Date ? (c.type === "date" ? v.toISOString().slice(0, 10) : v.toISOString()) : v;
    }
    yield `${i ? "," : ""}\n${JSON.stringify(out)}`;
  }
  yield "\n]\n";
}

/** A file to export into; a path that cannot be written is the user's to fix, said in one line. */
async function openOutput(file: string): Promise<ReturnType<typeof createWriteStream>> {
  const stream = createWriteStream(file);
  try {
    await once(stream, "open");
  } catch (error) {
    throw new UserError(`--out: cannot write ${file}: ${(error as Error).message}`);
  }
  return stream;
}
