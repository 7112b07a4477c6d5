/**
 * `flotilla hub serve` in one function: opens the store and the bus, makes or loads the TLS
 * material, creates the first admin token, and serves agents (AgentService), people
 * (FleetService, /api/v1, webhooks) and `/ca.crt` on one TLS port, while the resolver loop
 * runs wherever the lease is held.
 */
import { randomUUID } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { hostname } from "node:os";
import { join } from "node:path";
import { AgentService } from "@flotilla/proto/gen/flotilla/v1/agent_pb";
import { FleetService } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { addService, createServer, stopServer } from "@flotilla/proto/grpc";
import { createAgentService } from "../agents/agent-service.js";
import { createFleetService } from "../api/fleet-service.js";
import { createHttpApi } from "../api/http-api.js";
import { ensureHubTls, type HubTls, loadHubTls } from "../auth/hub-tls.js";
import { generateToken, parseToken } from "../auth/tokens.js";
import type { Bus, BusEvent } from "../bus/bus.js";
import { connectNatsBus } from "../bus/connect-nats-bus.js";
import { createLocalBus } from "../bus/create-local-bus.js";
import { createDashboardHandler } from "../dashboard/serve-dashboard.js";
import { createFleetIndex } from "../fleet/fleet-index.js";
import { createHubMetrics, metricsHandler } from "../metrics/hub-metrics.js";
import { startNotifier } from "../notify/notifier.js";
import { redactRepoUrl } from "../source/normalize-repo-url.js";
import { openStore } from "../store/open-store.js";
import type { Store } from "../store/store.js";
import { startFleetSync } from "./fleet-sync.js";
import type { HubConfig } from "./hub-config.js";
import type { AppSummary, HubRuntime, Logger, ProblemRecord, SourceStatus } from "./hub-runtime.js";
import { type Listener, listenGrpc, listenTls, splitHostPort } from "./listen.js";
import { createLogger } from "./log.js";
import { startResolverLoop } from "./resolver-loop.js";
import { watchStore } from "./watch-store.js";
import { createWebhookHandler } from "./webhooks.js";

export const ADMIN_TOKEN_FILE = "admin.token";
const REFRESH_TIMEOUT_MS = 5 * 60_000;
const ROTATION_TIMEOUT_MS = 15_000;

export type Hub = {
  /** `https://host:port` for agents and the CLI. */
  url: string;
  port: number;
  runtime: HubRuntime;
  caCertPath: string;
  /** The admin token, when this start created it (print it once); undefined otherwise. */
  createdAdminToken?: string;
  adminTokenPath: string;
  isLeader(): boolean;
  close(): Promise<void>;
};

export type StartHubOptions = {
  log?: Logger;
  hubVersion?: string;
  /** Progress lines for people watching the start. */
  progress?: (line: string) => void;
};

