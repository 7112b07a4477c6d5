import * as assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import { HealthStatus, SyncStatus } from "@flotilla/proto/gen/flotilla/v1/app_pb";
import {
  ConnectionState,
  EventKind,
  FleetService,
  WatchFleetRequestSchema,
} from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import {
  addService,
  bindServer,
  closeClient,
  createClient,
  createServer,
  credentials,
  type GrpcCode,
  GrpcError,
  ServerCredentials,
  stopServer,
} from "@flotilla/proto/grpc";
import { parseJoinCommand } from "../auth/join-command.js";
import { parseToken } from "../auth/tokens.js";
import { createFleetService, type FleetServiceHandlers } from "./fleet-service.js";
import {
  type Caller,
  contextFor,
  createCaller,
  TEST_CA_HASH,
  TEST_PUBLIC_URL,
  useTestRuntime,
} from "./test-runtime.js";

const hub = useTestRuntime();
let service: FleetServiceHandlers;
let admin: Caller;
let viewer: Caller;
let prodViewer: Caller;
let adminToken: string;
let prodViewerToken: string;

before(async () => {
  service = createFleetService(await hub.opened);
  adminToken = await hub.createApiToken("admin", { name: "root" });
  prodViewerToken = await hub.createApiToken("viewer", { name: "prod-team", selector: "env=prod" });
  admin = createCaller(service, adminToken);
  viewer = createCaller(service, await hub.createApiToken("viewer", { name: "dash" }));
  prodViewer = createCaller(service, prodViewerToken);
});

