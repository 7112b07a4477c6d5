/**
 * One bus subscription for every Connect stream of this replica, handing each event to the
 * streams of the cluster it names. A subscription per stream would make every event cost as
 * many handler calls as there are connected agents (10,000 queues and microtask chains per
 * heartbeat-driven event on the local bus, 10,000 consumers on NATS).
 *
 * Same contract per listener as a bus subscription: events published after `ready` arrive in
 * publish order, one at a time (the next waits for the handler's promise), and a handler that
 * throws is reported to its own `onError` without stopping it. A slow listener delays only its
 * own events, never another cluster's.
 */
import type { Bus, BusEvent, BusSubscription } from "../bus/bus.js";
import { describeEvent } from "../bus/deliver-event.js";

export type ClusterListener = {
  /** Resolves once every event published from now on reaches this listener. */
  ready: Promise<void>;
  unsubscribe(): void;
};

export type ClusterEventRouter = {
  /** Calls `handler` for every event naming `clusterId` (see BusEvent.clusterId), in order. */
  listen(
    clusterId: string,
    handler: (event: BusEvent) => Promise<void>,
    onError: (error: Error) => void,
  ): ClusterListener;
  /** Listeners registered now, over every cluster. */
  size(): number;
};

type Entry = {
  handler: (event: BusEvent) => Promise<void>;
  onError: (error: Error) => void;
  queue: BusEvent[];
  draining: boolean;
};

/** Routes `bus` events to per-cluster listeners; subscribes while at least one listener exists. */
export function createClusterEventRouter(
  bus: Bus,
  onSubscriptionError: (error: Error) => void,
): ClusterEventRouter {
  const byCluster = new Map<string, Set<Entry>>();
  let count = 0;
  let subscription: BusSubscription | undefined;

  async function drain(entry: Entry): Promise<void> {
    entry.draining = true;
    for (let event = entry.queue.shift(); event; event = entry.queue.shift()) {
      try {
        await entry.handler(event);
      } catch (cause) {
        entry.onError(new Error(`bus: handler failed on ${describeEvent(event)}`, { cause }));
      }
    }
    entry.draining = false;
  }

  function route(event: BusEvent): void {
    if (!("clusterId" in event)) return;
    const entries = byCluster.get(event.clusterId);
    if (!entries) return;
    for (const entry of entries) {
      entry.queue.push(event);
      if (!entry.draining) void drain(entry);
    }
  }

  return {
    listen(clusterId, handler, onError) {
      const entry: Entry = { handler, onError, queue: [], draining: false };
      let entries = byCluster.get(clusterId);
      if (!entries) {
        entries = new Set();
        byCluster.set(clusterId, entries);
      }
      entries.add(entry);
      count += 1;
      // The handler only queues, so one cluster's slow stream never holds up the shared subscription.
      subscription ??= bus.subscribe(route, { onError: onSubscriptionError });
      const ready = subscription.ready;
      let listening = true;
      return {
        ready,
        unsubscribe() {
          if (!listening) return;
          listening = false;
          entry.queue.length = 0;
          const current = byCluster.get(clusterId);
          current?.delete(entry);
          if (current?.size === 0) byCluster.delete(clusterId);
          count -= 1;
          if (count === 0) {
            subscription?.unsubscribe();
            subscription = undefined;
          }
        },
      };
    },
    size: () => count,
  };
}
