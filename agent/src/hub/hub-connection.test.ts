import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it, type TestContext } from "node:test";
import { gzipSync } from "node:zlib";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { DesiredAppSchema } from "@flotilla/proto/gen/flotilla/v1/app_pb";
import { HealthStatus, OperationPhase } from "@flotilla/proto/gen/flotilla/v1/app_pb";
import { createTestTls, type TestTls } from "@flotilla/proto/test-tls";
import type { DesiredApp } from "../desired/desired-app.js";
import { type AgentState, createFileStateStore, type HubIdentity } from "../desired/state-store.js";
import type { KubeObject } from "../kube/kube-object.js";
import type { AppStatus } from "../reconcile/app-status.js";
import { createReconcilerSink, createStatusFeed, type ReconcilerPort } from "./create-reconciler-sink.js";
import { type FakeConnection, type FakeHub, useFakeHub } from "./fake-hub.js";
import { connectToHub } from "./hub-connection.js";
import { createHubStateStore } from "./hub-state-store.js";

const timeout = 20_000;
let tls: TestTls;

before(async () => {
  tls = await createTestTls();
});

function bundleOf(objects: KubeObject[]) {
  const json = Buffer.from(JSON.stringify(objects));
  return { bytes: gzipSync(json), digest: `sha256:${createHash("sha256").update(json).digest("hex")}` };
}

const configMap = (name: string): KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: "web" },
});

/** A DesiredApp message for `name` at version `version`, with its bundle unless `omitBundle`. */
function desiredApp(name: string, version: string, options: { omitBundle?: boolean } = {}) {
  const bundle = bundleOf([configMap(`${name}-${version}`)]);
  const message: MessageInitShape<typeof DesiredAppSchema> = {
    name,
    namespace: "web",
    revision: `rev-${version}`,
    digest: `sha256:${name}-${version}`,
    bundleDigest: bundle.digest,
    bundleEncoding: "gzip+json",
    objectCount: 1,
    ...(options.omitBundle ? {} : { bundle: bundle.bytes }),
  };
  return { message, bundle };
}

const status = (name: string, health: AppStatus["health"]): AppStatus => ({
  name,
  digest: `sha256:${name}-1`,
  revision: "rev-1",
  sync: "Synced",
  health,
  healthMessage: "",
  resources: [],
  conditions: [],
});

/** An in-memory stand-in for the reconciler with its persistence behaviour: whole-state saves. */
function createFakeReconciler(
  store: ReturnType<typeof createHubStateStore>,
  feed: ReturnType<typeof createStatusFeed>,
) {
  let state: AgentState = { apps: {} };
  const statuses = new Map<string, AppStatus>();
  const removals: { name: string; prune: boolean | undefined }[] = [];
  const reconciler: ReconcilerPort & { start(): Promise<void> } = {
    async start() {
      state = await store.load();
    },
    async upsert(app: DesiredApp) {
      if (state.apps[app.name]?.desired.digest === app.digest) return;
      state.apps[app.name] = { desired: app, inventory: [] };
      await store.save(state);
    },
    async remove(name, options) {
      removals.push({ name, prune: options?.prune });
      delete state.apps[name];
      statuses.delete(name);
      await store.save(state);
      feed.removed(name);
    },
    async sync(name) {
      const synced: AppStatus = {
        ...status(name, "Healthy"),
        operation: {
          phase: "Succeeded",
          message: "done",
          revision: "rev-1",
          startedAt: new Date().toISOString(),
        },
      };
      statuses.set(name, synced);
      return synced;
    },
    statuses: () => [...statuses.values()],
  };
  return { reconciler, removals, statuses };
}

type AgentOptions = {
  identity?: Partial<HubIdentity>;
  apps?: AgentState["apps"];
  statusDebounceMs?: number;
  onCaughtUp?: (resume: { latestSeq: bigint; backlog: number }) => void;
};

