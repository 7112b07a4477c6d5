/**
 * Where agents' AppStatus reports go: the store (latest report per cluster and app), the event
 * history (health and sync transitions, finished operations) and the bus (which keeps every
 * replica's fleet index current). Reports are written in groups: `record` resolves once its
 * report is stored and announced, and every report that arrived while one group was being
 * written goes into the next, in a few statements of up to 1,000 rows (group commit). So N
 * reports cost a handful of statements instead of 5 x N; a report superseded by a later one of
 * the same app in its group is stored and announced only as that later one (its transitions
 * are still recorded).
 *
 * Transitions are computed against the previous report of the app, kept in memory while its
 * cluster's stream is on this replica (loaded from the store on the cluster's first report);
 * `release` forgets a cluster after writing what it reported, as its stream ends, because the
 * agent may report through another replica next.
 */
import { toJson } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { type AppStatus, AppStatusSchema, OperationPhase } from "@flotilla/proto/gen/flotilla/v1/app_pb";
import { HEALTH_NAMES, PHASE_NAMES, SYNC_NAMES } from "@flotilla/proto/status-names";
import type { Bus, BusEvent } from "../bus/bus.js";
import type { AppStatusInput, NewEvent, Store } from "../store/store.js";

export type StatusWriter = {
  /** Stores, records the transitions of and announces one report; resolves once done, rejects when the write failed. */
  record(clusterId: string, status: AppStatus): Promise<void>;
  /** Writes what the cluster reported so far and forgets its previous reports (its stream ended). */
  release(clusterId: string): Promise<void>;
};

/** What transitions are computed against. */
type Previous = { sync: string; health: string; operationFinishedAt: string | undefined };

type Waiter = { resolve(): void; reject(error: unknown): void };

type Group = {
  statuses: AppStatusInput[];
  events: NewEvent[];
  /** The latest report per cluster and app: a report superseded within the group is not announced. */
  announcements: Map<string, BusEvent>;
  seen: Set<string>;
  syncAcks: { clusterId: string; requestId: string }[];
  waiters: Waiter[];
};

function emptyGroup(): Group {
  return { statuses: [], events: [], announcements: new Map(), seen: new Set(), syncAcks: [], waiters: [] };
}

/** One line on why an app is not Synced and Healthy: the failed sync, else the health message. */
export function statusMessage(status: AppStatus): string {
  const operation = status.operation;
  if (operation && (operation.phase === OperationPhase.FAILED || operation.phase === OperationPhase.ERROR))
    return operation.message || "sync failed";
  return status.healthMessage;
}

