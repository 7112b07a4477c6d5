/**
 * The hub's Prometheus metrics: one Registry per hub (tests start several hubs in one process),
 * names `flotilla_hub_*` with units in them. No metric has a label per cluster or per app, so the
 * number of series stays the same at 10,000 clusters; the `flotilla_rollout_*` gauges (named as
 * docs/rollouts.md promises) have a series per declared rollout, read from the store on scrape. Counters and histograms are fed through
 * the narrow observer types the instrumented code declares (AgentServiceMetrics,
 * ResolverMetrics); gauges of state (fleet index, bus, leadership, delivery queues) are read
 * when Prometheus scrapes.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { AgentServiceMetrics, AgentServiceStats } from "../agents/agent-service.js";
import type { BusStats } from "../bus/bus.js";
import type { IndexCounts } from "../fleet/fleet-index.js";
import { ROLLOUT_PHASES } from "../rollout/rollout-state.js";
import {
  type MemberState,
  type RolloutView,
  readRolloutState,
  viewRollout,
} from "../rollout/rollout-view.js";
import type { ResolverMetrics } from "../server/resolver-loop.js";
import type { RolloutRecord } from "../store/store.js";

/** What the scrape-time gauges read; each part is optional until the hub has made it. */
export type HubMetricSources = {
  index?: { counts(): IndexCounts };
  bus?: { stats(): BusStats };
  agents?: { stats(): AgentServiceStats };
  isLeader?: () => boolean;
  /** The stored rollouts (`store.rollouts`), for the flotilla_rollout_* gauges. */
  rollouts?: { list(): Promise<RolloutRecord[]> };
};

export type RouteGroup = "api" | "webhooks" | "dashboard" | "other";

export type HubMetrics = {
  registry: Registry;
  /** For createAgentService({ metrics }). */
  agents: AgentServiceMetrics;
  /** For startResolverLoop({ metrics }). */
  resolver: ResolverMetrics;
  /** Counts one answered HTTP request by route group and status code. */
  httpRequest(path: string, code: number): void;
  /** Sets (or adds to) what the scrape-time gauges read. */
  observe(sources: HubMetricSources): void;
};

const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const RESOLVE_BUCKETS_S = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const CLUSTER_STATES = ["Connected", "Disconnected", "Pending"] as const;
const HEALTH_CODES = ["Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"] as const;
const SYNC_CODES = ["Synced", "OutOfSync", "Unknown"] as const;
const MEMBER_STATES: readonly MemberState[] = [
  "updated",
  "updating",
  "waiting",
  "failed",
  "rolledBack",
  "skipped",
];

/**
 * A fresh registry with every hub metric. `defaultMetrics` (default true) adds prom-client's
 * process metrics (RSS, CPU, heap, event loop lag, GC) prefixed `flotilla_hub_`.
 */
