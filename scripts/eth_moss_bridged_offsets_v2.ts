// eth_moss_bridged_offsets_v2: Moss batches bridged to Ethereum with Verra's project data, the
// vintage from the serial number, and the date of the bridge transaction that carried them
// (docs/datasets.md §5.7; docs/datasets.md §9 Q20: a malformed serial or a null quantity gives nulls, not a failure).
import { runWhenMain } from "../lib/run/cli.ts";
import { ZERO_TX_HASH } from "../lib/sources/constants.ts";
import { derivedFlow } from "../lib/flows/flow.ts";
import { dropColumns, selectRows, withColumns, withVectors } from "../lib/table/operations.ts";
import { cell, columnar, vectorBuilder, type Column, type Value } from "../lib/table/table.ts";
import { autoRename, mergeWithVerra, unixToTimestamp, VERRA_MERGE_COLUMNS } from "../lib/table/transforms.ts";
import { ETH_V2 } from "../lib/flows/consumer.ts";

const flow = derivedFlow({
  slug: "eth_moss_bridged_offsets_v2",
  // What the dashboard API reads (docs/datasets.md §8.1).
  consumer: ETH_V2,
  from: {
    raw_eth_moss_bridged_offsets: "*",
    raw_eth_bridged_offsets_transactions: "*",
    verra_data_v2: [...VERRA_MERGE_COLUMNS, "vintage_start"],
  },
  build: ({ raw_eth_moss_bridged_offsets: batches, raw_eth_bridged_offsets_transactions: transactions, verra_data_v2: verra }) => {
    const merged = columnar(dropColumns(mergeWithVerra(autoRename(batches), verra, { merge: ["vintage_start"], drop: ["vintage"] }), ["vintage_start"]));
    // Bridge dates by transaction, in their order: a batch row repeats once per bridge event of its transaction.
    const datesByTx = new Map<string, Value[]>();
    for (const t of autoRename(transactions).rows) {
      const tx = t.tx_address as string | null;
      if (tx !== null) datesByTx.set(tx, [...(datesByTx.get(tx) ?? []), t.date ?? null]);
    }
    // Each batch row once per date of its transaction, taken by index (no row object is made).
    const txs = merged.texts("original_tx_address");
    const dateAt = merged.columns.findIndex((c) => c.name === "date");
    if (dateAt < 0) return unixToTimestamp(merged, "bridged_date"); // which says what is missing
    const dateColumn = merged.columns[dateAt]!;
    const at: number[] = [];
    const dates: Value[] = [];
    for (let i = 0; i < merged.length; i++) {
      const tx = txs?.[i] ?? null;
      // A batch whose original transaction is known takes that bridge's date (null when none matched).
      const own = tx === ZERO_TX_HASH;
      for (const date of (tx === null ? undefined : datesByTx.get(tx)) ?? [null]) {
        at.push(i);
        dates.push(own ? cell(merged.vectors[dateAt]!, dateColumn.type, i) : date);
      }
    }
    const dateVector = vectorBuilder(dateColumn, dates.length);
    dates.forEach((date, k) => dateVector.set(k, date));
    const dated = unixToTimestamp(withVectors(selectRows(merged, at), [dateColumn], [dateVector.vector]), "bridged_date");
    const replaced: Column[] = [
      { name: "quantity", type: "int" },
      { name: "bridge", type: "string" },
      { name: "vintage", type: "int" },
      { name: "mco2_quantity", type: "int" },
      { name: "total_quantity", type: "int" },
    ];
    return withColumns(dated, replaced, (row) => {
      const quantity = typeof row.quantity === "number" ? Math.trunc(row.quantity) : null;
      return [quantity, "Moss", vintageFromSerial(row.serial_number), quantity, quantity];
    });
  },
});

/** The year in characters -15 to -11 of a Verra serial number (the vintage start's year); null when malformed. */
function vintageFromSerial(serial: Value | undefined): number | null {
  if (typeof serial !== "string" || serial.length < 15) return null;
  const year = serial.slice(-15, -11);
  return /^\d{4}$/.test(year) ? Number(year) : null;
}

export default flow;
runWhenMain(import.meta, flow);
