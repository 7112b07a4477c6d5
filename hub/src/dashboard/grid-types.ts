/**
 * The JSON of GET /api/v1/grid (hub/src/dashboard/grid-route.ts), shared with the browser code
 * (hub/web/src/api-types.ts): types only, no runtime imports.
 */
import type { ClusterState, HealthCode, StatusCounts, SyncCode } from "../fleet/fleet-index.js";

export type GridApp = {
  app: string;
  /** The grid column the app is shown in (see the file comment). */
  column: string;
  sync: SyncCode;
  health: HealthCode;
  stale: boolean;
  problem: boolean;
  message: string;
  revision: string;
  desiredRevision: string;
  delivered: boolean;
};

export type GridCluster = {
  name: string;
  labels: Record<string, string>;
  connection: ClusterState;
  /** ISO time of the agent's last message as the index knows it; null before the first. */
  lastSeen: string | null;
  /** Only the apps matching the app filters, by name. */
  apps: GridApp[];
};

export type GridResponse = {
  clusters: GridCluster[];
  /** Every column of the clusters the caller may see (whatever the filters), sorted. */
  apps: string[];
  /** Pass as `after` for the next page; null on the last page. */
  next: string | null;
  /** Clusters matching the filters, over all pages. */
  matchedClusters: number;
  /** Over every matching app of every matching cluster, all pages. */
  counts: StatusCounts;
  /** The same counts per column. */
  countsByApp: Record<string, StatusCounts>;
};
