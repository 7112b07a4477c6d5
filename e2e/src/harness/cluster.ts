import { type ChildProcess, spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { appendFileSync, closeSync, openSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { type AddressInfo, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before } from "node:test";
import { isProcessAlive } from "./processes.js";
import { ensureTestenvBinary } from "./testenv-binary.js";

/** A running single-node control plane (etcd + kube-apiserver) on loopback. */
export interface Cluster {
  name: string;
  /** `https://127.0.0.1:PORT` */
  server: string;
  kubeconfigPath: string;
  /** The kubeconfig as YAML; it embeds the CA and the admin token. */
  kubeconfig: string;
  /** Bearer token of `flotilla-admin`, a member of `system:masters`. */
  token: string;
  /** PEM bundle that verifies the API server's self-signed serving certificate. */
  caCertPath: string;
  /** Private working directory: certificates, etcd data, logs, kubeconfig; removed by stop(). */
  dir: string;
  /** Pids of the processes this cluster runs; the last three only with `workloads`. */
  pids: { etcd: number; apiserver: number; controllerManager?: number; scheduler?: number; kwok?: number };
  /**
   * Stops kube-apiserver (SIGTERM, as in a control-plane upgrade), waits `downMs` while clients
   * see connection refused, then starts it again on the same port with the same certificates and
   * etcd data, and resolves once it is ready. `pids.apiserver` is updated.
   */
  restartApiserver(downMs?: number): Promise<void>;
  /**
   * Stops the processes this cluster started (SIGTERM, then SIGKILL after a grace period), waits
   * for them to exit and removes `dir`. Safe to call more than once.
   */
  stop(): Promise<void>;
}

export interface StartClusterOptions {
  /** Names the kubeconfig context and the temporary directory; default `cluster-N`. */
  name?: string;
  /** Use this flotilla-testenv binary instead of ensuring (and maybe building) one. */
  binaryPath?: string;
  /** Deadline for the cluster to become ready, not counting a build of the binary; default 90 s. */
  readyTimeoutMs?: number;
  /**
   * Also run kube-controller-manager, kube-scheduler and kwok with one fake Node, so workloads
   * really progress: a Deployment gets a ReplicaSet, Pods are scheduled, "run" (kwok marks them
   * Running and Ready at once) and the Deployment becomes Available; deleted namespaces finish
   * terminating and owners' dependents are garbage-collected. Default false: only etcd and
   * kube-apiserver, where objects are stored but nothing acts on them.
   */
  workloads?: boolean;
  /** Receives progress lines (build, start-up). */
  onProgress?: (line: string) => void;
}

/** Name of the fake Node that kwok manages in a cluster started with `workloads`. */
export const workloadNodeName = "kwok-node-1";

const defaultReadyTimeoutMs = 90_000;
const stopGraceMs = 10_000;
const pollIntervalMs = 250;
const requestTimeoutMs = 2_000;
const maxPortAttempts = 4;
const logTailLines = 25;
const adminUser = "flotilla-admin";
/** Controllers that make workloads progress; the rest of kube-controller-manager stays off. */
const workloadControllers = [
  "deployment-controller",
  "replicaset-controller",
  "statefulset-controller",
  "daemonset-controller",
  "job-controller",
  "cronjob-controller",
  "garbage-collector-controller",
  "namespace-controller",
  "serviceaccount-controller",
  "endpointslice-controller",
];

const dirPrefix = "flotilla-testenv-";
/** Holds the pid of the Node process that owns a cluster directory. */
const ownerFile = "owner.pid";

let clusterCount = 0;
let sweptAbandonedDirs = false;

/**
 * Starts etcd and kube-apiserver as processes of their own on free loopback ports, in a fresh
 * temporary directory, and resolves once `/readyz` answers 200 and namespace `default` exists
 * (with `workloads`, also once the fake Node is Ready and the `default` ServiceAccount exists).
 * Builds the flotilla-testenv binary first when needed (minutes, once). On failure every process
 * is stopped, the directory removed, and the error carries the tail of each component's log.
 */
export async function startCluster(opts: StartClusterOptions = {}): Promise<Cluster> {
  clusterCount += 1;
  const name = opts.name ?? `cluster-${clusterCount}`;
  const binaryPath = opts.binaryPath ?? (await ensureTestenvBinary({ onProgress: opts.onProgress }));
  const readyTimeoutMs = opts.readyTimeoutMs ?? defaultReadyTimeoutMs;
  const deadline = Date.now() + readyTimeoutMs;
  const startedAt = Date.now();
  await removeAbandonedDirs();
  const dir = await mkdtemp(join(tmpdir(), `${dirPrefix}${name.replace(/[^\w.-]/g, "_")}-`));
  await writeFile(join(dir, ownerFile), String(process.pid));
  const paths = {
    certDir: join(dir, "certs"),
    etcdDataDir: join(dir, "etcd"),
    serviceAccountKey: join(dir, "service-account.key"),
    tokenFile: join(dir, "tokens.csv"),
    kubeconfig: join(dir, "kubeconfig"),
  };
  const logPathOf = (component: string) => join(dir, `${component}.log`);
  const started: ManagedProcess[] = [];
  try {
    await mkdir(paths.certDir, { mode: 0o700 });
    const token = randomBytes(24).toString("hex");
    const { privateKey } = generateKeyPairSync("ec", {
      namedCurve: "prime256v1",
      privateKeyEncoding: { type: "sec1", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    });
    await writeFile(paths.serviceAccountKey, privateKey, { mode: 0o600 });
    await writeFile(paths.tokenFile, `${token},${adminUser},${adminUser},"system:masters"\n`, {
      mode: 0o600,
    });

    const etcd = await startWithFreePorts(2, async ([clientPort, peerPort]) => {
      const proc = spawnComponent(binaryPath, "etcd", logPathOf("etcd"), [
        `--data-dir=${paths.etcdDataDir}`,
        `--client-port=${clientPort}`,
        `--peer-port=${peerPort}`,
      ]);
      started.push(proc);
      const url = `http://127.0.0.1:${clientPort}`;
      const ready = await waitUntil(deadline, readyTimeoutMs, [proc], () => isEtcdHealthy(url));
      return ready ? { proc, url } : undefined;
    });
    opts.onProgress?.(`${name}: etcd ready in ${formatSeconds(Date.now() - startedAt)}`);

    // ServiceAccount admission would reject pods until kube-controller-manager (absent by
    // default) has created their namespace's ServiceAccount. With workloads, no node lifecycle
    // controller runs to lift the not-ready taint that TaintNodesByCondition puts on kwok's Node.
    const disabledAdmission = opts.workloads ? "ServiceAccount,TaintNodesByCondition" : "ServiceAccount";
    const apiserverArgs = (securePort: number) => [
      `--etcd-servers=${etcd.url}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${securePort}`,
      `--cert-dir=${paths.certDir}`,
      "--service-cluster-ip-range=10.0.0.0/24",
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${paths.serviceAccountKey}`,
      `--service-account-signing-key-file=${paths.serviceAccountKey}`,
      `--token-auth-file=${paths.tokenFile}`,
      "--authorization-mode=RBAC",
      "--allow-privileged=true",
      `--disable-admission-plugins=${disabledAdmission}`,
      // No kubelets: nothing should rewrite the kubernetes Service endpoints.
      "--endpoint-reconciler-type=none",
      "--profiling=false",
    ];
    const apiserver = await startWithFreePorts(1, async ([port]) => {
      const securePort = port ?? 0;
      const proc = spawnComponent(
        binaryPath,
        "kube-apiserver",
        logPathOf("kube-apiserver"),
        apiserverArgs(securePort),
      );
      started.push(proc);
      const server = `https://127.0.0.1:${securePort}`;
      const caCertPath = join(paths.certDir, "apiserver.crt");
      const ready = await waitUntil(deadline, readyTimeoutMs, [proc], () =>
        isApiserverReady(server, caCertPath, token),
      );
      return ready ? { proc, server, caCertPath } : undefined;
    });
    opts.onProgress?.(
      `${name}: kube-apiserver ready at ${apiserver.server} in ${formatSeconds(Date.now() - startedAt)}`,
    );

    const ca = await readFile(apiserver.caCertPath);
    const kubeconfig = composeKubeconfig(name, apiserver.server, ca, token);
    await writeFile(paths.kubeconfig, kubeconfig, { mode: 0o600 });

    const workloads = opts.workloads
      ? await startWorkloadComponents({
          binaryPath,
          kubeconfigPath: paths.kubeconfig,
          logPathOf,
          started,
          api: { server: apiserver.server, ca, token },
          deadline,
          readyTimeoutMs,
        })
      : undefined;
    if (workloads) {
      opts.onProgress?.(`${name}: workloads ready in ${formatSeconds(Date.now() - startedAt)}`);
    }

    let stopping: Promise<void> | undefined;
    const pids: Cluster["pids"] = {
      etcd: pidOf(etcd.proc),
      apiserver: pidOf(apiserver.proc),
      ...(workloads && {
        controllerManager: pidOf(workloads.controllerManager),
        scheduler: pidOf(workloads.scheduler),
        kwok: pidOf(workloads.kwok),
      }),
    };
    let apiserverProc = apiserver.proc;
    return {
      name,
      server: apiserver.server,
      kubeconfigPath: paths.kubeconfig,
      kubeconfig,
      token,
      caCertPath: apiserver.caCertPath,
      dir,
      pids,
      async restartApiserver(downMs = 0) {
        await stopProcess(apiserverProc);
        await new Promise((resolve) => setTimeout(resolve, downMs));
        const port = Number(new URL(apiserver.server).port);
        const index = started.indexOf(apiserverProc);
        apiserverProc = spawnComponent(
          binaryPath,
          "kube-apiserver",
          logPathOf("kube-apiserver"),
          apiserverArgs(port),
        );
        started.splice(index, 1, apiserverProc);
        pids.apiserver = pidOf(apiserverProc);
        const restartDeadline = Date.now() + readyTimeoutMs;
        const ready = await waitUntil(restartDeadline, readyTimeoutMs, [apiserverProc], () =>
          isApiserverReady(apiserver.server, apiserver.caCertPath, token),
        );
        if (!ready)
          throw new Error(`cluster ${name}: kube-apiserver did not come back on ${apiserver.server}`);
      },
      stop() {
        stopping ??= (async () => {
          await stopInOrder(started);
          await rm(dir, { recursive: true, force: true, maxRetries: 3 });
        })();
        return stopping;
      },
    };
  } catch (cause) {
    const logs = await readLogTails(dir);
    await stopInOrder(started);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new Error(`cluster ${name}: ${reason}\n${logs}`, { cause });
  }
}

/**
 * Starts kube-controller-manager, kube-scheduler and kwok against the cluster, registers the fake
 * Node and waits until it is Ready and the controllers act. None of the three serves a port, so
 * clusters never clash over one.
 */
async function startWorkloadComponents(args: {
  binaryPath: string;
  kubeconfigPath: string;
  logPathOf: (component: string) => string;
  started: ManagedProcess[];
  api: ApiEndpoint;
  deadline: number;
  readyTimeoutMs: number;
}) {
  const { binaryPath, kubeconfigPath, logPathOf, started } = args;
  const start = (component: string, flags: string[]) => {
    const proc = spawnComponent(binaryPath, component, logPathOf(component), flags);
    started.push(proc);
    return proc;
  };
  const kubeconfig = `--kubeconfig=${kubeconfigPath}`;
  const controllerManager = start("kube-controller-manager", [
    kubeconfig,
    "--leader-elect=false",
    "--secure-port=0",
    `--controllers=${workloadControllers.join(",")}`,
  ]);
  const scheduler = start("kube-scheduler", [kubeconfig, "--leader-elect=false", "--secure-port=0"]);
  const kwok = start("kwok", [
    kubeconfig,
    "--manage-all-nodes=true",
    // Pod IPs away from the service range, for readable objects.
    "--cidr=10.244.0.0/16",
    "--node-ip=10.240.0.1",
  ]);
  await registerWorkloadNode(args.api);
  const ready = await waitUntil(
    args.deadline,
    args.readyTimeoutMs,
    [controllerManager, scheduler, kwok],
    () => isWorkloadReady(args.api),
  );
  if (!ready) throw new Error("a workload component exited during start-up");
  return { controllerManager, scheduler, kwok };
}

/**
 * Starts `count` clusters in parallel, named `<prefix>-1` ... Either all start or none is left
 * running: when one fails, the others are stopped and the first error is thrown.
 */
export async function startClusters(
  count: number,
  opts: Omit<StartClusterOptions, "name"> & { namePrefix?: string } = {},
): Promise<Cluster[]> {
  const { namePrefix = "cluster", ...rest } = opts;
  // Build (or find) the binary once, before the clusters race for it.
  const binaryPath = rest.binaryPath ?? (await ensureTestenvBinary({ onProgress: rest.onProgress }));
  const results = await Promise.allSettled(
    Array.from({ length: count }, (_, i) =>
      startCluster({ ...rest, binaryPath, name: `${namePrefix}-${i + 1}` }),
    ),
  );
  const clusters = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failure = results.find((r) => r.status === "rejected");
  if (failure) {
    await Promise.all(clusters.map((c) => c.stop()));
    throw failure.reason;
  }
  return clusters;
}

/**
 * Registers node:test `before`/`after` hooks in the current suite that start `count` clusters in
 * parallel and stop them. The returned getter gives the clusters inside tests; it throws when
 * called before the `before` hook ran.
 */
export function useClusters(count: number, opts: Parameters<typeof startClusters>[1] = {}): () => Cluster[] {
  let clusters: Cluster[] | undefined;
  before(async () => {
    clusters = await startClusters(count, opts);
  });
  after(async () => {
    await Promise.all((clusters ?? []).map((c) => c.stop()));
  });
  return () => {
    if (!clusters) throw new Error(`useClusters(${count}): clusters are not started yet (use inside a test)`);
    return clusters;
  };
}

interface ManagedProcess {
  component: string;
  logPath: string;
  child: ChildProcess;
  exited: Promise<void>;
  /** Set once the process has exited. */
  exit?: { code: number | null; signal: NodeJS.Signals | null };
}

/** Every process started by this module and still running, for the exit handler. */
const liveChildren = new Set<ChildProcess>();
let exitHandlerInstalled = false;

/** Starts `flotilla-testenv <component> args...` with stdout and stderr going to a fresh log file. */
function spawnComponent(
  binaryPath: string,
  component: string,
  logPath: string,
  args: string[],
): ManagedProcess {
  installExitHandler();
  const log = openSync(logPath, "w");
  let child: ChildProcess;
  try {
    child = spawn(binaryPath, [component, ...args], {
      stdio: ["ignore", log, log],
      env: {
        ...process.env,
        // Asks the component to die with us even if we are SIGKILLed (e2e/testenv/parent_linux.go).
        FLOTILLA_TESTENV_PARENT_PID: String(process.pid),
        // Temporary files (kwok's stage config) land in the cluster dir, which stop() removes.
        TMPDIR: dirname(logPath),
      },
    });
  } finally {
    closeSync(log);
  }
  liveChildren.add(child);
  const proc: ManagedProcess = { component, logPath, child, exited: Promise.resolve() };
  proc.exited = new Promise((resolve) => {
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      proc.exit ??= { code, signal };
      liveChildren.delete(child);
      resolve();
    };
    child.once("exit", onExit);
    child.once("error", (error) => {
      appendFileSync(logPath, `flotilla harness: cannot start ${component}: ${error.message}\n`);
      onExit(null, null);
    });
  });
  return proc;
}

/** SIGTERM, then SIGKILL when the process still runs after the grace period; waits for the exit. */
async function stopProcess(proc: ManagedProcess): Promise<void> {
  if (proc.exit) return;
  proc.child.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const graceOver = new Promise<"grace over">((resolve) => {
    timer = setTimeout(() => resolve("grace over"), stopGraceMs);
  });
  const outcome = await Promise.race([proc.exited, graceOver]);
  clearTimeout(timer);
  if (outcome === "grace over") {
    proc.child.kill("SIGKILL");
    await proc.exited;
  }
}

/** Stops the workload components first (in parallel), then kube-apiserver, then etcd. */
async function stopInOrder(procs: ManagedProcess[]): Promise<void> {
  const core = ["kube-apiserver", "etcd"];
  await Promise.all(procs.filter((p) => !core.includes(p.component)).map(stopProcess));
  for (const component of core) {
    await Promise.all(procs.filter((p) => p.component === component).map(stopProcess));
  }
}

function pidOf(proc: ManagedProcess): number {
  return proc.child.pid ?? -1;
}

function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  // Only synchronous work is possible here, and SIGKILL needs no follow-up.
  process.on("exit", () => {
    for (const child of liveChildren) child.kill("SIGKILL");
  });
}

