import type { AppStatus } from "../reconcile/app-status.js";
import type { Reconciler } from "../reconcile/reconciler.js";
import type { HubSink } from "./hub-connection.js";
import type { HubStateStore } from "./hub-state-store.js";
import type { StatusReport } from "./to-app-status-message.js";

/**
 * Status and removal events of a reconciler, for the hub connection. Pass `publish` and
 * `removed` as the reconciler's `onStatus` and `onRemoved`.
 */
export type StatusFeed = {
  publish(status: AppStatus): void;
  removed(name: string): void;
  subscribe(listener: (report: StatusReport) => void): () => void;
};

export function createStatusFeed(): StatusFeed {
  const listeners = new Set<(report: StatusReport) => void>();
  const emit = (report: StatusReport) => {
    for (const listener of listeners) listener(report);
  };
  return {
    publish: (status) => emit({ app: status.name, status }),
    removed: (name) => emit({ app: name, status: undefined }),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** The part of a Reconciler the hub connection drives. */
export type ReconcilerPort = Pick<Reconciler, "upsert" | "remove" | "sync" | "statuses">;

/**
 * A HubSink over a reconciler created with `store` (a HubStateStore) and whose status callbacks
 * feed `feed`. Start the reconciler (which loads the store) before connecting. A SyncCommand
 * runs the reconciler's explicit sync of the whole app; dry-run and resource-subset syncs are
 * refused (the hub sees an Error operation), `prune` and `force` follow the app's own policy.
 */
export function createReconcilerSink(
  reconciler: ReconcilerPort,
  store: HubStateStore,
  feed: StatusFeed,
): HubSink {
  async function advanceCursor(seq: bigint): Promise<void> {
    const identity = (await store.read()).identity;
    if (identity !== undefined && seq > BigInt(identity.lastAppliedSeq ?? 0)) {
      store.setIdentity({ ...identity, lastAppliedSeq: toStoredSeq(seq) });
    }
  }

  return {
    async held() {
      const state = await store.read();
      return {
        apps: Object.entries(state.apps).map(([name, record]) => ({
          app: name,
          digest: record.desired.digest,
          seq: BigInt(record.seq ?? 0),
          bundleDigest: record.bundleDigest ?? "",
        })),
        lastAppliedSeq: BigInt(state.identity?.lastAppliedSeq ?? 0),
      };
    },

    async bundleObjects(bundleDigest) {
      if (bundleDigest === "") return undefined;
      const state = await store.read();
      const record = Object.values(state.apps).find((r) => r.bundleDigest === bundleDigest);
      // A copy: the reconciler owns the objects of the app they came from.
      return record === undefined ? undefined : structuredClone(record.desired.objects);
    },

    async upsert(app, delivery) {
      // Recorded first, so whichever save comes next (the reconciler's or ours) carries it.
      store.setDelivery(app.name, {
        digest: app.digest,
        seq: toStoredSeq(delivery.seq),
        bundleDigest: delivery.bundleDigest,
      });
      await advanceCursor(delivery.seq);
      await reconciler.upsert(app);
      // The reconciler skips its save when the digest is unchanged; the seq still has to land.
      await store.flush();
    },

    async remove(name, removal) {
      await reconciler.remove(name, { prune: removal.prune });
      store.setDelivery(name, undefined);
      await advanceCursor(removal.seq);
      await store.flush();
    },

    async forgetSeqs() {
      store.forgetSeqs();
      await store.flush();
    },

    async sync(request) {
      if (request.dryRun) throw new Error(`app ${request.app}: this agent cannot run a dry-run sync`);
      if (request.resources.length > 0) {
        throw new Error(`app ${request.app}: this agent can only sync a whole app, not selected resources`);
      }
      return reconciler.sync(request.app);
    },

    statuses: () => reconciler.statuses(),
    watchStatuses: (listener) => feed.subscribe(listener),

    async saveCredential(credential) {
      const identity = (await store.read()).identity;
      if (identity === undefined)
        throw new Error(`${store.location}: no identity to rotate the credential of`);
      store.setIdentity({ ...identity, credential });
      await store.flush();
    },
  };
}

/** Seqs are stored as JSON numbers; a hub would need 2^53 changes to one cluster to exceed that. */
function toStoredSeq(seq: bigint): number {
  if (seq > BigInt(Number.MAX_SAFE_INTEGER))
    throw new Error(`seq ${seq} is beyond what the state store keeps`);
  return Number(seq);
}
