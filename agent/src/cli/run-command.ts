import { createHash } from "node:crypto";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { defaultStateDir, inClusterNamespace } from "../config.js";
import type { DesiredApp } from "../desired/desired-app.js";
import { loadDesiredDir } from "../desired/load-desired-dir.js";
import { createFileStateStore, createSecretStateStore, type StateStore } from "../desired/state-store.js";
import { assessResourceHealth } from "../health/assess-health.js";
import { createHealthAssessor, loadHealthConfig } from "../health/custom-health.js";
import { createKubeClient, loadKubeConfig } from "../kube/create-kube-client.js";
import type { KubeClient } from "../kube/kube-client.js";
import { type AppStatus, formatAppStatusJson } from "../reconcile/app-status.js";
import { createReconciler, type Reconciler } from "../reconcile/reconciler.js";
import { parseDuration } from "./parse-duration.js";

export type AgentIo = {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  /** Aborted on SIGINT/SIGTERM; a long-running agent stops cleanly. */
  signal?: AbortSignal;
};

/** A mistake in the command line: exit code 2 with the usage. */
export class UsageError extends Error {}

export const runUsage =
  "flotilla-agent run (--kubeconfig <file> [--context <name>] | --in-cluster) [--desired-dir <dir>] [--once] [-o text|json]\n" +
  "    [--timeout 2m] [--state-file <file> | --state-namespace <ns>] [--health-config <file>]\n" +
  "    [--resync-interval 3m] [--wave-timeout 5m] [--dir-poll-interval 10s]";

type RunFlags = {
  kubeconfig?: string;
  context?: string;
  inCluster: boolean;
  desiredDir?: string;
  once: boolean;
  output: "text" | "json";
  timeoutMs: number;
  stateFile?: string;
  stateNamespace?: string;
  healthConfig?: string;
  resyncIntervalMs: number;
  waveTimeoutMs: number;
  dirPollIntervalMs: number;
};