// ---------------------------------------------------------------------------------------------
// Ports

/** Ports this process has handed out, so parallel clusters never get the same one. */
const handedOutPorts = new Set<number>();

/**
 * Runs `attempt` with freshly chosen free ports. An attempt returns undefined when its process
 * exited because a port was taken between our probe and its bind; then new ports are tried.
 */
async function startWithFreePorts<T>(
  portCount: number,
  attempt: (ports: number[]) => Promise<T | undefined>,
): Promise<T> {
  for (let i = 1; ; i++) {
    const result = await attempt(await findFreePorts(portCount));
    if (result !== undefined) return result;
    if (i >= maxPortAttempts) throw new Error(`ports kept being taken, gave up after ${i} attempts`);
  }
}

/** Binds port 0 on 127.0.0.1 until it has `count` distinct ports nobody in this process holds. */
async function findFreePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  const ports: number[] = [];
  try {
    while (ports.length < count) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", resolve);
      });
      const { port } = server.address() as AddressInfo;
      if (!handedOutPorts.has(port)) ports.push(port);
    }
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
  for (const port of ports) handedOutPorts.add(port);
  return ports;
}

// ---------------------------------------------------------------------------------------------
// Readiness

/**
 * Polls `check` until it holds (true), one of `procs` exits (false when its log shows a port
 * clash, else throws) or the deadline passes (throws).
 */
