import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { benchGitFetch } from "./git-fetch-bench.js";

describe("benchGitFetch", () => {
  it("times the hub's git source against the git CLI, clone and one-commit fetch, at a tiny scale", async () => {
    const progress: string[] = [];
    const results = await benchGitFetch({
      quick: true,
      files: 50,
      commits: 20,
      runs: 2,
      onProgress: (line) => progress.push(line),
    });
    assert.equal(results.length, 1);
    const [fetch] = results;
    assert.ok(fetch);
    assert.equal(fetch.name, "git-fetch");
    assert.equal(fetch.unit, "s");
    assert.equal(fetch.runs, 2);
    assert.ok(
      fetch.samples.every((s) => s > 0 && s < 60),
      `clone samples ${fetch.samples}`,
    );
    assert.ok(fetch.limit !== undefined && fetch.limit > 0, "the git CLI's clone is the limit");
    assert.ok(
      Math.abs((fetch.ratio ?? 0) - fetch.value / (fetch.limit ?? 1)) < 1e-9,
      "ratio = value / limit",
    );
    const extra = new Map((fetch.extra ?? []).map((row) => [row.label, row]));
    const iso = extra.get("fetch of one new commit");
    const cli = extra.get("fetch of one new commit, git CLI");
    const ratio = extra.get("fetch of one new commit, ratio");
    assert.equal(iso?.samples.length, 2);
    assert.equal(cli?.samples.length, 2);
    assert.ok(iso?.samples.every((s) => s > 0) && cli?.samples.every((s) => s > 0));
    assert.ok(
      ratio?.samples.every((r, i) => Math.abs(r - (iso?.samples[i] ?? 0) / (cli?.samples[i] ?? 1)) < 1e-9),
    );
    assert.match(fetch.notes, /50 files, 20 commits/);
    assert.ok(progress.some((line) => line.includes("run 2/2")));
  });
});
