/**
 * GetFleetStatus over the fleet index. The proto pages by (cluster, app) row; the index pages by
 * cluster and filters one health and one sync value at a time. So this walks every cluster the
 * selector admits, in name order (one pass of FleetIndex.scan), filters rows itself, counts
 * every matching row and keeps only the rows after the page token's (cluster, app) position.
 * Memory stays bounded by the page size; time is linear in the fleet (the index is in memory).
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  GetFleetStatusRequest,
  GetFleetStatusResponseSchema,
} from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { GrpcError } from "@flotilla/proto/grpc";
import {
  emptyCounts,
  type FleetIndex,
  type IndexedApp,
  type IndexedCluster,
  isProblem,
} from "../fleet/fleet-index.js";
import type { Labels } from "../fleet/label-selector.js";
import type { ProblemRecord } from "../server/hub-runtime.js";
import {
  connectionOf,
  countApp,
  healthCodeOf,
  type Liveness,
  type StatusRowMessage,
  syncCodeOf,
  toCountsMessage,
  toStatusRow,
} from "./fleet-messages.js";
import { createPageToken, pageSizeOf, readPageToken } from "./page-token.js";

type RowPosition = { c: string; a: string };

export type FleetStatusInput = {
  index: FleetIndex;
  /** Admits a cluster by its labels: the request's selector and the caller's scope together. */
  clusters: (labels: Labels) => boolean;
  liveness: Liveness;
  /** Resolve problems by app, read only when a returned row has a problem. */
  problems: () => Promise<Map<string, ProblemRecord[]>>;
};

/** Every cluster `clusters` admits, with the apps matching app/problems, in name order. */
export function scanFleet(
  index: FleetIndex,
  query: { selector: (labels: Labels) => boolean; app?: string; problems?: boolean },
): Generator<IndexedCluster & { apps: IndexedApp[] }> {
  return index.scan({
    selector: query.selector,
    ...(query.app ? { app: query.app } : {}),
    ...(query.problems ? { problems: true } : {}),
  });
}

/** Answers GetFleetStatus; throws INVALID_ARGUMENT for a page token issued for other filters. */
export async function queryFleetStatus(
  input: FleetStatusInput,
  request: GetFleetStatusRequest,
): Promise<MessageInitShape<typeof GetFleetStatusResponseSchema>> {
  const health = codesOf(request.health, healthCodeOf, "health");
  const sync = codesOf(request.sync, syncCodeOf, "sync");
  const filters = {
    selector: request.selector,
    app: request.app,
    health: [...health].sort(),
    sync: [...sync].sort(),
    problemsOnly: request.problemsOnly,
    clusterPrefix: request.clusterPrefix,
  };
  const after = readPageToken<RowPosition>("GetFleetStatus", filters, request.pageToken);
  const pageSize = pageSizeOf(request.pageSize);

  const counts = emptyCounts();
  let clusterCount = 0;
  const page: { cluster: IndexedCluster; app: IndexedApp }[] = [];
  let more = false;
  const prefix = request.clusterPrefix;
  for (const cluster of scanFleet(input.index, {
    selector: input.clusters,
    app: request.app,
    problems: request.problemsOnly,
  })) {
    if (prefix && !cluster.name.startsWith(prefix)) {
      // Names come sorted: once past the prefix's range, nothing else can match.
      if (cluster.name > prefix) break;
      continue;
    }
    let matched = false;
    for (const app of cluster.apps) {
      if (health.size > 0 && !health.has(app.health)) continue;
      if (sync.size > 0 && !sync.has(app.sync)) continue;
      if (request.problemsOnly && !isProblem(app)) continue;
      matched = true;
      countApp(counts, app);
      if (after && !isAfter(cluster.name, app.app, after)) continue;
      if (page.length < pageSize) page.push({ cluster, app });
      else more = true;
    }
    if (matched) clusterCount += 1;
  }

  const problems = page.some(({ app }) => app.problem)
    ? await input.problems()
    : new Map<string, ProblemRecord[]>();
  const rows: StatusRowMessage[] = page.map(({ cluster, app }) =>
    toStatusRow(
      cluster.name,
      connectionOf(cluster.state, undefined, input.liveness),
      app,
      app.problem ? countProblems(problems.get(app.app), cluster.name) : 0,
    ),
  );
  const last = page.at(-1);
  return {
    rows,
    nextPageToken:
      more && last
        ? createPageToken("GetFleetStatus", filters, { c: last.cluster.name, a: last.app.app })
        : "",
    counts: toCountsMessage(counts),
    clusterCount,
  };
}

/** Problems of `app` that concern `cluster` or no cluster in particular. */
export function countProblems(problems: ProblemRecord[] | undefined, cluster: string): number {
  return (problems ?? []).filter((problem) => problem.cluster === "" || problem.cluster === cluster).length;
}

function isAfter(cluster: string, app: string, position: RowPosition): boolean {
  return cluster > position.c || (cluster === position.c && app > position.a);
}

function codesOf<E extends number, C extends string>(
  values: readonly E[],
  codeOf: (value: E) => C | undefined,
  field: string,
): Set<C> {
  const codes = new Set<C>();
  for (const value of values) {
    const code = codeOf(value);
    if (code === undefined)
      throw new GrpcError("INVALID_ARGUMENT", `${field}: ${value} is not a ${field} status`);
    codes.add(code);
  }
  return codes;
}
