// The flows as a dependency graph: order, validation, and selection of a part.
import { UserError } from "../core/errors.ts";
import { upstreamOf, type Flow } from "../flows/flow.ts";

export interface FlowGraph {
  flows: Map<string, Flow>;
  /** slug -> the slugs that read it */
  downstream: Map<string, string[]>;
}

/**
 * Check that every upstream is a flow of the build (or one of `readAsIs`: read as it is in the lake, not
 * made here) and that there is no cycle; refuse otherwise, naming them.
 */
export function flowGraph(flows: Flow[], readAsIs: readonly string[] = []): FlowGraph {
  const bySlug = new Map<string, Flow>();
  for (const flow of flows) {
    if (bySlug.has(flow.slug)) throw new UserError(`flow ${flow.slug} is defined twice`);
    bySlug.set(flow.slug, flow);
  }
  const downstream = new Map<string, string[]>([...bySlug.keys()].map((s) => [s, []]));
  for (const flow of flows) {
    for (const up of upstreamOf(flow)) {
      if (bySlug.has(up)) downstream.get(up)!.push(flow.slug);
      else if (!readAsIs.includes(up)) throw new UserError(`flow ${flow.slug} reads ${up}, which is not a flow of this build`);
    }
  }
  const cycle = findCycle(bySlug);
  if (cycle) throw new UserError(`the flows form a cycle: ${cycle.join(" -> ")}`);
  return { flows: bySlug, downstream };
}

function findCycle(flows: Map<string, Flow>): string[] | undefined {
  const state = new Map<string, "visiting" | "done">();
  const path: string[] = [];
  const visit = (slug: string): string[] | undefined => {
    if (state.get(slug) === "done") return undefined;
    if (state.get(slug) === "visiting") return [...path.slice(path.indexOf(slug)), slug];
    state.set(slug, "visiting");
    path.push(slug);
    for (const up of upstreamOf(flows.get(slug)!)) {
      if (!flows.has(up)) continue; // read as it is, not made here
      const found = visit(up);
      if (found) return found;
    }
    path.pop();
    state.set(slug, "done");
    return undefined;
  };
  for (const slug of flows.keys()) {
    const found = visit(slug);
    if (found) return found;
  }
  return undefined;
}

/** The slugs to run: all, `only` these, or `from` these and everything downstream of them. */
export function selectFlows(graph: FlowGraph, options: { only?: string[]; from?: string[] }): Set<string> {
  const check = (slug: string) => {
    if (!graph.flows.has(slug)) throw new UserError(`no flow ${slug} (flows: ${[...graph.flows.keys()].join(", ")})`);
    return slug;
  };
  if (options.only?.length) return new Set(options.only.map(check));
  if (options.from?.length) {
    const selected = new Set<string>();
    const add = (slug: string) => {
      if (selected.has(slug)) return;
      selected.add(slug);
      for (const down of graph.downstream.get(slug)!) add(down);
    };
    options.from.map(check).forEach(add);
    return selected;
  }
  return new Set(graph.flows.keys());
}

/** The selected slugs in an order where every upstream comes first (the order flows were given, otherwise). */
export function topologicalOrder(graph: FlowGraph, selected: Set<string>): string[] {
  const order: string[] = [];
  const placed = new Set<string>();
  const place = (slug: string) => {
    if (placed.has(slug)) return;
    for (const up of upstreamOf(graph.flows.get(slug)!)) if (selected.has(up)) place(up);
    placed.add(slug);
    order.push(slug);
  };
  for (const slug of graph.flows.keys()) if (selected.has(slug)) place(slug);
  return order;
}

/**
 * Each selected flow's longest chain of work: its own duration plus the longest chain among its
 * selected downstream flows. A duration is how long the flow's last successful run took; a flow
 * that has none counts as the median of those that have (as 1 when none has: chains by length).
 */
export function chainLengths(graph: FlowGraph, selected: Set<string>, durations: Map<string, number>): Map<string, number> {
  const known = [...selected].map((slug) => durations.get(slug)).filter((ms): ms is number => ms !== undefined).sort((a, b) => a - b);
  const fallback = known.length ? known[Math.floor(known.length / 2)]! : 1;
  const chain = new Map<string, number>();
  const lengthOf = (slug: string): number => {
    let length = chain.get(slug);
    if (length === undefined) {
      const below = graph.downstream.get(slug)!.filter((d) => selected.has(d)).map(lengthOf);
      length = (durations.get(slug) ?? fallback) + Math.max(0, ...below);
      chain.set(slug, length);
    }
    return length;
  };
  for (const slug of selected) lengthOf(slug);
  return chain;
}
