import { groupOf, isCustomResourceDefinition, type KubeObject } from "../kube/kube-object.js";
import { annotationCsv, DEFAULT_SYNC_OPTIONS, resourceSyncOptions } from "./sync-options.js";

export type SyncPhase = "PreSync" | "Sync" | "PostSync" | "SyncFail";
export type HookDeletePolicy = "HookSucceeded" | "HookFailed" | "BeforeHookCreation";
export type HookInfo = {
  /** Distinct phases in execution order. */
  phases: SyncPhase[];
  /** Distinct policies; [BeforeHookCreation] when none is set. */
  deletePolicies: HookDeletePolicy[];
};

export const HOOK_ANNOTATION = "argocd.argoproj.io/hook";
export const HOOK_DELETE_POLICY_ANNOTATION = "argocd.argoproj.io/hook-delete-policy";
export const SYNC_WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave";
export const HELM_HOOK_ANNOTATION = "helm.sh/hook";
export const HELM_HOOK_WEIGHT_ANNOTATION = "helm.sh/hook-weight";
export const HELM_HOOK_DELETE_POLICY_ANNOTATION = "helm.sh/hook-delete-policy";

const PHASE_ORDER: Record<SyncPhase, number> = { PreSync: -1, Sync: 0, PostSync: 1, SyncFail: 2 };
const ARGO_HOOK_TYPES = new Set(["PreSync", "Sync", "PostSync", "SyncFail", "Skip"]);
const HELM_HOOK_PHASES: Record<string, SyncPhase> = {
  "pre-install": "PreSync",
  "pre-upgrade": "PreSync",
  "post-install": "PostSync",
  "post-upgrade": "PostSync",
};
const DELETE_POLICIES = new Set<string>(["HookSucceeded", "HookFailed", "BeforeHookCreation"]);
const HELM_DELETE_POLICIES: Record<string, HookDeletePolicy> = {
  "hook-succeeded": "HookSucceeded",
  "hook-failed": "HookFailed",
  "before-hook-creation": "BeforeHookCreation",
};

// gitops-engine sync_tasks.go (Helm's kind sorter): by Kind only, group ignored; unknown kinds after all of these.
const KIND_ORDER_TABLE = [
  "Namespace",
  "NetworkPolicy",
  "ResourceQuota",
  "LimitRange",
  "PodSecurityPolicy",
  "PodDisruptionBudget",
  "ServiceAccount",
  "Secret",
  "SecretList",
  "ConfigMap",
  "StorageClass",
  "PersistentVolume",
  "PersistentVolumeClaim",
  "CustomResourceDefinition",
  "ClusterRole",
  "ClusterRoleList",
  "ClusterRoleBinding",
  "ClusterRoleBindingList",
  "Role",
  "RoleList",
  "RoleBinding",
  "RoleBindingList",
  "Service",
  "DaemonSet",
  "Pod",
  "ReplicationController",
  "ReplicaSet",
  "Deployment",
  "HorizontalPodAutoscaler",
  "StatefulSet",
  "Job",
  "CronJob",
  "IngressClass",
  "Ingress",
  "APIService",
];
const KIND_ORDER = new Map(KIND_ORDER_TABLE.map((kind, index) => [kind, index - KIND_ORDER_TABLE.length]));

/**
 * The hook an object declares, following gitops-engine's hook package: undefined = not a hook
 * (an ordinary resource, applied in the Sync phase); "skip" = never applied (`hook: Skip` alone,
 * or a hook with no phase gitops-engine knows, such as `helm.sh/hook: test`, which Argo CD ignores).
 * `argocd.argoproj.io/hook` wins over `helm.sh/hook`; Helm's pre-install/pre-upgrade map to
 * PreSync and post-install/post-upgrade to PostSync; `helm.sh/hook: crd-install` is not a hook.
 */
export function hookOf(obj: KubeObject): HookInfo | "skip" | undefined {
  const annotations = obj.metadata.annotations ?? {};
  const argoTypes = annotationCsv(obj, HOOK_ANNOTATION).filter((t) => ARGO_HOOK_TYPES.has(t));
  const types =
    argoTypes.length > 0
      ? argoTypes
      : annotationCsv(obj, HELM_HOOK_ANNOTATION).flatMap((t) => HELM_HOOK_PHASES[t] ?? []);
  const skip = types.length === 1 && types[0] === "Skip";
  const isHook =
    HOOK_ANNOTATION in annotations
      ? !skip
      : HELM_HOOK_ANNOTATION in annotations && annotations[HELM_HOOK_ANNOTATION] !== "crd-install";
  if (skip) return "skip";
  if (!isHook) return undefined;
  const phases = (Object.keys(PHASE_ORDER) as SyncPhase[]).filter((phase) => types.includes(phase));
  if (phases.length === 0) return "skip";
  return { phases, deletePolicies: deletePoliciesOf(obj) };
}

