/**
 * The hub's records (store rows, fleet index entries, resolve results) as FleetService messages.
 * Pure functions: no store access, no clock other than the `now` passed in.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { HealthStatus, type StatusCountsSchema, SyncStatus } from "@flotilla/proto/gen/flotilla/v1/app_pb";
import {
  type BootstrapTokenSchema,
  type ClusterSchema,
  ConnectionState,
  type FleetStatusRowSchema,
  type ProblemSchema,
  type SourceSchema,
} from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { HEALTH_STATUS, SYNC_STATUS } from "@flotilla/proto/status-names";
import {
  emptyCounts,
  type HealthCode,
  type IndexedApp,
  type StatusCounts,
  type SyncCode,
} from "../fleet/fleet-index.js";
import type { ProblemRecord, SourceStatus } from "../server/hub-runtime.js";
import { redactRepoUrl } from "../source/normalize-repo-url.js";
import type { BootstrapToken, Cluster, ClusterState } from "../store/store.js";

export type ClusterMessage = MessageInitShape<typeof ClusterSchema>;
export type StatusRowMessage = MessageInitShape<typeof FleetStatusRowSchema>;

export { HEALTH_STATUS, SYNC_STATUS };

/** The index's code of an enum value; undefined for UNSPECIFIED. */
export function syncCodeOf(status: SyncStatus): SyncCode | undefined {
  return (Object.keys(SYNC_STATUS) as SyncCode[]).find((code) => SYNC_STATUS[code] === status);
}

export function healthCodeOf(status: HealthStatus): HealthCode | undefined {
  return (Object.keys(HEALTH_STATUS) as HealthCode[]).find((code) => HEALTH_STATUS[code] === status);
}

/** An agent status string ("Synced", "Degraded", ...) as an enum; anything else is UNKNOWN. */
export function syncStatusOf(text: string): SyncStatus {
  return SYNC_STATUS[text as SyncCode] ?? SyncStatus.UNKNOWN;
}

export function healthStatusOf(text: string): HealthStatus {
  return HEALTH_STATUS[text as HealthCode] ?? HealthStatus.UNKNOWN;
}

/** How often agents must speak; a connected cluster silent for three intervals is STALE. */
export type Liveness = { now: Date; heartbeatIntervalMs: number };

/**
 * CONNECTED turns STALE when `lastSeen` (the store's last-seen time, which agents' heartbeats
 * move) is older than three heartbeat intervals. The fleet index does not follow heartbeats, so
 * callers without the store row pass no `lastSeen` and never report STALE.
 */
export function connectionOf(
  state: ClusterState,
  lastSeen: Date | null | undefined,
  liveness: Liveness,
): ConnectionState {
  if (state === "Pending") return ConnectionState.PENDING;
  if (state === "Disconnected") return ConnectionState.DISCONNECTED;
  if (lastSeen && liveness.now.getTime() - lastSeen.getTime() > 3 * liveness.heartbeatIntervalMs) {
    return ConnectionState.STALE;
  }
  return ConnectionState.CONNECTED;
}

function countSync(counts: StatusCounts, sync: SyncCode): void {
  if (sync === "Synced") counts.synced += 1;
  else if (sync === "OutOfSync") counts.outOfSync += 1;
  else counts.syncUnknown += 1;
}

const HEALTH_FIELD: Record<HealthCode, keyof StatusCounts> = {
  Healthy: "healthy",
  Progressing: "progressing",
  Degraded: "degraded",
  Suspended: "suspended",
  Missing: "missing",
  Unknown: "healthUnknown",
};

/** Adds one app to `counts` (total, its sync and its health). */
export function countApp(counts: StatusCounts, app: Pick<IndexedApp, "sync" | "health">): void {
  counts.total += 1;
  countSync(counts, app.sync);
  counts[HEALTH_FIELD[app.health]] += 1;
}

export function countApps(apps: readonly Pick<IndexedApp, "sync" | "health">[]): StatusCounts {
  const counts = emptyCounts();
  for (const app of apps) countApp(counts, app);
  return counts;
}

