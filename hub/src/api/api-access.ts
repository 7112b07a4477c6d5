/**
 * The checks every FleetService handler starts with: who is calling (authenticate.ts), may they
 * do this (auth/api-auth.ts), and which cluster a name refers to. A limited viewer asking for a
 * cluster outside its scope gets the same NOT_FOUND as for a cluster that does not exist, so a
 * scope does not reveal which other clusters exist. Verbs are refused before any lookup, so a
 * viewer asking to write gets PERMISSION_DENIED whatever the cluster.
 */
import type { HandlerContext } from "@flotilla/proto/grpc";
import { GrpcError } from "@flotilla/proto/grpc";
import { authorize, clusterScope, type Principal, type Verb } from "../auth/api-auth.js";
import {
  type Labels,
  labelValueProblem,
  matchesSelector,
  parseLabelSelector,
  qualifiedNameProblem,
} from "../fleet/label-selector.js";
import type { HubRuntime } from "../server/hub-runtime.js";
import type { Cluster } from "../store/store.js";
import { authenticateApiToken } from "./authenticate.js";
import type { Liveness } from "./fleet-messages.js";

export type ApiAccess = {
  /** Authenticates the call and checks `verb` hub-wide; throws UNAUTHENTICATED or PERMISSION_DENIED. */
  caller(context: HandlerContext, verb: Verb): Promise<Principal>;
  /** The named cluster, if `principal` may see it and do `verb` to it; NOT_FOUND otherwise. */
  findCluster(principal: Principal, name: string, verb: Verb): Promise<Cluster>;
  /** Whether `principal` may see a cluster with these labels. */
  scope(principal: Principal): (labels: Labels) => boolean;
  /** Only some clusters are visible to `principal`. */
  isLimited(principal: Principal): boolean;
  liveness(): Liveness;
};

export function createApiAccess(runtime: HubRuntime): ApiAccess {
  return {
    async caller(context, verb) {
      const principal = await authenticateApiToken(runtime.store, context.metadata.authorization);
      const decision = authorize(principal, { verb });
      if (!decision.ok) throw new GrpcError("PERMISSION_DENIED", decision.reason);
      return principal;
    },
    async findCluster(principal, name, verb) {
      requireArgument(name, "name", "the cluster name");
      const cluster = await runtime.store.clusters.getByName(name);
      if (!cluster || !clusterScope(principal)(cluster.labels)) {
        throw new GrpcError("NOT_FOUND", `cluster "${name}" does not exist`);
      }
      const decision = authorize(principal, { verb, cluster: { labels: cluster.labels } });
      if (!decision.ok) throw new GrpcError("PERMISSION_DENIED", decision.reason);
      return cluster;
    },
    scope: clusterScope,
    isLimited: (principal) => principal.role !== "admin" && principal.selector !== undefined,
    liveness: () => ({ now: runtime.now(), heartbeatIntervalMs: runtime.heartbeatIntervalMs }),
  };
}

/** Throws INVALID_ARGUMENT naming `field` when `value` is empty. */
export function requireArgument(value: string, field: string, what: string): void {
  if (value.trim() === "") throw new GrpcError("INVALID_ARGUMENT", `${field}: ${what} is required`);
}

/** A request's label selector as a predicate; INVALID_ARGUMENT quoting it and the cause. */
export function parseSelectorArgument(text: string, field = "selector"): (labels: Labels) => boolean {
  if (text.trim() === "") return () => true;
  try {
    const selector = parseLabelSelector(text);
    return (labels) => matchesSelector(selector, labels);
  } catch (error) {
    // parseLabelSelector's message quotes the selector and names the column.
    throw new GrpcError("INVALID_ARGUMENT", `${field}: ${(error as Error).message}`);
  }
}

/** Checks label keys and values as Kubernetes does; INVALID_ARGUMENT naming the label. */
export function checkLabels(labels: Record<string, string>, field: string): void {
  for (const [key, value] of Object.entries(labels)) {
    const problem = qualifiedNameProblem(key) ?? labelValueProblem(value);
    if (problem) throw new GrpcError("INVALID_ARGUMENT", `${field}: label ${key}: ${problem}`);
  }
}

/** The error for a runtime operation that failed, keeping its message (no secrets pass through runtime errors). */
export function unavailable(what: string, error: unknown): GrpcError {
  return new GrpcError("UNAVAILABLE", `${what}: ${error instanceof Error ? error.message : String(error)}`, {
    cause: error,
  });
}

/** Runs `work` over `items` with at most `limit` at a time; results keep the order of `items`. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const at = next++;
      results[at] = await work(items[at] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
