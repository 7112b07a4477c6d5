import { applyObject, deleteAndWait, dryRunApply, FIELD_MANAGER } from "../apply/apply-object.js";
import { compareWithLive, matchingIgnores, respectIgnoredFields } from "../apply/compare-objects.js";
import type { DesiredApp } from "../desired/desired-app.js";
import { aggregateAppHealth, type Health } from "../health/assess-health.js";
import { type KubeClient, KubeError, type ResourceInfo } from "../kube/kube-client.js";
import {
  formatKey,
  groupOf,
  isCustomResourceDefinition,
  type KubeObject,
  keyOf,
  type ObjectKey,
  subject,
} from "../kube/kube-object.js";
import type { AppCondition, AppStatus, OperationState, ResourceStatus } from "./app-status.js";
import type { LiveIndex } from "./live-index.js";
import { groupIntoSteps, type HookInfo, hookOf, planSync, type SyncTask, waveOf } from "./plan-sync.js";
import { parseSyncOptions, resourceSyncOptions, type SyncOptions } from "./sync-options.js";
import { isTrackedBy, stampTracking } from "./tracking.js";

/** An object the app applied, remembered so it can be pruned after a restart. */
export type InventoryEntry = { apiVersion: string; key: ObjectKey };

export type SyncEnv = {
  kube: KubeClient;
  live: LiveIndex;
  assessHealth: (obj: KubeObject) => Health | undefined;
  /** Bounds the wait for a wave to turn healthy, a hook to finish and a new CRD to be served. */
  waveTimeoutMs: number;
  pollIntervalMs: number;
  /** Parallel requests within one kind of one wave. */
  concurrency: number;
  now(): number;
  sleep(ms: number): Promise<void>;
};

/**
 * - `sync`: if anything is OutOfSync (or `explicit`), run a sync operation: hooks, waves, prune.
 * - `heal`: re-apply only what drifted and prune; no hooks (Argo CD's self-heal sync).
 * - `status`: compare and assess only; never writes.
 */
export type SyncMode = "sync" | "heal" | "status";

export type SyncRequest = {
  mode: SyncMode;
  explicit?: boolean;
  /** Delete what the app owns and no longer declares. */
  prune: boolean;
  allowEmpty: boolean;
  /** What the app applied before, so objects it no longer declares are found even if untracked in the cache. */
  inventory: readonly InventoryEntry[];
};

export type SyncOutcome = {
  status: AppStatus;
  inventory: InventoryEntry[];
  /** Undefined when no operation ran. */
  operationSucceeded?: boolean;
};

type Item = {
  object: KubeObject;
  key: ObjectKey;
  resource?: ResourceInfo;
  /** The kind comes from a CRD in the same app that the API server does not serve yet. */
  pendingCrd: boolean;
  hook?: HookInfo;
  options: SyncOptions;
  live?: KubeObject;
  outOfSync: boolean;
  status: ResourceStatus;
};

/**
 * One reconcile pass of one app: prepare the objects (namespace, tracking), compare each with
 * live through a server-side dry run, find what to prune, then (depending on the request) run the
 * sync operation in phase/wave order, waiting for each wave to be healthy when the sync has more
 * than one step, and assess health. Never throws for a single object: every object gets a result.
 */