function deletePoliciesOf(obj: KubeObject): HookDeletePolicy[] {
  const policies: HookDeletePolicy[] = [];
  const add = (policy: HookDeletePolicy | undefined) => {
    if (policy && !policies.includes(policy)) policies.push(policy);
  };
  for (const text of annotationCsv(obj, HOOK_DELETE_POLICY_ANNOTATION)) {
    if (DELETE_POLICIES.has(text)) add(text as HookDeletePolicy);
  }
  for (const text of annotationCsv(obj, HELM_HOOK_DELETE_POLICY_ANNOTATION)) add(HELM_DELETE_POLICIES[text]);
  if (policies.length === 0) policies.push("BeforeHookCreation");
  return policies;
}

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

/** Go's strconv.Atoi on a 64-bit platform: optional sign, decimal digits, int64 range; else undefined. */
function atoi(text: string | undefined): number | undefined {
  if (text === undefined || !/^[+-]?[0-9]+$/.test(text)) return undefined;
  const value = BigInt(text);
  return value > INT64_MAX || value < INT64_MIN ? undefined : Number(value);
}

/**
 * The sync wave: `argocd.argoproj.io/sync-wave`, else `helm.sh/hook-weight` (for non-hooks too),
 * else 0. A value that is not an integer (strconv.Atoi) falls through to the next source.
 */
export function waveOf(obj: KubeObject): number {
  const annotations = obj.metadata.annotations ?? {};
  return atoi(annotations[SYNC_WAVE_ANNOTATION]) ?? atoi(annotations[HELM_HOOK_WEIGHT_ANNOTATION]) ?? 0;
}

export type SyncTask = {
  action: "apply" | "hook" | "prune";
  phase: SyncPhase;
  /** The wave the task runs in, after prune mirroring, PruneLast and dependency adjustments. */
  wave: number;
  /** The object to apply (hooks carry their generated name) or, for prune, the live object. */
  object: KubeObject;
  hook?: HookInfo;
};

export type SyncPlanInput = {
  /** Desired objects including hooks, already namespaced by the caller. */
  objects: readonly KubeObject[];
  /** Live objects to prune. */
  prune: readonly KubeObject[];
  /** Revision and start time (Unix seconds) name hooks that only have generateName. */
  revision: string;
  startedAtSec: number;
  /** App-level PruneLast; a per-resource sync-options annotation PruneLast=true also applies. */
  pruneLast: boolean;
};

/**
 * Orders a sync like gitops-engine (`sync_context.go getSyncTasks`, `sync_tasks.go Sort`): tasks
 * sorted by phase, wave, the kind order table and name (then namespace, so the order is
 * deterministic); a Namespace is moved in front of the first earlier task in it and a CRD in front
 * of the first earlier custom resource of its group/kind, each taking that task's phase and wave.
 * A hook yields one task per phase; a hook with only generateName is named
 * generateName + lower(rev[0:7] + "-" + phase + "-" + startedAtSec). Prune waves are mirrored
 * (highest pruned first); PruneLast moves a prune task to (highest Sync-phase wave, at least 0) + 1.
 * SyncFail hooks are planned last with phase SyncFail; the runner runs them only on failure.
 * Objects that are never applied (hook Skip, unmappable Helm hooks) are returned in `skipped`.
 */
export function planSync(input: SyncPlanInput): { tasks: SyncTask[]; skipped: KubeObject[] } {
  const tasks: SyncTask[] = [];
  const skipped: KubeObject[] = [];
  for (const obj of input.objects) {
    const hook = hookOf(obj);
    if (hook === "skip") {
      skipped.push(obj);
    } else if (hook === undefined) {
      tasks.push({ action: "apply", phase: "Sync", wave: waveOf(obj), object: obj });
    } else {
      for (const phase of hook.phases) {
        const object = nameHook(obj, phase, input.revision, input.startedAtSec);
        tasks.push({ action: "hook", phase, wave: waveOf(obj), object, hook });
      }
    }
  }

  const pruneTasks: SyncTask[] = input.prune.map((obj) => ({
    action: "prune",
    phase: "Sync",
    wave: waveOf(obj),
    object: obj,
  }));
  mirrorPruneWaves(pruneTasks);
  tasks.push(...pruneTasks);

  // The last Sync wave counts prune tasks after mirroring, as gitops-engine does.
  const lastSyncWave = Math.max(0, ...tasks.filter((t) => t.phase === "Sync").map((t) => t.wave)) + 1;
  for (const task of pruneTasks) {
    if (resourceSyncOptions({ ...DEFAULT_SYNC_OPTIONS, pruneLast: input.pruneLast }, task.object).pruneLast) {
      task.wave = lastSyncWave;
    }
  }

  tasks.sort(compareTasks);
  adjustDeps(tasks, namespaceDependency, namespaceReference);
  adjustDeps(tasks, crdDependency, customResourceReference);
  return { tasks, skipped };
}

