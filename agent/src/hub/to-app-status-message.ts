import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  type AppStatusSchema,
  HealthStatus,
  ResourceResult,
  type StatusCountsSchema,
} from "@flotilla/proto/gen/flotilla/v1/app_pb";
import { HEALTH_STATUS, OPERATION_PHASE, SYNC_STATUS } from "@flotilla/proto/status-names";
import type { AppStatus, ResourceResult as ResultName } from "../reconcile/app-status.js";

const results: Record<ResultName, ResourceResult> = {
  created: ResourceResult.CREATED,
  configured: ResourceResult.CONFIGURED,
  unchanged: ResourceResult.UNCHANGED,
  pruned: ResourceResult.PRUNED,
  failed: ResourceResult.FAILED,
};

/** An AppStatus report: `removed` when the app is gone, else the agent's status converted. */
export type StatusReport = { app: string; status: AppStatus | undefined };

/**
 * The wire AppStatus of one report. `requestId` tags the operation a SyncCommand started;
 * `observedAtMs` stamps the status and its conditions (the agent's AppStatus carries no time).
 * Timestamps the agent keeps as ISO strings that do not parse are left unset.
 */
export function toAppStatusMessage(
  report: StatusReport,
  options: { observedAtMs: number; requestId?: string },
): MessageInitShape<typeof AppStatusSchema> {
  const observedAt = timestampFromMs(options.observedAtMs);
  const status = report.status;
  if (status === undefined) return { app: report.app, removed: true, observedAt };
  const operation = status.operation;
  return {
    app: status.name,
    digest: status.digest,
    revision: status.revision,
    syncStatus: SYNC_STATUS[status.sync],
    healthStatus: HEALTH_STATUS[status.health],
    healthMessage: status.healthMessage,
    ...(operation
      ? {
          operation: {
            phase: OPERATION_PHASE[operation.phase],
            message: operation.message,
            revision: operation.revision,
            requestId: options.requestId ?? "",
            startedAt: toTimestamp(operation.startedAt),
            finishedAt: toTimestamp(operation.finishedAt),
          },
        }
      : {}),
    resources: status.resources.map((r) => ({
      group: r.group,
      version: r.version,
      kind: r.kind,
      namespace: r.namespace,
      name: r.name,
      syncStatus: SYNC_STATUS[r.sync],
      healthStatus: r.health === undefined ? HealthStatus.UNSPECIFIED : HEALTH_STATUS[r.health],
      message: r.message,
      lastResult: results[r.result],
      hook: r.hook !== undefined,
      wave: r.wave,
      requiresPruning: r.requiresPruning,
    })),
    conditions: status.conditions.map((c) => ({ type: c.type, message: c.message, observedAt })),
    observedAt,
  };
}

/** Counts of `names` by the sync and health of their status; an app without one counts as Unknown. */
export function countStatuses(
  names: Iterable<string>,
  statuses: ReadonlyMap<string, AppStatus>,
): MessageInitShape<typeof StatusCountsSchema> {
  const counts = {
    total: 0,
    synced: 0,
    outOfSync: 0,
    syncUnknown: 0,
    healthy: 0,
    progressing: 0,
    degraded: 0,
    suspended: 0,
    missing: 0,
    healthUnknown: 0,
  };
  const syncField = { Synced: "synced", OutOfSync: "outOfSync", Unknown: "syncUnknown" } as const;
  const healthField = {
    Healthy: "healthy",
    Progressing: "progressing",
    Degraded: "degraded",
    Suspended: "suspended",
    Missing: "missing",
    Unknown: "healthUnknown",
  } as const;
  for (const name of names) {
    const status = statuses.get(name);
    counts.total += 1;
    counts[syncField[status?.sync ?? "Unknown"]] += 1;
    counts[healthField[status?.health ?? "Unknown"]] += 1;
  }
  return counts;
}

function toTimestamp(iso: string | undefined) {
  if (iso === undefined) return undefined;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? undefined : timestampFromDate(date);
}
