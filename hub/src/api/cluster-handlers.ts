/**
 * FleetService cluster methods: list, get, label, remove, rotate the credential. Listing reads
 * the store (registration facts, seqs) and the fleet index (live state, app counts); changes go
 * to the store, then `runtime.clusterChanged` tells every replica, and each change is recorded
 * in the event trail with the caller's token name as actor.
 */
import { durationMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { HealthStatus, SyncStatus } from "@flotilla/proto/gen/flotilla/v1/app_pb";
import type { ConnectionState, FleetService } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { GrpcError, type ServiceImpl } from "@flotilla/proto/grpc";
import type { HubRuntime, ProblemRecord } from "../server/hub-runtime.js";
import type { Cluster } from "../store/store.js";
import { type ApiAccess, checkLabels, parseSelectorArgument, unavailable } from "./api-access.js";
import { connectionOf, type StatusRowMessage, toClusterMessage, toStatusRow } from "./fleet-messages.js";
import { createPageToken, pageSizeOf, readPageToken } from "./page-token.js";
import { countProblems } from "./query-fleet-status.js";

const DEFAULT_GRACE_MS = 60 * 60 * 1000;
/** Ten years: a later expiry of the old credential would not fit the store's timestamps for long. */
const MAX_GRACE_MS = 10 * 365 * 24 * 60 * 60 * 1000;

type ClusterMethods =
  | "listClusters"
  | "getCluster"
  | "labelCluster"
  | "removeCluster"
  | "rotateClusterCredential";

export function createClusterHandlers(
  runtime: HubRuntime,
  access: ApiAccess,
): Pick<ServiceImpl<typeof FleetService>, ClusterMethods> {
  const { store, index } = runtime;

  /** Tells the other replicas; the change is stored already, so a bus failure is only logged. */
  async function announce(cluster: Cluster): Promise<void> {
    try {
      await runtime.clusterChanged(cluster.id);
    } catch (error) {
      runtime.log("warn", "cluster change not announced; replicas catch up on their next reload", {
        cluster: cluster.name,
        error,
      });
    }
  }

  return {
    async listClusters(request, context) {
      const principal = await access.caller(context, "read");
      const selected = parseSelectorArgument(request.selector);
      const scope = access.scope(principal);
      const states = new Set<ConnectionState>(request.connection);
      const filters = {
        selector: request.selector,
        namePrefix: request.namePrefix,
        connection: [...states].sort((a, b) => a - b),
      };
      const after = readPageToken<{ n: string }>("ListClusters", filters, request.pageToken);
      const liveness = access.liveness();
      const matching = (await store.clusters.list())
        .filter((cluster) => scope(cluster.labels) && selected(cluster.labels))
        .filter((cluster) => cluster.name.startsWith(request.namePrefix))
        .filter(
          (cluster) =>
            states.size === 0 || states.has(connectionOf(cluster.state, cluster.lastSeenAt, liveness)),
        )
        // Sorted here, not by the database, so the order matches the page token's comparison.
        .sort((a, b) => compareText(a.name, b.name));
      const rest = after ? matching.filter((cluster) => cluster.name > after.n) : matching;
      const pageSize = pageSizeOf(request.pageSize);
      const page = rest.slice(0, pageSize);
      const last = page.at(-1);
      return {
        clusters: page.map((cluster) =>
          toClusterMessage(cluster, index.cluster(cluster.id)?.apps ?? [], liveness),
        ),
        nextPageToken:
          rest.length > pageSize && last ? createPageToken("ListClusters", filters, { n: last.name }) : "",
        totalSize: matching.length,
      };
    },

    async getCluster(request, context) {
      const principal = await access.caller(context, "read");
      const cluster = await access.findCluster(principal, request.name, "read");
      const indexed = index.cluster(cluster.id);
      const [targets, rotations] = await Promise.all([
        store.targets.list(cluster.id),
        store.events.list({ clusterId: cluster.id, type: "credential-rotated", limit: 1 }),
      ]);
      const liveness = access.liveness();
      const connection = connectionOf(cluster.state, cluster.lastSeenAt, liveness);
      const problems = new Map<string, ProblemRecord[]>(
        indexed?.apps.some((app) => app.problem)
          ? (await runtime.apps()).map((app) => [app.name, app.problems])
          : [],
      );
      const rows = new Map<string, StatusRowMessage>();
      for (const app of indexed?.apps ?? []) {
        const problemCount = app.problem ? countProblems(problems.get(app.app), cluster.name) : 0;
        rows.set(app.app, toStatusRow(cluster.name, connection, app, problemCount));
      }
      // The store's targets are authoritative for what the hub wants; the index may lag a resolve.
      for (const target of targets) {
        if (target.removed) continue;
        const revision = (target.desired as { revision?: unknown }).revision;
        rows.set(target.app, {
          cluster: cluster.name,
          app: target.app,
          connection,
          syncStatus: SyncStatus.UNKNOWN,
          healthStatus: HealthStatus.UNKNOWN,
          message: "waiting for the agent to report",
          ...rows.get(target.app),
          desiredDigest: target.digest,
          desiredRevision: typeof revision === "string" ? revision : "",
          delivered: target.ackedSeq >= target.seq,
        });
      }
      const rotatedAt = rotations.events[0]?.at;
      return {
        cluster: toClusterMessage(
          cluster,
          indexed?.apps ?? [],
          liveness,
          rotatedAt ? { credentialRotatedAt: rotatedAt } : {},
        ),
        apps: [...rows.values()].sort((a, b) => compareText(a.app ?? "", b.app ?? "")),
      };
    },

    async labelCluster(request, context) {
      const principal = await access.caller(context, "write");
      checkLabels(request.set, "set");
      const both = request.remove.filter((key) => Object.hasOwn(request.set, key));
      if (both.length > 0) {
        throw new GrpcError(
          "INVALID_ARGUMENT",
          `remove: label ${both[0]} is also in set; set or remove it, not both`,
        );
      }
      const cluster = await access.findCluster(principal, request.name, "write");
      const changes: Record<string, string | null> = { ...request.set };
      for (const key of request.remove) changes[key] = null;
      const updated = await store.clusters.updateLabels(cluster.id, changes);
      if (!updated) throw new GrpcError("NOT_FOUND", `cluster "${request.name}" does not exist`);
      const described = [
        ...Object.entries(request.set).map(([key, value]) => `${key}=${value}`),
        ...request.remove.map((key) => `-${key}`),
      ].join(", ");
      await store.events.append({
        clusterId: cluster.id,
        type: "cluster-labeled",
        message: `labels of ${cluster.name} changed by ${principal.name}: ${described || "no change"}`,
        data: {
          actor: principal.name,
          cluster: cluster.name,
          set: { ...request.set },
          remove: [...request.remove],
        },
      });
      await announce(updated);
      return { cluster: toClusterMessage(updated, index.cluster(updated.id)?.apps ?? [], access.liveness()) };
    },

    async removeCluster(request, context) {
      const principal = await access.caller(context, "admin");
      const cluster = await access.findCluster(principal, request.name, "admin");
      if (!(await store.clusters.remove(cluster.id))) {
        throw new GrpcError("NOT_FOUND", `cluster "${request.name}" does not exist`);
      }
      await store.events.append({
        clusterId: cluster.id,
        type: "cluster-removed",
        message: `cluster ${cluster.name} removed by ${principal.name}; its credentials are revoked`,
        data: { actor: principal.name, cluster: cluster.name },
      });
      await announce(cluster);
      return {};
    },

    async rotateClusterCredential(request, context) {
      const principal = await access.caller(context, "admin");
      const graceMs = request.grace ? durationMs(request.grace) : DEFAULT_GRACE_MS;
      if (graceMs < 0) throw new GrpcError("INVALID_ARGUMENT", "grace: must not be negative");
      if (graceMs > MAX_GRACE_MS)
        throw new GrpcError("INVALID_ARGUMENT", "grace: must be at most 87600h (10 years)");
      const cluster = await access.findCluster(principal, request.name, "admin");
      if (cluster.state !== "Connected") {
        throw new GrpcError(
          "FAILED_PRECONDITION",
          `cluster ${cluster.name} is ${cluster.state}: a credential is rotated over the agent's stream, so its agent must be online (or remove the cluster and join it again)`,
        );
      }
      let rotation: Awaited<ReturnType<HubRuntime["rotateCredential"]>>;
      try {
        rotation = await runtime.rotateCredential(cluster.id, graceMs);
      } catch (error) {
        throw unavailable(`rotating the credential of cluster ${cluster.name}`, error);
      }
      return {
        credential: rotation.credential,
        delivered: rotation.delivered,
        previousExpiresAt: timestampFromDate(rotation.previousExpiresAt),
      };
    },
  };
}

/** Code-unit order, as the fleet index and page tokens compare names. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
