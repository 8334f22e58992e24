// The least time a build can take, from what its flows did when run one at a time: each flow's
// sequential request rounds times the sources' latency, plus the time it spent not waiting on a
// source; then the longest chain of those through the dependency graph.
import { upstreamOf } from "../lib/flows/flow.ts";
import type { FlowGraph } from "../lib/run/graph.ts";

/** A request as the client saw it: sent at `start`, answer complete at `end` (ms). */
export interface Interval {
  start: number;
  end: number;
}

/**
 * Requests that had to come one after another: the most of them of which none overlaps another
 * (requests in flight at the same time count as one round). Earliest end first is optimal for that.
 */
export function sequentialRounds(requests: Interval[]): number {
  let rounds = 0;
  let free = -Infinity;
  for (const r of [...requests].sort((a, b) => a.end - b.end)) {
    if (r.start >= free) {
      rounds++;
      free = r.end;
    }
  }
  return rounds;
}

/** The time during which at least one request was in flight. */
export function busyTime(requests: Interval[]): number {
  let busy = 0;
  let until = -Infinity;
  for (const r of [...requests].sort((a, b) => a.start - b.start)) {
    if (r.end <= until) continue;
    busy += r.end - Math.max(r.start, until);
    until = r.end;
  }
  return busy;
}

export interface FlowTiming {
  slug: string;
  /** Wall time of the flow run alone. */
  ms: number;
  /** Its requests to the sources that have latency. */
  requests: Interval[];
}

export interface FlowBound {
  slug: string;
  ms: number;
  requests: number;
  rounds: number;
  /** Time not spent waiting on a source: reading, transforming, encoding, writing. */
  computeMs: number;
  /** rounds x latency + computeMs: this flow's least time with sources that answer in exactly `latency`. */
  boundMs: number;
}

export function flowBound(timing: FlowTiming, latencyMs: number): FlowBound {
  const rounds = sequentialRounds(timing.requests);
  const computeMs = Math.max(0, timing.ms - busyTime(timing.requests));
  return { slug: timing.slug, ms: timing.ms, requests: timing.requests.length, rounds, computeMs, boundMs: rounds * latencyMs + computeMs };
}

/** The longest path through the graph where each flow costs `cost(slug)`: its total and its flows, upstream first. */
export function longestChain(graph: FlowGraph, cost: (slug: string) => number): { ms: number; chain: string[] } {
  const best = new Map<string, { ms: number; chain: string[] }>();
  const visit = (slug: string): { ms: number; chain: string[] } => {
    let found = best.get(slug);
    if (!found) {
      const ups = upstreamOf(graph.flows.get(slug)!).map(visit);
      const longest = ups.reduce((a, b) => (b.ms > a.ms ? b : a), { ms: 0, chain: [] as string[] });
      found = { ms: longest.ms + cost(slug), chain: [...longest.chain, slug] };
      best.set(slug, found);
    }
    return found;
  };
  return [...graph.flows.keys()].map(visit).reduce((a, b) => (b.ms > a.ms ? b : a), { ms: 0, chain: [] });
}

/** Each request (by its start) given to the flow whose run window holds it; flows ran one at a time. */
export function attribute<R extends Interval>(requests: R[], windows: Array<{ slug: string; start: number; end: number }>): Map<string, R[]> {
  const out = new Map<string, R[]>(windows.map((w) => [w.slug, []]));
  for (const r of requests) {
    const w = windows.find((w) => r.start >= w.start && r.start <= w.end);
    if (w) out.get(w.slug)!.push(r);
  }
  return out;
}
