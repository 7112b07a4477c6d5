import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CliIo, Command } from "./command.js";
import { UsageError } from "./command.js";
import { commands } from "./commands.js";
import { findCommand, runCli } from "./run-cli.js";

function captureIo(): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, env: {}, isTty: false, stdout: (t) => out.push(t), stderr: (t) => err.push(t) };
}

const table: Command[] = [
  {
    path: ["cluster", "list"],
    summary: "List",
    run: async (_a, io) => {
      io.stdout("listed\n");
      return 0;
    },
  },
  { path: ["cluster"], summary: "Cluster root", plannedIn: 5 },
  {
    path: ["fail"],
    summary: "Fails with a usage error",
    usage: "flotilla fail --x",
    run: async () => {
      throw new UsageError("--x is required");
    },
  },
];

describe("runCli", () => {
  it("picks the command with the longest matching path", () => {
    assert.equal(findCommand(table, ["cluster", "list", "-o", "json"])?.summary, "List");
    assert.equal(findCommand(table, ["cluster", "get"])?.summary, "Cluster root");
    assert.equal(findCommand(table, ["nope"]), undefined);
  });

  it("lists planned commands with the issue that brings them", async () => {
    const io = captureIo();
    assert.equal(await runCli("flotilla", table, ["--help"], io), 0);
    assert.match(io.out.join(""), /cluster\s+Cluster root \(planned, issue #5\)/);
    assert.match(io.out.join(""), /cluster list\s+List\n/);
  });

  it("refuses a planned command with exit 2 and names the issue", async () => {
    const io = captureIo();
    assert.equal(await runCli("flotilla", table, ["cluster", "get"], io), 2);
    assert.match(
      io.err.join(""),
      /flotilla cluster: not available in this version; it is planned in issue #5/,
    );
  });

  it("reports an unknown command with exit 2", async () => {
    const io = captureIo();
    assert.equal(await runCli("flotilla", table, ["frobnicate"], io), 2);
    assert.match(io.err.join(""), /unknown command 'frobnicate'/);
  });

  it("prints the usage after a usage error", async () => {
    const io = captureIo();
    assert.equal(await runCli("flotilla", table, ["fail"], io), 2);
    assert.match(io.err.join(""), /flotilla fail: --x is required\nUsage: flotilla fail --x/);
  });

  it("lists the commands planned so far in the real table", async () => {
    const io = captureIo();
    await runCli("flotilla", commands, ["--help"], io);
    for (const name of [
      "demo",
      "hub serve",
      "render",
      "diff",
      "cluster token create",
      "status",
      "rollout abort",
    ]) {
      assert.match(io.out.join(""), new RegExp(`\\n  ${name} `), name);
    }
  });
});
