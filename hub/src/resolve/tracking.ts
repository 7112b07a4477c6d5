import { groupOf, isCustomResourceDefinition, type KubeObject } from "../render/kube-object.js";

/** Argo CD's annotation tracking key (the default tracking method since Argo CD 3). */
export const TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id";

/**
 * Argo CD's tracking id: `<app>:<group>/<kind>:<namespace>/<name>`. The namespace is the
 * object's own, or the app's destination namespace when it has none (cluster-scoped objects too).
 */
export function formatTrackingId(appName: string, obj: KubeObject, destinationNamespace: string): string {
  const namespace = obj.metadata.namespace || destinationNamespace;
  return `${appName}:${groupOf(obj.apiVersion)}/${obj.kind}:${namespace}/${obj.metadata.name ?? ""}`;
}

/**
 * Returns a copy of obj carrying the tracking annotation, and with `metadata.namespace` set to
 * the destination namespace when `place` is true (one copy for both). CRDs, which are
 * cluster-scoped, are returned untouched: Argo CD does not track them.
 */
export function stampTracking(
  obj: KubeObject,
  appName: string,
  destinationNamespace: string,
  place = false,
): KubeObject {
  if (isCustomResourceDefinition(obj)) return obj;
  const annotations = {
    ...obj.metadata.annotations,
    [TRACKING_ANNOTATION]: formatTrackingId(appName, obj, destinationNamespace),
  };
  const metadata = place
    ? { ...obj.metadata, namespace: destinationNamespace, annotations }
    : { ...obj.metadata, annotations };
  return { ...obj, metadata };
}
