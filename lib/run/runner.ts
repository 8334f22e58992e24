// The flow runner: fetch (source) or build from upstream `-latest` artifacts (derived), validate
// against the previous `-latest` (lib/run/validation.ts), write the historized copy then `-latest`,
// and record the run (docs/architecture.md §6, §7).
import { alertRunEnd } from "../alerts/send.ts";
import { decodeArtifact, decodeArtifactSummary, decodeArtifactSummaryByRanges, encodeArtifactBodyYielding, type ArtifactBody, type Compression, type EncodedTable } from "../artifact/artifact.ts";
import type { Config } from "../config/config.ts";
import { ArtifactError, errorMessage, UserError, ValidationError } from "../core/errors.ts";
import type { RunHistory, Trigger } from "../history/history.ts";
import type { Logger } from "../core/log.ts";
import type { Turn } from "../core/turns.ts";
import { missingConsumerColumns, type DerivedFlow, type Flow, type FlowContext } from "../flows/flow.ts";
import { historizedKey, latestKey, StorageError, type Lake } from "../lake/lake.ts";
import { whileOpen } from "../process/last_resort.ts";
import { selectColumns } from "../table/operations.ts";
import { ColumnarTable, requireColumns, type Table } from "../table/table.ts";
import { withRetries, type RetryPolicy } from "./retry.ts";
import { compareTables, type TableShape } from "./validation.ts";

export interface RunOptions {
  config: Config;
  lake: Lake;
  history: RunHistory;
  log: Logger;
  trigger?: Trigger;
  parentId?: number | null;
  /** Take over this running record instead of starting a new one (the scheduler made it). */
  runId?: number | null;
  /**
   * Upstream tables already in memory (build_all, in one process: what a flow of this build just wrote).
   * Their `-latest` key is still recorded as read; a missing one is read from the lake.
   */
  upstream?: (slug: string) => Table | undefined;
  /** A later flow of this build reads the table written (build_all, in one process): it is handed on in the result. */
  handOn?: boolean;
  /** Called with the table made, before it is encoded (build_all, in one process: a collection of what the fetch left). */
  beforeEncoding?: (table: Table) => void;
  /** The turns of this flow on the one thread it shares with the other flows of a build (lib/core/turns.ts). */
  turn?: Turn;
  /** Upstreams that failed in the same build (build_all): this run reads their previous `-latest`, and says so. */
  staleUpstreams?: string[];
  /** Injected for tests: retry sleeps and jitter. */
  retry?: Pick<RetryPolicy, "sleep" | "random">;
  now?: () => Date;
}

export interface FlowResult {
  runId: number;
  status: "succeeded" | "failed";
  /** The table written, as written (when `handOn` asked for it). */
  table?: Table;
  rows?: number;
  columns?: number;
  writtenKeys: string[];
  error?: string;
}