function isGrpcError(code: GrpcCode, details?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof GrpcError, `expected a GrpcError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (details) assert.match(error.details, details);
    return true;
  };
}

function expiresAtMs(timestamp: Timestamp | undefined): number {
  return timestamp ? timestampDate(timestamp).getTime() : 0;
}

/** Polls `check` until it holds, failing after five seconds. */
async function waitFor(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached within 5 s`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe("FleetService clusters", () => {
  it("refuses a call without a token", async () => {
    await assert.rejects(createCaller(service, undefined)("listClusters"), isGrpcError("UNAUTHENTICATED"));
  });

  it("shows a limited viewer only its clusters and hides the others as missing", async () => {
    await hub.addCluster({
      name: "scope-a",
      labels: { env: "prod", suite: "scope" },
      apps: [{ app: "web" }],
    });
    await hub.addCluster({ name: "scope-b", labels: { env: "dev", suite: "scope" }, apps: [{ app: "web" }] });

    const seen = await prodViewer("listClusters", { selector: "suite=scope" });
    const all = await admin("listClusters", { selector: "suite=scope" });

    assert.deepEqual(
      seen.clusters.map((cluster) => cluster.name),
      ["scope-a"],
    );
    assert.equal(seen.totalSize, 1);
    assert.deepEqual(
      all.clusters.map((cluster) => cluster.name),
      ["scope-a", "scope-b"],
    );
    await assert.rejects(
      prodViewer("getCluster", { name: "scope-b" }),
      isGrpcError("NOT_FOUND", /^cluster "scope-b" does not exist$/),
    );
    assert.equal((await prodViewer("getCluster", { name: "scope-a" })).cluster?.name, "scope-a");
    const status = await prodViewer("getFleetStatus", { selector: "suite=scope" });
    assert.deepEqual(
      status.rows.map((row) => row.cluster),
      ["scope-a"],
    );
    assert.equal(status.counts?.total, 1);
  });

  it("pages clusters with a token that only works with the same filters", async () => {
    for (const name of ["page-3", "page-1", "page-5", "page-2", "page-4"]) {
      await hub.addCluster({ name, labels: { suite: "paging" } });
    }

    const names: string[] = [];
    let pageToken = "";
    for (let page = 0; page < 5; page++) {
      const response = await admin("listClusters", { selector: "suite=paging", pageSize: 2, pageToken });
      assert.equal(response.totalSize, 5);
      names.push(...response.clusters.map((cluster) => cluster.name));
      pageToken = response.nextPageToken;
      if (!pageToken) break;
    }

    assert.deepEqual(names, ["page-1", "page-2", "page-3", "page-4", "page-5"]);
    const first = await admin("listClusters", { selector: "suite=paging", pageSize: 2 });
    await assert.rejects(
      admin("listClusters", { selector: "suite=other", pageToken: first.nextPageToken }),
      isGrpcError("INVALID_ARGUMENT", /page_token: the token was issued for other filters/),
    );
  });

  it("reports a connected cluster silent for three heartbeats as STALE and filters by connection", async () => {
    const silent = await hub.addCluster({ name: "conn-silent", labels: { suite: "conn" } });
    await hub.addCluster({ name: "conn-live", labels: { suite: "conn" } });
    await hub.addCluster({ name: "conn-new", labels: { suite: "conn" }, state: "Pending" });
    await hub.store.clusters.markSeen(silent.id, new Date(Date.now() - 31_000));

    const stale = await admin("listClusters", {
      selector: "suite=conn",
      connection: [ConnectionState.STALE],
    });
    const others = await admin("listClusters", {
      selector: "suite=conn",
      connection: [ConnectionState.CONNECTED, ConnectionState.PENDING],
    });

    assert.deepEqual(
      stale.clusters.map((cluster) => cluster.name),
      ["conn-silent"],
    );
    assert.deepEqual(
      others.clusters.map((cluster) => [cluster.name, cluster.connection]),
      [
        ["conn-live", ConnectionState.CONNECTED],
        ["conn-new", ConnectionState.PENDING],
      ],
    );
  });

  it("refuses an invalid selector, naming it and the cause", async () => {
    await assert.rejects(
      admin("listClusters", { selector: "env in (" }),
      isGrpcError("INVALID_ARGUMENT", /^selector: label selector "env in \(" at column \d+: /),
    );
  });

  it("lets a viewer read but not write", async () => {
    await hub.addCluster({ name: "read-only", labels: { env: "prod" } });

    await viewer("getCluster", { name: "read-only" });
    await assert.rejects(
      viewer("labelCluster", { name: "read-only", set: { tier: "web" } }),
      isGrpcError("PERMISSION_DENIED", /token "dash" is a viewer and may only read, not write/),
    );
    await assert.rejects(viewer("removeCluster", { name: "read-only" }), isGrpcError("PERMISSION_DENIED"));
    await assert.rejects(viewer("createBootstrapToken", {}), isGrpcError("PERMISSION_DENIED"));
    await assert.rejects(viewer("sync", { app: "web" }), isGrpcError("PERMISSION_DENIED"));
    assert.deepEqual((await hub.store.clusters.getByName("read-only"))?.labels, { env: "prod" });
  });

  it("labels a cluster, announces the change and records who made it", async () => {
    const cluster = await hub.addCluster({ name: "label-me", labels: { tier: "web", old: "x" } });

    const response = await admin("labelCluster", { name: "label-me", set: { env: "prod" }, remove: ["old"] });

    assert.deepEqual(response.cluster?.labels, { tier: "web", env: "prod" });
    assert.deepEqual((await hub.store.clusters.get(cluster.id))?.labels, { tier: "web", env: "prod" });
    assert.ok(hub.calls.clusterChanged.includes(cluster.id));
    const events = await admin("listEvents", { cluster: "label-me", kinds: [EventKind.CLUSTER_LABELED] });
    assert.equal(events.events.length, 1);
    assert.equal(events.events[0]?.actor, "root");
    assert.equal(events.events[0]?.cluster, "label-me");
    assert.match(events.events[0]?.message ?? "", /env=prod, -old/);
  });

  it("refuses an invalid label and an unknown cluster by name", async () => {
    await hub.addCluster({ name: "bad-labels" });

    await assert.rejects(
      admin("labelCluster", { name: "bad-labels", set: { "bad key!": "x" } }),
      isGrpcError("INVALID_ARGUMENT", /^set: label bad key!: /),
    );
    await assert.rejects(
      admin("labelCluster", { name: "nowhere", set: { env: "prod" } }),
      isGrpcError("NOT_FOUND", /cluster "nowhere" does not exist/),
    );
  });

  it("removes a cluster with its credentials and keeps its name in the event trail", async () => {
    const cluster = await hub.addCluster({ name: "remove-me" });
    await hub.store.credentials.add({ id: "cred-remove-me", clusterId: cluster.id, secret: "s3cret" });

    await admin("removeCluster", { name: "remove-me" });

    assert.equal(await hub.store.clusters.getByName("remove-me"), undefined);
    assert.deepEqual(await hub.store.credentials.verify("cred-remove-me", "s3cret"), {
      ok: false,
      reason: "unknown",
    });
    assert.ok(hub.calls.clusterChanged.includes(cluster.id));
    const events = await admin("listEvents", { kinds: [EventKind.CLUSTER_REMOVED] });
    assert.equal(events.events.find((event) => event.cluster === "remove-me")?.actor, "root");
    await assert.rejects(admin("removeCluster", { name: "remove-me" }), isGrpcError("NOT_FOUND"));
  });

  it("rotates a credential with one hour of grace unless told otherwise", async () => {
    const cluster = await hub.addCluster({ name: "rotate-me" });

    const rotated = await admin("rotateClusterCredential", { name: "rotate-me" });
    await admin("rotateClusterCredential", { name: "rotate-me", grace: { seconds: 0n } });

    assert.equal(rotated.delivered, true);
    assert.equal(parseToken(rotated.credential)?.kind, "cluster");
    assert.deepEqual(hub.calls.rotateCredential.slice(-2), [
      { clusterId: cluster.id, graceMs: 3_600_000 },
      { clusterId: cluster.id, graceMs: 0 },
    ]);
  });

  it("refuses to rotate the credential of a cluster whose agent is offline", async () => {
    await hub.addCluster({ name: "offline-rotate", state: "Disconnected" });
    await assert.rejects(
      admin("rotateClusterCredential", { name: "offline-rotate" }),
      isGrpcError("FAILED_PRECONDITION", /offline-rotate is Disconnected/),
    );
  });

  it("shows a cluster's apps from the index with what the store wants there", async () => {
    const cluster = await hub.addCluster({
      name: "get-me",
      apps: [{ app: "web", sync: "OutOfSync", health: "Degraded", message: "CrashLoopBackOff" }],
    });
    const digest = (char: string) => `sha256:${char.repeat(64)}`;
    await hub.store.targets.apply(cluster.id, [
      { app: "web", digest: digest("a"), bundleDigest: digest("b"), desired: { revision: "abc123" } },
      { app: "api", digest: digest("c"), bundleDigest: digest("d"), desired: { revision: "abc123" } },
    ]);

    const response = await admin("getCluster", { name: "get-me" });

    assert.equal(response.cluster?.desiredSeq, 2n);
    assert.deepEqual(
      response.apps.map((row) => [
        row.app,
        row.syncStatus,
        row.healthStatus,
        row.desiredDigest,
        row.delivered,
      ]),
      [
        ["api", SyncStatus.UNKNOWN, HealthStatus.UNKNOWN, digest("c"), false],
        ["web", SyncStatus.OUT_OF_SYNC, HealthStatus.DEGRADED, digest("a"), false],
      ],
    );
    assert.equal(response.apps[1]?.message, "CrashLoopBackOff");
    assert.equal(response.apps[1]?.desiredRevision, "abc123");
  });
});

describe("FleetService when the store fails", () => {
  /** The service over the test runtime, with every cluster list failing and ping answering `up`. */
  async function failingService(up: boolean) {
    const runtime = await hub.opened;
    const store = {
      ...runtime.store,
      clusters: { ...runtime.store.clusters, list: () => Promise.reject(new Error("connect ECONNREFUSED")) },
      ping: async () => up,
    };
    return createCaller(createFleetService({ ...runtime, store }), adminToken);
  }

  it("answers UNAVAILABLE naming the store when the store does not answer", async () => {
    const caller = await failingService(false);
    await assert.rejects(
      caller("listClusters"),
      isGrpcError("UNAVAILABLE", /store \(its database\) is unavailable/),
    );
  });

  it("answers INTERNAL without the details when the store answers", async () => {
    const caller = await failingService(true);
    await assert.rejects(caller("listClusters"), (error: unknown) => {
      isGrpcError("INTERNAL", /failed inside the hub/)(error);
      assert.doesNotMatch((error as GrpcError).details, /ECONNREFUSED/);
      return true;
    });
  });
});

describe("FleetService bootstrap tokens", () => {
  it("creates a token once, lists it without its secret and revokes it", async () => {
    const created = await admin("createBootstrapToken", {
      ttl: { seconds: 600n },
      maxUses: 3,
      labels: { env: "prod" },
      description: "edge rollout",
    });

    const secret = parseToken(created.token)?.secret ?? "";
    assert.equal(parseToken(created.token)?.kind, "bootstrap");
    assert.equal(created.caHash, TEST_CA_HASH);
    assert.deepEqual(parseJoinCommand(created.joinCommand), {
      hubUrl: TEST_PUBLIC_URL,
      token: created.token,
      caHash: TEST_CA_HASH,
    });
    const id = created.info?.id ?? "";
    assert.equal(created.info?.createdBy, "root");
    const expiresInMs = expiresAtMs(created.info?.expiresAt) - Date.now();
    assert.ok(expiresInMs > 590_000 && expiresInMs <= 600_000, `expires in ${expiresInMs} ms`);

    const listed = await admin("listBootstrapTokens");
    const info = listed.tokens.find((token) => token.id === id);
    assert.deepEqual([info?.description, info?.maxUses, info?.labels], ["edge rollout", 3, { env: "prod" }]);
    assert.ok(
      !JSON.stringify(listed, (_key, value) => (typeof value === "bigint" ? `${value}` : value)).includes(
        secret,
      ),
    );

    await admin("revokeBootstrapToken", { id: `flb_${id}` });
    assert.equal(
      (await admin("listBootstrapTokens")).tokens.find((token) => token.id === id),
      undefined,
    );
    const inactive = await admin("listBootstrapTokens", { includeInactive: true });
    assert.equal(inactive.tokens.find((token) => token.id === id)?.revoked, true);
    await assert.rejects(
      admin("revokeBootstrapToken", { id: "zzzzzz" }),
      isGrpcError("NOT_FOUND", /bootstrap token "zzzzzz"/),
    );
  });

  it("defaults a token to one hour and unlimited uses", async () => {
    const created = await admin("createBootstrapToken", {});

    const expiresInMs = expiresAtMs(created.info?.expiresAt) - Date.now();
    assert.ok(expiresInMs > 3_590_000 && expiresInMs <= 3_600_000, `expires in ${expiresInMs} ms`);
    assert.equal(created.info?.maxUses, 0);
  });
});

describe("FleetService sources and refresh", () => {
  it("adds a source with defaults and refreshes it in the background", async () => {
    const added = await admin("addSource", { name: "main", repoUrl: "https://git.example/fleet.git" });

    assert.deepEqual([added.source?.path, added.source?.targetRevision], [".", "HEAD"]);
    assert.equal(added.source?.pollInterval?.seconds, 30n);
    assert.deepEqual(hub.calls.refresh.at(-1), { source: "main" });
    assert.deepEqual(
      (await viewer("listSources")).sources.map((source) => source.name),
      ["main"],
    );
    await assert.rejects(
      admin("addSource", { name: "main", repoUrl: "https://git.example/other.git" }),
      isGrpcError("ALREADY_EXISTS", /source "main" already exists/),
    );
  });

  it("refuses a repository URL with credentials without repeating them", async () => {
    await assert.rejects(
      admin("addSource", { name: "secret", repoUrl: "https://bob:hunter2@git.example/fleet.git" }),
      (error: unknown) => {
        assert.ok(isGrpcError("INVALID_ARGUMENT", /must not carry credentials/)(error));
        assert.ok(!(error as GrpcError).message.includes("hunter2"));
        return true;
      },
    );
  });

  it("removes a source and resolves again", async () => {
    await admin("addSource", { name: "gone", repoUrl: "https://git.example/gone.git" });

    await admin("removeSource", { name: "gone" });

    assert.deepEqual(hub.calls.refresh.at(-1), {});
    await assert.rejects(admin("removeSource", { name: "gone" }), isGrpcError("NOT_FOUND", /source "gone"/));
  });

  it("refreshes on request and reports a failed refresh as UNAVAILABLE", async () => {
    await admin("addSource", { name: "refresh-me", repoUrl: "https://git.example/refresh.git" });

    const response = await admin("refresh", { source: "refresh-me", hard: true });
    assert.deepEqual(hub.calls.refresh.at(-1), { source: "refresh-me", hard: true });
    assert.ok(response.sources.some((source) => source.name === "refresh-me"));

    await assert.rejects(admin("refresh", { source: "nope" }), isGrpcError("NOT_FOUND", /source "nope"/));
    hub.refreshError = new Error("no answer within 300 s");
    try {
      await assert.rejects(admin("refresh", {}), isGrpcError("UNAVAILABLE", /no answer within 300 s/));
    } finally {
      hub.refreshError = undefined;
    }
  });
});

describe("FleetService apps and sync", () => {
  const problem = {
    app: "shop",
    cluster: "shop-c",
    reason: "RenderError",
    message: "kustomize build failed",
    path: "apps/shop",
    observedAt: new Date(),
  };

  before(async () => {
    await hub.opened;
    await hub.addCluster({ name: "shop-a", labels: { env: "prod" }, apps: [{ app: "shop" }] });
    await hub.addCluster({
      name: "shop-b",
      labels: { env: "prod" },
      state: "Disconnected",
      apps: [{ app: "shop", sync: "OutOfSync" }],
    });
    await hub.addCluster({ name: "shop-c", labels: { env: "dev" }, apps: [{ app: "shop", problem: true }] });
    hub.apps = [
      {
        name: "shop",
        project: "default",
        source: "main",
        parent: "",
        clusters: ["shop-a", "shop-b", "shop-c"],
        problems: [problem],
        revision: "abc123",
      },
    ];
  });

  it("lists apps with counts and problems over the clusters the caller sees", async () => {
    const all = await admin("listApps", { namePrefix: "shop" });
    const prod = await prodViewer("listApps", { namePrefix: "shop" });

    assert.deepEqual(
      [all.apps[0]?.counts?.total, all.apps[0]?.counts?.outOfSync, all.apps[0]?.problems.length],
      [3, 1, 1],
    );
    assert.deepEqual([prod.apps[0]?.counts?.total, prod.apps[0]?.problems.length], [2, 0]);
    assert.equal((await admin("listApps", { namePrefix: "shop", problemsOnly: true })).totalSize, 1);
  });

  it("shows an app's target and latest report in each cluster", async () => {
    const cluster = await hub.store.clusters.getByName("shop-a");
    assert.ok(cluster);
    const digest = `sha256:${"e".repeat(64)}`;
    await hub.store.targets.apply(cluster.id, [
      { app: "shop", digest, bundleDigest: `sha256:${"f".repeat(64)}`, desired: { revision: "abc123" } },
    ]);
    await hub.store.statuses.upsert({
      clusterId: cluster.id,
      app: "shop",
      digest,
      revision: "abc123",
      sync: "Synced",
      health: "Progressing",
      healthMessage: "rollout in progress",
      resources: [{ kind: "Deployment", name: "shop", healthStatus: "HEALTH_STATUS_PROGRESSING" }],
      observedAt: new Date(),
    });

    const response = await admin("getApp", { name: "shop", clusters: ["shop-a", "shop-b"] });

    assert.deepEqual(
      response.targets.map((target) => target.cluster),
      ["shop-a", "shop-b"],
    );
    const [a] = response.targets;
    assert.deepEqual([a?.desiredDigest, a?.desiredRevision, a?.seq], [digest, "abc123", 1n]);
    assert.equal(a?.status?.healthStatus, HealthStatus.PROGRESSING);
    assert.equal(a?.status?.resources[0]?.healthStatus, HealthStatus.PROGRESSING);
    await assert.rejects(prodViewer("getApp", { name: "nope" }), isGrpcError("NOT_FOUND", /app "nope"/));
  });

  it("dispatches a sync to each selected cluster and says why one was not sent", async () => {
    const before = hub.calls.requestSync.length;

    const response = await admin("sync", { app: "shop", selector: "env=prod", prune: true });

    assert.deepEqual(
      response.dispatches.map((dispatch) => [dispatch.cluster, dispatch.sent]),
      [
        ["shop-a", true],
        ["shop-b", false],
      ],
    );
    assert.match(response.dispatches[1]?.error ?? "", /disconnected/);
    const calls = hub.calls.requestSync.slice(before);
    assert.deepEqual(
      calls.map((call) => [call.requestId, call.prune, call.requestedBy]),
      [
        [`${response.requestId}/shop-a`, true, "root"],
        [`${response.requestId}/shop-b`, true, "root"],
      ],
    );
  });

  it("refuses a sync of an unknown app or of selected objects", async () => {
    await assert.rejects(
      admin("sync", { app: "nope" }),
      isGrpcError("NOT_FOUND", /app "nope" does not exist/),
    );
    await assert.rejects(
      admin("sync", { app: "shop", resources: [{ kind: "Deployment", name: "shop" }] }),
      isGrpcError("UNIMPLEMENTED"),
    );
  });

  it("answers Render with UNIMPLEMENTED, pointing at the local command", async () => {
    const render = service.render(create(FleetService.method.render.input, {}), contextFor(adminToken));
    await assert.rejects(
      render[Symbol.asyncIterator]().next(),
      isGrpcError("UNIMPLEMENTED", /flotilla render/),
    );
  });
});

describe("FleetService over gRPC", () => {
  it("serves unary calls and a watch through the gRPC adapter", { timeout: 20_000 }, async (t) => {
    const cluster = await hub.addCluster({
      name: "grpc-a",
      labels: { env: "prod" },
      apps: [{ app: "grpc-app" }],
    });
    const server = createServer();
    addService(server, FleetService, service);
    const port = await bindServer(server, "127.0.0.1:0", ServerCredentials.createInsecure());
    t.after(() => stopServer(server));
    const client = createClient(FleetService, `127.0.0.1:${port}`, credentials.createInsecure());
    t.after(() => closeClient(client));
    const metadata = { authorization: `Bearer ${prodViewerToken}` };

    const listed = await client.listClusters({ namePrefix: "grpc-" }, { metadata });
    assert.deepEqual(
      listed.clusters.map((item) => item.name),
      ["grpc-a"],
    );
    await assert.rejects(client.listClusters({}), isGrpcError("UNAUTHENTICATED", /missing API token/));

    const subscriptions = hub.subscriptions();
    const watch = client.watchFleet(create(WatchFleetRequestSchema, { app: "grpc-app" }), { metadata });
    const responses = watch[Symbol.asyncIterator]();
    const first = responses.next();
    await waitFor("watch subscribed", () => hub.subscriptions() > subscriptions);
    await hub.runtime.bus.publish({
      type: "status",
      clusterId: cluster.id,
      app: "grpc-app",
      digest: "",
      sync: "OutOfSync",
      health: "Degraded",
      observedAt: new Date().toISOString(),
      revision: "abc123",
      message: "ImagePullBackOff",
    });

    const { value } = await first;
    assert.equal(value?.event.case, "statusChanged");
    const row = value?.event.case === "statusChanged" ? value.event.value : undefined;
    assert.deepEqual(
      [row?.cluster, row?.app, row?.syncStatus, row?.healthStatus, row?.message],
      ["grpc-a", "grpc-app", SyncStatus.OUT_OF_SYNC, HealthStatus.DEGRADED, "ImagePullBackOff"],
    );
    await responses.return?.();
    await waitFor("watch unsubscribed", () => hub.subscriptions() === subscriptions);
  });
});
