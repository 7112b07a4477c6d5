import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  type AppStatus,
  AppStatusSchema,
  HealthStatus,
  OperationPhase,
  type OperationStateSchema,
  SyncStatus,
} from "@flotilla/proto/gen/flotilla/v1/app_pb";
import type { BusEvent } from "../bus/bus.js";
import { createLocalBus } from "../bus/create-local-bus.js";
import { openStore } from "../store/open-store.js";
import type { Store } from "../store/store.js";
import { createStatusWriter } from "./status-writer.js";

function report(
  app: string,
  health: HealthStatus,
  extra: { healthMessage?: string; operation?: MessageInitShape<typeof OperationStateSchema> } = {},
): AppStatus {
  return create(AppStatusSchema, {
    app,
    digest: `sha256:${app}`,
    revision: "r1",
    syncStatus: health === HealthStatus.HEALTHY ? SyncStatus.SYNCED : SyncStatus.OUT_OF_SYNC,
    healthStatus: health,
    observedAt: timestampFromDate(new Date()),
    ...(extra.healthMessage ? { healthMessage: extra.healthMessage } : {}),
    ...(extra.operation ? { operation: extra.operation } : {}),
  });
}

describe("createStatusWriter", () => {
  let dataDir = "";
  let store: Store;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "flotilla-status-writer-"));
    store = await openStore({ kind: "pglite", dataDir });
    for (const name of ["a", "b", "c"]) {
      const created = await store.clusters.create({ id: name, name, clusterUid: `uid-${name}` });
      assert.ok(created.ok);
    }
  });

  after(async () => {
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("stores, records transitions of and announces concurrent reports in groups, each resolved once written", async () => {
    const bus = createLocalBus();
    const announced: BusEvent[] = [];
    const subscription = bus.subscribe((event) => {
      announced.push(event);
    });
    await subscription.ready;
    let upserts = 0;
    const counted: Store = {
      ...store,
      statuses: {
        ...store.statuses,
        upsertMany: (statuses) => {
          upserts += 1;
          return store.statuses.upsertMany(statuses);
        },
      },
    };
    const writer = createStatusWriter({ store: counted, bus, now: () => new Date() });
    const reports: Promise<void>[] = [];
    for (const cluster of ["a", "b", "c"]) {
      for (let i = 0; i < 10; i++)
        reports.push(writer.record(cluster, report(`app-${i}`, HealthStatus.PROGRESSING)));
    }
    await Promise.all(reports);
    assert.ok(upserts <= 3, `30 reports in ${upserts} statements`);
    assert.equal((await store.statuses.list("b")).length, 10);
    assert.equal((await store.statuses.get("c", "app-9"))?.health, "Progressing");
    await writer.record("a", report("app-0", HealthStatus.DEGRADED, { healthMessage: "0/2 ready" }));
    const events = await store.events.list({ clusterId: "a", app: "app-0" });
    assert.deepEqual(events.events.map((event) => event.message).reverse(), [
      "Unknown -> Progressing",
      "Unknown -> OutOfSync",
      "Progressing -> Degraded: 0/2 ready",
    ]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const statusEvents = announced.filter((event) => event.type === "status");
    assert.equal(statusEvents.length, 31);
    assert.ok((await store.clusters.get("c"))?.lastSeenAt instanceof Date);
    subscription.unsubscribe();
  });

  it("announces only the latest of an app's reports in one group, and records every transition", async () => {
    const bus = createLocalBus();
    const announced: BusEvent[] = [];
    const subscription = bus.subscribe((event) => {
      announced.push(event);
    });
    await subscription.ready;
    const writer = createStatusWriter({ store, bus, now: () => new Date() });
    await Promise.all([
      writer.record("b", report("flip", HealthStatus.PROGRESSING)),
      writer.record("b", report("flip", HealthStatus.HEALTHY)),
      writer.record("b", report("flip", HealthStatus.DEGRADED, { healthMessage: "crash loop" })),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const flips = announced.filter((event) => event.type === "status" && event.app === "flip");
    assert.deepEqual(
      flips.map((event) => (event.type === "status" ? event.health : "")),
      ["Degraded"],
    );
    assert.equal((await store.statuses.get("b", "flip"))?.health, "Degraded");
    const events = await store.events.list({ clusterId: "b", app: "flip" });
    assert.deepEqual(
      events.events
        .map((event) => event.message)
        .filter((message) => !message.includes("Sync"))
        .reverse(),
      ["Unknown -> Progressing", "Progressing -> Healthy", "Healthy -> Degraded: crash loop"],
    );
    subscription.unsubscribe();
  });

  it("loads a cluster's previous reports from the store, so a new replica records only real transitions", async () => {
    const writer = createStatusWriter({ store, bus: createLocalBus(), now: () => new Date() });
    const before = (await store.events.list({ clusterId: "b", app: "app-1" })).events.length;
    await writer.record("b", report("app-1", HealthStatus.PROGRESSING));
    await writer.record("b", report("app-1", HealthStatus.HEALTHY));
    const events = (await store.events.list({ clusterId: "b", app: "app-1" })).events;
    assert.deepEqual(
      events.slice(0, events.length - before).map((event) => event.message),
      ["OutOfSync -> Synced", "Progressing -> Healthy"],
    );
  });

  it("records a finished operation once and acknowledges its sync request", async () => {
    const writer = createStatusWriter({ store, bus: createLocalBus(), now: () => new Date() });
    const added = await store.syncRequests.add({ clusterId: "c", app: "app-2", requestId: "req-1" });
    assert.ok(added.ok);
    const finishedAt = timestampFromDate(new Date("2030-01-01T00:00:00.123Z"));
    const operation = { phase: OperationPhase.SUCCEEDED, requestId: "req-1", revision: "r1", finishedAt };
    await writer.record("c", report("app-2", HealthStatus.PROGRESSING, { operation: { ...operation } }));
    await writer.record("c", report("app-2", HealthStatus.PROGRESSING, { operation: { ...operation } }));
    const finished = (await store.events.list({ clusterId: "c", app: "app-2", type: "operation-finished" }))
      .events;
    assert.equal(finished.length, 1);
    assert.deepEqual(await store.syncRequests.listPending("c"), []);
  });

  it("writes a cluster's reports before release resolves, so stale marking comes after them", async () => {
    const writer = createStatusWriter({ store, bus: createLocalBus(), now: () => new Date() });
    const pending = writer.record("a", report("app-5", HealthStatus.HEALTHY));
    await writer.release("a");
    assert.equal(await store.statuses.markStale("a"), 10);
    await pending;
    assert.ok((await store.statuses.list("a")).every((status) => status.stale));
  });

  it("removes a report the agent withdrew and announces the removal", async () => {
    const bus = createLocalBus();
    const announced: BusEvent[] = [];
    const subscription = bus.subscribe((event) => {
      announced.push(event);
    });
    await subscription.ready;
    const writer = createStatusWriter({ store, bus, now: () => new Date() });
    await writer.record("b", create(AppStatusSchema, { app: "app-3", removed: true }));
    assert.equal(await store.statuses.get("b", "app-3"), undefined);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(announced.some((event) => event.type === "status" && event.app === "app-3" && event.removed));
    subscription.unsubscribe();
  });

  it("rejects the reports of a group whose write failed, and writes the next group", async () => {
    let fail = true;
    const failing: Store = {
      ...store,
      statuses: {
        ...store.statuses,
        upsertMany: async (statuses) => {
          if (fail) throw new Error("database down");
          return store.statuses.upsertMany(statuses);
        },
      },
    };
    const writer = createStatusWriter({ store: failing, bus: createLocalBus(), now: () => new Date() });
    await assert.rejects(writer.record("c", report("app-7", HealthStatus.DEGRADED)), /database down/);
    fail = false;
    await writer.record("c", report("app-7", HealthStatus.MISSING));
    assert.equal((await store.statuses.get("c", "app-7"))?.health, "Missing");
  });
});
