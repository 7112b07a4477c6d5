import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { BusEvent } from "../bus/bus.js";
import { createLocalBus } from "../bus/create-local-bus.js";
import { createClusterEventRouter } from "./cluster-event-router.js";

const changed = (clusterId: string, seq: number): BusEvent => ({
  type: "targets-changed",
  clusterId,
  apps: ["web"],
  seq: String(seq),
});

/** A promise and the function that resolves it. */
function signal() {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Resolves once `condition` holds, checking after each macrotask; fails after `timeoutMs`. */
async function until(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe("createClusterEventRouter", () => {
  it("hands each listener only its cluster's events, in publish order", async () => {
    const bus = createLocalBus();
    const router = createClusterEventRouter(bus, () => {});
    const seen = new Map<string, string[]>();
    const listen = (clusterId: string) =>
      router.listen(
        clusterId,
        async (event) => {
          seen.set(clusterId, [...(seen.get(clusterId) ?? []), "seq" in event ? event.seq : event.type]);
        },
        () => {},
      );
    await Promise.all([listen("a").ready, listen("b").ready]);
    for (let seq = 1; seq <= 5; seq += 1) {
      await bus.publish(changed("a", seq));
      await bus.publish(changed("b", seq * 10));
    }
    await bus.publish({ type: "refresh", requestId: "r", source: "", hard: false });
    await bus.publish(changed("c", 1));
    await until("both clusters' events", () => seen.get("a")?.length === 5 && seen.get("b")?.length === 5);
    assert.deepEqual(seen.get("a"), ["1", "2", "3", "4", "5"]);
    assert.deepEqual(seen.get("b"), ["10", "20", "30", "40", "50"]);
    assert.equal(seen.has("c"), false);
    await bus.close();
  });

  it("uses one bus subscription however many streams listen, and drops it when the last one goes", async () => {
    const bus = createLocalBus();
    const router = createClusterEventRouter(bus, () => {});
    let calls = 0;
    const listeners = Array.from({ length: 1_000 }, (_, i) =>
      router.listen(
        `c${i}`,
        async () => {
          calls += 1;
        },
        () => {},
      ),
    );
    await bus.publish(changed("c7", 1));
    await until("the event", () => calls === 1);
    // The local bus counts one delivery per subscription: one, not a thousand.
    assert.equal(bus.stats().delivered, 1);
    assert.equal(router.size(), 1_000);
    for (const listener of listeners) listener.unsubscribe();
    assert.equal(router.size(), 0);
    await bus.publish(changed("c7", 2));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(bus.stats().delivered, 1, "no subscription is left once nobody listens");
    assert.equal(calls, 1);
    await bus.close();
  });

  it("lets a slow listener hold up only its own cluster", async () => {
    const bus = createLocalBus();
    const router = createClusterEventRouter(bus, () => {});
    const gate = signal();
    const slow: string[] = [];
    const fast: string[] = [];
    router.listen(
      "slow",
      async (event) => {
        await gate.promise;
        if ("seq" in event) slow.push(event.seq);
      },
      () => {},
    );
    router.listen(
      "fast",
      async (event) => {
        if ("seq" in event) fast.push(event.seq);
      },
      () => {},
    );
    await bus.publish(changed("slow", 1));
    await bus.publish(changed("slow", 2));
    await bus.publish(changed("fast", 1));
    await until("the fast cluster's event", () => fast.length === 1);
    assert.deepEqual(slow, []);
    gate.resolve();
    await until("the slow cluster's events", () => slow.length === 2);
    assert.deepEqual(slow, ["1", "2"]);
    await bus.close();
  });

  it("reports a failing handler to its own listener and keeps delivering to it", async () => {
    const bus = createLocalBus();
    const router = createClusterEventRouter(bus, () => {});
    const errors: Error[] = [];
    const handled: string[] = [];
    router.listen(
      "a",
      async (event) => {
        if (!("seq" in event)) return;
        if (event.seq === "1") throw new Error("boom");
        handled.push(event.seq);
      },
      (error) => errors.push(error),
    );
    await bus.publish(changed("a", 1));
    await bus.publish(changed("a", 2));
    await until("the second event", () => handled.length === 1);
    assert.deepEqual(handled, ["2"]);
    assert.equal(errors.length, 1);
    assert.match(errors[0]?.message ?? "", /handler failed on targets-changed a/);
    assert.equal((errors[0]?.cause as Error | undefined)?.message, "boom");
    await bus.close();
  });

  it("stops delivering to a listener once it unsubscribed, other listeners of the cluster go on", async () => {
    const bus = createLocalBus();
    const router = createClusterEventRouter(bus, () => {});
    const first: string[] = [];
    const second: string[] = [];
    const one = router.listen(
      "a",
      async (event) => {
        if ("seq" in event) first.push(event.seq);
      },
      () => {},
    );
    router.listen(
      "a",
      async (event) => {
        if ("seq" in event) second.push(event.seq);
      },
      () => {},
    );
    await bus.publish(changed("a", 1));
    await until("both listeners", () => first.length === 1 && second.length === 1);
    one.unsubscribe();
    one.unsubscribe();
    assert.equal(router.size(), 1, "unsubscribing twice counts once");
    await bus.publish(changed("a", 2));
    await until("the remaining listener", () => second.length === 2);
    assert.deepEqual(first, ["1"]);
    await bus.close();
  });
});
