// The common shape of a subgraph dataset: one collection query, declared columns,
// optionally a last step on the table.
import { col, decimal, type ColumnSpec } from "../table/columns.ts";
import { sourceFlow, type FlowContext, type SourceFlow } from "./flow.ts";
import { fetchTable, type CollectionQuery, type SubgraphSource } from "../sources/subgraph.ts";
import type { Table } from "../table/table.ts";

export interface SubgraphFlowDefinition {
  slug: string;
  source: SubgraphSource;
  query: CollectionQuery;
  columns: Record<string, ColumnSpec>;
  /** A last step on the flattened table (filters, joins with lookups, reordering). */
  then?: (table: Table, ctx: FlowContext) => Table | Promise<Table>;
  historized?: boolean;
  /** Columns that may legitimately be empty (see `sparse` in lib/flows/flow.ts). */
  sparse?: readonly string[];
}

export function subgraphFlow(definition: SubgraphFlowDefinition): SourceFlow {
  return sourceFlow({
    slug: definition.slug,
    historized: definition.historized,
    sparse: definition.sparse,
    fetch: async (ctx) => {
      const table = await fetchTable(ctx, definition.source, definition.query, definition.columns);
      return definition.then ? definition.then(table, ctx) : table;
    },
  });
}

/**
 * The daily carbon metrics of one chain (docs/datasets.md §4.13–4.15): newest first, zero timestamps
 * left out, columns named `carbonMetrics_<field>` as the original flattened them, metrics as floats.
 */
export function carbonMetricsFlow(definition: {
  slug: string;
  source: SubgraphSource;
  metrics: string[];
  /** Metrics computed from the others, appended after them. */
  computed?: Record<string, (metric: (field: string) => number) => number>;
}): SourceFlow {
  const columns: Record<string, ColumnSpec> = {
    carbonMetrics_id: col.string("id"),
    carbonMetrics_timestamp: col.int("timestamp"),
    carbonMetrics_datetime: col.datetimeText("timestamp"),
  };
  for (const field of definition.metrics) columns[`carbonMetrics_${field}`] = col.float(field);
  for (const [name, compute] of Object.entries(definition.computed ?? {})) {
    columns[`carbonMetrics_${name}`] = col.computed("float", (e) => compute((field) => decimal(e[field]) ?? 0));
  }
  return subgraphFlow({
    slug: definition.slug,
    source: definition.source,
    query: { collection: "carbonMetrics", select: `timestamp ${definition.metrics.join(" ")}`, orderBy: "timestamp", orderDirection: "desc", where: { timestamp_gt: 0 } },
    columns,
  });
}
