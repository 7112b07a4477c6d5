import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createFleetIndex, type FleetIndex, type IndexedApp } from "./fleet-index.js";

const app = (name: string, overrides: Partial<IndexedApp> = {}): IndexedApp => ({
  app: name,
  sync: "Synced",
  health: "Healthy",
  revision: "abc1234",
  message: "",
  stale: false,
  problem: false,
  ...overrides,
});

/** prod-1..3 (env=prod), staging-1 (env=staging); web everywhere, db on prod only. */
function sampleFleet(): FleetIndex {
  const index = createFleetIndex();
  const clusters = [
    { id: "c1", name: "prod-1", env: "prod" },
    { id: "c2", name: "prod-2", env: "prod" },
    { id: "c3", name: "prod-3", env: "prod" },
    { id: "c4", name: "staging-1", env: "staging" },
  ];
  for (const c of clusters) {
    index.upsertCluster({ id: c.id, name: c.name, labels: { env: c.env }, state: "Connected" });
    index.upsertApp(c.id, app("web"));
    if (c.env === "prod") index.upsertApp(c.id, app("db"));
  }
  index.upsertApp(
    "c2",
    app("web", { health: "Degraded", message: "Deployment/web/web: ProgressDeadlineExceeded" }),
  );
  return index;
}

const prod = (labels: Readonly<Record<string, string>>) => labels.env === "prod";

