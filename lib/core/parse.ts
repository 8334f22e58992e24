// One strict parser for every number, boolean and duration a user gives: flags, environment
// variables, `.env` and the schedule file. Empty, blank, hex, exponent or fractional text where a
// whole number is meant, and anything but an explicit word for a boolean, is a usage error (exit 2)
// that names where the value came from (`--days`, `DATA_PIPELINES_MAX_RECORDS`, `schedule file x: job`).
import { UsageError } from "./errors.ts";

const WHOLE = /^[0-9]+$/;
const DECIMAL = /^[0-9]+(\.[0-9]+)?$/;

function show(value: unknown): string {
  return JSON.stringify(value);
}

/** A whole number in [min, max] (default min 0), written in plain decimal digits. */
export function parseWhole(value: string, name: string, options: { min?: number; max?: number } = {}): number {
  const min = options.min ?? 0;
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  if (!WHOLE.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(`${name}: ${show(value)} is not a whole number${min > 0 ? ` of at least ${min}` : ""}`);
  }
  const n = Number(value);
  if (n < min) throw new UsageError(`${name}: ${show(value)} is not a whole number of at least ${min}`);
  if (n > max) throw new UsageError(`${name}: ${show(value)} is more than ${max}`);
  return n;
}

const TRUE_WORDS = new Set(["true", "yes", "on", "1"]);
const FALSE_WORDS = new Set(["false", "no", "off", "0"]);

/** true | false (also yes/no, on/off, 1/0), any case. */
export function parseBoolean(value: string, name: string): boolean {
  const word = value.toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  throw new UsageError(`${name}: ${show(value)} is not true or false`);
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A duration in ms: a plain number in `unit` (default seconds; decimals allowed: `0.5`), or a
 * number with a unit (`500ms`, `30s`, `90m`, `6h`, `7d`). Zero only when `allowZero`; never negative.
 */
export function parseDuration(
  value: string | number,
  name: string,
  options: { allowZero?: boolean; unit?: "ms" | "s" | "m" | "h" | "d"; maxMs?: number } = {},
): number {
  const text = typeof value === "number" ? String(value) : value;
  const match = typeof value === "number"
    ? (Number.isFinite(value) && value >= 0 ? [text, text, undefined] : null)
    : /^([0-9]+(?:\.[0-9]+)?)(ms|s|min|m|h|d)?$/.exec(text);
  const unit = match?.[2] ?? options.unit ?? "s";
  const ms = match && DECIMAL.test(match[1]!) ? Math.round(Number(match[1]) * UNITS[unit]!) : NaN;
  if (!Number.isFinite(ms) || ms < 0) {
    throw new UsageError(`${name}: ${show(value)} is not a duration (a number of ${unitName(options.unit ?? "s")}, or e.g. 500ms, 30s, 90m, 6h)`);
  }
  if (ms === 0 && !options.allowZero) throw new UsageError(`${name}: ${show(value)}: must be more than zero`);
  if (options.maxMs !== undefined && ms > options.maxMs) {
    throw new UsageError(`${name}: ${show(value)} is longer than the most allowed (${options.maxMs / 1000} s)`);
  }
  return ms;
}

function unitName(unit: string): string {
  return { ms: "milliseconds", s: "seconds", m: "minutes", h: "hours", d: "days" }[unit] ?? unit;
}

/** The text of a string flag, or undefined when it was not given; an empty or blank one is refused. */
export function flagText(values: Record<string, unknown>, flag: string): string | undefined {
  const value = values[flag];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.trim() === "") throw new UsageError(`--${flag}: needs a value`);
  return value;
}

/** A whole-number flag, or `fallback` when it was not given. */
export function wholeFlag(values: Record<string, unknown>, flag: string, fallback: number, options: { min?: number; max?: number } = {}): number {
  const text = flagText(values, flag);
  return text === undefined ? fallback : parseWhole(text, `--${flag}`, options);
}
