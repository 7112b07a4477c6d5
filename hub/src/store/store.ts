/**
 * The hub's durable store: what the hub keeps across restarts and shares between replicas.
 * `openStore()` (open-store.ts) returns one, backed by PGlite or PostgreSQL. Times are Dates;
 * expected refusals (an expired token, a taken name) are values, everything else throws.
 * Secrets go in as given and are kept as SHA-256 hex; no method returns a secret or its hash,
 * except `sources.getWebhookSecret`.
 */

export type ClusterState = "Pending" | "Connected" | "Disconnected";
export type ApiRole = "admin" | "viewer";
export type Labels = Record<string, string>;

export type Cluster = {
  id: string;
  name: string;
  /** uid of the cluster's kube-system namespace. */
  clusterUid: string;
  serverUrl: string;
  labels: Labels;
  annotations: Labels;
  kubeVersion: string;
  agentVersion: string;
  state: ClusterState;
  createdAt: Date;
  lastSeenAt: Date | null;
  /** The last seq assigned to a change of this cluster's targets; 0 before the first. */
  desiredSeq: number;
  /** The highest seq its agent acknowledged. */
  ackedSeq: number;
};

export type NewCluster = {
  id: string;
  name: string;
  clusterUid: string;
  serverUrl?: string;
  labels?: Labels;
  annotations?: Labels;
  kubeVersion?: string;
  agentVersion?: string;
};

export type ClusterConflict = { ok: false; reason: "name-taken" | "uid-taken" };

export type BootstrapToken = {
  id: string;
  labels: Labels;
  expiresAt: Date | null;
  maxUses: number | null;
  uses: number;
  revokedAt: Date | null;
  createdAt: Date;
  createdBy: string;
};

export type NewBootstrapToken = {
  id: string;
  secret: string;
  labels?: Labels;
  /** Null or absent: never expires. */
  expiresAt?: Date | null;
  /** Null or absent: unlimited. */
  maxUses?: number | null;
  createdBy?: string;
};

export type TokenRefusal = "unknown" | "revoked" | "expired" | "used-up";
export type ConsumeTokenResult = { ok: true; token: BootstrapToken } | { ok: false; reason: TokenRefusal };

export type Registration = {
  token: { id: string; secret: string };
  /** The cluster as the agent describes it; `id` is used only when the cluster is new. */
  cluster: NewCluster;
  credential: { id: string; secret: string };
};

export type RegisterResult =
  | { ok: true; cluster: Cluster; rejoined: boolean }
  | { ok: false; reason: TokenRefusal | "name-taken" };

export type ClusterCredential = {
  id: string;
  clusterId: string;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
};

export type CredentialRefusal = "unknown" | "revoked" | "expired";

export type ApiToken = {
  id: string;
  name: string;
  role: ApiRole;
  clusterSelector: string | null;
  createdAt: Date;
  revokedAt: Date | null;
};

export type NewApiToken = {
  id: string;
  name: string;
  secret: string;
  role: ApiRole;
  clusterSelector?: string | null;
};

export type Source = {
  id: string;
  repoUrl: string;
  path: string;
  targetRevision: string;
  pollIntervalMs: number;
  /** Whether a webhook secret is set; the secret itself comes only from `getWebhookSecret`. */
  hasWebhookSecret: boolean;
  createdAt: Date;
};

export type NewSource = {
  id: string;
  repoUrl: string;
  path?: string;
  targetRevision?: string;
  pollIntervalMs: number;
  webhookSecret?: string | null;
};

/** The outcome of a source's latest resolve; `apps` is opaque to the store. */
export type SourceResolution = {
  sourceId: string;
  /** Commit of the latest successful fetch; "" before the first. */
  revision: string;
  fetchedAt: Date | null;
  /** Why the latest fetch or resolve failed as a whole; "" when it succeeded. */
  error: string;
  apps: unknown[];
  updatedAt: Date;
};

export type Bundle = { digest: string; encoding: string; bytes: Uint8Array; objectCount: number };

/** The DesiredApp fields other than the bundle bytes, as the plan stage hands them over. */
export type TargetInput = {
  app: string;
  digest: string;
  bundleDigest: string;
  /** namespace, project, revision, source, syncPolicy, ignoreDifferences, bundleEncoding, ... */
  desired: Record<string, unknown>;
};

