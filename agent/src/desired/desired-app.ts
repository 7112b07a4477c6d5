import type { KubeObject } from "../kube/kube-object.js";

/** Argo CD's automated sync settings. */
export type AutomatedPolicy = { prune: boolean; selfHeal: boolean; allowEmpty: boolean };

export type RetryPolicy = {
  /** Attempts after the first; 0 means none, negative means no limit. */
  limit: number;
  backoffDurationMs: number;
  backoffFactor: number;
  backoffMaxDurationMs: number;
};

export type SyncPolicy = {
  /** Unset: the app is only synced on request; drift is reported, never corrected. */
  automated?: AutomatedPolicy;
  /** Argo CD sync options as written, for example "CreateNamespace=true". */
  syncOptions: string[];
  retry?: RetryPolicy;
};

/** Mirrors Argo CD's ignoreDifferences; empty group, name or namespace match any. */
export type IgnoreDifference = {
  group: string;
  kind: string;
  name: string;
  namespace: string;
  jsonPointers: string[];
  jqPathExpressions: string[];
  managedFieldsManagers: string[];
};

/** Everything the agent needs to reconcile one app, as the hub streams it or a directory gives it. */
export type DesiredApp = {
  name: string;
  /** Destination namespace for namespaced objects that set none. */
  namespace: string;
  /** Commit (or directory content digest) the objects came from. */
  revision: string;
  /** Opaque digest of this desired state; equal digests mean equal desired state. */
  digest: string;
  syncPolicy: SyncPolicy;
  ignoreDifferences: IgnoreDifference[];
  objects: KubeObject[];
};
