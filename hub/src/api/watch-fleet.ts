/**
 * WatchFleet: bus events as WatchFleetResponse messages. The bus handler only filters (cheap,
 * synchronous, from the fleet index) and queues; the consumer turns each queued event into
 * messages at its own pace, reading the store where the event alone is not enough. When the
 * consumer falls more than `maxPending` events behind, the queue is discarded and the next
 * message is `dropped` with the number of events lost, so the watcher reloads its view.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  ConnectionState,
  type WatchFleetRequest,
  type WatchFleetResponseSchema,
} from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import type { BusEvent } from "../bus/bus.js";
import type { IndexedApp, IndexedCluster } from "../fleet/fleet-index.js";
import type { Labels } from "../fleet/label-selector.js";
import type { HubRuntime, ProblemRecord } from "../server/hub-runtime.js";
import {
  connectionOf,
  healthStatusOf,
  type StatusRowMessage,
  syncStatusOf,
  toClusterMessage,
  toStatusRow,
} from "./fleet-messages.js";
import { countProblems } from "./query-fleet-status.js";

export type WatchResponse = MessageInitShape<typeof WatchFleetResponseSchema>;

/** The default of WatchInput.maxPending. */
export const MAX_PENDING_EVENTS = 1_000;

export type WatchInput = {
  runtime: Pick<HubRuntime, "bus" | "index" | "store" | "now" | "heartbeatIntervalMs" | "apps" | "log">;
  request: WatchFleetRequest;
  /** The caller's scope and the request's selector, over cluster labels. */
  scope: (labels: Labels) => boolean;
  selector: (labels: Labels) => boolean;
  /** Ends the watch (the generator returns). */
  signal: AbortSignal;
  maxPending?: number;
};

type Snapshot = { name: string; labels: Labels };
type Pending = { event: BusEvent; before: Snapshot | undefined };
type IndexedEntry = IndexedCluster & { apps: IndexedApp[] };

