/**
 * FleetService app methods: ListApps and GetApp from the latest resolves (runtime.apps()) with
 * counts from the fleet index, and Sync, which records one durable sync request per target
 * cluster. Each cluster's request id is `<request_id>/<cluster>` (the store needs ids unique
 * across clusters); agents report it as AppStatus.operation.request_id.
 */
import { randomUUID } from "node:crypto";
import { fromJson, type JsonValue, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  AppConditionSchema,
  type AppStatusSchema,
  OperationStateSchema,
  ResourceStatusSchema,
} from "@flotilla/proto/gen/flotilla/v1/app_pb";
import type {
  AppTargetSchema,
  FleetService,
  SyncDispatchSchema,
} from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { GrpcError, type ServiceImpl } from "@flotilla/proto/grpc";
import type { Principal } from "../auth/api-auth.js";
import { emptyCounts, type StatusCounts } from "../fleet/fleet-index.js";
import type { AppSummary, HubRuntime } from "../server/hub-runtime.js";
import type { AppStatusRecord, Cluster } from "../store/store.js";
import { type ApiAccess, mapLimit, parseSelectorArgument, requireArgument } from "./api-access.js";
import { healthStatusOf, syncStatusOf, toCountsMessage, toProblemMessage } from "./fleet-messages.js";
import { createPageToken, pageSizeOf, readPageToken } from "./page-token.js";
import { scanFleet } from "./query-fleet-status.js";

/** Store reads in flight at once for GetApp and Sync. */
const CONCURRENCY = 16;

type AppMethods = "listApps" | "getApp" | "sync";

export function createAppHandlers(
  runtime: HubRuntime,
  access: ApiAccess,
): Pick<ServiceImpl<typeof FleetService>, AppMethods> {
  const { store, index } = runtime;

  /** Counts per app over the clusters `principal` sees, from the index. */
  function countsByApp(principal: Principal): Record<string, StatusCounts> {
    return index.query({ selector: access.scope(principal), limit: 1 }).countsByApp;
  }

  /** Names of the clusters a limited principal sees; undefined when it sees all. */
  function visibleNames(principal: Principal): Set<string> | undefined {
    if (!access.isLimited(principal)) return undefined;
    const names = new Set<string>();
    for (const cluster of scanFleet(index, { selector: access.scope(principal) })) names.add(cluster.name);
    return names;
  }

  /** The app as `principal` may see it: only its visible clusters and their problems. */
  function narrow(app: AppSummary, visible: Set<string> | undefined): AppSummary | undefined {
    if (!visible) return app;
    const clusters = app.clusters.filter((name) => visible.has(name));
    if (clusters.length === 0) return undefined;
    const problems = app.problems.filter((problem) => problem.cluster === "" || visible.has(problem.cluster));
    return { ...app, clusters, problems };
  }

  function toAppMessage(app: AppSummary, counts: StatusCounts | undefined) {
    return {
      name: app.name,
      project: app.project,
      sourceName: app.source,
      ...(app.appSource ? { source: app.appSource } : {}),
      parent: app.parent,
      counts: toCountsMessage(counts ?? emptyCounts()),
      problems: app.problems.map(toProblemMessage),
    };
  }

  return {
    async listApps(request, context) {
      const principal = await access.caller(context, "read");
      const filters = {
        namePrefix: request.namePrefix,
        project: request.project,
        problemsOnly: request.problemsOnly,
      };
      const after = readPageToken<{ n: string }>("ListApps", filters, request.pageToken);
      const counts = countsByApp(principal);
      const visible = visibleNames(principal);
      const matching = (await runtime.apps())
        .map((app) => narrow(app, visible))
        .filter((app): app is AppSummary => app !== undefined)
        .filter((app) => app.name.startsWith(request.namePrefix))
        .filter((app) => request.project === "" || app.project === request.project)
        .filter((app) => !request.problemsOnly || hasProblems(app, counts[app.name]))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const rest = after ? matching.filter((app) => app.name > after.n) : matching;
      const pageSize = pageSizeOf(request.pageSize);
      const page = rest.slice(0, pageSize);
      const last = page.at(-1);
      return {
        apps: page.map((app) => toAppMessage(app, counts[app.name])),
        nextPageToken:
          rest.length > pageSize && last ? createPageToken("ListApps", filters, { n: last.name }) : "",
        totalSize: matching.length,
      };
    },

    async getApp(request, context) {
      const principal = await access.caller(context, "read");
      requireArgument(request.name, "name", "the app name");
      const found = (await runtime.apps()).find((app) => app.name === request.name);
      const app = found && narrow(found, visibleNames(principal));
      if (!app) throw new GrpcError("NOT_FOUND", `app "${request.name}" does not exist`);
      const wanted = new Set(request.clusters);
      const byName = new Map((await store.clusters.list()).map((cluster) => [cluster.name, cluster]));
      const clusters = app.clusters
        .filter((name) => wanted.size === 0 || wanted.has(name))
        .map((name) => byName.get(name))
        .filter((cluster): cluster is Cluster => cluster !== undefined)
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const targets = await mapLimit(clusters, CONCURRENCY, async (cluster) => {
        const [list, status] = await Promise.all([
          store.targets.list(cluster.id),
          store.statuses.get(cluster.id, app.name),
        ]);
        const target = list.find((candidate) => candidate.app === app.name && !candidate.removed);
        const revision = (target?.desired as { revision?: unknown } | undefined)?.revision;
        const message: MessageInitShape<typeof AppTargetSchema> = {
          cluster: cluster.name,
          desiredDigest: target?.digest ?? "",
          desiredRevision: typeof revision === "string" ? revision : "",
          seq: BigInt(target?.seq ?? 0),
          ackedDigest: target && target.ackedSeq >= target.seq ? target.digest : "",
          ...(status ? { status: toAppStatus(status, runtime) } : {}),
        };
        return message;
      });
      return { app: toAppMessage(app, countsByApp(principal)[app.name]), targets };
    },

    async sync(request, context) {
      const principal = await access.caller(context, "write");
      requireArgument(request.app, "app", "the app to sync");
      if (request.resources.length > 0) {
        throw new GrpcError(
          "UNIMPLEMENTED",
          "resources: syncing selected objects is not supported yet; sync the whole app",
        );
      }
      const selected = parseSelectorArgument(request.selector);
      const summary = (await runtime.apps()).find((app) => app.name === request.app);
      const byName = new Map((await store.clusters.list()).map((cluster) => [cluster.name, cluster]));
      let clusters: Cluster[];
      if (request.clusters.length > 0) {
        clusters = request.clusters.map((name) => {
          const cluster = byName.get(name);
          if (!cluster) throw new GrpcError("NOT_FOUND", `cluster "${name}" does not exist`);
          return cluster;
        });
      } else {
        if (!summary) throw new GrpcError("NOT_FOUND", `app "${request.app}" does not exist`);
        clusters = summary.clusters
          .map((name) => byName.get(name))
          .filter((cluster): cluster is Cluster => cluster !== undefined);
      }
      clusters = clusters.filter((cluster) => selected(cluster.labels));
      const requestId = randomUUID();
      const dispatches = await mapLimit(
        clusters,
        CONCURRENCY,
        async (cluster): Promise<MessageInitShape<typeof SyncDispatchSchema>> => {
          if (summary && !summary.clusters.includes(cluster.name)) {
            return {
              cluster: cluster.name,
              sent: false,
              error: `app "${request.app}" does not target this cluster`,
            };
          }
          try {
            const { sent } = await runtime.requestSync({
              clusterId: cluster.id,
              app: request.app,
              requestId: `${requestId}/${cluster.name}`,
              prune: request.prune,
              force: request.force,
              dryRun: request.dryRun,
              requestedBy: principal.name,
            });
            return { cluster: cluster.name, sent, error: sent ? "" : notSentReason(cluster) };
          } catch (error) {
            return { cluster: cluster.name, sent: false, error: (error as Error).message };
          }
        },
      );
      return { requestId, dispatches };
    },
  };
}

