import type { AgentState, AppRecord, HubIdentity, StateStore } from "../desired/state-store.js";

/** What the hub said about the desired state `digest` of one app. */
export type AppDelivery = { digest: string; seq: number; bundleDigest: string };

/**
 * A StateStore for the reconciler that also keeps what only the hub connection knows: the
 * identity (credential rotations, the seq cursor) and each app's seq and bundle digest.
 *
 * Why a wrapper: the reconciler holds the whole AgentState in memory and rewrites it on every
 * save, so anything another writer saved beside it would be overwritten by its next save. This
 * store keeps the hub's part apart and merges it into every save, whoever triggers it, and runs
 * all saves of the inner store one after another.
 */
export type HubStateStore = StateStore & {
  /** The state as the next save would write it; loads the inner store on first use. */
  read(): Promise<AgentState>;
  /**
   * Records the seq and bundle of `name`'s desired state `delivery.digest`; undefined forgets
   * them. Attached to the app's record only while the record holds that digest, so a crash
   * between saving the app and saving its delivery never pairs objects with another bundle.
   * Takes effect with the next save or flush.
   */
  setDelivery(name: string, delivery: AppDelivery | undefined): void;
  /** Forgets every app's seq (the hub's sequence history restarted) and the identity's cursor. */
  forgetSeqs(): void;
  /** Replaces the identity; takes effect with the next save or flush. */
  setIdentity(identity: HubIdentity): void;
  /** Saves the current state now; resolves once it is written. */
  flush(): Promise<void>;
};

/** Wraps `inner`; see HubStateStore. */
export function createHubStateStore(inner: StateStore): HubStateStore {
  // The reconciler's state as last loaded or saved; the hub's part is merged into it on write.
  let base: AgentState | undefined;
  let identity: HubIdentity | undefined;
  const deliveries = new Map<string, AppDelivery>();
  let writing: Promise<void> = Promise.resolve();

  async function load(): Promise<AgentState> {
    const state = await inner.load();
    base = state;
    identity = state.identity;
    deliveries.clear();
    for (const [name, record] of Object.entries(state.apps)) {
      if (record.seq !== undefined) {
        deliveries.set(name, {
          digest: record.desired.digest,
          seq: record.seq,
          bundleDigest: record.bundleDigest ?? "",
        });
      }
    }
    return state;
  }

  function merge(state: AgentState): AgentState {
    const apps: Record<string, AppRecord> = {};
    for (const [name, record] of Object.entries(state.apps)) {
      const { seq: _seq, bundleDigest: _bundleDigest, ...rest } = record;
      const delivery = deliveries.get(name);
      apps[name] =
        delivery !== undefined && delivery.digest === record.desired.digest
          ? { ...rest, seq: delivery.seq, bundleDigest: delivery.bundleDigest }
          : rest;
    }
    const merged: AgentState = { ...state, apps };
    if (identity !== undefined) merged.identity = identity;
    return merged;
  }

  // Each write merges at the moment it runs, so it carries the latest of both parts.
  function write(): Promise<void> {
    const next = writing.then(async () => {
      if (base === undefined) await load();
      await inner.save(merge(base ?? { apps: {} }));
    });
    writing = next.catch(() => {});
    return next;
  }

  return {
    location: inner.location,
    load,
    save(state) {
      base = state;
      return write();
    },
    async read() {
      if (base === undefined) await load();
      return merge(base ?? { apps: {} });
    },
    setDelivery(name, delivery) {
      if (delivery === undefined) deliveries.delete(name);
      else deliveries.set(name, { ...delivery });
    },
    forgetSeqs() {
      for (const delivery of deliveries.values()) delivery.seq = 0;
      if (identity !== undefined) identity = { ...identity, lastAppliedSeq: 0 };
    },
    setIdentity(next) {
      identity = { ...next };
    },
    flush: write,
  };
}
