import type { KubeObject } from "../kube/kube-object.js";

/** Argo CD sync options, resolved to values (gitops-engine `pkg/sync/common/types.go`, `controller/sync.go`). */
export type SyncOptions = {
  /** CreateNamespace=true: create the destination namespace before the sync. */
  createNamespace: boolean;
  /** Default true: Flotilla always uses server-side apply unless ServerSideApply=false. */
  serverSideApply: boolean;
  /** Replace=true: replace/create instead of apply; Argo gives it precedence over server-side apply. */
  replace: boolean;
  /** Force=true: delete and recreate when an update is rejected. */
  force: boolean;
  /** Validate=false turns schema validation off. */
  validate: boolean;
  /** ApplyOutOfSyncOnly=true: apply only resources whose diff is modified; hooks still run. */
  applyOutOfSyncOnly: boolean;
  /** PruneLast=true: prune after the last Sync-phase wave. */
  pruneLast: boolean;
  /** False with Prune=false: the resource is never pruned and the app stays OutOfSync. */
  prune: boolean;
  /** Prune=confirm: pruning waits for a manual confirmation. */
  pruneConfirm: boolean;
  /** PrunePropagationPolicy=foreground|background|orphan, default Foreground. */
  prunePropagationPolicy: "Foreground" | "Background" | "Orphan";
  /** RespectIgnoreDifferences=true: ignored fields keep their live value on apply. */
  respectIgnoreDifferences: boolean;
  skipDryRunOnMissingResource: boolean;
  /** FailOnSharedResource=true: fail when a resource is tracked by another app. */
  failOnSharedResource: boolean;
  /** False with Delete=false: the resource survives deletion of the app. */
  delete: boolean;
  /** Delete=confirm: deleting the resource with the app waits for a manual confirmation. */
  deleteConfirm: boolean;
  /** Default true; ClientSideApplyMigration=false keeps kubectl client-side apply field ownership. */
  clientSideApplyMigration: boolean;
};

export const SYNC_OPTIONS_ANNOTATION = "argocd.argoproj.io/sync-options";

export const DEFAULT_SYNC_OPTIONS: Readonly<SyncOptions> = Object.freeze({
  createNamespace: false,
  serverSideApply: true,
  replace: false,
  force: false,
  validate: true,
  applyOutOfSyncOnly: false,
  pruneLast: false,
  prune: true,
  pruneConfirm: false,
  prunePropagationPolicy: "Foreground",
  respectIgnoreDifferences: false,
  skipDryRunOnMissingResource: false,
  failOnSharedResource: false,
  delete: true,
  deleteConfirm: false,
  clientSideApplyMigration: true,
});

type BooleanOption = {
  [K in keyof SyncOptions]: SyncOptions[K] extends boolean ? K : never;
}[keyof SyncOptions];

/** One option key: how its value sets the options, and whether a resource annotation may set it. */
type OptionRule = {
  perResource: boolean;
  values: string[];
  set: (options: SyncOptions, value: string) => void;
};

function booleanRule(field: BooleanOption, perResource: boolean): OptionRule {
  return {
    perResource,
    values: ["true", "false"],
    set: (options, value) => {
      options[field] = value === "true";
    },
  };
}

function confirmRule(field: "prune" | "delete", confirmField: "pruneConfirm" | "deleteConfirm"): OptionRule {
  return {
    perResource: true,
    values: ["true", "false", "confirm"],
    set: (options, value) => {
      options[field] = value !== "false";
      options[confirmField] = value === "confirm";
    },
  };
}

const PROPAGATION_POLICIES = {
  foreground: "Foreground",
  background: "Background",
  orphan: "Orphan",
} as const;

