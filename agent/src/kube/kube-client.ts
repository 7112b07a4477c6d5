import type { KubeObject, ObjectKey } from "./kube-object.js";

/** One API resource as discovery reports it. */
export type ResourceInfo = {
  group: string;
  version: string;
  kind: string;
  /** The plural resource name used in URLs, for example "deployments". */
  plural: string;
  namespaced: boolean;
};

/**
 * Why a request failed, for callers that branch on it:
 * - NotFound (404), Forbidden (403), Unauthorized (401), Conflict (409, incl. SSA field conflicts),
 *   AlreadyExists (409 reason AlreadyExists), Invalid (422 / 400 BadRequest), Gone (410, watch expired);
 * - NoKind: discovery does not know the apiVersion/kind (CRD not installed);
 * - Unavailable: the API server could not be reached or answered 5xx/429 (retry later);
 * - Unknown: anything else.
 */
export type KubeErrorReason =
  | "NotFound"
  | "Forbidden"
  | "Unauthorized"
  | "Conflict"
  | "AlreadyExists"
  | "Invalid"
  | "Gone"
  | "NoKind"
  | "Unavailable"
  | "Unknown";

/**
 * A failed API request. `message` starts with the subject (`Kind/ns/name: `) and carries the API
 * server's own message (status.message), never a token or a kubeconfig.
 */
export class KubeError extends Error {
  readonly reason: KubeErrorReason;
  readonly statusCode: number | undefined;
  constructor(message: string, reason: KubeErrorReason, statusCode?: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "KubeError";
    this.reason = reason;
    this.statusCode = statusCode;
  }
}

export type ApplyOptions = {
  fieldManager: string;
  /** Take ownership of conflicting fields (kubectl --force-conflicts). */
  force: boolean;
  dryRun?: boolean;
  /** Server-side field validation: "Strict" (default), "Warn" or "Ignore" (Validate=false). */
  fieldValidation?: "Strict" | "Warn" | "Ignore";
};

export type WriteOptions = {
  fieldManager: string;
  dryRun?: boolean;
  fieldValidation?: "Strict" | "Warn" | "Ignore";
};

export type DeleteOptions = {
  propagationPolicy?: "Foreground" | "Background" | "Orphan";
  dryRun?: boolean;
};

export type WatchEvent = { type: "ADDED" | "MODIFIED" | "DELETED"; object: KubeObject };

/** A running list+watch of one resource; see `KubeClient.watch`. */
export type WatchHandle = { stop(): void };

/** Counts of requests made through this client, by verb; dry runs are counted apart. */
export type RequestCounts = {
  get: number;
  list: number;
  watch: number;
  /** Mutating requests that were not dry runs: the writes that can bump resourceVersion. */
  writes: number;
  dryRuns: number;
};

/**
 * The agent's only door to a Kubernetes API server. Implemented over @kubernetes/client-node by
 * `createKubeClient`; every method throws `KubeError` on failure.
 */
export interface KubeClient {
  /** Discovery, cached. A miss refreshes the cache at most once per `discoveryRefreshMs` and then throws NoKind. */
  resourceFor(apiVersion: string, kind: string): Promise<ResourceInfo>;
  /** Forget cached discovery, for example after a CRD was created. */
  invalidateDiscovery(): void;
  /** The API server's Kubernetes version (`/version` gitVersion, e.g. "v1.36.3"). */
  serverVersion?(): Promise<string>;
  /** Undefined when the object does not exist. */
  get(apiVersion: string, key: ObjectKey): Promise<KubeObject | undefined>;
  list(resource: ResourceInfo, namespace?: string): Promise<{ items: KubeObject[]; resourceVersion: string }>;
  /** Server-side apply (PATCH application/apply-patch+yaml). Returns the object the server returned. */
  apply(obj: KubeObject, options: ApplyOptions): Promise<KubeObject>;
  create(obj: KubeObject, options: WriteOptions): Promise<KubeObject>;
  /** PUT; `obj.metadata.resourceVersion` may be empty to replace unconditionally. */
  replace(obj: KubeObject, options: WriteOptions): Promise<KubeObject>;
  /** Resolves when the delete was accepted (NotFound counts as done). */
  delete(apiVersion: string, key: ObjectKey, options?: DeleteOptions): Promise<void>;
  /**
   * List then watch `resource` (all namespaces, or one), calling `onEvent` for every object of
   * the initial list (as ADDED) and every change after. Reconnects by itself: on a dropped
   * connection it resumes from the last resourceVersion, on 410 Gone it relists (and reports
   * objects that vanished meanwhile as DELETED), with capped backoff while the server is away.
   * `onSynced` is called after each (re)list completes and when a watch is re-established after a
   * failure (the stream then resumes where it stopped); `onError` for each failure it retries
   * (410 Gone included, with reason "Gone").
   */
  watch(
    resource: ResourceInfo,
    namespace: string | undefined,
    handlers: {
      onEvent(event: WatchEvent): void;
      onSynced?(): void;
      onError?(error: KubeError): void;
    },
  ): WatchHandle;
  /** Requests made so far. */
  requestCounts(): RequestCounts;
  /** A short description of the server for messages: its URL, never credentials. */
  readonly server: string;
}
