// The status page's pictures, as inline SVG (no script, no image files): a dataset's rows over time,
// and the lineage graph of every dataset, drawn left to right from the sources, coloured by freshness.
import { html, type Html } from "./html.ts";

/** A small line chart of rows per successful write, oldest first. */
export function rowsChart(points: { at: string; rows: number; runId: number }[]): Html {
  if (points.length === 0) return html`<p class="muted">no successful write with a row count yet</p>`;
  const width = 640;
  const height = 170;
  const pad = { left: 70, right: 16, top: 12, bottom: 28 };
  const times = points.map((p) => Date.parse(p.at));
  const rows = points.map((p) => p.rows);
  const [t0, t1] = [Math.min(...times), Math.max(...times)];
  const [r0, r1] = [Math.min(0, ...rows), Math.max(...rows, 1)];
  const x = (t: number) => pad.left + (t1 === t0 ? (width - pad.left - pad.right) / 2 : ((t - t0) / (t1 - t0)) * (width - pad.left - pad.right));
  const y = (r: number) => pad.top + (1 - (r - r0) / (r1 - r0)) * (height - pad.top - pad.bottom);
  const line = points.map((p, i) => `${x(times[i]!).toFixed(1)},${y(p.rows).toFixed(1)}`).join(" ");
  const day = (t: number) => new Date(t).toISOString().slice(0, 16).replace("T", " ");
  return html`<svg class="chart" role="img" aria-label="rows over time" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">
<line x1="${pad.left}" y1="${y(r0)}" x2="${width - pad.right}" y2="${y(r0)}" class="axis"/>
<line x1="${pad.left}" y1="${pad.top}" x2="${pad.left}" y2="${y(r0)}" class="axis"/>
<text x="${pad.left - 6}" y="${y(r1) + 4}" text-anchor="end">${r1.toLocaleString("en-US")}</text>
<text x="${pad.left - 6}" y="${y(r0) + 4}" text-anchor="end">${r0.toLocaleString("en-US")}</text>
<text x="${pad.left}" y="${height - 8}">${day(t0)}</text>
<text x="${width - pad.right}" y="${height - 8}" text-anchor="end">${day(t1)}</text>
<polyline points="${line}" class="series"/>
${points.map((p, i) => html`<circle cx="${x(times[i]!).toFixed(1)}" cy="${y(p.rows).toFixed(1)}" r="3" class="point"><title>run ${p.runId}: ${p.rows.toLocaleString("en-US")} rows, ${day(times[i]!)} UTC</title></circle>`)}
</svg>`;
}

export interface LineageNode {
  slug: string;
  upstream: string[];
  /** A CSS class: fresh, stale, never-built, not-checked. */
  tone: string;
  title: string;
}

const NODE_W = 250;
const NODE_H = 26;
const COL_GAP = 70;
const ROW_GAP = 10;

/**
 * Columns by depth (a dataset sits right of everything it reads), and within a column ordered by
 * the mean position of its neighbours, a few sweeps each way: few crossings, no library.
 */
export function layoutLineage(nodes: LineageNode[]): Map<string, { x: number; y: number }> {
  const bySlug = new Map(nodes.map((n) => [n.slug, n]));
  const depth = new Map<string, number>();
  const depthOf = (slug: string, seen = new Set<string>()): number => {
    if (depth.has(slug)) return depth.get(slug)!;
    if (seen.has(slug)) return 0; // a cycle cannot happen (build_all refuses one); never loop
    seen.add(slug);
    const ups = (bySlug.get(slug)?.upstream ?? []).filter((u) => bySlug.has(u));
    const d = ups.length ? 1 + Math.max(...ups.map((u) => depthOf(u, seen))) : 0;
    depth.set(slug, d);
    return d;
  };
  const columns: string[][] = [];
  for (const n of nodes) (columns[depthOf(n.slug)] ??= []).push(n.slug);
  const downstream = new Map<string, string[]>(nodes.map((n) => [n.slug, []]));
  for (const n of nodes) for (const u of n.upstream) downstream.get(u)?.push(n.slug);
  const position = new Map<string, number>();
  const place = () => columns.forEach((column) => column.forEach((slug, i) => position.set(slug, i)));
  place();
  const mean = (slugs: string[], fallback: number) => (slugs.length ? slugs.reduce((sum, s) => sum + position.get(s)!, 0) / slugs.length : fallback);
  for (let sweep = 0; sweep < 4; sweep++) {
    const forward = sweep % 2 === 0;
    const order = forward ? columns.slice(1) : columns.slice(0, -1).reverse();
    for (const column of order) {
      const key = new Map(column.map((slug) => [slug, mean(forward ? bySlug.get(slug)!.upstream : downstream.get(slug)!, position.get(slug)!)]));
      column.sort((a, b) => key.get(a)! - key.get(b)!);
      column.forEach((slug, i) => position.set(slug, i));
    }
  }
  const tallest = Math.max(...columns.map((c) => c.length));
  const at = new Map<string, { x: number; y: number }>();
  columns.forEach((column, d) => {
    const offset = ((tallest - column.length) * (NODE_H + ROW_GAP)) / 2; // centred vertically
    column.forEach((slug, i) => at.set(slug, { x: 10 + d * (NODE_W + COL_GAP), y: 10 + offset + i * (NODE_H + ROW_GAP) }));
  });
  return at;
}

/** The lineage graph: one `<g class="node …" data-slug>` per dataset, linked to its page; edges from upstream to downstream. */
export function lineageSvg(nodes: LineageNode[], href: (slug: string) => string): Html {
  const at = layoutLineage(nodes);
  const width = Math.max(...[...at.values()].map((p) => p.x)) + NODE_W + 10;
  const height = Math.max(...[...at.values()].map((p) => p.y)) + NODE_H + 10;
  const edges = nodes.flatMap((n) => n.upstream.filter((u) => at.has(u)).map((u) => {
    const from = at.get(u)!;
    const to = at.get(n.slug)!;
    const [x1, y1, x2, y2] = [from.x + NODE_W, from.y + NODE_H / 2, to.x, to.y + NODE_H / 2];
    const bend = (x2 - x1) / 2;
    return html`<path class="edge" d="M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}"><title>${u} → ${n.slug}</title></path>`;
  }));
  const boxes = nodes.map((n) => {
    const p = at.get(n.slug)!;
    return html`<a href="${href(n.slug)}"><g class="node ${n.tone}" data-slug="${n.slug}"><title>${n.title}</title><rect x="${p.x}" y="${p.y}" width="${NODE_W}" height="${NODE_H}" rx="5"/><text x="${p.x + 10}" y="${p.y + 17}">${n.slug}</text></g></a>`;
  });
  return html`<svg class="lineage" role="img" aria-label="lineage of every dataset" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">
${edges}
${boxes}
</svg>`;
}
