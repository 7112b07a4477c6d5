// What `run` and `join` both build before they decide where desired state comes from: the kube
// client, the state store, the reconciler, the status feed for a hub, the metrics and the JSON log.
import { createHash } from "node:crypto";
import { join } from "node:path";
import { createJsonLogger, type Logger } from "@flotilla/proto/log";
import { defaultStateDir, inClusterNamespace } from "../config.js";
import { createFileStateStore, createSecretStateStore, type StateStore } from "../desired/state-store.js";
import { assessResourceHealth } from "../health/assess-health.js";
import { createHealthAssessor, loadHealthConfig } from "../health/custom-health.js";
import { createStatusFeed, type StatusFeed } from "../hub/create-reconciler-sink.js";
import { createHubStateStore, type HubStateStore } from "../hub/hub-state-store.js";
import { createKubeClient } from "../kube/create-kube-client.js";
import type { KubeClient } from "../kube/kube-client.js";
import { loadKubeConfig } from "../kube/load-kube-config.js";
import { type AgentMetrics, createAgentMetrics } from "../metrics/agent-metrics.js";
import { createReconciler, type Reconciler, type ReconcilerOptions } from "../reconcile/reconciler.js";
import type { AgentFlags, AgentIo } from "./read-agent-flags.js";

/** JSON lines on stderr, the hub's shape (@flotilla/proto/log). */
export type Log = Logger;

/** The seam between the commands and a real cluster; tests pass fakes. */
export type AgentPlatform = {
  /**
   * The API server the flags name (--kubeconfig/--context or --in-cluster), and the cluster name
   * of the kubeconfig's context (undefined in-cluster). Throws when the config cannot be loaded.
   */
  connectKube(flags: AgentFlags): { kube: KubeClient; clusterName?: string };
  createReconciler(options: ReconcilerOptions): Reconciler;
};

/** The platform of a real agent: @kubernetes/client-node config loading and the real reconciler. */
export const kubePlatform: AgentPlatform = {
  connectKube(flags) {
    const config = loadKubeConfig(
      flags.inCluster
        ? { inCluster: true }
        : { kubeconfigPath: flags.kubeconfig ?? "", context: flags.context },
    );
    return {
      kube: createKubeClient(config),
      clusterName: config.clusterName,
    };
  },
  createReconciler,
};

export type Agent = {
  kube: KubeClient;
  /** The kubeconfig context's cluster name; undefined in-cluster. */
  kubeClusterName?: string;
  /** The store the flags name: a file, or Secrets in a namespace. joinHub writes to it directly. */
  stateStore: StateStore;
  /** `stateStore` as the reconciler and the hub connection share it. */
  store: HubStateStore;
  /** The reconciler's statuses and removals, for the hub connection. */
  feed: StatusFeed;
  /** Not started: start() loads `store`, so it comes after a join wrote the identity. */
  reconciler: Reconciler;
  /** JSON lines on stderr, from --log-level up. */
  log: Log;
  /** Fed by the reconciler (and the hub connection, when joined); served by the status listener. */
  metrics: AgentMetrics;
};

/**
 * Builds the agent the flags describe, without starting anything. The reconciler saves through a
 * HubStateStore in every mode: without a hub it passes the state through unchanged.
 */
export async function createAgent(
  flags: AgentFlags,
  io: AgentIo,
  platform: AgentPlatform = kubePlatform,
): Promise<Agent> {
  const { kube, clusterName } = platform.connectKube(flags);
  const checks = flags.healthConfig ? await loadHealthConfig(flags.healthConfig) : [];
  const stateStore = openStateStore(flags, kube, io.env);
  const store = createHubStateStore(stateStore);
  const feed = createStatusFeed();
  const log: Log = createJsonLogger({ level: flags.logLevel, write: io.stderr });
  // Process metrics only when something serves them.
  const metrics = createAgentMetrics({ defaultMetrics: flags.statusListen !== undefined });
  const reconciler = platform.createReconciler({
    kube,
    store,
    assessHealth: checks.length > 0 ? createHealthAssessor(checks) : assessResourceHealth,
    resyncIntervalMs: flags.resyncIntervalMs,
    waveTimeoutMs: flags.waveTimeoutMs,
    log,
    onStatus(status) {
      feed.publish(status);
      if (!flags.once)
        log("info", "app status", { app: status.name, sync: status.sync, health: status.health });
    },
    onRemoved: (name) => feed.removed(name),
    onPass: (pass) => metrics.reconciled(pass),
  });
  metrics.observe({ reconciler });
  return { kube, kubeClusterName: clusterName, stateStore, store, feed, reconciler, log, metrics };
}

function openStateStore(
  flags: AgentFlags,
  kube: KubeClient,
  env: Readonly<Record<string, string | undefined>>,
): StateStore {
  if (flags.stateFile) return createFileStateStore(flags.stateFile);
  if (flags.stateNamespace) return createSecretStateStore(kube, flags.stateNamespace);
  if (flags.inCluster) return createSecretStateStore(kube, inClusterNamespace(env));
  // One state file per API server, so one machine can run agents for several clusters.
  const id = createHash("sha256").update(kube.server).digest("hex").slice(0, 12);
  return createFileStateStore(join(defaultStateDir(env), `state-${id}.json`));
}
