// The agent against one real kube-apiserver: a full sync of N objects compared with plain
// server-side apply of the same objects through @kubernetes/client-node, and a no-op resync by a
// separate `flotilla-agent run --once` process: writes to the API server and its peak RSS.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { request } from "node:https";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadDesiredDir } from "@flotilla/agent/desired/load-desired-dir";
import { createFileStateStore } from "@flotilla/agent/desired/state-store";
import { assessResourceHealth } from "@flotilla/agent/health/assess-health";
import { createKubeClient } from "@flotilla/agent/kube/create-kube-client";
import { loadKubeConfig } from "@flotilla/agent/kube/load-kube-config";
import { createReconciler } from "@flotilla/agent/reconcile/reconciler";
import { KubeConfig, KubernetesObjectApi, PatchStrategy } from "@kubernetes/client-node";
import { makeTempDir, writeDesiredDir } from "../harness/agent.js";
import { type Cluster, startCluster } from "../harness/cluster.js";
import { type BenchResult, extraFigure, result } from "./bench-result.js";
import { buildPackages } from "./build-workspace.js";

const agentDir = fileURLToPath(new URL("../../../agent/", import.meta.url));
/** The compiled agent, as it ships: memory is measured without tsx's transpiler in the process. */
const agentMain = join(agentDir, "dist", "main.js");

function configMaps(namespace: string, count: number, prefix: string) {
  return Array.from({ length: count }, (_, i) => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: `${prefix}-${String(i).padStart(4, "0")}`, namespace, labels: { bench: "agent" } },
    data: { index: String(i), payload: "x".repeat(200) },
  }));
}

/** Sum of `apiserver_request_total` for non-dry-run writes to configmaps, from the API server's /metrics. */
async function configMapWrites(cluster: Cluster): Promise<number> {
  const ca = await readFile(cluster.caCertPath);
  const text = await new Promise<string>((resolve, reject) => {
    const req = request(
      `${cluster.server}/metrics`,
      { ca, headers: { authorization: `Bearer ${cluster.token}` } },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () => resolve(body));
      },
    );
    req.on("error", reject);
    req.end();
  });
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith("apiserver_request_total{")) continue;
    if (!line.includes('resource="configmaps"') || !line.includes('dry_run=""')) continue;
    if (!/verb="(POST|PUT|PATCH|DELETE|APPLY)"/.test(line)) continue;
    total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

/**
 * The node flags of the agent's entry point (`#!/usr/bin/env -S node <flags>`), so the agent is
 * measured as `flotilla-agent` runs in the image, only on the node running this bench.
 */
function shebangFlags(): string[] {
  const first = readFileSync(agentMain, "utf8").split("\n", 1)[0] ?? "";
  const match = /^#!\/usr\/bin\/env -S node (.+)$/.exec(first);
  return match?.[1] ? match[1].trim().split(/\s+/) : [];
}

function runOnce(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string; peakRssBytes: number }> {
  return new Promise((resolve) => {
    let peak = 0;
    const child = execFile(
      process.execPath,
      [...shebangFlags(), agentMain, "run", ...args],
      { maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        clearInterval(timer);
        resolve({ code: error ? 1 : 0, stdout, stderr, peakRssBytes: peak });
      },
    );
    const timer = setInterval(() => {
      readFile(`/proc/${child.pid}/status`, "utf8")
        .then((status) => {
          const match = /VmHWM:\s+(\d+) kB/.exec(status);
          if (match) peak = Math.max(peak, Number(match[1]) * 1024);
        })
        .catch(() => {});
    }, 50);
  });
}

export type AgentBenchOptions = {
  quick: boolean;
  objects?: number;
  /** Runs of each measurement; default 3 (quick) or 5. */
  runs?: number;
  onProgress: (line: string) => void;
};

/**
 * `sync-vs-raw-ssa` and `agent-noop`, each the median of several runs on one kube-apiserver.
 * Every run syncs into fresh namespaces, plain server-side apply and the agent in alternating
 * order, so neither always meets a warmer API server.
 */