export async function syncApp(env: SyncEnv, app: DesiredApp, request: SyncRequest): Promise<SyncOutcome> {
  const startedAt = new Date(env.now()).toISOString();
  const parsed = parseSyncOptions(app.syncPolicy.syncOptions);
  const conditions: AppCondition[] = parsed.problems.map((message) => ({
    type: "InvalidSpecError",
    message,
  }));
  const appOptions = parsed.options;
  try {
    if (appOptions.createNamespace && app.namespace && request.mode !== "status") {
      try {
        await ensureNamespace(env, app.namespace);
      } catch (error) {
        if (error instanceof KubeError && error.reason === "Unavailable") throw error;
        // Not fatal: the objects in that namespace fail on their own, each with its reason.
        conditions.push({ type: "SyncError", message: errorMessage(error) });
      }
    }
    const items = await prepareItems(env, app, appOptions, conditions);
    const managed = items.filter((item) => !item.hook);
    await watchScopes(env, items, request.inventory);
    await compareItems(env, app, managed);
    const prunable = await findPrunable(env, app, managed, request.inventory);
    const pruneItems = prunable.map((live) => pruneItem(appOptions, live));

    const outOfSync = managed.some((item) => item.outOfSync) || pruneItems.length > 0;
    let operation: OperationState | undefined;
    let operationSucceeded: boolean | undefined;
    const wantOperation =
      request.mode !== "status" && (outOfSync || (request.explicit === true && request.mode === "sync"));
    if (wantOperation) {
      const wipesAll = managed.length === 0 && pruneItems.length > 0 && request.prune;
      if (wipesAll && !request.allowEmpty) {
        conditions.push({
          type: "SyncError",
          message: "sync refused: it would prune every resource of the app and allowEmpty is false",
        });
        for (const item of pruneItems)
          item.status.message = "requires pruning; refused: the app would be emptied";
      } else {
        const run = await runOperation(env, app, request, appOptions, items, pruneItems);
        operation = {
          ...run,
          revision: app.revision,
          startedAt,
          finishedAt: new Date(env.now()).toISOString(),
        };
        operationSucceeded = run.phase === "Succeeded";
      }
    } else {
      markNotApplied(managed, pruneItems, app, request.prune);
    }

    // A hook is reported only by the pass that ran it (or failed to): one that was not run (no
    // operation, a self-heal, a SyncFail hook of a sync that succeeded) has no live object to
    // describe, and one with only generateName would have no name, as in Argo CD's sync result.
    const reported = items.filter((item) => !item.hook || item.status.result !== "unchanged");
    const resources = [...reported, ...pruneItems].map((item) => item.status);
    await assessItems(env, [...items, ...pruneItems]);
    const status = summarize(app, resources, conditions, operation);
    return { status, inventory: inventoryOf(managed, pruneItems), operationSucceeded };
  } catch (error) {
    // Only whole-app failures reach here (API server unreachable, discovery failing).
    const message = error instanceof Error ? error.message : String(error);
    const operation: OperationState | undefined =
      request.mode === "status"
        ? undefined
        : {
            phase: "Error",
            message,
            revision: app.revision,
            startedAt,
            finishedAt: new Date(env.now()).toISOString(),
          };
    return {
      status: {
        name: app.name,
        digest: app.digest,
        revision: app.revision,
        sync: "Unknown",
        health: "Unknown",
        healthMessage: message,
        operation,
        resources: [],
        conditions: [...conditions, { type: "ComparisonError", message }],
      },
      inventory: [...request.inventory],
      operationSucceeded: request.mode === "status" ? undefined : false,
    };
  }
}

/** Re-reads the live objects of a status and recomputes resource and app health, without writing. */
export async function refreshHealth(env: SyncEnv, app: DesiredApp, status: AppStatus): Promise<AppStatus> {
  const resources = await Promise.all(
    status.resources.map(async (resource) => {
      if (resource.hook || resource.result === "pruned") return resource;
      const apiVersion = resource.group ? `${resource.group}/${resource.version}` : resource.version;
      try {
        const info = await env.kube.resourceFor(apiVersion, resource.kind);
        const live = await env.live.get(apiVersion, info, resource);
        const health = healthOf(env, live);
        return { ...resource, health: health?.status, message: refreshedMessage(resource, health) };
      } catch {
        return resource;
      }
    }),
  );
  return summarize(app, resources, status.conditions, status.operation);
}

/**
 * A resource's message after its health was assessed again: a failed write keeps its reason;
 * otherwise the health's own message when it is not Healthy (a Deployment that was "waiting for
 * rollout" at sync time may since have exceeded its progress deadline), and none once Healthy.
 */
function refreshedMessage(resource: ResourceStatus, health: Health | undefined): string {
  if (resource.result === "failed") return resource.message;
  if (!health || health.status === "Healthy")
    return health?.status === resource.health ? resource.message : "";
  return health.message || (health.status === resource.health ? resource.message : "");
}