function parseRunFlags(argv: string[]): RunFlags {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      kubeconfig: { type: "string" },
      context: { type: "string" },
      "in-cluster": { type: "boolean", default: false },
      "desired-dir": { type: "string" },
      once: { type: "boolean", default: false },
      output: { type: "string", short: "o", default: "text" },
      timeout: { type: "string", default: "2m" },
      "state-file": { type: "string" },
      "state-namespace": { type: "string" },
      "health-config": { type: "string" },
      "resync-interval": { type: "string", default: "3m" },
      "wave-timeout": { type: "string", default: "5m" },
      "dir-poll-interval": { type: "string", default: "10s" },
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  if (Boolean(values.kubeconfig) === values["in-cluster"]) {
    throw new UsageError("give exactly one of --kubeconfig <file> or --in-cluster");
  }
  if (values.output !== "text" && values.output !== "json") {
    throw new UsageError(`-o must be text or json, not '${values.output}'`);
  }
  if (values["state-file"] && values["state-namespace"]) {
    throw new UsageError("give at most one of --state-file or --state-namespace");
  }
  const duration = (flag: string, text: string) => {
    try {
      return parseDuration(text, flag);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  };
  return {
    kubeconfig: values.kubeconfig,
    context: values.context,
    inCluster: values["in-cluster"],
    desiredDir: values["desired-dir"],
    once: values.once,
    output: values.output,
    timeoutMs: duration("--timeout", values.timeout),
    stateFile: values["state-file"],
    stateNamespace: values["state-namespace"],
    healthConfig: values["health-config"],
    resyncIntervalMs: duration("--resync-interval", values["resync-interval"]),
    waveTimeoutMs: duration("--wave-timeout", values["wave-timeout"]),
    dirPollIntervalMs: duration("--dir-poll-interval", values["dir-poll-interval"]),
  };
}

function createStateStore(flags: RunFlags, kube: KubeClient, io: AgentIo): StateStore {
  if (flags.stateFile) return createFileStateStore(flags.stateFile);
  if (flags.stateNamespace) return createSecretStateStore(kube, flags.stateNamespace);
  if (flags.inCluster) return createSecretStateStore(kube, inClusterNamespace(io.env));
  // One state file per API server, so one machine can run agents for several clusters.
  const id = createHash("sha256").update(kube.server).digest("hex").slice(0, 12);
  return createFileStateStore(join(defaultStateDir(io.env), `state-${id}.json`));
}

/**
 * `flotilla-agent run`: reconciles the apps of --desired-dir (and whatever state it persisted
 * before) into one cluster. With --once: one pass, a bounded wait for health to settle, the
 * result printed, exit 0 when every app is Synced and Healthy, else 1.
 */
export async function runAgentCommand(argv: string[], io: AgentIo): Promise<number> {
  const flags = parseRunFlags(argv);
  const config = loadKubeConfig(
    flags.inCluster
      ? { inCluster: true }
      : { kubeconfigPath: flags.kubeconfig ?? "", context: flags.context },
  );
  const kube = createKubeClient(config);
  const checks = flags.healthConfig ? await loadHealthConfig(flags.healthConfig) : [];
  const assessHealth = checks.length > 0 ? createHealthAssessor(checks) : assessResourceHealth;
  const store = createStateStore(flags, kube, io);
  const log = (level: string, message: string, fields: Record<string, unknown> = {}) => {
    io.stderr(`${JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...fields })}\n`);
  };
  const reconciler = createReconciler({
    kube,
    store,
    assessHealth,
    resyncIntervalMs: flags.resyncIntervalMs,
    waveTimeoutMs: flags.waveTimeoutMs,
    log,
    onStatus: flags.once
      ? undefined
      : (status) => log("info", "app status", { app: status.name, sync: status.sync, health: status.health }),
  });
  await reconciler.start();
  try {
    if (flags.desiredDir) await loadDirectory(reconciler, flags.desiredDir, log);
    if (flags.once) {
      await reconciler.reconcileAll();
      const statuses = await reconciler.settle(flags.timeoutMs);
      io.stdout(flags.output === "json" ? formatJson(statuses) : formatText(statuses));
      const ok = statuses.every((s) => s.sync === "Synced" && s.health === "Healthy");
      return ok ? 0 : 1;
    }
    log("info", "agent running", {
      server: kube.server,
      state: store.location,
      apps: reconciler.apps().length,
    });
    await runUntilAborted(reconciler, flags, io, log);
    return 0;
  } finally {
    await reconciler.stop();
  }
}

type Log = (level: string, message: string, fields?: Record<string, unknown>) => void;

/**
 * Loads the directory and hands it to the reconciler. An app whose files are broken keeps its
 * last good desired state (so nothing of it is pruned); the problem is logged.
 */
async function loadDirectory(reconciler: Reconciler, dir: string, log: Log): Promise<void> {
  const { apps, problems } = await loadDesiredDir(dir);
  const broken = new Set(problems.map((p) => p.app));
  for (const problem of problems)
    log("error", "app not loaded", { app: problem.app, error: problem.message });
  const kept: DesiredApp[] = reconciler.apps().filter((app) => broken.has(app.name));
  await reconciler.setDesired([...apps, ...kept]);
}

async function runUntilAborted(
  reconciler: Reconciler,
  flags: RunFlags,
  io: AgentIo,
  log: Log,
): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = flags.desiredDir
      ? setInterval(() => {
          loadDirectory(reconciler, flags.desiredDir ?? "", log).catch((error: unknown) =>
            log("error", "desired directory unreadable", { error: (error as Error).message }),
          );
        }, flags.dirPollIntervalMs)
      : undefined;
    const finish = () => {
      if (timer) clearInterval(timer);
      resolve();
    };
    if (io.signal?.aborted) finish();
    io.signal?.addEventListener("abort", finish, { once: true });
  });
}

function formatJson(statuses: AppStatus[]): string {
  return `${JSON.stringify({ apps: statuses.map(formatAppStatusJson) }, null, 2)}\n`;
}

function formatText(statuses: AppStatus[]): string {
  const lines: string[] = [];
  for (const status of statuses) {
    lines.push(
      `app ${status.name}: ${status.sync}, ${status.health}${status.healthMessage ? ` (${status.healthMessage})` : ""}`,
    );
    if (status.operation) lines.push(`  sync ${status.operation.phase}: ${status.operation.message}`);
    for (const condition of status.conditions) lines.push(`  ${condition.type}: ${condition.message}`);
    for (const r of status.resources) {
      const name = r.namespace ? `${r.kind}/${r.namespace}/${r.name}` : `${r.kind}/${r.name}`;
      const detail = r.message ? `  ${r.message}` : "";
      lines.push(
        `  ${r.result.padEnd(10)} ${r.sync.padEnd(9)} ${(r.health ?? "-").padEnd(11)} ${name}${detail}`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}