export async function startHub(config: HubConfig, options: StartHubOptions = {}): Promise<Hub> {
  const log = options.log ?? createLogger({ level: config.logLevel });
  const progress = options.progress ?? (() => {});
  const hubVersion = options.hubVersion ?? "0.0.0";
  const now = () => new Date();
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });

  const tls = await prepareTls(config);
  progress(`TLS ready (CA ${tls.caCertPath})`);
  const store = await openStore(
    config.databaseUrl
      ? { kind: "postgres", url: config.databaseUrl }
      : { kind: "pglite", dataDir: join(config.dataDir, "db") },
  );
  const closers: (() => Promise<void>)[] = [() => store.close()];
  const closeAll = async () => {
    for (const close of closers.reverse())
      await close().catch((error) => log("warn", "shutdown step failed", { error }));
  };
  try {
    progress(config.databaseUrl ? "store: PostgreSQL" : `store: PGlite in ${join(config.dataDir, "db")}`);
    const storeWatch = watchStore({ store, log });
    closers.push(async () => storeWatch.stop());
    const bus = config.natsUrl
      ? await connectNatsBus({ url: config.natsUrl, replica: config.replica })
      : createLocalBus();
    closers.push(() => bus.close());
    progress(config.natsUrl ? "bus: NATS JetStream" : "bus: in-process");

    const adminTokenPath = join(config.dataDir, ADMIN_TOKEN_FILE);
    const createdAdminToken = await ensureAdminToken(store, adminTokenPath);
    await addConfiguredSources(store, config, log);

    const index = createFleetIndex();
    const metrics = createHubMetrics();
    const fleetSync = startFleetSync({ store, bus, index, log });
    closers.push(async () => fleetSync.stop());
    await fleetSync.ready;

    const listenAddress = splitHostPort(config.listenHttp);
    const agentService = createAgentService({
      store,
      bus,
      hubVersion,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      maxMessageBytes: config.maxMessageBytes,
      replica: config.replica,
      log: (message, details) => log("warn", message, details),
      metrics: metrics.agents,
    });
    metrics.observe({ index, bus, agents: agentService });
    metrics.observe({ rollouts: store.rollouts });
    const grpcServer = createServer({
      maxReceiveMessageBytes: config.maxMessageBytes,
      maxSendMessageBytes: config.maxMessageBytes,
      keepaliveTimeMs: 30_000,
    });
    // Filled in once the listener's port is known (port 0 in tests).
    let publicUrl = config.publicUrl ?? "";
    const runtime: HubRuntime = {
      store,
      bus,
      index,
      hubVersion,
      get publicUrl() {
        return publicUrl;
      },
      caHash: tls.caHash,
      caCertPem: tls.caCertPem,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      now,
      log,
      sources: () => listSourceStatuses(store),
      apps: () => listApps(store),
      refresh: (request = {}) => requestRefresh(store, bus, request),
      clusterChanged: async (clusterId) => {
        await bus.publish({ type: "cluster-changed", clusterId });
      },
      rotateCredential: (clusterId, graceMs) => requestRotation(store, bus, clusterId, graceMs, now),
      requestSync: async (request) => {
        const added = await store.syncRequests.add(request);
        if (!added.ok) throw new Error(`sync request ${request.requestId} was made before`);
        await store.events.append({
          clusterId: request.clusterId,
          app: request.app,
          type: "sync-requested",
          message: `sync requested by ${request.requestedBy}${request.prune ? " (prune)" : ""}${request.force ? " (force)" : ""}`,
          data: { requestId: request.requestId, actor: request.requestedBy },
        });
        await bus.publish({
          type: "sync-request",
          clusterId: request.clusterId,
          app: request.app,
          requestId: request.requestId,
        });
        const cluster = await store.clusters.get(request.clusterId);
        return { sent: cluster?.state === "Connected" };
      },
    };
    const fleetService = createFleetService(runtime);
    addService(grpcServer, AgentService, agentService);
    addService(grpcServer, FleetService, fleetService);
    closers.push(async () => {
      await agentService.close();
      await stopServer(grpcServer, 2_000);
    });

    const api = createHttpApi(fleetService, { log });
    const webhooks = createWebhookHandler(runtime, { allowUnsigned: config.allowUnsignedWebhooks });
    const dashboard = createDashboardHandler({ runtime, log });
    let ready = false;
    const serveMetrics = metricsHandler(metrics, { token: config.metricsToken });
    const http = (req: IncomingMessage, res: ServerResponse) => {
      res.once("finish", () => metrics.httpRequest(req.url?.split("?")[0] ?? "/", res.statusCode));
      route(req, res).catch((error: unknown) => {
        log("error", "HTTP handler failed", { path: req.url?.split("?")[0], error });
        if (!res.headersSent) sendJson(res, 500, { error: { code: "INTERNAL", message: "internal error" } });
        else res.destroy();
      });
    };
    async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
      const path = (req.url ?? "/").split("?")[0] ?? "/";
      if (path === "/ca.crt" && req.method === "GET") {
        res.writeHead(200, { "content-type": "application/x-pem-file", "cache-control": "no-store" });
        res.end(tls.caCertPem);
        return;
      }
      if (path === "/healthz") return sendJson(res, 200, { status: "ok" });
      if (path === "/metrics") return serveMetrics(req, res);
      if (path === "/readyz") {
        if (!ready) return sendJson(res, 503, { status: "starting" });
        // A hub without its store can neither deliver nor answer: out of the Service until it is back.
        if (!storeWatch.available()) return sendJson(res, 503, { status: "store unavailable" });
        return sendJson(res, 200, { status: "ready" });
      }
      if (path.startsWith("/webhooks/")) return webhooks(req, res);
      if (await dashboard(req, res)) return;
      if (await api(req, res)) return;
      sendJson(res, 404, { error: { code: "NOT_FOUND", message: `no route ${req.method} ${path}` } });
    }

    const listener: Listener = await listenTls(config.listenHttp, tls, {
      http,
      ...(config.listenGrpc ? {} : { grpc: grpcServer }),
    });
    closers.push(() => listener.close());
    if (config.listenGrpc) {
      const port = await listenGrpc(config.listenGrpc, tls, grpcServer);
      progress(`gRPC listening on ${splitHostPort(config.listenGrpc).host}:${port}`);
    }
    if (!publicUrl) publicUrl = `https://${advertisedHost(listenAddress.host)}:${listener.port}`;
    progress(`listening on ${listenAddress.host}:${listener.port} (HTTPS and gRPC); join URL ${publicUrl}`);

    const resolver = startResolverLoop({ store, bus, config, log, now, metrics: metrics.resolver });
    metrics.observe({ isLeader: () => resolver.isLeader() });
    closers.push(() => resolver.stop());
    await resolver.ready;
    // Closers run in reverse: the notifier stops before the resolver and the store.
    const notifier = startNotifier({
      store,
      config: config.notifications,
      log,
      isLeader: () => resolver.isLeader(),
      publicUrl,
      hubVersion,
      now,
    });
    closers.push(() => notifier.stop());
    ready = true;
    log("info", "hub started", {
      url: publicUrl,
      replica: config.replica,
      store: config.databaseUrl ? "postgres" : "pglite",
      bus: config.natsUrl ? "nats" : "local",
      leader: resolver.isLeader(),
    });
    return {
      url: publicUrl,
      port: listener.port,
      runtime,
      caCertPath: tls.caCertPath,
      adminTokenPath,
      ...(createdAdminToken ? { createdAdminToken } : {}),
      isLeader: () => resolver.isLeader(),
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

async function prepareTls(config: HubConfig): Promise<HubTls> {
  if (config.tlsCertFile || config.tlsKeyFile) {
    if (!config.tlsCertFile || !config.tlsKeyFile || !config.tlsCaFile)
      throw new Error(
        "TLS: set all of tlsCertFile, tlsKeyFile and tlsCaFile, or none to let the hub make its own",
      );
    return loadHubTls({ certFile: config.tlsCertFile, keyFile: config.tlsKeyFile, caFile: config.tlsCaFile });
  }
  const hosts = new Set<string>(["localhost", "127.0.0.1"]);
  const listenHost = splitHostPort(config.listenHttp).host;
  if (listenHost && listenHost !== "0.0.0.0" && listenHost !== "::") hosts.add(listenHost);
  if (config.publicUrl) hosts.add(new URL(config.publicUrl).hostname.replace(/^\[|\]$/g, ""));
  const name = hostname();
  if (/^[a-z0-9.-]+$/i.test(name)) hosts.add(name.toLowerCase());
  for (const host of config.tlsHosts) hosts.add(host);
  return ensureHubTls(config.dataDir, { hosts: [...hosts] });
}

function advertisedHost(listenHost: string): string {
  if (listenHost === "0.0.0.0" || listenHost === "::" || listenHost === "") return "127.0.0.1";
  return listenHost.includes(":") ? `[${listenHost}]` : listenHost;
}

/** The first start creates an admin API token and writes it to `path` (0600). */
async function ensureAdminToken(store: Store, path: string): Promise<string | undefined> {
  const tokens = await store.apiTokens.list();
  if (tokens.some((token) => token.role === "admin" && token.revokedAt === null)) return undefined;
  const text = generateToken("api");
  const parsed = parseToken(text);
  if (!parsed) throw new Error("generated API token does not parse");
  await store.apiTokens.create({ id: parsed.id, name: "admin", secret: parsed.secret, role: "admin" });
  await writeFile(path, `${text}\n`, { mode: 0o600 });
  return text;
}

async function addConfiguredSources(store: Store, config: HubConfig, log: Logger): Promise<void> {
  for (const source of config.sources) {
    const result = await store.sources.add({
      id: source.name,
      repoUrl: source.repoUrl,
      path: source.path,
      targetRevision: source.targetRevision,
      pollIntervalMs: source.pollIntervalMs,
      webhookSecret: source.webhookSecret ?? null,
    });
    if (result.ok)
      log("info", "source added from the config file", {
        source: source.name,
        repo: redactRepoUrl(source.repoUrl),
      });
  }
}

async function listSourceStatuses(store: Store): Promise<SourceStatus[]> {
  const resolutions = new Map((await store.sources.listResolutions()).map((r) => [r.sourceId, r]));
  return (await store.sources.list()).map((source) => {
    const resolution = resolutions.get(source.id);
    return {
      id: source.id,
      repoUrl: source.repoUrl,
      path: source.path,
      targetRevision: source.targetRevision,
      pollIntervalMs: source.pollIntervalMs,
      revision: resolution?.revision ?? "",
      fetchedAt: resolution?.fetchedAt ?? null,
      error: resolution?.error ?? "",
      appCount: resolution?.apps.length ?? 0,
    };
  });
}

async function listApps(store: Store): Promise<AppSummary[]> {
  const apps: AppSummary[] = [];
  for (const resolution of await store.sources.listResolutions()) {
    for (const app of resolution.apps as AppSummary[]) {
      apps.push({
        ...app,
        problems: app.problems.map(
          (problem): ProblemRecord => ({ ...problem, observedAt: new Date(problem.observedAt) }),
        ),
      });
    }
  }
  return apps.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Publishes `request` and waits for the first event `answer` accepts. */
async function ask<T extends BusEvent>(
  bus: Bus,
  request: BusEvent,
  answer: (event: BusEvent) => event is T,
  timeoutMs: number,
  what: string,
): Promise<T> {
  let resolveAnswer: (event: T) => void = () => {};
  const answered = new Promise<T>((resolve) => {
    resolveAnswer = resolve;
  });
  const subscription = bus.subscribe((event) => {
    if (answer(event)) resolveAnswer(event);
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await subscription.ready;
    await bus.publish(request);
    return await Promise.race([
      answered,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${what}: no answer within ${timeoutMs / 1000} s`)),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
    subscription.unsubscribe();
  }
}

async function requestRefresh(
  store: Store,
  bus: Bus,
  request: { source?: string; hard?: boolean },
): Promise<{ sources: SourceStatus[]; changedTargets: number }> {
  const source = request.source ?? "";
  if (source && !(await store.sources.get(source))) throw new Error(`source ${source} does not exist`);
  const requestId = randomUUID();
  const resolved = await ask(
    bus,
    { type: "refresh", requestId, source, hard: request.hard ?? false },
    (event): event is Extract<BusEvent, { type: "resolved" }> =>
      event.type === "resolved" && event.requestId === requestId,
    REFRESH_TIMEOUT_MS,
    `refresh ${source || "of every source"}`,
  );
  return { sources: await listSourceStatuses(store), changedTargets: resolved.changedTargets };
}

async function requestRotation(
  store: Store,
  bus: Bus,
  clusterId: string,
  graceMs: number,
  now: () => Date,
): Promise<{ credential: string; delivered: boolean; previousExpiresAt: Date }> {
  const cluster = await store.clusters.get(clusterId);
  if (!cluster) throw new Error(`cluster ${clusterId} does not exist`);
  const previousExpiresAt = new Date(now().getTime() + graceMs);
  if (cluster.state !== "Connected") return { credential: "", delivered: false, previousExpiresAt };
  const requestId = randomUUID();
  try {
    const answer = await ask(
      bus,
      { type: "rotate-credential", clusterId, requestId, graceMs },
      (event): event is Extract<BusEvent, { type: "credential-rotated" }> =>
        event.type === "credential-rotated" && event.requestId === requestId,
      ROTATION_TIMEOUT_MS,
      `credential rotation of cluster ${cluster.name}`,
    );
    return { credential: "", delivered: answer.delivered, previousExpiresAt };
  } catch {
    return { credential: "", delivered: false, previousExpiresAt };
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(`${JSON.stringify(body)}\n`);
}
