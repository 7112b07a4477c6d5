/** A Kubernetes object as rendered from Git: plain JSON, never a typed client model. */
export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
};

export type ObjectMeta = {
  name?: string;
  generateName?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
};

/** The API group of an apiVersion: "" for the core group ("v1"), else the part before "/". */
export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf("/");
  return slash < 0 ? "" : apiVersion.slice(0, slash);
}

/** `Kind/namespace/name` (or `Kind/name` when cluster-scoped) for logs, errors and reports. */
export function subject(obj: Pick<KubeObject, "kind" | "metadata">): string {
  const name = obj.metadata.name ?? obj.metadata.generateName ?? "<unnamed>";
  return obj.metadata.namespace ? `${obj.kind}/${obj.metadata.namespace}/${name}` : `${obj.kind}/${name}`;
}

/** True for a CustomResourceDefinition, which Argo CD never stamps with a tracking id. */
export function isCustomResourceDefinition(obj: Pick<KubeObject, "apiVersion" | "kind">): boolean {
  return obj.kind === "CustomResourceDefinition" && groupOf(obj.apiVersion) === "apiextensions.k8s.io";
}
