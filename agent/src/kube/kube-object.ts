/** A Kubernetes object as plain JSON (unstructured), never a typed client model. */
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
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  deletionTimestamp?: string;
  ownerReferences?: unknown[];
  managedFields?: ManagedFieldsEntry[];
  [field: string]: unknown;
};

export type ManagedFieldsEntry = {
  manager?: string;
  operation?: string;
  apiVersion?: string;
  fieldsType?: string;
  fieldsV1?: Record<string, unknown>;
  subresource?: string;
  [field: string]: unknown;
};

/** Identifies one object. `namespace` is "" for cluster-scoped objects. */
export type ObjectKey = { group: string; kind: string; namespace: string; name: string };

/** The API group of an apiVersion: "" for the core group ("v1"), else the part before "/". */
export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf("/");
  return slash < 0 ? "" : apiVersion.slice(0, slash);
}

/** The key of an object; pass `namespace` to override (for example "" once known cluster-scoped). */
export function keyOf(
  obj: Pick<KubeObject, "apiVersion" | "kind" | "metadata">,
  namespace?: string,
): ObjectKey {
  return {
    group: groupOf(obj.apiVersion),
    kind: obj.kind,
    namespace: namespace ?? obj.metadata.namespace ?? "",
    name: obj.metadata.name ?? "",
  };
}

/** `group/Kind/namespace/name`: a map key that is unique per object. */
export function formatKey(key: ObjectKey): string {
  return `${key.group}/${key.kind}/${key.namespace}/${key.name}`;
}

/** `Kind/namespace/name` (or `Kind/name` when cluster-scoped) for logs, errors and reports. */
export function subject(obj: Pick<KubeObject, "kind" | "metadata"> | ObjectKey): string {
  const { kind } = obj;
  const name = "metadata" in obj ? (obj.metadata.name ?? obj.metadata.generateName ?? "<unnamed>") : obj.name;
  const namespace = "metadata" in obj ? obj.metadata.namespace : obj.namespace;
  return namespace ? `${kind}/${namespace}/${name}` : `${kind}/${name}`;
}

/** True for a CustomResourceDefinition. */
export function isCustomResourceDefinition(obj: Pick<KubeObject, "apiVersion" | "kind">): boolean {
  return obj.kind === "CustomResourceDefinition" && groupOf(obj.apiVersion) === "apiextensions.k8s.io";
}