async function waitUntil(
  deadline: number,
  readyTimeoutMs: number,
  procs: ManagedProcess[],
  check: () => Promise<boolean>,
): Promise<boolean> {
  for (;;) {
    const exited = procs.find((p) => p.exit);
    if (exited?.exit) {
      const log = await readFile(exited.logPath, "utf8").catch(() => "");
      if (/bind: address already in use/.test(log)) return false;
      const { code, signal } = exited.exit;
      throw new Error(`${exited.component} exited during start-up (${signal ?? `exit code ${code}`})`);
    }
    if (await check()) return true;
    if (Date.now() >= deadline) {
      throw new Error(`${procs.map((p) => p.component).join(", ")} not ready after ${readyTimeoutMs} ms`);
    }
    let timer: NodeJS.Timeout | undefined;
    const tick = new Promise((resolve) => {
      timer = setTimeout(resolve, pollIntervalMs);
    });
    await Promise.race([...procs.map((p) => p.exited), tick]);
    clearTimeout(timer);
  }
}

async function isEtcdHealthy(clientUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(requestTimeoutMs) });
    const body = (await response.json()) as { health?: string };
    return response.ok && body.health === "true";
  } catch {
    return false;
  }
}

interface ApiEndpoint {
  server: string;
  ca: Buffer;
  token: string;
}

