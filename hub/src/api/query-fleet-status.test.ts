import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { HealthStatus, SyncStatus } from "@flotilla/proto/gen/flotilla/v1/app_pb";
import {
  GetFleetStatusRequestSchema,
  GetFleetStatusResponseSchema,
} from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { GrpcError } from "@flotilla/proto/grpc";
import { createFleetIndex, type HealthCode, type SyncCode } from "../fleet/fleet-index.js";
import type { ProblemRecord } from "../server/hub-runtime.js";
import { type FleetStatusInput, queryFleetStatus } from "./query-fleet-status.js";

const now = new Date("2025-06-01T12:00:00Z");

/** st-a (prod): api OutOfSync/Degraded, web; st-b (prod): web Progressing; st-c (dev): web; st-d: no apps. */
function createFleet(problems = new Map<string, ProblemRecord[]>()): FleetStatusInput {
  const index = createFleetIndex();
  const add = (name: string, env: string, apps: [string, SyncCode, HealthCode, boolean?][]) => {
    index.upsertCluster({
      id: `id-${name}`,
      name,
      labels: { env },
      state: "Connected",
      lastSeen: now.toISOString(),
    });
    for (const [app, sync, health, problem] of apps) {
      index.upsertApp(`id-${name}`, {
        app,
        sync,
        health,
        revision: "r1",
        message: "",
        stale: false,
        problem: !!problem,
      });
    }
  };
  add("st-c", "dev", [["web", "Synced", "Healthy"]]);
  add("st-a", "prod", [
    ["web", "Synced", "Healthy"],
    ["api", "OutOfSync", "Degraded", true],
  ]);
  add("st-b", "prod", [["web", "Synced", "Progressing"]]);
  add("st-d", "prod", []);
  return {
    index,
    clusters: () => true,
    liveness: { now, heartbeatIntervalMs: 10_000 },
    problems: async () => problems,
  };
}

async function query(
  input: FleetStatusInput,
  init: Parameters<typeof create<typeof GetFleetStatusRequestSchema>>[1],
) {
  const response = await queryFleetStatus(input, create(GetFleetStatusRequestSchema, init));
  return create(GetFleetStatusResponseSchema, response);
}

const keys = (response: { rows: { cluster: string; app: string }[] }) =>
  response.rows.map((row) => `${row.cluster}/${row.app}`);

describe("queryFleetStatus", () => {
  it("returns rows by cluster then app with counts over every matching row", async () => {
    const response = await query(createFleet(), {});

    assert.deepEqual(keys(response), ["st-a/api", "st-a/web", "st-b/web", "st-c/web"]);
    assert.deepEqual(
      [response.counts?.total, response.counts?.synced, response.counts?.outOfSync, response.counts?.healthy],
      [4, 3, 1, 2],
    );
    // st-d has no rows, so it is not among the clusters of the matching rows.
    assert.equal(response.clusterCount, 3);
  });

  it("pages by row across clusters and keeps the counts of the whole result", async () => {
    const fleet = createFleet();

    const first = await query(fleet, { pageSize: 3 });
    const second = await query(fleet, { pageSize: 3, pageToken: first.nextPageToken });

    assert.deepEqual(keys(first), ["st-a/api", "st-a/web", "st-b/web"]);
    assert.deepEqual(keys(second), ["st-c/web"]);
    assert.equal(second.nextPageToken, "");
    assert.equal(second.counts?.total, 4);
    assert.equal(second.clusterCount, 3);
  });

  it("filters by several health and sync values, problems, app and cluster prefix", async () => {
    const fleet = createFleet();

    const unhealthy = await query(fleet, { health: [HealthStatus.DEGRADED, HealthStatus.PROGRESSING] });
    assert.deepEqual(keys(unhealthy), ["st-a/api", "st-b/web"]);
    assert.equal(unhealthy.clusterCount, 2);
    assert.deepEqual(keys(await query(fleet, { sync: [SyncStatus.OUT_OF_SYNC] })), ["st-a/api"]);
    assert.deepEqual(keys(await query(fleet, { problemsOnly: true })), ["st-a/api", "st-b/web"]);
    assert.deepEqual(keys(await query(fleet, { app: "web", clusterPrefix: "st-b" })), ["st-b/web"]);
    assert.equal((await query(fleet, { app: "web" })).counts?.total, 3);
  });

  it("narrows to the clusters the selector and scope admit", async () => {
    const fleet = { ...createFleet(), clusters: (labels: Record<string, string>) => labels.env === "prod" };

    const response = await query(fleet, {});

    assert.deepEqual(keys(response), ["st-a/api", "st-a/web", "st-b/web"]);
    assert.equal(response.counts?.total, 3);
  });

  it("refuses a page token used with other filters", async () => {
    const fleet = createFleet();
    const first = await query(fleet, { pageSize: 1, app: "web" });

    await assert.rejects(
      query(fleet, { pageSize: 1, app: "api", pageToken: first.nextPageToken }),
      (error) => {
        assert.ok(error instanceof GrpcError);
        assert.equal(error.code, "INVALID_ARGUMENT");
        assert.match(error.details, /page_token/);
        return true;
      },
    );
    // The page size is not a filter: a token carries on with another one.
    assert.deepEqual(keys(await query(fleet, { pageSize: 5, app: "web", pageToken: first.nextPageToken })), [
      "st-b/web",
      "st-c/web",
    ]);
  });

  it("counts the problems of a row's app that concern its cluster", async () => {
    const problem = (cluster: string): ProblemRecord => ({
      app: "api",
      cluster,
      reason: "RenderError",
      message: "boom",
      path: "",
      observedAt: now,
    });
    const fleet = createFleet(new Map([["api", [problem(""), problem("st-a"), problem("st-z")]]]));

    const response = await query(fleet, { app: "api" });

    assert.equal(response.rows[0]?.problemCount, 2);
  });

  it("walks fleets larger than one index page", async () => {
    const index = createFleetIndex();
    for (let i = 0; i < 1_500; i++) {
      const name = `big-${String(i).padStart(4, "0")}`;
      index.upsertCluster({ id: name, name, labels: {}, state: "Connected" });
      index.upsertApp(name, {
        app: "web",
        sync: "Synced",
        health: "Healthy",
        revision: "",
        message: "",
        stale: false,
        problem: false,
      });
    }
    const fleet = { ...createFleet(), index };

    const first = await query(fleet, { pageSize: 1_000 });
    const second = await query(fleet, { pageSize: 1_000, pageToken: first.nextPageToken });

    assert.deepEqual([first.rows.length, second.rows.length, second.nextPageToken], [1_000, 500, ""]);
    assert.equal(second.rows[0]?.cluster, "big-1000");
    assert.deepEqual([first.counts?.total, first.clusterCount], [1_500, 1_500]);
  });
});
