import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { BenchResult } from "./bench-result.js";
import { benchFleetQuery } from "./fleet-query-bench.js";
import { benchStatusIngest } from "./status-bench.js";

function assertFigure(result: BenchResult, runs: number): void {
  assert.equal(result.runs, runs);
  assert.equal(result.samples.length, runs);
  assert.ok(
    result.samples.every((sample) => Number.isFinite(sample) && sample > 0),
    `${result.name}: positive samples`,
  );
  assert.ok(result.min <= result.value && result.value <= result.max, `${result.name}: min <= median <= max`);
  for (const row of result.extra ?? []) {
    assert.ok(row.samples.length > 0, `${result.name} / ${row.label}: samples`);
    assert.ok(
      row.samples.every((sample) => Number.isFinite(sample) && sample >= 0),
      `${result.name} / ${row.label}`,
    );
  }
}

describe("benchStatusIngest", () => {
  it("floods a hub process with statuses from real gRPC reporters and times them until indexed, at a tiny scale", async () => {
    const progress: string[] = [];
    const results = await benchStatusIngest({
      quick: true,
      agents: 4,
      apps: 3,
      updatesPerApp: 3,
      runs: 2,
      onProgress: (line) => progress.push(line),
    });
    assert.equal(results.length, 1);
    const [ingest] = results;
    assert.ok(ingest);
    assert.equal(ingest.name, "status-ingest");
    assert.equal(ingest.unit, "updates/s");
    assert.equal(ingest.target, 20_000);
    assert.equal(ingest.comparison, ">=");
    assert.equal(ingest.ok, ingest.value >= 20_000);
    assertFigure(ingest, 2);
    assert.deepEqual(
      ingest.extra?.map((row) => row.label),
      ["drain after the last send", "hub peak RSS"],
    );
    assert.ok((ingest.extra?.[1]?.value ?? 0) > 10, "the hub's RSS was sampled");
    assert.match(ingest.notes, /4 reporter connections .* x 3 apps x 3 reports/);
    assert.ok(
      progress.some((line) => /run 2\/2: 36 updates in/.test(line)),
      progress.join("\n"),
    );
  });
});

describe("benchFleetQuery", () => {
  it("populates a fleet with the store API, starts a hub on it and times filtered grid and status queries, at a tiny scale", async () => {
    const progress: string[] = [];
    const results = await benchFleetQuery({
      quick: true,
      clusters: 30,
      apps: 4,
      queries: 20,
      runs: 2,
      onProgress: (line) => progress.push(line),
    });
    assert.equal(results.length, 1);
    const [query] = results;
    assert.ok(query);
    assert.equal(query.name, "fleet-query");
    assert.equal(query.unit, "ms");
    assert.equal(query.target, 50);
    assert.equal(query.comparison, "<=");
    assertFigure(query, 2);
    assert.equal(query.ok, query.value <= 50 && (query.extra ?? []).every((row) => row.ok));
    assert.equal(query.extra?.[1]?.label, "GetFleetStatus p99 (page of 50 rows)");
    assert.match(query.notes, /30 clusters x 4 apps/);
    assert.ok(
      progress.some((line) => line.includes("hub up with the fleet loaded")),
      progress.join("\n"),
    );
  });
});