/** True once `/readyz` is 200 and namespace `default` exists, verified against the cert dir's CA. */
async function isApiserverReady(server: string, caCertPath: string, token: string): Promise<boolean> {
  // The API server writes its self-signed certificate early in start-up; until then, not ready.
  const ca = await readFile(caCertPath).catch(() => undefined);
  if (!ca) return false;
  const api = { server, ca, token };
  return (
    (await requestApi(api, "GET", "/readyz")).status === 200 &&
    (await requestApi(api, "GET", "/api/v1/namespaces/default")).status === 200
  );
}

/** Creates the Node that kwok plays kubelet for; an existing one is fine. */
async function registerWorkloadNode(api: ApiEndpoint): Promise<void> {
  const node = {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: workloadNodeName,
      labels: {
        "kubernetes.io/hostname": workloadNodeName,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        type: "kwok",
      },
      annotations: { "kwok.x-k8s.io/node": "fake" },
    },
  };
  const { status, body } = await requestApi(api, "POST", "/api/v1/nodes", node);
  if (status !== 201 && status !== 409) {
    throw new Error(`Node/${workloadNodeName}: create failed with HTTP ${status}: ${body.slice(0, 300)}`);
  }
}

/**
 * True once kwok reports the Node Ready (kwok works) and namespace `default` has its ServiceAccount
 * (kube-controller-manager works). The scheduler has no such trace; it starts faster than both.
 */
