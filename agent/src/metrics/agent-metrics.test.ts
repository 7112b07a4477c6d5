import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AppStatus } from "../reconcile/app-status.js";
import { createAgentMetrics } from "./agent-metrics.js";

const AGENT_METRICS = [
  "flotilla_agent_reconcile_total",
  "flotilla_agent_reconcile_duration_seconds",
  "flotilla_agent_apply_total",
  "flotilla_agent_apps",
  "flotilla_agent_apps_sync",
  "flotilla_agent_queue_depth",
  "flotilla_agent_hub_connected",
  "flotilla_agent_desired_seq",
  "flotilla_agent_acked_seq",
  "flotilla_agent_status_reports_total",
];

function status(name: string, sync: AppStatus["sync"], health: AppStatus["health"]): AppStatus {
  return { name, digest: "d", revision: "r", sync, health, healthMessage: "", resources: [], conditions: [] };
}

describe("createAgentMetrics", () => {
  it("registers every agent metric and the process metrics with the flotilla_agent_ prefix", async () => {
    const text = await createAgentMetrics().registry.metrics();
    for (const name of AGENT_METRICS) assert.match(text, new RegExp(`^# TYPE ${name} `, "m"), name);
    assert.match(text, /^flotilla_agent_process_resident_memory_bytes /m);
  });

  it("leaves out process metrics when asked, and keeps each agent's metrics apart", async () => {
    const one = createAgentMetrics({ defaultMetrics: false });
    const two = createAgentMetrics({ defaultMetrics: false });
    one.hub.statusReported?.();
    assert.doesNotMatch(await one.registry.metrics(), /process_resident_memory_bytes/);
    assert.match(await one.registry.metrics(), /^flotilla_agent_status_reports_total 1$/m);
    assert.match(await two.registry.metrics(), /^flotilla_agent_status_reports_total 0$/m);
  });

  it("counts reconcile passes per app and result, and objects per apply action", async () => {
    const metrics = createAgentMetrics({ defaultMetrics: false });
    metrics.reconciled({
      app: "web",
      result: "synced",
      seconds: 0.2,
      applied: ["created", "configured", "created"],
    });
    metrics.reconciled({ app: "web", result: "unchanged", seconds: 0.1, applied: [] });
    metrics.reconciled({ app: "db", result: "failed", seconds: 1.5, applied: ["failed", "pruned"] });
    const text = await metrics.registry.metrics();
    assert.match(text, /^flotilla_agent_reconcile_total\{app="web",result="synced"\} 1$/m);
    assert.match(text, /^flotilla_agent_reconcile_total\{app="web",result="unchanged"\} 1$/m);
    assert.match(text, /^flotilla_agent_reconcile_total\{app="db",result="failed"\} 1$/m);
    assert.match(text, /^flotilla_agent_reconcile_duration_seconds_count 3$/m);
    assert.match(text, /^flotilla_agent_apply_total\{action="created"\} 2$/m);
    assert.match(text, /^flotilla_agent_apply_total\{action="configured"\} 1$/m);
    assert.match(text, /^flotilla_agent_apply_total\{action="pruned"\} 1$/m);
    assert.match(text, /^flotilla_agent_apply_total\{action="failed"\} 1$/m);
    assert.match(text, /^flotilla_agent_apply_total\{action="unchanged"\} 0$/m);
  });

  it("reads apps by health and sync and the queue depth from the reconciler on scrape", async () => {
    const metrics = createAgentMetrics({ defaultMetrics: false });
    let statuses = [
      status("web", "Synced", "Healthy"),
      status("db", "OutOfSync", "Degraded"),
      status("cache", "Synced", "Healthy"),
    ];
    metrics.observe({ reconciler: { statuses: () => statuses, queueDepth: () => 2 } });
    const text = await metrics.registry.metrics();
    assert.match(text, /^flotilla_agent_apps\{health="Healthy"\} 2$/m);
    assert.match(text, /^flotilla_agent_apps\{health="Degraded"\} 1$/m);
    assert.match(text, /^flotilla_agent_apps\{health="Progressing"\} 0$/m);
    assert.match(text, /^flotilla_agent_apps_sync\{sync="Synced"\} 2$/m);
    assert.match(text, /^flotilla_agent_apps_sync\{sync="OutOfSync"\} 1$/m);
    assert.match(text, /^flotilla_agent_queue_depth 2$/m);
    statuses = [];
    assert.match(await metrics.registry.metrics(), /^flotilla_agent_apps\{health="Healthy"\} 0$/m);
  });

  it("follows the hub connection: connected, announced and acknowledged seqs", async () => {
    const metrics = createAgentMetrics({ defaultMetrics: false });
    metrics.hub.connected?.(true);
    metrics.hub.desiredSeq?.(12n);
    metrics.hub.appliedSeq?.(9n);
    let text = await metrics.registry.metrics();
    assert.match(text, /^flotilla_agent_hub_connected 1$/m);
    assert.match(text, /^flotilla_agent_desired_seq 12$/m);
    assert.match(text, /^flotilla_agent_acked_seq 9$/m);
    metrics.hub.connected?.(false);
    text = await metrics.registry.metrics();
    assert.match(text, /^flotilla_agent_hub_connected 0$/m);
  });
});