function healthOf(env: SyncEnv, live: KubeObject | undefined): Health | undefined {
  return live ? env.assessHealth(live) : { status: "Missing" };
}

function summarize(
  app: DesiredApp,
  resources: ResourceStatus[],
  conditions: AppCondition[],
  operation: OperationState | undefined,
): AppStatus {
  const managed = resources.filter((r) => !r.hook);
  const sync = managed.some((r) => r.sync === "OutOfSync")
    ? "OutOfSync"
    : managed.some((r) => r.sync === "Unknown")
      ? "Unknown"
      : "Synced";
  const health = aggregateAppHealth(
    managed
      .filter((r) => !r.requiresPruning)
      .map((r) => ({
        health: r.health
          ? { status: r.health, message: r.health === "Healthy" ? undefined : r.message }
          : undefined,
      })),
  );
  return {
    name: app.name,
    digest: app.digest,
    revision: app.revision,
    sync,
    health: health.status,
    healthMessage: health.message ?? "",
    operation,
    resources,
    conditions,
  };
}

function newStatus(obj: KubeObject, key: ObjectKey, wave: number, hook?: HookInfo): ResourceStatus {
  const version = obj.apiVersion.includes("/")
    ? obj.apiVersion.slice(obj.apiVersion.indexOf("/") + 1)
    : obj.apiVersion;
  return {
    group: key.group,
    version,
    kind: key.kind,
    namespace: key.namespace,
    name: key.name,
    result: "unchanged",
    sync: "Synced",
    message: "",
    ...(hook ? { hook: hook.phases[0] } : {}),
    wave,
    requiresPruning: false,
  };
}

function errorMessage(error: unknown): string {
  if (error instanceof KubeError && error.reason === "Forbidden") {
    return error.message.includes("forbidden") ? error.message : `forbidden: ${error.message}`;
  }
  return error instanceof Error ? error.message : String(error);
}

async function ensureNamespace(env: SyncEnv, namespace: string): Promise<void> {
  const resource = await env.kube.resourceFor("v1", "Namespace");
  const key = { group: "", kind: "Namespace", namespace: "", name: namespace };
  if (await env.live.get("v1", resource, key)) return;
  try {
    const created = await env.kube.create(
      { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } },
      { fieldManager: FIELD_MANAGER },
    );
    env.live.observe(resource, created);
  } catch (error) {
    if (error instanceof KubeError && error.reason === "Unavailable") throw error;
    if (!(error instanceof KubeError && error.reason === "AlreadyExists")) {
      throw new Error(`CreateNamespace=true: ${errorMessage(error)}`, { cause: error });
    }
  }
}

/** CRDs in the app, by `group/Kind` of the kind they define. */
function crdsOf(objects: readonly KubeObject[]): Map<string, KubeObject> {
  const crds = new Map<string, KubeObject>();
  for (const obj of objects) {
    if (!isCustomResourceDefinition(obj)) continue;
    const spec = (obj.spec ?? {}) as { group?: string; names?: { kind?: string } };
    crds.set(`${spec.group ?? ""}/${spec.names?.kind ?? ""}`, obj);
  }
  return crds;
}