function hasProblems(app: AppSummary, counts: StatusCounts | undefined): boolean {
  if (app.problems.length > 0) return true;
  return counts !== undefined && (counts.synced < counts.total || counts.healthy < counts.total);
}

function notSentReason(cluster: Cluster): string {
  return cluster.state === "Pending"
    ? "the agent has not connected yet; the sync runs when it does"
    : "cluster disconnected; the sync runs when its agent reconnects";
}

/** A stored status report as AppStatus; parts that no longer parse are left out and logged. */
function toAppStatus(record: AppStatusRecord, runtime: HubRuntime): MessageInitShape<typeof AppStatusSchema> {
  const parse = <T>(what: string, read: () => T): T | undefined => {
    try {
      return read();
    } catch (error) {
      runtime.log("warn", `stored ${what} of ${record.app} does not parse`, {
        clusterId: record.clusterId,
        error,
      });
      return undefined;
    }
  };
  const options = { ignoreUnknownFields: true };
  const operation =
    record.operation &&
    parse("operation", () => fromJson(OperationStateSchema, record.operation as JsonValue, options));
  const resources = parse("resources", () =>
    record.resources.map((resource) => fromJson(ResourceStatusSchema, resource as JsonValue, options)),
  );
  const conditions = parse("conditions", () =>
    record.conditions.map((condition) => fromJson(AppConditionSchema, condition as JsonValue, options)),
  );
  return {
    app: record.app,
    digest: record.digest,
    revision: record.revision,
    syncStatus: syncStatusOf(record.sync),
    healthStatus: healthStatusOf(record.health),
    healthMessage: record.healthMessage,
    ...(operation ? { operation } : {}),
    resources: resources ?? [],
    conditions: conditions ?? [],
    observedAt: timestampFromDate(record.observedAt),
  };
}
