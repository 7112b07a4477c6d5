/**
 * From resolves to stored, delivered desired state: resolves every source, turns each
 * (cluster, app) target into a content-addressed bundle and a TargetInput, keeps the previous
 * targets of apps that failed to resolve (a broken commit never prunes a healthy app), stores
 * the targets of every cluster by digest and announces the clusters whose targets changed.
 */
import { gzipSync } from "node:zlib";
import { parseDuration } from "@flotilla/proto/duration";
import type { Bus } from "../bus/bus.js";
import { sha256Digest, toCanonicalJson } from "../resolve/canonical-json.js";
import type { Cluster as ResolveCluster } from "../resolve/cluster.js";
import type { FleetResolution, Target as ResolvedTarget, SyncPolicySpec } from "../resolve/resolve-fleet.js";
import type { RolloutController } from "../rollout/rollout-controller.js";
import { redactRepoUrl } from "../source/normalize-repo-url.js";
import type { Cluster, Source, Store, TargetInput } from "../store/store.js";
import type { AppSummary, Logger, ProblemRecord } from "./hub-runtime.js";
import { describeError } from "./log.js";

export const BUNDLE_ENCODING = "gzip+json";

/** One source's resolve: the resolution, or why the source could not be read at all. */
export type SourceOutcome =
  | { source: Source; ok: true; resolution: FleetResolution; commit: { author: string; message: string } }
  | { source: Source; ok: false; error: string };

export type ApplyOutcome = {
  /** (cluster, app) targets whose desired state changed, removals included. */
  changedTargets: number;
  summaries: Map<string, AppSummary[]>;
};

/** The cluster as the resolver sees it: its agent-reported API server, or a name-only address. */
export function toResolveCluster(cluster: Cluster): ResolveCluster {
  return {
    name: cluster.name,
    server: cluster.serverUrl || `https://${cluster.name}.flotilla.invalid`,
    labels: cluster.labels,
    annotations: cluster.annotations,
  };
}

/**
 * Stores bundles and targets for every cluster and publishes `targets-changed` per cluster
 * whose targets changed. `previousApps` is the app tree of the previous resolve per source, to
 * find the children of an app that now fails (they are absent from the new tree, not removed).
 */
export async function applyResolutions(
  deps: { store: Store; bus: Bus; log: Logger; now: () => Date; rollouts?: RolloutController },
  clusters: readonly Cluster[],
  outcomes: readonly SourceOutcome[],
  previousApps: ReadonlyMap<string, readonly AppSummary[]>,
): Promise<ApplyOutcome> {
  const { store, bus, log } = deps;
  const observedAt = deps.now();
  const byName = new Map(clusters.map((cluster) => [cluster.name, cluster]));
  /** cluster id -> app -> input, from every source that resolved. */
  const next = new Map<string, Map<string, TargetInput>>();
  /** Apps whose previous targets are kept, per source: failed, or below an app that failed. */
  const keepApps = new Set<string>();
  const failedSources = new Set<string>();
  const summaries = new Map<string, AppSummary[]>();
  const bundleCache = new Map<string, string>();

  for (const outcome of outcomes) {
    const sourceId = outcome.source.id;
    if (!outcome.ok) {
      failedSources.add(sourceId);
      summaries.set(sourceId, [...(previousApps.get(sourceId) ?? [])]);
      continue;
    }
    const { resolution } = outcome;
    for (const name of protectedApps(resolution, previousApps.get(sourceId) ?? [])) keepApps.add(name);
    const clustersByApp = new Map<string, string[]>();
    const revisionByApp = new Map<string, string>();
    for (const target of resolution.targets) {
      const cluster = byName.get(target.cluster);
      if (!cluster) continue;
      const apps = next.get(cluster.id) ?? new Map<string, TargetInput>();
      next.set(cluster.id, apps);
      if (apps.has(target.app)) continue; // The first source to declare an app wins; see duplicates below.
      apps.set(target.app, await toTargetInput(store, target, sourceId, bundleCache));
      clustersByApp.set(target.app, [...(clustersByApp.get(target.app) ?? []), target.cluster]);
      revisionByApp.set(target.app, target.sources[0]?.commit ?? resolution.revision);
    }
    summaries.set(sourceId, summarize(resolution, sourceId, clustersByApp, revisionByApp, observedAt));
  }

  // Progressive rollouts hold a new revision back from the members whose step has not come.
  await deps.rollouts?.gate({
    declared: outcomes.flatMap((outcome) =>
      outcome.ok
        ? [
            {
              sourceId: outcome.source.id,
              declarations: outcome.resolution.rollouts,
              problemApps: new Set(
                outcome.resolution.apps.filter((app) => app.state === "problem").map((app) => app.name),
              ),
              problems: outcome.resolution.problems,
            },
          ]
        : [],
    ),
    failedSources,
    clusters,
    next,
  });

  let changedTargets = 0;
  /** app -> names of the clusters where it changed / was removed, for the event history. */
  const changedIn = new Map<string, string[]>();
  const removedIn = new Map<string, string[]>();
  const note = (map: Map<string, string[]>, app: string, cluster: string) =>
    map.set(app, [...(map.get(app) ?? []), cluster]);
  // Previous targets matter only to keep what failed; without a failure they are not read.
  const keepsSome = keepApps.size > 0 || failedSources.size > 0;
  const entries: { clusterId: string; next: TargetInput[] }[] = [];
  for (const cluster of clusters) {
    const inputs = next.get(cluster.id) ?? new Map<string, TargetInput>();
    for (const target of keepsSome ? await store.targets.list(cluster.id) : []) {
      if (target.removed || inputs.has(target.app)) continue;
      const source = (target.desired as { sourceId?: string }).sourceId ?? "";
      if (keepApps.has(target.app) || failedSources.has(source)) {
        inputs.set(target.app, {
          app: target.app,
          digest: target.digest,
          bundleDigest: target.bundleDigest,
          desired: target.desired,
        });
      }
    }
    entries.push({ clusterId: cluster.id, next: [...inputs.values()] });
  }
  // One transaction for the whole fleet: a commit reaching 1,000 clusters used to cost 1,000.
  const results = await store.targets.applyMany(entries);
  for (const cluster of clusters) {
    const result = results.get(cluster.id);
    if (!result) continue;
    const changed = [...result.changed.map((t) => ({ app: t.app, seq: t.seq })), ...result.removed];
    if (changed.length === 0) continue;
    for (const target of result.changed) note(changedIn, target.app, cluster.name);
    for (const removal of result.removed) note(removedIn, removal.app, cluster.name);
    changedTargets += changed.length;
    const seq = Math.max(...changed.map((change) => change.seq));
    await bus.publish({
      type: "targets-changed",
      clusterId: cluster.id,
      apps: changed.map((change) => change.app),
      seq: String(seq),
    });
    log("info", "desired state changed", {
      cluster: cluster.name,
      changed: result.changed.length,
      removed: result.removed.length,
      seq,
    });
  }
  await recordChanges(store, outcomes, changedIn, removedIn);
  return { changedTargets, summaries };
}