async function prepareItems(
  env: SyncEnv,
  app: DesiredApp,
  appOptions: SyncOptions,
  conditions: AppCondition[],
): Promise<Item[]> {
  const crds = crdsOf(app.objects);
  const byKey = new Map<string, Item>();
  for (const original of app.objects) {
    const hook = hookOf(original);
    if (hook === "skip") continue;
    const options = resourceSyncOptions(appOptions, original);
    const wave = waveOf(original);
    let resource: ResourceInfo | undefined;
    let pendingCrd = false;
    let failure: string | undefined;
    try {
      resource = await env.kube.resourceFor(original.apiVersion, original.kind);
    } catch (error) {
      if (!(error instanceof KubeError && error.reason === "NoKind")) throw error;
      const crd = crds.get(`${groupOf(original.apiVersion)}/${original.kind}`);
      if (crd) pendingCrd = true;
      else if (!options.skipDryRunOnMissingResource) failure = error.message;
      else pendingCrd = true;
      if (crd) resource = resourceFromCrd(crd, original);
    }
    const namespaced = resource?.namespaced ?? Boolean(original.metadata.namespace);
    let object = placeObject(original, namespaced, app.namespace);
    if (!hook) object = stampTracking(object, app.name, app.namespace);
    const key = keyOf(object);
    const item: Item = {
      object,
      key,
      resource,
      pendingCrd,
      hook,
      options,
      outOfSync: false,
      status: newStatus(object, key, wave, hook),
    };
    if (namespaced && !key.namespace)
      failure = `${subject(object)}: namespaced but neither it nor the app names a namespace`;
    if (failure) {
      item.status.result = "failed";
      item.status.sync = "OutOfSync";
      item.status.message = failure;
    }
    const id = `${hook ? "hook:" : ""}${formatKey(key)}`;
    if (byKey.has(id) && !hook) {
      conditions.push({
        type: "RepeatedResourceWarning",
        message: `${subject(object)} is declared more than once; the last one wins`,
      });
    }
    byKey.set(hook && !key.name ? `${id}#${byKey.size}` : id, item);
  }
  return [...byKey.values()];
}

function resourceFromCrd(crd: KubeObject, obj: KubeObject): ResourceInfo {
  const spec = (crd.spec ?? {}) as {
    group?: string;
    scope?: string;
    names?: { plural?: string; kind?: string };
  };
  const slash = obj.apiVersion.indexOf("/");
  return {
    group: spec.group ?? "",
    version: obj.apiVersion.slice(slash + 1),
    kind: obj.kind,
    plural: spec.names?.plural ?? "",
    namespaced: spec.scope !== "Cluster",
  };
}

/** Namespaced objects without a namespace go to the app's; cluster-scoped objects carry none. */
function placeObject(obj: KubeObject, namespaced: boolean, appNamespace: string): KubeObject {
  if (namespaced && !obj.metadata.namespace && appNamespace) {
    return { ...obj, metadata: { ...obj.metadata, namespace: appNamespace } };
  }
  if (!namespaced && obj.metadata.namespace) {
    const { namespace: _dropped, ...metadata } = obj.metadata;
    return { ...obj, metadata };
  }
  return obj;
}

async function watchScopes(env: SyncEnv, items: readonly Item[], inventory: readonly InventoryEntry[]) {
  const pending: Promise<void>[] = [];
  for (const item of items) {
    if (item.resource && !item.pendingCrd) pending.push(env.live.watch(item.resource, item.key.namespace));
  }
  for (const entry of inventory) {
    pending.push(
      env.kube.resourceFor(entry.apiVersion, entry.key.kind).then(
        (resource) => env.live.watch(resource, entry.key.namespace),
        () => undefined, // the kind is gone (its CRD was deleted): nothing left to prune
      ),
    );
  }
  await Promise.all(pending);
}

/** Runs `work` over `values` with at most `limit` in flight. */
async function forEachLimited<T>(values: readonly T[], limit: number, work: (value: T) => Promise<void>) {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, values.length) }, async () => {
    while (next < values.length) {
      const value = values[next++] as T;
      await work(value);
    }
  });
  await Promise.all(workers);
}