export async function benchAgent(options: AgentBenchOptions): Promise<BenchResult[]> {
  const objects = options.objects ?? 500;
  const runs = options.runs ?? (options.quick ? 3 : 5);
  options.onProgress("agent: building the agent and starting a kube-apiserver");
  buildPackages(["agent"]);
  const cluster = await startCluster({ name: "bench-agent" });
  const work = await makeTempDir("flotilla-bench-agent-");
  try {
    const samples: AgentRunSample[] = [];
    for (let run = 0; run < runs; run++) {
      const sample = await runAgentBench(cluster, join(work.path, `run-${run}`), objects, run);
      samples.push(sample);
      options.onProgress(
        `agent: run ${run + 1}/${runs}: agent sync ${(sample.agentSyncMs / 1000).toFixed(2)} s, raw SSA ${(sample.rawSsaMs / 1000).toFixed(2)} s, no-op writes ${sample.noopWrites}, no-op peak RSS ${(sample.noopRssBytes / MIB).toFixed(0)} MiB`,
      );
    }
    const unchanged = samples.map((s) => s.noopUnchanged);
    return [
      result({
        name: "sync-vs-raw-ssa",
        unit: "x",
        target: 1.5,
        samples: samples.map((s) => s.agentSyncMs / s.rawSsaMs),
        notes: `${objects} ConfigMaps into a real kube-apiserver; agent reconciler (in process) vs @kubernetes/client-node server-side apply, 8 in flight each; ratio per run`,
        extra: [
          extraFigure({ label: "agent sync", unit: "s", samples: samples.map((s) => s.agentSyncMs / 1000) }),
          extraFigure({
            label: "raw server-side apply",
            unit: "s",
            samples: samples.map((s) => s.rawSsaMs / 1000),
          }),
        ],
      }),
      result({
        name: "agent-noop",
        unit: "writes",
        target: 0,
        samples: samples.map((s) => s.noopWrites),
        notes: `flotilla-agent run --once (compiled agent/dist, own process) over ${objects} objects it already applied; writes counted by the API server's apiserver_request_total; ${Math.min(...unchanged)}-${Math.max(...unchanged)} reported unchanged`,
        extra: [
          extraFigure({
            label: "agent RSS (peak)",
            unit: "MiB",
            samples: samples.map((s) => s.noopRssBytes / MIB),
            target: 100,
          }),
          extraFigure({ label: "no-op resync", unit: "s", samples: samples.map((s) => s.noopMs / 1000) }),
        ],
      }),
    ];
  } finally {
    await work.remove();
    await cluster.stop();
  }
}

const MIB = 1024 * 1024;

type AgentRunSample = {
  agentSyncMs: number;
  rawSsaMs: number;
  noopWrites: number;
  noopUnchanged: number;
  noopRssBytes: number;
  noopMs: number;
};

async function runAgentBench(
  cluster: Cluster,
  dir: string,
  objects: number,
  run: number,
): Promise<AgentRunSample> {
  const config = new KubeConfig();
  config.loadFromString(cluster.kubeconfig);
  const api = KubernetesObjectApi.makeApiClient(config);
  const rawNamespace = `raw-${run}`;
  const agentNamespace = `agent-${run}`;
  for (const name of [rawNamespace, agentNamespace]) {
    await api.create({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
  }

  // Plain server-side apply, 8 in flight as the agent runs them.
  const rawSsa = async (): Promise<number> => {
    const raw = configMaps(rawNamespace, objects, "cm");
    const start = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < raw.length) {
          const obj = raw[next++];
          if (obj) await api.patch(obj, undefined, undefined, "bench", true, PatchStrategy.ServerSideApply);
        }
      }),
    );
    return performance.now() - start;
  };

  const desiredDir = join(dir, "desired");
  await writeDesiredDir(desiredDir, {
    bench: {
      "app.yaml": { namespace: agentNamespace, syncPolicy: { automated: { prune: true } } },
      "objects.yaml": configMaps(agentNamespace, objects, "cm").map(
        ({ metadata: { namespace: _ns, ...m }, ...o }) => ({
          ...o,
          metadata: m,
        }),
      ),
    },
  });
  const stateFile = join(dir, "state.json");
  const agentSync = async (): Promise<number> => {
    const kube = createKubeClient(loadKubeConfig({ kubeconfigPath: cluster.kubeconfigPath }));
    const reconciler = createReconciler({
      kube,
      store: createFileStateStore(stateFile),
      assessHealth: assessResourceHealth,
    });
    await reconciler.start();
    const { apps } = await loadDesiredDir(desiredDir);
    const start = performance.now();
    await reconciler.setDesired(apps);
    const [status] = await reconciler.reconcileAll();
    const ms = performance.now() - start;
    await reconciler.stop();
    if (status?.operation?.phase !== "Succeeded") {
      throw new Error(`agent sync did not succeed: ${status?.operation?.message ?? status?.healthMessage}`);
    }
    return ms;
  };
  let rawSsaMs: number;
  let agentSyncMs: number;
  if (run % 2 === 0) {
    rawSsaMs = await rawSsa();
    agentSyncMs = await agentSync();
  } else {
    agentSyncMs = await agentSync();
    rawSsaMs = await rawSsa();
  }

  const writesBefore = await configMapWrites(cluster);
  const noopStart = performance.now();
  const noop = await runOnce([
    "--kubeconfig",
    cluster.kubeconfigPath,
    "--desired-dir",
    desiredDir,
    "--state-file",
    stateFile,
    "--once",
    "-o",
    "json",
  ]);
  const noopMs = performance.now() - noopStart;
  if (noop.code !== 0) throw new Error(`no-op resync failed: ${noop.stderr}`);
  const noopWrites = (await configMapWrites(cluster)) - writesBefore;
  const parsed = JSON.parse(noop.stdout) as { apps: { resources: { result: string }[] }[] };
  const noopUnchanged = parsed.apps[0]?.resources.filter((r) => r.result === "unchanged").length ?? 0;
  return { agentSyncMs, rawSsaMs, noopWrites, noopUnchanged, noopRssBytes: noop.peakRssBytes, noopMs };
}
