import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { RenderProblemError } from "./render-problem.js";
import { redactCredentials, runTool } from "./run-tool.js";

describe("runTool", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "flotilla-run-tool-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function script(name: string, body: string): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, `#!/bin/sh\n${body}\n`);
    await chmod(path, 0o755);
    return path;
  }
  const run = (executable: string, args: string[] = [], extra: { env?: Record<string, string> } = {}) =>
    runTool({
      label: "tool",
      executable,
      args,
      cwd: dir,
      env: extra.env ?? {},
      timeoutMs: 10_000,
      maxOutputBytes: 1024,
      redact: (text) => text.replaceAll(dir, "."),
    });

  it("passes arguments as an array, never through a shell", async () => {
    const echo = await script("echo.sh", 'printf "%s|" "$@"');
    assert.equal(await run(echo, ["a b", "$(id)", "c;d"]), "a b|$(id)|c;d|");
  });

  it("gives the child only the environment it is handed", async () => {
    const printEnv = await script("env.sh", "/usr/bin/env");
    const lines = (await run(printEnv, [], { env: { ONLY: "this" } })).trim().split("\n");
    // The shell itself adds PWD (and may add SHLVL and _); nothing comes from the hub process.
    const inherited = lines.filter((line) => !/^(ONLY=this|PWD=|SHLVL=|_=)/.test(line));
    assert.deepEqual(inherited, []);
    assert.ok(lines.includes("ONLY=this"));
  });

  it("reports a failure with trimmed, redacted stderr", async () => {
    const fail = await script(
      "fail.sh",
      `echo "  cannot read ${dir}/x from https://user:token@git.example.com/r  " >&2\nexit 3`,
    );
    await assert.rejects(run(fail), (error: RenderProblemError) => {
      assert.equal(error.kind, "render");
      assert.equal(error.message, "tool failed (exit 3): cannot read ./x from https://***@git.example.com/r");
      return true;
    });
  });

  it("reports a tool that cannot be started, as not cacheable", async () => {
    await assert.rejects(run(join(dir, "missing")), (error: RenderProblemError) => {
      assert.equal(error.kind, "render");
      assert.equal(error.cacheable, false);
      return true;
    });
  });

  it("stops a tool at maxOutputBytes", async () => {
    const chatty = await script("chatty.sh", "yes flotilla");
    await assert.rejects(run(chatty), (error: RenderProblemError) => error.kind === "limit");
  });

  it("redacts URL credentials", () => {
    assert.equal(
      redactCredentials("ssh://git:pw@host/x and https://tok@h"),
      "ssh://***@host/x and https://***@h",
    );
  });
});
