/**
 * The demo fleet in one call: three real local clusters (prod-1, prod-2 labelled env=prod,
 * staging-1 labelled env=staging) with workloads, a sample fleet repository over real Git HTTP,
 * a hub on the embedded default (in this process: PGlite in the data directory, in-process bus,
 * self-made TLS) with that repository as its source, and one `flotilla-agent join` process per
 * cluster, joined with a bootstrap token made through FleetService, as
 * `flotilla cluster token create --label env=prod` does.
 */
import type { ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import {
  collectPages,
  connectFleet,
  type FleetConnection,
  resolveHubTarget,
} from "@flotilla/hub/cli/hub-context";
import { type StatusDocument, toStatusDocument } from "@flotilla/hub/cli/status-command";
import { loadHubConfig } from "@flotilla/hub/server/hub-config";
import { createLogger } from "@flotilla/hub/server/log";
import { type Hub, startHub } from "@flotilla/hub/server/start-hub";
import { HEALTH_NAMES, SYNC_NAMES } from "@flotilla/proto/status-names";
import { type Cluster, startCluster } from "../harness/cluster.js";
import { type GitServer, startGitServer } from "../harness/git-server.js";
import { freePort, joinArgs, type ManagedProcess, startAgentProcess } from "../harness/hub.js";
import { ensureTestenvBinary, formatDuration } from "../harness/testenv-binary.js";
import { ensureTool } from "../harness/tools.js";
import {
  assessConvergence,
  type Convergence,
  type ReportedApp,
  summarizeConvergence,
} from "./assess-convergence.js";
import { composeSampleFleet, composeWebV2, SAMPLE_FLEET_PATH, WEB_V2_MESSAGE } from "./sample-fleet.js";

export type { StatusDocument };

/** The demo's clusters and their labels, in the order they are joined. */
export const DEMO_CLUSTERS: readonly { name: string; labels: Record<string, string> }[] = [
  { name: "prod-1", labels: { env: "prod" } },
  { name: "prod-2", labels: { env: "prod" } },
  { name: "staging-1", labels: { env: "staging" } },
];

/** The hub's source holding the sample fleet, and the ApplicationSet the change rolls. */
export const DEMO_SOURCE = "fleet";
export const WEB_APP_SET = "web";

const DEFAULT_PORT = 8443;
const POLL_INTERVAL = "5s";
const HEARTBEAT_INTERVAL = "5s";
const JOIN_TOKEN_TTL_MS = 10 * 60_000;
const REFRESH_TIMEOUT_MS = 10 * 60_000;
const WAIT_POLL_MS = 1_000;
const PROGRESS_EVERY_MS = 5_000;
const DEFAULT_ROLL_TIMEOUT_MS = 5 * 60_000;

export type DemoOptions = {
  /**
   * Where the hub keeps its data (and the agents their state and logs); kept after stop(). It
   * must be empty or absent: the demo starts from nothing. Default: a temporary directory,
   * removed by stop().
   */
  dataDir?: string;
  /** Port of the hub on 127.0.0.1; 0 picks a free one. Default 8443 when free, else a free port. */
  port?: number;
  /** Human-readable progress lines (builds, start-up, convergence). */
  onProgress?: (line: string) => void;
  /** Aborting stops whatever was started and rejects with an Error whose name is "AbortError". */
  signal?: AbortSignal;
};

export type DemoCluster = {
  name: string;
  labels: Record<string, string>;
  kubeconfigPath: string;
  server: string;
  /** Pids of the cluster's processes (etcd, kube-apiserver, controller-manager, scheduler, kwok). */
  pids: number[];
  /** Pid of its `flotilla-agent join` process. */
  agentPid: number;
};

export type WaitOptions = {
  timeoutMs: number;
  /** Receives a line like `converging: 7/9 apps Synced+Healthy (...)` every few seconds. */
  onProgress?: (line: string) => void;
  signal?: AbortSignal;
};

export type Demo = {
  /** `https://127.0.0.1:PORT` */
  hubUrl: string;
  /** The hub's admin API token: a secret, for the dashboard link and the CLI. */
  adminToken: string;
  caCertPath: string;
  /** The web UI, logged in: `https://127.0.0.1:PORT/#token=<admin token>`. */
  dashboardUrl: string;
  clusters: DemoCluster[];
  /** The sample fleet repository over Git smart HTTP. */
  repoUrl: string;
  dataDir: string;
  /** FLOTILLA_HUB, FLOTILLA_TOKEN and FLOTILLA_CA for running the CLI against the demo. */
  cliEnv: Record<string, string>;
  /**
   * Resolves with `flotilla status -o json`'s document once every cluster is Connected and every
   * app the hub resolved is delivered, Synced and Healthy where it is targeted. Rejects after
   * `timeoutMs` naming what is not there yet, or at once when an agent process exited.
   */
  waitConverged(options: WaitOptions): Promise<StatusDocument>;
  /**
   * Commits web v2 (image nginx:1.28, ConfigMap version v2) to the sample repository, asks the hub
   * to refresh, and resolves once the prod clusters report the new commit for web, Synced and
   * Healthy, with everything else still converged. Default timeout five minutes.
   */
  rollNewVersion(options?: Partial<WaitOptions>): Promise<{
    revision: string;
    previousRevision: string;
    status: StatusDocument;
  }>;
  /** Stops the agents, the hub, the git server and the clusters; removes a temporary data dir. Idempotent. */
  stop(): Promise<void>;
};

/**
 * Starts the demo; see the file comment. Builds missing test binaries first (a cold build takes
 * 15-25 minutes on two cores; later runs reuse `.cache/`). Everything started is stopped again
 * when a step fails or `signal` aborts.
 */
export async function startDemo(options: DemoOptions = {}): Promise<Demo> {
  const progress = options.onProgress ?? (() => {});
  const { signal } = options;
  const cleanups: (() => Promise<void>)[] = [];
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    })();
    return stopping;
  };
  const step = <T>(work: Promise<T>) => untilAborted(work, signal);

  try {
    throwIfAborted(signal);
    const keepDataDir = options.dataDir !== undefined;
    const dataDir = keepDataDir
      ? await prepareDataDir(resolve(options.dataDir as string))
      : await mkdtemp(join(tmpdir(), "flotilla-demo-"));
    if (!keepDataDir) cleanups.push(() => rm(dataDir, { recursive: true, force: true, maxRetries: 3 }));
    progress(`data directory ${dataDir}${keepDataDir ? " (kept)" : " (removed at exit)"}`);

    progress(
      "test binaries: kube-apiserver, etcd, controller-manager, scheduler and kwok in one binary, kustomize, helm " +
        "(built from Go modules when missing: a cold build takes 15-25 minutes on two cores; later runs reuse .cache/)",
    );
    const builtAt = Date.now();
    const binaryPath = await step(ensureTestenvBinary({ onProgress: progress }));
    const kustomizePath = await step(ensureTool("kustomize", { onProgress: progress }));
    const helmPath = await step(ensureTool("helm", { onProgress: progress }));
    progress(`test binaries ready in ${formatDuration(Date.now() - builtAt)}`);

    const startingGit = startGitServer();
    cleanups.push(async () => (await startingGit.catch(() => undefined))?.stop());
    const git = await step(startingGit);
    const repoUrl = git.repoUrl(DEMO_SOURCE);
    const initialRevision = await step(
      git.createRepo(DEMO_SOURCE, composeSampleFleet(repoUrl), {
        message: "demo fleet: web (prod only), guestbook (Kustomize), hello (Helm)",
      }),
    );
    progress(`sample fleet repository ${repoUrl} at ${initialRevision.slice(0, 7)}`);

    // The clusters and the hub start side by side: neither needs the other until agents join.
    progress(
      `starting clusters ${DEMO_CLUSTERS.map((c) => c.name).join(", ")} (etcd, kube-apiserver, controller-manager, scheduler, kwok each) and the hub`,
    );
    const startedAt = Date.now();
    const startingClusters = startClustersNamed(binaryPath, progress);
    cleanups.push(async () => {
      const clusters = await startingClusters.catch(() => [] as Cluster[]);
      await Promise.all(clusters.map((cluster) => cluster.stop()));
    });

    const port = options.port ?? (await pickPort(DEFAULT_PORT));
    const logPath = join(dataDir, "hub.log");
    const logStream = createWriteStream(logPath, { flags: "a" });
    cleanups.push(() => closeStream(logStream));
    const config = loadHubConfig(
      { dataDir: join(dataDir, "hub"), listenHttp: `127.0.0.1:${port}` },
      {
        FLOTILLA_POLL_INTERVAL: POLL_INTERVAL,
        FLOTILLA_HEARTBEAT_INTERVAL: HEARTBEAT_INTERVAL,
        FLOTILLA_KUSTOMIZE: kustomizePath,
        FLOTILLA_HELM: helmPath,
        FLOTILLA_CACHE_DIR: join(dataDir, "render-cache"),
        FLOTILLA_REPLICA: "demo",
      },
    );
    const startingHub = startHub(
      {
        ...config,
        sources: [
          {
            name: DEMO_SOURCE,
            repoUrl,
            path: SAMPLE_FLEET_PATH,
            targetRevision: "HEAD",
            pollIntervalMs: config.pollIntervalMs,
          },
        ],
      },
      {
        log: createLogger({ level: "info", write: (line) => logStream.write(line) }),
        progress: (line) => progress(`hub: ${line}`),
      },
    );
    cleanups.push(async () => (await startingHub.catch(() => undefined))?.close());
    const hub = await step(startingHub);
    const adminToken = hub.createdAdminToken ?? (await readFile(hub.adminTokenPath, "utf8")).trim();
    progress(`hub serving at ${hub.url} (log: ${logPath})`);
    const clusters = await step(startingClusters);
    progress(`clusters ready in ${formatDuration(Date.now() - startedAt)}`);

    const fleet = await connectFleet(
      await resolveHubTarget({ hub: hub.url, token: adminToken, ca: hub.caCertPath }, {}),
    );
    cleanups.push(async () => fleet.close());

    const agentsDir = join(dataDir, "agents");
    await mkdir(agentsDir, { recursive: true });
    const agents = new Map<string, ManagedProcess>();
    cleanups.push(async () => {
      await Promise.all([...agents.values()].map((agent) => agent.stop()));
    });
    const demoClusters: DemoCluster[] = [];
    for (const [i, { name, labels }] of DEMO_CLUSTERS.entries()) {
      const cluster = clusters[i] as Cluster;
      const agent = await step(joinAgent(fleet, { name, labels, cluster, agentsDir }));
      agents.set(name, agent);
      demoClusters.push({
        name,
        labels,
        kubeconfigPath: cluster.kubeconfigPath,
        server: cluster.server,
        pids: Object.values(cluster.pids).filter((pid): pid is number => typeof pid === "number"),
        agentPid: agent.child.pid ?? -1,
      });
      progress(
        `${name}: agent joining with labels ${formatLabels(labels)} (pid ${agent.child.pid}, log ${join(agentsDir, `${name}.log`)})`,
      );
    }

    const watch = createFleetWatch({ hub, fleet, agents, clusters: DEMO_CLUSTERS.map((c) => c.name) });
    const cliEnv = { FLOTILLA_HUB: hub.url, FLOTILLA_TOKEN: adminToken, FLOTILLA_CA: hub.caCertPath };
    return {
      hubUrl: hub.url,
      adminToken,
      caCertPath: hub.caCertPath,
      dashboardUrl: `${hub.url}/#token=${adminToken}`,
      clusters: demoClusters,
      repoUrl,
      dataDir,
      cliEnv,
      waitConverged: (wait) => watch.waitConverged({ ...wait, signal: wait.signal ?? signal }),
      rollNewVersion: async (wait = {}) => {
        const onProgress = wait.onProgress ?? progress;
        const previousRevision = await git.resolveRef(DEMO_SOURCE);
        const revision = await rollWebV2(git);
        onProgress(
          `committed ${revision.slice(0, 7)} "${WEB_V2_MESSAGE}" on top of ${previousRevision.slice(0, 7)}; refreshing the hub`,
        );
        const refreshed = await fleet.client.refresh(
          { source: DEMO_SOURCE },
          { ...fleet.callOptions, deadlineMs: REFRESH_TIMEOUT_MS },
        );
        const failed = refreshed.sources.find((source) => source.error);
        if (failed) throw new Error(`refresh of source ${failed.name}: ${failed.error}`);
        onProgress(`hub resolved ${revision.slice(0, 7)}: ${refreshed.changedTargets} target(s) changed`);
        const status = await watch.waitConverged({
          timeoutMs: wait.timeoutMs ?? DEFAULT_ROLL_TIMEOUT_MS,
          onProgress,
          signal: wait.signal ?? signal,
          revision: { matches: (app) => app.parent === WEB_APP_SET, revision },
        });
        return { revision, previousRevision, status };
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Commits the web v2 change and returns its sha. */
function rollWebV2(git: GitServer): Promise<string> {
  return git.commit(DEMO_SOURCE, composeWebV2(), { message: WEB_V2_MESSAGE });
}

/** An absent or empty directory, created; a directory with files is refused. */
async function prepareDataDir(dir: string): Promise<string> {
  const entries = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return [];
    throw new Error(`data directory ${dir}: cannot read it`, { cause: error });
  });
  if (entries.length > 0)
    throw new Error(
      `data directory ${dir} is not empty: the demo starts from nothing (new clusters, a new hub); remove it or pick another`,
    );
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** `preferred` when nothing listens on 127.0.0.1:preferred, else a free port. */
async function pickPort(preferred: number): Promise<number> {
  const free = await new Promise<boolean>((resolvePort) => {
    const server = createServer();
    server.once("error", () => resolvePort(false));
    server.listen(preferred, "127.0.0.1", () => server.close(() => resolvePort(true)));
  });
  return free ? preferred : freePort();
}

/** The demo's clusters, started in parallel; either all start or none is left running. */
async function startClustersNamed(binaryPath: string, progress: (line: string) => void): Promise<Cluster[]> {
  const results = await Promise.allSettled(
    DEMO_CLUSTERS.map(({ name }) =>
      startCluster({ name, binaryPath, workloads: true, onProgress: progress }).then((cluster) => {
        progress(
          `${name}: ready at ${cluster.server} (pids ${Object.values(cluster.pids).join(" ")}, kubeconfig ${cluster.kubeconfigPath})`,
        );
        return cluster;
      }),
    ),
  );
  const clusters = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failure = results.find((r) => r.status === "rejected");
  if (failure) {
    await Promise.all(clusters.map((cluster) => cluster.stop()));
    throw failure.reason;
  }
  return clusters;
}

/**
 * Creates a single-use bootstrap token with the cluster's labels through FleetService and runs
 * the join command the hub printed, with the cluster's kubeconfig, as a process of its own.
 */
async function joinAgent(
  fleet: FleetConnection,
  args: { name: string; labels: Record<string, string>; cluster: Cluster; agentsDir: string },
): Promise<ManagedProcess> {
  const { name, labels, cluster, agentsDir } = args;
  const created = await fleet.client.createBootstrapToken(
    {
      ttl: durationFromMs(JOIN_TOKEN_TTL_MS),
      maxUses: 1,
      labels,
      description: `flotilla demo: ${name}`,
    },
    fleet.callOptions,
  );
  const agent = startAgentProcess([
    ...joinArgs(created.joinCommand),
    "--kubeconfig",
    cluster.kubeconfigPath,
    "--name",
    name,
    "--state-file",
    join(agentsDir, `${name}.json`),
  ]);
  liveAgents.add(agent.child);
  agent.child.once("exit", () => liveAgents.delete(agent.child));
  killAgentsAtExit();
  // Two streams write the one log file: it ends with the process, not with either stream.
  const log = createWriteStream(join(agentsDir, `${name}.log`), { flags: "a" });
  agent.child.stdout?.pipe(log, { end: false });
  agent.child.stderr?.pipe(log, { end: false });
  agent.child.once("close", () => log.end());
  return agent;
}

/** Agent processes still running, for the exit handler. */
const liveAgents = new Set<ChildProcess>();
let exitHandlerInstalled = false;

/**
 * When this process exits without stop() (a second Ctrl-C), its agents must not go on dialling a
 * hub that is gone; the cluster processes end themselves (see harness/cluster.ts).
 */
function killAgentsAtExit(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on("exit", () => {
    for (const child of liveAgents) child.kill("SIGKILL");
  });
}

type FleetWatch = {
  waitConverged(
    options: WaitOptions & {
      revision?: { matches: (app: { name: string; parent: string }) => boolean; revision: string };
    },
  ): Promise<StatusDocument>;
};

/** Polls the hub (FleetService for the status, the hub's resolved apps for what is expected). */
function createFleetWatch(args: {
  hub: Hub;
  fleet: FleetConnection;
  agents: ReadonlyMap<string, ManagedProcess>;
  clusters: readonly string[];
}): FleetWatch {
  const { hub, fleet, agents, clusters } = args;

  async function readFleet(
    revision: Parameters<FleetWatch["waitConverged"]>[0]["revision"],
  ): Promise<{ status: StatusDocument; convergence: Convergence }> {
    const { client, callOptions } = fleet;
    const listed = await collectPages("ListClusters", async (pageToken) => {
      const page = await client.listClusters({ pageSize: 500, pageToken }, callOptions);
      return { items: page.clusters, nextPageToken: page.nextPageToken };
    });
    const rows = await collectPages("GetFleetStatus", async (pageToken) => {
      const page = await client.getFleetStatus({ pageSize: 500, pageToken }, callOptions);
      return { items: page.rows, nextPageToken: page.nextPageToken };
    });
    const status = toStatusDocument(listed, rows, false);
    const reported: ReportedApp[] = rows.map((row) => ({
      cluster: row.cluster,
      app: row.app,
      sync: SYNC_NAMES[row.syncStatus] ?? "Unknown",
      health: HEALTH_NAMES[row.healthStatus] ?? "Unknown",
      message: row.message,
      revision: row.revision,
      delivered: row.delivered,
    }));
    const convergence = assessConvergence({
      clusters,
      states: new Map(status.clusters.map((cluster) => [cluster.name, cluster.state])),
      sources: await hub.runtime.sources(),
      apps: await hub.runtime.apps(),
      rows: reported,
      ...(revision ? { revision } : {}),
    });
    return { status, convergence };
  }

  function checkAgents(): void {
    for (const [name, agent] of agents) {
      const code = agent.child.exitCode ?? agent.child.signalCode;
      if (code !== null)
        throw new Error(`the agent of ${name} exited (${code}):\n${agent.output().slice(-3000)}`);
    }
  }

  return {
    async waitConverged({ timeoutMs, onProgress = () => {}, signal, revision }) {
      const startedAt = Date.now();
      const deadline = startedAt + timeoutMs;
      let lastReportAt = 0;
      let last: Convergence | undefined;
      let lastError: unknown;
      for (;;) {
        throwIfAborted(signal);
        checkAgents();
        try {
          const { status, convergence } = await readFleet(revision);
          last = convergence;
          lastError = undefined;
          if (convergence.converged) {
            onProgress(
              `converged: ${convergence.total} apps Synced+Healthy in ${formatDuration(Date.now() - startedAt)}`,
            );
            return status;
          }
        } catch (error) {
          lastError = error;
        }
        const now = Date.now();
        if (now >= deadline) {
          const reason = last ? last.waiting.map((line) => `\n  ${line}`).join("") : "";
          const failure = lastError ? `\n  last error: ${(lastError as Error).message}` : "";
          throw new Error(
            `the fleet did not converge within ${formatDuration(timeoutMs)} (${last?.ready ?? 0}/${last?.total ?? 0} apps Synced+Healthy); not there yet:${reason}${failure}`,
          );
        }
        if (now - lastReportAt >= PROGRESS_EVERY_MS) {
          lastReportAt = now;
          if (last && !lastError) onProgress(`converging: ${summarizeConvergence(last)}`);
          else if (lastError)
            onProgress(`converging: asking the hub failed: ${(lastError as Error).message}`);
        }
        await untilAborted(sleep(WAIT_POLL_MS), signal);
      }
    },
  };
}

function formatLabels(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(",");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolveSleep) => setTimeout(resolveSleep, ms));
}

function closeStream(stream: WriteStream): Promise<void> {
  return new Promise((resolveClose) => stream.end(() => resolveClose()));
}

function abortError(): Error {
  const error = new Error("the demo was interrupted");
  error.name = "AbortError";
  return error;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError();
}

/** `work`, or an AbortError as soon as `signal` aborts (the work itself keeps running). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise<T>((resolveWork, reject) => {
    const onAbort = () => reject(abortError());
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolveWork(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