/** Yields changes after the subscription is ready until `signal` aborts. */
export async function* watchFleet(input: WatchInput): AsyncGenerator<WatchResponse> {
  const { runtime, request, scope, selector, signal } = input;
  const maxPending = input.maxPending ?? MAX_PENDING_EVENTS;
  const admits = (name: string, labels: Labels) =>
    scope(labels) && selector(labels) && name.startsWith(request.clusterPrefix);
  const wantsApp = (app: string) => request.app === "" || request.app === app;
  const liveness = () => ({ now: runtime.now(), heartbeatIntervalMs: runtime.heartbeatIntervalMs });

  const pending: Pending[] = [];
  let dropped = 0;
  let wake: (() => void) | undefined;
  let problems: Promise<Map<string, ProblemRecord[]>> | undefined;
  const push = (item: Pending) => {
    if (pending.length >= maxPending) {
      dropped += pending.length + 1;
      pending.length = 0;
    } else {
      pending.push(item);
    }
    wake?.();
    wake = undefined;
  };

  const onEvent = (event: BusEvent) => {
    if (event.type === "resolved") {
      problems = undefined;
      return;
    }
    if (event.type === "cluster-changed") {
      const cluster = runtime.index.cluster(event.clusterId);
      push({ event, before: cluster && { name: cluster.name, labels: cluster.labels } });
      return;
    }
    if (event.type !== "status" && event.type !== "targets-changed" && event.type !== "cluster") return;
    if (event.type === "status" && !wantsApp(event.app)) return;
    if (event.type === "targets-changed" && !event.apps.some(wantsApp)) return;
    const cluster = runtime.index.cluster(event.clusterId);
    if (!cluster || !admits(cluster.name, cluster.labels)) return;
    push({ event, before: { name: cluster.name, labels: cluster.labels } });
  };

  const problemsOf = async (app: IndexedApp | undefined, cluster: string): Promise<number> => {
    if (!app?.problem) return 0;
    problems ??= runtime
      .apps()
      .then((apps) => new Map(apps.map((summary) => [summary.name, summary.problems])));
    return countProblems((await problems).get(app.app), cluster);
  };

  const rowOf = async (
    name: string,
    indexed: IndexedEntry | undefined,
    appName: string,
  ): Promise<StatusRowMessage> => {
    const app = indexed?.apps.find((entry) => entry.app === appName);
    const connection = indexed
      ? connectionOf(indexed.state, undefined, liveness())
      : ConnectionState.UNSPECIFIED;
    if (!app) return { cluster: name, app: appName, connection };
    return toStatusRow(name, connection, app, await problemsOf(app, name));
  };

  async function convert({ event, before }: Pending): Promise<WatchResponse[]> {
    switch (event.type) {
      case "status": {
        const indexed = runtime.index.cluster(event.clusterId);
        const name = indexed?.name ?? before?.name ?? "";
        const last = await rowOf(name, indexed, event.app);
        if (event.removed) return [{ event: { case: "statusRemoved", value: last } }];
        const row: StatusRowMessage = {
          ...last,
          syncStatus: syncStatusOf(event.sync),
          healthStatus: healthStatusOf(event.health),
          message: event.message,
          revision: event.revision,
          delivered: last.desiredDigest !== "" && last.desiredDigest === event.digest,
        };
        const observedMs = Date.parse(event.observedAt);
        if (Number.isFinite(observedMs)) row.observedAt = timestampFromDate(new Date(observedMs));
        return [{ event: { case: "statusChanged", value: row } }];
      }
      case "targets-changed": {
        const indexed = runtime.index.cluster(event.clusterId);
        const name = indexed?.name ?? before?.name ?? "";
        const targets = new Map(
          (await runtime.store.targets.list(event.clusterId)).map((target) => [target.app, target]),
        );
        const responses: WatchResponse[] = [];
        for (const app of event.apps.filter(wantsApp)) {
          const row = await rowOf(name, indexed, app);
          const target = targets.get(app);
          if (!target || target.removed) {
            responses.push({ event: { case: "statusRemoved", value: row } });
            continue;
          }
          const revision = (target.desired as { revision?: unknown }).revision;
          responses.push({
            event: {
              case: "statusChanged",
              value: {
                ...row,
                desiredDigest: target.digest,
                desiredRevision: typeof revision === "string" ? revision : "",
                delivered: target.ackedSeq >= target.seq,
              },
            },
          });
        }
        return responses;
      }
      case "cluster": {
        const cluster = await runtime.store.clusters.get(event.clusterId);
        if (!cluster) return [];
        // The state this event announces, even if the store has moved on since.
        const apps = runtime.index.cluster(event.clusterId)?.apps ?? [];
        const hubReplica = event.state === "Connected" ? event.replica : "";
        const value = toClusterMessage({ ...cluster, state: event.state }, apps, liveness(), { hubReplica });
        return [{ event: { case: "clusterChanged", value } }];
      }
      case "cluster-changed": {
        const cluster = await runtime.store.clusters.get(event.clusterId);
        if (!cluster) {
          if (!before || !admits(before.name, before.labels)) return [];
          return [{ event: { case: "clusterRemoved", value: before.name } }];
        }
        // A cluster leaving the selector is still shown once, with the labels that took it out.
        const selected = selector(cluster.labels) || (before !== undefined && selector(before.labels));
        if (!scope(cluster.labels) || !selected || !cluster.name.startsWith(request.clusterPrefix)) return [];
        const apps = runtime.index.cluster(event.clusterId)?.apps ?? [];
        return [{ event: { case: "clusterChanged", value: toClusterMessage(cluster, apps, liveness()) } }];
      }
      default:
        return [];
    }
  }

  const subscription = runtime.bus.subscribe(onEvent, {
    onError: (error) => runtime.log("warn", "fleet watch: bus event not handled", { error }),
  });
  const onAbort = () => wake?.();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    await subscription.ready;
    while (!signal.aborted) {
      if (dropped > 0) {
        const count = dropped;
        dropped = 0;
        yield { event: { case: "dropped", value: count } };
        continue;
      }
      const item = pending.shift();
      if (!item) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        continue;
      }
      let responses: WatchResponse[];
      try {
        responses = await convert(item);
      } catch (error) {
        // The watcher's view now misses a change: tell it to reload, as after an overflow.
        runtime.log("warn", "fleet watch: event not converted", { type: item.event.type, error });
        dropped += 1;
        continue;
      }
      for (const response of responses) {
        if (signal.aborted) return;
        yield response;
      }
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    subscription.unsubscribe();
  }
}
