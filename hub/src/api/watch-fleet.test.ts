import * as assert from "node:assert/strict";
import { before, describe, it, type TestContext } from "node:test";
import { create } from "@bufbuild/protobuf";
import { SyncStatus } from "@flotilla/proto/gen/flotilla/v1/app_pb";
import { WatchFleetRequestSchema } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import type { BusEvent } from "../bus/bus.js";
import type { Labels } from "../fleet/label-selector.js";
import { useTestRuntime } from "./test-runtime.js";
import { type WatchResponse, watchFleet } from "./watch-fleet.js";

const hub = useTestRuntime();
const digest = (char: string) => `sha256:${char.repeat(64)}`;

before(async () => {
  await hub.opened;
});

type WatchOptions = {
  selector?: (labels: Labels) => boolean;
  scope?: (labels: Labels) => boolean;
  maxPending?: number;
};

/** A watch that is subscribed when this returns and stopped when the test ends. */
function useWatch(
  t: TestContext,
  init: Parameters<typeof create<typeof WatchFleetRequestSchema>>[1],
  options: WatchOptions = {},
) {
  const controller = new AbortController();
  const iterator = watchFleet({
    runtime: hub.runtime,
    request: create(WatchFleetRequestSchema, init),
    scope: options.scope ?? (() => true),
    selector: options.selector ?? (() => true),
    signal: controller.signal,
    ...(options.maxPending !== undefined ? { maxPending: options.maxPending } : {}),
  });
  const subscriptions = hub.subscriptions();
  // The generator subscribes synchronously inside its first next().
  let pending: Promise<IteratorResult<WatchResponse>> | undefined = iterator.next();
  assert.equal(hub.subscriptions(), subscriptions + 1);
  t.after(async () => {
    controller.abort();
    await iterator.return(undefined);
  });
  return {
    controller,
    async receive(): Promise<WatchResponse> {
      const next = pending ?? iterator.next();
      pending = undefined;
      const result = await withDeadline(next);
      assert.equal(result.done, false, "the watch ended");
      return result.value as WatchResponse;
    },
    async end(): Promise<boolean> {
      const next = pending ?? iterator.next();
      pending = undefined;
      return (await withDeadline(next)).done === true;
    },
  };
}

function withDeadline<T>(promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("watch: nothing within 5 s")), 5_000);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function status(clusterId: string, app: string, sync = "Synced"): BusEvent {
  return {
    type: "status",
    clusterId,
    app,
    digest: digest("a"),
    sync,
    health: "Healthy",
    observedAt: new Date().toISOString(),
    revision: "abc123",
    message: "",
  };
}

