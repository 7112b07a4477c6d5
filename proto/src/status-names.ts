/**
 * The names people and the fleet index use for the proto's status enums (Argo CD's spelling),
 * both ways. One table per enum, shared by hub, agent and CLI.
 */
import { HealthStatus, OperationPhase, SyncStatus } from "./gen/flotilla/v1/app_pb.js";

export type SyncName = "Synced" | "OutOfSync" | "Unknown";
export type HealthName = "Healthy" | "Progressing" | "Degraded" | "Suspended" | "Missing" | "Unknown";
export type PhaseName = "Running" | "Succeeded" | "Failed" | "Error";

export const SYNC_STATUS: Record<SyncName, SyncStatus> = {
  Synced: SyncStatus.SYNCED,
  OutOfSync: SyncStatus.OUT_OF_SYNC,
  Unknown: SyncStatus.UNKNOWN,
};

export const HEALTH_STATUS: Record<HealthName, HealthStatus> = {
  Healthy: HealthStatus.HEALTHY,
  Progressing: HealthStatus.PROGRESSING,
  Degraded: HealthStatus.DEGRADED,
  Suspended: HealthStatus.SUSPENDED,
  Missing: HealthStatus.MISSING,
  Unknown: HealthStatus.UNKNOWN,
};

export const OPERATION_PHASE: Record<PhaseName, OperationPhase> = {
  Running: OperationPhase.RUNNING,
  Succeeded: OperationPhase.SUCCEEDED,
  Failed: OperationPhase.FAILED,
  Error: OperationPhase.ERROR,
};

/** Inverts a name table; the enum's UNSPECIFIED (0) reads as `unspecified`. */
function namesOf<N extends string, E extends number>(table: Record<N, E>, unspecified: N): Record<E, N> {
  const names = { 0: unspecified } as Record<E, N>;
  for (const [name, value] of Object.entries(table) as [N, E][]) names[value] = name;
  return names;
}

export const SYNC_NAMES: Record<SyncStatus, SyncName> = namesOf(SYNC_STATUS, "Unknown");
export const HEALTH_NAMES: Record<HealthStatus, HealthName> = namesOf(HEALTH_STATUS, "Unknown");
/** UNSPECIFIED reads as "Running": an operation without a phase has not finished. */
export const PHASE_NAMES: Record<OperationPhase, PhaseName> = namesOf(OPERATION_PHASE, "Running");