export async function runFlow(flow: Flow, options: RunOptions): Promise<FlowResult> {
  const { config, lake, history } = options;
  const clock = options.now ?? (() => new Date());
  history.markCrashed();
  // One run of a flow at a time: two in the same second would write the same historized key.
  const start = history.startAlone({ flow: flow.slug, trigger: options.trigger ?? "manual", parentId: options.parentId, runId: options.runId });
  const runId = start.id;
  const log = options.log.child({ flow: flow.slug, run: runId });
  if (start.refused !== undefined) {
    log.error(`failed: ${start.refused}`);
    return { runId, status: "failed", writtenKeys: [], error: start.refused };
  }
  let retries = 0;
  // A process that dies early (SIGTERM, an uncaught error elsewhere) still records this run's end.
  const closeRun = whileOpen((reason) => history.finish(runId, { status: "failed", attempts: 1 + retries, error: reason }));
  const writtenKeys: string[] = [];
  try {
    for (const slug of options.staleUpstreams ?? []) {
      const note = `built on the previous ${slug}-latest: ${slug} failed in this build`;
      history.addNote(runId, note);
      log.warn(note);
    }
    const ctx: FlowContext = {
      config,
      log,
      now: clock(),
      turn: options.turn,
      note: (text) => history.addNote(runId, text),
      retry: (what, request) =>
        withRetries(what, request, {
          attempts: config.attempts,
          backoffMs: config.retryBackoffMs,
          ...options.retry,
          onRetry: ({ retry, retries: of, delayMs, error }) => {
            retries++;
            log.warn(`${errorMessage(error)}; retry ${retry}/${of} in ${(delayMs / 1000).toFixed(1)} s`);
          },
        }),
    };
    log.info(`started (${flow.kind === "source" ? "fetch" : `build from ${flow.from.join(", ")}`}) into ${lake.label}`);
    // A lake that cannot take the result fails now, not after the whole fetch (a dry run writes nothing, not even a probe).
    if (!config.dryRun) await lake.checkUsable();
    // The previous shape is read first: its bytes are gone before the new table is in memory.
    const previous: Previous = config.dryRun && flow.dryRunDummy ? dummy(flow.slug, ctx) : await previousShape(flow.slug, lake, ctx);
    const body = await produce(flow, ctx, () => readUpstream(flow as DerivedFlow, lake, history, runId, options.upstream), {
      compression: config.artifactCompression, handOn: options.handOn ?? false, beforeEncoding: options.beforeEncoding,
    });
    const { columns, rowCount: rows } = body;
    const next: TableShape = { columns, rowCount: rows, nullCounts: body.nullCounts };
    const lacking = missingConsumerColumns(flow, columns.map((c) => c.name));
    const problems = [
      ...(lacking.length ? [`the table lacks column(s) the dashboard API reads: ${lacking.join(", ")}`] : []),
      ...("unreadable" in previous ? emptyOverUnreadable(previous, next) : previous.shape ? compareTables(previous.shape, next, flow.sparse) : []),
    ];
    if (problems.length) throw new ValidationError(`validation against ${latestKey(flow.slug)} failed: ${problems.join("; ")}; nothing written`);
    if (config.dryRun) {
      ctx.note("dry run: nothing written");
      log.info(`dry run: would write ${rows} rows x ${columns.length} columns`);
    } else {
      // The historized copy is written, and -latest copied from it: the same bytes, encoded once.
      const keys = [flow.historized === false ? undefined : await writeHistorized(lake, flow.slug, ctx.now, body), latestKey(flow.slug)]
        .filter((key): key is string => key !== undefined);
      if (keys.length === 1) await lake.write(keys[0]!, body);
      else await lake.copy(keys[0]!, keys[1]!);
      for (const key of keys) {
        history.addWrittenKey(runId, key);
        writtenKeys.push(key);
      }
      log.info(`wrote ${rows} rows x ${columns.length} columns (${(body.length / 1e6).toFixed(1)} MB): ${keys.join(", ")}`);
    }
    history.finish(runId, { status: "succeeded", attempts: 1 + retries, rows, columns: columns.length }, clock());
    closeRun();
    // Once the end is recorded; a flow of a build leaves its alert to the build (lib/alerts/alert.ts).
    if (options.parentId == null) await alertRunEnd(runId, { config, history, log });
    // Later flows of the same build read the table by columns, as they would from the lake.
    return { runId, status: "succeeded", rows, columns: columns.length, writtenKeys, table: body.table };
  } catch (error) {
    const message = errorMessage(error);
    history.finish(runId, { status: "failed", attempts: 1 + retries, error: message }, clock());
    closeRun();
    log.error(`failed: ${message}`, error instanceof UserError || !log.verbose ? undefined : { stack: (error as Error)?.stack });
    if (options.parentId == null) await alertRunEnd(runId, { config, history, log });
    return { runId, status: "failed", writtenKeys, error: message };
  }
}

/**
 * The flow's table, fetched or built from its upstreams, encoded (before validation, also in a dry
 * run: the encoder counts each column's nulls). A function of its own, so that neither the table nor
 * its inputs stay referenced from the run's frame through the writes that follow.
 */
