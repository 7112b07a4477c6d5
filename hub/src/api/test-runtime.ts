/**
 * A HubRuntime for API tests: a real PGlite store (in a temporary folder), a real in-process bus
 * and a real fleet index, with recording fakes at the seam to the resolver and the agent streams
 * (refresh, clusterChanged, rotateCredential, requestSync). `useTestRuntime()` registers its own
 * before/after hooks; open one per test file, it takes seconds.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { create, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { FleetService } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import type { HandlerContext, ServiceImpl } from "@flotilla/proto/grpc";
import { generateToken, parseToken } from "../auth/tokens.js";
import type { Bus } from "../bus/bus.js";
import { createLocalBus } from "../bus/create-local-bus.js";
import { createFleetIndex, type IndexedApp } from "../fleet/fleet-index.js";
import type { AppSummary, HubRuntime, LogLevel, RefreshResult, SourceStatus } from "../server/hub-runtime.js";
import { openStore } from "../store/open-store.js";
import type { ApiRole, Cluster, ClusterState, Store } from "../store/store.js";

export const TEST_PUBLIC_URL = "https://hub.test:8443";
export const TEST_CA_HASH = `sha256:${"ab".repeat(32)}`;

export type RuntimeCalls = {
  refresh: { source?: string; hard?: boolean }[];
  clusterChanged: string[];
  rotateCredential: { clusterId: string; graceMs: number }[];
  requestSync: Parameters<HubRuntime["requestSync"]>[0][];
};

export type TestCluster = {
  name: string;
  labels?: Record<string, string>;
  /** Default Connected, seen now. */
  state?: ClusterState;
  /** Index entries; sync and health default to Synced and Healthy. */
  apps?: (Partial<IndexedApp> & { app: string })[];
};

export type TestRuntime = {
  /**
   * Resolves once the store is open. A file's own `before` must await it: Node 20 does not run
   * top-level `before` hooks one after another.
   */
  readonly opened: Promise<HubRuntime>;
  /** Throws before the runtime is opened. */
  readonly runtime: HubRuntime;
  readonly store: Store;
  readonly calls: RuntimeCalls;
  /** What runtime.apps() returns; tests assign it. */
  apps: AppSummary[];
  /** When set, runtime.refresh rejects with it. */
  refreshError: Error | undefined;
  readonly logs: { level: LogLevel; message: string; fields: Record<string, unknown> }[];
  /** Subscriptions open on the bus now (a watch holds one). */
  subscriptions(): number;
  /** Creates the cluster in the store (state, last seen) and the index (with its apps). */
  addCluster(cluster: TestCluster): Promise<Cluster>;
  /** Creates an API token in the store; returns its text. */
  createApiToken(role: ApiRole, options?: { name?: string; selector?: string }): Promise<string>;
};

