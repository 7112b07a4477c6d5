import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Bus, BusEvent } from "./bus.js";
import { createLocalBus } from "./create-local-bus.js";

const status = (clusterId: string, digest: string): BusEvent => ({
  type: "status",
  clusterId,
  app: "web",
  digest,
  sync: "Synced",
  health: "Healthy",
  observedAt: "2025-01-01T00:00:00.000Z",
  revision: "",
  message: "",
});

/** Subscribes and records events and errors; `until` waits for a condition, woken by each arrival. */
function collect(bus: Bus, handle?: (event: BusEvent) => void | Promise<void>) {
  const events: BusEvent[] = [];
  const errors: Error[] = [];
  let wake = () => {};
  const subscription = bus.subscribe(
    async (event) => {
      events.push(event);
      wake();
      await handle?.(event);
    },
    {
      onError: (error) => {
        errors.push(error);
        wake();
      },
    },
  );
  async function until(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
    const deadlineMs = Date.now() + timeoutMs;
    while (!condition()) {
      const leftMs = deadlineMs - Date.now();
      if (leftMs <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, leftMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
  return { events, errors, subscription, until };
}

describe("createLocalBus", () => {
  it("delivers every event to every subscription, the publisher's own included, in publish order", async () => {
    const bus = createLocalBus();
    const a = collect(bus);
    const b = collect(bus);
    const published = ["d1", "d2", "d3"].map((digest) => status("c1", digest));
    for (const event of published) await bus.publish(event);
    await a.until("three events on a", () => a.events.length === 3);
    await b.until("three events on b", () => b.events.length === 3);
    assert.deepEqual(a.events, published);
    assert.deepEqual(b.events, published);
    assert.deepEqual(bus.stats(), { published: 3, delivered: 6, dropped: 0, handlerErrors: 0 });
    await bus.close();
  });

  it("never calls a handler inside the publish call", async () => {
    const bus = createLocalBus();
    const a = collect(bus);
    const published = bus.publish(status("c1", "d1"));
    assert.equal(a.events.length, 0);
    await published;
    await a.until("the event", () => a.events.length === 1);
    await bus.close();
  });

  it("waits for a handler before giving its subscription the next event", async () => {
    const bus = createLocalBus();
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slow = collect(bus, (event) =>
      event.type === "status" && event.digest === "d1" ? gate : undefined,
    );
    await bus.publish(status("c1", "d1"));
    await bus.publish(status("c1", "d2"));
    await slow.until("the first event", () => slow.events.length === 1);
    // d2 is queued behind the unresolved handler of d1.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(slow.events.length, 1);
    release();
    await slow.until("the second event", () => slow.events.length === 2);
    await bus.close();
  });

  it("keeps delivering after a handler throws, and hands the error to onError", async () => {
    const bus = createLocalBus();
    const a = collect(bus, (event) => {
      if (event.type === "status" && event.digest === "bad") throw new Error("boom");
    });
    await bus.publish(status("c1", "bad"));
    await bus.publish(status("c1", "good"));
    await a.until("both events", () => a.events.length === 2);
    assert.equal(a.errors.length, 1);
    assert.match(a.errors[0]?.message ?? "", /handler failed on status c1\/web/);
    assert.equal((a.errors[0]?.cause as Error | undefined)?.message, "boom");
    assert.equal(bus.stats().handlerErrors, 1);
    await bus.close();
  });

  it("hands out frozen copies, so one subscriber cannot change what another sees", async () => {
    const bus = createLocalBus();
    const a = collect(bus);
    const event: BusEvent = { type: "targets-changed", clusterId: "c1", apps: ["web"], seq: "7" };
    await bus.publish(event);
    event.apps.push("db");
    await a.until("the event", () => a.events.length === 1);
    const received = a.events[0];
    assert.ok(received?.type === "targets-changed");
    assert.deepEqual(received.apps, ["web"]);
    assert.throws(() => received.apps.push("db"), TypeError);
    await bus.close();
  });

  it("rejects an invalid event at publish instead of delivering it", async () => {
    const bus = createLocalBus();
    collect(bus);
    const invalid = { type: "cluster", clusterId: "c1", state: "Stale", replica: "r", at: "now" };
    await assert.rejects(bus.publish(invalid as unknown as BusEvent), /not a valid event of type "cluster"/);
    assert.equal(bus.stats().published, 0);
    await bus.close();
  });

  it("stops delivering to a subscription after unsubscribe", async () => {
    const bus = createLocalBus();
    const gone = collect(bus);
    const stays = collect(bus);
    gone.subscription.unsubscribe();
    await bus.publish(status("c1", "d1"));
    await stays.until("the event", () => stays.events.length === 1);
    assert.equal(gone.events.length, 0);
    await bus.close();
  });

  it("rejects publish after close", async () => {
    const bus = createLocalBus();
    await bus.close();
    await assert.rejects(bus.publish(status("c1", "d1")), /the bus is closed/);
  });
});

describe("createLocalBus leases", () => {
  function clockedBus() {
    let nowMs = 0;
    return {
      bus: createLocalBus({ nowMs: () => nowMs }),
      advance: (ms: number) => {
        nowMs += ms;
      },
    };
  }

  it("refuses a held lease to another holder and renews it for its holder", async () => {
    const { bus, advance } = clockedBus();
    assert.equal(await bus.tryLease("resolver", "hub-0", 1_000), true);
    assert.equal(await bus.tryLease("resolver", "hub-1", 1_000), false);
    advance(900);
    assert.equal(await bus.tryLease("resolver", "hub-0", 1_000), true);
    advance(900);
    assert.equal(await bus.tryLease("resolver", "hub-1", 1_000), false, "the renewal moved the expiry");
  });

  it("hands the lease over once the holder's TTL lapses without a renewal", async () => {
    const { bus, advance } = clockedBus();
    assert.equal(await bus.tryLease("resolver", "hub-0", 1_000), true);
    advance(999);
    assert.equal(await bus.tryLease("resolver", "hub-1", 1_000), false);
    advance(1);
    assert.equal(await bus.tryLease("resolver", "hub-1", 1_000), true);
    assert.equal(await bus.tryLease("resolver", "hub-0", 1_000), false);
  });

  it("frees the lease on release by its holder only", async () => {
    const { bus } = clockedBus();
    assert.equal(await bus.tryLease("resolver", "hub-0", 1_000), true);
    await bus.releaseLease("resolver", "hub-1");
    assert.equal(await bus.tryLease("resolver", "hub-1", 1_000), false);
    await bus.releaseLease("resolver", "hub-0");
    assert.equal(await bus.tryLease("resolver", "hub-1", 1_000), true);
  });

  it("keeps leases of different names apart and refuses bad arguments", async () => {
    const { bus } = clockedBus();
    assert.equal(await bus.tryLease("resolver", "hub-0", 1_000), true);
    assert.equal(await bus.tryLease("gc", "hub-1", 1_000), true);
    await assert.rejects(bus.tryLease("a b", "hub-0", 1_000), /name must match/);
    await assert.rejects(bus.tryLease("resolver", "", 1_000), /holder must not be empty/);
    await assert.rejects(bus.tryLease("resolver", "hub-0", 0), /ttlMs must be positive/);
  });
});
