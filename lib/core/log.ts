// One line per event, with the run id: human on a terminal, JSON lines when
// asked. Everything passes through `redact`. Logs go to stderr; stdout is for
// a command's own output (tables, exports).
import { redact } from "./redact.ts";

export type LogFormat = "human" | "json";
type Level = "info" | "warn" | "error";

export interface LoggerOptions {
  format: LogFormat;
  /** Show progress lines (pages, rows). Default: only on a terminal. */
  progress?: boolean;
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  context?: Record<string, string | number>;
  /** --verbose: failures carry their stack trace. */
  verbose?: boolean;
  /** Injected for tests: the clock that throttles progress. */
  now?: () => number;
}

/**
 * The one progress line of a stream, shared by every logger of the process that writes to it
 * (build_all runs many flows, each with its own child logger): a log line first clears it, then
 * redraws it, so that every log line starts at column 0 and progress stays at the bottom.
 */
interface ProgressLine {
  /** The text on screen now (prefixed, redacted), or undefined when nothing is drawn. */
  text: string | undefined;
  /** Whose progress it is: a log line of the same logger ends it (the step it measured is over). */
  owner: string | undefined;
  lastAt: number;
}

const progressLines = new WeakMap<object, ProgressLine>();

function progressLineOf(stream: object): ProgressLine {
  let line = progressLines.get(stream);
  if (!line) progressLines.set(stream, (line = { text: undefined, owner: undefined, lastAt: -Infinity }));
  return line;
}

const CLEAR_LINE = "\r\x1b[K";

export class Logger {
  private readonly stream: NodeJS.WritableStream & { isTTY?: boolean };
  private readonly showProgress: boolean;
  private readonly now: () => number;

  constructor(private readonly options: LoggerOptions) {
    this.stream = options.stream ?? process.stderr;
    this.showProgress = options.progress ?? Boolean(this.stream.isTTY);
    this.now = options.now ?? Date.now;
  }

  get verbose(): boolean {
    return this.options.verbose ?? false;
  }

  /** A logger whose lines also carry these fields (flow, run id). */
  child(context: Record<string, string | number>): Logger {
    return new Logger({ ...this.options, stream: this.stream, context: { ...this.options.context, ...context } });
  }

  info(message: string, fields?: Record<string, unknown>): void {
    this.emit("info", message, fields);
  }

  warn(message: string, fields?: Record<string, unknown>): void {
    this.emit("warn", message, fields);
  }

  error(message: string, fields?: Record<string, unknown>): void {
    this.emit("error", message, fields);
  }

  /** Progress of long work; throttled (for the whole process), and silent when not wanted. */
  progress(message: string): void {
    if (!this.showProgress) return;
    const line = progressLineOf(this.stream);
    const now = this.now();
    if (now - line.lastAt < 250) return;
    line.lastAt = now;
    if (this.options.format === "json" || !this.stream.isTTY) {
      this.emit("info", message, { progress: true });
      return;
    }
    line.text = redact(`${this.prefix()}${message}`);
    line.owner = this.prefix();
    this.stream.write(`${CLEAR_LINE}${line.text}`);
  }

  private prefix(): string {
    const c = this.options.context ?? {};
    const parts = [c.flow, c.run !== undefined ? `run ${c.run}` : undefined].filter(Boolean);
    return parts.length ? `${parts.join(" ")}: ` : "";
  }

  private emit(level: Level, message: string, fields?: Record<string, unknown>): void {
    const progress = progressLineOf(this.stream);
    let text: string;
    if (this.options.format === "json") {
      const line = { time: new Date().toISOString(), level, ...this.options.context, msg: message, ...fields };
      text = `${redact(JSON.stringify(line))}\n`;
    } else {
      const time = new Date().toISOString().slice(11, 19);
      const tag = level === "info" ? "" : `${level.toUpperCase()} `;
      const extra = fields && Object.keys(fields).length
        ? ` ${Object.entries(fields).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ")}`
        : "";
      text = `${redact(`${time} ${tag}${this.prefix()}${message}${extra}`)}\n`;
    }
    if (progress.text === undefined) {
      this.stream.write(text);
      return;
    }
    // Clear the progress line, write the log line from column 0, then redraw the progress below it,
    // unless this line is from the logger whose progress it was (its step is over).
    if (progress.owner === this.prefix()) progress.text = undefined;
    this.stream.write(`${CLEAR_LINE}${text}${progress.text ?? ""}`);
  }
}