// Which options a resource annotation may set follows gitops-engine's HasAnnotationOption calls;
// app-only options in an annotation are ignored like Argo CD ignores them.
const RULES: Record<string, OptionRule> = {
  CreateNamespace: booleanRule("createNamespace", false),
  ServerSideApply: booleanRule("serverSideApply", true),
  Replace: booleanRule("replace", true),
  Force: booleanRule("force", true),
  Validate: booleanRule("validate", true),
  ApplyOutOfSyncOnly: booleanRule("applyOutOfSyncOnly", false),
  PruneLast: booleanRule("pruneLast", true),
  Prune: confirmRule("prune", "pruneConfirm"),
  Delete: confirmRule("delete", "deleteConfirm"),
  PrunePropagationPolicy: {
    perResource: false,
    values: Object.keys(PROPAGATION_POLICIES),
    set: (options, value) => {
      options.prunePropagationPolicy = PROPAGATION_POLICIES[value as keyof typeof PROPAGATION_POLICIES];
    },
  },
  RespectIgnoreDifferences: booleanRule("respectIgnoreDifferences", false),
  SkipDryRunOnMissingResource: booleanRule("skipDryRunOnMissingResource", true),
  FailOnSharedResource: booleanRule("failOnSharedResource", false),
  ClientSideApplyMigration: booleanRule("clientSideApplyMigration", false),
};

/** Applies one "Key=value" option to `options`; returns a problem string when it is not understood. */
function applyOption(options: SyncOptions, option: string, perResource: boolean): string | undefined {
  const text = option.trim();
  if (text === "") return undefined;
  const equals = text.indexOf("=");
  if (equals < 0) return `sync option "${text}": expected Key=value`;
  const key = text.slice(0, equals);
  const rule = RULES[key];
  if (!rule) return `sync option "${text}": unknown option ${key}`;
  if (perResource && !rule.perResource) return `sync option "${text}": ${key} applies to the whole app only`;
  // Values are matched case-insensitively, so "CreateNamespace=True" works as users expect.
  const value = text
    .slice(equals + 1)
    .trim()
    .toLowerCase();
  if (!rule.values.includes(value)) {
    return `sync option "${text}": value must be one of ${rule.values.join(", ")}`;
  }
  rule.set(options, value);
  return undefined;
}

/**
 * Parses app-level sync options (`spec.syncPolicy.syncOptions`). Every option is read; each one
 * not understood (unknown key, missing `=`, invalid value) yields a problem naming it and leaves the
 * defaults in place. A later option overrides an earlier one with the same key.
 */
export function parseSyncOptions(options: readonly string[]): { options: SyncOptions; problems: string[] } {
  const parsed: SyncOptions = { ...DEFAULT_SYNC_OPTIONS };
  const problems: string[] = [];
  for (const option of options) {
    const problem = applyOption(parsed, option, false);
    if (problem) problems.push(problem);
  }
  return { options: parsed, problems };
}

/** The values of a comma-separated annotation: trimmed, empty ones dropped, duplicates removed. */
export function annotationCsv(obj: KubeObject, annotation: string): string[] {
  const raw = obj.metadata.annotations?.[annotation];
  if (raw === undefined) return [];
  const values: string[] = [];
  for (const item of raw.split(",")) {
    const value = item.trim();
    if (value !== "" && !values.includes(value)) values.push(value);
  }
  return values;
}

/**
 * The options for one object: the app's options overridden by the object's
 * `argocd.argoproj.io/sync-options` annotation for the options Argo CD reads per resource
 * (ServerSideApply, Replace, Force, Validate, SkipDryRunOnMissingResource, PruneLast, Prune,
 * Delete). Options Argo CD reads only at app level, and options not understood, are ignored.
 */
export function resourceSyncOptions(app: SyncOptions, obj: KubeObject): SyncOptions {
  const options: SyncOptions = { ...app };
  for (const option of annotationCsv(obj, SYNC_OPTIONS_ANNOTATION)) applyOption(options, option, true);
  return options;
}

/** Problems in an object's sync-options annotation, for reporting; empty when all are understood. */
export function resourceSyncOptionProblems(obj: KubeObject): string[] {
  const options: SyncOptions = { ...DEFAULT_SYNC_OPTIONS };
  const problems: string[] = [];
  for (const option of annotationCsv(obj, SYNC_OPTIONS_ANNOTATION)) {
    const problem = applyOption(options, option, true);
    if (problem) problems.push(`${problem} (annotation ${SYNC_OPTIONS_ANNOTATION})`);
  }
  return problems;
}
