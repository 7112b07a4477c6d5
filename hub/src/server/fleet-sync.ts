/**
 * Keeps one replica's fleet index current: loaded from the store at start, then updated from
 * bus events (registrations and label changes, connectivity, statuses, target changes and
 * resolves), so every replica answers fleet queries from memory.
 */
import type { Bus, BusEvent, BusSubscription } from "../bus/bus.js";
import type { FleetIndex, HealthCode, IndexedApp, SyncCode } from "../fleet/fleet-index.js";
import type { AppStatusRecord, Cluster, Store, Target } from "../store/store.js";
import type { AppSummary, Logger } from "./hub-runtime.js";

const SYNC_CODES = new Set<string>(["Synced", "OutOfSync", "Unknown"]);
const HEALTH_CODES = new Set<string>([
  "Healthy",
  "Progressing",
  "Degraded",
  "Suspended",
  "Missing",
  "Unknown",
]);

export type FleetSync = {
  /** Resolves once the index holds the store's state and live events flow in. */
  ready: Promise<void>;
  stop(): void;
};

export function startFleetSync(deps: { store: Store; bus: Bus; index: FleetIndex; log: Logger }): FleetSync {
  const { store, bus, index, log } = deps;
  /** Apps with resolve problems, by app name. */
  let problemApps = new Map<string, string>();
  /** cluster id -> app -> target (desired digest and revision). */
  const targets = new Map<string, Map<string, Target>>();
  /** cluster id -> app -> latest status. */
  const statuses = new Map<string, Map<string, StatusView>>();

  function render(clusterId: string, app: string): void {
    const target = targets.get(clusterId)?.get(app);
    const status = statuses.get(clusterId)?.get(app);
    if (!status && (!target || target.removed)) {
      index.removeApp(clusterId, app);
      return;
    }
    const problem = problemApps.get(app);
    const entry: IndexedApp = {
      app,
      sync: status ? toSync(status.sync) : "Unknown",
      health: status ? toHealth(status.health) : "Unknown",
      revision: status?.revision ?? "",
      message: status?.message || problem || (status ? "" : "waiting for the agent to report"),
      stale: status?.stale ?? false,
      problem: problem !== undefined,
      ...(target && !target.removed
        ? {
            desiredDigest: target.digest,
            desiredRevision: String((target.desired as { revision?: string }).revision ?? ""),
            delivered: status?.digest === target.digest,
          }
        : {}),
      ...(status?.observedAt ? { observedAt: status.observedAt } : {}),
    };
    index.upsertApp(clusterId, entry);
  }

  function upsertCluster(cluster: Cluster): void {
    index.upsertCluster({
      id: cluster.id,
      name: cluster.name,
      labels: cluster.labels,
      state: cluster.state,
      ...(cluster.lastSeenAt ? { lastSeen: cluster.lastSeenAt.toISOString() } : {}),
    });
  }

  async function loadCluster(clusterId: string): Promise<void> {
    const cluster = await store.clusters.get(clusterId);
    if (!cluster) {
      index.removeCluster(clusterId);
      targets.delete(clusterId);
      statuses.delete(clusterId);
      return;
    }
    upsertCluster(cluster);
    await loadTargets(clusterId);
  }

  async function loadTargets(clusterId: string): Promise<void> {
    const list = await store.targets.list(clusterId);
    const before = targets.get(clusterId) ?? new Map<string, Target>();
    const next = new Map(list.map((target) => [target.app, target]));
    targets.set(clusterId, next);
    for (const app of new Set([...before.keys(), ...next.keys()])) render(clusterId, app);
  }

  async function loadProblems(): Promise<void> {
    const next = new Map<string, string>();
    for (const resolution of await store.sources.listResolutions()) {
      for (const app of resolution.apps as AppSummary[]) {
        const first = app.problems[0];
        if (first) next.set(app.name, `${first.reason}: ${first.message}`);
      }
    }
    const changed = new Set([...problemApps.keys(), ...next.keys()]);
    problemApps = next;
    for (const [clusterId, apps] of targets) {
      for (const app of apps.keys()) if (changed.has(app)) render(clusterId, app);
    }
  }

  async function handle(event: BusEvent): Promise<void> {
    switch (event.type) {
      case "cluster": {
        index.setClusterState(
          event.clusterId,
          event.state,
          event.state === "Disconnected" ? undefined : event.at,
        );
        const stale = event.state !== "Connected";
        for (const status of statuses.get(event.clusterId)?.values() ?? []) status.stale = stale;
        for (const app of statuses.get(event.clusterId)?.keys() ?? []) render(event.clusterId, app);
        return;
      }
      case "cluster-changed":
        await loadCluster(event.clusterId);
        return;
      case "status": {
        const apps = statuses.get(event.clusterId) ?? new Map<string, StatusView>();
        statuses.set(event.clusterId, apps);
        if (event.removed) apps.delete(event.app);
        else
          apps.set(event.app, {
            sync: event.sync,
            health: event.health,
            revision: event.revision,
            message: event.message,
            digest: event.digest,
            observedAt: event.observedAt,
            stale: false,
          });
        render(event.clusterId, event.app);
        return;
      }
      case "targets-changed":
        await loadTargets(event.clusterId);
        return;
      case "resolved":
        await loadProblems();
        return;
      default:
        return;
    }
  }

  const subscription: BusSubscription = bus.subscribe(handle, {
    onError: (error) => log("warn", "fleet index: event not applied", { error }),
  });

  const ready = (async () => {
    await subscription.ready;
    const all = await store.statuses.list();
    for (const status of all) {
      const apps = statuses.get(status.clusterId) ?? new Map<string, StatusView>();
      statuses.set(status.clusterId, apps);
      apps.set(status.app, toStatusView(status));
    }
    for (const cluster of await store.clusters.list()) {
      upsertCluster(cluster);
      await loadTargets(cluster.id);
      for (const app of statuses.get(cluster.id)?.keys() ?? []) render(cluster.id, app);
    }
    await loadProblems();
  })();

  return { ready, stop: () => subscription.unsubscribe() };
}

type StatusView = {
  sync: string;
  health: string;
  revision: string;
  message: string;
  digest: string;
  observedAt: string;
  stale: boolean;
};

function toStatusView(status: AppStatusRecord): StatusView {
  const operation = status.operation as { phase?: string; message?: string } | null;
  const failed =
    operation?.phase === "OPERATION_PHASE_FAILED" || operation?.phase === "OPERATION_PHASE_ERROR";
  return {
    sync: status.sync,
    health: status.health,
    revision: status.revision,
    message: failed ? operation?.message || "sync failed" : status.healthMessage,
    digest: status.digest,
    observedAt: status.observedAt.toISOString(),
    stale: status.stale,
  };
}

function toSync(text: string): SyncCode {
  return SYNC_CODES.has(text) ? (text as SyncCode) : "Unknown";
}

function toHealth(text: string): HealthCode {
  return HEALTH_CODES.has(text) ? (text as HealthCode) : "Unknown";
}
