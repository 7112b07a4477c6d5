import type { Bus, BusEvent, BusHandler, BusStats, BusSubscription, SubscribeOptions } from "./bus.js";
import { checkLeaseArgs } from "./bus.js";
import { deliverEvent } from "./deliver-event.js";
import { parseBusEvent } from "./parse-bus-event.js";

export type LocalBusOptions = {
  /** The clock leases expire by, in ms; default `performance.now` (monotonic). */
  nowMs?: () => number;
};

type LocalSubscription = {
  handler: BusHandler;
  options: SubscribeOptions;
  queue: BusEvent[];
  /** The running drain, while there is one. */
  draining: Promise<void> | undefined;
};

/**
 * The embedded default: one process, one replica. Events pass the same validation as on NATS
 * (publish rejects an invalid one), are copied and frozen, and reach each subscription in
 * publish order, never inside the publish call. Nothing arrives malformed, so `dropped` stays 0.
 * Queues are unbounded: a handler slower than its publishers grows memory. Leases live in
 * memory and expire by `nowMs`.
 */
export function createLocalBus(options: LocalBusOptions = {}): Bus {
  const nowMs = options.nowMs ?? (() => performance.now());
  const subscriptions = new Set<LocalSubscription>();
  const leases = new Map<string, { holder: string; expiresAtMs: number }>();
  const stats: BusStats = { published: 0, delivered: 0, dropped: 0, handlerErrors: 0 };
  let closed = false;

  async function drain(subscription: LocalSubscription): Promise<void> {
    // Let the publisher's call return first, as it would over the network.
    await Promise.resolve();
    for (let event = subscription.queue.shift(); event; event = subscription.queue.shift()) {
      await deliverEvent(subscription.handler, event, stats, subscription.options.onError);
    }
    subscription.draining = undefined;
  }

  function unsubscribe(subscription: LocalSubscription): void {
    subscription.queue.length = 0;
    subscriptions.delete(subscription);
  }

  return {
    async publish(event) {
      if (closed) throw new Error(`bus: publish ${event.type}: the bus is closed`);
      // A fresh copy with the known fields only, frozen: subscribers share it.
      const copy = parseBusEvent(event);
      if (!copy) throw new Error(`bus: publish: not a valid event of type ${JSON.stringify(event.type)}`);
      Object.freeze(copy);
      if ("apps" in copy) Object.freeze(copy.apps);
      stats.published++;
      for (const subscription of subscriptions) {
        subscription.queue.push(copy);
        subscription.draining ??= drain(subscription);
      }
    },

    subscribe(handler, subscribeOptions = {}): BusSubscription {
      const subscription: LocalSubscription = {
        handler,
        options: subscribeOptions,
        queue: [],
        draining: undefined,
      };
      if (!closed) subscriptions.add(subscription);
      return { ready: Promise.resolve(), unsubscribe: () => unsubscribe(subscription) };
    },

    async tryLease(name, holder, ttlMs) {
      checkLeaseArgs(name, holder, ttlMs);
      const now = nowMs();
      const current = leases.get(name);
      if (current && current.holder !== holder && current.expiresAtMs > now) return false;
      leases.set(name, { holder, expiresAtMs: now + ttlMs });
      return true;
    },

    async releaseLease(name, holder) {
      if (leases.get(name)?.holder === holder) leases.delete(name);
    },

    stats: () => ({ ...stats }),

    async close() {
      closed = true;
      const running = [...subscriptions].map((subscription) => subscription.draining);
      for (const subscription of [...subscriptions]) unsubscribe(subscription);
      // The handler in flight finishes; queued events are discarded.
      await Promise.all(running);
    },
  };
}
