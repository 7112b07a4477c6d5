import { groupOf, type KubeObject } from "../render/kube-object.js";

// Built-in cluster-scoped kinds, keyed `group/Kind` (core group empty). Anything else is taken as
// namespaced unless a CRD in the same render declares it Cluster-scoped; the agent, which has
// discovery, has the last word when it applies.
const CLUSTER_SCOPED = new Set([
  "/Namespace",
  "/Node",
  "/PersistentVolume",
  "/ComponentStatus",
  "rbac.authorization.k8s.io/ClusterRole",
  "rbac.authorization.k8s.io/ClusterRoleBinding",
  "apiextensions.k8s.io/CustomResourceDefinition",
  "apiregistration.k8s.io/APIService",
  "storage.k8s.io/StorageClass",
  "storage.k8s.io/CSIDriver",
  "storage.k8s.io/CSINode",
  "storage.k8s.io/VolumeAttachment",
  "networking.k8s.io/IngressClass",
  "networking.k8s.io/IPAddress",
  "networking.k8s.io/ServiceCIDR",
  "scheduling.k8s.io/PriorityClass",
  "node.k8s.io/RuntimeClass",
  "admissionregistration.k8s.io/MutatingWebhookConfiguration",
  "admissionregistration.k8s.io/ValidatingWebhookConfiguration",
  "admissionregistration.k8s.io/ValidatingAdmissionPolicy",
  "admissionregistration.k8s.io/ValidatingAdmissionPolicyBinding",
  "admissionregistration.k8s.io/MutatingAdmissionPolicy",
  "admissionregistration.k8s.io/MutatingAdmissionPolicyBinding",
  "certificates.k8s.io/CertificateSigningRequest",
  "certificates.k8s.io/ClusterTrustBundle",
  "flowcontrol.apiserver.k8s.io/FlowSchema",
  "flowcontrol.apiserver.k8s.io/PriorityLevelConfiguration",
  "resource.k8s.io/DeviceClass",
  "policy/PodSecurityPolicy",
]);

/** `group/Kind` keys of the Cluster-scoped kinds that CRDs among objects declare. */
export function collectClusterScopedCrdKinds(objects: readonly KubeObject[]): Set<string> {
  const kinds = new Set<string>();
  for (const obj of objects) {
    if (obj.kind !== "CustomResourceDefinition") continue;
    const spec = obj.spec as { group?: string; scope?: string; names?: { kind?: string } } | undefined;
    if (spec?.scope === "Cluster" && spec.group && spec.names?.kind)
      kinds.add(`${spec.group}/${spec.names.kind}`);
  }
  return kinds;
}

/** True when obj's kind is cluster-scoped, built in or by a CRD from `crdKinds`. */
export function isClusterScoped(obj: KubeObject, crdKinds: ReadonlySet<string>): boolean {
  const key = `${groupOf(obj.apiVersion)}/${obj.kind}`;
  return CLUSTER_SCOPED.has(key) || crdKinds.has(key);
}
