import type { DesiredApp } from "../desired/desired-app.js";
import type { AgentState, AppRecord, StateStore } from "../desired/state-store.js";
import type { Health } from "../health/assess-health.js";
import type { KubeClient } from "../kube/kube-client.js";
import { formatKey, type KubeObject } from "../kube/kube-object.js";
import type { AppStatus, ResourceResult } from "./app-status.js";
import { createLiveIndex, type LiveChange, type LiveIndex } from "./live-index.js";
import { refreshHealth, type SyncEnv, type SyncMode, syncApp } from "./sync-app.js";
import { trackingAppOf } from "./tracking.js";

export type Backoff = { initialMs: number; factor: number; maxMs: number };

/**
 * How one reconcile pass of an app ended: `synced` and `failed` when it ran a sync operation,
 * `unchanged` when it only compared (and found nothing to do, or may not sync), `unavailable`
 * when the API server could not be asked, `error` when the pass threw.
 */
export type ReconcileResult = "synced" | "failed" | "unchanged" | "unavailable" | "error";

export type ReconcilePass = {
  app: string;
  result: ReconcileResult;
  seconds: number;
  /** What the sync operation did to each object (hooks and prunes included); empty without one. */
  applied: ResourceResult[];
};

export type ReconcilerOptions = {
  kube: KubeClient;
  store: StateStore;
  assessHealth: (obj: KubeObject) => Health | undefined;
  /** Called with every app status that differs from the last one reported for that app. */
  onStatus?: (status: AppStatus) => void;
  /** Called when an app is removed (and, if asked, pruned). */
  onRemoved?: (name: string) => void;
  /** Called after every reconcile pass of an app (health re-checks are not passes); must not throw. */
  onPass?: (pass: ReconcilePass) => void;
  /** Structured log sink; the default drops entries. */
  log?: (level: "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void;
  /** Full compare of every app, as a safety net for missed watch events; default 180 s (Argo CD's). */
  resyncIntervalMs?: number;
  /** Default 300 s. */
  waveTimeoutMs?: number;
  /** How often waits re-check health; default 1 s. */
  pollIntervalMs?: number;
  /** Default 8. */
  concurrency?: number;
  /** Wait after a watch event before checking the app, to batch bursts; default 500 ms. */
  debounceMs?: number;
  /** Between self-heal attempts on continuing drift; default Argo CD's 2 s x 3, at most 300 s. */
  selfHealBackoff?: Backoff;
  /** Retry of a failed sync when the app sets no retry policy; default 5 s x 2, at most 180 s, 5 attempts. */
  retryBackoff?: Backoff & { limit: number };
};

export type Reconciler = {
  /** Loads the persisted state and starts reconciling it, then resyncs periodically. */
  start(): Promise<void>;
  /** Replaces the whole desired set; apps not in it are removed (see `remove`). */
  setDesired(apps: readonly DesiredApp[], options?: { pruneRemoved?: boolean }): Promise<void>;
  upsert(app: DesiredApp): Promise<void>;
  /**
   * Forgets an app. With `prune` (default: the app's own automated.prune) its tracked objects
   * are deleted first; otherwise they are left in the cluster (orphaned).
   */
  remove(name: string, options?: { prune?: boolean }): Promise<void>;
  /** An explicit sync (hooks included), even when the app is Synced or has a manual policy. */
  sync(name: string): Promise<AppStatus | undefined>;
  /** Reconciles every app now and resolves with their statuses. */
  reconcileAll(): Promise<AppStatus[]>;
  /** Re-assesses health until no app is Progressing, or until `timeoutMs`. */
  settle(timeoutMs: number): Promise<AppStatus[]>;
  statuses(): AppStatus[];
  apps(): DesiredApp[];
  /** Apps with a reconcile pass queued (waiting, backing off, or behind the pass running). */
  queueDepth(): number;
  stop(): Promise<void>;
};

type Reason = "desired" | "explicit" | "drift" | "resync" | "health";
const reasonRank: Record<Reason, number> = { health: 0, resync: 1, drift: 2, desired: 3, explicit: 4 };

type AppRuntime = {
  queued?: Reason;
  running?: Promise<void>;
  timer?: ReturnType<typeof setTimeout>;
  status?: AppStatus;
  reported?: string;
  /** Failed sync attempts of the current digest. */
  failures: number;
  /** Consecutive self-heal operations while drift continues. */
  heals: number;
  /** Consecutive passes that could not reach the API server. */
  unavailable: number;
  notBefore: number;
};

function delayOf(backoff: Backoff, attempt: number): number {
  return Math.min(backoff.maxMs, backoff.initialMs * backoff.factor ** Math.max(0, attempt - 1));
}

/**
 * A pass that ran no sync operation keeps the last operation and what it did to each object that
 * is still Synced (Argo CD shows the last sync result the same way); objects it pruned stay listed.
 */
function carryLastOperation(status: AppStatus, previous: AppStatus | undefined): AppStatus {
  if (!previous?.operation || previous.digest !== status.digest) return status;
  const key = (r: AppStatus["resources"][number]) =>
    `${r.group}/${r.kind}/${r.namespace}/${r.name}/${r.hook ?? ""}`;
  const before = new Map(previous.resources.map((r) => [key(r), r]));
  const resources = status.resources.map((r) => {
    const last = before.get(key(r));
    const keep = last && r.result === "unchanged" && r.sync === "Synced" && last.result !== "failed";
    return keep ? { ...r, result: last.result } : r;
  });
  const present = new Set(resources.map(key));
  // Hooks are not compared between syncs: show the ones the last operation ran.
  const hooksAndPruned = previous.resources.filter(
    (r) => r.hook || (r.result === "pruned" && !present.has(key(r))),
  );
  return {
    ...status,
    operation: previous.operation,
    resources: [...resources.filter((r) => !r.hook), ...hooksAndPruned],
  };
}

export function createReconciler(options: ReconcilerOptions): Reconciler {
  const log = options.log ?? (() => {});
  const resyncIntervalMs = options.resyncIntervalMs ?? 180_000;
  const debounceMs = options.debounceMs ?? 500;
  const selfHealBackoff = options.selfHealBackoff ?? { initialMs: 2_000, factor: 3, maxMs: 300_000 };
  const retryBackoff = options.retryBackoff ?? { initialMs: 5_000, factor: 2, maxMs: 180_000, limit: 5 };
  let state: AgentState = { apps: {} };
  /** The app's record; an app named like an Object.prototype member (`constructor`) is no exception. */
  const recordOf = (name: string) => (Object.hasOwn(state.apps, name) ? state.apps[name] : undefined);
  const runtimes = new Map<string, AppRuntime>();
  /** Which app declares each object key, for routing watch events. */
  const owners = new Map<string, string>();
  let stopped = false;
  let resyncTimer: ReturnType<typeof setInterval> | undefined;
  let saving = Promise.resolve();

  const live: LiveIndex = createLiveIndex(options.kube, onLiveChange);
  const env: SyncEnv = {
    kube: options.kube,
    live,
    assessHealth: options.assessHealth,
    waveTimeoutMs: options.waveTimeoutMs ?? 300_000,
    pollIntervalMs: options.pollIntervalMs ?? 1_000,
    concurrency: options.concurrency ?? 8,
    now: () => Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  };

  function runtimeOf(name: string): AppRuntime {
    let runtime = runtimes.get(name);
    if (!runtime) {
      runtime = { failures: 0, heals: 0, unavailable: 0, notBefore: 0 };
      runtimes.set(name, runtime);
    }
    return runtime;
  }

  function onLiveChange(change: LiveChange) {
    const app = owners.get(formatKey(change.key)) ?? trackingAppOf(change.object);
    if (!app || !recordOf(app)) return;
    schedule(app, change.specChanged ? "drift" : "health", debounceMs);
  }

  /** Queues a reconcile of `name`; a stronger reason replaces a weaker pending one. */
  function schedule(name: string, reason: Reason, delayMs = 0) {
    if (stopped) return;
    const runtime = runtimeOf(name);
    if (!runtime.queued || reasonRank[reason] > reasonRank[runtime.queued]) runtime.queued = reason;
    if (runtime.running || runtime.timer) return;
    const wait = Math.max(delayMs, runtime.notBefore - Date.now());
    runtime.timer = setTimeout(() => {
      runtime.timer = undefined;
      void drain(name);
    }, wait);
  }

  async function drain(name: string): Promise<void> {
    const runtime = runtimeOf(name);
    if (runtime.running !== undefined) return runtime.running;
    const run = (async () => {
      while (runtime.queued && !stopped) {
        const waitMs = runtime.notBefore - Date.now();
        if (waitMs > 0) {
          // Backing off (retry, self-heal or an unreachable API server): come back later.
          runtime.timer = setTimeout(() => {
            runtime.timer = undefined;
            void drain(name);
          }, waitMs);
          break;
        }
        const reason = runtime.queued;
        runtime.queued = undefined;
        try {
          await runPass(name, reason);
        } catch (error) {
          log("error", "reconcile failed", {
            app: name,
            error: error instanceof Error ? error.message : String(error),
          });
        }
      }
    })();
    runtime.running = run;
    try {
      await run;
    } finally {
      runtime.running = undefined;
    }
  }

  function report(status: AppStatus) {
    const runtime = runtimeOf(status.name);
    runtime.status = status;
    const { operation, ...comparable } = status;
    const fingerprint = JSON.stringify({
      ...comparable,
      operation: operation && { ...operation, startedAt: 0, finishedAt: 0 },
    });
    if (fingerprint === runtime.reported) return;
    runtime.reported = fingerprint;
    options.onStatus?.(status);
  }

  function indexOwners(name: string, status: AppStatus) {
    for (const [key, owner] of owners) if (owner === name) owners.delete(key);
    for (const r of status.resources) {
      if (!r.hook)
        owners.set(formatKey({ group: r.group, kind: r.kind, namespace: r.namespace, name: r.name }), name);
    }
  }

  function persist(): Promise<void> {
    // Saves are serialized; the store itself skips writing what did not change.
    saving = saving.then(
      () => options.store.save(state),
      () => options.store.save(state),
    );
    return saving;
  }

  function modeFor(record: AppRecord, runtime: AppRuntime, reason: Reason): SyncMode {
    const automated = record.desired.syncPolicy.automated;
    if (reason === "explicit") return "sync";
    if (!automated) return "status";
    if (record.syncedDigest !== record.desired.digest) {
      const limit = record.desired.syncPolicy.retry?.limit ?? retryBackoff.limit;
      return limit >= 0 && runtime.failures > limit ? "status" : "sync";
    }
    return automated.selfHeal ? "heal" : "status";
  }

  /** reconcileApp, timed and told to onPass. */
  async function runPass(name: string, reason: Reason): Promise<void> {
    const startedMs = performance.now();
    const seconds = () => (performance.now() - startedMs) / 1_000;
    let pass: Omit<ReconcilePass, "seconds"> | undefined;
    try {
      pass = await reconcileApp(name, reason);
    } catch (error) {
      options.onPass?.({ app: name, result: "error", seconds: seconds(), applied: [] });
      throw error;
    }
    if (pass) options.onPass?.({ ...pass, seconds: seconds() });
  }

  /** One pass; resolves with how it ended, undefined when it was no pass (health only, app gone). */
  async function reconcileApp(
    name: string,
    reason: Reason,
  ): Promise<Omit<ReconcilePass, "seconds"> | undefined> {
    const record = recordOf(name);
    if (!record) return undefined;
    const runtime = runtimeOf(name);
    if (reason === "health" && runtime.status) {
      report(await refreshHealth(env, record.desired, runtime.status));
      return undefined;
    }
    const mode = modeFor(record, runtime, reason);
    const automated = record.desired.syncPolicy.automated;
    const outcome = await syncApp(env, record.desired, {
      mode,
      explicit: reason === "explicit",
      prune: automated?.prune ?? false,
      allowEmpty: automated?.allowEmpty ?? false,
      inventory: record.inventory,
    });
    if (recordOf(name) !== record) return undefined; // replaced or removed meanwhile; its own reconcile follows
    const status =
      outcome.operationSucceeded === undefined
        ? carryLastOperation(outcome.status, runtime.status)
        : outcome.status;
    record.inventory = outcome.inventory;
    const comparedOk = status.sync !== "Unknown";
    if (outcome.operationSucceeded === true || (mode === "sync" && comparedOk && status.sync === "Synced")) {
      record.syncedDigest = record.desired.digest;
      runtime.failures = 0;
    }
    if (!comparedOk) {
      // The API server could not be asked (unreachable, discovery failing): retry with backoff,
      // without spending the sync retry budget.
      runtime.unavailable += 1;
      runtime.notBefore = Date.now() + delayOf(retryBackoff, runtime.unavailable);
      schedule(name, "resync");
      log("warn", "cluster unavailable", { app: name, message: status.healthMessage });
    } else {
      runtime.unavailable = 0;
      if (outcome.operationSucceeded === false) {
        runtime.failures += 1;
        const retry = record.desired.syncPolicy.retry;
        const backoff = retry
          ? {
              initialMs: retry.backoffDurationMs,
              factor: retry.backoffFactor,
              maxMs: retry.backoffMaxDurationMs,
            }
          : retryBackoff;
        const limit = retry?.limit ?? retryBackoff.limit;
        if (limit < 0 || runtime.failures <= limit) {
          runtime.notBefore = Date.now() + delayOf(backoff, runtime.failures);
          schedule(name, "resync");
        }
        log("warn", "sync failed", { app: name, message: status.operation?.message ?? "" });
      }
    }
    if (mode === "heal") {
      if (outcome.operationSucceeded !== undefined) {
        runtime.heals += 1;
        runtime.notBefore = Date.now() + delayOf(selfHealBackoff, runtime.heals);
      } else runtime.heals = 0;
    }
    indexOwners(name, status);
    report(status);
    await persist();
    const ran = outcome.operationSucceeded !== undefined;
    return {
      app: name,
      result: !comparedOk
        ? "unavailable"
        : ran
          ? outcome.operationSucceeded
            ? "synced"
            : "failed"
          : "unchanged",
      applied: ran ? outcome.status.resources.map((r) => r.result) : [],
    };
  }

  async function prune(name: string, record: AppRecord): Promise<void> {
    const emptied = { ...record.desired, objects: [], digest: `${record.desired.digest}:removed` };
    const outcome = await syncApp(env, emptied, {
      mode: "sync",
      prune: true,
      allowEmpty: true,
      inventory: record.inventory,
    });
    const failed = outcome.status.resources.filter((r) => r.result === "failed");
    if (failed.length > 0) {
      throw new Error(`app ${name}: ${failed.length} object(s) could not be pruned: ${failed[0]?.message}`);
    }
  }

  async function upsert(app: DesiredApp) {
    const existing = recordOf(app.name);
    if (existing && existing.desired.digest === app.digest) return;
    state.apps[app.name] = {
      desired: app,
      syncedDigest: existing?.syncedDigest,
      inventory: existing?.inventory ?? [],
    };
    runtimeOf(app.name).failures = 0;
    await persist();
    schedule(app.name, "desired");
  }

  async function remove(name: string, removeOptions: { prune?: boolean } = {}) {
    const record = recordOf(name);
    if (!record) return;
    const runtime = runtimeOf(name);
    await runtime.running;
    const shouldPrune = removeOptions.prune ?? record.desired.syncPolicy.automated?.prune ?? false;
    if (shouldPrune) await prune(name, record);
    delete state.apps[name];
    if (runtime.timer) clearTimeout(runtime.timer);
    runtimes.delete(name);
    for (const [key, owner] of owners) if (owner === name) owners.delete(key);
    await persist();
    options.onRemoved?.(name);
  }

  return {
    async start() {
      state = await options.store.load();
      for (const name of Object.keys(state.apps)) schedule(name, "resync");
      resyncTimer = setInterval(() => {
        for (const name of Object.keys(state.apps)) schedule(name, "resync");
      }, resyncIntervalMs);
      resyncTimer.unref?.();
    },

    async setDesired(apps, setOptions = {}) {
      const wanted = new Set(apps.map((app) => app.name));
      for (const name of Object.keys(state.apps)) {
        if (!wanted.has(name))
          await remove(name, setOptions.pruneRemoved === undefined ? {} : { prune: setOptions.pruneRemoved });
      }
      for (const app of apps) await upsert(app);
    },

    upsert,
    remove,

    async sync(name) {
      if (!recordOf(name)) return undefined;
      const runtime = runtimeOf(name);
      await runtime.running;
      runtime.queued = undefined;
      runtime.failures = 0;
      await runPass(name, "explicit");
      return runtime.status;
    },

    async reconcileAll() {
      const names = Object.keys(state.apps);
      await Promise.all(
        names.map(async (name) => {
          const runtime = runtimeOf(name);
          // A pass already running covers the request, unless something new is queued behind it.
          const wasRunning = runtime.running !== undefined;
          await runtime.running;
          if (runtime.timer) {
            clearTimeout(runtime.timer);
            runtime.timer = undefined;
          }
          if (!wasRunning) runtime.queued ??= "resync";
          runtime.notBefore = 0;
          if (runtime.queued) await drain(name);
        }),
      );
      return names.flatMap((name) => runtimes.get(name)?.status ?? []);
    },

    async settle(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const statuses = await Promise.all(
          Object.values(state.apps).map(async (record) => {
            const runtime = runtimeOf(record.desired.name);
            if (!runtime.status) return undefined;
            const status = await refreshHealth(env, record.desired, runtime.status);
            report(status);
            return status;
          }),
        );
        // Per resource: an app whose health is Unknown (a forbidden object) may still be rolling out.
        const settled = statuses.every(
          (s) =>
            !s ||
            (s.health !== "Progressing" && !s.resources.some((r) => !r.hook && r.health === "Progressing")),
        );
        if (settled || Date.now() > deadline) return statuses.filter((s): s is AppStatus => s !== undefined);
        await env.sleep(env.pollIntervalMs);
      }
    },

    statuses: () => [...runtimes.values()].flatMap((r) => r.status ?? []),
    apps: () => Object.values(state.apps).map((record) => record.desired),

    queueDepth() {
      let queued = 0;
      for (const runtime of runtimes.values()) if (runtime.queued) queued += 1;
      return queued;
    },

    async stop() {
      stopped = true;
      if (resyncTimer) clearInterval(resyncTimer);
      for (const runtime of runtimes.values()) if (runtime.timer) clearTimeout(runtime.timer);
      await Promise.all([...runtimes.values()].map((r) => r.running));
      live.stop();
      await saving.catch(() => {});
    },
  };
}
