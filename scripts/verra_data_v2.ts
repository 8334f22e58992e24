// verra_data_v2: the Verra issuances with parsed dates, vintage year, status,
// bridge flags (Toucan, C3, Moss), ISO country code and project id; column names
// snake-cased as the original's auto-rename did (docs/datasets.md §5.3).
import { runWhenMain } from "../lib/run/cli.ts";
import { countryCode } from "../lib/table/countries.ts";
import { derivedFlow, everyColumn } from "../lib/flows/flow.ts";
import { renameColumns, withColumns, withVectors } from "../lib/table/operations.ts";
import { columnar, type Column, type Table } from "../lib/table/table.ts";
import { snakeName, utcMs } from "../lib/table/transforms.ts";
import { CREDITS } from "../lib/flows/consumer.ts";

const DAY = 86_400_000;

const ADDED: Column[] = [
  { name: "Vintage", type: "int" },
  { name: "Days to Retirement", type: "float" },
  { name: "Status", type: "string" },
  { name: "Toucan", type: "bool" },
  { name: "Bridge", type: "string" },
  { name: "C3", type: "bool" },
  { name: "Moss", type: "bool" },
  { name: "Country code", type: "string" },
  { name: "Quantity", type: "int" },
  { name: "Project Id", type: "string" },
];

const flow = derivedFlow({
  slug: "verra_data_v2",
  // What the dashboard API reads (docs/datasets.md §8.1).
  consumer: ["toucan", "c3", "moss", "status", "issuance_date", ...CREDITS],
  // The registry's free text, sparse in raw_verra_data too: its share of nulls may move a lot in a day.
  sparse: ["retirement_beneficiary", "retirement_reason", "retirement_details", "additional_certifications"],
  from: {
    // Every column is copied; these are read.
    raw_verra_data: everyColumn(
      "Issuance Date", "Vintage Start", "Retirement/Cancellation Date", "Retirement Details",
      "Serial Number", "Country", "Quantity Issued", "ID",
    ),
    raw_eth_moss_bridged_offsets: ["Serial Number"],
  },
  build: ({ raw_verra_data: verra, raw_eth_moss_bridged_offsets: moss }, ctx) => {
    const mossSerials = new Set(moss.rows.map((r) => r["Serial Number"]));
    // One string per project, not per issuance (a project has hundreds of rows).
    const projectIds = new Map<string, string>();
    const projectId = (id: string) => projectIds.get(id) ?? projectIds.set(id, `VCS-${id}`).get(id)!;
    const unknownCountries = new Set<string>();
    let missingVintage = 0;

    // The two dates parsed in place, then the added columns, then every name snake-cased.
    const issued = timestamps(verra, "Issuance Date");
    const retired = timestamps(verra, "Retirement/Cancellation Date");
    const dated = withVectors(verra, [{ name: "Issuance Date", type: "timestamp" }, { name: "Retirement/Cancellation Date", type: "timestamp" }], [issued, retired]);
    const full = withColumns(dated, ADDED, (r, i) => {
      const vintage = yearOf(r["Vintage Start"] as string | null);
      if (vintage === null) missingVintage++;
      const days = issued[i] === issued[i] && retired[i] === retired[i] ? Math.floor((retired[i]! - issued[i]!) / DAY) : null;
      const details = (r["Retirement Details"] as string | null) ?? "";
      const toucan = details.includes("TOUCAN");
      const c3 = details.includes("C3T");
      const isMoss = mossSerials.has(r["Serial Number"] ?? null);
      const country = r.Country as string | null;
      const code = countryCode(country);
      if (country && code === null) unknownCountries.add(country);
      return [
        vintage,
        days,
        days !== null && days > 0 ? "Retired" : "Available",
        toucan,
        // Flags are applied in the order Toucan, C3, Moss: a later match wins the Bridge column.
        isMoss ? "Moss" : c3 ? "C3" : toucan ? "Toucan" : null,
        c3,
        isMoss,
        code,
        r["Quantity Issued"] ?? null,
        r.ID === null || r.ID === undefined ? null : projectId(String(r.ID)),
      ];
    });

    for (const name of unknownCountries) {
      ctx.log.warn(`country "${name}" has no ISO 3166 code: country_code left null`);
      ctx.note(`unknown country "${name}": country_code null`);
    }
    if (missingVintage) {
      ctx.log.warn(`${missingVintage} rows have no readable Vintage Start: vintage left null`);
      ctx.note(`${missingVintage} rows without vintage`);
    }
    return renameColumns(full, (name) => snakeName(name === "Retirement/Cancellation Date" ? "Retirement Date" : name));
  },
});

/** A text column's dates (parsed as naive UTC) as milliseconds, NaN where none. */
function timestamps(input: Table, name: string): Float64Array {
  const t = columnar(input);
  const text = t.textAt(name);
  const out = new Float64Array(t.length);
  for (let i = 0; i < out.length; i++) out[i] = utcMs(text ? text(i) : null);
  return out;
}

/** The calendar year of a date text, as written (any time zone ignored). */
function yearOf(text: string | null): number | null {
  return text && /^\d{4}-\d{2}-\d{2}/.test(text) ? Number(text.slice(0, 4)) : null;
}

export default flow;
runWhenMain(import.meta, flow);
