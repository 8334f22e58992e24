// Alerts (lib/alerts/alert.ts): a webhook receiver on 127.0.0.1 counts what arrives. A failing flow, a
// failing build, a crashed and a timed-out daemon job, a skipped trigger and a stale dataset each
// alert once, with the slug, the run id and the error line; a recovery once; a repeat never. A
// receiver that hangs or is gone changes neither the run's outcome nor its duration beyond the
// bounded delivery; the command gets the JSON on stdin and is killed with its group when it hangs.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer, type IncomingMessage } from "node:http";
import { readFileSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { describe, test } from "node:test";
import { type Alert } from "../lib/alerts/alert.ts";
import { alertDocument, webhookBody } from "../lib/alerts/message.ts";
import { DaemonAlerts } from "../lib/alerts/send.ts";
import { runBuild } from "../lib/run/build.ts";
import { SourceError } from "../lib/core/errors.ts";
import { derivedFlow, sourceFlow, type Flow } from "../lib/flows/flow.ts";
import { runFlow } from "../lib/run/runner.ts";
import { RunHistory } from "../lib/history/history.ts";
import { LocalLake } from "../lib/lake/lake.ts";
import { registerSecret } from "../lib/core/redact.ts";
import { Scheduler } from "../lib/daemon/scheduler.ts";
import { loadSchedule } from "../lib/schedule/schedule.ts";
import { table } from "../lib/table/table.ts";
import { leftInGroup, memoryLogger, ROOT, runScript, tempDir, testConfig } from "./helpers.ts";

type T = Parameters<typeof tempDir>[0];
const JOBS = path.join(ROOT, "test", "fixtures", "jobs");

/** A webhook receiver: `ok` answers 200, `fail` 500, `hang` never answers. */
async function receiver(t: T, mode: "ok" | "fail" | "hang" = "ok") {
  const bodies: Record<string, unknown>[] = [];
  const arrivals: number[] = [];
  const server = createServer((request: IncomingMessage, response) => {
    let text = "";
    request.on("data", (chunk: Buffer) => { text += chunk.toString("utf8"); });
    request.on("end", () => {
      bodies.push(JSON.parse(text) as Record<string, unknown>);
      arrivals.push(Date.now());
      if (mode === "hang") return;
      response.writeHead(mode === "ok" ? 200 : 500).end(mode === "ok" ? "ok" : "receiver down");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }));
  // A path that looks like Slack's secret one: it must never show anywhere.
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/services/T0SECRET/B0SECRET/XXSECRETXX`, bodies, arrivals };
}

/** A source flow that fails with `error` while `fails()` says so, otherwise writes one row. */
function toggledFlow(slug: string, fails: () => boolean, error = "Verra search (https://registry.verra.org/uiapi): HTTP 500"): Flow {
  return sourceFlow({
    slug,
    fetch: async () => {
      if (fails()) throw new SourceError(error, false);
      return table({ n: "int" }, [{ n: 1 }]);
    },
  });
}

function flowSetup(t: T, env: Record<string, string>) {
  const dir = tempDir(t);
  const config = testConfig(dir, { DATA_PIPELINES_RETRIES: "false", ...env });
  const history = RunHistory.open(config.db);
  t.after(() => history.close());
  const { log, lines } = memoryLogger();
  const lake = new LocalLake(path.join(dir, "lake"));
  return { dir, config, history, log, lines, lake };
}

describe("alerts", { concurrency: true, timeout: 60_000 }, () => {
  test("a failing flow alerts once with its slug, run id and error line; a second failure does not; its recovery once", async (t) => {
    const hook = await receiver(t);
    const s = flowSetup(t, { DATA_PIPELINES_ALERT_WEBHOOK: hook.url });
    let failing = true;
    const flow = toggledFlow("alerting_flow", () => failing);
    const run = () => runFlow(flow, { config: s.config, lake: s.lake, history: s.history, log: s.log });

    const first = await run();
    assert.equal(first.status, "failed");
    assert.equal(hook.bodies.length, 1);
    const alert = hook.bodies[0]!;
    assert.deepEqual([alert.event, alert.subject, alert.runId, alert.status, alert.error],
      ["failed", "alerting_flow", first.runId, "failed", "Verra search (https://registry.verra.org/uiapi): HTTP 500"]);
    assert.match(String(alert.text), new RegExp(`^alerting_flow failed \\(run ${first.runId}\\): Verra search`));
    assert.ok(Array.isArray(alert.blocks) && typeof alert.time === "string" && typeof alert.host === "string");

    await run();
    assert.equal(hook.bodies.length, 1, "a repeated failure does not alert again");

    failing = false;
    const fixed = await run();
    assert.equal(fixed.status, "succeeded");
    assert.equal(hook.bodies.length, 2);
    assert.deepEqual([hook.bodies[1]!.event, hook.bodies[1]!.subject, hook.bodies[1]!.runId, hook.bodies[1]!.status],
      ["recovered", "alerting_flow", fixed.runId, "succeeded"]);
    await run();
    assert.equal(hook.bodies.length, 2, "a repeated success does not alert");
    for (const line of s.lines) assert.ok(!line.includes("SECRET"), line);
  });

  test("a failing build alerts once, naming its failed flows; its flows do not alert on their own; its recovery once", async (t) => {
    const hook = await receiver(t);
    const s = flowSetup(t, { DATA_PIPELINES_ALERT_WEBHOOK: hook.url });
    let broken = true;
    const flows: Flow[] = [
      toggledFlow("good_source", () => false),
      toggledFlow("bad_source", () => broken, "subgraph polygon-digital-carbon: indexer unavailable"),
      derivedFlow({
        slug: "bad_derived", from: ["good_source"],
        build: ({ good_source }) => { if (broken) throw new Error("column Quantity is missing"); return good_source!; },
      }),
    ];
    const build = await runBuild({ name: "build_all", flows, config: s.config, log: s.log, concurrency: 2, inProcess: true });
    assert.equal(hook.bodies.length, 1, JSON.stringify(hook.bodies));
    const alert = hook.bodies[0]! as unknown as Alert;
    assert.deepEqual([alert.event, alert.subject, alert.runId, alert.status, alert.error],
      ["failed", "build_all", build.runId, "failed", "2 of 3 flows failed: bad_source, bad_derived"]);
    const runOf = (slug: string) => build.outcomes.find((o) => o.slug === slug)!.runId;
    assert.deepEqual(alert.flows, [
      { slug: "bad_source", runId: runOf("bad_source"), error: "subgraph polygon-digital-carbon: indexer unavailable" },
      { slug: "bad_derived", runId: runOf("bad_derived"), error: "column Quantity is missing" },
    ]);
    assert.match(String((hook.bodies[0] as Record<string, unknown>).text), /^build_all failed \(run \d+\): 2 of 3 flows failed: bad_source, bad_derived$/);

    await runBuild({ name: "build_all", flows, config: s.config, log: s.log, concurrency: 2, inProcess: true });
    assert.equal(hook.bodies.length, 1, "the same flows failing again: no alert");

    broken = false;
    const fixed = await runBuild({ name: "build_all", flows, config: s.config, log: s.log, concurrency: 2, inProcess: true });
    assert.equal(hook.bodies.length, 2);
    const recovered = hook.bodies[1]! as unknown as Alert & { text: string };
    assert.deepEqual([recovered.event, recovered.subject, recovered.runId, recovered.status, recovered.flows?.map((f) => f.slug)],
      ["recovered", "build_all", fixed.runId, "succeeded", ["bad_source", "bad_derived"]]);
    assert.equal(recovered.text, `build_all recovered (run ${fixed.runId}): bad_source, bad_derived succeeded again`);
  });

  test("a flow run by the daemon alerts itself; the daemon's second look does not alert again", async (t) => {
    const hook = await receiver(t);
    const dir = tempDir(t);
    const r = await runScript("schedule.ts", ["--once", "raw_celo_carbon_metrics"], {
      cwd: dir,
      env: {
        DATA_PIPELINES_DB: path.join(dir, "runs.sqlite"), DATA_PIPELINES_ALERT_WEBHOOK: hook.url, DATA_PIPELINES_RETRIES: "false",
        DATA_PIPELINES_CARBON_CELO_SUBGRAPH_URL: "http://127.0.0.1:9/subgraphs/celo", DATA_PIPELINES_STATUS_ADDR: "off",
      },
    });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(hook.bodies.length, 1, JSON.stringify(hook.bodies));
    assert.deepEqual([hook.bodies[0]!.event, hook.bodies[0]!.subject, hook.bodies[0]!.runId], ["failed", "raw_celo_carbon_metrics", 1]);
    assert.match(String(hook.bodies[0]!.error), /connection refused/, "the flow's own error, not the daemon's exit code");
    assert.ok(!r.stderr.includes("SECRET"));
  });

  for (const [job, schedule, expected] of [
    ["crashes", undefined, "killed by SIGKILL"],
    ["sleeps", { sleeps: { cron: "0 0 1 1 *", timeout: "300ms" } }, "timed out after 300 ms"],
  ] as const) {
    test(`a daemon job that ${job === "crashes" ? "crashes" : "times out"} alerts once, with the daemon's reason`, async (t) => {
      const hook = await receiver(t);
      const dir = tempDir(t);
      const args = ["--once", job, "--scripts-dir", JOBS];
      if (schedule) {
        writeFileSync(path.join(dir, "schedule.json"), JSON.stringify(schedule));
        args.push("--schedule", "schedule.json");
      }
      const r = await runScript("schedule.ts", args, {
        cwd: dir,
        env: { DATA_PIPELINES_DB: path.join(dir, "runs.sqlite"), DATA_PIPELINES_ALERT_WEBHOOK: hook.url, DATA_PIPELINES_SCHEDULER_KILL_SECONDS: "1" },
      });
      assert.notEqual(r.code, 0);
      assert.equal(hook.bodies.length, 1, r.stderr);
      assert.deepEqual([hook.bodies[0]!.event, hook.bodies[0]!.subject, hook.bodies[0]!.runId, hook.bodies[0]!.status, hook.bodies[0]!.error],
        ["failed", job, 1, "failed", expected]);
    });
  }

  test("a run left running by a process that is gone: the daemon marks it crashed and alerts once", async (t) => {
    const hook = await receiver(t);
    const s = flowSetup(t, { DATA_PIPELINES_ALERT_WEBHOOK: hook.url });
    const dead = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
    await once(dead, "exit");
    const id = s.history.start({ flow: "raw_verra_data", trigger: "manual", pid: dead.pid! });
    const alerts = new DaemonAlerts({ settings: s.config.alert, history: s.history, log: s.log, schedule: loadSchedule() });
    alerts.crashed(s.history.markCrashed()); // what the daemon does at start
    alerts.crashed(s.history.markCrashed()); // and again later: nothing new
    await alerts.settled(5000);
    assert.equal(hook.bodies.length, 1);
    assert.deepEqual([hook.bodies[0]!.event, hook.bodies[0]!.subject, hook.bodies[0]!.runId, hook.bodies[0]!.status, hook.bodies[0]!.error],
      ["failed", "raw_verra_data", id, "crashed", `process ${dead.pid} ended without recording the run's end`]);
  });

  test("a skipped trigger alerts once, until a trigger of that job runs again", async (t) => {
    const hook = await receiver(t);
    const dir = tempDir(t);
    const config = testConfig(dir, { DATA_PIPELINES_ALERT_WEBHOOK: hook.url });
    const history = RunHistory.open(config.db);
    const { log } = memoryLogger();
    const alerts = new DaemonAlerts({ settings: config.alert, history, log, schedule: loadSchedule() });
    const scheduler = new Scheduler({
      history, log, logsDir: path.join(dir, "logs"), killAfterMs: 1000, cwd: dir, alerts,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", DATA_PIPELINES_DB: config.db },
      jobs: [{ job: "sleeps", cron: "", timeoutMs: 60_000, script: path.join(JOBS, "sleeps.ts") }],
    });
    t.after(async () => {
      await scheduler.shutdown(0);
      history.close();
    });
    assert.equal(scheduler.trigger("sleeps"), "started");
    assert.equal(scheduler.trigger("sleeps"), "skipped");
    assert.equal(scheduler.trigger("sleeps"), "skipped");
    await alerts.settled(5000);
    assert.equal(hook.bodies.length, 1);
    assert.deepEqual([hook.bodies[0]!.event, hook.bodies[0]!.subject, hook.bodies[0]!.runId, hook.bodies[0]!.status, hook.bodies[0]!.error],
      ["skipped", "sleeps", 2, "skipped", "sleeps is already running (run 1)"]);
  });

  test("a stale dataset alerts once (its last failed run named) until written again, then once more: fresh again", async (t) => {
    const hook = await receiver(t);
    const s = flowSetup(t, { DATA_PIPELINES_ALERT_WEBHOOK: hook.url });
    const alerts = new DaemonAlerts({ settings: s.config.alert, history: s.history, log: s.log, schedule: loadSchedule() });
    const t0 = Date.parse("2026-03-10T13:15:00Z");
    const hours = (h: number) => new Date(t0 + h * 3_600_000);
    const write = (at: Date) => {
      const id = s.history.start({ flow: "raw_verra_data", trigger: "schedule", at });
      s.history.addWrittenKey(id, "raw_verra_data-latest");
      s.history.finish(id, { status: "succeeded", rows: 600 }, at);
      return id;
    };
    const written = write(hours(0));
    const failed = s.history.start({ flow: "raw_verra_data", trigger: "schedule", at: hours(24) });
    s.history.finish(failed, { status: "failed", error: "Verra search: no answer within 300 s" }, hours(24));

    const check = async (at: Date) => {
      alerts.checkFreshness(at);
      await alerts.settled(5000);
    };
    await check(hours(25)); // fresh: within 26 h of build_all's daily trigger
    assert.equal(hook.bodies.length, 0);
    await check(hours(27));
    assert.equal(hook.bodies.length, 1, "the 33 datasets never built do not alert");
    assert.deepEqual([hook.bodies[0]!.event, hook.bodies[0]!.subject, hook.bodies[0]!.runId, hook.bodies[0]!.status, hook.bodies[0]!.error], [
      "stale", "raw_verra_data", written, "stale",
      `raw_verra_data last written 27 h ago (run ${written}), expected within 26 h (build_all); its last run ${failed} failed: Verra search: no answer within 300 s`,
    ]);
    await check(hours(30));
    assert.equal(hook.bodies.length, 1, "still stale: no second alert");
    const again = write(hours(31));
    await check(hours(31.5));
    assert.equal(hook.bodies.length, 2);
    assert.deepEqual([hook.bodies[1]!.event, hook.bodies[1]!.subject, hook.bodies[1]!.runId, hook.bodies[1]!.status], ["recovered", "raw_verra_data", again, "fresh"]);
  });

  test("a receiver that hangs or is gone: the run keeps its outcome, the delivery is bounded, one log line and a note on the run", async (t) => {
    const hanging = await receiver(t, "hang");
    const s = flowSetup(t, { DATA_PIPELINES_ALERT_WEBHOOK: `${hanging.url},http://127.0.0.1:9/gone`, DATA_PIPELINES_ALERT_TIMEOUT_SECONDS: "1" });
    const flow = toggledFlow("unheard_flow", () => true);
    const began = Date.now();
    const result = await runFlow(flow, { config: s.config, lake: s.lake, history: s.history, log: s.log });
    const took = Date.now() - began;
    assert.equal(result.status, "failed");
    // At least the three attempts of 0.25 s and their two pauses of 0.125 s (timers never fire early);
    // at most a bound far from the hanging receiver's forever but loose enough for a loaded machine,
    // where this file's other tests share the thread (the notes below name the attempts and their bound).
    assert.ok(took >= 900 && took < 10_000, `runFlow returned after ${took} ms: the 1 s delivery bound and a margin`);
    const run = s.history.get(result.runId)!;
    assert.equal(run.status, "failed");
    assert.equal(run.error, "Verra search (https://registry.verra.org/uiapi): HTTP 500");
    assert.ok(Date.parse(run.endedAt!) <= hanging.arrivals[0]!, "the run's end was recorded before the delivery began");
    assert.ok(hanging.bodies.length >= 2, "the hanging receiver was tried again");
    const notes = run.notes.filter((n) => n.startsWith("alert"));
    assert.equal(notes.length, 2, run.notes.join("\n"));
    assert.match(notes[0]!, /^alert \(failed unheard_flow\) not delivered to webhook 1 \(127\.0\.0\.1:\d+\) after 3 attempts: no answer within 0\.25 s$/);
    assert.equal(notes[1], "alert (failed unheard_flow) not delivered to webhook 2 (127.0.0.1:9) after 3 attempts: connection refused");
    const warnings = s.lines.filter((l) => / WARN .*not delivered/.test(l));
    assert.equal(warnings.length, 2, s.lines.join("\n"));
    for (const text of [...s.lines, ...run.notes]) assert.ok(!text.includes("SECRET") && !text.includes("/gone"), text);
  });

  test("the command gets the JSON on stdin; a command that hangs is killed with its process group", async (t) => {
    const dir = tempDir(t);
    const received = path.join(dir, "alert.json");
    const pidFile = path.join(dir, "pid");
    const s = flowSetup(t, { DATA_PIPELINES_ALERT_COMMAND: `cat > '${received}'` });
    const result = await runFlow(toggledFlow("commanded_flow", () => true), { config: s.config, lake: s.lake, history: s.history, log: s.log });
    const alert = JSON.parse(readFileSync(received, "utf8")) as Record<string, unknown>;
    assert.deepEqual([alert.event, alert.subject, alert.runId, alert.error], ["failed", "commanded_flow", result.runId, "Verra search (https://registry.verra.org/uiapi): HTTP 500"]);

    const h = flowSetup(t, { DATA_PIPELINES_ALERT_COMMAND: `echo $$ >> '${pidFile}'; sleep 30; sleep 30`, DATA_PIPELINES_ALERT_TIMEOUT_SECONDS: "0.6" });
    const began = Date.now();
    const hung = await runFlow(toggledFlow("commanded_flow", () => true), { config: h.config, lake: h.lake, history: h.history, log: h.log });
    assert.ok(Date.now() - began < 10_000, "killed: the command alone would take 60 s a try");
    const groups = readFileSync(pidFile, "utf8").split("\n").filter(Boolean).map(Number);
    assert.equal(groups.length, 3, "three attempts");
    for (const group of groups) assert.deepEqual(await leftInGroup(group), [], "nothing of the command is left");
    assert.match(h.history.get(hung.runId)!.notes.at(-1)!, /^alert \(failed commanded_flow\) not delivered to command after 3 attempts: did not finish within 0\.15 s: killed$/);
  });

  test("Slack gets text and blocks only; other receivers the whole document; secrets masked", () => {
    registerSecret("graph-key-0123456789");
    const alert: Alert = {
      event: "failed", subject: "raw_verra_data", runId: 7, status: "failed",
      error: "gateway /api/graph-key-0123456789/subgraphs answered <html>", time: "2026-03-10T13:20:00.000Z", host: "vm",
    };
    const slack = webhookBody(alert, "https://hooks.slack.com/services/T/B/X");
    assert.deepEqual(Object.keys(slack), ["text", "blocks"]);
    assert.equal(slack.text, "raw_verra_data failed (run 7): gateway /api/***/subgraphs answered <html>");
    assert.match(JSON.stringify(slack.blocks), /answered &lt;html&gt;/);
    const document = webhookBody(alert, "https://alerts.example.org/hook");
    assert.deepEqual(document, alertDocument(alert));
    assert.deepEqual(Object.keys(document), ["event", "subject", "runId", "status", "error", "time", "host", "text", "blocks"]);
    assert.ok(!JSON.stringify(document).includes("graph-key"));
  });

  test("alert.ts --test: exit 0 and one line when delivered, 1 and one line when not; the URL never shown", async (t) => {
    const [ok, down] = [await receiver(t), await receiver(t, "fail")];
    const dir = tempDir(t);
    const [delivered, refused, help] = await Promise.all([
      runScript("scripts/alert.ts", ["--test"], { cwd: dir, env: { DATA_PIPELINES_ALERT_WEBHOOK: ok.url } }),
      runScript("scripts/alert.ts", ["--test"], { cwd: dir, env: { DATA_PIPELINES_ALERT_WEBHOOK: down.url, DATA_PIPELINES_ALERT_TIMEOUT_SECONDS: "0.5" } }),
      runScript("scripts/alert.ts", ["--help"], { cwd: dir, env: { DATA_PIPELINES_ALERT_WEBHOOK: ok.url } }),
    ]);
    assert.deepEqual([delivered.code, delivered.stdout, delivered.stderr], [0, `test alert delivered to webhook 1 (${new URL(ok.url).host})\n`, ""]);
    assert.equal(ok.bodies[0]!.event, "test");
    assert.equal(refused.code, 1);
    assert.equal(refused.stdout, "");
    assert.match(refused.stderr, /^error: test alert not delivered to webhook 1 \(127\.0\.0\.1:\d+\): HTTP 500: receiver down \(3 attempts\)\n$/);
    assert.equal(down.bodies.length, 3);
    for (const r of [delivered, refused, help]) assert.ok(!(r.stdout + r.stderr).includes("SECRET"));
  });
});
