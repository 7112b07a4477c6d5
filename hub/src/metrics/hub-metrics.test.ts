import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it, type TestContext } from "node:test";
import type { Registry } from "prom-client";
import { createFleetIndex, type IndexedApp } from "../fleet/fleet-index.js";
import { createHubMetrics, metricsHandler, routeGroup } from "./hub-metrics.js";

const HUB_METRICS = [
  "flotilla_hub_connected_agents",
  "flotilla_hub_clusters",
  "flotilla_hub_apps",
  "flotilla_hub_apps_sync",
  "flotilla_hub_delivery_latency_seconds",
  "flotilla_hub_delivery_queue_depth",
  "flotilla_hub_desired_apps_sent_total",
  "flotilla_hub_bundle_bytes_sent_total",
  "flotilla_hub_status_updates_total",
  "flotilla_hub_resolve_duration_seconds",
  "flotilla_hub_source_fetch_duration_seconds",
  "flotilla_hub_render_duration_seconds",
  "flotilla_hub_resolve_problems",
  "flotilla_hub_bus_events_published_total",
  "flotilla_hub_bus_events_delivered_total",
  "flotilla_hub_bus_events_dropped_total",
  "flotilla_hub_is_leader",
  "flotilla_hub_http_requests_total",
];

/** The value of one series (a histogram's `_count` with metricName), undefined when absent. */
async function seriesValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
  metricName = name,
): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  assert.ok(metric, `no metric ${name}`);
  const { values } = await metric.get();
  const found = values.find(
    (value) =>
      ((value as { metricName?: string }).metricName ?? name) === metricName &&
      Object.entries(labels).every(([key, wanted]) => String(value.labels[key]) === wanted),
  );
  return found?.value;
}

const app = (name: string, overrides: Partial<IndexedApp> = {}): IndexedApp => ({
  app: name,
  sync: "Synced",
  health: "Healthy",
  revision: "abc1234",
  message: "",
  stale: false,
  problem: false,
  ...overrides,
});

/** A plain HTTP server around `handler` on a free port; closed when the test ends. */
async function useServer(t: TestContext, handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
}