export function toCountsMessage(counts: StatusCounts): MessageInitShape<typeof StatusCountsSchema> {
  return { ...counts };
}

/** A cluster from its store row, with counts over its apps in the fleet index. */
export function toClusterMessage(
  cluster: Cluster,
  apps: readonly IndexedApp[],
  liveness: Liveness,
  extra: { credentialRotatedAt?: Date; hubReplica?: string } = {},
): ClusterMessage {
  return {
    name: cluster.name,
    id: cluster.id,
    labels: { ...cluster.labels },
    serverUrl: cluster.serverUrl,
    agentVersion: cluster.agentVersion,
    kubeVersion: cluster.kubeVersion,
    connection: connectionOf(cluster.state, cluster.lastSeenAt, liveness),
    registeredAt: timestampFromDate(cluster.createdAt),
    ...(cluster.lastSeenAt ? { lastSeenAt: timestampFromDate(cluster.lastSeenAt) } : {}),
    apps: toCountsMessage(countApps(apps)),
    desiredSeq: BigInt(cluster.desiredSeq),
    ackedSeq: BigInt(cluster.ackedSeq),
    hubReplica: extra.hubReplica ?? "",
    ...(extra.credentialRotatedAt
      ? { credentialRotatedAt: timestampFromDate(extra.credentialRotatedAt) }
      : {}),
  };
}

/** One (cluster, app) row from the index entry. */
export function toStatusRow(
  clusterName: string,
  connection: ConnectionState,
  app: IndexedApp,
  problemCount = 0,
): StatusRowMessage {
  return {
    cluster: clusterName,
    app: app.app,
    connection,
    syncStatus: SYNC_STATUS[app.sync],
    healthStatus: HEALTH_STATUS[app.health],
    message: app.message,
    desiredRevision: app.desiredRevision ?? "",
    revision: app.revision,
    desiredDigest: app.desiredDigest ?? "",
    delivered: app.delivered ?? false,
    problemCount,
    ...(app.observedAt ? { observedAt: timestampFromDate(new Date(app.observedAt)) } : {}),
  };
}

export function toProblemMessage(problem: ProblemRecord): MessageInitShape<typeof ProblemSchema> {
  return {
    app: problem.app,
    cluster: problem.cluster,
    reason: problem.reason,
    message: problem.message,
    path: problem.path,
    observedAt: timestampFromDate(problem.observedAt),
  };
}

export function toSourceMessage(source: SourceStatus): MessageInitShape<typeof SourceSchema> {
  return {
    name: source.id,
    // A source from the config file may carry credentials in its URL; they are never shown.
    repoUrl: redactRepoUrl(source.repoUrl),
    path: source.path,
    targetRevision: source.targetRevision,
    pollInterval: durationFromMs(source.pollIntervalMs),
    revision: source.revision,
    ...(source.fetchedAt ? { fetchedAt: timestampFromDate(source.fetchedAt) } : {}),
    error: source.error,
    appCount: source.appCount,
  };
}

/** Whether a bootstrap token can still be used: not revoked, not expired, uses left. */
export function isActiveToken(token: BootstrapToken, now: Date): boolean {
  if (token.revokedAt) return false;
  if (token.expiresAt && token.expiresAt.getTime() <= now.getTime()) return false;
  return token.maxUses === null || token.uses < token.maxUses;
}

export function toBootstrapTokenMessage(
  token: BootstrapToken,
  description = "",
): MessageInitShape<typeof BootstrapTokenSchema> {
  return {
    id: token.id,
    description,
    labels: { ...token.labels },
    createdAt: timestampFromDate(token.createdAt),
    ...(token.expiresAt ? { expiresAt: timestampFromDate(token.expiresAt) } : {}),
    maxUses: token.maxUses ?? 0,
    uses: token.uses,
    revoked: token.revokedAt !== null,
    createdBy: token.createdBy,
  };
}
