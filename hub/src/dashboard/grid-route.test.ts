import * as assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { useTestRuntime } from "../api/test-runtime.js";
import { createFleetIndex, type HealthCode, type SyncCode } from "../fleet/fleet-index.js";
import { type GridResponse, parseGridQuery, queryGrid } from "./grid-route.js";
import { createDashboardHandler } from "./serve-dashboard.js";

const hub = useTestRuntime();
let baseUrl: string;
let adminToken: string;
let prodViewerToken: string;
let server: Server;

before(async () => {
  const runtime = await hub.opened;
  const dashboard = createDashboardHandler({ runtime, log: runtime.log });
  server = createServer((req, res) => {
    dashboard(req, res).then(
      (handled) => {
        if (!handled) res.writeHead(418).end("not the dashboard");
      },
      () => res.destroy(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  adminToken = await hub.createApiToken("admin", { name: "grid-admin" });
  prodViewerToken = await hub.createApiToken("viewer", { name: "prod-only", selector: "env=prod" });

  // One fleet for the whole file; each test narrows it by the `suite` label where it must.
  await hub.addCluster({
    name: "g-prod-1",
    labels: { suite: "grid", env: "prod" },
    apps: [
      { app: "web" },
      { app: "db", health: "Degraded", message: "pod crash-looping" },
      // An ApplicationSet's apps, named per cluster: one column "shop".
      { app: "shop-g-prod-1" },
    ],
  });
  await hub.addCluster({
    name: "g-prod-2",
    labels: { suite: "grid", env: "prod" },
    apps: [{ app: "web", sync: "OutOfSync", health: "Missing" }, { app: "db" }],
  });
  await hub.addCluster({
    name: "g-staging-1",
    labels: { suite: "grid", env: "staging" },
    state: "Disconnected",
    apps: [
      { app: "web", stale: true },
      { app: "canary", health: "Progressing" },
      { app: "g-staging-1-shop" },
    ],
  });
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** GETs the grid as the holder of `token` (null: without an authorization header). */
async function grid(query: string, token: string | null = adminToken) {
  const response = await fetch(`${baseUrl}/api/v1/grid${query}`, {
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: JSON.parse(text) };
}

const names = (body: GridResponse) => body.clusters.map((cluster) => cluster.name);

describe("GET /api/v1/grid", () => {
  it("answers clusters as rows with their apps, every app name as columns and counts", async () => {
    const { status, headers, json } = await grid("?selector=suite%3Dgrid");

    assert.equal(status, 200);
    assert.match(headers.get("content-type") ?? "", /^application\/json/);
    assert.equal(headers.get("cache-control"), "no-store");
    const body = json as GridResponse;
    assert.deepEqual(names(body), ["g-prod-1", "g-prod-2", "g-staging-1"]);
    assert.deepEqual(body.apps, ["canary", "db", "shop", "web"]);
    assert.equal(body.matchedClusters, 3);
    assert.equal(body.next, null);
    assert.deepEqual(body.clusters[0], {
      name: "g-prod-1",
      labels: { suite: "grid", env: "prod" },
      connection: "Connected",
      lastSeen: body.clusters[0]?.lastSeen,
      apps: [
        {
          app: "db",
          column: "db",
          sync: "Synced",
          health: "Degraded",
          stale: false,
          problem: false,
          message: "pod crash-looping",
          revision: "",
          desiredRevision: "",
          delivered: false,
        },
        {
          app: "shop-g-prod-1",
          column: "shop",
          sync: "Synced",
          health: "Healthy",
          stale: false,
          problem: false,
          message: "",
          revision: "",
          desiredRevision: "",
          delivered: false,
        },
        {
          app: "web",
          column: "web",
          sync: "Synced",
          health: "Healthy",
          stale: false,
          problem: false,
          message: "",
          revision: "",
          desiredRevision: "",
          delivered: false,
        },
      ],
    });
    assert.match(String(body.clusters[0]?.lastSeen), /^\d{4}-\d\d-\d\dT/);
    assert.equal(body.clusters[2]?.connection, "Disconnected");
    assert.equal(body.counts.total, 8);
    assert.equal(body.counts.healthy, 5);
    assert.equal(body.counts.degraded, 1);
    assert.equal(body.counts.missing, 1);
    assert.equal(body.counts.progressing, 1);
    assert.equal(body.counts.outOfSync, 1);
    assert.equal(body.countsByApp.web?.total, 3);
    assert.equal(body.countsByApp.db?.degraded, 1);
    assert.equal(body.countsByApp.shop?.total, 2);
    assert.equal(body.clusters[2]?.apps.find((app) => app.app === "g-staging-1-shop")?.column, "shop");
  });

  it("filters by a column of per-cluster apps, or by one exact app name", async () => {
    const shop = (await grid("?selector=suite%3Dgrid&app=shop")).json as GridResponse;
    assert.deepEqual(names(shop), ["g-prod-1", "g-staging-1"]);
    assert.deepEqual(
      shop.clusters.map((cluster) => cluster.apps.map((app) => app.app)),
      [["shop-g-prod-1"], ["g-staging-1-shop"]],
    );
    assert.equal(shop.matchedClusters, 2);
    assert.equal(shop.counts.total, 2);
    assert.deepEqual(Object.keys(shop.countsByApp), ["shop"]);
    assert.deepEqual(shop.apps, ["canary", "db", "shop", "web"]);

    const paged = (await grid("?selector=suite%3Dgrid&app=shop&limit=1")).json as GridResponse;
    assert.deepEqual(names(paged), ["g-prod-1"]);
    assert.equal(paged.next, "g-prod-1");
    const rest = (await grid("?selector=suite%3Dgrid&app=shop&limit=1&after=g-prod-1")).json as GridResponse;
    assert.deepEqual(names(rest), ["g-staging-1"]);
    assert.equal(rest.next, null);
    assert.equal(rest.counts.total, 2);

    const exact = (await grid("?selector=suite%3Dgrid&app=shop-g-prod-1")).json as GridResponse;
    assert.deepEqual(names(exact), ["g-prod-1"]);
    const nothing = (await grid("?selector=suite%3Dgrid&app=nowhere")).json as GridResponse;
    assert.deepEqual(names(nothing), []);
    assert.equal(nothing.matchedClusters, 0);
  });

  it("narrows rows and counts by selector, app, health, sync and problems, keeping every column", async () => {
    const prod = (await grid("?selector=suite%3Dgrid,env%3Dprod")).json as GridResponse;
    assert.deepEqual(names(prod), ["g-prod-1", "g-prod-2"]);
    assert.equal(prod.matchedClusters, 2);
    assert.equal(prod.counts.total, 5);
    assert.deepEqual(prod.apps, ["canary", "db", "shop", "web"]);

    const degraded = (await grid("?selector=suite%3Dgrid&health=degraded")).json as GridResponse;
    assert.deepEqual(names(degraded), ["g-prod-1"]);
    assert.deepEqual(
      degraded.clusters[0]?.apps.map((app) => app.app),
      ["db"],
    );
    assert.equal(degraded.counts.total, 1);

    const outOfSync = (await grid("?selector=suite%3Dgrid&sync=OutOfSync")).json as GridResponse;
    assert.deepEqual(names(outOfSync), ["g-prod-2"]);

    const canary = (await grid("?selector=suite%3Dgrid&app=canary")).json as GridResponse;
    assert.deepEqual(names(canary), ["g-staging-1"]);
    assert.deepEqual(Object.keys(canary.countsByApp), ["canary"]);

    const problems = (await grid("?selector=suite%3Dgrid&problems")).json as GridResponse;
    assert.deepEqual(names(problems), ["g-prod-1", "g-prod-2", "g-staging-1"]);
    // db is Degraded in g-prod-1; web is stale in g-staging-1, canary Progressing.
    assert.deepEqual(
      problems.clusters.map((cluster) => cluster.apps.map((app) => app.app)),
      [["db"], ["web"], ["canary", "web"]],
    );
    const noProblems = (await grid("?selector=suite%3Dgrid&problems=false")).json as GridResponse;
    assert.equal(noProblems.counts.total, 8);
  });

  it("pages by cluster with after and limit; counts cover every page", async () => {
    const first = (await grid("?selector=suite%3Dgrid&limit=2")).json as GridResponse;
    assert.deepEqual(names(first), ["g-prod-1", "g-prod-2"]);
    assert.equal(first.next, "g-prod-2");
    assert.equal(first.matchedClusters, 3);
    assert.equal(first.counts.total, 8);

    const second = (await grid(`?selector=suite%3Dgrid&limit=2&after=${first.next}`)).json as GridResponse;
    assert.deepEqual(names(second), ["g-staging-1"]);
    assert.equal(second.next, null);
    assert.equal(second.counts.total, 8);
  });

  it("refuses a request without a valid token with 401, never echoing the token", async () => {
    const missing = await grid("", null);
    assert.equal(missing.status, 401);
    assert.equal(missing.json.error.code, "UNAUTHENTICATED");
    assert.match(missing.json.error.message, /missing API token/);

    const wrong = `${adminToken.slice(0, -4)}abcd`;
    const refused = await grid("?health=bogus", wrong);
    // Authentication comes before the query: a stranger learns nothing about parameters.
    assert.equal(refused.status, 401);
    assert.ok(!refused.text.includes(wrong.split(".")[1] ?? "?"), "the secret must not be echoed");
  });

  it("shows a limited viewer only clusters in its scope: rows, columns and counts", async () => {
    const { status, json } = await grid("?selector=suite%3Dgrid", prodViewerToken);

    assert.equal(status, 200);
    const body = json as GridResponse;
    assert.deepEqual(names(body), ["g-prod-1", "g-prod-2"]);
    assert.equal(body.matchedClusters, 2);
    assert.equal(body.counts.total, 5);
    assert.deepEqual(body.apps, ["db", "shop", "web"]);
    assert.equal(body.countsByApp.shop?.total, 1, "the staging shop is outside the viewer's scope");
    const staging = (await grid("?selector=env%3Dstaging", prodViewerToken)).json as GridResponse;
    assert.deepEqual(names(staging), []);
    assert.equal(staging.matchedClusters, 0);
  });

  it("answers 400 naming the parameter for bad query values", async () => {
    const cases: [string, RegExp][] = [
      ["?health=Sick", /^health: "Sick" is not one of Healthy, Progressing/],
      ["?sync=maybe", /^sync: "maybe" is not one of Synced, OutOfSync, Unknown/],
      ["?limit=0", /^limit: "0" is not a whole number from 1 to 1000/],
      ["?limit=5000", /^limit: "5000"/],
      ["?limit=ten", /^limit: "ten"/],
      ["?problems=perhaps", /^problems: "perhaps" is not true, false, 1 or 0/],
      ["?selector=env%20in%20(", /^selector: /],
      ["?health=Healthy&health=Degraded", /^health: give one value/],
      ["?colour=red", /^unknown query parameter "colour"/],
    ];
    for (const [query, message] of cases) {
      const { status, json } = await grid(query);
      assert.equal(status, 400, query);
      assert.equal(json.error.code, "INVALID_ARGUMENT", query);
      assert.match(json.error.message, message, query);
    }
  });

  it("refuses other methods with 405 and an allow header", async () => {
    const response = await fetch(`${baseUrl}/api/v1/grid`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}` },
    });
    assert.equal(response.status, 405);
    assert.equal(response.headers.get("allow"), "GET");
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, "UNIMPLEMENTED");
  });
});

describe("queryGrid at fleet scale", () => {
  it("answers filtered first pages of 10,000 clusters x 21 apps with exact counts", () => {
    const index = createFleetIndex();
    const apps = Array.from({ length: 20 }, (_, i) => `app-${String(i).padStart(2, "0")}`);
    const fine = { revision: "abc", message: "", stale: false, problem: false };
    for (let c = 0; c < 10_000; c++) {
      const id = `id-${c}`;
      const name = `cluster-${String(c).padStart(5, "0")}`;
      index.upsertCluster({ id, name, labels: { env: c % 4 === 0 ? "prod" : "dev" }, state: "Connected" });
      for (const [a, app] of apps.entries()) {
        const health: HealthCode = c % 10 === 0 && a === 3 ? "Degraded" : "Healthy";
        const sync: SyncCode = c % 50 === 0 && a === 7 ? "OutOfSync" : "Synced";
        index.upsertApp(id, { app, sync, health, ...fine });
      }
      // And one app per cluster from an ApplicationSet, named after the cluster: column "probe".
      index.upsertApp(id, { app: `probe-${name}`, sync: "Synced", health: "Healthy", ...fine });
    }
    const everything = { scope: () => () => true };
    const admin = { name: "admin", role: "admin" as const };
    const ask = (query: string) =>
      queryGrid(index, everything, admin, parseGridQuery(new URLSearchParams(query)));

    const prod = ask("selector=env%3Dprod");
    assert.equal(prod.clusters.length, 200);
    assert.equal(prod.matchedClusters, 2_500);
    assert.equal(prod.counts.total, 2_500 * 21);
    assert.equal(prod.counts.degraded, 500); // c % 10 == 0 and c % 4 == 0: every 20th cluster
    assert.equal(prod.next, "cluster-00796");
    assert.equal(prod.apps.length, 21);
    assert.equal(prod.apps.at(-1), "probe");
    assert.equal(prod.clusters[0]?.apps.length, 21);

    const degraded = ask("health=Degraded&limit=1000");
    assert.equal(degraded.matchedClusters, 1_000);
    assert.equal(degraded.clusters.length, 1_000);
    assert.equal(degraded.next, null);
    assert.deepEqual(Object.keys(degraded.countsByApp), ["app-03"]);
    assert.equal(degraded.apps.length, 21, "the columns still name every app");

    const probes = ask("app=probe");
    assert.equal(probes.matchedClusters, 10_000);
    assert.equal(probes.clusters.length, 200);
    assert.equal(probes.counts.total, 10_000);
    assert.deepEqual(Object.keys(probes.countsByApp), ["probe"]);
    assert.deepEqual(
      probes.clusters[0]?.apps.map((app) => [app.app, app.column]),
      [["probe-cluster-00000", "probe"]],
    );
  });
});
