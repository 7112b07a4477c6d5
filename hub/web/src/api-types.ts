/**
 * The JSON the dashboard reads: the grid route (hub/src/dashboard/grid-route.ts), the rollout
 * routes (createRolloutApi in hub/src/api/http-api.ts) and the protobuf JSON mapping of
 * FleetService responses (docs/api.md). Only the fields it uses.
 */

import type { GridResponse, GridCluster as SentGridCluster } from "../../src/dashboard/grid-types.js";
import type { StatusCounts } from "../../src/fleet/fleet-index.js";
import type { RolloutView } from "../../src/rollout/rollout-view.js";

export type { GridApp } from "../../src/dashboard/grid-types.js";
export type Counts = StatusCounts;
/** A grid row; live changes may also set a connection the grid route does not send. */
export type GridCluster = Omit<SentGridCluster, "connection"> & { connection: string };
export type GridPage = Omit<GridResponse, "clusters"> & { clusters: GridCluster[] };

export type ClusterJson = {
  name: string;
  id: string;
  labels: Record<string, string>;
  serverUrl: string;
  agentVersion: string;
  kubeVersion: string;
  connection: string;
  registeredAt?: string;
  lastSeenAt?: string;
  apps: Counts;
  desiredSeq: string;
  ackedSeq: string;
  hubReplica: string;
};

export type StatusRowJson = {
  cluster: string;
  app: string;
  connection?: string;
  syncStatus?: string;
  healthStatus?: string;
  message?: string;
  desiredRevision?: string;
  revision?: string;
  desiredDigest?: string;
  delivered?: boolean;
  operationPhase?: string;
  problemCount?: number;
  observedAt?: string;
};

export type GetClusterJson = { cluster: ClusterJson; apps: StatusRowJson[] };

export type ProblemJson = {
  app: string;
  cluster: string;
  reason: string;
  message: string;
  path: string;
  observedAt?: string;
};

export type ResourceJson = {
  group: string;
  version: string;
  kind: string;
  namespace: string;
  name: string;
  syncStatus: string;
  healthStatus: string;
  message: string;
  lastResult: string;
  hook: boolean;
  wave: number;
  requiresPruning: boolean;
};

export type AppStatusJson = {
  app: string;
  digest: string;
  revision: string;
  syncStatus: string;
  healthStatus: string;
  healthMessage: string;
  operation?: { phase: string; message: string; startedAt?: string; finishedAt?: string; revision: string };
  resources: ResourceJson[];
  conditions: { type: string; message: string; observedAt?: string }[];
  observedAt?: string;
};

export type AppTargetJson = {
  cluster: string;
  desiredDigest: string;
  desiredRevision: string;
  seq: string;
  ackedDigest: string;
  status?: AppStatusJson;
};

export type AppJson = {
  name: string;
  project: string;
  source?: { repoUrl: string; path: string; targetRevision: string; chart: string };
  sourceName: string;
  parent: string;
  counts: Counts;
  problems: ProblemJson[];
};

export type GetAppJson = { app: AppJson; targets: AppTargetJson[] };

export type SourceJson = {
  name: string;
  repoUrl: string;
  path: string;
  targetRevision: string;
  revision: string;
  fetchedAt?: string;
  error: string;
};

export type EventJson = {
  id: string;
  at?: string;
  kind: string;
  cluster: string;
  app: string;
  revision: string;
  digest: string;
  message: string;
  actor: string;
  details?: Record<string, unknown>;
};

export type ListEventsJson = { events: EventJson[]; nextPageToken: string };

/** One message of /api/v1/watch (a WatchFleetResponse; implicit fields may be absent). */
export type WatchMessage = {
  clusterChanged?: Partial<ClusterJson> & { name: string };
  clusterRemoved?: string;
  statusChanged?: StatusRowJson;
  statusRemoved?: StatusRowJson;
  dropped?: number;
};

export type { RolloutView } from "../../src/rollout/rollout-view.js";

/** GET /api/v1/rollouts. */
export type RolloutListJson = { rollouts: RolloutView[]; canControl: boolean };

/** POST /api/v1/rollouts/{name}/{action}. */
export type RolloutActionJson = { applied: boolean; rollout: RolloutView };
