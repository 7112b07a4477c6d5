import { type Cluster, IN_CLUSTER_NAME, IN_CLUSTER_SERVER } from "./cluster.js";

export type Destination = { name?: string; server?: string; namespace?: string };

/** The registered cluster an Application's destination names, or why there is none. */
export type DestinationMatch = { ok: true; cluster: Cluster } | { ok: false; message: string };

/** Registered clusters by name and by server (without a trailing "/"), for matching many destinations. */
export type ClusterIndex = {
  byName: ReadonlyMap<string, readonly Cluster[]>;
  byServer: ReadonlyMap<string, readonly Cluster[]>;
};

function trimServer(server: string): string {
  return server.replace(/\/+$/, "");
}

export function indexClusters(clusters: readonly Cluster[]): ClusterIndex {
  const byName = new Map<string, Cluster[]>();
  const byServer = new Map<string, Cluster[]>();
  for (const cluster of clusters) {
    const named = byName.get(cluster.name);
    if (named) named.push(cluster);
    else byName.set(cluster.name, [cluster]);
    const server = trimServer(cluster.server);
    const served = byServer.get(server);
    if (served) served.push(cluster);
    else byServer.set(server, [cluster]);
  }
  return { byName, byServer };
}

/**
 * Matches `destination.name` or `destination.server` (exactly one must be set) against the
 * registered clusters, as Argo CD does. `https://kubernetes.default.svc` names the cluster
 * called `in-cluster` when no cluster is registered with that server. Pass a ClusterIndex when
 * matching many destinations against the same clusters.
 */
export function matchDestination(
  destination: Destination | undefined,
  clusters: readonly Cluster[] | ClusterIndex,
): DestinationMatch {
  const index = "byName" in clusters ? clusters : indexClusters(clusters);
  const name = destination?.name?.trim();
  const server = destination?.server?.trim();
  if (name && server) return { ok: false, message: "destination has both name and server; set exactly one" };
  if (!name && !server) return { ok: false, message: "destination has neither name nor server" };
  if (name) {
    const found = index.byName.get(name) ?? [];
    if (found.length === 1 && found[0]) return { ok: true, cluster: found[0] };
    return found.length === 0
      ? { ok: false, message: `no registered cluster named "${name}"` }
      : { ok: false, message: `destination name "${name}" matches ${found.length} clusters` };
  }
  const wanted = trimServer(server ?? "");
  const found = index.byServer.get(wanted) ?? [];
  if (found.length === 1 && found[0]) return { ok: true, cluster: found[0] };
  if (found.length > 1) {
    const names = found.map((c) => c.name).join(", ");
    return { ok: false, message: `destination server ${wanted} matches ${found.length} clusters (${names})` };
  }
  if (wanted === IN_CLUSTER_SERVER) {
    const inCluster = index.byName.get(IN_CLUSTER_NAME)?.[0];
    if (inCluster) return { ok: true, cluster: inCluster };
  }
  return { ok: false, message: `no registered cluster with server ${wanted}` };
}
