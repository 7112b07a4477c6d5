import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { benchFanout } from "./fanout-bench.js";

// A smoke run of `fanout` and `hub-memory` at a tiny scale: the full run is `pnpm bench`.
describe("fanout benchmark (smoke)", () => {
  it("measures webhook-to-agent fanout against a bare grpc-js server, and the idle hub's memory and CPU", {
    timeout: 300_000,
  }, async () => {
    const progress: string[] = [];
    const results = await benchFanout({
      quick: true,
      agents: 12,
      workers: 2,
      runs: 2,
      idleWindows: 2,
      idleWindowMs: 500,
      onProgress: (line) => progress.push(line),
    });
    assert.deepEqual(
      results.map((r) => r.name),
      ["fanout", "hub-memory"],
    );
    const [fanout, memory] = results;
    assert.ok(fanout && memory);
    assert.equal(fanout.runs, 2);
    assert.equal(fanout.samples.length, 2);
    assert.ok(fanout.value > 0 && fanout.value < 60, `fanout p99 ${fanout.value} s`);
    assert.ok(fanout.min <= fanout.value && fanout.value <= fanout.max);
    assert.ok(fanout.limit !== undefined && fanout.limit > 0, `bare limit ${fanout.limit}`);
    assert.equal(fanout.ratio, fanout.value / fanout.limit);
    assert.match(fanout.notes, /12 agents in 2 processes, 2 commits, \d+ bytes per upsert/);
    const [first, spread] = fanout.extra ?? [];
    assert.ok(first && spread, "webhook-to-first-agent and first-to-p99 rows");
    assert.ok(first.value > 0 && first.value <= fanout.value, `first agent ${first.value} s`);
    assert.ok(spread.value >= 0 && spread.value <= fanout.value, `spread ${spread.value} s`);
    assert.ok(memory.value > 30 && memory.value < 4096, `hub RSS ${memory.value} MiB`);
    assert.equal(memory.samples.length, 2);
    assert.deepEqual(
      memory.extra?.map((row) => row.label),
      ["per agent", "idle CPU (2 x 0.5 s)"],
    );
    const cpu = memory.extra?.[1];
    assert.ok(cpu && cpu.value >= 0 && cpu.value <= 200, `idle CPU ${cpu?.value} %`);
    assert.ok(
      progress.some((line) => line.includes("fanout run 2/2")) &&
        progress.some((line) => line.includes("fanout bare run 2/2")),
      progress.join("\n"),
    );
  });
});