/** One event per changed app: where it changed, at which commit, by whom and why. */
async function recordChanges(
  store: Store,
  outcomes: readonly SourceOutcome[],
  changedIn: Map<string, string[]>,
  removedIn: Map<string, string[]>,
): Promise<void> {
  const commitOf = new Map<string, { revision: string; author: string; message: string }>();
  for (const outcome of outcomes) {
    if (!outcome.ok) continue;
    const commit = { revision: outcome.resolution.revision, ...outcome.commit };
    for (const target of outcome.resolution.targets)
      if (!commitOf.has(target.app)) commitOf.set(target.app, commit);
  }
  const listed = (names: string[]) =>
    names.length <= 5 ? names.join(", ") : `${names.slice(0, 5).join(", ")} and ${names.length - 5} more`;
  for (const [app, names] of changedIn) {
    const commit = commitOf.get(app);
    const subject = commit?.message.split("\n")[0] ?? "";
    await store.events.append({
      app,
      type: "desired-changed",
      message: `new desired state for ${names.length} cluster(s) (${listed(names)})${commit ? ` at ${commit.revision.slice(0, 7)} by ${commit.author}: ${subject}` : ""}`,
      data: {
        clusters: names.slice(0, 1000),
        clusterCount: names.length,
        revision: commit?.revision ?? "",
        actor: commit?.author ?? "",
        commitMessage: commit?.message ?? "",
      },
    });
  }
  for (const [app, names] of removedIn) {
    await store.events.append({
      app,
      type: "desired-removed",
      message: `no longer targets ${names.length} cluster(s) (${listed(names)})`,
      data: { clusters: names.slice(0, 1000), clusterCount: names.length },
    });
  }
}

/**
 * Apps whose previous targets must be kept: apps that failed to resolve, and apps of the
 * previous resolve that are gone only because an ancestor failed (its children are unknown).
 */
function protectedApps(resolution: FleetResolution, previous: readonly AppSummary[]): Set<string> {
  const nodes = new Map(resolution.apps.map((node) => [node.name, node]));
  const previousParent = new Map(previous.map((app) => [app.name, app.parent]));
  const result = new Set<string>();
  const memo = new Map<string, boolean>();
  const isProtected = (name: string, depth: number): boolean => {
    const known = memo.get(name);
    if (known !== undefined) return known;
    if (depth > 64) return false;
    const node = nodes.get(name);
    let value: boolean;
    if (node) value = node.state === "problem";
    else {
      const parent = previousParent.get(name);
      value = parent !== undefined && parent !== "" && isProtected(parent, depth + 1);
    }
    memo.set(name, value);
    return value;
  };
  for (const name of new Set([...nodes.keys(), ...previousParent.keys()])) {
    if (isProtected(name, 0)) result.add(name);
  }
  return result;
}

