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
}

export class Logger {
  private readonly stream: NodeJS.WritableStream & { isTTY?: boolean };
  private readonly showProgress: boolean;
  private lastProgress = 0;
  private progressShown = false;

  constructor(private readonly options: LoggerOptions) {
    this.stream = options.stream ?? process.stderr;
    this.showProgress = options.progress ?? Boolean(this.stream.isTTY);
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

  /** Progress of long work; throttled, and silent when not wanted. */
  progress(message: string): void {
    if (!this.showProgress) return;
    const now = Date.now();
    if (now - this.lastProgress < 250) return;
    this.lastProgress = now;
    if (this.options.format === "json" || !this.stream.isTTY) {
      this.emit("info", message, { progress: true });
    } else {
      this.stream.write(`\r\x1b[K${redact(this.prefix())}${redact(message)}`);
      this.progressShown = true;
    }
  }

  private prefix(): string {
    const c = this.options.context ?? {};
    const parts = [c.flow, c.run !== undefined ? `run ${c.run}` : undefined].filter(Boolean);
    return parts.length ? `${parts.join(" ")}: ` : "";
  }

  private emit(level: Level, message: string, fields?: Record<string, unknown>): void {
    if (this.progressShown) {
      this.stream.write("\r\x1b[K");
      this.progressShown = false;
    }
    if (this.options.format === "json") {
      const line = { time: new Date().toISOString(), level, ...this.options.context, msg: message, ...fields };
      this.stream.write(`${redact(JSON.stringify(line))}\n`);
      return;
    }
    const time = new Date().toISOString().slice(11, 19);
    const tag = level === "info" ? "" : `${level.toUpperCase()} `;
    const extra = fields && Object.keys(fields).length
      ? ` ${Object.entries(fields).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ")}`
      : "";
    this.stream.write(`${redact(`${time} ${tag}${this.prefix()}${message}${extra}`)}\n`);
  }
}
