import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { extraFigure, quantile, renderTable, result, summarize, toJson } from "./bench-result.js";

describe("bench results", () => {
  it("summarizes samples as median, min and max", () => {
    assert.deepEqual(summarize([3, 1, 2]), { value: 2, min: 1, max: 3, samples: [3, 1, 2] });
    assert.equal(summarize([4, 1, 3, 2]).value, 2.5);
    assert.throws(() => summarize([]), /no samples/);
  });

  it("takes nearest-rank quantiles: p99 of 1..1000 is 990", () => {
    const samples = Array.from({ length: 1000 }, (_, i) => 1000 - i);
    assert.equal(quantile(samples, 0.99), 990);
    assert.equal(quantile([5], 0.99), 5);
    assert.equal(quantile([1, 2], 0.5), 1);
  });

  it("judges the target both ways, with the extras, and takes the ratio of medians", () => {
    const fast = result({
      name: "fanout",
      unit: "s",
      target: 2,
      samples: [0.5, 0.4, 0.6],
      limitSamples: [0.1, 0.2, 0.3],
      notes: "n",
    });
    assert.equal(fast.ok, true);
    assert.equal(fast.limit, 0.2);
    assert.equal(fast.ratio, 0.5 / 0.2);
    assert.equal(fast.runs, 3);
    const slowIngest = result({
      name: "status-ingest",
      unit: "/s",
      target: 20_000,
      comparison: ">=",
      samples: [19_000],
      notes: "",
    });
    assert.equal(slowIngest.ok, false);
    const extraMissed = result({
      name: "agent-noop",
      unit: "writes",
      target: 0,
      samples: [0, 0],
      notes: "",
      extra: [extraFigure({ label: "RSS", unit: "MiB", samples: [120, 130], target: 100 })],
    });
    assert.equal(extraMissed.ok, false, "an extra over its target fails the result");
    assert.equal(extraMissed.limit, undefined);
    assert.equal(extraMissed.ratio, undefined);
  });

  it("writes the JSON shape the issue names and a table with one row per figure", () => {
    const results = [
      result({
        name: "resolve",
        unit: "s",
        target: 3,
        samples: [1],
        notes: "1,000 x 1,000",
        extra: [extraFigure({ label: "after a one-file change", unit: "s", samples: [0.2], target: 0.3 })],
      }),
    ];
    const doc = JSON.parse(toJson(results, { mode: "quick" })) as {
      mode: string;
      results: Record<string, unknown>[];
    };
    assert.equal(doc.mode, "quick");
    for (const key of ["name", "value", "unit", "target", "ok"])
      assert.ok(key in (doc.results[0] ?? {}), key);
    const table = renderTable(results).split("\n");
    assert.equal(table.length, 3);
    assert.match(table[1] ?? "", /^resolve\s+1\.00 s\s+1\.00\s+1\.00\s+<= 3\.00\s+yes/);
    assert.match(table[2] ?? "", /^ {2}after a one-file change\s+0\.20 s/);
  });
});
