/**
 * The stored state of one rollout (store.rollouts, JSON): which revision it rolls out, where it
 * is, and every member (one app in one cluster) with its wanted and last good desired state.
 * Written only by the rollout controller on the resolving replica; read by every replica for the
 * API, the CLI, the dashboard and metrics (see ./rollout-view.ts).
 */
import type { RolloutDeclaration } from "./rollout-spec.js";

export type RolloutPhase = "Progressing" | "Paused" | "Failed" | "RolledBack" | "Aborted" | "Completed";

export const ROLLOUT_PHASES: readonly RolloutPhase[] = [
  "Progressing",
  "Paused",
  "Failed",
  "RolledBack",
  "Aborted",
  "Completed",
];

/** A member's desired state as stored in the targets table (TargetInput without the app). */
export type MemberTarget = { digest: string; bundleDigest: string; desired: Record<string, unknown> };

/** A resource of a failed member that is not Healthy, from its agent's report. */
export type FailedResource = {
  kind: string;
  namespace: string;
  name: string;
  health: string;
  message: string;
};

export type RolloutFailure = {
  cluster: string;
  app: string;
  /** Why the member failed: its health and message, or the progress deadline. */
  message: string;
  resources: FailedResource[];
};

export type RolloutMember = {
  clusterId: string;
  cluster: string;
  app: string;
  /** Index of its step; `steps.length` for members no step selects (they go after the last step). */
  step: number;
  /** The desired state of the revision being rolled out. */
  wanted: MemberTarget;
  /** What it ran when this revision started (absent for an app new to the cluster). */
  stable?: MemberTarget;
  /** ISO time its wanted desired state was stored for its cluster; absent while held back. */
  releasedAt?: string;
  /** ISO time since which its agent reports the wanted digest Synced and Healthy. */
  doneAt?: string;
  /** Its step passed (or it was promoted): it keeps the wanted state. */
  passed?: boolean;
  /** Rolled back to `stable` after a failure or an abort. */
  rolledBack?: boolean;
  /** Skipped by the offline policy: released once the rollout completes. */
  skipped?: boolean;
  /** ISO time its cluster was first seen Disconnected while the member waited. */
  offlineSince?: string;
};

export type RolloutState = {
  name: string;
  declaration: Omit<RolloutDeclaration, "appLabels">;
  /** Counts revisions of this rollout: 1 for the first, +1 each time members' wanted states change. */
  generation: number;
  /** The commit of the revision (of its first member), for people. */
  commit: string;
  phase: RolloutPhase;
  /** Index of the current step; `stepCount` once every step passed. */
  step: number;
  /** Steps including the implicit last one for members no step selects. */
  stepCount: number;
  stepStartedAt: string;
  /** ISO time the current step's members were all done; the step passes a bake time later. */
  bakeStartedAt?: string;
  /** Why the rollout is where it is (the last transition), for people. */
  message: string;
  failures: RolloutFailure[];
  members: RolloutMember[];
  startedAt: string;
  updatedAt: string;
};

/** Counts of members by where they are, for status, the dashboard and metrics. */
export type MemberCounts = {
  /** Passed their step, or done in the current one. */
  updated: number;
  /** Released, not done yet. */
  updating: number;
  /** Held back (a later step, maxUnavailable, offline). */
  waiting: number;
  failed: number;
  rolledBack: number;
  skipped: number;
};