export function useTestRuntime(): TestRuntime {
  let opened: { runtime: HubRuntime; dataDir: string } | undefined;
  let subscriptions = 0;
  const calls: RuntimeCalls = { refresh: [], clusterChanged: [], rotateCredential: [], requestSync: [] };
  const logs: TestRuntime["logs"] = [];
  const ready = () => {
    if (!opened) throw new Error("useTestRuntime: the runtime is opened in before(); await `opened` first");
    return opened.runtime;
  };
  let markOpened: (runtime: HubRuntime) => void = () => {};
  let markFailed: (error: unknown) => void = () => {};
  const openedPromise = new Promise<HubRuntime>((resolve, reject) => {
    markOpened = resolve;
    markFailed = reject;
  });
  // Reported by the `before` hook itself when nobody else awaits it.
  openedPromise.catch(() => {});

  const hub: TestRuntime = {
    opened: openedPromise,
    get runtime() {
      return ready();
    },
    get store() {
      return ready().store;
    },
    calls,
    apps: [],
    refreshError: undefined,
    logs,
    subscriptions: () => subscriptions,

    async addCluster({ name, labels = {}, state = "Connected", apps = [] }) {
      const { store, index, now } = ready();
      const created = await store.clusters.create({
        id: randomUUID(),
        name,
        clusterUid: `uid-${name}`,
        labels,
      });
      if (!created.ok) throw new Error(`test cluster ${name}: ${created.reason}`);
      const seenAt = now();
      if (state !== "Pending") {
        await store.clusters.setState(created.cluster.id, state);
        await store.clusters.markSeen(created.cluster.id, seenAt);
      }
      index.upsertCluster({ id: created.cluster.id, name, labels, state, lastSeen: seenAt.toISOString() });
      for (const app of apps) {
        index.upsertApp(created.cluster.id, {
          sync: "Synced",
          health: "Healthy",
          revision: "",
          message: "",
          stale: false,
          problem: false,
          ...app,
        });
      }
      const cluster = await store.clusters.get(created.cluster.id);
      if (!cluster) throw new Error(`test cluster ${name} vanished`);
      return cluster;
    },

    async createApiToken(role, options = {}) {
      const text = generateToken("api");
      const parsed = parseToken(text);
      if (!parsed) throw new Error("generated API token does not parse");
      await ready().store.apiTokens.create({
        id: parsed.id,
        secret: parsed.secret,
        name: options.name ?? `${role}-${parsed.id}`,
        role,
        clusterSelector: options.selector ?? null,
      });
      return text;
    },
  };

  before(async () => {
    try {
      await open();
    } catch (error) {
      markFailed(error);
      throw error;
    }
  });

  async function open(): Promise<void> {
    const dataDir = await mkdtemp(join(tmpdir(), "flotilla-api-"));
    const store = await openStore({ kind: "pglite", dataDir });
    const bus = countSubscriptions(createLocalBus(), (delta) => {
      subscriptions += delta;
    });
    const sources = async (): Promise<SourceStatus[]> =>
      (await store.sources.list()).map((source) => ({
        id: source.id,
        repoUrl: source.repoUrl,
        path: source.path,
        targetRevision: source.targetRevision,
        pollIntervalMs: source.pollIntervalMs,
        revision: "",
        fetchedAt: null,
        error: "",
        appCount: hub.apps.filter((app) => app.source === source.id).length,
      }));
    const runtime: HubRuntime = {
      store,
      bus,
      index: createFleetIndex(),
      hubVersion: "0.0.0-test",
      publicUrl: TEST_PUBLIC_URL,
      caHash: TEST_CA_HASH,
      caCertPem: "",
      heartbeatIntervalMs: 10_000,
      now: () => new Date(),
      log: (level, message, fields = {}) => {
        logs.push({ level, message, fields });
      },
      sources,
      apps: async () => hub.apps,
      async refresh(request = {}): Promise<RefreshResult> {
        calls.refresh.push(request);
        if (hub.refreshError) throw hub.refreshError;
        return { sources: await sources(), changedTargets: 0 };
      },
      async clusterChanged(clusterId) {
        calls.clusterChanged.push(clusterId);
      },
      async rotateCredential(clusterId, graceMs) {
        calls.rotateCredential.push({ clusterId, graceMs });
        if (!(await store.clusters.get(clusterId))) throw new Error(`cluster ${clusterId} does not exist`);
        return {
          credential: generateToken("cluster"),
          delivered: true,
          previousExpiresAt: new Date(Date.now() + graceMs),
        };
      },
      async requestSync(request) {
        calls.requestSync.push(request);
        const added = await store.syncRequests.add(request);
        if (!added.ok) throw new Error(`sync request ${request.requestId} was made before`);
        return { sent: (await store.clusters.get(request.clusterId))?.state === "Connected" };
      },
    };
    opened = { runtime, dataDir };
    markOpened(runtime);
  }

  after(async () => {
    if (!opened) return;
    await opened.runtime.bus.close();
    await opened.runtime.store.close();
    await rm(opened.dataDir, { recursive: true, force: true });
  });

  return hub;
}

/** The bus, reporting each subscribe (+1) and unsubscribe (-1). */
function countSubscriptions(bus: Bus, count: (delta: number) => void): Bus {
  return {
    publish: (event) => bus.publish(event),
    subscribe(handler, options) {
      const subscription = bus.subscribe(handler, options);
      count(1);
      let open = true;
      return {
        ready: subscription.ready,
        unsubscribe() {
          if (open) count(-1);
          open = false;
          subscription.unsubscribe();
        },
      };
    },
    tryLease: (name, holder, ttlMs) => bus.tryLease(name, holder, ttlMs),
    releaseLease: (name, holder) => bus.releaseLease(name, holder),
    stats: () => bus.stats(),
    close: () => bus.close(),
  };
}

type Methods = (typeof FleetService)["method"];
type UnaryName = {
  [K in keyof Methods]: Methods[K]["methodKind"] extends "unary" ? K : never;
}[keyof Methods];

/** Calls unary FleetService handlers directly, as the holder of `token`; responses are full messages. */
export type Caller = <K extends UnaryName>(
  name: K,
  request?: MessageInitShape<Methods[K]["input"]>,
) => Promise<MessageShape<Methods[K]["output"]>>;

/** A HandlerContext carrying "authorization: Bearer <token>" (none without a token). */
export function contextFor(
  token: string | undefined,
  signal: AbortSignal = new AbortController().signal,
): HandlerContext {
  return {
    signal,
    metadata: token === undefined ? {} : { authorization: `Bearer ${token}` },
    peer: "127.0.0.1:1",
  };
}

export function createCaller(service: ServiceImpl<typeof FleetService>, token: string | undefined): Caller {
  return async (name, request) => {
    const method = FleetService.method[name];
    const handler = service[name] as unknown as (input: unknown, context: HandlerContext) => Promise<unknown>;
    const input = create(method.input, (request ?? {}) as never);
    return create(method.output, (await handler(input, contextFor(token))) as never) as never;
  };
}