export function createHubMetrics(options: { defaultMetrics?: boolean } = {}): HubMetrics {
  const registry = new Registry();
  const registers = [registry];
  const sources: HubMetricSources = {};
  if (options.defaultMetrics !== false)
    collectDefaultMetrics({ register: registry, prefix: "flotilla_hub_" });

  new Gauge({
    name: "flotilla_hub_connected_agents",
    help: "Agent Connect streams open on this replica.",
    registers,
    collect() {
      this.set(sources.agents?.stats().connectedAgents ?? 0);
    },
  });
  new Gauge({
    name: "flotilla_hub_delivery_queue_depth",
    help: "Desired-state changes not acknowledged yet (queued or in flight), summed over this replica's agent streams.",
    registers,
    collect() {
      this.set(sources.agents?.stats().queuedChanges ?? 0);
    },
  });
  new Gauge({
    name: "flotilla_hub_clusters",
    help: "Registered clusters by connection state, from this replica's fleet index.",
    labelNames: ["state"] as const,
    registers,
    collect() {
      const counts = sources.index?.counts().clusters;
      for (const state of CLUSTER_STATES) this.set({ state }, counts?.[state] ?? 0);
    },
  });
  // One pass over the index serves both app gauges of a scrape: the second reuses the first's
  // counts, which are forgotten once the scrape's collection is over.
  let appCounts: IndexCounts | undefined;
  new Gauge({
    name: "flotilla_hub_apps",
    help: "Apps deployed to clusters (one per cluster and app) by health, from this replica's fleet index.",
    labelNames: ["health"] as const,
    registers,
    collect() {
      appCounts = sources.index?.counts();
      setImmediate(() => {
        appCounts = undefined;
      });
      for (const health of HEALTH_CODES) this.set({ health }, appCounts?.health[health] ?? 0);
    },
  });
  new Gauge({
    name: "flotilla_hub_apps_sync",
    help: "Apps deployed to clusters (one per cluster and app) by sync status, from this replica's fleet index.",
    labelNames: ["sync"] as const,
    registers,
    collect() {
      const counts = appCounts ?? sources.index?.counts();
      for (const sync of SYNC_CODES) this.set({ sync }, counts?.sync[sync] ?? 0);
    },
  });
  new Gauge({
    name: "flotilla_hub_is_leader",
    help: "1 when this replica holds the resolver lease (polls Git and resolves), else 0.",
    registers,
    collect() {
      this.set(sources.isLeader?.() ? 1 : 0);
    },
  });
  // One store read serves the four rollout gauges of a scrape: the registry calls every collect
  // in one synchronous pass, so the read is shared until the next microtask. A failed read
  // leaves the rollout gauges without series for that scrape rather than failing the scrape.
  let rolloutViews: Promise<RolloutView[]> | undefined;
  const readRollouts = (): Promise<RolloutView[]> => {
    if (!rolloutViews) {
      const list = sources.rollouts?.list() ?? Promise.resolve([]);
      rolloutViews = list.then(
        (records) =>
          records.flatMap((record) => {
            const state = readRolloutState(record.state);
            return state ? [viewRollout(state)] : [];
          }),
        () => [],
      );
      queueMicrotask(() => {
        rolloutViews = undefined;
      });
    }
    return rolloutViews;
  };
  new Gauge({
    name: "flotilla_rollout_phase",
    help: "1 for the phase each rollout is in, 0 for its other phases.",
    labelNames: ["rollout", "phase"] as const,
    registers,
    async collect() {
      const views = await readRollouts();
      this.reset();
      for (const view of views)
        for (const phase of ROLLOUT_PHASES)
          this.set({ rollout: view.name, phase }, view.phase === phase ? 1 : 0);
    },
  });
  new Gauge({
    name: "flotilla_rollout_step",
    help: "The step each rollout is at, 1-based; steps + 1 once every step passed.",
    labelNames: ["rollout"] as const,
    registers,
    async collect() {
      const views = await readRollouts();
      this.reset();
      for (const view of views) this.set({ rollout: view.name }, view.step);
    },
  });
  new Gauge({
    name: "flotilla_rollout_steps",
    help: "Steps of each rollout, including the implicit last one for members no step selects.",
    labelNames: ["rollout"] as const,
    registers,
    async collect() {
      const views = await readRollouts();
      this.reset();
      for (const view of views) this.set({ rollout: view.name }, view.stepCount);
    },
  });
  new Gauge({
    name: "flotilla_rollout_members",
    help: "Members (one app in one cluster) of each rollout by state.",
    labelNames: ["rollout", "state"] as const,
    registers,
    async collect() {
      const views = await readRollouts();
      this.reset();
      for (const view of views)
        for (const state of MEMBER_STATES) this.set({ rollout: view.name, state }, view.counts[state]);
    },
  });
  const busCounter = (name: string, help: string, read: (stats: BusStats) => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        const stats = sources.bus?.stats();
        this.reset();
        if (stats) this.inc(read(stats));
      },
    });
  busCounter(
    "flotilla_hub_bus_events_published_total",
    "Bus events this replica published.",
    (stats) => stats.published,
  );
  busCounter(
    "flotilla_hub_bus_events_delivered_total",
    "Bus events handed to this replica's handlers, summed over subscriptions.",
    (stats) => stats.delivered,
  );
  busCounter(
    "flotilla_hub_bus_events_dropped_total",
    "Bus messages this replica dropped because they were not valid events.",
    (stats) => stats.dropped,
  );
  busCounter(
    "flotilla_hub_bus_handler_errors_total",
    "Bus event handlers of this replica that threw or rejected.",
    (stats) => stats.handlerErrors,
  );

  const desiredAppsSent = new Counter({
    name: "flotilla_hub_desired_apps_sent_total",
    help: "DesiredApp upserts sent to agents.",
    registers,
  });
  const bundleBytesSent = new Counter({
    name: "flotilla_hub_bundle_bytes_sent_total",
    help: "Bundle bytes sent to agents, inline in upserts and as Bundle messages.",
    registers,
  });
  const deliveryLatency = new Histogram({
    name: "flotilla_hub_delivery_latency_seconds",
    help: "From sending a DesiredApp upsert to an agent to its Ack for that seq.",
    buckets: LATENCY_BUCKETS_S,
    registers,
  });
  const statusUpdates = new Counter({
    name: "flotilla_hub_status_updates_total",
    help: "AppStatus messages ingested from agents.",
    registers,
  });
  const resolveDuration = new Histogram({
    name: "flotilla_hub_resolve_duration_seconds",
    help: "One resolver cycle (fetch due sources, resolve, store and announce); result=error when a source failed.",
    labelNames: ["result"] as const,
    buckets: RESOLVE_BUCKETS_S,
    registers,
  });
  const sourceFetchDuration = new Histogram({
    name: "flotilla_hub_source_fetch_duration_seconds",
    help: "One git fetch of a source or repository, successful or not.",
    buckets: LATENCY_BUCKETS_S,
    registers,
  });
  const renderDuration = new Histogram({
    name: "flotilla_hub_render_duration_seconds",
    help: "Rendering one app with its tool (render-cache hits excluded).",
    labelNames: ["tool"] as const,
    buckets: LATENCY_BUCKETS_S,
    registers,
  });
  const resolveProblems = new Gauge({
    name: "flotilla_hub_resolve_problems",
    help: "Resolve problems attached to apps after the latest resolve (0 on replicas that never resolved).",
    registers,
  });
  const httpRequests = new Counter({
    name: "flotilla_hub_http_requests_total",
    help: "HTTP requests answered on the main port, by route group and status code.",
    labelNames: ["route_group", "code"] as const,
    registers,
  });

  return {
    registry,
    agents: {
      desiredAppSent: () => desiredAppsSent.inc(),
      bundleBytesSent: (bytes) => bundleBytesSent.inc(bytes),
      delivered: (seconds) => deliveryLatency.observe(seconds),
      statusIngested: () => statusUpdates.inc(),
    },
    resolver: {
      resolved: (result, seconds) => resolveDuration.observe({ result }, seconds),
      sourceFetched: (seconds) => sourceFetchDuration.observe(seconds),
      rendered: (tool, seconds) => renderDuration.observe({ tool }, seconds),
      problems: (count) => resolveProblems.set(count),
    },
    httpRequest(path, code) {
      httpRequests.inc({ route_group: routeGroup(path), code: String(code) });
    },
    observe(more) {
      Object.assign(sources, more);
    },
  };
}