describe("createHubMetrics", () => {
  it("registers every hub metric and the process metrics with the flotilla_hub_ prefix", async () => {
    const text = await createHubMetrics().registry.metrics();
    for (const name of HUB_METRICS) assert.match(text, new RegExp(`^# TYPE ${name} `, "m"), name);
    assert.match(text, /^flotilla_hub_process_resident_memory_bytes /m);
    assert.match(text, /^flotilla_hub_nodejs_eventloop_lag_seconds /m);
  });

  it("keeps each hub's metrics in its own registry", async () => {
    const one = createHubMetrics({ defaultMetrics: false });
    const two = createHubMetrics({ defaultMetrics: false });
    one.agents.statusIngested();
    assert.equal(await seriesValue(one.registry, "flotilla_hub_status_updates_total"), 1);
    assert.equal(await seriesValue(two.registry, "flotilla_hub_status_updates_total"), 0);
  });

  it("reads clusters by state and apps by health and sync from the fleet index on scrape", async () => {
    const metrics = createHubMetrics({ defaultMetrics: false });
    const index = createFleetIndex();
    metrics.observe({ index });
    index.upsertCluster({ id: "c1", name: "prod-1", labels: {}, state: "Connected" });
    index.upsertCluster({ id: "c2", name: "prod-2", labels: {}, state: "Disconnected" });
    index.upsertCluster({ id: "c3", name: "new-1", labels: {}, state: "Pending" });
    index.upsertApp("c1", app("web"));
    index.upsertApp("c1", app("db", { health: "Degraded", sync: "OutOfSync" }));
    index.upsertApp("c2", app("web", { health: "Unknown", sync: "Unknown" }));

    const text = await metrics.registry.metrics();
    assert.match(text, /^flotilla_hub_clusters\{state="Connected"\} 1$/m);
    assert.match(text, /^flotilla_hub_clusters\{state="Disconnected"\} 1$/m);
    assert.match(text, /^flotilla_hub_clusters\{state="Pending"\} 1$/m);
    assert.match(text, /^flotilla_hub_apps\{health="Healthy"\} 1$/m);
    assert.match(text, /^flotilla_hub_apps\{health="Degraded"\} 1$/m);
    assert.match(text, /^flotilla_hub_apps\{health="Unknown"\} 1$/m);
    assert.match(text, /^flotilla_hub_apps\{health="Progressing"\} 0$/m);
    assert.match(text, /^flotilla_hub_apps_sync\{sync="Synced"\} 1$/m);
    assert.match(text, /^flotilla_hub_apps_sync\{sync="OutOfSync"\} 1$/m);
    assert.match(text, /^flotilla_hub_apps_sync\{sync="Unknown"\} 1$/m);

    index.removeCluster("c2");
    const later = await metrics.registry.metrics();
    assert.match(later, /^flotilla_hub_clusters\{state="Disconnected"\} 0$/m);
    assert.match(later, /^flotilla_hub_apps_sync\{sync="Unknown"\} 0$/m);
  });

  it("reads delivery, bus and leadership state from their sources on scrape", async () => {
    const metrics = createHubMetrics({ defaultMetrics: false });
    let leader = false;
    metrics.observe({
      agents: { stats: () => ({ connectedAgents: 3, queuedChanges: 7 }) },
      bus: { stats: () => ({ published: 10, delivered: 25, dropped: 2, handlerErrors: 1 }) },
      isLeader: () => leader,
    });
    const { registry } = metrics;
    assert.equal(await seriesValue(registry, "flotilla_hub_connected_agents"), 3);
    assert.equal(await seriesValue(registry, "flotilla_hub_delivery_queue_depth"), 7);
    assert.equal(await seriesValue(registry, "flotilla_hub_bus_events_published_total"), 10);
    assert.equal(await seriesValue(registry, "flotilla_hub_bus_events_delivered_total"), 25);
    assert.equal(await seriesValue(registry, "flotilla_hub_bus_events_dropped_total"), 2);
    assert.equal(await seriesValue(registry, "flotilla_hub_is_leader"), 0);
    leader = true;
    assert.equal(await seriesValue(registry, "flotilla_hub_is_leader"), 1);
  });

  it("counts what the agent service and the resolver report", async () => {
    const metrics = createHubMetrics({ defaultMetrics: false });
    const { registry } = metrics;
    metrics.agents.desiredAppSent();
    metrics.agents.bundleBytesSent(1_000);
    metrics.agents.bundleBytesSent(24);
    metrics.agents.delivered(0.02);
    metrics.resolver.resolved("ok", 1.5);
    metrics.resolver.resolved("error", 0.5);
    metrics.resolver.sourceFetched(0.3);
    metrics.resolver.rendered("helm", 0.7);
    metrics.resolver.problems(4);
    metrics.httpRequest("/api/v1/clusters", 200);
    metrics.httpRequest("/ui/assets/dashboard.js", 304);
    assert.equal(await seriesValue(registry, "flotilla_hub_desired_apps_sent_total"), 1);
    assert.equal(await seriesValue(registry, "flotilla_hub_bundle_bytes_sent_total"), 1_024);
    const count = (name: string, labels: Record<string, string> = {}) =>
      seriesValue(registry, name, labels, `${name}_count`);
    assert.equal(await count("flotilla_hub_delivery_latency_seconds"), 1);
    assert.equal(await count("flotilla_hub_resolve_duration_seconds", { result: "ok" }), 1);
    assert.equal(await count("flotilla_hub_resolve_duration_seconds", { result: "error" }), 1);
    assert.equal(await count("flotilla_hub_source_fetch_duration_seconds"), 1);
    assert.equal(await count("flotilla_hub_render_duration_seconds", { tool: "helm" }), 1);
    assert.equal(await seriesValue(registry, "flotilla_hub_resolve_problems"), 4);
    assert.equal(
      await seriesValue(registry, "flotilla_hub_http_requests_total", { route_group: "api", code: "200" }),
      1,
    );
    assert.equal(
      await seriesValue(registry, "flotilla_hub_http_requests_total", {
        route_group: "dashboard",
        code: "304",
      }),
      1,
    );
  });
});

describe("routeGroup", () => {
  it("maps any path to one of four groups", () => {
    assert.equal(routeGroup("/api/v1/fleet"), "api");
    assert.equal(routeGroup("/webhooks/github"), "webhooks");
    assert.equal(routeGroup("/"), "dashboard");
    assert.equal(routeGroup("/ui/assets/dashboard.css"), "dashboard");
    assert.equal(routeGroup("/metrics"), "other");
    assert.equal(routeGroup("/apiary"), "other");
  });
});

describe("metricsHandler", () => {
  it("serves the registry in the Prometheus text format without a token by default", async (t) => {
    const metrics = createHubMetrics({ defaultMetrics: false });
    const url = await useServer(t, (req, res) => void metricsHandler(metrics)(req, res));
    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), metrics.registry.contentType);
    assert.match(await response.text(), /^flotilla_hub_connected_agents 0$/m);
  });

  it("answers 401 without the configured bearer token and never echoes it", async (t) => {
    const token = "s3cret-metrics-token";
    const metrics = createHubMetrics({ defaultMetrics: false });
    const url = await useServer(t, (req, res) => void metricsHandler(metrics, { token })(req, res));

    const missing = await fetch(url);
    assert.equal(missing.status, 401);
    assert.doesNotMatch(await missing.text(), /s3cret/);
    const wrong = await fetch(url, { headers: { authorization: "Bearer s3cret-metrics-tokeN" } });
    assert.equal(wrong.status, 401);
    assert.doesNotMatch(await wrong.text(), /s3cret/);
    const basic = await fetch(url, { headers: { authorization: `Basic ${token}` } });
    assert.equal(basic.status, 401);
    await basic.text();

    const right = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(right.status, 200);
    assert.match(await right.text(), /^# TYPE flotilla_hub_is_leader gauge$/m);
  });
});
