// The agent against one real kube-apiserver: a full sync of N objects compared with plain
// server-side apply of the same objects through @kubernetes/client-node, and a no-op resync by a
// separate `flotilla-agent run --once` process: writes to the API server and its peak RSS.
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { request } from "node:https";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadDesiredDir } from "@flotilla/agent/desired/load-desired-dir";
import { createFileStateStore } from "@flotilla/agent/desired/state-store";
import { assessResourceHealth } from "@flotilla/agent/health/assess-health";
import { createKubeClient, loadKubeConfig } from "@flotilla/agent/kube/create-kube-client";
import { createReconciler } from "@flotilla/agent/reconcile/reconciler";
import { KubeConfig, KubernetesObjectApi, PatchStrategy } from "@kubernetes/client-node";
import { makeTempDir, writeDesiredDir } from "../harness/agent.js";
import { type Cluster, startCluster } from "../harness/cluster.js";

export type AgentBenchResult = {
  objects: number;
  agentSyncMs: number;
  rawSsaMs: number;
  noopWrites: number;
  noopDryRuns: number;
  noopRssBytes: number;
  noopMs: number;
};

const agentDir = fileURLToPath(new URL("../../../agent/", import.meta.url));
/** The compiled agent, as it ships: memory is measured without tsx's transpiler in the process. */
const agentMain = join(agentDir, "dist", "main.js");

function buildAgent(): Promise<void> {
  const tsc = fileURLToPath(new URL("../../../node_modules/typescript/bin/tsc", import.meta.url));
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [tsc, "-p", join(agentDir, "tsconfig.json")], (error, stdout) => {
      if (error) reject(new Error(`building the agent failed: ${stdout}`, { cause: error }));
      else resolve();
    });
  });
}

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

function runOnce(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string; peakRssBytes: number }> {
  return new Promise((resolve) => {
    let peak = 0;
    const child = execFile(
      process.execPath,
      [agentMain, "run", ...args],
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

export async function benchAgent(options: { objects: number }): Promise<AgentBenchResult> {
  await buildAgent();
  const cluster = await startCluster({ name: "bench-agent" });
  const work = await makeTempDir("flotilla-bench-agent-");
  try {
    const config = new KubeConfig();
    config.loadFromString(cluster.kubeconfig);
    const api = KubernetesObjectApi.makeApiClient(config);
    for (const name of ["raw", "agent"]) {
      await api.create({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
    }

    // Plain server-side apply, 8 in flight as the agent runs them.
    const raw = configMaps("raw", options.objects, "cm");
    const rawStart = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < raw.length) {
          const obj = raw[next++];
          if (obj) await api.patch(obj, undefined, undefined, "bench", true, PatchStrategy.ServerSideApply);
        }
      }),
    );
    const rawSsaMs = performance.now() - rawStart;

    const desiredDir = join(work.path, "desired");
    await writeDesiredDir(desiredDir, {
      bench: {
        "app.yaml": { namespace: "agent", syncPolicy: { automated: { prune: true } } },
        "objects.yaml": configMaps("agent", options.objects, "cm").map(
          ({ metadata: { namespace: _ns, ...m }, ...o }) => ({
            ...o,
            metadata: m,
          }),
        ),
      },
    });
    const stateFile = join(work.path, "state.json");
    const kube = createKubeClient(loadKubeConfig({ kubeconfigPath: cluster.kubeconfigPath }));
    const reconciler = createReconciler({
      kube,
      store: createFileStateStore(stateFile),
      assessHealth: assessResourceHealth,
    });
    await reconciler.start();
    const { apps } = await loadDesiredDir(desiredDir);
    const syncStart = performance.now();
    await reconciler.setDesired(apps);
    const [status] = await reconciler.reconcileAll();
    const agentSyncMs = performance.now() - syncStart;
    await reconciler.stop();
    if (status?.operation?.phase !== "Succeeded") {
      throw new Error(`agent sync did not succeed: ${status?.operation?.message ?? status?.healthMessage}`);
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
    const result = JSON.parse(noop.stdout) as { apps: { resources: { result: string }[] }[] };
    const noopDryRuns = result.apps[0]?.resources.filter((r) => r.result === "unchanged").length ?? 0;
    return {
      objects: options.objects,
      agentSyncMs,
      rawSsaMs,
      noopWrites,
      noopDryRuns,
      noopRssBytes: noop.peakRssBytes,
      noopMs,
    };
  } finally {
    await work.remove();
    await cluster.stop();
  }
}
