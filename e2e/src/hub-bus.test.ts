import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import type { Bus, BusEvent } from "@flotilla/hub/bus/bus";
import { connectNatsBus, type NatsBusOptions } from "@flotilla/hub/bus/connect-nats-bus";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { useNats } from "./harness/nats.js";

const DAY_NS = 24 * 60 * 60 * 1e9;

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

const digests = (events: BusEvent[], clusterId?: string) =>
  events.flatMap((event) =>
    event.type === "status" && (clusterId === undefined || event.clusterId === clusterId)
      ? [event.digest]
      : [],
  );

/** Subscribes and records events and errors; `until` waits for a condition, woken by each arrival. */
async function collect(bus: Bus, handle?: (event: BusEvent) => void | Promise<void>) {
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
  await subscription.ready;
  async function until(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
    const deadlineMs = Date.now() + timeoutMs;
    while (!condition()) {
      const leftMs = deadlineMs - Date.now();
      if (leftMs <= 0) {
        const seen = JSON.stringify(
          events.map((event) => `${event.type} ${"clusterId" in event ? event.clusterId : event.requestId}`),
        );
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; saw ${seen}`);
      }
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

/** Calls `attempt` every `intervalMs` until it resolves true; returns when that happened (performance.now). */
async function pollUntilTrue(what: string, attempt: () => Promise<boolean>, timeoutMs = 15_000) {
  const deadlineMs = performance.now() + timeoutMs;
  for (;;) {
    if (await attempt()) return performance.now();
    if (performance.now() > deadlineMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function withConnection<T>(url: string, fn: (nc: NatsConnection) => Promise<T>): Promise<T> {
  const nc = await connect({ servers: url });
  try {
    return await fn(nc);
  } finally {
    await nc.close();
  }
}

describe("hub bus on NATS JetStream", () => {
  const nats = useNats();
  let suite = 0;
  /** A stream and subject prefix of its own per test, so tests cannot see each other's events. */
  const isolate = () => {
    suite++;
    return { stream: `BUS_${suite}`, subjectPrefix: `bus${suite}` };
  };

  async function openBus(t: TestContext, options: Omit<NatsBusOptions, "url">): Promise<Bus> {
    const bus = await connectNatsBus({ url: nats().url, reconnectWaitMs: 100, ...options });
    t.after(() => bus.close());
    return bus;
  }

  it("delivers every replica's events to every replica, in order per subject", async (t) => {
    const names = isolate();
    const a = await openBus(t, { replica: "hub-0", ...names });
    const b = await openBus(t, { replica: "hub-1", ...names });
    const onA = await collect(a);
    const onB = await collect(b);
    const fromA = Array.from({ length: 25 }, (_, i) => `a${i}`);
    // A cluster id that is no valid subject token travels escaped in the subject, intact in the body.
    const fromB = Array.from({ length: 25 }, (_, i) => `b${i}`);
    await Promise.all([
      (async () => {
        for (const digest of fromA) await a.publish(status("c1", digest));
      })(),
      (async () => {
        for (const digest of fromB) await b.publish(status("eu.west", digest));
      })(),
    ]);
    await b.publish({ type: "targets-changed", clusterId: "c1", apps: ["web"], seq: "18446744073709551616" });
    for (const [name, seen] of [
      ["hub-0", onA],
      ["hub-1", onB],
    ] as const) {
      await seen.until(`51 events on ${name}`, () => seen.events.length === 51);
      assert.deepEqual(digests(seen.events, "c1"), fromA, name);
      assert.deepEqual(digests(seen.events, "eu.west"), fromB, name);
      assert.deepEqual(seen.events.at(-1), {
        type: "targets-changed",
        clusterId: "c1",
        apps: ["web"],
        seq: "18446744073709551616",
      });
      assert.deepEqual(seen.errors, []);
    }
    assert.equal(a.stats().published, 25);
    assert.equal(a.stats().delivered, 51);
  });

  it("creates the stream idempotently from replicas starting together, and updates its max age", async (t) => {
    const names = isolate();
    await Promise.all([
      openBus(t, { replica: "hub-0", ...names }),
      openBus(t, { replica: "hub-1", ...names }),
    ]);
    const info = await withConnection(nats().url, async (nc) =>
      (await jetstreamManager(nc)).streams.info(names.stream),
    );
    assert.deepEqual(info.config.subjects, [`${names.subjectPrefix}.>`]);
    assert.equal(info.config.max_age, DAY_NS);
    assert.equal(info.config.storage, "file");
    await openBus(t, { replica: "hub-2", ...names, maxAgeMs: 60 * 60 * 1000 });
    const updated = await withConnection(nats().url, async (nc) =>
      (await jetstreamManager(nc)).streams.info(names.stream),
    );
    assert.equal(updated.config.max_age, DAY_NS / 24);
  });

  it("keeps consuming after a handler throws, and reports the error", async (t) => {
    const names = isolate();
    const a = await openBus(t, { replica: "hub-0", ...names });
    const onA = await collect(a, (event) => {
      if (event.type === "status" && event.digest === "bad") throw new Error("boom");
    });
    await a.publish(status("c1", "bad"));
    await a.publish(status("c1", "good"));
    await onA.until("both events", () => onA.events.length === 2);
    assert.equal(onA.errors.length, 1);
    assert.match(onA.errors[0]?.message ?? "", /handler failed on status c1\/web/);
    assert.equal(a.stats().handlerErrors, 1);
  });

  it("drops and counts malformed messages, and delivers the valid ones around them", async (t) => {
    const names = isolate();
    const a = await openBus(t, { replica: "hub-0", ...names });
    const onA = await collect(a);
    await a.publish(status("c1", "before"));
    await withConnection(nats().url, async (nc) => {
      const js = jetstream(nc);
      const subject = `${names.subjectPrefix}.status.c1`;
      await js.publish(subject, "not json");
      await js.publish(subject, JSON.stringify({ type: "bogus", clusterId: "c1" }));
      await js.publish(subject, JSON.stringify({ type: "status", clusterId: "c1", app: "web" }));
    });
    await a.publish(status("c1", "after"));
    await onA.until("the event after the malformed ones", () => onA.events.length === 2);
    assert.deepEqual(digests(onA.events), ["before", "after"]);
    assert.equal(a.stats().dropped, 3);
    assert.equal(onA.errors.length, 3);
    for (const error of onA.errors)
      assert.match(error.message, /dropped a malformed message on bus\d+\.status\.c1/);
  });

  it("refuses a held lease, hands it over once the holder stops renewing for the TTL, and frees it on release", async (t) => {
    const a = await openBus(t, { replica: "hub-0", ...isolate() });
    const b = await openBus(t, { replica: "hub-1", ...isolate() });
    const ttlMs = 600;
    assert.equal(await a.tryLease("resolver-1", "hub-0", ttlMs), true);
    assert.equal(await b.tryLease("resolver-1", "hub-1", ttlMs), false);
    const renewedAt = performance.now();
    assert.equal(await a.tryLease("resolver-1", "hub-0", ttlMs), true);
    // hub-0 stops renewing now.
    const takenAt = await pollUntilTrue("hub-1 to take the lease over", () =>
      b.tryLease("resolver-1", "hub-1", ttlMs),
    );
    assert.ok(takenAt - renewedAt >= ttlMs, `taken over ${takenAt - renewedAt} ms after the last renewal`);
    assert.equal(await a.tryLease("resolver-1", "hub-0", ttlMs), false);

    await a.releaseLease("resolver-1", "hub-0");
    assert.equal(await a.tryLease("resolver-1", "hub-0", ttlMs), false, "a non-holder's release is ignored");
    await b.releaseLease("resolver-1", "hub-1");
    assert.equal(await a.tryLease("resolver-1", "hub-0", 60_000), true, "released: free at once");
    assert.equal(await b.tryLease("resolver-1", "hub-1", 60_000), false);
  });

  it("grants a lease to exactly one of 20 concurrent contenders from 4 replicas, and one taker after it lapses", async (t) => {
    const replicas = ["hub-0", "hub-1", "hub-2", "hub-3"];
    const buses = await Promise.all(replicas.map((replica) => openBus(t, { replica, ...isolate() })));
    for (let round = 0; round < 5; round++) {
      const name = `contended-${round}`;
      const results = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const holder = replicas[i % 4] as string;
          const bus = buses[i % 4] as Bus;
          return { holder, held: await bus.tryLease(name, holder, 60_000) };
        }),
      );
      const holders = new Set(results.filter((result) => result.held).map((result) => result.holder));
      assert.equal(holders.size, 1, `round ${round}: holders ${[...holders].join(", ")}`);
    }

    // The holder of a short lease stops renewing; the other three race to take it over.
    const ttlMs = 400;
    assert.equal(await buses[0]?.tryLease("lapsing", "hub-0", ttlMs), true);
    const takers: string[] = [];
    let taken = false;
    await Promise.all(
      replicas.slice(1).map(async (holder, i) => {
        const bus = buses[i + 1] as Bus;
        const deadlineMs = performance.now() + 15_000;
        while (!taken && performance.now() < deadlineMs) {
          if (await bus.tryLease("lapsing", holder, ttlMs)) {
            takers.push(holder);
            taken = true;
          } else {
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
        }
      }),
    );
    assert.equal(takers.length, 1, `takers: ${takers.join(", ")}`);
  });

  // Last: it restarts the server under the other tests' streams too.
  it("keeps delivering and leasing across a NATS restart, without replaying old events", async (t) => {
    const names = isolate();
    const a = await openBus(t, { replica: "hub-0", ...names });
    const b = await openBus(t, { replica: "hub-1", ...names });
    const onA = await collect(a);
    await a.publish(status("c1", "before"));
    await onA.until("the event before the restart", () => onA.events.length === 1);
    // Subscribed after "before", with nothing delivered yet when its consumer must be recreated.
    const onB = await collect(b);

    await nats().restart();
    await b.publish(status("c1", "after"));
    await onA.until("the event after the restart on hub-0", () => onA.events.length === 2);
    await onB.until("the event after the restart on hub-1", () => onB.events.length === 1);
    assert.deepEqual(digests(onA.events), ["before", "after"]);
    assert.deepEqual(digests(onB.events), ["after"]);
    assert.equal(await a.tryLease("after-restart", "hub-0", 60_000), true);
    assert.equal(await b.tryLease("after-restart", "hub-1", 60_000), false);
  });
});