/** An agent process: file state store, fake reconciler, the real sink and connectToHub. */
async function useAgent(t: TestContext, hub: FakeHub, options: AgentOptions = {}) {
  const dir = await mkdtemp(join(tmpdir(), "flotilla-hub-connection-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, "state.json.gz");
  const identity: HubIdentity = {
    clusterName: "edge-1",
    hubUrl: hub.hubUrl,
    credential: "cred-1",
    caHash: "sha256:unused",
    caCertPem: tls.caPem,
    grpcAddress: hub.grpcAddress,
    ...options.identity,
  };
  await createFileStateStore(path).save({ identity, apps: options.apps ?? {} });
  const store = createHubStateStore(createFileStateStore(path));
  const feed = createStatusFeed();
  const fake = createFakeReconciler(store, feed);
  await fake.reconciler.start();
  const controller = new AbortController();
  const done = connectToHub({
    identity,
    sink: createReconcilerSink(fake.reconciler, store, feed),
    signal: controller.signal,
    statusDebounceMs: options.statusDebounceMs ?? 20,
    backoff: { initialMs: 10, factor: 2, maxMs: 50 },
    agentVersion: "0.1.0",
    instanceId: "agent-pod-1",
    onCaughtUp: options.onCaughtUp,
  });
  t.after(async () => {
    controller.abort();
    await done.catch(() => {});
  });
  /** The state as a restarted agent would read it from disk. */
  const persisted = () => createFileStateStore(path).load();
  return { done, feed, fake, persisted, stop: () => controller.abort() };
}

/** Accepts the next stream: reads Hello, answers Welcome. */
async function welcome(
  hub: FakeHub,
  init: { heartbeatIntervalMs?: number; backlog?: number; seqReset?: boolean } = {},
) {
  const connection = await hub.nextConnection();
  const hello = await connection.next("hello");
  await connection.send({
    body: {
      case: "welcome",
      value: {
        clusterName: "edge-1",
        heartbeatIntervalMs: init.heartbeatIntervalMs ?? 60_000,
        resume: { latestSeq: 10n, backlog: init.backlog ?? 0, seqReset: init.seqReset ?? false },
      },
    },
  });
  return { connection, hello };
}

function upsert(connection: FakeConnection, seq: bigint, app: MessageInitShape<typeof DesiredAppSchema>) {
  return connection.send({ body: { case: "upsert", value: { seq, app } } });
}

/**
 * A TCP port in front of `target` (host:port) that drops every connection until `open()`, then
 * forwards them: the network to the hub down, then back.
 */
async function useGate(t: TestContext, target: string) {
  const split = target.lastIndexOf(":");
  const host = target.slice(0, split);
  const port = Number(target.slice(split + 1));
  const sockets = new Set<Socket>();
  let open = false;
  let dropped = 0;
  const server = createServer((socket) => {
    if (!open) {
      dropped += 1;
      socket.destroy();
      return;
    }
    const upstream = connect(port, host);
    for (const end of [socket, upstream]) {
      sockets.add(end);
      end.once("close", () => sockets.delete(end));
    }
    socket.on("error", () => upstream.destroy());
    upstream.on("error", () => socket.destroy());
    socket.pipe(upstream).pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port: gatePort } = server.address() as { port: number };
  return {
    address: `127.0.0.1:${gatePort}`,
    dropped: () => dropped,
    open: () => {
      open = true;
    },
  };
}

describe("connectToHub", () => {
  it("says hello with the apps it holds, their seqs and bundles", { timeout }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const held = desiredApp("web", "1");
    await useAgent(t, hub, {
      identity: { lastAppliedSeq: 7 },
      apps: {
        web: {
          desired: { ...emptyApp("web"), digest: "sha256:web-1" },
          inventory: [],
          seq: 7,
          bundleDigest: held.bundle.digest,
        },
      },
    });
    const { connection, hello } = await welcome(hub);
    assert.equal(connection.authorization, "Bearer cred-1");
    assert.equal(hello.clusterName, "edge-1");
    assert.equal(hello.agentVersion, "0.1.0");
    assert.equal(hello.instanceId, "agent-pod-1");
    assert.equal(hello.lastAppliedSeq, 7n);
    assert.deepEqual(
      hello.held.map((h) => [h.app, h.digest, h.seq, h.bundleDigest]),
      [["web", "sha256:web-1", 7n, held.bundle.digest]],
    );
  });

  it("persists backlog upserts, then acks them in seq order", { timeout }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const agent = await useAgent(t, hub);
    const { connection } = await welcome(hub, { backlog: 2 });
    await upsert(connection, 3n, desiredApp("web", "1").message);
    await upsert(connection, 5n, desiredApp("api", "1").message);

    const first = await connection.next("ack");
    const onDiskAtFirstAck = await agent.persisted();
    const second = await connection.next("ack");
    assert.deepEqual([first.seq, first.app, first.digest, first.accepted], [3n, "web", "sha256:web-1", true]);
    assert.deepEqual([second.seq, second.app, second.accepted], [5n, "api", true]);
    assert.equal(onDiskAtFirstAck.apps.web?.seq, 3);
    const state = await agent.persisted();
    assert.deepEqual(state.apps.api?.desired.objects, [configMap("api-1")]);
    assert.equal(state.apps.api?.bundleDigest, desiredApp("api", "1").bundle.digest);
    assert.equal(state.identity?.lastAppliedSeq, 5);
  });

  it("acks but ignores a change whose seq is not above the one held", { timeout }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const agent = await useAgent(t, hub);
    const { connection } = await welcome(hub);
    await upsert(connection, 5n, desiredApp("web", "2").message);
    await upsert(connection, 4n, desiredApp("web", "1").message);
    assert.equal((await connection.next("ack")).seq, 5n);
    const resend = await connection.next("ack");
    assert.deepEqual([resend.seq, resend.digest, resend.accepted], [4n, "sha256:web-1", true]);
    const state = await agent.persisted();
    assert.equal(state.apps.web?.desired.digest, "sha256:web-2");
    assert.equal(state.apps.web?.seq, 5);
  });

  it("asks for a bundle the hub left out, then applies it", { timeout }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const agent = await useAgent(t, hub);
    const { connection } = await welcome(hub);
    const { message, bundle } = desiredApp("web", "1", { omitBundle: true });
    await upsert(connection, 1n, message);

    const request = await connection.next("bundleRequest");
    assert.deepEqual(request.digests, [bundle.digest]);
    await connection.send({
      body: { case: "bundle", value: { digest: bundle.digest, encoding: "gzip+json", data: bundle.bytes } },
    });
    const ack = await connection.next("ack");
    assert.deepEqual([ack.seq, ack.accepted], [1n, true]);
    assert.deepEqual((await agent.persisted()).apps.web?.desired.objects, [configMap("web-1")]);

    // Another app with the same bundle needs no transfer: the agent holds it.
    await upsert(connection, 2n, { ...message, name: "web-copy", digest: "sha256:web-copy" });
    assert.deepEqual([(await connection.next("ack")).accepted], [true]);
    assert.deepEqual((await agent.persisted()).apps["web-copy"]?.desired.objects, [configMap("web-1")]);
  });

  it("rejects a bundle whose digest does not match, and one the hub no longer has", {
    timeout,
  }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const agent = await useAgent(t, hub);
    const { connection } = await welcome(hub);
    const { message } = desiredApp("web", "1");
    await upsert(connection, 1n, { ...message, bundleDigest: `sha256:${"0".repeat(64)}` });
    const mismatch = await connection.next("ack");
    assert.equal(mismatch.accepted, false);
    assert.match(mismatch.error, /bundle digest mismatch/);

    const missing = desiredApp("api", "1", { omitBundle: true }).message;
    await upsert(connection, 2n, missing);
    await connection.next("bundleRequest");
    await connection.send({
      body: { case: "bundle", value: { digest: missing.bundleDigest ?? "", error: "gone" } },
    });
    const gone = await connection.next("ack");
    assert.deepEqual([gone.seq, gone.accepted], [2n, false]);
    assert.match(gone.error, /gone/);
    assert.deepEqual((await agent.persisted()).apps, {});
  });

  it("persists a removal with its prune flag, acks it and reports the app removed", {
    timeout,
  }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const agent = await useAgent(t, hub);
    const { connection } = await welcome(hub);
    await upsert(connection, 1n, desiredApp("web", "1").message);
    await connection.next("ack");
    await connection.send({ body: { case: "removal", value: { seq: 2n, app: "web", prune: true } } });
    const ack = await connection.next("ack");
    assert.deepEqual([ack.seq, ack.app, ack.digest, ack.accepted], [2n, "web", "", true]);
    assert.deepEqual(agent.fake.removals, [{ name: "web", prune: true }]);
    assert.deepEqual((await agent.persisted()).apps, {});
    assert.equal((await agent.persisted()).identity?.lastAppliedSeq, 2);
    const report = await connection.next("appStatus");
    assert.deepEqual([report.app, report.removed], ["web", true]);
  });

  it("reports each app's latest status once a burst settles", { timeout }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const agent = await useAgent(t, hub);
    const { connection } = await welcome(hub);
    agent.feed.publish(status("web", "Progressing"));
    agent.feed.publish(status("api", "Degraded"));
    agent.feed.publish(status("web", "Healthy"));
    const reports = [await connection.next("appStatus"), await connection.next("appStatus")];
    assert.deepEqual(
      reports.map((r) => [r.app, r.healthStatus]),
      [
        ["web", HealthStatus.HEALTHY],
        ["api", HealthStatus.DEGRADED],
      ],
    );
    // Nothing else was queued for web: the next report is the one published now.
    agent.feed.removed("web");
    const next = await connection.next("appStatus");
    assert.deepEqual([next.app, next.removed], ["web", true]);
  });

  it("runs a sync command and tags its operation with the request id", { timeout }, async (t) => {
    const hub = await useFakeHub(t, tls);
    await useAgent(t, hub);
    const { connection } = await welcome(hub);
    await connection.send({ body: { case: "sync", value: { requestId: "req-1", app: "web" } } });
    const report = await connection.next("appStatus");
    assert.equal(report.operation?.requestId, "req-1");
    assert.equal(report.operation?.phase, OperationPhase.SUCCEEDED);

    await connection.send({
      body: { case: "sync", value: { requestId: "req-2", app: "web", dryRun: true } },
    });
    const refused = await connection.next("appStatus");
    assert.deepEqual(
      [refused.operation?.requestId, refused.operation?.phase],
      ["req-2", OperationPhase.ERROR],
    );
    assert.match(refused.operation?.message ?? "", /dry-run/);
  });

  it("sends heartbeats at the interval the hub asks for", { timeout }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const agent = await useAgent(t, hub);
    const { connection } = await welcome(hub, { heartbeatIntervalMs: 20 });
    await upsert(connection, 4n, desiredApp("web", "1").message);
    await connection.next("ack");
    agent.fake.statuses.set("web", status("web", "Healthy"));
    for (;;) {
      const beat = await connection.next("heartbeat");
      if (beat.lastAppliedSeq !== 4n || beat.counts?.healthy !== 1) continue;
      assert.equal(beat.counts.total, 1);
      assert.equal(beat.counts.synced, 1);
      assert.ok(beat.sentAt);
      break;
    }
  });

  it("reconnects after the hub drops the stream and says hello with what it persisted", {
    timeout,
  }, async (t) => {
    const hub = await useFakeHub(t, tls);
    await useAgent(t, hub);
    const first = await welcome(hub);
    await upsert(first.connection, 6n, desiredApp("web", "1").message);
    await first.connection.next("ack");
    first.connection.end();

    const second = await welcome(hub);
    assert.deepEqual(
      second.hello.held.map((h) => [h.app, h.digest, h.seq]),
      [["web", "sha256:web-1", 6n]],
    );
    assert.equal(second.hello.lastAppliedSeq, 6n);
  });

  it("dials the hub at every retry while it is unreachable and is back at the first retry after", {
    timeout,
  }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const gate = await useGate(t, hub.grpcAddress);
    await useAgent(t, hub, { identity: { grpcAddress: gate.address } });
    // The agent retries every 10-50 ms; a grpc-js channel left to itself would dial 1 s, 1.6 s,
    // 2.6 s, ... apart and fail the retries in between without dialling.
    const deadline = Date.now() + 5_000;
    while (gate.dropped() < 20) {
      assert.ok(Date.now() < deadline, `only ${gate.dropped()} dials in 5 s of retries`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    gate.open();
    const openedAt = Date.now();
    await welcome(hub);
    assert.ok(Date.now() - openedAt < 3_000, `back ${Date.now() - openedAt} ms after the hub was reachable`);
  });

  it("uses a rotated credential from the next stream on, and forgets seqs on a seq reset", {
    timeout,
  }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const agent = await useAgent(t, hub);
    const first = await welcome(hub);
    await upsert(first.connection, 6n, desiredApp("web", "1").message);
    await first.connection.next("ack");
    hub.credentials.add("cred-2");
    await first.connection.send({ body: { case: "credentialRotation", value: { credential: "cred-2" } } });
    await first.connection.send({ body: { case: "removal", value: { seq: 7n, app: "gone" } } });
    await first.connection.next("ack"); // handled after the rotation: it is persisted
    assert.equal((await agent.persisted()).identity?.credential, "cred-2");
    first.connection.end();

    const second = await welcome(hub, { seqReset: true });
    assert.equal(second.connection.authorization, "Bearer cred-2");
    // After the reset an upsert with a low seq is applied, not ignored as a resend.
    await upsert(second.connection, 1n, desiredApp("web", "2").message);
    const ack = await second.connection.next("ack");
    assert.deepEqual([ack.seq, ack.accepted], [1n, true]);
    const state = await agent.persisted();
    assert.equal(state.apps.web?.desired.digest, "sha256:web-2");
    assert.equal(state.apps.web?.seq, 1);
    assert.equal(state.identity?.lastAppliedSeq, 1);
  });

  it("tells when the Welcome's backlog is persisted, once per stream", { timeout }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const calls: { resume: { latestSeq: bigint; backlog: number }; apps: string[] }[] = [];
    let persisted: () => Promise<AgentState> = async () => ({ apps: {} });
    const called = createSignals();
    const agent = await useAgent(t, hub, {
      onCaughtUp(resume) {
        // Nothing else arrives after the backlog, so this read shows what was on disk at the call.
        void persisted().then((state) => {
          calls.push({ resume, apps: Object.keys(state.apps).sort() });
          called.fire();
        });
      },
    });
    persisted = agent.persisted;
    const first = await welcome(hub, { backlog: 2 });
    await upsert(first.connection, 3n, desiredApp("web", "1").message);
    await upsert(first.connection, 4n, desiredApp("api", "1").message);
    await called.next();
    assert.deepEqual(calls, [{ resume: { latestSeq: 10n, backlog: 2 }, apps: ["api", "web"] }]);

    first.connection.end();
    await welcome(hub, { backlog: 0 });
    await called.next();
    assert.deepEqual(calls[1]?.resume, { latestSeq: 10n, backlog: 0 });
  });

  it("sends the status reports still pending when it stops", { timeout }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const caughtUp = createSignals();
    const agent = await useAgent(t, hub, { statusDebounceMs: 60_000, onCaughtUp: () => caughtUp.fire() });
    const { connection } = await welcome(hub);
    await caughtUp.next();
    agent.feed.publish(status("web", "Healthy"));
    agent.stop();
    const report = await connection.next("appStatus");
    assert.deepEqual([report.app, report.healthStatus], ["web", HealthStatus.HEALTHY]);
    await agent.done;
  });

  it("stops, without retrying, when the hub refuses the credential", { timeout }, async (t) => {
    const hub = await useFakeHub(t, tls);
    hub.credentials.clear();
    const agent = await useAgent(t, hub);
    await assert.rejects(
      agent.done,
      /refused cluster edge-1 \(UNAUTHENTICATED: unknown credential\).*join again/,
    );
  });
});

/** Counts calls of `fire`; the n-th `next()` resolves once `fire` was called n times. */
function createSignals() {
  let fired = 0;
  let awaited = 0;
  const waiters = new Map<number, () => void>();
  return {
    fire() {
      fired += 1;
      waiters.get(fired)?.();
    },
    next(timeoutMs = 5_000): Promise<void> {
      awaited += 1;
      const n = awaited;
      if (fired >= n) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`call ${n} did not come within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.set(n, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}

function emptyApp(name: string): DesiredApp {
  return {
    name,
    namespace: "web",
    revision: "rev-1",
    digest: "",
    syncPolicy: { syncOptions: [] },
    ignoreDifferences: [],
    objects: [],
  };
}