async function compareItems(env: SyncEnv, app: DesiredApp, managed: Item[]): Promise<void> {
  await forEachLimited(managed, env.concurrency, async (item) => {
    if (item.status.result === "failed") return;
    if (item.pendingCrd || !item.resource) {
      item.outOfSync = true;
      item.status.sync = "OutOfSync";
      item.status.message = "missing (its kind is not served yet)";
      return;
    }
    try {
      item.live = await env.live.get(item.object.apiVersion, item.resource, item.key);
      if (!item.live) {
        item.outOfSync = true;
        item.status.sync = "OutOfSync";
        item.status.message = "missing";
        return;
      }
      const ignores = matchingIgnores(app.ignoreDifferences, item.object);
      if (item.options.respectIgnoreDifferences && ignores.length > 0) {
        item.object = respectIgnoredFields(item.object, item.live, ignores);
      }
      // Compare what the server would store after our apply with what it stores now, so
      // defaulted fields and fields other managers own never count as drift.
      const dryRun = await dryRunApply(env.kube, item.object, item.options.validate);
      const compared = compareWithLive(dryRun, item.live, ignores);
      if (!compared.equal) {
        item.outOfSync = true;
        item.status.sync = "OutOfSync";
        item.status.message = `differs at ${compared.differences.slice(0, 5).join(", ")}`;
      }
    } catch (error) {
      if (error instanceof KubeError && error.reason === "Unavailable") throw error;
      item.outOfSync = true;
      if (item.options.force && item.live && error instanceof KubeError && error.reason === "Invalid") {
        // Cannot be patched in place (an immutable field): Force=true re-creates it on sync.
        item.status.sync = "OutOfSync";
        item.status.message = `differs and must be re-created: ${error.message}`;
        return;
      }
      item.status.result = "failed";
      item.status.sync = "OutOfSync";
      item.status.message = errorMessage(error);
    }
  });
}

async function findPrunable(
  env: SyncEnv,
  app: DesiredApp,
  managed: readonly Item[],
  inventory: readonly InventoryEntry[],
): Promise<KubeObject[]> {
  const declared = new Set(managed.map((item) => formatKey(item.key)));
  const found = new Map<string, KubeObject>();
  const consider = (live: KubeObject | undefined) => {
    if (!live || !isTrackedBy(live, app.name) || hookOf(live) !== undefined) return;
    if (live.metadata.deletionTimestamp) return;
    const id = formatKey(keyOf(live));
    if (!declared.has(id)) found.set(id, live);
  };
  for (const live of env.live.trackedBy(app.name)) consider(live);
  for (const entry of inventory) {
    if (declared.has(formatKey(entry.key)) || found.has(formatKey(entry.key))) continue;
    try {
      const resource = await env.kube.resourceFor(entry.apiVersion, entry.key.kind);
      consider(await env.live.get(entry.apiVersion, resource, entry.key));
    } catch (error) {
      if (error instanceof KubeError && error.reason === "Unavailable") throw error;
    }
  }
  return [...found.values()].sort((a, b) => formatKey(keyOf(a)).localeCompare(formatKey(keyOf(b))));
}

function pruneItem(appOptions: SyncOptions, live: KubeObject): Item {
  const key = keyOf(live);
  const options = resourceSyncOptions(appOptions, live);
  const status = newStatus(live, key, waveOf(live));
  status.sync = "OutOfSync";
  status.requiresPruning = true;
  status.message = options.prune ? "requires pruning" : "requires pruning; not pruned: Prune=false";
  return { object: live, key, pendingCrd: false, options, live, outOfSync: true, status };
}

function markNotApplied(managed: Item[], pruneItems: Item[], app: DesiredApp, prune: boolean) {
  const why = !app.syncPolicy.automated ? "manual sync policy" : "self-heal is off";
  for (const item of managed) {
    if (item.outOfSync && item.status.result !== "failed")
      item.status.message = `${item.status.message}; not applied: ${why}`;
  }
  const whyNotPruned = app.syncPolicy.automated && !prune ? "automated prune is off" : why;
  for (const item of pruneItems) {
    if (item.options.prune) item.status.message = `requires pruning; not pruned: ${whyNotPruned}`;
  }
}

/**
 * The commit part of a revision for hook names, which must be DNS labels: "dir:ab12…" (a
 * directory digest) gives "ab12…"; anything not [a-z0-9] is dropped.
 */
function hookRevision(revision: string): string {
  return (revision.split(":").at(-1) ?? "").toLowerCase().replace(/[^a-z0-9]/g, "");
}

type RunResult = { phase: "Succeeded" | "Failed"; message: string };

