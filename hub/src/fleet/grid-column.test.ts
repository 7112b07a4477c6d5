import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createFleetIndex } from "./fleet-index.js";
import { columnOf } from "./grid-column.js";

describe("columnOf", () => {
  it("takes the cluster's name off either end of an ApplicationSet's per-cluster app", () => {
    assert.equal(columnOf("web-prod-1", "prod-1"), "web");
    assert.equal(columnOf("prod-1-web", "prod-1"), "web");
    assert.equal(columnOf("guestbook-staging-1", "staging-1"), "guestbook");
  });

  it("keeps any other name whole", () => {
    assert.equal(columnOf("docs", "staging-1"), "docs");
    assert.equal(columnOf("prod-1", "prod-1"), "prod-1", "an app named like its cluster");
    assert.equal(columnOf("-prod-1", "prod-1"), "-prod-1", "nothing would be left");
    assert.equal(columnOf("webprod-1", "prod-1"), "webprod-1", "no dash before the cluster");
    assert.equal(columnOf("web-prod-10", "prod-1"), "web-prod-10", "another cluster's name");
  });
});

describe("FleetIndex.query groupBy", () => {
  it("counts and filters by group", () => {
    const index = createFleetIndex();
    const fine = { revision: "r", message: "", stale: false, problem: false };
    for (const name of ["prod-1", "prod-2"]) {
      index.upsertCluster({ id: name, name, labels: {}, state: "Connected" });
      index.upsertApp(name, { app: `web-${name}`, sync: "Synced", health: "Healthy", ...fine });
      index.upsertApp(name, { app: "docs", sync: "OutOfSync", health: "Healthy", ...fine });
    }
    const all = index.query({ groupBy: columnOf });
    assert.deepEqual(Object.keys(all.countsByApp), ["docs", "web"]);
    assert.equal(all.countsByApp.web?.total, 2);
    assert.equal(all.countsByApp.docs?.outOfSync, 2);

    const web = index.query({ groupBy: columnOf, app: "web" });
    assert.equal(web.matchedClusters, 2);
    assert.deepEqual(
      web.clusters.map((cluster) => cluster.apps.map((app) => app.app)),
      [["web-prod-1"], ["web-prod-2"]],
    );
    const exact = index.query({ groupBy: columnOf, app: "web-prod-2" });
    assert.deepEqual(
      exact.clusters.map((cluster) => cluster.name),
      ["prod-2"],
    );
    assert.equal(index.query({ app: "web" }).matchedClusters, 0, "without groupBy only exact names match");
  });
});
