// The status page (lib/status/): one shared setup (build_all in this process against the fake
// sources into a temporary lake, then a flow that fails because the sources are gone), one server
// on 127.0.0.1 port 0. /healthz, /metrics, the token off loopback and escaping over HTTP; then the
// pages in real headless Chromium (Debian's chromium through playwright-core) with JavaScript
// off, each saved as a screenshot (under docs/ for the README with UPDATE_SCREENSHOTS=1). Without chromium the browser tests
// are skipped on a workstation and fail in CI (CI=true): `.ci/run` installs it.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { runBuild } from "../lib/run/build.ts";
import type { Config } from "../lib/config/config.ts";
import { ConfigError } from "../lib/core/errors.ts";
import { runFlow } from "../lib/run/runner.ts";
import { RunHistory } from "../lib/history/history.ts";
import { SchedulerLock } from "../lib/history/lock.ts";
import { LocalLake } from "../lib/lake/lake.ts";
import { logsDirOf } from "../lib/schedule/daemon_status.ts";
import { flowSlugs, loadSchedule } from "../lib/schedule/schedule.ts";
import { startStatusServer, type StatusServer } from "../lib/status/server.ts";
import { startFakeSources } from "./fakes/all.ts";
import { memoryLogger, ROOT, runScript, testConfig } from "./helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
/** The README's screenshots are replaced only when asked (UPDATE_SCREENSHOTS=1); otherwise they go to the test's folder. */
const SHOTS = process.env.UPDATE_SCREENSHOTS === "1" ? path.join(ROOT, "docs") : undefined;
const TOKEN = "s3cret-status-token-0123456789";

/** A computed style in the page (the type check has no DOM library). */
const style = (element: unknown, property: string) =>
  (globalThis as unknown as { getComputedStyle(e: unknown): Record<string, string> }).getComputedStyle(element)[property]!;

interface Setup {
  dir: string;
  config: Config;
  history: RunHistory;
  server: StatusServer;
  /** The status page's clock: tests move it to make datasets stale. */
  clock: { now: Date };
  buildId: number;
  failedId: number;
  markupId: number;
}

let setup: Setup;

before(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "dp-status-"));
  const sources = await startFakeSources({ verraRows: 300 });
  const config = testConfig(dir, { ...sources.env, DATA_PIPELINES_RETRIES: "false", DATA_PIPELINES_HTTP_TIMEOUT_SECONDS: "5", DATA_PIPELINES_STATUS_TOKEN: TOKEN });
  const { log } = memoryLogger();
  const { ALL_FLOWS } = await import("../scripts/flows.ts");
  let build;
  try {
    build = await runBuild({ name: "build_all", flows: ALL_FLOWS, config, log, concurrency: 8, inProcess: true });
  } finally {
    await sources.stop();
  }
  assert.ok(build.outcomes.every((o) => o.status === "succeeded"), JSON.stringify(build.outcomes.filter((o) => o.status !== "succeeded")));
  const history = RunHistory.open(config.db);
  // The sources are gone: raw_verra_data fails, and so shows up red.
  const verra = ALL_FLOWS.find((f) => f.slug === "raw_verra_data")!;
  const failed = await runFlow(verra, { config, lake: new LocalLake(path.join(dir, "lake")), history, log });
  assert.equal(failed.status, "failed");
  // Text that must be shown as text: markup in an error, a note and a log file; and a secret.
  const markupId = history.start({ flow: "clean_up_old_artifacts", trigger: "schedule" });
  history.addNote(markupId, `<img src=x onerror="document.title='pwned'"><script>alert(1)</script> and the token ${TOKEN}`);
  history.finish(markupId, { status: "failed", error: "s3-bucket/dev: cannot list lake/: HTTP 503 <html><h1>503 Service Unavailable</h1></html> & retried" });
  mkdirSync(logsDirOf(config.db), { recursive: true });
  writeFileSync(path.join(logsDirOf(config.db), `${markupId}-clean_up_old_artifacts.log`), "13:15:00 started\n13:15:01 <i>deleted</i> 3 artifacts\n");

  const clock = { now: new Date() };
  const server = await startStatusServer({
    config: { ...config, status: { listen: { host: "127.0.0.1", port: 0 }, token: undefined } },
    history, schedule: loadSchedule(), logsDir: logsDirOf(config.db), log, now: () => clock.now,
  });
  setup = { dir, config, history, server, clock, buildId: build.runId, failedId: failed.runId, markupId };
});

after(async () => {
  await setup?.server.close();
  setup?.history.close();
  if (setup) rmSync(setup.dir, { recursive: true, force: true });
});