async function produce(
  flow: Flow, ctx: FlowContext, upstream: () => Promise<Record<string, Table>>,
  options: { compression: Compression; handOn: boolean; beforeEncoding?: (table: Table) => void },
): Promise<EncodedTable> {
  let table: Table;
  if (flow.kind === "source") table = await flow.fetch(ctx);
  else {
    const inputs = await upstream();
    if (ctx.turn) await ctx.turn();
    table = await flow.build(inputs, ctx);
  }
  options.beforeEncoding?.(table);
  return encodeArtifactBodyYielding(table, options.compression, { handOn: options.handOn, turn: ctx.turn });
}

/**
 * Write `<slug>-<YYYY_MM_DD__HH_MM_SS>` under a key no earlier run used: a run that started in the same
 * second as the one before it (they cannot overlap: one run of a flow at a time) takes the next second.
 */
async function writeHistorized(lake: Lake, slug: string, at: Date, body: ArtifactBody): Promise<string> {
  for (let shift = 0; ; shift++) {
    const key = historizedKey(slug, new Date(at.getTime() + shift * 1000));
    try {
      await lake.write(key, body, { exclusive: true });
      return key;
    } catch (error) {
      if (!(error instanceof StorageError && error.code === "EEXIST") || shift === 59) throw error;
    }
  }
}

async function readUpstream(
  flow: DerivedFlow, lake: Lake, history: RunHistory, runId: number, inMemory?: (slug: string) => Table | undefined,
): Promise<Record<string, Table>> {
  const inputs: Record<string, Table> = {};
  for (const slug of flow.from) {
    const key = latestKey(slug);
    const { columns, require } = flow.inputs[slug]!;
    // In one build, the same table this build just wrote to `key`; else read from the lake.
    let table = inMemory?.(slug);
    // A columnar table of this build is projected as a read from the lake would be (it costs no copy).
    if (table instanceof ColumnarTable && columns) table = selectColumns(table, columns);
    if (!table) {
      const bytes = await lake.read(key);
      if (!bytes) throw new UserError(`upstream ${key} is missing in ${lake.label}: run scripts/${slug}.ts first`);
      table = decodeArtifact(bytes, key, columns, { consume: true });
    }
    requireColumns(table, key, [...require]);
    inputs[slug] = table;
    history.addUpstreamKey(runId, key);
  }
  return inputs;
}

/** The previous `-latest`: its shape; none (first run); or unreadable, with why. */
type Previous = { shape?: TableShape } | { unreadable: string; key: string };

/**
 * The columns, row count and null counts of the previous `-latest`, if there is a readable one: from
 * a few ranges of it (its ends, its Arrow metadata), else (small, irregular, or those ranges did not
 * read) from the whole of it, which also says whether it is unreadable.
 */
async function previousShape(slug: string, lake: Lake, ctx: FlowContext): Promise<Previous> {
  const key = latestKey(slug);
  // A lake that fails (down, refusing) fails the run as a whole read would; odd bytes are read whole.
  const shape = await lake.readRanges(key, (ranges) => decodeArtifactSummaryByRanges(ranges, key)).catch((error: unknown) => {
    if (error instanceof ArtifactError) return undefined;
    throw error;
  });
  if (shape) return { shape };
  const bytes = await lake.read(key);
  if (!bytes) {
    ctx.note(`no previous ${key}: validation skipped`);
    return {};
  }
  try {
    return { shape: decodeArtifactSummary(bytes, key, { checkValues: false, consume: true }) };
  } catch (error) {
    ctx.log.warn(`validation skipped: ${errorMessage(error)}`);
    ctx.note(`previous ${key} unreadable: validation skipped`);
    return { unreadable: errorMessage(error), key };
  }
}

/** A dry run's stand-in table is compared with nothing: it is not the source's data. */
function dummy(slug: string, ctx: FlowContext): Previous {
  ctx.note(`dry run: a stand-in table, not compared with ${latestKey(slug)}`);
  return {};
}

/** An unreadable `-latest` may hold data: it is replaced by a table with rows, never by an empty one. */
function emptyOverUnreadable(previous: { unreadable: string; key: string }, next: TableShape): string[] {
  return next.rowCount > 0 ? [] : [`0 rows, and the previous ${previous.key} cannot be read to tell whether it holds data (${previous.unreadable}): an empty table is not written over it`];
}

