/**
 * The FleetService: what people, the CLI, the HTTP API (http-api.ts) and the UI ask the hub.
 * Every method authenticates the caller's API token from the "authorization" metadata and
 * authorizes with auth/api-auth.ts: reads for everyone, writes (labels, sources, sync, refresh)
 * and admin actions (tokens, credentials, removing clusters, rollout actions) for admins.
 * Viewers limited by a cluster selector see only matching clusters; other clusters are
 * NOT_FOUND to them.
 *
 * Expected refusals are GrpcErrors with the code the proto documents. Anything else a handler
 * throws is logged here and reaches the caller as INTERNAL without its details.
 */
import { FleetService } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { GrpcError, type HandlerContext, type ServiceImpl } from "@flotilla/proto/grpc";
import { checkRequest } from "../server/check-request.js";
import type { HubRuntime } from "../server/hub-runtime.js";
import { createApiAccess, parseSelectorArgument } from "./api-access.js";
import { createAppHandlers } from "./app-handlers.js";
import { createClusterHandlers } from "./cluster-handlers.js";
import { listEvents } from "./list-events.js";
import { queryFleetStatus } from "./query-fleet-status.js";
import { createRolloutHandlers, type RolloutHandlerOptions } from "./rollout-handlers.js";
import { createSourceHandlers } from "./source-handlers.js";
import { createTokenHandlers } from "./token-handlers.js";
import { watchFleet } from "./watch-fleet.js";

export type FleetServiceHandlers = ServiceImpl<typeof FleetService>;

export type FleetServiceOptions = {
  rollouts?: RolloutHandlerOptions;
};

export function createFleetService(
  runtime: HubRuntime,
  options: FleetServiceOptions = {},
): FleetServiceHandlers {
  const access = createApiAccess(runtime);

  const handlers: FleetServiceHandlers = {
    ...createClusterHandlers(runtime, access),
    ...createTokenHandlers(runtime, access),
    ...createSourceHandlers(runtime, access),
    ...createAppHandlers(runtime, access),
    ...createRolloutHandlers(runtime, access, options.rollouts),

    async getFleetStatus(request, context) {
      const principal = await access.caller(context, "read");
      const selected = parseSelectorArgument(request.selector);
      const scope = access.scope(principal);
      return queryFleetStatus(
        {
          index: runtime.index,
          clusters: (labels) => scope(labels) && selected(labels),
          liveness: access.liveness(),
          problems: async () => new Map((await runtime.apps()).map((app) => [app.name, app.problems])),
        },
        request,
      );
    },

    async *watchFleet(request, context) {
      const principal = await access.caller(context, "read");
      const selector = parseSelectorArgument(request.selector);
      yield* watchFleet({
        runtime,
        request,
        scope: access.scope(principal),
        selector,
        signal: context.signal,
      });
    },

    async listEvents(request, context) {
      const principal = await access.caller(context, "read");
      return listEvents(
        { store: runtime.store, scope: access.scope(principal), limited: access.isLimited(principal) },
        request,
      );
    },

    // biome-ignore lint/correctness/useYield: the stream fails before its first message.
    async *render(_request, context) {
      await access.caller(context, "read");
      throw new GrpcError(
        "UNIMPLEMENTED",
        "the hub does not render on request yet; run `flotilla render` locally against the repository",
      );
    },

    // biome-ignore lint/correctness/useYield: the stream fails before its first message.
    async *diff(_request, context) {
      await access.caller(context, "read");
      throw new GrpcError(
        "UNIMPLEMENTED",
        "the hub does not diff revisions on request yet; run `flotilla diff` locally against the repository",
      );
    },
  };
  return guardHandlers(handlers, runtime);
}

/**
 * Wraps every handler so a request with a NUL in a string or an out-of-range time is refused
 * (checkRequest), and an unexpected error becomes UNAVAILABLE when the store does not answer
 * (the caller may retry; the store watch logs the outage), else is logged with the method and
 * becomes INTERNAL with a generic message: its text may describe internals the caller should
 * not see. GrpcErrors pass through unchanged.
 */
function guardHandlers(handlers: FleetServiceHandlers, runtime: HubRuntime): FleetServiceHandlers {
  const toCallerError = async (method: string, error: unknown): Promise<unknown> => {
    if (error instanceof GrpcError) return error;
    if (!(await runtime.store.ping())) {
      return new GrpcError(
        "UNAVAILABLE",
        `${method}: the hub's store (its database) is unavailable; try again once it is back`,
      );
    }
    runtime.log("error", `FleetService.${method} failed`, { error });
    return new GrpcError("INTERNAL", `${method} failed inside the hub; the hub log has the details`);
  };
  const guarded: Record<string, unknown> = {};
  const byName = handlers as unknown as Record<
    string,
    (request: unknown, context: HandlerContext) => unknown
  >;
  for (const method of FleetService.methods) {
    const handler = byName[method.localName];
    if (!handler) continue;
    guarded[method.localName] =
      method.methodKind === "server_streaming"
        ? async function* (request: unknown, context: HandlerContext) {
            try {
              checkRequest(request as object, method.name);
              yield* handler(request, context) as AsyncIterable<unknown>;
            } catch (error) {
              throw await toCallerError(method.name, error);
            }
          }
        : async (request: unknown, context: HandlerContext) => {
            try {
              checkRequest(request as object, method.name);
              return await handler(request, context);
            } catch (error) {
              throw await toCallerError(method.name, error);
            }
          };
  }
  return guarded as unknown as FleetServiceHandlers;
}
