// Log lines and the progress line on a terminal: one progress line for the whole process (build_all
// runs many flows, each logging through its own child logger), cleared before every log line and
// redrawn after it, so that every log line starts at column 0.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Logger } from "../lib/core/log.ts";

/** A stream that says it is a terminal and keeps what was written, as a terminal would show it. */
function fakeTerminal() {
  let written = "";
  const stream = { isTTY: true, write: (chunk: string) => { written += chunk; return true; } };
  return { stream: stream as unknown as NodeJS.WritableStream & { isTTY: boolean }, written: () => written };
}

/**
 * The terminal's screen after `output`: `\r` returns to column 0, `ESC[K` clears to the end of the
 * line, `\n` starts a new line. Returns the lines, and for every log line the column it started at.
 */
function screen(output: string): { lines: string[]; logStarts: number[] } {
  const lines: string[] = [""];
  let column = 0;
  const logStarts: number[] = [];
  for (let i = 0; i < output.length; i++) {
    const rest = output.slice(i);
    if (rest.startsWith("\r")) { column = 0; continue; }
    if (rest.startsWith("\x1b[K")) { lines[lines.length - 1] = lines.at(-1)!.slice(0, column); i += 2; continue; }
    if (output[i] === "\n") { lines.push(""); column = 0; continue; }
    // A log line begins with its time: where on the line does it land?
    if (/^\d\d:\d\d:\d\d [A-Za-z]/.test(rest) && !/[\d:]/.test(output[i - 1] ?? "")) logStarts.push(column);
    const line = lines.at(-1)!;
    lines[lines.length - 1] = line.slice(0, column) + output[i] + line.slice(column + 1);
    column++;
  }
  return { lines, logStarts };
}

test("progress of two flows and their log lines: one progress line, every log line at column 0", () => {
  const terminal = fakeTerminal();
  let now = 0;
  const root = new Logger({ format: "human", stream: terminal.stream, now: () => now });
  const verra = root.child({ flow: "raw_verra_data", run: 1 });
  const eth = root.child({ flow: "raw_eth_carbon_metrics", run: 2 });
  verra.progress("Verra: 10/200 windows, 5,000 rows");
  now += 300;
  eth.info("started (fetch)");
  now += 300;
  verra.progress("Verra: 20/200 windows, 10,000 rows");
  eth.warn("a warning");
  now += 100; // throttled: the same process drew progress less than 250 ms ago
  eth.progress("carbonMetrics: 1 pages");
  now += 300;
  eth.progress("carbonMetrics: 2 pages, 2,000 records");
  verra.info("wrote 10,000 rows");

  const { lines, logStarts } = screen(terminal.written());
  assert.deepEqual(logStarts, [0, 0, 0], "each log line starts at column 0");
  const text = lines.map((l) => l.replace(/^\d\d:\d\d:\d\d /, "HH:MM:SS "));
  assert.deepEqual(text, [
    "HH:MM:SS raw_eth_carbon_metrics run 2: started (fetch)",
    "HH:MM:SS WARN raw_eth_carbon_metrics run 2: a warning",
    "HH:MM:SS raw_verra_data run 1: wrote 10,000 rows",
    // Verra's line ended nothing of eth's: eth's progress is redrawn below, the only progress line.
    "raw_eth_carbon_metrics run 2: carbonMetrics: 2 pages, 2,000 records",
  ]);
});

test("a log line of the logger whose progress is shown ends that progress (not redrawn)", () => {
  const terminal = fakeTerminal();
  const log = new Logger({ format: "human", stream: terminal.stream, now: () => 1000, context: { flow: "f", run: 3 } });
  log.progress("page 1");
  log.info("done");
  const { lines } = screen(terminal.written());
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /^\d\d:\d\d:\d\d f run 3: done$/);
  assert.equal(lines[1], "");
});

test("off a terminal, progress is silent unless asked, and then plain log lines", () => {
  const written: string[] = [];
  const stream = { isTTY: false, write: (chunk: string) => { written.push(chunk); return true; } } as unknown as NodeJS.WritableStream;
  new Logger({ format: "human", stream }).progress("page 1");
  assert.deepEqual(written, []);
  new Logger({ format: "json", stream, progress: true, now: () => 0 }).progress("page 2");
  assert.equal(written.length, 1);
  assert.equal(JSON.parse(written[0]!).msg, "page 2");
  assert.equal(JSON.parse(written[0]!).progress, true);
});
