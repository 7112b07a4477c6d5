import type { KubeClient, ResourceInfo, WatchEvent, WatchHandle } from "../kube/kube-client.js";
import { formatKey, type KubeObject, keyOf, type ObjectKey } from "../kube/kube-object.js";
import { trackingAppOf } from "./tracking.js";

/** What the index knows about one object. */
export type LiveLookup = KubeObject | undefined;

/**
 * A change seen by a watch after its first list. `specChanged` is false when only `status` (or
 * bookkeeping metadata) changed, so a rollout's status updates do not trigger drift checks.
 */
export type LiveChange = {
  type: WatchEvent["type"];
  key: ObjectKey;
  object: KubeObject;
  specChanged: boolean;
};

/**
 * The live objects of the resources the agent manages, kept current by list+watch so a resync
 * reads from memory instead of the API server. Namespaced resources are watched per namespace the
 * apps use (which also works with namespace-scoped RBAC), cluster-scoped ones cluster-wide.
 * A lookup in a scope that is not watched (or not yet synced, or whose watch is failing) falls
 * back to a GET, so the index is an optimisation, never a source of wrong answers.
 */
export type LiveIndex = {
  /** Starts watching (idempotent); resolves once the first list is in, or after its first failure. */
  watch(resource: ResourceInfo, namespace: string): Promise<void>;
  /** The live object, or undefined when it does not exist. */
  get(apiVersion: string, resource: ResourceInfo, key: ObjectKey): Promise<KubeObject | undefined>;
  /** Records an object a write returned (fresher than the watch, which follows shortly). */
  observe(resource: ResourceInfo, object: KubeObject): void;
  /** Records that an object was deleted. */
  forget(resource: ResourceInfo, key: ObjectKey): void;
  /** Cached live objects whose tracking annotation names `app`. */
  trackedBy(app: string): KubeObject[];
  /** Number of running watches, for metrics and tests. */
  watchCount(): number;
  stop(): void;
};

type Scope = {
  handle: WatchHandle;
  synced: boolean;
  failing: boolean;
  ready: Promise<void>;
  objects: Map<string, KubeObject>;
};

function scopeKey(resource: ResourceInfo, namespace: string): string {
  return `${resource.group}/${resource.kind}/${resource.namespaced ? namespace : ""}`;
}

export function createLiveIndex(
  kube: KubeClient,
  onChange: (change: LiveChange) => void = () => {},
): LiveIndex {
  const scopes = new Map<string, Scope>();

  function scopeOf(resource: ResourceInfo, namespace: string): Scope | undefined {
    return scopes.get(scopeKey(resource, namespace));
  }

  return {
    watch(resource, namespace) {
      const id = scopeKey(resource, namespace);
      const existing = scopes.get(id);
      if (existing) return existing.ready;
      let markReady = () => {};
      const ready = new Promise<void>((resolve) => {
        markReady = resolve;
      });
      const objects = new Map<string, KubeObject>();
      const scope: Scope = { handle: { stop() {} }, synced: false, failing: false, ready, objects };
      scopes.set(id, scope);
      scope.handle = kube.watch(resource, resource.namespaced ? namespace : undefined, {
        onEvent(event) {
          const key = keyOf(event.object);
          const id = formatKey(key);
          const known = objects.get(id);
          if (event.type === "DELETED") {
            // Unknown here means the agent deleted it and already forgot it: not news.
            if (!known) return;
            objects.delete(id);
          } else {
            // A write we observed may be newer than a late watch event; keep the newer one.
            if (known && isOlder(event.object, known)) return;
            objects.set(id, event.object);
          }
          if (!scope.synced) return;
          // Comparing with what is known (possibly our own write's response) keeps the echo of
          // our writes and status-only updates from looking like drift.
          const specChanged = event.type === "DELETED" || !known || specOf(known) !== specOf(event.object);
          onChange({ type: event.type, key, object: event.object, specChanged });
        },
        onSynced() {
          scope.synced = true;
          scope.failing = false;
          markReady();
        },
        onError() {
          scope.failing = true;
          markReady();
        },
      });
      return ready;
    },

    async get(apiVersion, resource, key) {
      const scope = scopeOf(resource, key.namespace);
      if (scope?.synced && !scope.failing) return scope.objects.get(formatKey(key));
      return kube.get(apiVersion, key);
    },

    observe(resource, object) {
      const key = keyOf(object);
      scopeOf(resource, key.namespace)?.objects.set(formatKey(key), object);
    },

    forget(resource, key) {
      scopeOf(resource, key.namespace)?.objects.delete(formatKey(key));
    },

    trackedBy(app) {
      const found: KubeObject[] = [];
      for (const scope of scopes.values()) {
        for (const object of scope.objects.values()) if (trackingAppOf(object) === app) found.push(object);
      }
      return found;
    },

    watchCount: () => scopes.size,

    stop() {
      for (const scope of scopes.values()) scope.handle.stop();
      scopes.clear();
    },
  };
}

/** True when `a` is an older version of the same object than `b` (resourceVersions compared as integers). */
function isOlder(a: KubeObject, b: KubeObject): boolean {
  if (a.metadata.uid !== b.metadata.uid) return false;
  const left = Number(a.metadata.resourceVersion);
  const right = Number(b.metadata.resourceVersion);
  return Number.isFinite(left) && Number.isFinite(right) && left < right;
}

/** The object without status and server bookkeeping, as a string for comparison. */
function specOf(obj: KubeObject): string {
  const { status: _status, metadata, ...rest } = obj;
  const { resourceVersion: _rv, managedFields: _mf, generation: _g, ...meta } = metadata;
  return JSON.stringify({ ...rest, metadata: meta });
}