async function isWorkloadReady(api: ApiEndpoint): Promise<boolean> {
  const node = await requestApi(api, "GET", `/api/v1/nodes/${workloadNodeName}`);
  if (node.status !== 200) return false;
  const { status } = JSON.parse(node.body) as {
    status?: { conditions?: { type: string; status: string }[] };
  };
  if (!status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) return false;
  return (await requestApi(api, "GET", "/api/v1/namespaces/default/serviceaccounts/default")).status === 200;
}

/** Sends a request with the admin token; resolves with status 0 when the request itself fails. */
function requestApi(
  api: ApiEndpoint,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(`${api.server}${path}`, {
      method,
      ca: api.ca,
      agent: false,
      timeout: requestTimeoutMs,
      headers: {
        authorization: `Bearer ${api.token}`,
        accept: "application/json",
        ...(payload && { "content-type": "application/json" }),
      },
    });
    req.once("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.once("end", () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
      );
      res.once("error", () => resolve({ status: 0, body: "" }));
    });
    req.once("timeout", () => req.destroy());
    req.once("error", () => resolve({ status: 0, body: "" }));
    req.end(payload);
  });
}

// ---------------------------------------------------------------------------------------------
// Files

function composeKubeconfig(clusterName: string, server: string, ca: Buffer, token: string): string {
  // JSON strings are YAML strings: any cluster name stays one scalar.
  const name = JSON.stringify(clusterName);
  const user = JSON.stringify(`${adminUser}@${clusterName}`);
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    `- name: ${name}`,
    "  cluster:",
    `    server: ${server}`,
    `    certificate-authority-data: ${ca.toString("base64")}`,
    "users:",
    `- name: ${user}`,
    "  user:",
    `    token: ${token}`,
    "contexts:",
    `- name: ${name}`,
    "  context:",
    `    cluster: ${name}`,
    `    user: ${user}`,
    "    namespace: default",
    `current-context: ${name}`,
    "",
  ].join("\n");
}

