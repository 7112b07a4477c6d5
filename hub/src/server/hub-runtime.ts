/**
 * What the hub's request handlers (FleetService, the HTTP API, webhooks) are given: the shared
 * store, bus and fleet index of this replica, plus the operations that involve the resolver or
 * an agent stream, which may live on another replica. `startHub` (start-hub.ts) builds one.
 */
import type { Bus } from "../bus/bus.js";
import type { FleetIndex } from "../fleet/fleet-index.js";
import type { Store } from "../store/store.js";

export type LogLevel = "debug" | "info" | "warn" | "error";

/** Structured JSON logging; fields must never carry a token or credential. */
export type Logger = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

/** One resolve problem, as the latest resolve of its source reported it. */
export type ProblemRecord = {
  app: string;
  /** Empty when the problem belongs to no one cluster. */
  cluster: string;
  /** cycle, duplicate, destination, render, unsupported, invalid, limit, source */
  reason: string;
  message: string;
  /** File or directory in the repository, when known. */
  path: string;
  observedAt: Date;
};

/** What the latest resolve of one source found; persisted so every replica can answer. */
export type SourceStatus = {
  /** The source's id (its name in the CLI and API). */
  id: string;
  repoUrl: string;
  path: string;
  targetRevision: string;
  pollIntervalMs: number;
  /** Commit of the latest successful fetch; "" before the first. */
  revision: string;
  fetchedAt: Date | null;
  /** Why the latest fetch or resolve failed as a whole; "" when it succeeded. */
  error: string;
  appCount: number;
};

/** One app of the fleet, as the latest resolves found it. */
export type AppSummary = {
  name: string;
  project: string;
  /** Id of the source whose tree declares it. */
  source: string;
  /** Where its objects come from (its first source), when it has targets. */
  appSource?: { repoUrl: string; path: string; targetRevision: string; chart: string };
  /** The Application or ApplicationSet that generated it; "" for the root. */
  parent: string;
  /** Names of the clusters it targets. */
  clusters: string[];
  /** Resolve problems of this app (the app keeps its previous targets while it has any). */
  problems: ProblemRecord[];
  /** Commit its objects were rendered from, when it has targets. */
  revision: string;
};

export type RefreshResult = {
  /** Every source after the refresh (only when this replica could wait for the resolve). */
  sources: SourceStatus[];
  /** (cluster, app) targets whose desired state changed. */
  changedTargets: number;
};

export type RotationResult = {
  /** The new credential, shown once; "" when no replica holds the agent's stream. */
  credential: string;
  /** The agent received it over its stream. */
  delivered: boolean;
  /** When the credentials it replaces stop working. */
  previousExpiresAt: Date;
};

export type HubRuntime = {
  store: Store;
  bus: Bus;
  /** This replica's fleet index, kept current from the store and the bus. */
  index: FleetIndex;
  hubVersion: string;
  /** `https://host:port` that agents and the CLI use; goes into join commands. */
  publicUrl: string;
  /** kubeadm-style `sha256:<hex>` of the hub CA's public key. */
  caHash: string;
  caCertPem: string;
  /** Heartbeat interval agents are told to use; a cluster is stale after three missed. */
  heartbeatIntervalMs: number;
  now(): Date;
  log: Logger;
  /** Every source with the outcome of its latest resolve. */
  sources(): Promise<SourceStatus[]>;
  /** Every app of every source's latest resolve, ordered by name. */
  apps(): Promise<AppSummary[]>;
  /**
   * Fetches and resolves now (the source with this id, or all), bypassing the render cache when
   * `hard`. Runs on the replica holding the resolver lease; resolves after that resolve ended.
   * Rejects with an Error naming the source when it is unknown.
   */
  refresh(options?: { source?: string; hard?: boolean }): Promise<RefreshResult>;
  /**
   * Tells every replica that a cluster's registration changed (labels) or that it was removed:
   * fleet indexes update, and the resolver re-resolves so apps move onto or off it.
   */
  clusterChanged(clusterId: string): Promise<void>;
  /**
   * Sends a new credential to the cluster's agent over its live stream (whichever replica
   * holds it); the cluster's other credentials stop working after `graceMs`. Rejects with an
   * Error when the cluster is unknown.
   */
  rotateCredential(clusterId: string, graceMs: number): Promise<RotationResult>;
  /**
   * Records a durable sync request and tells the replica holding the agent's stream; resolves
   * with whether a stream was open to send it on (the request waits in the store otherwise).
   */
  requestSync(request: {
    clusterId: string;
    app: string;
    requestId: string;
    prune: boolean;
    force: boolean;
    dryRun: boolean;
    requestedBy: string;
  }): Promise<{ sent: boolean }>;
};
