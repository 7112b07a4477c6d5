/**
 * What the hub sends one agent, and in which order: the resume backlog computed from the agent's
 * Hello, then changes as they happen, through a bounded queue that keeps only the newest change
 * per app (latest wins), so a slow agent costs the hub at most one pending change per app.
 */

/** The hub's current desired state of one app in one cluster. */
export type DesiredEntry = { app: string; digest: string; bundleDigest: string; seq: bigint };

/** What the agent says it holds (Hello.held). */
export type HeldEntry = { app: string; digest: string; seq: bigint };

export type Change =
  | { kind: "upsert"; app: string; seq: bigint; digest: string; bundleDigest: string }
  | { kind: "removal"; app: string; seq: bigint; prune: boolean };

export type ResumePlan = {
  /** Changes to send right after Welcome, in seq order. */
  backlog: Change[];
  /** The agent's seqs are from another history (the hub's store was recreated). */
  seqReset: boolean;
};

/**
 * The backlog that brings an agent from what it holds to the desired state: an upsert for every
 * app it lacks or holds with another digest, a removal for every app it holds that is no longer
 * desired. A removal gets `removalSeq` (a seq the caller allocated above every desired seq) and
 * the prune decision of `pruneOnRemoval`.
 */
export function planResume(args: {
  desired: readonly DesiredEntry[];
  held: readonly HeldEntry[];
  lastAppliedSeq: bigint;
  latestSeq: bigint;
  removalSeq: (app: string) => bigint;
  pruneOnRemoval: (app: string) => boolean;
}): ResumePlan {
  const held = new Map(args.held.map((entry) => [entry.app, entry]));
  const desired = new Map(args.desired.map((entry) => [entry.app, entry]));
  const backlog: Change[] = [];
  for (const entry of args.desired) {
    if (held.get(entry.app)?.digest === entry.digest) continue;
    backlog.push({ kind: "upsert", ...entry });
  }
  for (const entry of args.held) {
    if (desired.has(entry.app)) continue;
    backlog.push({
      kind: "removal",
      app: entry.app,
      seq: args.removalSeq(entry.app),
      prune: args.pruneOnRemoval(entry.app),
    });
  }
  backlog.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : a.app < b.app ? -1 : 1));
  return { backlog, seqReset: args.lastAppliedSeq > args.latestSeq };
}

export type DeliveryQueue = {
  /** Queues a change; a pending change of the same app is replaced (latest wins). */
  push(change: Change): void;
  /** The oldest pending change (lowest seq), removed from the queue; undefined when empty. */
  take(): Change | undefined;
  /** Changes sent and not acknowledged yet, by app. */
  sent(change: Change): void;
  /** An ack for `app` at `seq` clears what was sent for it up to that seq. */
  ack(app: string, seq: bigint): void;
  /** Sent and unacknowledged changes, to resend on the next stream (seq order). */
  unacknowledged(): Change[];
  pendingCount(): number;
  /** Changes not acknowledged yet: waiting to be sent plus sent and unacknowledged. */
  depth(): number;
};

/**
 * A per-connection queue. At most one pending change per app, so its size is bounded by the
 * number of apps the cluster has, whatever the rate of changes; a change that is superseded
 * before it was sent is never sent.
 */
export function createDeliveryQueue(): DeliveryQueue {
  const pending = new Map<string, Change>();
  const inFlight = new Map<string, Change>();
  return {
    push(change) {
      const current = pending.get(change.app);
      if (current && current.seq > change.seq) return; // an older change arriving late
      pending.set(change.app, change);
    },
    take() {
      let oldest: Change | undefined;
      for (const change of pending.values()) if (!oldest || change.seq < oldest.seq) oldest = change;
      if (oldest) pending.delete(oldest.app);
      return oldest;
    },
    sent(change) {
      inFlight.set(change.app, change);
    },
    ack(app, seq) {
      const change = inFlight.get(app);
      if (change && change.seq <= seq) inFlight.delete(app);
    },
    unacknowledged() {
      return [...inFlight.values()].sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
    },
    pendingCount: () => pending.size,
    depth: () => pending.size + inFlight.size,
  };
}
