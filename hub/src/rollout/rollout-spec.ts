/**
 * What a progressive rollout is, as declared in Git (see docs/rollouts.md): Argo CD's
 * ApplicationSet `strategy: RollingSync`, or Flotilla's own `Rollout` resource for plain
 * Applications. The resolver reads both into a RolloutDeclaration; the hub's rollout controller
 * (./rollout-controller.ts) holds a new revision back from later steps until earlier ones pass.
 */

/** A Kubernetes label selector (matchLabels and matchExpressions, ANDed). */
export type LabelSelectorSpec = {
  matchLabels?: Record<string, string>;
  matchExpressions?: {
    key: string;
    operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
    values?: string[];
  }[];
};

/** How many members of a step may be updating (released, not yet Healthy) at once. */
export type MaxUnavailable = { count: number } | { percent: number };

export type RolloutStep = {
  /** As written, else `step-N` (1-based). */
  name: string;
  /**
   * Which members belong to the step: RollingSync matches the generated Applications' labels
   * (`apps`, Argo CD's semantics); the Rollout resource matches cluster labels (`clusters`).
   * A member belongs to the first step that selects it.
   */
  selector: { apps: LabelSelectorSpec } | { clusters: LabelSelectorSpec };
  maxUnavailable: MaxUnavailable;
  /** Every member of the step Healthy for this long before the next step starts. */
  bakeTimeMs: number;
};

export type OfflinePolicy = { policy: "wait" } | { policy: "skip"; timeoutMs: number };

export type RolloutDeclaration = {
  /** Unique in the fleet: the ApplicationSet's or the Rollout's metadata.name. */
  name: string;
  origin: "ApplicationSet" | "Rollout";
  /** The app whose manifests declare it (the parent app of the ApplicationSet or Rollout). */
  declaredBy: string;
  steps: RolloutStep[];
  /** A released member not Healthy this long after its release fails the step. Default 10 min. */
  progressDeadlineMs: number;
  /** Roll the failed step's released members back to their last good state. Default false. */
  rollback: boolean;
  /** What a step does about a member whose cluster is Disconnected. Default wait. */
  offline: OfflinePolicy;
  /** The apps that roll out together (names, sorted), whatever cluster each goes to. */
  apps: string[];
  /** Labels of each app's Application (for RollingSync's app selectors). */
  appLabels: Record<string, Record<string, string>>;
};

export const DEFAULT_PROGRESS_DEADLINE_MS = 10 * 60_000;

/** Annotations of a RollingSync ApplicationSet for what Argo CD's strategy cannot say. */
export const ROLLOUT_ANNOTATIONS = {
  bakeTime: "rollout.flotilla.dev/bake-time",
  progressDeadline: "rollout.flotilla.dev/progress-deadline",
  rollback: "rollout.flotilla.dev/rollback",
  offline: "rollout.flotilla.dev/offline-clusters",
} as const;

export const ROLLOUT_API_VERSION = "flotilla.dev/v1alpha1";
export const ROLLOUT_KIND = "Rollout";
