/** A cluster known to the hub, as generators and destinations see it. */
export type Cluster = {
  name: string;
  /** API server URL as the cluster was registered; compared without a trailing "/". */
  server: string;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  project?: string;
};

/** The Argo CD in-cluster address; it names the cluster called `in-cluster`, when one is registered. */
export const IN_CLUSTER_SERVER = "https://kubernetes.default.svc";
export const IN_CLUSTER_NAME = "in-cluster";