/** The route group of a request path, so the label stays bounded whatever paths are asked. */
export function routeGroup(path: string): RouteGroup {
  if (path.startsWith("/api/")) return "api";
  if (path.startsWith("/webhooks/")) return "webhooks";
  if (path === "/" || path === "/ui" || path.startsWith("/ui/")) return "dashboard";
  return "other";
}

/**
 * `GET /metrics`: the registry in Prometheus text format. With `token` set, only a request with
 * `Authorization: Bearer <token>` gets it (compared in constant time); others get 401. The token
 * never appears in an answer.
 */
export function metricsHandler(
  metrics: Pick<HubMetrics, "registry">,
  options: { token?: string } = {},
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const expected = options.token ? digest(options.token) : undefined;
  return async (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "application/json" });
      res.end(JSON.stringify({ error: { code: "METHOD_NOT_ALLOWED", message: "use GET /metrics" } }));
      return;
    }
    if (expected && !bearerMatches(req.headers.authorization, expected)) {
      res.writeHead(401, {
        "www-authenticate": 'Bearer realm="metrics"',
        "content-type": "application/json",
      });
      res.end(
        JSON.stringify({
          error: { code: "UNAUTHENTICATED", message: "/metrics needs Authorization: Bearer <metrics token>" },
        }),
      );
      return;
    }
    const text = await metrics.registry.metrics();
    res.writeHead(200, { "content-type": metrics.registry.contentType, "cache-control": "no-store" });
    res.end(req.method === "HEAD" ? undefined : text);
  };
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

/** Hashing first gives both sides one length, so timingSafeEqual leaks neither length nor content. */
function bearerMatches(authorization: string | undefined, expected: Buffer): boolean {
  const presented = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "")?.[1];
  if (presented === undefined) return false;
  return timingSafeEqual(digest(presented), expected);
}
