// The MCO2 sample: real Verra registry rows that the data generators (./verra.ts,
// ./subgraph_data.ts) reuse, so that generated data contains serials and projects that exist.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

// A copy of ../shared/samples/mco2_verra_data.csv (real registry rows), so every clone generates the same data.
const SAMPLE_CSV = fileURLToPath(new URL("../fixtures/mco2_verra_data.csv", import.meta.url));

/** Minimal CSV reader: quoted fields with "" escapes and commas, CRLF or LF lines. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted && c === '"' && text[i + 1] === '"') {
      field += '"';
      i++;
    } else if (c === '"') {
      quoted = !quoted;
    } else if (quoted || (c !== "," && c !== "\n" && c !== "\r")) {
      field += c;
    } else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n") {
      rows.push([...row, field]);
      row = [];
      field = "";
    }
  }
  if (field !== "" || row.length > 0) rows.push([...row, field]);
  return rows;
}

/**
 * The sample's rows below the header, unfiltered, and the index of a header column by name
 * (-1 if there is none). Read from disk on every call: callers keep what they extract.
 */
export function readSample(): { rows: string[][]; column: (name: string) => number } {
  const [header, ...rows] = parseCsv(readFileSync(SAMPLE_CSV, "utf8").replace(/^\uFEFF/, ""));
  return { rows, column: (name) => header!.indexOf(name) };
}
