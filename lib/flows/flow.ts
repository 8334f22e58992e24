// A dataset flow, declared: what it is (slug, source or upstreams with the columns it reads, the
// consumer columns it promises) and the code that makes its table. lib/run/runner.ts runs it.
import { checkSlug } from "../lake/keys.ts";
import type { SourceContext } from "../sources/context.ts";
import type { Table } from "../table/table.ts";

/** What a flow's code may use: what its sources get, and the run's notes. */
export interface FlowContext extends SourceContext {
  /** Record a fact about this run (shown by runs.ts). */
  note(text: string): void;
}

interface FlowBase {
  slug: string;
  /** Write `<slug>-<timestamp>` before `-latest` (default true). */
  historized?: boolean;
  /**
   * Columns that may legitimately be empty, or far emptier than in the previous `-latest` (a
   * beneficiary only some records have): exempt from the null-share checks of validation.
   */
  sparse?: readonly string[];
  /**
   * The columns the dashboard API reads (docs/datasets.md §8.1): a table without one of them is not
   * written, and promote refuses a staging artifact that lost one.
   */
  consumer?: readonly string[];
  /**
   * In a dry run this flow makes a stand-in table (raw_verra_data: the original's one-row dummy), not
   * the source's data: it is not compared with the previous `-latest` (nothing is written either way).
   */
  dryRunDummy?: boolean;
}

/** The consumer columns that `columns` lacks (none for a flow the dashboard does not read). */
export function missingConsumerColumns(flow: Pick<FlowBase, "consumer">, columns: readonly string[]): string[] {
  const present = new Set(columns);
  return (flow.consumer ?? []).filter((c) => !present.has(c));
}

/** Each flow's consumer columns by slug: what promote checks a staging set against. */
export function consumerContract(flows: readonly Flow[]): (slug: string) => readonly string[] {
  const bySlug = new Map(flows.map((f) => [f.slug, f.consumer ?? []]));
  return (slug) => bySlug.get(slug) ?? [];
}

export interface SourceFlow extends FlowBase {
  kind: "source";
  fetch(ctx: FlowContext): Promise<Table>;
}

/**
 * What a derived flow reads of one upstream, declared once: `"*"` every column; a list of columns,
 * read alone (a large upstream such as verra_data_v2 for a join: less time and memory) and required;
 * or `everyColumn(...)`: every column, these required. The runner checks the required ones.
 */
export type Input = "*" | readonly string[] | { readonly every: true; readonly require: readonly string[] };

/** Every column of an upstream, of which these must be there. */
export function everyColumn(...require: string[]): Input {
  return { every: true, require };
}

function isEvery(input: Exclude<Input, "*">): input is { readonly every: true; readonly require: readonly string[] } {
  return !Array.isArray(input);
}

export interface DerivedFlow extends FlowBase {
  kind: "derived";
  /** Upstream slugs whose `-latest` artifacts `build` receives, by slug (from the declaration). */
  from: string[];
  /** Per upstream: the columns read (undefined: all) and the columns required. */
  inputs: Record<string, { columns?: readonly string[]; require: readonly string[] }>;
  build(inputs: Record<string, Table>, ctx: FlowContext): Table | Promise<Table>;
}

export interface DerivedFlowDefinition extends Omit<DerivedFlow, "kind" | "from" | "inputs"> {
  /** The upstreams: slugs (every column of each), or each slug with what is read of it. */
  from: readonly string[] | Record<string, Input>;
}

export type Flow = SourceFlow | DerivedFlow;

export function sourceFlow(definition: Omit<SourceFlow, "kind">): SourceFlow {
  checkSlug(definition.slug);
  return { kind: "source", ...definition };
}

export function derivedFlow(definition: DerivedFlowDefinition): DerivedFlow {
  checkSlug(definition.slug);
  const declared: Array<[string, Input]> = Array.isArray(definition.from)
    ? (definition.from as readonly string[]).map((slug) => [slug, "*"])
    : Object.entries(definition.from as Record<string, Input>);
  const inputs: DerivedFlow["inputs"] = {};
  for (const [slug, input] of declared) {
    checkSlug(slug);
    if (input === "*") inputs[slug] = { require: [] };
    else if (isEvery(input)) inputs[slug] = { require: input.require };
    else inputs[slug] = { columns: input, require: input };
  }
  return { ...definition, kind: "derived", from: declared.map(([slug]) => slug), inputs };
}

export function upstreamOf(flow: Flow): string[] {
  return flow.kind === "derived" ? flow.from : [];
}

