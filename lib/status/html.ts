// HTML for the status page, escaped by construction: `html` is a tagged template whose every
// interpolated value is redacted (lib/core/redact.ts) and escaped, unless it is HTML made by `html` itself.
import { redact } from "../core/redact.ts";

export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** &, <, >, " and ' as entities: safe in text and in quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

function render(value: unknown): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join("");
  if (value === null || value === undefined || value === false) return "";
  return escapeHtml(redact(String(value)));
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  values.forEach((value, i) => { out += render(value) + strings[i + 1]!; });
  return new Html(out);
}

/** HTML made elsewhere and known to be safe (a constant): use sparingly. */
export function trusted(text: string): Html {
  return new Html(text);
}
