import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it, type TestContext } from "node:test";
import type { Registry } from "prom-client";
import { createFleetIndex, type IndexedApp } from "../fleet/fleet-index.js";
import { ROLLOUT_PHASES, type RolloutMember, type RolloutState } from "../rollout/rollout-state.js";
import { openStore } from "../store/open-store.js";
import type { Store } from "../store/store.js";
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

/** One sample of the Prometheus text exposition format. */
type Sample = { name: string; labels: Record<string, string>; value: number };

/**
 * Parses the samples of an exposition (comments skipped), undoing the label value escapes
 * (`\\`, `\"`, `\n`); throws on a line that is not `name{labels} value`.
 */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const head = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
    if (!head?.[1]) throw new Error(`not a sample: ${JSON.stringify(line)}`);
    let at = head[1].length;
    const labels: Record<string, string> = {};
    if (line[at] === "{") {
      at += 1;
      while (line[at] !== "}") {
        const key = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(at));
        if (!key?.[1]) throw new Error(`bad label at ${at} in ${JSON.stringify(line)}`);
        at += key[0].length;
        let value = "";
        while (line[at] !== '"') {
          if (at >= line.length) throw new Error(`unterminated label value in ${JSON.stringify(line)}`);
          if (line[at] === "\\") {
            const escaped = line[at + 1];
            value += escaped === "n" ? "\n" : (escaped ?? "");
            at += 2;
          } else {
            value += line[at];
            at += 1;
          }
        }
        labels[key[1]] = value;
        at += 1;
        if (line[at] === ",") at += 1;
      }
      at += 1;
    }
    const value = line.slice(at).trim();
    if (!/^[-+]?(\d+(\.\d+)?(e[-+]?\d+)?|NaN|Inf)$/i.test(value))
      throw new Error(`bad value in ${JSON.stringify(line)}`);
    samples.push({ name: head[1], labels, value: Number(value) });
  }
  return samples;
}

/** `samples` of `name` as "label=value,..." -> value, for exact comparison. */
function seriesOf(samples: Sample[], name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const sample of samples) {
    if (sample.name !== name) continue;
    const key = Object.entries(sample.labels)
      .map(([label, value]) => `${label}=${value}`)
      .join(",");
    out[key] = sample.value;
  }
  return out;
}

const AT = "2024-05-01T12:00:00.000Z";

function member(cluster: string, step: number, extra: Partial<RolloutMember> = {}): RolloutMember {
  return {
    clusterId: `id-${cluster}`,
    cluster,
    app: "web",
    step,
    wanted: { digest: "sha256:new", bundleDigest: "", desired: {} },
    ...extra,
  };
}

/** A stored rollout of two declared steps (canary, prod) with `members`. */
function rollout(
  name: string,
  members: RolloutMember[],
  overrides: Partial<RolloutState> = {},
): RolloutState {
  return {
    name,
    declaration: {
      name,
      origin: "ApplicationSet",
      declaredBy: "root",
      steps: ["canary", "prod"].map((step) => ({
        name: step,
        selector: { apps: { matchLabels: { env: step } } },
        maxUnavailable: { percent: 100 },
        bakeTimeMs: 0,
      })),
      progressDeadlineMs: 600_000,
      rollback: true,
      offline: { policy: "skip", timeoutMs: 600_000 },
      apps: ["web"],
    },
    generation: 3,
    commit: "abc1234",
    phase: "Progressing",
    step: 0,
    stepCount: 2,
    stepStartedAt: AT,
    message: "",
    failures: [],
    members,
    startedAt: AT,
    updatedAt: AT,
    ...overrides,
  };
}

/** One real PGlite store for the file (opening one takes seconds); `useStore` empties its rollouts. */
let sharedStore: { store: Store; dir: string } | undefined;
after(async () => {
  await sharedStore?.store.close();
  if (sharedStore) await rm(sharedStore.dir, { recursive: true, force: true });
});

async function useStore(): Promise<Store> {
  if (!sharedStore) {
    const dir = await mkdtemp(join(tmpdir(), "flotilla-metrics-rollouts-"));
    sharedStore = { store: await openStore({ kind: "pglite", dataDir: dir }), dir };
  }
  const { store } = sharedStore;
  for (const record of await store.rollouts.list()) await store.rollouts.remove(record.name);
  return store;
}

