import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KubeError, type WatchEvent } from "./kube-client.js";
import type { KubeObject } from "./kube-object.js";
import { type RawWatchEvent, type WatchTransport, watchResource } from "./watch-resource.js";

function pod(name: string, resourceVersion: string): KubeObject {
  return { apiVersion: "v1", kind: "Pod", metadata: { namespace: "ns", name, resourceVersion } };
}

type OpenWatch = {
  resourceVersion: string;
  sink: { onOpen(): void; onEvent(event: RawWatchEvent): void };
  end(): void;
  fail(error: unknown): void;
};

/** A transport the test drives: lists answer from `lists`, watches wait for the test. */
function fakeTransport(lists: { items: KubeObject[]; resourceVersion: string }[]) {
  const watches: OpenWatch[] = [];
  let listCalls = 0;
  const transport: WatchTransport = {
    async list() {
      const next = lists[Math.min(listCalls, lists.length - 1)];
      listCalls += 1;
      if (!next) throw new Error("no list prepared");
      return next;
    },
    openWatch(resourceVersion, signal, sink) {
      return new Promise<void>((resolve, reject) => {
        watches.push({ resourceVersion, sink, end: resolve, fail: reject });
        signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true });
      });
    },
  };
  return { transport, watches, listCalls: () => listCalls };
}

/** Lets the watch loop run its pending promise callbacks. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

function recorder() {
  const events: string[] = [];
  const errors: KubeError[] = [];
  let synced = 0;
  return {
    events,
    errors,
    synced: () => synced,
    handlers: {
      onEvent: (e: WatchEvent) => events.push(`${e.type} ${e.object.metadata.name}`),
      onSynced: () => {
        synced += 1;
      },
      onError: (e: KubeError) => errors.push(e),
    },
  };
}

const options = { subject: "Pod/ns/*", minStreamMs: 0, random: () => 0.5 };

describe("watchResource", () => {
  it("reports the initial list as ADDED, then watches from the list's resourceVersion", async () => {
    const fake = fakeTransport([{ items: [pod("a", "5"), pod("b", "6")], resourceVersion: "10" }]);
    const rec = recorder();
    const handle = watchResource(fake.transport, rec.handlers, options);
    await settle();
    assert.deepEqual(rec.events, ["ADDED a", "ADDED b"]);
    assert.equal(rec.synced(), 1);
    assert.equal(fake.watches[0]?.resourceVersion, "10");
    fake.watches[0]?.sink.onOpen();
    fake.watches[0]?.sink.onEvent({ type: "MODIFIED", object: pod("a", "11") });
    fake.watches[0]?.sink.onEvent({ type: "DELETED", object: pod("b", "12") });
    assert.deepEqual(rec.events.slice(2), ["MODIFIED a", "DELETED b"]);
    handle.stop();
  });

  it("resumes from the last resourceVersion, bookmarks included, after the server ends the stream", async () => {
    const fake = fakeTransport([{ items: [], resourceVersion: "10" }]);
    const rec = recorder();
    const handle = watchResource(fake.transport, rec.handlers, options);
    await settle();
    fake.watches[0]?.sink.onEvent({ type: "ADDED", object: pod("a", "11") });
    fake.watches[0]?.sink.onEvent({ type: "BOOKMARK", object: { metadata: { resourceVersion: "15" } } });
    fake.watches[0]?.end();
    await settle();
    assert.equal(fake.watches[1]?.resourceVersion, "15");
    assert.equal(fake.listCalls(), 1);
    assert.deepEqual(rec.events, ["ADDED a"]);
    assert.deepEqual(rec.errors, []);
    handle.stop();
  });

  it("relists on 410 Gone and reports what changed meanwhile", async () => {
    const fake = fakeTransport([
      { items: [pod("kept", "1"), pod("changed", "2"), pod("vanished", "3")], resourceVersion: "10" },
      { items: [pod("kept", "1"), pod("changed", "20"), pod("new", "21")], resourceVersion: "30" },
    ]);
    const rec = recorder();
    const handle = watchResource(fake.transport, rec.handlers, options);
    await settle();
    fake.watches[0]?.sink.onOpen();
    assert.throws(() =>
      fake.watches[0]?.sink.onEvent({
        type: "ERROR",
        object: { code: 410, reason: "Expired", message: "too old" },
      }),
    );
    fake.watches[0]?.fail(new KubeError("Pod/ns/*: too old", "Gone", 410));
    await settle();
    assert.deepEqual(rec.events.slice(3), ["DELETED vanished", "MODIFIED changed", "ADDED new"]);
    assert.deepEqual(
      rec.errors.map((e) => e.reason),
      ["Gone"],
    );
    assert.equal(rec.synced(), 2);
    assert.equal(fake.watches[1]?.resourceVersion, "30");
    handle.stop();
  });

  it("reports a dropped connection, backs off, and resumes without relisting", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const fake = fakeTransport([{ items: [], resourceVersion: "10" }]);
    const rec = recorder();
    const handle = watchResource(fake.transport, rec.handlers, { ...options, backoffBaseMs: 1_000 });
    await settle();
    fake.watches[0]?.sink.onEvent({ type: "ADDED", object: pod("a", "12") });
    fake.watches[0]?.fail(new KubeError("Pod/ns/*: API server x unreachable (ECONNRESET)", "Unavailable"));
    await settle();
    assert.deepEqual(
      rec.errors.map((e) => e.reason),
      ["Unavailable"],
    );
    assert.equal(fake.watches.length, 1, "waits before retrying");
    t.mock.timers.tick(1_000);
    await settle();
    assert.equal(fake.watches[1]?.resourceVersion, "12");
    assert.equal(fake.listCalls(), 1);
    fake.watches[1]?.sink.onOpen();
    assert.equal(rec.synced(), 2, "in sync again once the watch is re-established");
    handle.stop();
  });

  it("cancels the backoff on stop and makes no request after it", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const fake = fakeTransport([{ items: [], resourceVersion: "10" }]);
    const rec = recorder();
    const handle = watchResource(fake.transport, rec.handlers, options);
    await settle();
    fake.watches[0]?.fail(new KubeError("Pod/ns/*: unreachable", "Unavailable"));
    await settle();
    handle.stop();
    t.mock.timers.runAll();
    await settle();
    assert.equal(fake.watches.length, 1);
    assert.equal(rec.errors.length, 1);
  });

  it("relists after a handler throws, reporting the failure", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const fake = fakeTransport([{ items: [pod("a", "1")], resourceVersion: "10" }]);
    const rec = recorder();
    let fail = true;
    const handle = watchResource(
      fake.transport,
      {
        ...rec.handlers,
        onEvent(event) {
          if (fail) {
            fail = false;
            throw new Error("handler broke");
          }
          rec.handlers.onEvent(event);
        },
      },
      options,
    );
    await settle();
    assert.equal(rec.errors[0]?.reason, "Unknown");
    assert.match(rec.errors[0]?.message ?? "", /^Pod\/ns\/\*: watch failed: Error: handler broke/);
    t.mock.timers.runAll();
    await settle();
    assert.equal(fake.listCalls(), 2);
    assert.deepEqual(rec.events, ["ADDED a"]);
    handle.stop();
  });
});