async function runOperation(
  env: SyncEnv,
  app: DesiredApp,
  request: SyncRequest,
  appOptions: SyncOptions,
  items: Item[],
  pruneItems: Item[],
): Promise<RunResult> {
  const managed = items.filter((item) => !item.hook && item.status.result !== "failed");
  // Self-heal (and ApplyOutOfSyncOnly) plans only what drifted. A full sync plans everything, so
  // waves still wait on every object's health, but applyTask writes only what differs.
  const selective = request.mode === "heal" || appOptions.applyOutOfSyncOnly;
  const toApply = managed.filter((item) => !selective || item.outOfSync);
  const hooks = request.mode === "heal" ? [] : items.filter((item) => item.hook);
  const toPrune: Item[] = [];
  for (const item of pruneItems) {
    if (!request.prune) item.status.message = "requires pruning; not pruned: prune is off";
    else if (!item.options.prune) item.status.message = "requires pruning; not pruned: Prune=false";
    else if (item.options.pruneConfirm) item.status.message = "requires pruning; not pruned: Prune=confirm";
    else toPrune.push(item);
  }
  const failures = items.filter((item) => !item.hook && item.status.result === "failed");

  const byObject = new Map<KubeObject, Item>();
  for (const item of [...toApply, ...hooks, ...toPrune]) byObject.set(item.object, item);
  const plan = planSync({
    objects: [...toApply, ...hooks].map((item) => item.object),
    prune: toPrune.map((item) => item.object),
    revision: hookRevision(app.revision),
    startedAtSec: Math.floor(env.now() / 1000),
    pruneLast: appOptions.pruneLast,
  });
  const steps = groupIntoSteps(plan.tasks);
  const multiStep = steps.length > 1;
  // An object that failed before the sync (its dry run, or preparing it) fails its own wave: the
  // rest of that wave is still applied, later waves are not, as after a failed apply.
  const failedBefore = (step: readonly SyncTask[]) => {
    const first = step[0];
    if (!first || first.phase === "PreSync") return undefined;
    return failures.find((item) => first.phase !== "Sync" || item.status.wave < first.wave);
  };
  const describeFailed = (item: Item) =>
    `${failures.length} object(s) failed before the sync: ${item.status.message}`;
  let failure = "";

  for (const [index, step] of steps.entries()) {
    const earlier = failedBefore(step);
    if (earlier) failure = describeFailed(earlier);
    if (failure) break;
    const stepFailures = await runStep(env, step, byObject, appOptions);
    if (stepFailures.length > 0) {
      failure = `${stepFailures.length} object(s) failed in ${step[0]?.phase} wave ${step[0]?.wave}: ${stepFailures[0]}`;
      break;
    }
    const last = index === steps.length - 1;
    if (multiStep && !last) {
      const waited = await waitForStep(env, step, byObject);
      if (waited) failure = `${step[0]?.phase} wave ${step[0]?.wave}: ${waited}`;
    }
  }
  if (!failure && failures[0]) failure = describeFailed(failures[0]);
  if (failure) {
    for (const item of [...toApply, ...toPrune]) {
      if (item.status.result === "unchanged" && item.outOfSync) {
        item.status.message = `${item.status.message}; not applied: the sync stopped (${failure})`;
      }
    }
    const failHooks = plan.tasks.filter((task) => task.phase === "SyncFail");
    if (failHooks.length > 0) await runStep(env, failHooks, byObject, appOptions);
    return { phase: "Failed", message: failure };
  }
  return { phase: "Succeeded", message: `successfully synced (${steps.length} step(s))` };
}

/** Applies one (phase, wave): kinds in order, objects of one kind in parallel. Returns failure messages. */
async function runStep(
  env: SyncEnv,
  step: readonly SyncTask[],
  byObject: Map<KubeObject, Item>,
  appOptions: SyncOptions,
): Promise<string[]> {
  const failures: string[] = [];
  const groups: SyncTask[][] = [];
  for (const task of step) {
    const group = groups.at(-1);
    if (group?.[0]?.object.kind === task.object.kind && group[0].action === task.action) group.push(task);
    else groups.push([task]);
  }
  for (const group of groups) {
    // Kinds run in order (Namespaces before what lives in them); objects of one kind in parallel.
    await forEachLimited(group, env.concurrency, async (task) => {
      const item = itemOf(task, byObject);
      try {
        if (task.action === "prune") await pruneTask(env, item, appOptions);
        else if (task.action === "hook") {
          const failed = await runHook(env, task, item);
          if (failed) failures.push(failed);
        } else await applyTask(env, task, item);
      } catch (error) {
        item.status.result = "failed";
        item.status.message = errorMessage(error);
        const where = subject(task.object);
        failures.push(
          item.status.message.startsWith(where) ? item.status.message : `${where}: ${item.status.message}`,
        );
      }
    });
  }
  return failures;
}