describe("rollout metrics", () => {
  it("exports phase, step, steps and members by state of every stored rollout on scrape", async () => {
    const store = await useStore();
    const metrics = createHubMetrics({ defaultMetrics: false });
    metrics.observe({ rollouts: store.rollouts });
    await store.rollouts.put(
      "web",
      rollout(
        "web",
        [
          member("staging-1", 0, { releasedAt: AT, doneAt: AT, passed: true }),
          member("prod-1", 1, { releasedAt: AT }),
          member("prod-2", 1),
          member("edge-1", 2, { skipped: true }),
        ],
        { step: 1, stepCount: 3 },
      ),
    );
    await store.rollouts.put(
      "api",
      rollout("api", [member("staging-1", 0, { releasedAt: AT, rolledBack: true }), member("prod-1", 1)], {
        phase: "RolledBack",
        failures: [{ cluster: "staging-1", app: "web", message: "Degraded", resources: [] }],
      }),
    );
    // A row that is not a RolloutState (older or foreign) is left out, not fatal.
    await store.rollouts.put("odd", { name: "odd" });

    const samples = parseExposition(await metrics.registry.metrics());

    const phases = seriesOf(samples, "flotilla_rollout_phase");
    assert.equal(Object.keys(phases).length, 2 * ROLLOUT_PHASES.length);
    for (const phase of ROLLOUT_PHASES) {
      assert.equal(phases[`rollout=web,phase=${phase}`], phase === "Progressing" ? 1 : 0, `web ${phase}`);
      assert.equal(phases[`rollout=api,phase=${phase}`], phase === "RolledBack" ? 1 : 0, `api ${phase}`);
    }
    assert.deepEqual(seriesOf(samples, "flotilla_rollout_step"), { "rollout=api": 1, "rollout=web": 2 });
    assert.deepEqual(seriesOf(samples, "flotilla_rollout_steps"), { "rollout=api": 2, "rollout=web": 3 });
    const members = seriesOf(samples, "flotilla_rollout_members");
    assert.deepEqual(
      Object.fromEntries(Object.entries(members).filter(([key]) => key.startsWith("rollout=web,"))),
      {
        "rollout=web,state=updated": 1,
        "rollout=web,state=updating": 1,
        "rollout=web,state=waiting": 1,
        "rollout=web,state=failed": 0,
        "rollout=web,state=rolledBack": 0,
        "rollout=web,state=skipped": 1,
      },
    );
    assert.equal(members["rollout=api,state=rolledBack"], 1);
    assert.equal(members["rollout=api,state=waiting"], 1);
  });

  it("drops the series of a rollout removed from the store", async () => {
    const store = await useStore();
    const metrics = createHubMetrics({ defaultMetrics: false });
    metrics.observe({ rollouts: store.rollouts });
    await store.rollouts.put("gone", rollout("gone", [member("prod-1", 0)]));
    assert.equal(
      seriesOf(parseExposition(await metrics.registry.metrics()), "flotilla_rollout_step")["rollout=gone"],
      1,
    );

    await store.rollouts.remove("gone");
    const samples = parseExposition(await metrics.registry.metrics());

    for (const name of [
      "flotilla_rollout_phase",
      "flotilla_rollout_step",
      "flotilla_rollout_steps",
      "flotilla_rollout_members",
    ])
      assert.deepEqual(seriesOf(samples, name), {}, name);
  });

  it("reads the store once per scrape and keeps the rest of the scrape when the read fails", async () => {
    const metrics = createHubMetrics({ defaultMetrics: false });
    let reads = 0;
    let fail = false;
    metrics.observe({
      isLeader: () => true,
      rollouts: {
        list: async () => {
          reads += 1;
          if (fail) throw new Error("store unavailable");
          return [{ name: "web", state: rollout("web", [member("prod-1", 0)]), updatedAt: new Date(AT) }];
        },
      },
    });

    const first = parseExposition(await metrics.registry.metrics());
    assert.equal(reads, 1);
    assert.equal(seriesOf(first, "flotilla_rollout_steps")["rollout=web"], 2);
    fail = true;
    const second = await metrics.registry.metrics();
    assert.equal(reads, 2);
    assert.deepEqual(seriesOf(parseExposition(second), "flotilla_rollout_step"), {});
    assert.match(second, /^flotilla_hub_is_leader 1$/m);
  });
});

describe("reliability: wire and API", () => {
  it("rollout names with quotes, backslashes and newlines stay one label value in /metrics", async (t) => {
    const store = await useStore();
    const metrics = createHubMetrics({ defaultMetrics: false });
    metrics.observe({ rollouts: store.rollouts });
    const names = ['say "hi"', "back\\slash", "two\nlines", "comma,brace}=x", "plain"];
    for (const name of names) await store.rollouts.put(name, rollout(name, [member("prod-1", 0)]));

    const text = await metrics.registry.metrics();
    const samples = parseExposition(text);

    const seen = Object.keys(seriesOf(samples, "flotilla_rollout_step"))
      .map((key) => key.slice("rollout=".length))
      .sort();
    assert.deepEqual(seen, [...names].sort());
    // Every sample on one line: a name that broke a line would leave a line that does not parse.
    const lines = text.split("\n").filter((line) => line.startsWith("flotilla_rollout_")).length;
    assert.equal(lines, names.length * (ROLLOUT_PHASES.length + 1 + 1 + 6));
    t.diagnostic(
      `${names.length} rollout names with exposition metacharacters; ${lines} samples, all parsed back to the exact names`,
    );
  });
});