/** The last lines of every component log in `dir`, etcd and kube-apiserver first. */
async function readLogTails(dir: string): Promise<string> {
  const order = ["etcd.log", "kube-apiserver.log"];
  const names = (await readdir(dir).catch(() => []))
    .filter((n) => n.endsWith(".log"))
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  function rank(name: string) {
    const i = order.indexOf(name);
    return i < 0 ? order.length : i;
  }
  const parts: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const content = await readFile(path, "utf8").catch(() => undefined);
    if (content === undefined) continue;
    const lines = content.trimEnd().split("\n").slice(-logTailLines);
    parts.push(`--- last ${lines.length} lines of ${path} ---\n${lines.join("\n")}`);
  }
  return parts.join("\n");
}

/**
 * Removes cluster directories of Node processes that died without stop() (SIGKILL, crash). Their
 * etcd and kube-apiserver died with them (FLOTILLA_TESTENV_PARENT_PID), but the files stayed.
 * Runs once per process.
 */
async function removeAbandonedDirs(): Promise<void> {
  if (sweptAbandonedDirs) return;
  sweptAbandonedDirs = true;
  const entries = await readdir(tmpdir()).catch(() => []);
  for (const entry of entries) {
    if (!entry.startsWith(dirPrefix)) continue;
    const dir = join(tmpdir(), entry);
    const owner = Number.parseInt(await readFile(join(dir, ownerFile), "utf8").catch(() => ""), 10);
    if (Number.isInteger(owner) && owner !== process.pid && !isProcessAlive(owner)) {
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    }
  }
}

function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