describe("watchFleet", () => {
  it("sends status changes of selected clusters only", async (t) => {
    const dev = await hub.addCluster({ name: "w-dev", labels: { env: "dev" }, apps: [{ app: "web" }] });
    const prod = await hub.addCluster({ name: "w-prod", labels: { env: "prod" }, apps: [{ app: "web" }] });
    const watch = useWatch(t, {}, { selector: (labels) => labels.env === "prod" });

    await hub.runtime.bus.publish(status(dev.id, "web", "OutOfSync"));
    await hub.runtime.bus.publish(status(prod.id, "web", "OutOfSync"));

    const response = await watch.receive();
    assert.equal(response.event?.case, "statusChanged");
    const row = response.event?.case === "statusChanged" ? response.event.value : undefined;
    assert.deepEqual(
      [row?.cluster, row?.app, row?.syncStatus, row?.revision],
      ["w-prod", "web", SyncStatus.OUT_OF_SYNC, "abc123"],
    );
  });

  it("keeps a caller's scope and the app and prefix filters", async (t) => {
    const hidden = await hub.addCluster({ name: "wf-hidden", labels: { team: "b" }, apps: [{ app: "api" }] });
    const shown = await hub.addCluster({
      name: "wf-shown",
      labels: { team: "a" },
      apps: [{ app: "api" }, { app: "web" }],
    });
    const other = await hub.addCluster({ name: "other", labels: { team: "a" }, apps: [{ app: "api" }] });
    const watch = useWatch(
      t,
      { app: "api", clusterPrefix: "wf-" },
      { scope: (labels) => labels.team === "a" },
    );

    for (const event of [
      status(hidden.id, "api"),
      status(shown.id, "web"),
      status(other.id, "api"),
      status(shown.id, "api"),
    ]) {
      await hub.runtime.bus.publish(event);
    }

    const response = await watch.receive();
    const row = response.event?.case === "statusChanged" ? response.event.value : undefined;
    assert.deepEqual([row?.cluster, row?.app], ["wf-shown", "api"]);
  });

  it("turns a target change into rows carrying what the store wants", async (t) => {
    const cluster = await hub.addCluster({
      name: "w-targets",
      apps: [{ app: "shop", health: "Progressing" }],
    });
    await hub.store.targets.apply(cluster.id, [
      { app: "shop", digest: digest("c"), bundleDigest: digest("d"), desired: { revision: "def456" } },
    ]);
    const watch = useWatch(t, {});

    await hub.runtime.bus.publish({
      type: "targets-changed",
      clusterId: cluster.id,
      apps: ["shop", "old"],
      seq: "1",
    });

    const changed = await watch.receive();
    const removed = await watch.receive();
    const row = changed.event?.case === "statusChanged" ? changed.event.value : undefined;
    assert.deepEqual(
      [row?.app, row?.desiredDigest, row?.desiredRevision, row?.delivered],
      ["shop", digest("c"), "def456", false],
    );
    assert.deepEqual(
      [removed.event?.case, removed.event?.case === "statusRemoved" && removed.event.value.app],
      ["statusRemoved", "old"],
    );
  });

  it("names a removed cluster and shows a relabelled one", async (t) => {
    const gone = await hub.addCluster({ name: "w-gone", labels: { env: "prod" } });
    const moved = await hub.addCluster({ name: "w-moved", labels: { env: "prod" } });
    const watch = useWatch(t, {}, { selector: (labels) => labels.env === "prod" });

    await hub.store.clusters.remove(gone.id);
    await hub.runtime.bus.publish({ type: "cluster-changed", clusterId: gone.id });
    await hub.store.clusters.updateLabels(moved.id, { env: "dev" });
    await hub.runtime.bus.publish({ type: "cluster-changed", clusterId: moved.id });

    assert.deepEqual((await watch.receive()).event, { case: "clusterRemoved", value: "w-gone" });
    const relabelled = await watch.receive();
    assert.equal(relabelled.event?.case, "clusterChanged");
    assert.deepEqual(relabelled.event?.case === "clusterChanged" && relabelled.event.value.labels, {
      env: "dev",
    });
  });

  it("sends dropped with the number of events lost when the consumer falls behind", async (t) => {
    const cluster = await hub.addCluster({ name: "w-slow", apps: [{ app: "web" }] });
    const watch = useWatch(t, {}, { maxPending: 3 });
    await hub.runtime.bus.publish(status(cluster.id, "web"));
    assert.equal((await watch.receive()).event?.case, "statusChanged");

    // The consumer is parked at its first message; six more arrive: three queue, the fourth
    // overflows (all four are dropped), the next two queue again.
    const delivered = hub.runtime.bus.stats().delivered + 6 * hub.subscriptions();
    for (let i = 0; i < 6; i++) await hub.runtime.bus.publish(status(cluster.id, "web"));
    const deadline = Date.now() + 5_000;
    while (hub.runtime.bus.stats().delivered < delivered) {
      if (Date.now() > deadline) throw new Error("bus did not deliver the events");
      await new Promise((resolve) => setImmediate(resolve));
    }

    assert.deepEqual((await watch.receive()).event, { case: "dropped", value: 4 });
    assert.equal((await watch.receive()).event?.case, "statusChanged");
    assert.equal((await watch.receive()).event?.case, "statusChanged");
  });

  it("ends and unsubscribes when the call is cancelled", async (t) => {
    const subscriptions = hub.subscriptions();
    const watch = useWatch(t, {});

    watch.controller.abort();

    assert.equal(await watch.end(), true);
    assert.equal(hub.subscriptions(), subscriptions);
  });
});