export type Target = TargetInput & {
  clusterId: string;
  /** The cluster's seq of this target's last change. */
  seq: number;
  ackedSeq: number;
  /** A removal the agent has not acknowledged yet. */
  removed: boolean;
  updatedAt: Date;
};

export type ApplyTargetsResult = {
  /** New targets and targets whose digest changed, each with its new seq, in seq order. */
  changed: Target[];
  /** Apps no longer targeted, each with the seq of its removal, in seq order. */
  removed: { app: string; seq: number }[];
};

export type AppStatusRecord = {
  clusterId: string;
  app: string;
  digest: string;
  revision: string;
  sync: string;
  health: string;
  healthMessage: string;
  operation: Record<string, unknown> | null;
  resources: unknown[];
  conditions: unknown[];
  observedAt: Date;
  /** The cluster stopped talking after this report. */
  stale: boolean;
};

export type AppStatusInput = Omit<
  AppStatusRecord,
  "stale" | "healthMessage" | "operation" | "resources" | "conditions"
> &
  Partial<Pick<AppStatusRecord, "healthMessage" | "operation" | "resources" | "conditions">>;

export type HubEvent = {
  id: number;
  at: Date;
  clusterId: string | null;
  app: string | null;
  type: string;
  message: string;
  data: Record<string, unknown>;
};

export type NewEvent = {
  /** Default: the store's clock. */
  at?: Date;
  clusterId?: string | null;
  app?: string | null;
  type: string;
  message?: string;
  data?: Record<string, unknown>;
};

export type EventQuery = {
  clusterId?: string;
  app?: string;
  type?: string;
  /** Only events at or after this time. */
  since?: Date;
  /** Only events with an id below this (the previous page's `next`). */
  before?: number;
  /**
   * Only events with an id above this, and the page is oldest first (tailing the history):
   * `next` is then the `after` of the following page.
   */
  after?: number;
  /** Default 100, at most 1,000. */
  limit?: number;
};

/**
 * Newest first (oldest first with `after`); `next` is the `before` (`after`) of the following
 * page, absent on the last page.
 */
export type EventPage = { events: HubEvent[]; next?: number };

export type SyncRequest = {
  id: number;
  clusterId: string;
  app: string;
  requestId: string;
  prune: boolean;
  dryRun: boolean;
  force: boolean;
  requestedBy: string;
  createdAt: Date;
  ackedAt: Date | null;
};

export type NewSyncRequest = Pick<SyncRequest, "clusterId" | "app" | "requestId"> &
  Partial<Pick<SyncRequest, "prune" | "dryRun" | "force" | "requestedBy">>;

export type Lease = { name: string; holder: string; expiresAt: Date };

