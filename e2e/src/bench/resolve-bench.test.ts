import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { benchResolve } from "./resolve-bench.js";

describe("benchResolve", () => {
  it("measures a cold resolve and one-file changes in child processes, at a tiny scale", async () => {
    const progress: string[] = [];
    const results = await benchResolve({
      quick: true,
      apps: 4,
      clusters: 5,
      runs: 2,
      changes: 2,
      onProgress: (line) => progress.push(line),
    });
    assert.equal(results.length, 1);
    const [resolve] = results;
    assert.ok(resolve);
    assert.equal(resolve.name, "resolve");
    assert.equal(resolve.unit, "s");
    assert.equal(resolve.target, 3);
    assert.equal(resolve.runs, 2);
    assert.equal(resolve.samples.length, 2);
    assert.ok(
      resolve.samples.every((s) => s > 0 && s < 60),
      `cold samples ${resolve.samples}`,
    );
    assert.ok(resolve.min <= resolve.value && resolve.value <= resolve.max);
    assert.match(resolve.notes, /4 apps x 5 clusters \(20 targets, 60 objects\)/);
    const extra = new Map((resolve.extra ?? []).map((row) => [row.label, row]));
    const change = extra.get("after a one-file change");
    assert.equal(change?.target, 0.3);
    assert.equal(change?.samples.length, 4, "2 runs x 2 changes");
    assert.ok(change?.samples.every((s) => s > 0));
    assert.ok((extra.get("peak RSS")?.value ?? 0) > 10, "peak RSS in MiB");
    // 4 app directories and the root's appsets/ directory; then only the changed app renders again.
    assert.deepEqual(extra.get("renders (cold)")?.samples, [5, 5]);
    assert.deepEqual(extra.get("renders (after a change)")?.samples, [1, 1, 1, 1]);
    assert.equal(resolve.ok, resolve.value <= 3 && (resolve.extra ?? []).every((row) => row.ok));
    assert.ok(progress.some((line) => line.includes("run 2/2") && line.includes("cold")));
  });
});
