/**
 * FleetService source methods and Refresh. Adding or removing a source answers at once and
 * starts a refresh in the background (its failure is logged; ListSources shows a fetch error);
 * Refresh itself waits for the resolve, as the proto says.
 */
import { durationMs } from "@bufbuild/protobuf/wkt";
import type { FleetService } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { GrpcError, type ServiceImpl } from "@flotilla/proto/grpc";
import type { HubRuntime } from "../server/hub-runtime.js";
import { redactRepoUrl } from "../source/normalize-repo-url.js";
import { type ApiAccess, requireArgument, unavailable } from "./api-access.js";
import { toSourceMessage } from "./fleet-messages.js";

const DEFAULT_POLL_INTERVAL_MS = 30_000;
const MIN_POLL_INTERVAL_MS = 1_000;
/** The store keeps the interval as a 32-bit integer, and timers wait at most as long. */
const MAX_POLL_INTERVAL_MS = 2_147_483_647;
const SOURCE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

type SourceMethods = "addSource" | "listSources" | "removeSource" | "refresh";

export function createSourceHandlers(
  runtime: HubRuntime,
  access: ApiAccess,
): Pick<ServiceImpl<typeof FleetService>, SourceMethods> {
  const { store } = runtime;

  /** Starts a refresh without waiting; the caller's response does not depend on it. */
  function refreshInBackground(source: string | undefined, why: string): void {
    void runtime.refresh(source ? { source } : {}).catch((error: unknown) => {
      runtime.log("warn", `refresh after ${why} failed`, { ...(source ? { source } : {}), error });
    });
  }

  return {
    async addSource(request, context) {
      const principal = await access.caller(context, "write");
      requireArgument(request.name, "name", "the source name");
      if (!SOURCE_NAME.test(request.name)) {
        throw new GrpcError(
          "INVALID_ARGUMENT",
          `name: "${request.name}" must be a DNS label (lowercase letters, digits, "-", at most 63)`,
        );
      }
      requireArgument(request.repoUrl, "repo_url", "the repository URL");
      if (carriesCredentials(request.repoUrl)) {
        throw new GrpcError(
          "INVALID_ARGUMENT",
          `repo_url: ${redactRepoUrl(request.repoUrl)} must not carry credentials; configure them in the hub's repositories`,
        );
      }
      const pollIntervalMs = request.pollInterval
        ? durationMs(request.pollInterval)
        : DEFAULT_POLL_INTERVAL_MS;
      if (pollIntervalMs < MIN_POLL_INTERVAL_MS) {
        throw new GrpcError("INVALID_ARGUMENT", "poll_interval: must be at least 1s");
      }
      if (pollIntervalMs > MAX_POLL_INTERVAL_MS) {
        throw new GrpcError("INVALID_ARGUMENT", "poll_interval: must be at most 596h (24.8 days)");
      }
      const added = await store.sources.add({
        id: request.name,
        repoUrl: request.repoUrl.trim(),
        path: request.path || ".",
        targetRevision: request.targetRevision || "HEAD",
        pollIntervalMs,
      });
      if (!added.ok) {
        throw new GrpcError(
          "ALREADY_EXISTS",
          `source "${request.name}" already exists (same name, or same repository, path and revision)`,
        );
      }
      const { source } = added;
      await store.events.append({
        type: "source-added",
        message: `source ${source.id} (${redactRepoUrl(source.repoUrl)}) added by ${principal.name}`,
        data: { actor: principal.name, source: source.id },
      });
      refreshInBackground(source.id, `adding source ${source.id}`);
      return {
        source: toSourceMessage({
          id: source.id,
          repoUrl: source.repoUrl,
          path: source.path,
          targetRevision: source.targetRevision,
          pollIntervalMs: source.pollIntervalMs,
          revision: "",
          fetchedAt: null,
          error: "",
          appCount: 0,
        }),
      };
    },

    async listSources(_request, context) {
      await access.caller(context, "read");
      return { sources: (await runtime.sources()).map(toSourceMessage) };
    },

    async removeSource(request, context) {
      const principal = await access.caller(context, "write");
      requireArgument(request.name, "name", "the source name");
      if (!(await store.sources.remove(request.name))) {
        throw new GrpcError("NOT_FOUND", `source "${request.name}" does not exist`);
      }
      await store.events.append({
        type: "source-removed",
        message: `source ${request.name} removed by ${principal.name}`,
        data: { actor: principal.name, source: request.name },
      });
      // Resolving again drops the source's apps from every cluster.
      refreshInBackground(undefined, `removing source ${request.name}`);
      return {};
    },

    async refresh(request, context) {
      await access.caller(context, "write");
      if (request.source && !(await store.sources.get(request.source))) {
        throw new GrpcError("NOT_FOUND", `source "${request.source}" does not exist`);
      }
      let result: Awaited<ReturnType<HubRuntime["refresh"]>>;
      try {
        result = await runtime.refresh({
          ...(request.source ? { source: request.source } : {}),
          hard: request.hard,
        });
      } catch (error) {
        throw unavailable(
          `refresh of ${request.source ? `source ${request.source}` : "every source"}`,
          error,
        );
      }
      return { sources: result.sources.map(toSourceMessage), changedTargets: result.changedTargets };
    },
  };
}

/** An http(s) URL with a user name or password in it (ssh://git@host is fine: no secret). */
function carriesCredentials(url: string): boolean {
  if (!URL.canParse(url.trim())) return false;
  const parsed = new URL(url.trim());
  return /^https?:$/.test(parsed.protocol) && (parsed.username !== "" || parsed.password !== "");
}