/** Planned tasks may carry a copy (a hook gets its generated name); map back by identity, else by hook identity. */
function itemOf(task: SyncTask, byObject: Map<KubeObject, Item>): Item {
  const direct = byObject.get(task.object);
  if (direct) return direct;
  const { kind, metadata } = task.object;
  for (const item of byObject.values()) {
    const candidate = item.object.metadata;
    const sameHook =
      item.hook !== undefined &&
      item.object.kind === kind &&
      candidate.namespace === metadata.namespace &&
      (candidate.name ? candidate.name === metadata.name : candidate.generateName === metadata.generateName);
    if (sameHook) return item;
  }
  throw new Error(`${subject(task.object)}: planned task does not match any object of the app`);
}

async function resolvePending(env: SyncEnv, item: Item): Promise<ResourceInfo> {
  if (item.resource && !item.pendingCrd) return item.resource;
  const deadline = env.now() + env.waveTimeoutMs;
  for (;;) {
    env.kube.invalidateDiscovery();
    try {
      const resource = await env.kube.resourceFor(item.object.apiVersion, item.object.kind);
      item.resource = resource;
      item.pendingCrd = false;
      return resource;
    } catch (error) {
      if (!(error instanceof KubeError && error.reason === "NoKind") || env.now() > deadline) throw error;
    }
    await env.sleep(env.pollIntervalMs);
  }
}

async function applyTask(env: SyncEnv, task: SyncTask, item: Item): Promise<void> {
  // No write when the dry run equalled live, so a sync never bumps resourceVersion needlessly.
  if (!item.outOfSync) return;
  const resource = await resolvePending(env, item);
  const applied = await applyObject(env.kube, task.object, item.live, {
    replace: item.options.replace,
    force: item.options.force,
    validate: item.options.validate,
  });
  env.live.observe(resource, applied.object);
  if (isCustomResourceDefinition(task.object)) env.kube.invalidateDiscovery();
  item.live = applied.object;
  item.outOfSync = false;
  item.status.result = applied.result;
  item.status.sync = "Synced";
  item.status.message = "";
}

async function pruneTask(env: SyncEnv, item: Item, appOptions: SyncOptions): Promise<void> {
  const policy = item.options.prunePropagationPolicy ?? appOptions.prunePropagationPolicy;
  await env.kube.delete(item.object.apiVersion, item.key, { propagationPolicy: policy });
  if (item.resource) env.live.forget(item.resource, item.key);
  item.outOfSync = false;
  item.status.result = "pruned";
  item.status.sync = "Synced";
  item.status.requiresPruning = false;
  item.status.message = "pruned";
}