describe("createFleetIndex", () => {
  it("lists clusters by name with their apps sorted, and counts every app", () => {
    const page = sampleFleet().query({});
    assert.deepEqual(
      page.clusters.map((c) => [c.name, c.apps.map((a) => a.app)]),
      [
        ["prod-1", ["db", "web"]],
        ["prod-2", ["db", "web"]],
        ["prod-3", ["db", "web"]],
        ["staging-1", ["web"]],
      ],
    );
    assert.equal(page.matchedClusters, 4);
    assert.equal(page.counts.total, 7);
    assert.equal(page.counts.degraded, 1);
    assert.equal(page.countsByApp.web?.total, 4);
    assert.equal(page.countsByApp.db?.total, 3);
    assert.equal(page.next, undefined);
  });

  it("filters clusters by a label predicate and apps by name, health and sync", () => {
    const index = sampleFleet();
    const prodWeb = index.query({ selector: prod, app: "web" });
    assert.deepEqual(
      prodWeb.clusters.map((c) => c.name),
      ["prod-1", "prod-2", "prod-3"],
    );
    assert.equal(prodWeb.counts.total, 3);
    const degraded = index.query({ health: "Degraded" });
    assert.deepEqual(
      degraded.clusters.map((c) => [c.name, c.apps.map((a) => a.app)]),
      [["prod-2", ["web"]]],
    );
    assert.equal(index.query({ sync: "OutOfSync" }).matchedClusters, 0);
  });

  it("finds problems: not Synced and Healthy, stale, or failed to resolve", () => {
    const index = sampleFleet();
    index.upsertApp("c4", app("web", { problem: true, message: "render: helm template failed" }));
    index.setStale("c3", true);
    const problems = index.query({ problems: true });
    assert.deepEqual(
      problems.clusters.map((c) => [c.name, c.apps.map((a) => a.app)]),
      [
        ["prod-2", ["web"]],
        ["prod-3", ["db", "web"]],
        ["staging-1", ["web"]],
      ],
    );
    index.setStale("c3", false);
    assert.equal(index.query({ problems: true }).matchedClusters, 2);
  });

  it("pages by cluster name with a cursor, counting across all pages", () => {
    const index = sampleFleet();
    const first = index.query({ limit: 2 });
    assert.deepEqual(
      first.clusters.map((c) => c.name),
      ["prod-1", "prod-2"],
    );
    assert.equal(first.next, "prod-2");
    assert.equal(first.counts.total, 7);
    const second = index.query({ limit: 2, after: first.next });
    assert.deepEqual(
      second.clusters.map((c) => c.name),
      ["prod-3", "staging-1"],
    );
    assert.equal(second.next, undefined);
    assert.equal(second.matchedClusters, 4);
  });

  it("follows renames, state changes and removals", () => {
    const index = sampleFleet();
    index.upsertCluster({ id: "c4", name: "stage-eu", labels: { env: "staging" }, state: "Connected" });
    index.setClusterState("c1", "Disconnected", "2026-11-26T10:00:00.000Z");
    index.removeApp("c2", "db");
    index.removeCluster("c3");
    assert.deepEqual(
      index.query({}).clusters.map((c) => [c.name, c.state, c.apps.length]),
      [
        ["prod-1", "Disconnected", 2],
        ["prod-2", "Connected", 1],
        ["stage-eu", "Connected", 1],
      ],
    );
    assert.equal(index.cluster("prod-1")?.lastSeen, "2026-11-26T10:00:00.000Z");
    assert.equal(index.cluster("c4")?.name, "stage-eu");
    assert.equal(index.cluster("staging-1"), undefined);
    assert.deepEqual(index.size(), { clusters: 3, apps: 4 });
  });

  it("counts clusters by state and apps by health and sync over the whole index", () => {
    const index = sampleFleet();
    index.setClusterState("c3", "Disconnected");
    index.upsertCluster({ id: "c5", name: "new-1", labels: {}, state: "Pending" });
    index.upsertApp("c4", app("web", { sync: "OutOfSync", health: "Progressing" }));
    assert.deepEqual(index.counts(), {
      clusters: { Connected: 3, Disconnected: 1, Pending: 1 },
      health: { Healthy: 5, Progressing: 1, Degraded: 1, Suspended: 0, Missing: 0, Unknown: 0 },
      sync: { Synced: 6, OutOfSync: 1, Unknown: 0 },
    });
  });

  it("caps a page at 1,000 clusters", () => {
    const index = createFleetIndex();
    for (let i = 0; i < 1_200; i++) {
      index.upsertCluster({
        id: `c${i}`,
        name: `c-${String(i).padStart(5, "0")}`,
        labels: {},
        state: "Pending",
      });
    }
    const page = index.query({ limit: 5_000 });
    assert.equal(page.clusters.length, 1_000);
    assert.equal(page.next, "c-00999");
  });

  it("scans every admitted cluster in name order in one pass, past any page size, with only matching apps", () => {
    const index = sampleFleet();
    for (let i = 0; i < 1_500; i++) {
      index.upsertCluster({
        id: `x${i}`,
        name: `x-${String(i).padStart(5, "0")}`,
        labels: { env: "prod" },
        state: "Connected",
      });
      index.upsertApp(`x${i}`, app("web", i % 500 === 0 ? { health: "Degraded" } : {}));
    }
    const all = [...index.scan({ selector: prod })];
    assert.equal(all.length, 1_503);
    assert.deepEqual(
      all.slice(0, 4).map((c) => [c.name, c.apps.map((a) => a.app)]),
      [
        ["prod-1", ["db", "web"]],
        ["prod-2", ["db", "web"]],
        ["prod-3", ["db", "web"]],
        ["x-00000", ["web"]],
      ],
    );
    const problems = [...index.scan({ problems: true })];
    assert.deepEqual(
      problems.map((c) => c.name),
      ["prod-2", "x-00000", "x-00500", "x-01000"],
    );
    assert.deepEqual(
      [...index.scan({ app: "db" })].map((c) => c.name),
      ["prod-1", "prod-2", "prod-3"],
    );
  });

  it("moves the shape version when clusters, apps or labels change, not when a status does", () => {
    const index = sampleFleet();
    const start = index.shapeVersion();
    index.upsertApp("c1", app("web", { health: "Degraded" }));
    index.upsertCluster({ id: "c1", name: "prod-1", labels: { env: "prod" }, state: "Disconnected" });
    index.setStale("c1", true);
    assert.equal(index.shapeVersion(), start, "status, state and staleness leave the shape");
    const moves: [string, () => void][] = [
      ["a new app", () => index.upsertApp("c1", app("cache"))],
      ["a removed app", () => index.removeApp("c1", "cache")],
      [
        "new labels",
        () => index.upsertCluster({ id: "c1", name: "prod-1", labels: { env: "dev" }, state: "Connected" }),
      ],
      ["a new cluster", () => index.upsertCluster({ id: "c9", name: "new-1", labels: {}, state: "Pending" })],
      ["a removed cluster", () => index.removeCluster("c9")],
    ];
    for (const [what, change] of moves) {
      const before = index.shapeVersion();
      change();
      assert.ok(index.shapeVersion() > before, what);
    }
    const before = index.shapeVersion();
    index.removeApp("c1", "no-such-app");
    assert.equal(index.shapeVersion(), before, "removing an absent app changes nothing");
  });

  it("groups apps with groupBy once per app, and again after the function changes", () => {
    const index = sampleFleet();
    let calls = 0;
    const byFirstLetter = (name: string) => {
      calls += 1;
      return name.slice(0, 1);
    };
    const first = index.query({ groupBy: byFirstLetter });
    assert.deepEqual(Object.keys(first.countsByApp), ["d", "w"]);
    assert.equal(calls, 7);
    index.query({ groupBy: byFirstLetter, health: "Degraded" });
    assert.equal(calls, 7, "cached per app");
    const other = index.query({ groupBy: (name) => name.toUpperCase() });
    assert.deepEqual(Object.keys(other.countsByApp), ["DB", "WEB"]);
  });
});
