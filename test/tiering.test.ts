// V8 optimizes only the code that keeps running (lib/core/tiering.ts): every command sets it through
// lib/run/cli.ts, and no command prints a word about it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { tieringFlag } from "../lib/core/tiering.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const V8_11_3 = process.versions.v8.startsWith("11.3.");

/**
 * A small function called `calls` times in a fresh node (optimizing on its own thread, so that it is
 * exact), after importing cli.ts as every command does, or not: the calls after which TurboFan had
 * compiled it (V8 11.3 says so through %GetOptimizationStatus), and V8's trace of what it optimized.
 */
function hotFunction(importCli: boolean, calls: number): { optimizedAfter: number; trace: string; stderr: string } {
  const code = `
    ${importCli ? `await import(${JSON.stringify(pathToFileURL(path.join(ROOT, "lib/run/cli.ts")).href)});` : ""}
    function work(n) { let s = 0; for (let i = 0; i < 20; i++) s += (i * n) % 7; return s; }
    let calls = 0, optimizedAfter = -1;
    while (calls < ${calls}) {
      work(calls++);
      if (${V8_11_3} && optimizedAfter < 0 && calls % 100 === 0 && (%GetOptimizationStatus(work) & 64)) optimizedAfter = calls;
    }
    console.log("optimizedAfter", optimizedAfter);`;
  const args = ["--allow-natives-syntax", "--no-concurrent-recompilation", "--trace-opt", "--import", "tsx", "--input-type=module", "-e", code];
  const child = spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  assert.equal(child.status, 0, child.stderr);
  const trace = child.stdout.split("\n").filter((line) => /\bwork\b/.test(line) && /TURBOFAN/.test(line)).join("\n");
  return { optimizedAfter: Number(/optimizedAfter (-?\d+)/.exec(child.stdout)![1]), trace, stderr: child.stderr };
}

test("in a command, TurboFan compiles a hot function 16 times later than V8 would, and nothing is printed about it", () => {
  if (V8_11_3) {
    const plain = hotFunction(false, 20_000);
    const command = hotFunction(true, 20_000);
    assert.equal(command.stderr, "");
    assert.ok(plain.optimizedAfter > 0 && plain.optimizedAfter < 1_000, `optimized after ${plain.optimizedAfter} calls`);
    assert.ok(command.optimizedAfter >= 8 * plain.optimizedAfter, `optimized after ${plain.optimizedAfter} calls, ${command.optimizedAfter} in a command`);
  } else {
    // V8 11.8 to 14 count invocations: 3,000 before TurboFan by default, 48,000 in a command.
    const plain = hotFunction(false, 2_000);
    const command = hotFunction(true, 2_000);
    assert.equal(command.stderr, "");
    if (tieringFlag()) {
      assert.notEqual(plain.trace, "", "V8 alone has optimized it after 2,000 calls");
      assert.equal(command.trace, "", "not yet in a command");
    } else {
      assert.equal(command.trace, plain.trace, "a V8 it was not measured on: as V8 has it");
    }
  }
});

test("the flag is set for the V8 versions it was measured on only", () => {
  assert.equal(tieringFlag("11.3.244.8-node.33"), "--interrupt-budget=1081344");
  assert.equal(tieringFlag("11.8.172.17-node.20"), "--invocation-count-for-turbofan=48000", "Node 21 has no --interrupt-budget");
  assert.equal(tieringFlag("12.4.254.21-node.57"), "--invocation-count-for-turbofan=48000");
  assert.equal(tieringFlag("14.6.202.34-node.40"), "--invocation-count-for-turbofan=48000");
  assert.equal(tieringFlag("15.0.1"), undefined);
  assert.equal(tieringFlag("11.5.1"), undefined);
});
