/**
 * Rollouts as FleetService messages and back: RolloutView (../rollout/rollout-view.ts) to the
 * Rollout message for the API, and the message to a RolloutView for the CLI's `-o json`, so
 * both show the same fields under the same names. Pure functions over one table per enum.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  durationFromMs,
  durationMs,
  type Timestamp,
  timestampDate,
  timestampFromDate,
} from "@bufbuild/protobuf/wkt";
import {
  type Rollout,
  RolloutAction as RolloutActionValue,
  RolloutMemberState,
  RolloutPhase as RolloutPhaseValue,
  type RolloutSchema,
  RolloutStepState,
} from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { HEALTH_NAMES, HEALTH_STATUS, type HealthName } from "@flotilla/proto/status-names";
import type { RolloutPhase } from "../rollout/rollout-state.js";
import type { MemberState, RolloutStepView, RolloutView } from "../rollout/rollout-view.js";
import type { RolloutAction } from "../store/store.js";

export const ROLLOUT_PHASE: Record<RolloutPhase, RolloutPhaseValue> = {
  Progressing: RolloutPhaseValue.PROGRESSING,
  Paused: RolloutPhaseValue.PAUSED,
  Failed: RolloutPhaseValue.FAILED,
  RolledBack: RolloutPhaseValue.ROLLED_BACK,
  Aborted: RolloutPhaseValue.ABORTED,
  Completed: RolloutPhaseValue.COMPLETED,
};

export const MEMBER_STATE: Record<MemberState, RolloutMemberState> = {
  updated: RolloutMemberState.UPDATED,
  updating: RolloutMemberState.UPDATING,
  waiting: RolloutMemberState.WAITING,
  failed: RolloutMemberState.FAILED,
  rolledBack: RolloutMemberState.ROLLED_BACK,
  skipped: RolloutMemberState.SKIPPED,
};

export const STEP_STATE: Record<RolloutStepView["state"], RolloutStepState> = {
  passed: RolloutStepState.PASSED,
  current: RolloutStepState.CURRENT,
  pending: RolloutStepState.PENDING,
};

export const ROLLOUT_ACTION: Record<RolloutAction, RolloutActionValue> = {
  pause: RolloutActionValue.PAUSE,
  resume: RolloutActionValue.RESUME,
  abort: RolloutActionValue.ABORT,
  promote: RolloutActionValue.PROMOTE,
};

function invert<N extends string, E extends number>(table: Record<N, E>): Map<E, N> {
  return new Map((Object.entries(table) as [N, E][]).map(([name, value]) => [value, name]));
}

const PHASE_NAMES = invert(ROLLOUT_PHASE);
const MEMBER_STATE_NAMES = invert(MEMBER_STATE);
const STEP_STATE_NAMES = invert(STEP_STATE);
const ACTION_NAMES = invert(ROLLOUT_ACTION);

/** The action's name; undefined for UNSPECIFIED and values this hub does not know. */
export function rolloutActionName(action: RolloutActionValue): RolloutAction | undefined {
  return ACTION_NAMES.get(action);
}

/** The phase's name; "Unknown" for UNSPECIFIED and values this build does not know. */
export function rolloutPhaseName(phase: RolloutPhaseValue): RolloutPhase | "Unknown" {
  return PHASE_NAMES.get(phase) ?? "Unknown";
}

/** An ISO time as a Timestamp; undefined when absent or not a time. */
function timestampOf(iso: string | undefined): Timestamp | undefined {
  if (iso === undefined) return undefined;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : timestampFromDate(new Date(ms));
}

function isoOf(timestamp: Timestamp | undefined): string {
  return timestamp ? timestampDate(timestamp).toISOString() : "";
}

