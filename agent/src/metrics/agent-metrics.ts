// The agent's Prometheus metrics: one Registry per agent, names `flotilla_agent_*` with units in
// them. An agent holds a bounded set of apps (what the hub targets at one cluster), so per-app
// labels are fine here. Counters and histograms are fed through the reconciler's onPass and the
// hub connection's observer; app and queue gauges are read from the reconciler on scrape.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { healthOrder } from "../health/assess-health.js";
import type { HubConnectionObserver } from "../hub/hub-connection.js";
import type { AppStatus, ResourceResult, SyncStatusCode } from "../reconcile/app-status.js";
import type { ReconcilePass } from "../reconcile/reconciler.js";

/** What the scrape-time gauges read. */
export type AgentMetricSources = {
  reconciler?: { statuses(): AppStatus[]; queueDepth(): number };
};

export type AgentMetrics = {
  registry: Registry;
  /** For the reconciler's onPass. */
  reconciled(pass: ReconcilePass): void;
  /** For connectToHub({ observer }). */
  hub: HubConnectionObserver;
  /** Sets (or adds to) what the scrape-time gauges read. */
  observe(sources: AgentMetricSources): void;
};

const RECONCILE_BUCKETS_S = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const SYNC_CODES: readonly SyncStatusCode[] = ["Synced", "OutOfSync", "Unknown"];
const ACTIONS: readonly ResourceResult[] = ["created", "configured", "unchanged", "pruned", "failed"];

/**
 * A fresh registry with every agent metric. `defaultMetrics` (default true) adds prom-client's
 * process metrics (RSS, CPU, heap, event loop lag, GC) prefixed `flotilla_agent_`.
 */
export function createAgentMetrics(options: { defaultMetrics?: boolean } = {}): AgentMetrics {
  const registry = new Registry();
  const registers = [registry];
  const sources: AgentMetricSources = {};
  if (options.defaultMetrics !== false)
    collectDefaultMetrics({ register: registry, prefix: "flotilla_agent_" });

  const reconcileTotal = new Counter({
    name: "flotilla_agent_reconcile_total",
    help: "Reconcile passes by app and result (synced, failed, unchanged, unavailable, error).",
    labelNames: ["app", "result"] as const,
    registers,
  });
  const reconcileDuration = new Histogram({
    name: "flotilla_agent_reconcile_duration_seconds",
    help: "One reconcile pass of one app: compare, and sync when it runs one.",
    buckets: RECONCILE_BUCKETS_S,
    registers,
  });
  const applyTotal = new Counter({
    name: "flotilla_agent_apply_total",
    help: "Objects handled by sync operations, by what was done (created, configured, unchanged, pruned, failed).",
    labelNames: ["action"] as const,
    registers,
  });
  for (const action of ACTIONS) applyTotal.inc({ action }, 0);
  new Gauge({
    name: "flotilla_agent_apps",
    help: "Apps this agent holds, by health.",
    labelNames: ["health"] as const,
    registers,
    collect() {
      const counts = countBy(sources.reconciler?.statuses() ?? [], (status) => status.health);
      for (const health of healthOrder) this.set({ health }, counts.get(health) ?? 0);
    },
  });
  new Gauge({
    name: "flotilla_agent_apps_sync",
    help: "Apps this agent holds, by sync status.",
    labelNames: ["sync"] as const,
    registers,
    collect() {
      const counts = countBy(sources.reconciler?.statuses() ?? [], (status) => status.sync);
      for (const sync of SYNC_CODES) this.set({ sync }, counts.get(sync) ?? 0);
    },
  });
  new Gauge({
    name: "flotilla_agent_queue_depth",
    help: "Apps with a reconcile pass queued (waiting, backing off, or behind the pass running).",
    registers,
    collect() {
      this.set(sources.reconciler?.queueDepth() ?? 0);
    },
  });
  const hubConnected = new Gauge({
    name: "flotilla_agent_hub_connected",
    help: "1 while a stream to the hub is open and welcomed, else 0 (always 0 without a hub).",
    registers,
  });
  const desiredSeq = new Gauge({
    name: "flotilla_agent_desired_seq",
    help: "The newest delivery seq the hub announced to this agent.",
    registers,
  });
  const ackedSeq = new Gauge({
    name: "flotilla_agent_acked_seq",
    help: "The highest delivery seq this agent persisted and acknowledged.",
    registers,
  });
  const statusReports = new Counter({
    name: "flotilla_agent_status_reports_total",
    help: "AppStatus reports sent to the hub.",
    registers,
  });

  return {
    registry,
    reconciled(pass) {
      reconcileTotal.inc({ app: pass.app, result: pass.result });
      reconcileDuration.observe(pass.seconds);
      for (const action of pass.applied) applyTotal.inc({ action });
    },
    hub: {
      connected: (connected) => hubConnected.set(connected ? 1 : 0),
      desiredSeq: (seq) => desiredSeq.set(Number(seq)),
      appliedSeq: (seq) => ackedSeq.set(Number(seq)),
      statusReported: () => statusReports.inc(),
    },
    observe(more) {
      Object.assign(sources, more);
    },
  };
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}