const get = (p: string, headers: Record<string, string> = {}, url = setup.server.url) => fetch(`${url}${p}`, { headers });

describe("over HTTP", () => {
  test("/healthz: 503 while no daemon is alive, 200 when it is and nothing is stale, 503 naming what is stale", async () => {
    const first = await get("/healthz");
    assert.equal(first.status, 503);
    assert.equal(first.headers.get("content-type"), "application/json");
    const body = (await first.json()) as Record<string, unknown>;
    assert.deepEqual(body, { ...body, status: "unhealthy", scheduler: "not running", stale: [] });

    new SchedulerLock(setup.history).acquire({ role: "daemon" }); // this process stands in for a live daemon
    try {
      const ok = await get("/healthz");
      assert.equal(ok.status, 200);
      assert.deepEqual(((await ok.json()) as { status: string }).status, "ok");
      setup.clock.now = new Date(Date.now() + 3 * 3_600_000); // build_frequent's datasets: 2 h
      const stale = await get("/healthz");
      assert.equal(stale.status, 503);
      assert.deepEqual(((await stale.json()) as { stale: string[] }).stale, ["current_assets_prices", "tokens_data_v2"]);
    } finally {
      setup.clock.now = new Date();
      new SchedulerLock(setup.history).release();
    }
  });

  test("/metrics: Prometheus text with runs by status, each dataset's last success and rows, the build's duration", async () => {
    const response = await get("/metrics");
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const text = await response.text();
    const sample = (line: RegExp) => assert.match(text, line);
    sample(/^# TYPE data_pipelines_runs gauge$/m);
    sample(/^data_pipelines_runs\{flow="raw_verra_data",status="failed"\} 1$/m);
    sample(/^data_pipelines_runs\{flow="raw_verra_data",status="succeeded"\} 1$/m);
    sample(/^data_pipelines_dataset_rows\{dataset="raw_verra_data"\} 300$/m);
    sample(/^data_pipelines_dataset_last_success_timestamp_seconds\{dataset="tokens_data_v2"\} 1\d{9}(\.\d+)?$/m);
    sample(/^data_pipelines_dataset_stale\{dataset="verra_data_v2"\} 0$/m);
    sample(/^data_pipelines_build_duration_seconds\{build="build_all",status="succeeded"\} \d+(\.\d+)?$/m);
    sample(/^data_pipelines_scheduler_up 0$/m);
    for (const line of text.split("\n").filter((l) => l && !l.startsWith("#"))) assert.match(line, /^[a-z_]+(\{[^}]*\})? -?[0-9.e+-]+$/, line);
    assert.equal(text.match(/^data_pipelines_dataset_max_age_seconds\{/gm)!.length, 34);
  });

  test("off loopback: refused without a token; with one, a request without it gets 401, with it (bearer or basic) the page", async (t) => {
    const offLoopback = { host: "0.0.0.0", port: 0 };
    const { log } = memoryLogger();
    const options = { history: setup.history, schedule: loadSchedule(), logsDir: logsDirOf(setup.config.db), log, listen: offLoopback };
    const unguarded = startStatusServer({ ...options, config: { ...setup.config, status: { listen: offLoopback, token: undefined } } });
    t.after(async () => (await unguarded.catch(() => undefined))?.close());
    await assert.rejects(unguarded, (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal((error as Error).message, "DATA_PIPELINES_STATUS_ADDR: 0.0.0.0 is not a loopback address: set DATA_PIPELINES_STATUS_TOKEN too (the page then asks for it), or bind 127.0.0.1");
      return true;
    });
    const guarded = await startStatusServer({ ...options, config: { ...setup.config, status: { listen: offLoopback, token: TOKEN } } });
    t.after(() => guarded.close());
    const url = `http://127.0.0.1:${new URL(guarded.url).port}`;
    const none = await get("/healthz", {}, url);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get("www-authenticate"), 'Basic realm="data-pipelines status", charset="UTF-8"');
    assert.ok(!(await none.text()).includes(TOKEN));
    assert.equal((await get("/", { authorization: "Bearer wrong-token-0123456789" }, url)).status, 401);
    assert.equal((await get("/", { authorization: `Bearer ${TOKEN}` }, url)).status, 200);
    assert.equal((await get("/runs", { authorization: `Basic ${Buffer.from(`anyone:${TOKEN}`).toString("base64")}` }, url)).status, 200);
    const post = await fetch(`${url}/`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(post.status, 405, "read-only");

    const daemon = await runScript("schedule.ts", [], { cwd: setup.dir, env: { DATA_PIPELINES_DB: path.join(setup.dir, "other.sqlite"), DATA_PIPELINES_STATUS_ADDR: "0.0.0.0:8411" } });
    assert.deepEqual([daemon.code, daemon.stdout], [2, ""]);
    assert.equal(daemon.stderr, "error: DATA_PIPELINES_STATUS_ADDR: 0.0.0.0 is not a loopback address: set DATA_PIPELINES_STATUS_TOKEN too (the page then asks for it), or bind 127.0.0.1 (see --help)\n");
  });

  test("every value is escaped and redacted: markup in errors, notes and log files is text, a secret never shows", async () => {
    for (const page of ["/", "/runs", `/runs/${setup.markupId}`, "/schedule", "/runs?flow=%3Cscript%3E"]) {
      const html = await (await get(page)).text();
      assert.ok(!/<script|<img|<h1>503|<i>deleted/.test(html), `${page}: markup passed through`);
      assert.ok(!html.includes(TOKEN), `${page}: the token (a secret: DATA_PIPELINES_STATUS_TOKEN)`);
    }
    const run = await (await get(`/runs/${setup.markupId}`)).text();
    assert.ok(run.includes("HTTP 503 &lt;html&gt;&lt;h1&gt;503 Service Unavailable&lt;/h1&gt;&lt;/html&gt; &amp; retried"));
    assert.ok(run.includes("&lt;img src=x onerror=&quot;document.title=&#39;pwned&#39;&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert.ok(run.includes("13:15:01 &lt;i&gt;deleted&lt;/i&gt; 3 artifacts"), "the log file, escaped");
    assert.equal((await get("/datasets/no_such_dataset")).status, 404);
    assert.equal((await get("/runs/99999")).status, 404);
  });

  test("the daemon serves the page (DATA_PIPELINES_STATUS_ADDR) and stops it with itself", async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), "dp-status-daemon-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(path.join(dir, "yearly.json"), JSON.stringify({ quick: "0 0 1 1 *" }));
    const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), path.join(ROOT, "schedule.ts"), "--schedule", "yearly.json", "--scripts-dir", path.join(ROOT, "test", "fixtures", "jobs")], {
      cwd: dir, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", DATA_PIPELINES_DB: path.join(dir, "runs.sqlite"), DATA_PIPELINES_STATUS_ADDR: "127.0.0.1:0" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL"); });
    const lines: string[] = [];
    const url = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stderr! }).on("line", (line) => {
        lines.push(line);
        const found = /status page on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
        if (found) resolve(found[1]!);
      });
      child.once("exit", () => reject(new Error(`the daemon ended:\n${lines.join("\n")}`)));
    });
    const health = await get("/healthz", {}, url);
    assert.equal(health.status, 200, "alive, and nothing it schedules refreshes a dataset: nothing stale");
    assert.equal(((await health.json()) as { scheduler: string }).scheduler, "alive");
    assert.match(await (await get("/schedule", {}, url)).text(), /data-job="quick"/);
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    assert.deepEqual(await exited, [0, null]);
    assert.equal(lines.at(-1)?.slice(9), "scheduler stopped");
    await assert.rejects(get("/healthz", {}, url), "the page stopped with the daemon");
  });
});