export function toRolloutMessage(view: RolloutView): MessageInitShape<typeof RolloutSchema> {
  const stepStartedAt = timestampOf(view.stepStartedAt);
  const bakeStartedAt = timestampOf(view.bakeStartedAt);
  const bakeEndsAt = timestampOf(view.bakeEndsAt);
  const startedAt = timestampOf(view.startedAt);
  const updatedAt = timestampOf(view.updatedAt);
  return {
    name: view.name,
    origin: view.origin,
    declaredBy: view.declaredBy,
    phase: ROLLOUT_PHASE[view.phase] ?? RolloutPhaseValue.UNSPECIFIED,
    generation: view.generation,
    commit: view.commit,
    step: view.step,
    stepCount: view.stepCount,
    stepName: view.stepName,
    ...(stepStartedAt ? { stepStartedAt } : {}),
    ...(bakeStartedAt ? { bakeStartedAt } : {}),
    ...(bakeEndsAt ? { bakeEndsAt } : {}),
    message: view.message,
    counts: { ...view.counts },
    steps: view.steps.map((step) => ({
      index: step.index,
      name: step.name,
      members: step.members,
      state: STEP_STATE[step.state] ?? RolloutStepState.UNSPECIFIED,
      maxUnavailable: step.maxUnavailable,
      bakeTime: durationFromMs(step.bakeTimeMs),
    })),
    members: view.members.map((member) => {
      const releasedAt = timestampOf(member.releasedAt);
      return {
        cluster: member.cluster,
        app: member.app,
        step: member.step,
        state: MEMBER_STATE[member.state] ?? RolloutMemberState.UNSPECIFIED,
        ...(releasedAt ? { releasedAt } : {}),
      };
    }),
    waitingClusters: view.waitingClusters,
    failures: view.failures.map((failure) => ({
      cluster: failure.cluster,
      app: failure.app,
      message: failure.message,
      resources: failure.resources.map((resource) => ({
        kind: resource.kind,
        namespace: resource.namespace,
        name: resource.name,
        health: HEALTH_STATUS[resource.health as HealthName] ?? HEALTH_STATUS.Unknown,
        message: resource.message,
      })),
    })),
    apps: view.apps,
    ...(startedAt ? { startedAt } : {}),
    ...(updatedAt ? { updatedAt } : {}),
  };
}

/**
 * The message as a RolloutView: the shape `flotilla rollout status -o json` prints. Unset times
 * read as "" (optional ones are left out); enum values this build does not know read as
 * "Unknown".
 */
export function toRolloutView(rollout: Rollout): RolloutView {
  const counts = rollout.counts;
  return {
    name: rollout.name,
    origin: rollout.origin as RolloutView["origin"],
    declaredBy: rollout.declaredBy,
    phase: rolloutPhaseName(rollout.phase) as RolloutPhase,
    generation: rollout.generation,
    commit: rollout.commit,
    step: rollout.step,
    stepCount: rollout.stepCount,
    stepName: rollout.stepName,
    stepStartedAt: isoOf(rollout.stepStartedAt),
    ...(rollout.bakeStartedAt ? { bakeStartedAt: isoOf(rollout.bakeStartedAt) } : {}),
    ...(rollout.bakeEndsAt ? { bakeEndsAt: isoOf(rollout.bakeEndsAt) } : {}),
    message: rollout.message,
    counts: {
      updated: counts?.updated ?? 0,
      updating: counts?.updating ?? 0,
      waiting: counts?.waiting ?? 0,
      failed: counts?.failed ?? 0,
      rolledBack: counts?.rolledBack ?? 0,
      skipped: counts?.skipped ?? 0,
    },
    steps: rollout.steps.map((step) => ({
      index: step.index,
      name: step.name,
      members: step.members,
      state: STEP_STATE_NAMES.get(step.state) ?? ("Unknown" as RolloutStepView["state"]),
      maxUnavailable: step.maxUnavailable,
      bakeTimeMs: step.bakeTime ? durationMs(step.bakeTime) : 0,
    })),
    members: rollout.members.map((member) => ({
      cluster: member.cluster,
      app: member.app,
      step: member.step,
      state: MEMBER_STATE_NAMES.get(member.state) ?? ("Unknown" as MemberState),
      ...(member.releasedAt ? { releasedAt: isoOf(member.releasedAt) } : {}),
    })),
    waitingClusters: [...rollout.waitingClusters],
    failures: rollout.failures.map((failure) => ({
      cluster: failure.cluster,
      app: failure.app,
      message: failure.message,
      resources: failure.resources.map((resource) => ({
        kind: resource.kind,
        namespace: resource.namespace,
        name: resource.name,
        health: HEALTH_NAMES[resource.health] ?? "Unknown",
        message: resource.message,
      })),
    })),
    apps: [...rollout.apps],
    startedAt: isoOf(rollout.startedAt),
    updatedAt: isoOf(rollout.updatedAt),
  };
}
