/**
 * A rollout as people see it (API, CLI, dashboard, metrics): phase, the current step and its
 * bake, members by state, the clusters waiting and the failures. Derived from the stored
 * RolloutState alone, so every replica answers the same.
 */
import type {
  MemberCounts,
  RolloutFailure,
  RolloutMember,
  RolloutPhase,
  RolloutState,
} from "./rollout-state.js";

export type MemberState = "updated" | "updating" | "waiting" | "failed" | "rolledBack" | "skipped";

export type RolloutStepView = {
  index: number;
  name: string;
  /** Members selected by the step. */
  members: number;
  /** "passed", "current" or "pending". */
  state: "passed" | "current" | "pending";
  maxUnavailable: string;
  bakeTimeMs: number;
};

export type RolloutView = {
  name: string;
  origin: "ApplicationSet" | "Rollout";
  declaredBy: string;
  phase: RolloutPhase;
  generation: number;
  commit: string;
  /** 1-based number of the current step; stepCount + 1 once every step passed. */
  step: number;
  stepCount: number;
  stepName: string;
  stepStartedAt: string;
  bakeStartedAt?: string;
  /** When the current step's bake ends, if it is baking. */
  bakeEndsAt?: string;
  message: string;
  counts: MemberCounts;
  steps: RolloutStepView[];
  members: { cluster: string; app: string; step: number; state: MemberState; releasedAt?: string }[];
  /** Clusters with a member held back in the current or a later step. */
  waitingClusters: string[];
  failures: RolloutFailure[];
  apps: string[];
  startedAt: string;
  updatedAt: string;
};

const IMPLICIT_STEP = "after the last step";

/** Where one member is, as counted in MemberCounts. */
export function memberState(state: RolloutState, member: RolloutMember): MemberState {
  if (member.skipped) return "skipped";
  if (member.rolledBack) return "rolledBack";
  if (state.failures.some((failure) => failure.cluster === member.cluster && failure.app === member.app))
    return "failed";
  if (member.passed || (member.releasedAt && member.doneAt)) return "updated";
  if (member.releasedAt) return "updating";
  return "waiting";
}

export function countMembers(state: RolloutState): MemberCounts {
  const counts: MemberCounts = { updated: 0, updating: 0, waiting: 0, failed: 0, rolledBack: 0, skipped: 0 };
  for (const member of state.members) counts[memberState(state, member)] += 1;
  return counts;
}

function stepName(state: RolloutState, index: number): string {
  return state.declaration.steps[index]?.name ?? IMPLICIT_STEP;
}

export function viewRollout(state: RolloutState): RolloutView {
  const members = state.members.map((member) => ({
    cluster: member.cluster,
    app: member.app,
    step: member.step + 1,
    state: memberState(state, member),
    ...(member.releasedAt ? { releasedAt: member.releasedAt } : {}),
  }));
  members.sort((a, b) => a.step - b.step || compare(a.cluster, b.cluster) || compare(a.app, b.app));
  const steps: RolloutStepView[] = [];
  for (let index = 0; index < state.stepCount; index++) {
    const spec = state.declaration.steps[index];
    const max = spec?.maxUnavailable;
    steps.push({
      index: index + 1,
      name: stepName(state, index),
      members: state.members.filter((member) => member.step === index).length,
      state: index < state.step ? "passed" : index === state.step ? "current" : "pending",
      maxUnavailable: !max ? "100%" : "count" in max ? String(max.count) : `${max.percent}%`,
      bakeTimeMs: spec?.bakeTimeMs ?? 0,
    });
  }
  const bakeTimeMs = state.declaration.steps[state.step]?.bakeTimeMs ?? 0;
  const waiting = new Set(
    state.members
      .filter((member) => memberState(state, member) === "waiting")
      .map((member) => member.cluster),
  );
  return {
    name: state.name,
    origin: state.declaration.origin,
    declaredBy: state.declaration.declaredBy,
    phase: state.phase,
    generation: state.generation,
    commit: state.commit,
    step: state.step + 1,
    stepCount: state.stepCount,
    stepName: state.step < state.stepCount ? stepName(state, state.step) : "",
    stepStartedAt: state.stepStartedAt,
    ...(state.bakeStartedAt
      ? {
          bakeStartedAt: state.bakeStartedAt,
          bakeEndsAt: new Date(Date.parse(state.bakeStartedAt) + bakeTimeMs).toISOString(),
        }
      : {}),
    message: state.message,
    counts: countMembers(state),
    steps,
    members,
    waitingClusters: [...waiting].sort(compare),
    failures: state.failures,
    apps: state.declaration.apps,
    startedAt: state.startedAt,
    updatedAt: state.updatedAt,
  };
}

/** The stored JSON as a RolloutState; undefined when it is not one (an older or foreign row). */
export function readRolloutState(json: Record<string, unknown>): RolloutState | undefined {
  const state = json as Partial<RolloutState>;
  if (
    typeof state.name !== "string" ||
    typeof state.phase !== "string" ||
    !Array.isArray(state.members) ||
    typeof state.declaration !== "object" ||
    state.declaration === null
  )
    return undefined;
  return json as RolloutState;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