describe("in Chromium, without JavaScript", () => {
  let browser: Browser | undefined;
  const missing = !existsSync(CHROMIUM);

  before(async () => {
    if (missing) {
      if (process.env.CI) assert.fail(`${CHROMIUM} is missing: the browser tests cannot run (apt-get install -y chromium; .ci/run does it)`);
      return;
    }
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
    if (SHOTS) mkdirSync(SHOTS, { recursive: true });
  });
  after(async () => { await browser?.close(); });

  /** A page with JavaScript off (the status page has none and must not need it). */
  async function open(t: { skip(message: string): void; after(fn: () => unknown): void }, where: string): Promise<Page | undefined> {
    if (!browser) {
      t.skip(`${CHROMIUM} is not installed (apt-get install -y chromium)`);
      return undefined;
    }
    const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1400, height: 900 } });
    t.after(() => context.close());
    const page = await context.newPage();
    const response = await page.goto(`${setup.server.url}${where}`);
    assert.equal(response?.status(), 200);
    return page;
  }

  const shot = (page: Page, name: string, fullPage = true) => page.screenshot({ path: path.join(SHOTS ?? setup.dir, `status-${name}.png`), fullPage });

  test("the datasets page lists all 34 datasets, each linking to its page, the failed last run in red", async (t) => {
    const page = await open(t, "/");
    if (!page) return;
    const slugs = await page.$$eval("tr[data-slug]", (rows) => rows.map((r) => r.getAttribute("data-slug")));
    assert.equal(slugs.length, 34);
    assert.deepEqual([...slugs].sort(), [...flowSlugs()].sort());
    const verra = page.locator('tr[data-slug="raw_verra_data"]');
    assert.match(await verra.innerText(), /fresh.*within 26 h \(build_all\)[\s\S]*300[\s\S]*failed[\s\S]*connection refused/);
    assert.equal(await verra.locator(".badge.failed").evaluate(style, "backgroundColor"), "rgb(207, 34, 46)");
    await shot(page, "datasets");
    await page.click('a[href="/datasets/verra_data_v2"]');
    assert.equal(new URL(page.url()).pathname, "/datasets/verra_data_v2");
  });

  test("a failed run shows up red with its error, and its page has the error and the keys it read", async (t) => {
    const page = await open(t, "/runs");
    if (!page) return;
    const row = page.locator(`tr[data-run="${setup.failedId}"]`);
    assert.equal(await row.getAttribute("class"), "failed");
    assert.equal(await row.locator("td").first().evaluate(style, "backgroundColor"), "rgb(255, 235, 233)");
    assert.equal(await row.locator(".badge").evaluate(style, "backgroundColor"), "rgb(207, 34, 46)");
    assert.match(await row.locator("td.error").innerText(), /connection refused/);
    await shot(page, "runs", false);
    await row.locator(`a[href="/runs/${setup.failedId}"]`).click();
    assert.match(await page.locator("h1").innerText(), new RegExp(`^Run #${setup.failedId}: raw_verra_data failed$`));
    assert.match(await page.locator("dd.error").innerText(), /connection refused/);
    await page.goto(`${setup.server.url}/runs/${setup.buildId}`);
    assert.match(await page.locator("main").innerText(), /34 of 34 succeeded/);
    await shot(page, "run", false);
  });

  test("the runs filter works as a plain GET form: flow and status", async (t) => {
    const page = await open(t, "/runs");
    if (!page) return;
    await page.selectOption('select[name="flow"]', "raw_verra_data");
    await page.selectOption('select[name="status"]', "failed");
    await page.click('button[type="submit"]');
    const url = new URL(page.url());
    assert.deepEqual([url.pathname, url.searchParams.get("flow"), url.searchParams.get("status")], ["/runs", "raw_verra_data", "failed"]);
    assert.deepEqual(await page.$$eval("tr[data-run]", (rows) => rows.map((r) => r.getAttribute("data-run"))), [String(setup.failedId)]);
    assert.equal(await page.locator('select[name="flow"]').inputValue(), "raw_verra_data", "the form keeps the filter");
  });

  test("the lineage SVG has 34 nodes coloured by freshness, each a link to its dataset", async (t) => {
    const page = await open(t, "/lineage");
    if (!page) return;
    assert.equal(await page.locator("svg.lineage g.node").count(), 34);
    assert.equal(await page.locator("svg.lineage g.node.fresh").count(), 34);
    assert.equal(await page.locator("svg.lineage path.edge").count(), [...(await import("../lib/status/data.ts")).declaredUpstreams().values()].flat().length);
    assert.equal(await page.locator('g.node[data-slug="verra_data_v2"] rect').evaluate(style, "fill"), "rgb(218, 251, 225)");
    await shot(page, "lineage", false);
    await page.locator('g.node[data-slug="all_retirements"]').click();
    assert.equal(new URL(page.url()).pathname, "/datasets/all_retirements");
  });

  test("a dataset's page: rows over time, schema of its -latest, upstream and downstream, recent runs", async (t) => {
    const page = await open(t, "/datasets/verra_data_v2");
    if (!page) return;
    assert.equal(await page.locator("svg.chart circle").count(), 1);
    assert.equal(await page.locator("table.schema tbody tr").count(), 35);
    const text = await page.locator("main").innerText();
    assert.match(text, /reads \(upstream\)\s+raw_verra_data, raw_eth_moss_bridged_offsets/);
    assert.match(text, /read by \(downstream\)\s+verra_retirements, polygon_retired_offsets_v2/);
    await shot(page, "dataset");
  });

  test("the schedule page: the daemon's state, each job's cron, next and last run", async (t) => {
    const page = await open(t, "/schedule");
    if (!page) return;
    assert.deepEqual(await page.$$eval("tr[data-job]", (rows) => rows.map((r) => r.getAttribute("data-job"))), ["clean_up_old_artifacts", "build_all", "build_frequent"]);
    assert.match(await page.locator('tr[data-job="build_all"]').innerText(), /15 13 \* \* \*\s+6 h\s+\d{4}-\d\d-\d\d 13:15:00\s+#\d+\s+succeeded/);
    assert.match(await page.locator("dl").innerText(), /scheduler\s+not running/);
    await shot(page, "schedule");
  });
});
