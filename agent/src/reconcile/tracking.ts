import { groupOf, isCustomResourceDefinition, type KubeObject } from "../kube/kube-object.js";

/** Argo CD's annotation tracking (the default since Argo CD 3): `<app>:<group>/<kind>:<namespace>/<name>`. */
export const TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id";

export type TrackingId = { app: string; group: string; kind: string; namespace: string; name: string };

/**
 * The tracking id of `obj` for `appName`. The namespace is the object's, or `destinationNamespace`
 * when the object has none, cluster-scoped objects included (Argo CD's BuildAppInstanceValue).
 */
export function formatTrackingId(appName: string, obj: KubeObject, destinationNamespace: string): string {
  const namespace = obj.metadata.namespace || destinationNamespace;
  return `${appName}:${groupOf(obj.apiVersion)}/${obj.kind}:${namespace}/${obj.metadata.name ?? ""}`;
}

/** Parses a tracking id like Argo CD's ParseAppInstanceValue; undefined when malformed. */
export function parseTrackingId(value: string): TrackingId | undefined {
  const first = value.indexOf(":");
  const second = first < 0 ? -1 : value.indexOf(":", first + 1);
  if (second < 0) return undefined;
  const groupKind = value.slice(first + 1, second).split("/");
  const namespaceName = value.slice(second + 1).split("/");
  if (groupKind.length !== 2 || namespaceName.length !== 2) return undefined;
  const [group = "", kind = ""] = groupKind;
  const [namespace = "", name = ""] = namespaceName;
  return { app: value.slice(0, first), group, kind, namespace, name };
}

/** The app named by the object's tracking annotation; undefined when absent or malformed. */
export function trackingAppOf(obj: KubeObject): string | undefined {
  const value = obj.metadata.annotations?.[TRACKING_ANNOTATION];
  return value === undefined ? undefined : parseTrackingId(value)?.app;
}

/**
 * True when live `obj` carries `appName`'s tracking id, the id names the object itself (Argo CD's
 * isSelfReferencedObj: group, kind and name equal, namespace equal or empty on the live object, so
 * an annotation a controller copied onto another object does not count), and the object has no
 * ownerReferences (children of controllers are never managed).
 */
export function isTrackedBy(obj: KubeObject, appName: string): boolean {
  const value = obj.metadata.annotations?.[TRACKING_ANNOTATION];
  if (value === undefined) return false;
  const id = parseTrackingId(value);
  if (!id || id.app !== appName) return false;
  if ((obj.metadata.ownerReferences?.length ?? 0) > 0) return false;
  const namespace = obj.metadata.namespace ?? "";
  return (
    id.group === groupOf(obj.apiVersion) &&
    id.kind === obj.kind &&
    id.name === (obj.metadata.name ?? "") &&
    (namespace === "" || namespace === id.namespace)
  );
}

/** A copy of `obj` with the tracking annotation for `appName`; CRDs are returned unchanged, as Argo CD never tracks them. */
export function stampTracking(obj: KubeObject, appName: string, destinationNamespace: string): KubeObject {
  if (isCustomResourceDefinition(obj)) return obj;
  return {
    ...obj,
    metadata: {
      ...obj.metadata,
      annotations: {
        ...obj.metadata.annotations,
        [TRACKING_ANNOTATION]: formatTrackingId(appName, obj, destinationNamespace),
      },
    },
  };
}
