import * as assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  EventKind,
  ListEventsRequestSchema,
  ListEventsResponseSchema,
} from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { GrpcError } from "@flotilla/proto/grpc";
import type { Labels } from "../fleet/label-selector.js";
import type { Cluster } from "../store/store.js";
import { eventKindOf, listEvents } from "./list-events.js";
import { useTestRuntime } from "./test-runtime.js";

const hub = useTestRuntime();
let prod: Cluster;
let dev: Cluster;
const t0 = new Date("2025-06-01T10:00:00Z");
const at = (minutes: number) => new Date(t0.getTime() + minutes * 60_000);

before(async () => {
  await hub.opened;
  prod = await hub.addCluster({ name: "ev-prod", labels: { env: "prod" } });
  dev = await hub.addCluster({ name: "ev-dev", labels: { env: "dev" } });
  const events = [
    { at: at(0), clusterId: prod.id, type: "cluster-registered", message: "registered" },
    { at: at(1), clusterId: prod.id, type: "cluster-connected" },
    {
      at: at(2),
      clusterId: prod.id,
      app: "web",
      type: "health-changed",
      message: "Progressing -> Healthy",
      data: { actor: "agent", revision: "abc123", from: "Progressing", to: "Healthy" },
    },
    { at: at(3), clusterId: dev.id, type: "cluster-rejoined" },
    { at: at(4), clusterId: prod.id, type: "webhook-ish-thing" },
    {
      at: at(5),
      app: "web",
      type: "desired-changed",
      data: { actor: "alice", clusters: ["ev-prod", "ev-dev"] },
    },
    { at: at(6), clusterId: prod.id, app: "web", type: "sync-status-changed", data: { actor: "agent" } },
  ];
  for (const event of events) await hub.store.events.append(event);
});

async function list(
  init: Parameters<typeof create<typeof ListEventsRequestSchema>>[1],
  scope?: (labels: Labels) => boolean,
) {
  const response = await listEvents(
    { store: hub.store, scope: scope ?? (() => true), limited: scope !== undefined },
    create(ListEventsRequestSchema, { since: timestampFromDate(t0), ...init }),
  );
  return create(ListEventsResponseSchema, response);
}

const kinds = (response: { events: { kind: EventKind }[] }) => response.events.map((event) => event.kind);

describe("listEvents", () => {
  it("maps the hub's event types to kinds, unknown ones to UNSPECIFIED", () => {
    assert.equal(eventKindOf("cluster-rejoined"), EventKind.CLUSTER_REGISTERED);
    assert.equal(eventKindOf("delivery-problem"), EventKind.DELIVERY_REJECTED);
    assert.equal(eventKindOf("problem-resolved"), EventKind.PROBLEM_RESOLVED);
    assert.equal(eventKindOf("something-new"), EventKind.UNSPECIFIED);
  });

  it("lists newest first with names, actors and details", async () => {
    const response = await list({});

    assert.deepEqual(kinds(response), [
      EventKind.SYNC_STATUS_CHANGED,
      EventKind.DESIRED_CHANGED,
      EventKind.UNSPECIFIED,
      EventKind.CLUSTER_REGISTERED,
      EventKind.HEALTH_CHANGED,
      EventKind.CLUSTER_CONNECTED,
      EventKind.CLUSTER_REGISTERED,
    ]);
    const health = response.events[4];
    assert.deepEqual(
      [health?.cluster, health?.app, health?.actor, health?.revision, health?.message],
      ["ev-prod", "web", "agent", "abc123", "Progressing -> Healthy"],
    );
    assert.deepEqual(health?.details, {
      actor: "agent",
      revision: "abc123",
      from: "Progressing",
      to: "Healthy",
    });
  });

  it("filters by kinds covering several types, by cluster and by time", async () => {
    assert.deepEqual(
      (await list({ kinds: [EventKind.CLUSTER_REGISTERED] })).events.map((event) => event.cluster),
      ["ev-dev", "ev-prod"],
    );
    const unknown = await list({ kinds: [EventKind.UNSPECIFIED] });
    assert.deepEqual(kinds(unknown), [EventKind.UNSPECIFIED]);
    assert.deepEqual(unknown.events[0]?.details, { type: "webhook-ish-thing" });
    assert.equal((await list({ cluster: "ev-dev" })).events.length, 1);
    assert.deepEqual(
      kinds(await list({ since: timestampFromDate(at(1)), until: timestampFromDate(at(3)) })),
      [EventKind.HEALTH_CHANGED, EventKind.CLUSTER_CONNECTED],
    );
    await assert.rejects(list({ cluster: "ev-nowhere" }), (error) => {
      assert.ok(error instanceof GrpcError);
      assert.deepEqual([error.code, error.details], ["NOT_FOUND", 'cluster "ev-nowhere" does not exist']);
      return true;
    });
  });

  it("pages with a token bound to the filters", async () => {
    const seen: EventKind[] = [];
    let pageToken = "";
    for (let page = 0; page < 10; page++) {
      const response = await list({ pageSize: 3, pageToken });
      seen.push(...kinds(response));
      pageToken = response.nextPageToken;
      if (!pageToken) break;
    }

    assert.deepEqual(seen, kinds(await list({})));
    const first = await list({ pageSize: 3 });
    await assert.rejects(list({ pageSize: 3, app: "web", pageToken: first.nextPageToken }), /page_token/);
  });

  it("shows a limited caller only events of clusters in its scope", async () => {
    const response = await list({}, (labels) => labels.env === "prod");

    assert.ok(response.events.every((event) => event.cluster === "ev-prod"));
    assert.equal(response.events.length, 5);
    await assert.rejects(
      list({ cluster: "ev-dev" }, (labels) => labels.env === "prod"),
      /does not exist/,
    );
  });
});
