// verra_data_v2: the Verra issuances with parsed dates, vintage year, status,
// bridge flags (Toucan, C3, Moss), ISO country code and project id (DATASETS.md §5.3).
import { runWhenMain } from "../lib/cli.ts";
import { countryCode } from "../lib/countries.ts";
import { derivedFlow } from "../lib/flow.ts";
import { requireColumns, type Column, type Row } from "../lib/table.ts";
import { autoRename, parseUtc } from "../lib/transforms.ts";

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
  from: ["raw_verra_data", "raw_eth_moss_bridged_offsets"],
  build: ({ raw_verra_data: verra, raw_eth_moss_bridged_offsets: moss }, ctx) => {
    requireColumns(verra, "raw_verra_data-latest", [
      "Issuance Date", "Vintage Start", "Retirement/Cancellation Date", "Retirement Details",
      "Serial Number", "Country", "Quantity Issued", "ID",
    ]);
    requireColumns(moss, "raw_eth_moss_bridged_offsets-latest", ["Serial Number"]);
    const mossSerials = new Set(moss.rows.map((r) => r["Serial Number"]));
    const unknownCountries = new Set<string>();
    let missingVintage = 0;

    const columns: Column[] = [
      ...verra.columns.map((c): Column => {
        if (c.name === "Issuance Date") return { name: c.name, type: "timestamp" };
        if (c.name === "Retirement/Cancellation Date") return { name: "Retirement Date", type: "timestamp" };
        return c;
      }),
      ...ADDED,
    ];

    const rows = verra.rows.map((r): Row => {
      const issued = parseUtc(r["Issuance Date"] as string | null);
      const retired = parseUtc(r["Retirement/Cancellation Date"] as string | null);
      const vintage = yearOf(r["Vintage Start"] as string | null);
      if (vintage === null) missingVintage++;
      const days = issued && retired ? Math.floor((retired.getTime() - issued.getTime()) / DAY) : null;
      const details = (r["Retirement Details"] as string | null) ?? "";
      const toucan = details.includes("TOUCAN");
      const c3 = details.includes("C3T");
      const isMoss = mossSerials.has(r["Serial Number"] ?? null);
      // Flags are applied in this order, so a later match wins the Bridge column.
      const bridge = isMoss ? "Moss" : c3 ? "C3" : toucan ? "Toucan" : null;
      const country = r.Country as string | null;
      const code = countryCode(country);
      if (country && code === null) unknownCountries.add(country);

      const out: Row = {};
      for (const c of verra.columns) {
        if (c.name === "Issuance Date") out[c.name] = issued;
        else if (c.name === "Retirement/Cancellation Date") out["Retirement Date"] = retired;
        else out[c.name] = r[c.name] ?? null;
      }
      out.Vintage = vintage;
      out["Days to Retirement"] = days;
      out.Status = days !== null && days > 0 ? "Retired" : "Available";
      out.Toucan = toucan;
      out.Bridge = bridge;
      out.C3 = c3;
      out.Moss = isMoss;
      out["Country code"] = code;
      out.Quantity = r["Quantity Issued"] ?? null;
      out["Project Id"] = r.ID === null || r.ID === undefined ? null : `VCS-${r.ID}`;
      return out;
    });

    for (const name of unknownCountries) {
      ctx.log.warn(`country "${name}" has no ISO 3166 code: country_code left null`);
      ctx.note(`unknown country "${name}": country_code null`);
    }
    if (missingVintage) {
      ctx.log.warn(`${missingVintage} rows have no readable Vintage Start: vintage left null`);
      ctx.note(`${missingVintage} rows without vintage`);
    }
    return autoRename({ columns, rows });
  },
});

/** The calendar year of a date text, as written (any time zone ignored). */
function yearOf(text: string | null): number | null {
  return text && /^\d{4}-\d{2}-\d{2}/.test(text) ? Number(text.slice(0, 4)) : null;
}

export default flow;
runWhenMain(import.meta, flow);
