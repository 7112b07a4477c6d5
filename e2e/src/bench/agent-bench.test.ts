import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { benchAgent } from "./agent-bench.js";

// A smoke run of the agent benchmarks at a small scale: the full run is `pnpm bench`.
describe("agent benchmarks (smoke)", () => {
  it("measure sync against raw server-side apply and a no-op resync on a real kube-apiserver", {
    timeout: 300_000,
  }, async () => {
    const progress: string[] = [];
    const results = await benchAgent({
      quick: true,
      objects: 30,
      runs: 2,
      onProgress: (line) => progress.push(line),
    });
    assert.deepEqual(
      results.map((r) => r.name),
      ["sync-vs-raw-ssa", "agent-noop"],
    );
    const [ratio, noop] = results;
    assert.ok(ratio && noop);
    assert.equal(ratio.runs, 2);
    assert.ok(ratio.value > 0 && Number.isFinite(ratio.value), `ratio ${ratio.value}`);
    assert.ok(ratio.min <= ratio.value && ratio.value <= ratio.max);
    assert.equal(noop.value, 0, "a no-op resync writes nothing");
    const rss = noop.extra?.find((row) => row.label.startsWith("agent RSS"));
    assert.ok(rss && rss.value > 20 && rss.value < 1024, `agent RSS ${rss?.value} MiB`);
    assert.ok(
      progress.some((line) => line.includes("run 2/2")),
      progress.join("\n"),
    );
  });
});
