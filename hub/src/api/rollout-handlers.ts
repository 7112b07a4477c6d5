/**
 * FleetService rollout methods. ListRollouts (viewers) reads the stored rollout states, narrowed
 * for a viewer limited to some clusters to the members in those clusters. UpdateRollout (admins)
 * queues pause, resume, abort or promote for the replica that drives rollouts and waits up to
 * `actionWaitMs` for it to be carried out (../rollout/rollout-commands.ts).
 */
import type { FleetService } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { GrpcError, type ServiceImpl } from "@flotilla/proto/grpc";
import type { Principal } from "../auth/api-auth.js";
import { listRolloutViews, ROLLOUT_ACTIONS, requestRolloutAction } from "../rollout/rollout-commands.js";
import type { HubRuntime } from "../server/hub-runtime.js";
import { type ApiAccess, requireArgument } from "./api-access.js";
import { rolloutActionName, toRolloutMessage } from "./rollout-messages.js";

export type RolloutHandlerOptions = {
  /** How long UpdateRollout waits for the action to be carried out before answering "queued"; default 10 s. */
  actionWaitMs?: number;
};

type RolloutMethods = "listRollouts" | "updateRollout";

export function createRolloutHandlers(
  runtime: HubRuntime,
  access: ApiAccess,
  options: RolloutHandlerOptions = {},
): Pick<ServiceImpl<typeof FleetService>, RolloutMethods> {
  const { store } = runtime;

  /** Names of the clusters a limited principal sees; undefined when it sees all. */
  async function visibleClusters(principal: Principal): Promise<Set<string> | undefined> {
    if (!access.isLimited(principal)) return undefined;
    const scope = access.scope(principal);
    const clusters = await store.clusters.list();
    return new Set(clusters.filter((cluster) => scope(cluster.labels)).map((cluster) => cluster.name));
  }

  return {
    async listRollouts(request, context) {
      const principal = await access.caller(context, "read");
      const visible = await visibleClusters(principal);
      const views = await listRolloutViews(store, {
        ...(request.name !== "" ? { name: request.name } : {}),
        ...(visible ? { clusterVisible: (cluster: string) => visible.has(cluster) } : {}),
      });
      return { rollouts: views.map(toRolloutMessage) };
    },

    async updateRollout(request, context) {
      const principal = await access.caller(context, "admin");
      requireArgument(request.name, "name", "the rollout name");
      const action = rolloutActionName(request.action);
      if (!action) {
        throw new GrpcError(
          "INVALID_ARGUMENT",
          `rollout ${request.name}: action ${request.action === 0 ? "is required" : `${request.action} is unknown`}; one of ${ROLLOUT_ACTIONS.join(", ")}`,
        );
      }
      const outcome = await requestRolloutAction(
        store,
        { name: request.name, action, all: request.all, actor: principal.name },
        options.actionWaitMs,
        context.signal,
      );
      if (!outcome.ok)
        throw new GrpcError(
          outcome.reason === "not-found" ? "NOT_FOUND" : "INVALID_ARGUMENT",
          outcome.message,
        );
      return { rollout: toRolloutMessage(outcome.rollout), applied: outcome.applied };
    },
  };
}