function summarize(
  resolution: FleetResolution,
  sourceId: string,
  clustersByApp: Map<string, string[]>,
  revisionByApp: Map<string, string>,
  observedAt: Date,
): AppSummary[] {
  const problems = new Map<string, ProblemRecord[]>();
  for (const problem of resolution.problems) {
    const list = problems.get(problem.app) ?? [];
    list.push({
      app: problem.app,
      cluster: "",
      reason: problem.kind,
      message: problem.message,
      path: "",
      observedAt,
    });
    problems.set(problem.app, list);
  }
  const projects = new Map(resolution.targets.map((target) => [target.app, target.project]));
  const appSources = new Map(
    resolution.targets.flatMap((target) => {
      const first = target.sources[0];
      if (!first) return [];
      const { repoURL, path, targetRevision, chart } = first;
      return [[target.app, { repoUrl: repoURL, path, targetRevision, chart: chart ?? "" }] as const];
    }),
  );
  return resolution.apps
    .map((node) => ({
      name: node.name,
      project: projects.get(node.name) ?? "default",
      source: sourceId,
      ...(appSources.has(node.name) ? { appSource: appSources.get(node.name) } : {}),
      parent: node.parent ?? "",
      clusters: [...new Set(clustersByApp.get(node.name) ?? [])].sort(),
      problems: problems.get(node.name) ?? [],
      revision: revisionByApp.get(node.name) ?? "",
    }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The bundle (stored once per digest) and the DesiredApp fields of one target. */
async function toTargetInput(
  store: Store,
  target: ResolvedTarget,
  sourceId: string,
  bundleCache: Map<string, string>,
): Promise<TargetInput> {
  // Read once: a resolved target stamps its objects on every read (see resolveFleet's Target).
  const objects = target.objects;
  const json = toCanonicalJson(objects);
  let bundleDigest = bundleCache.get(json);
  if (!bundleDigest) {
    bundleDigest = sha256Digest(json);
    if (!(await store.bundles.has(bundleDigest))) {
      await store.bundles.put({
        digest: bundleDigest,
        encoding: BUNDLE_ENCODING,
        bytes: gzipSync(Buffer.from(json, "utf8")),
        objectCount: objects.length,
      });
    }
    bundleCache.set(json, bundleDigest);
  }
  const source = target.sources[0];
  return {
    app: target.app,
    digest: target.digest,
    bundleDigest,
    desired: {
      sourceId,
      namespace: target.namespace,
      project: target.project,
      revision: source?.commit ?? "",
      bundleEncoding: BUNDLE_ENCODING,
      objectCount: objects.length,
      ...(source
        ? {
            source: {
              repoUrl: source.repoURL,
              path: source.path,
              targetRevision: source.targetRevision || "HEAD",
              chart: source.chart ?? "",
            },
          }
        : {}),
      ...(target.syncPolicy ? { syncPolicy: toSyncPolicy(target.syncPolicy, target.app) } : {}),
      ignoreDifferences: target.ignoreDifferences.map(toIgnoreDifference),
    },
  };
}

/** Argo CD's syncPolicy as the proto's SyncPolicy init shape (JSON-safe, stored in the target). */
export function toSyncPolicy(policy: SyncPolicySpec, app: string): Record<string, unknown> {
  const automated = policy.automated;
  const out: Record<string, unknown> = { syncOptions: policy.syncOptions ?? [] };
  if (automated && automated.enabled !== false) {
    out.automated = {
      prune: automated.prune === true,
      selfHeal: automated.selfHeal === true,
      allowEmpty: automated.allowEmpty === true,
    };
  }
  const retry = policy.retry;
  if (retry) {
    const backoff = retry.backoff ?? {};
    const ms = (value: string | undefined, fallback: number, what: string) => {
      if (value === undefined || value === "") return fallback;
      try {
        return parseDuration(String(value), `app ${app}: syncPolicy.retry.backoff.${what}`);
      } catch {
        return fallback;
      }
    };
    out.retry = {
      limit: retry.limit ?? 0,
      backoffDurationMs: ms(backoff.duration, 5_000, "duration"),
      backoffFactor: backoff.factor ?? 2,
      backoffMaxDurationMs: ms(backoff.maxDuration, 180_000, "maxDuration"),
    };
  }
  return out;
}

function toIgnoreDifference(entry: unknown): Record<string, unknown> {
  const item = (entry ?? {}) as Record<string, unknown>;
  const strings = (value: unknown) =>
    Array.isArray(value) ? value.filter((v) => typeof v === "string") : [];
  const text = (value: unknown) => (typeof value === "string" ? value : "");
  return {
    group: text(item.group),
    kind: text(item.kind),
    name: text(item.name),
    namespace: text(item.namespace),
    jsonPointers: strings(item.jsonPointers),
    jqPathExpressions: strings(item.jqPathExpressions),
    managedFieldsManagers: strings(item.managedFieldsManagers),
  };
}

/** A source that could not be read, for logs and the source's status; the URL without its credentials. */
export function describeSourceFailure(source: Source, error: unknown): string {
  return `source ${source.id} (${redactRepoUrl(source.repoUrl)} ${source.path || "."} @ ${source.targetRevision}): ${describeError(error)}`;
}
