import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { CliIo } from "./command.js";
import {
  createDemoCommand,
  DEMO_NEEDS_CHECKOUT,
  type DemoRunner,
  type DemoRunOptions,
  demoModuleUrl,
  loadDemoRunner,
} from "./demo-command.js";
import { runCli } from "./run-cli.js";

function captureIo(): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, env: {}, isTty: false, stdout: (t) => out.push(t), stderr: (t) => err.push(t) };
}

/** `flotilla demo <args>` with a fake runner that records what it was asked for. */
async function runDemoCommand(args: string[]) {
  const calls: DemoRunOptions[] = [];
  let loads = 0;
  const runner: DemoRunner = async (options) => {
    calls.push(options);
    return 0;
  };
  const command = createDemoCommand(
    async () => {
      loads += 1;
      return runner;
    },
    () => "/work/here",
  );
  const io = captureIo();
  const code = await runCli("flotilla", [command], ["demo", ...args], io);
  return { code, calls, loads, err: io.err.join("") };
}

describe("flotilla demo: flags", () => {
  it("refuses -o json without --once, before starting anything", async () => {
    const run = await runDemoCommand(["-o", "json"]);
    assert.equal(run.code, 2);
    assert.match(run.err, /-o json needs --once/);
    assert.equal(run.loads, 0, "the demo module is not even loaded");
  });

  it("refuses a --timeout that is not a duration, naming the flag", async () => {
    const run = await runDemoCommand(["--once", "--timeout", "soon"]);
    assert.equal(run.code, 2);
    assert.match(run.err, /--timeout: "soon" is not a duration/);
    assert.equal(run.loads, 0);
  });

  it("refuses a zero --timeout, a bad --port, an unknown -o and a stray argument", async () => {
    for (const [args, message] of [
      [["--timeout", "0s"], /--timeout "0s" must be longer than 0/],
      [["--port", "http"], /--port "http" must be a port number/],
      [["--port", "70000"], /--port "70000" must be a port number/],
      [["--once", "-o", "yaml"], /-o must be one of table, json/],
      [["extra"], /unexpected argument 'extra'/],
      [["--data-dir", ""], /--data-dir is empty/],
    ] as const) {
      const run = await runDemoCommand([...args]);
      assert.equal(run.code, 2, args.join(" "));
      assert.match(run.err, message, args.join(" "));
      assert.equal(run.loads, 0, args.join(" "));
    }
  });

  it("hands the checked flags to the runner, with defaults", async () => {
    const defaults = await runDemoCommand([]);
    assert.equal(defaults.code, 0, defaults.err);
    assert.deepEqual(defaults.calls, [
      { once: false, output: "table", timeoutMs: 15 * 60_000, change: false },
    ]);
    const all = await runDemoCommand([
      "--once",
      "-o",
      "json",
      "--timeout",
      "90s",
      "--port",
      "0",
      "--data-dir",
      "demo-data",
      "--change",
    ]);
    assert.equal(all.code, 0, all.err);
    assert.deepEqual(all.calls, [
      {
        once: true,
        output: "json",
        timeoutMs: 90_000,
        port: 0,
        dataDir: "/work/here/demo-data",
        change: true,
      },
    ]);
  });
});

describe("flotilla demo: finding the demo module", () => {
  it("says it needs a source checkout when the demo module is not there", async () => {
    const missing = new URL("file:///nonexistent/flotilla/e2e/src/demo/run-demo.ts");
    const command = createDemoCommand(() => loadDemoRunner(missing));
    const io = captureIo();
    const code = await runCli("flotilla", [command], ["demo", "--once"], io);
    assert.equal(code, 1);
    assert.match(io.err.join(""), new RegExp(DEMO_NEEDS_CHECKOUT.replace(/[.*+?^${}()|[\]\\`]/g, "\\$&")));
  });

  it("looks in e2e/src from the sources and in e2e/dist when compiled", () => {
    assert.equal(
      demoModuleUrl("file:///repo/hub/src/cli/demo-command.ts").href,
      "file:///repo/e2e/src/demo/run-demo.ts",
    );
    assert.equal(
      demoModuleUrl("file:///repo/hub/dist/cli/demo-command.js").href,
      "file:///repo/e2e/dist/demo/run-demo.js",
    );
    assert.ok(existsSync(fileURLToPath(demoModuleUrl())), "this checkout has the demo module");
  });
});