export type Store = {
  clusters: {
    /** Inserts a cluster in state Pending; refuses a taken name or cluster uid. */
    create(cluster: NewCluster): Promise<{ ok: true; cluster: Cluster } | ClusterConflict>;
    /**
     * Registration in one transaction: consumes a use of the bootstrap token, creates the cluster
     * (or, when its cluster uid is known, updates the existing one: a re-join, which revokes the
     * cluster's other credentials), applies the
     * token's labels over the agent's, and adds the credential. A refusal changes nothing.
     */
    register(registration: Registration): Promise<RegisterResult>;
    get(id: string): Promise<Cluster | undefined>;
    getByName(name: string): Promise<Cluster | undefined>;
    getByUid(clusterUid: string): Promise<Cluster | undefined>;
    /** Ordered by name. */
    list(): Promise<Cluster[]>;
    /** Sets labels (key: value) and removes keys mapped to null; returns the result, or undefined when absent. */
    updateLabels(id: string, changes: Record<string, string | null>): Promise<Cluster | undefined>;
    /** Updates what the agent reports about itself on connect. */
    updateInfo(
      id: string,
      info: Partial<Pick<Cluster, "serverUrl" | "kubeVersion" | "agentVersion" | "annotations">>,
    ): Promise<void>;
    /** Deletes the cluster with its credentials, targets, statuses and sync requests; false when absent. */
    remove(id: string): Promise<boolean>;
    /** Records that its agent spoke at `at` (default: now). */
    markSeen(id: string, at?: Date): Promise<void>;
    /** markSeen for several clusters in one statement; unknown ids are ignored. */
    markSeenMany(ids: readonly string[], at?: Date): Promise<void>;
    setState(id: string, state: ClusterState): Promise<void>;
    /**
     * Turns the cluster Disconnected only if it is Connected and was last seen before `cutoff`,
     * in one statement, so a reconnect racing the watchdog is never undone. True when it did.
     */
    markDisconnectedIfSilent(id: string, cutoff: Date): Promise<boolean>;
  };
  bootstrapTokens: {
    create(token: NewBootstrapToken): Promise<BootstrapToken>;
    get(id: string): Promise<BootstrapToken | undefined>;
    /** Newest first, revoked and expired ones included. */
    list(): Promise<BootstrapToken[]>;
    /**
     * Checks the secret, revocation, expiry and uses, and counts a use, atomically: of concurrent
     * callers on a token with one use left exactly one succeeds.
     */
    consume(id: string, secret: string): Promise<ConsumeTokenResult>;
    /** False when unknown or already revoked. */
    revoke(id: string): Promise<boolean>;
  };
  credentials: {
    /**
     * Adds a credential for a cluster. With `retireOthersAt`, the cluster's other live
     * credentials stop working at that time (rotation with overlap).
     */
    add(credential: { id: string; clusterId: string; secret: string; retireOthersAt?: Date }): Promise<void>;
    /** The cluster a credential belongs to, when the secret matches and it is live. */
    verify(
      id: string,
      secret: string,
    ): Promise<{ ok: true; clusterId: string } | { ok: false; reason: CredentialRefusal }>;
    listForCluster(clusterId: string): Promise<ClusterCredential[]>;
    /** False when unknown or already revoked. */
    revoke(id: string): Promise<boolean>;
  };
  apiTokens: {
    create(token: NewApiToken): Promise<ApiToken>;
    verify(
      id: string,
      secret: string,
    ): Promise<{ ok: true; token: ApiToken } | { ok: false; reason: "unknown" | "revoked" }>;
    list(): Promise<ApiToken[]>;
    revoke(id: string): Promise<boolean>;
  };
  sources: {
    /** Refuses a second source with the same repo URL, path and revision. */
    add(source: NewSource): Promise<{ ok: true; source: Source } | { ok: false; reason: "exists" }>;
    get(id: string): Promise<Source | undefined>;
    list(): Promise<Source[]>;
    /** The webhook secret verbatim, for signature checks; null when none is set. */
    getWebhookSecret(id: string): Promise<string | null>;
    remove(id: string): Promise<boolean>;
    /** Replaces the source's resolution; ignored when the source was removed meanwhile. */
    putResolution(resolution: Omit<SourceResolution, "updatedAt">): Promise<void>;
    /** Resolutions of every source that has one. */
    listResolutions(): Promise<SourceResolution[]>;
  };
  bundles: {
    /** Content-addressed: a bundle whose digest is stored already is left as it is. True when inserted. */
    put(bundle: Bundle): Promise<boolean>;
    get(digest: string): Promise<Bundle | undefined>;
    has(digest: string): Promise<boolean>;
    /** Deletes bundles no target refers to and created before `olderThan`; returns how many. */
    pruneUnreferenced(olderThan: Date): Promise<number>;
  };
  targets: {
    /**
     * Replaces the cluster's targets with `next` in one transaction. New apps and apps whose
     * digest changed get increasing seqs after the cluster's desiredSeq; apps absent from
     * `next` become pending removals with a seq of their own; unchanged apps keep theirs.
     * Serialized per cluster, so seqs never repeat or go back. Throws for an unknown cluster.
     */
    apply(clusterId: string, next: TargetInput[]): Promise<ApplyTargetsResult>;
    /**
     * `apply` for many clusters in one transaction, with the same seq rules per cluster; the
     * result per cluster id. Throws for an unknown cluster or one listed twice, writing nothing.
     */
    applyMany(
      entries: readonly { clusterId: string; next: readonly TargetInput[] }[],
    ): Promise<Map<string, ApplyTargetsResult>>;
    /** Every target of the cluster, pending removals included, in seq order. */
    list(clusterId: string): Promise<Target[]>;
    /** Targets (and removals) whose seq is above what the agent acknowledged for them, in seq order. */
    listUnacked(clusterId: string): Promise<Target[]>;
    /**
     * Records the agent's ack of `app` at `seq`: raises the target's and the cluster's acked seq
     * (never lowers them) and deletes an acknowledged removal. False when no such target exists.
     */
    markAcked(clusterId: string, app: string, seq: number): Promise<boolean>;
  };
  statuses: {
    /** Stores the latest report of one app in one cluster and clears its stale flag. */
    upsert(status: AppStatusInput): Promise<void>;
    /**
     * upsert for many reports at once (a few statements of up to 1,000 rows); when one
     * (cluster, app) appears more than once, the last one wins.
     */
    upsertMany(statuses: readonly AppStatusInput[]): Promise<void>;
    get(clusterId: string, app: string): Promise<AppStatusRecord | undefined>;
    /** All statuses, or one cluster's, ordered by cluster id then app. */
    list(clusterId?: string): Promise<AppStatusRecord[]>;
    /** Marks every status of the cluster stale; returns how many. */
    markStale(clusterId: string): Promise<number>;
    remove(clusterId: string, app: string): Promise<boolean>;
  };
  events: {
    append(event: NewEvent): Promise<HubEvent>;
    /** Appends events in the given order (ids increase along it), without returning them. */
    appendMany(events: readonly NewEvent[]): Promise<void>;
    list(query?: EventQuery): Promise<EventPage>;
    /** Deletes events before `olderThan`, then the oldest beyond the newest `maxRows`; returns how many. */
    prune(retention: { olderThan?: Date; maxRows?: number }): Promise<number>;
  };
  syncRequests: {
    /** Refuses a request id seen before. */
    add(
      request: NewSyncRequest,
    ): Promise<{ ok: true; request: SyncRequest } | { ok: false; reason: "duplicate" }>;
    /** Requests not yet acknowledged, oldest first. */
    listPending(clusterId: string): Promise<SyncRequest[]>;
    /** False when unknown for this cluster or acknowledged already. */
    ack(clusterId: string, requestId: string): Promise<boolean>;
  };
  leases: {
    /**
     * Takes the lease for `ttlMs` when it is free, expired or held by `holder` already (then it
     * is renewed); true when `holder` holds it afterwards. Expiry uses the database clock, so
     * replicas with skewed clocks agree.
     */
    tryAcquire(name: string, holder: string, ttlMs: number): Promise<boolean>;
    /** Extends a lease `holder` still holds; false when it lost it. */
    renew(name: string, holder: string, ttlMs: number): Promise<boolean>;
    /** Gives the lease up if `holder` holds it. */
    release(name: string, holder: string): Promise<void>;
    get(name: string): Promise<Lease | undefined>;
  };
  rollouts: {
    /** Every rollout's stored state, by name. */
    list(): Promise<RolloutRecord[]>;
    get(name: string): Promise<RolloutRecord | undefined>;
    /** Replaces (or creates) a rollout's state. */
    put(name: string, state: Record<string, unknown>): Promise<void>;
    remove(name: string): Promise<boolean>;
    /** Queues a command for the resolving replica; the command with its id. */
    addCommand(command: NewRolloutCommand): Promise<RolloutCommand>;
    /** Queued commands, oldest first. */
    listCommands(): Promise<RolloutCommand[]>;
    /** Deletes commands once carried out (or refused). */
    removeCommands(ids: readonly number[]): Promise<void>;
  };
  /**
   * True when the database answers a trivial query within `timeoutMs` (default 2 000); false
   * when it is unreachable, failing or too slow, or the store is closed. Never throws.
   */
  ping(timeoutMs?: number): Promise<boolean>;
  /** Closes the database (PGlite) or the connection pool (PostgreSQL). */
  close(): Promise<void>;
};

export type RolloutRecord = { name: string; state: Record<string, unknown>; updatedAt: Date };

export type RolloutAction = "pause" | "resume" | "abort" | "promote";

export type NewRolloutCommand = { rollout: string; action: RolloutAction; all: boolean; actor: string };

export type RolloutCommand = NewRolloutCommand & { id: number; createdAt: Date };
