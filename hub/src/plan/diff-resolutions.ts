import { stringify } from "yaml";
import { groupOf, type KubeObject } from "../render/kube-object.js";
import type { FleetResolution, Target } from "../resolve/resolve-fleet.js";
import { formatUnifiedDiff } from "./unified-diff.js";

export type ChangeType = "added" | "changed" | "removed";

export type ObjectChange = {
  change: ChangeType;
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  /** Unified diff of the YAML manifests, for changed objects. */
  diff?: string;
};

export type AppChange = {
  change: ChangeType;
  objects: ObjectChange[];
  /** Unified diff of the app's settings (namespace, project, syncPolicy, ignoreDifferences), when they changed. */
  settingsDiff?: string;
};

/** Per cluster, per app, what a change to the fleet repository adds, changes and removes. */
export type FleetDiff = { clusters: Record<string, { apps: Record<string, AppChange> }> };

function objectKey(obj: KubeObject): string {
  return `${groupOf(obj.apiVersion)}/${obj.kind}/${obj.metadata.namespace ?? ""}/${obj.metadata.name ?? obj.metadata.generateName ?? ""}`;
}

function describeObject(obj: KubeObject, change: ChangeType): ObjectChange {
  return {
    change,
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    namespace: obj.metadata.namespace ?? "",
    name: obj.metadata.name ?? obj.metadata.generateName ?? "",
  };
}

function settingsOf(target: Target): Record<string, unknown> {
  return {
    namespace: target.namespace,
    project: target.project,
    syncPolicy: target.syncPolicy ?? null,
    ignoreDifferences: target.ignoreDifferences,
  };
}

function indexTargets(resolution: FleetResolution): Map<string, Target> {
  return new Map(resolution.targets.map((t) => [`${t.cluster}\u0000${t.app}`, t]));
}

/** Compares the objects of two apps; equal digests short-cut to "no change". */
function diffObjects(before: KubeObject[], after: KubeObject[]): ObjectChange[] {
  const old = new Map(before.map((o) => [objectKey(o), o]));
  const changes: ObjectChange[] = [];
  const keys = new Set<string>();
  for (const obj of after) {
    const key = objectKey(obj);
    keys.add(key);
    const previous = old.get(key);
    if (!previous) {
      changes.push(describeObject(obj, "added"));
      continue;
    }
    const diff = formatUnifiedDiff(stringify(previous), stringify(obj));
    if (diff) changes.push({ ...describeObject(obj, "changed"), diff });
  }
  for (const [key, obj] of old) if (!keys.has(key)) changes.push(describeObject(obj, "removed"));
  return changes.sort((a, b) => compareChanges(a, b));
}

function compareChanges(a: ObjectChange, b: ObjectChange): number {
  const left = `${a.kind}/${a.namespace}/${a.name}`;
  const right = `${b.kind}/${b.namespace}/${b.name}`;
  return left < right ? -1 : left > right ? 1 : 0;
}

/**
 * What changes between two resolutions of the same fleet: per cluster, the apps added, changed
 * (with the objects added, changed, removed) and removed. Clusters and apps without a change are
 * left out. An app that could not be resolved on one side is not reported as removed; its
 * problem is in that side's problems.
 */
export function diffResolutions(from: FleetResolution, to: FleetResolution): FleetDiff {
  const before = indexTargets(from);
  const after = indexTargets(to);
  const failedAfter = new Set(to.apps.filter((a) => a.state === "problem").map((a) => a.name));
  const result: FleetDiff = { clusters: {} };
  const record = (cluster: string, app: string, change: AppChange) => {
    if (change.change === "changed" && change.objects.length === 0 && !change.settingsDiff) return;
    result.clusters[cluster] ??= { apps: {} };
    (result.clusters[cluster] as { apps: Record<string, AppChange> }).apps[app] = change;
  };
  for (const [key, target] of after) {
    const previous = before.get(key);
    if (!previous) {
      record(target.cluster, target.app, { change: "added", objects: diffObjects([], target.objects) });
    } else if (previous.digest !== target.digest) {
      const change: AppChange = { change: "changed", objects: diffObjects(previous.objects, target.objects) };
      const settingsDiff = formatUnifiedDiff(stringify(settingsOf(previous)), stringify(settingsOf(target)));
      if (settingsDiff) change.settingsDiff = settingsDiff;
      record(target.cluster, target.app, change);
    }
  }
  for (const [key, target] of before) {
    if (after.has(key) || failedAfter.has(target.app)) continue;
    record(target.cluster, target.app, { change: "removed", objects: diffObjects(target.objects, []) });
  }
  return result;
}
