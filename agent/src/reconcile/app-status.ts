import type { HealthStatus } from "../health/assess-health.js";
import type { SyncPhase } from "./plan-sync.js";

export type SyncStatusCode = "Synced" | "OutOfSync" | "Unknown";

/**
 * What the last reconcile did to one object: `unchanged` means nothing was written (the object
 * may still be OutOfSync, for example under a manual sync policy; `sync` says so).
 */
export type ResourceResult = "created" | "configured" | "unchanged" | "pruned" | "failed";

export type ResourceStatus = {
  group: string;
  version: string;
  kind: string;
  namespace: string;
  name: string;
  result: ResourceResult;
  sync: SyncStatusCode;
  health?: HealthStatus;
  /** Why the object is not synced or not healthy, or why writing it failed; "" when all is well. */
  message: string;
  /** Set for sync hooks, which are not part of the steady state. */
  hook?: SyncPhase;
  wave: number;
  /** Owned by the app but no longer declared. */
  requiresPruning: boolean;
};

export type OperationPhase = "Running" | "Succeeded" | "Failed" | "Error";

export type OperationState = {
  phase: OperationPhase;
  message: string;
  revision: string;
  startedAt: string;
  finishedAt?: string;
};

/** App-level warnings and errors, typed as Argo CD types them ("SyncError", "ComparisonError", ...). */
export type AppCondition = { type: string; message: string };

/** A full snapshot of one app as the agent sees it. */
export type AppStatus = {
  name: string;
  digest: string;
  revision: string;
  sync: SyncStatusCode;
  health: HealthStatus;
  healthMessage: string;
  operation?: OperationState;
  resources: ResourceStatus[];
  conditions: AppCondition[];
};

/** The `-o json` shape of `flotilla-agent run --once` for one app. */
export function formatAppStatusJson(status: AppStatus) {
  return {
    name: status.name,
    revision: status.revision,
    sync: status.sync,
    health: status.health,
    ...(status.healthMessage ? { healthMessage: status.healthMessage } : {}),
    ...(status.operation ? { operation: status.operation } : {}),
    ...(status.conditions.length > 0 ? { conditions: status.conditions } : {}),
    resources: status.resources.map((r) => ({
      group: r.group,
      version: r.version,
      kind: r.kind,
      namespace: r.namespace,
      name: r.name,
      result: r.result,
      sync: r.sync,
      health: r.health ?? null,
      message: r.message,
      ...(r.hook ? { hook: r.hook } : {}),
      ...(r.requiresPruning ? { requiresPruning: true } : {}),
    })),
  };
}