function nameHook(obj: KubeObject, phase: SyncPhase, revision: string, startedAtSec: number): KubeObject {
  if (obj.metadata.name) return obj;
  const rev = revision.length >= 8 ? revision.slice(0, 7) : revision;
  const postfix = `${rev}-${phase}-${Math.trunc(startedAtSec)}`.toLowerCase();
  return { ...obj, metadata: { ...obj.metadata, name: `${obj.metadata.generateName ?? ""}${postfix}` } };
}

/** Swaps the sorted distinct prune waves pairwise (first with last, ...), so deletion reverses creation. */
function mirrorPruneWaves(pruneTasks: SyncTask[]): void {
  const waves = [...new Set(pruneTasks.map((t) => t.wave))].sort((a, b) => a - b);
  const mirrored = new Map(waves.map((wave, index) => [wave, waves[waves.length - 1 - index] ?? wave]));
  for (const task of pruneTasks) task.wave = mirrored.get(task.wave) ?? task.wave;
}

function kindOrder(kind: string): number {
  return KIND_ORDER.get(kind) ?? 0;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const ACTION_ORDER = { hook: 0, apply: 0, prune: 1 } as const;

function compareTasks(a: SyncTask, b: SyncTask): number {
  return (
    PHASE_ORDER[a.phase] - PHASE_ORDER[b.phase] ||
    a.wave - b.wave ||
    kindOrder(a.object.kind) - kindOrder(b.object.kind) ||
    compareStrings(a.object.metadata.name ?? "", b.object.metadata.name ?? "") ||
    compareStrings(a.object.metadata.namespace ?? "", b.object.metadata.namespace ?? "") ||
    compareStrings(groupOf(a.object.apiVersion), groupOf(b.object.apiVersion)) ||
    ACTION_ORDER[a.action] - ACTION_ORDER[b.action]
  );
}

type DependencyKey = (obj: KubeObject) => string | undefined;

function namespaceDependency(obj: KubeObject): string | undefined {
  return obj.kind === "Namespace" && groupOf(obj.apiVersion) === "" ? (obj.metadata.name ?? "") : undefined;
}

function namespaceReference(obj: KubeObject): string | undefined {
  return obj.metadata.namespace || undefined;
}

function crdDependency(obj: KubeObject): string | undefined {
  if (!isCustomResourceDefinition(obj)) return undefined;
  const spec = obj.spec as { group?: unknown; names?: { kind?: unknown } } | undefined;
  const group = spec?.group;
  const kind = spec?.names?.kind;
  return typeof group === "string" && typeof kind === "string" ? `${group}/${kind}` : undefined;
}

function customResourceReference(obj: KubeObject): string {
  return `${groupOf(obj.apiVersion)}/${obj.kind}`;
}

/**
 * gitops-engine's adjustDeps: a dependency (Namespace, CRD) that sorts after a task referring to it
 * moves in front of the first such task and takes its phase and wave. Prune tasks are not moved.
 */
function adjustDeps(tasks: SyncTask[], dependencyKey: DependencyKey, referenceKey: DependencyKey): void {
  const firstIndex = new Map<string, number>();
  for (let i = 0; i < tasks.length; i++) {
    const task = tasks[i];
    if (!task || task.action === "prune") continue;
    const dependency = dependencyKey(task.object);
    if (dependency !== undefined) {
      const index = firstIndex.get(dependency);
      const first = index === undefined ? undefined : tasks[index];
      if (index === undefined || !first) continue;
      task.phase = first.phase;
      task.wave = first.wave;
      tasks.splice(i, 1);
      tasks.splice(index, 0, task);
      for (const [key, at] of firstIndex) if (at >= index) firstIndex.set(key, at + 1);
      continue;
    }
    const reference = referenceKey(task.object);
    if (reference !== undefined && !firstIndex.has(reference)) firstIndex.set(reference, i);
  }
}

/** Consecutive tasks with equal phase and wave, in order: the steps a sync runs one after another. SyncFail tasks are left out. */
export function groupIntoSteps(tasks: readonly SyncTask[]): SyncTask[][] {
  const steps: SyncTask[][] = [];
  let current: SyncTask[] | undefined;
  for (const task of tasks) {
    if (task.phase === "SyncFail") continue;
    const head = current?.[0];
    if (current && head && head.phase === task.phase && head.wave === task.wave) {
      current.push(task);
    } else {
      current = [task];
      steps.push(current);
    }
  }
  return steps;
}