export function createStatusWriter(deps: { store: Store; bus: Bus; now: () => Date }): StatusWriter {
  const { store, bus, now } = deps;
  /** cluster id -> app -> previous report, for clusters whose stream is on this replica. */
  const previous = new Map<string, Map<string, Previous>>();
  /** Loads in flight, so concurrent first reports of a cluster load it once. */
  const loading = new Map<string, Promise<Map<string, Previous>>>();
  let next = emptyGroup();
  let writing: Promise<void> | undefined;

  async function previousOf(clusterId: string): Promise<Map<string, Previous>> {
    const known = previous.get(clusterId);
    if (known) return known;
    let load = loading.get(clusterId);
    if (!load) {
      load = store.statuses.list(clusterId).then((records) => {
        const apps = new Map<string, Previous>();
        for (const record of records) {
          const finishedAt = (record.operation as { finishedAt?: string } | null)?.finishedAt;
          apps.set(record.app, {
            sync: record.sync,
            health: record.health,
            // As record() compares it: the JSON timestamp may carry nanoseconds or no fraction.
            operationFinishedAt: finishedAt ? new Date(finishedAt).toISOString() : undefined,
          });
        }
        previous.set(clusterId, apps);
        return apps;
      });
      loading.set(clusterId, load);
      void load.finally(() => loading.delete(clusterId)).catch(() => {});
    }
    return load;
  }

  /** Writes groups back to back until none is waiting; one writer at a time keeps reports in order. */
  function startWriting(): Promise<void> {
    writing ??= (async () => {
      while (next.waiters.length > 0) {
        // Lets the reports other streams have received join this group: without it, one busy
        // stream whose reports arrive in microtasks would keep every group to its own report.
        await new Promise<void>((resolve) => setImmediate(resolve));
        const group = next;
        next = emptyGroup();
        try {
          await writeGroup(group);
          for (const waiter of group.waiters) waiter.resolve();
        } catch (error) {
          for (const waiter of group.waiters) waiter.reject(error);
        }
      }
    })().finally(() => {
      writing = undefined;
      // A report that came in as the loop ended starts the next round.
      if (next.waiters.length > 0) void startWriting();
    });
    return writing;
  }

  async function writeGroup(group: Group): Promise<void> {
    await store.statuses.upsertMany(group.statuses);
    await store.clusters.markSeenMany([...group.seen], now());
    for (const { clusterId, requestId } of group.syncAcks) await store.syncRequests.ack(clusterId, requestId);
    if (group.events.length > 0) await store.events.appendMany(group.events);
    for (const event of group.announcements.values()) await bus.publish(event);
  }

  /** Reports not yet written, by cluster, so release() waits for those still loading too. */
  const unwritten = new Map<string, Set<Promise<void>>>();

  function record(clusterId: string, status: AppStatus): Promise<void> {
    const done = write(clusterId, status);
    let open = unwritten.get(clusterId);
    if (!open) {
      open = new Set();
      unwritten.set(clusterId, open);
    }
    open.add(done);
    const settle = () => {
      open.delete(done);
      if (open.size === 0 && unwritten.get(clusterId) === open) unwritten.delete(clusterId);
    };
    done.then(settle, settle);
    return done;
  }

  async function write(clusterId: string, status: AppStatus): Promise<void> {
    const observedAt = status.observedAt ? timestampDate(status.observedAt) : now();
    const apps = await previousOf(clusterId);
    if (status.removed) {
      // Rare: written on its own, after every report before it.
      await writing;
      await store.statuses.remove(clusterId, status.app);
      apps.delete(status.app);
      await bus.publish({
        type: "status",
        clusterId,
        app: status.app,
        digest: "",
        sync: "Unknown",
        health: "Unknown",
        observedAt: observedAt.toISOString(),
        revision: "",
        message: "",
        removed: true,
      });
      return;
    }
    const sync = SYNC_NAMES[status.syncStatus] ?? "Unknown";
    const health = HEALTH_NAMES[status.healthStatus] ?? "Unknown";
    const json = toJson(AppStatusSchema, status) as {
      operation?: Record<string, unknown>;
      resources?: unknown[];
      conditions?: unknown[];
    };
    const group = next;
    group.statuses.push({
      clusterId,
      app: status.app,
      digest: status.digest,
      revision: status.revision,
      sync,
      health,
      healthMessage: status.healthMessage,
      operation: json.operation ?? null,
      resources: json.resources ?? [],
      conditions: json.conditions ?? [],
      observedAt,
    });
    group.seen.add(clusterId);
    const operation = status.operation;
    if (operation?.requestId) group.syncAcks.push({ clusterId, requestId: operation.requestId });
    const finishedAt = operation?.finishedAt ? timestampDate(operation.finishedAt).toISOString() : undefined;
    const before = apps.get(status.app);
    group.events.push(...transitions(clusterId, status, before, { sync, health, finishedAt }));
    apps.set(status.app, { sync, health, operationFinishedAt: finishedAt ?? before?.operationFinishedAt });
    const key = `${clusterId}\u0000${status.app}`;
    group.announcements.delete(key);
    group.announcements.set(key, {
      type: "status",
      clusterId,
      app: status.app,
      digest: status.digest,
      sync,
      health,
      observedAt: observedAt.toISOString(),
      revision: status.revision,
      message: statusMessage(status),
    });
    const done = new Promise<void>((resolve, reject) => group.waiters.push({ resolve, reject }));
    void startWriting();
    return done;
  }

  return {
    record,
    async release(clusterId) {
      await Promise.allSettled([...(unwritten.get(clusterId) ?? [])]);
      previous.delete(clusterId);
    },
  };
}

/** Health and sync transitions and a newly finished operation, as event history entries. */
function transitions(
  clusterId: string,
  status: AppStatus,
  before: Previous | undefined,
  now: { sync: string; health: string; finishedAt: string | undefined },
): NewEvent[] {
  const out: NewEvent[] = [];
  const base = { clusterId, app: status.app };
  const data = { revision: status.revision, digest: status.digest, actor: "agent" };
  const fromHealth = before?.health ?? "Unknown";
  if (fromHealth !== now.health) {
    out.push({
      ...base,
      type: "health-changed",
      message: `${fromHealth} -> ${now.health}${status.healthMessage ? `: ${status.healthMessage}` : ""}`,
      data: { ...data, from: fromHealth, to: now.health },
    });
  }
  const fromSync = before?.sync ?? "Unknown";
  if (fromSync !== now.sync) {
    out.push({
      ...base,
      type: "sync-status-changed",
      message: `${fromSync} -> ${now.sync}`,
      data: { ...data, from: fromSync, to: now.sync },
    });
  }
  const operation = status.operation;
  if (operation && now.finishedAt && now.finishedAt !== before?.operationFinishedAt) {
    const phase = PHASE_NAMES[operation.phase] ?? "Running";
    out.push({
      ...base,
      type: "operation-finished",
      message: `sync ${phase}${operation.message ? `: ${operation.message}` : ""}`,
      data: { ...data, phase, requestId: operation.requestId, revision: operation.revision },
    });
  }
  return out;
}