/** Creates a hook, waits for it to finish and applies its delete policy. Returns a failure message. */
async function runHook(env: SyncEnv, task: SyncTask, item: Item): Promise<string | undefined> {
  const hook = task.hook ?? item.hook;
  const policies = hook?.deletePolicies ?? ["BeforeHookCreation"];
  const resource = await resolvePending(env, item);
  const key = keyOf(task.object);
  item.key = key;
  item.status.name = key.name;
  item.status.hook = task.phase;
  const existing = await env.kube.get(task.object.apiVersion, key);
  if (existing && policies.includes("BeforeHookCreation"))
    await deleteAndWait(env.kube, task.object.apiVersion, key, env.waveTimeoutMs);
  await env.live.watch(resource, key.namespace);
  const created =
    existing && !policies.includes("BeforeHookCreation")
      ? await env.kube.apply(task.object, { fieldManager: FIELD_MANAGER, force: true })
      : await env.kube.create(task.object, { fieldManager: FIELD_MANAGER });
  env.live.observe(resource, created);
  item.status.result = existing ? "configured" : "created";
  item.status.sync = "Synced";

  const deadline = env.now() + env.waveTimeoutMs;
  let outcome: "Succeeded" | "Failed" | undefined;
  let message = "";
  while (!outcome) {
    const live = await env.live.get(task.object.apiVersion, resource, key);
    const health = live
      ? env.assessHealth(live)
      : { status: "Missing" as const, message: "hook object disappeared" };
    if (!health || health.status === "Healthy") outcome = "Succeeded";
    else if (health.status === "Degraded" || health.status === "Unknown" || health.status === "Missing") {
      outcome = "Failed";
      message = health.message ?? health.status;
    } else if (env.now() > deadline) {
      outcome = "Failed";
      message = `did not finish within ${Math.round(env.waveTimeoutMs / 1000)} s`;
    } else await env.sleep(env.pollIntervalMs);
  }
  item.status.health = outcome === "Succeeded" ? "Healthy" : "Degraded";
  item.status.message =
    outcome === "Succeeded" ? `${task.phase} hook succeeded` : `${task.phase} hook failed: ${message}`;
  const deleteNow =
    (outcome === "Succeeded" && policies.includes("HookSucceeded")) ||
    (outcome === "Failed" && policies.includes("HookFailed"));
  if (deleteNow) {
    await env.kube.delete(task.object.apiVersion, key, { propagationPolicy: "Background" });
    env.live.forget(resource, key);
  }
  return outcome === "Failed" ? `${subject(task.object)}: ${item.status.message}` : undefined;
}

/** Waits until every applied object of a step is healthy. Returns a failure message, or "" when healthy. */
async function waitForStep(
  env: SyncEnv,
  step: readonly SyncTask[],
  byObject: Map<KubeObject, Item>,
): Promise<string> {
  const applied = step.filter((task) => task.action === "apply").map((task) => itemOf(task, byObject));
  const deadline = env.now() + env.waveTimeoutMs;
  for (;;) {
    let pending: Item | undefined;
    for (const item of applied) {
      if (!item.resource) continue;
      const live = await env.live.get(item.object.apiVersion, item.resource, item.key);
      const health = live ? env.assessHealth(live) : { status: "Missing" as const };
      if (!health || health.status === "Healthy") continue;
      if (health.status === "Degraded") return `${subject(item.key)} is Degraded: ${health.message ?? ""}`;
      pending ??= item;
    }
    if (!pending) return "";
    if (env.now() > deadline) {
      return `${subject(pending.key)} did not become healthy within ${Math.round(env.waveTimeoutMs / 1000)} s`;
    }
    await env.sleep(env.pollIntervalMs);
  }
}

async function assessItems(env: SyncEnv, items: Item[]): Promise<void> {
  await forEachLimited(items, env.concurrency, async (item) => {
    if (item.hook || item.status.result === "pruned") return;
    if (item.status.requiresPruning) {
      item.status.health = item.live ? env.assessHealth(item.live)?.status : undefined;
      return;
    }
    if (!item.resource || item.pendingCrd) {
      item.status.health = "Missing";
      return;
    }
    try {
      const live = await env.live.get(item.object.apiVersion, item.resource, item.key);
      const health = healthOf(env, live);
      item.status.health = health?.status;
      if (health && health.status !== "Healthy" && health.message && !item.status.message) {
        item.status.message = health.message;
      }
    } catch (error) {
      item.status.health = "Unknown";
      if (!item.status.message) item.status.message = errorMessage(error);
    }
  });
}

function inventoryOf(managed: readonly Item[], pruneItems: readonly Item[]): InventoryEntry[] {
  const entries: InventoryEntry[] = [];
  for (const item of managed) {
    if (item.status.result === "failed" && !item.live) continue;
    entries.push({ apiVersion: item.object.apiVersion, key: item.key });
  }
  for (const item of pruneItems) {
    if (item.status.result !== "pruned") entries.push({ apiVersion: item.object.apiVersion, key: item.key });
  }
  return entries.sort((a, b) => formatKey(a.key).localeCompare(formatKey(b.key)));
}
