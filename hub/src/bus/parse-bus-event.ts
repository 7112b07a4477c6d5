import type { BusEvent, BusEventType, ClusterState } from "./bus.js";

type Fields = Record<string, unknown>;

const CLUSTER_STATES: readonly ClusterState[] = ["Connected", "Disconnected", "Pending"];

const isText = (value: unknown): value is string => typeof value === "string" && value !== "";
const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

/** One reader per event type; each returns a fresh object with the known fields only. */
const READERS: { [T in BusEventType]: (raw: Fields) => Extract<BusEvent, { type: T }> | undefined } = {
  "targets-changed": ({ clusterId, apps, seq }) =>
    isText(clusterId) &&
    Array.isArray(apps) &&
    apps.every(isText) &&
    typeof seq === "string" &&
    /^\d+$/.test(seq)
      ? { type: "targets-changed", clusterId, apps: [...apps], seq }
      : undefined,
  status: ({ clusterId, app, digest, sync, health, observedAt, revision, message, removed }) =>
    isText(clusterId) &&
    isText(app) &&
    typeof digest === "string" &&
    isText(sync) &&
    isText(health) &&
    isText(observedAt)
      ? {
          type: "status",
          clusterId,
          app,
          digest,
          sync,
          health,
          observedAt,
          revision: typeof revision === "string" ? revision : "",
          message: typeof message === "string" ? message : "",
          ...(removed === true ? { removed: true } : {}),
        }
      : undefined,
  cluster: ({ clusterId, state, replica, at }) =>
    isText(clusterId) && CLUSTER_STATES.includes(state as ClusterState) && isText(replica) && isText(at)
      ? { type: "cluster", clusterId, state: state as ClusterState, replica, at }
      : undefined,
  "sync-request": ({ clusterId, app, requestId }) =>
    isText(clusterId) && isText(app) && isText(requestId)
      ? { type: "sync-request", clusterId, app, requestId }
      : undefined,
  "cluster-changed": ({ clusterId }) =>
    isText(clusterId) ? { type: "cluster-changed", clusterId } : undefined,
  refresh: ({ requestId, source, hard }) =>
    isText(requestId) && typeof source === "string" && typeof hard === "boolean"
      ? { type: "refresh", requestId, source, hard }
      : undefined,
  resolved: ({ requestId, changedTargets, error }) =>
    typeof requestId === "string" && isCount(changedTargets) && typeof error === "string"
      ? { type: "resolved", requestId, changedTargets, error }
      : undefined,
  "rotate-credential": ({ clusterId, requestId, graceMs }) =>
    isText(clusterId) && isText(requestId) && isCount(graceMs)
      ? { type: "rotate-credential", clusterId, requestId, graceMs }
      : undefined,
  "credential-rotated": ({ clusterId, requestId, delivered }) =>
    isText(clusterId) && isText(requestId) && typeof delivered === "boolean"
      ? { type: "credential-rotated", clusterId, requestId, delivered }
      : undefined,
};

/**
 * Reads a decoded JSON value as a BusEvent, or undefined when its `type` is unknown or a field
 * is missing or of the wrong kind. Unknown fields are dropped, so a newer replica may add
 * fields during a rolling upgrade; an unknown type (a newer event) is not an error for the
 * caller to fix, only a message to count and drop.
 */
export function parseBusEvent(value: unknown): BusEvent | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const raw = value as Fields;
  const read = Object.hasOwn(READERS, raw.type as string) ? READERS[raw.type as BusEventType] : undefined;
  return read?.(raw);
}
