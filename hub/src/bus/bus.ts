/**
 * The hub replicas' shared nervous system: desired-state changes, statuses, cluster
 * connectivity and sync requests fan out to every replica, and leases elect the one replica
 * that polls Git and resolves. Two implementations: `createLocalBus` (in-process, the embedded
 * default) and `connectNatsBus` (JetStream, several replicas).
 */

export type ClusterState = "Connected" | "Disconnected" | "Pending";

export type BusEvent =
  /** `seq` is the cluster's delivery sequence, a bigint as a decimal string. */
  | { type: "targets-changed"; clusterId: string; apps: string[]; seq: string }
  | {
      type: "status";
      clusterId: string;
      app: string;
      digest: string;
      sync: string;
      health: string;
      observedAt: string;
      /** Commit of the desired state last synced. */
      revision: string;
      /** Why it is not Synced and Healthy; "" when it is. */
      message: string;
      /** The agent dropped the app: the (cluster, app) row goes away. */
      removed?: boolean;
    }
  | { type: "cluster"; clusterId: string; state: ClusterState; replica: string; at: string }
  | { type: "sync-request"; clusterId: string; app: string; requestId: string }
  /** A cluster's labels changed or it was removed: indexes reload it, the resolver re-resolves. */
  | { type: "cluster-changed"; clusterId: string }
  /** Asks the resolver leader to resolve now; `source` "" means every source. */
  | { type: "refresh"; requestId: string; source: string; hard: boolean }
  /** The resolver finished a resolve (of the refresh `requestId`, "" for a poll). */
  | { type: "resolved"; requestId: string; changedTargets: number; error: string }
  /** Asks the replica holding the cluster's stream to rotate its credential. */
  | { type: "rotate-credential"; clusterId: string; requestId: string; graceMs: number }
  /** Answer to rotate-credential from the replica that did it. Never carries the credential. */
  | { type: "credential-rotated"; clusterId: string; requestId: string; delivered: boolean };

export type BusEventType = BusEvent["type"];

export type BusHandler = (event: BusEvent) => void | Promise<void>;

export type SubscribeOptions = {
  /**
   * Receives every error the subscription survives: a handler that threw or rejected, a
   * malformed message that was dropped, a consumer that had to be recreated. The caller logs
   * it; the subscription keeps delivering.
   */
  onError?: (error: Error) => void;
};

export type BusSubscription = {
  /**
   * Resolves once every event published from now on is delivered to this subscription (the
   * NATS bus has pinned its start sequence). Never rejects; resolves too on unsubscribe.
   */
  ready: Promise<void>;
  unsubscribe(): void;
};

/** Counters since the bus was created, for `/metrics`. */
export type BusStats = {
  published: number;
  /** Events handed to handlers, summed over subscriptions. */
  delivered: number;
  /** Incoming messages that were not a valid BusEvent, summed over subscriptions. */
  dropped: number;
  handlerErrors: number;
};

export interface Bus {
  /**
   * Delivers `event` at least once to every subscription of every replica, including the
   * publisher's own, in publish order per publisher. Resolves once the event is stored
   * (NATS: acknowledged by JetStream); rejects when it could not be.
   */
  publish(event: BusEvent): Promise<void>;
  /**
   * Calls `handler` for every event published after `ready`, one at a time per subscription
   * (the next event waits for the handler's promise). A handler that throws does not stop
   * the subscription; see SubscribeOptions.onError.
   */
  subscribe(handler: BusHandler, options?: SubscribeOptions): BusSubscription;
  /**
   * Leader lease: resolves true when `holder` holds `name` after the call (acquired or renewed
   * for `ttlMs`), false when another holder does. A holder that stops renewing loses the
   * lease `ttlMs` after its last renewal; it must count its own lease from before the call
   * that returned true. Rejects when the lease store is unreachable: treat that as not held.
   */
  tryLease(name: string, holder: string, ttlMs: number): Promise<boolean>;
  /** Gives up `name` if `holder` holds it, so another holder need not wait for the TTL. */
  releaseLease(name: string, holder: string): Promise<void>;
  stats(): BusStats;
  /** Stops every subscription and frees the connection; publish rejects afterwards. */
  close(): Promise<void>;
}

/** Lease names double as NATS KV keys. */
const LEASE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.=-]*$/;

export function checkLeaseArgs(name: string, holder: string, ttlMs: number): void {
  if (!LEASE_NAME.test(name)) throw new Error(`lease ${JSON.stringify(name)}: name must match ${LEASE_NAME}`);
  if (holder === "") throw new Error(`lease ${name}: holder must not be empty`);
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new Error(`lease ${name}: ttlMs must be positive`);
}
