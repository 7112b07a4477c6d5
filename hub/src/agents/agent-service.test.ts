import * as assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  type AgentMessageSchema,
  AgentService,
  type HubMessage,
} from "@flotilla/proto/gen/flotilla/v1/agent_pb";
import { HealthStatus, SyncStatus } from "@flotilla/proto/gen/flotilla/v1/app_pb";
import {
  addService,
  bindServer,
  type Client,
  closeClient,
  createClient,
  createServer,
  credentials,
  type GrpcCode,
  GrpcError,
  type Server,
  ServerCredentials,
  stopServer,
} from "@flotilla/proto/grpc";
import { createTestTls, type TestTls } from "@flotilla/proto/test-tls";
import { generateToken, parseToken } from "../auth/tokens.js";
import type { Bus } from "../bus/bus.js";
import { createLocalBus } from "../bus/create-local-bus.js";
import { createHubMetrics, type HubMetrics } from "../metrics/hub-metrics.js";
import { openStore } from "../store/open-store.js";
import type { NewBootstrapToken, Store, TargetInput } from "../store/store.js";
import { type AgentServiceHandlers, createAgentService } from "./agent-service.js";

const timeout = 30_000;
const waitMs = 10_000;

let tls: TestTls;
let dataDir: string;
let store: Store;
let bus: Bus;
let service: AgentServiceHandlers;
let metrics: HubMetrics;
let server: Server;
let client: Client<typeof AgentService>;

before(async () => {
  tls = await createTestTls();
  dataDir = await mkdtemp(join(tmpdir(), "flotilla-agent-service-"));
  store = await openStore({ kind: "pglite", dataDir });
  bus = createLocalBus();
  metrics = createHubMetrics({ defaultMetrics: false });
  service = createAgentService({
    store,
    bus,
    hubVersion: "0.1.0-test",
    heartbeatIntervalMs: 10_000,
    maxMessageBytes: 4 * 1024 * 1024,
    metrics: metrics.agents,
  });
  metrics.observe({ agents: service });
  server = createServer({ maxReceiveMessageBytes: 4 * 1024 * 1024 });
  addService(server, AgentService, service);
  const keyCertPairs = [{ cert_chain: Buffer.from(tls.certPem), private_key: Buffer.from(tls.keyPem) }];
  const port = await bindServer(
    server,
    "localhost:0",
    ServerCredentials.createSsl(null, keyCertPairs, false),
  );
  client = createClient(AgentService, `localhost:${port}`, credentials.createSsl(Buffer.from(tls.caPem)));
});

after(async () => {
  closeClient(client);
  await service.close();
  await stopServer(server);
  await bus.close();
  await store.close();
  await rm(dataDir, { recursive: true, force: true });
});

/** A bootstrap token created through the store; returns its text. */
async function createBootstrapToken(options: Omit<NewBootstrapToken, "id" | "secret"> = {}): Promise<string> {
  const text = generateToken("bootstrap");
  const parsed = parseToken(text);
  assert.ok(parsed);
  await store.bootstrapTokens.create({ id: parsed.id, secret: parsed.secret, ...options });
  return text;
}

let clusterCount = 0;

/** Registers a new cluster through the RPC; returns its name, id and credential. */
async function registerCluster(labels: Record<string, string> = {}) {
  clusterCount += 1;
  const name = `edge-${clusterCount}`;
  const response = await client.register({
    bootstrapToken: await createBootstrapToken(),
    clusterName: name,
    clusterUid: `uid-${clusterCount}`,
    labels,
  });
  return { name, id: response.clusterId, credential: response.credential };
}

function isGrpcError(code: GrpcCode, details?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof GrpcError, `expected a GrpcError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (details) assert.match(error.details, details);
    return true;
  };
}

/** Resolves with `promise`, or rejects once `ms` passed. */
function withDeadline<T>(promise: Promise<T>, what: string, ms = waitMs): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Polls `check` until it returns a value other than undefined or false, failing after the deadline. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${waitMs} ms`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** An agent's Connect stream, cancelled when the test ends. */
function useStream(t: TestContext, credential: string | undefined) {
  const stream = client.connect(credential ? { metadata: { authorization: `Bearer ${credential}` } } : {});
  t.after(() => stream.cancel());
  const messages = stream[Symbol.asyncIterator]();
  return {
    send: (message: MessageInitShape<typeof AgentMessageSchema>) => stream.send(message),
    /** The next hub message; fails when the stream ends first. */
    async receive(): Promise<HubMessage> {
      const next = await withDeadline(messages.next(), "hub message");
      if (next.done) throw new Error("the hub ended the stream");
      return next.value;
    },
    /** The status the stream ends with. */
    async ended(): Promise<unknown> {
      try {
        for (let next = await withDeadline(messages.next(), "stream end"); !next.done; ) {
          next = await withDeadline(messages.next(), "stream end");
        }
        return undefined;
      } catch (error) {
        return error;
      }
    },
    end: () => stream.end(),
  };
}

function hello(
  clusterName: string,
  held: { app: string; digest: string; seq: bigint; bundleDigest: string }[] = [],
) {
  // Math.max does not take bigints.
  let lastAppliedSeq = 0n;
  for (const entry of held) if (entry.seq > lastAppliedSeq) lastAppliedSeq = entry.seq;
  return { body: { case: "hello", value: { clusterName, held, lastAppliedSeq } } } as const;
}

function target(app: string, digest: string, bundleDigest: string): TargetInput {
  return {
    app,
    digest,
    bundleDigest,
    desired: { namespace: "default", project: "default", revision: "abc123" },
  };
}

/** A plain Uint8Array of `bytes`: grpc-js hands over Buffers, which deepEqual tells apart. */
function copyBytes(bytes: Uint8Array | undefined): Uint8Array | undefined {
  return bytes && new Uint8Array(bytes);
}

async function putBundle(digest: string, text: string): Promise<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  await store.bundles.put({ digest, encoding: "json", bytes, objectCount: 1 });
  return bytes;
}

describe("AgentService.Register", () => {
  it("exchanges a bootstrap token for a credential and the token's labels", { timeout }, async () => {
    const token = await createBootstrapToken({ labels: { env: "prod" } });
    const response = await client.register({
      bootstrapToken: token,
      clusterName: "register-ok",
      clusterUid: "uid-register-ok",
      labels: { env: "dev", region: "eu" },
    });
    assert.equal(response.clusterName, "register-ok");
    assert.notEqual(response.clusterId, "");
    assert.equal(parseToken(response.credential)?.kind, "cluster");
    assert.deepEqual(response.labels, { env: "prod", region: "eu" });
    assert.equal(response.hubVersion, "0.1.0-test");
    const { events } = await store.events.list({ clusterId: response.clusterId });
    assert.deepEqual(
      events.map((event) => event.type),
      ["cluster-registered"],
    );
  });

  const refusals: [string, () => Promise<string>, RegExp][] = [
    ["an unknown", async () => generateToken("bootstrap"), /unknown/],
    ["an expired", () => createBootstrapToken({ expiresAt: new Date(Date.now() - 60_000) }), /expired/],
    [
      "a used-up",
      async () => {
        const token = await createBootstrapToken({ maxUses: 1 });
        await client.register({
          bootstrapToken: token,
          clusterName: "first-use",
          clusterUid: "uid-first-use",
        });
        return token;
      },
      /no uses left/,
    ],
    [
      "a revoked",
      async () => {
        const token = await createBootstrapToken();
        await store.bootstrapTokens.revoke(parseToken(token)?.id ?? "");
        return token;
      },
      /revoked/,
    ],
  ];
  for (const [reason, makeToken, details] of refusals) {
    const slug = reason.replace(/^an? /, "");
    it(`refuses ${reason} token with UNAUTHENTICATED, without echoing it`, { timeout }, async () => {
      const token = await makeToken();
      const error = await client
        .register({
          bootstrapToken: token,
          clusterName: `refused-${slug}`,
          clusterUid: `uid-refused-${slug}`,
        })
        .then(
          () => undefined,
          (caught: unknown) => caught,
        );
      assert.ok(isGrpcError("UNAUTHENTICATED", details)(error));
      assert.ok(error instanceof GrpcError);
      assert.equal(error.details.includes(parseToken(token)?.secret ?? "?"), false);
      assert.equal(await store.clusters.getByName(`refused-${slug}`), undefined);
    });
  }

  it("refuses a name that belongs to another cluster with ALREADY_EXISTS", { timeout }, async () => {
    const { name } = await registerCluster();
    await assert.rejects(
      client.register({
        bootstrapToken: await createBootstrapToken(),
        clusterName: name,
        clusterUid: "uid-other",
      }),
      isGrpcError("ALREADY_EXISTS", /belongs to another cluster/),
    );
  });
});

describe("AgentService.Connect", () => {
  it("refuses a stream without a credential with UNAUTHENTICATED", { timeout }, async (t) => {
    const stream = useStream(t, undefined);
    await stream.send(hello("nobody")).catch(() => {});
    assert.ok(isGrpcError("UNAUTHENTICATED", /missing bearer/)(await stream.ended()));
  });

  it("refuses a stream with a wrong credential with UNAUTHENTICATED", { timeout }, async (t) => {
    const { name, credential } = await registerCluster();
    const wrong = `${credential.slice(0, -4)}zzzz`;
    const stream = useStream(t, wrong);
    await stream.send(hello(name)).catch(() => {});
    assert.ok(isGrpcError("UNAUTHENTICATED")(await stream.ended()));
  });

  it("refuses a Hello for another cluster with PERMISSION_DENIED", { timeout }, async (t) => {
    const { credential } = await registerCluster();
    const stream = useStream(t, credential);
    await stream.send(hello("someone-else"));
    assert.ok(isGrpcError("PERMISSION_DENIED", /someone-else/)(await stream.ended()));
  });

  it("answers Hello with Welcome and the backlog, omitting bundles the agent holds", {
    timeout,
  }, async (t) => {
    const cluster = await registerCluster();
    const webBytes = await putBundle("b-web", '[{"kind":"ConfigMap"}]');
    await putBundle("b-api", '[{"kind":"Secret"}]');
    await store.targets.apply(cluster.id, [target("web", "d-web", "b-web"), target("api", "d-api", "b-api")]);
    const stream = useStream(t, cluster.credential);

    await stream.send(
      hello(cluster.name, [{ app: "other", digest: "d-other", seq: 0n, bundleDigest: "b-api" }]),
    );

    const welcome = await stream.receive();
    assert.equal(welcome.body.case, "welcome");
    assert.equal(welcome.body.value?.clusterId, cluster.id);
    assert.equal(welcome.body.value?.heartbeatIntervalMs, 10_000);
    assert.deepEqual(
      { ...welcome.body.value?.resume, $typeName: undefined },
      { $typeName: undefined, latestSeq: 2n, backlog: 3, seqReset: false },
    );
    const backlog = [await stream.receive(), await stream.receive(), await stream.receive()];
    const summary = backlog.map((message) =>
      message.body.case === "upsert"
        ? `upsert ${message.body.value.seq} ${message.body.value.app?.name} bundle=${message.body.value.app?.bundle !== undefined}`
        : `${message.body.case} ${message.body.case === "removal" ? message.body.value.app : ""}`,
    );
    const webSeq = (await store.targets.list(cluster.id)).find((entry) => entry.app === "web")?.seq;
    assert.equal(summary.length, 3);
    assert.ok(summary.includes(`upsert ${webSeq} web bundle=true`), summary.join("; "));
    assert.ok(
      summary.some((line) => /^upsert \d+ api bundle=false$/.test(line)),
      summary.join("; "),
    );
    assert.ok(summary.includes("removal other"), summary.join("; "));
    const web = backlog.find(
      (message) => message.body.case === "upsert" && message.body.value.app?.name === "web",
    );
    assert.deepEqual(
      copyBytes(web?.body.case === "upsert" ? web.body.value.app?.bundle : undefined),
      webBytes,
    );
    assert.equal(web?.body.case === "upsert" ? web.body.value.app?.namespace : undefined, "default");
    assert.equal((await store.clusters.get(cluster.id))?.state, "Connected");
  });

  it("persists acks, so a reconnect holding the acked digests gets an empty backlog", {
    timeout,
  }, async (t) => {
    const cluster = await registerCluster();
    await putBundle("b-ack", "[]");
    await store.targets.apply(cluster.id, [target("web", "d-ack", "b-ack")]);
    const first = useStream(t, cluster.credential);
    await first.send(hello(cluster.name));
    assert.equal((await first.receive()).body.case, "welcome");
    const upsert = await first.receive();
    assert.equal(upsert.body.case, "upsert");
    const seq = upsert.body.case === "upsert" ? upsert.body.value.seq : 0n;
    await first.send({ body: { case: "ack", value: { seq, app: "web", digest: "d-ack", accepted: true } } });
    await waitFor("ack stored", async () => (await store.targets.listUnacked(cluster.id)).length === 0);
    first.end();
    assert.equal(await first.ended(), undefined);
    await waitFor(
      "Disconnected",
      async () => (await store.clusters.get(cluster.id))?.state === "Disconnected",
    );

    const second = useStream(t, cluster.credential);
    await second.send(hello(cluster.name, [{ app: "web", digest: "d-ack", seq, bundleDigest: "b-ack" }]));
    const welcome = await second.receive();
    assert.equal(welcome.body.case === "welcome" ? welcome.body.value.resume?.backlog : -1, 0);
  });

  it("records as acknowledged what the Hello says the agent already holds, when its ack was lost", {
    timeout,
  }, async (t) => {
    const cluster = await registerCluster();
    await putBundle("b-lost", "[]");
    await store.targets.apply(cluster.id, [
      target("web", "d-lost", "b-lost"),
      target("gone", "d-gone", "b-lost"),
    ]);
    await store.targets.apply(cluster.id, [target("web", "d-lost", "b-lost")]);
    const [web] = await store.targets.list(cluster.id);
    assert.ok(web);
    assert.deepEqual((await store.targets.listUnacked(cluster.id)).map((entry) => entry.app).sort(), [
      "gone",
      "web",
    ]);

    // The agent applied web and the removal of gone, but the hub died before storing the acks.
    const stream = useStream(t, cluster.credential);
    await stream.send(
      hello(cluster.name, [{ app: "web", digest: "d-lost", seq: BigInt(web.seq), bundleDigest: "b-lost" }]),
    );
    const welcome = await stream.receive();
    assert.equal(welcome.body.case === "welcome" ? welcome.body.value.resume?.backlog : -1, 0);
    await waitFor("acks recorded", async () => (await store.targets.listUnacked(cluster.id)).length === 0);
    const stored = await store.clusters.get(cluster.id);
    assert.equal(stored?.ackedSeq, stored?.desiredSeq);
  });

  it("measures delivery from upsert to ack and empties the queue once acknowledged", {
    timeout,
  }, async (t) => {
    const metricValue = async (name: string, metricName = name) => {
      const metric = metrics.registry.getSingleMetric(name);
      assert.ok(metric, `no metric ${name}`);
      return (
        (await metric.get()).values.find(
          (value) => ((value as { metricName?: string }).metricName ?? name) === metricName,
        )?.value ?? 0
      );
    };
    const deliveries = () =>
      metricValue("flotilla_hub_delivery_latency_seconds", "flotilla_hub_delivery_latency_seconds_count");
    const cluster = await registerCluster();
    const bundle = await putBundle("b-measured", '[{"kind":"ConfigMap"}]');
    await store.targets.apply(cluster.id, [target("measured", "d-measured", "b-measured")]);
    const before = {
      deliveries: await deliveries(),
      sent: await metricValue("flotilla_hub_desired_apps_sent_total"),
      bytes: await metricValue("flotilla_hub_bundle_bytes_sent_total"),
    };
    const stream = useStream(t, cluster.credential);
    await stream.send(hello(cluster.name));
    assert.equal((await stream.receive()).body.case, "welcome");
    const upsert = await stream.receive();
    assert.equal(upsert.body.case, "upsert");
    const seq = upsert.body.case === "upsert" ? upsert.body.value.seq : 0n;
    assert.equal(await metricValue("flotilla_hub_desired_apps_sent_total"), before.sent + 1);
    assert.equal(await metricValue("flotilla_hub_bundle_bytes_sent_total"), before.bytes + bundle.length);
    assert.ok(service.stats().queuedChanges >= 1, "the unacknowledged upsert counts in the queue depth");
    assert.ok(service.stats().connectedAgents >= 1);
    assert.equal(await deliveries(), before.deliveries);

    await stream.send({
      body: { case: "ack", value: { seq, app: "measured", digest: "d-measured", accepted: true } },
    });
    await waitFor("delivery observed", async () => (await deliveries()) === before.deliveries + 1);
    await waitFor("queue empty", async () => service.stats().queuedChanges === 0);
    assert.match(await metrics.registry.metrics(), /^flotilla_hub_delivery_queue_depth 0$/m);
  });

  it("delivers a change announced on the bus while connected", { timeout }, async (t) => {
    const cluster = await registerCluster();
    const stream = useStream(t, cluster.credential);
    await stream.send(hello(cluster.name));
    const welcome = await stream.receive();
    assert.equal(welcome.body.case === "welcome" ? welcome.body.value.resume?.backlog : -1, 0);

    await putBundle("b-live", '[{"kind":"Deployment"}]');
    const { changed } = await store.targets.apply(cluster.id, [target("live", "d-live", "b-live")]);
    const seq = changed[0]?.seq ?? 0;
    await bus.publish({ type: "targets-changed", clusterId: cluster.id, apps: ["live"], seq: String(seq) });

    const upsert = await stream.receive();
    assert.equal(upsert.body.case, "upsert");
    assert.equal(upsert.body.case === "upsert" ? upsert.body.value.seq : 0n, BigInt(seq));
    assert.equal(upsert.body.case === "upsert" ? upsert.body.value.app?.digest : "", "d-live");
  });

  it("ends the older stream with ABORTED when the cluster connects again", { timeout }, async (t) => {
    const cluster = await registerCluster();
    const first = useStream(t, cluster.credential);
    await first.send(hello(cluster.name));
    assert.equal((await first.receive()).body.case, "welcome");

    const second = useStream(t, cluster.credential);
    await second.send(hello(cluster.name));
    assert.equal((await second.receive()).body.case, "welcome");

    assert.ok(isGrpcError("ABORTED", /newer stream/)(await first.ended()));
    assert.equal((await store.clusters.get(cluster.id))?.state, "Connected");
  });

  it("records cluster-connected when a Disconnected cluster connects again, not on its first connect", {
    timeout,
  }, async (t) => {
    const cluster = await registerCluster();
    const connectedEvents = async () =>
      (await store.events.list({ clusterId: cluster.id, type: "cluster-connected" })).events;
    const first = useStream(t, cluster.credential);
    await first.send(hello(cluster.name));
    assert.equal((await first.receive()).body.case, "welcome");
    assert.deepEqual(await connectedEvents(), []);
    first.end();
    await first.ended();
    await waitFor(
      "cluster Disconnected",
      async () => (await store.clusters.get(cluster.id))?.state === "Disconnected",
    );

    const second = useStream(t, cluster.credential);
    await second.send(hello(cluster.name));
    assert.equal((await second.receive()).body.case, "welcome");
    const [event, ...more] = await connectedEvents();
    assert.deepEqual(more, []);
    assert.match(
      event?.message ?? "",
      new RegExp(`cluster ${cluster.name} connected again; last seen \\d{4}-`),
    );
  });

  it("marks a cluster Connected again when its agent speaks on the open stream after the watchdog marked it Disconnected", {
    timeout,
  }, async (t) => {
    const cluster = await registerCluster();
    const stream = useStream(t, cluster.credential);
    await stream.send(hello(cluster.name));
    assert.equal((await stream.receive()).body.case, "welcome");
    // What the watchdog does to a cluster silent for three heartbeat intervals (a busy hub).
    assert.equal(
      await store.clusters.markDisconnectedIfSilent(cluster.id, new Date(Date.now() + 60_000)),
      true,
    );
    await bus.publish({
      type: "cluster",
      clusterId: cluster.id,
      state: "Disconnected",
      replica: "watchdog",
      at: new Date().toISOString(),
    });

    // The bus delivers the event a little later; heartbeat until the stream has seen it.
    await waitFor("cluster Connected again", async () => {
      await stream.send({ body: { case: "heartbeat", value: {} } });
      await new Promise((resolve) => setTimeout(resolve, 20));
      return (await store.clusters.get(cluster.id))?.state === "Connected";
    });
    const { events } = await store.events.list({ clusterId: cluster.id, type: "cluster-connected" });
    assert.equal(events.length, 1);
    assert.match(events[0]?.message ?? "", /spoke again on its open stream/);
  });

  it("records heartbeats of many clusters as their last-seen time, gathered into one write", {
    timeout,
  }, async (t) => {
    const registered = [await registerCluster(), await registerCluster(), await registerCluster()];
    const streams = registered.map((cluster) => useStream(t, cluster.credential));
    for (const [i, stream] of streams.entries()) {
      await stream.send(hello(registered[i]?.name ?? ""));
      assert.equal((await stream.receive()).body.case, "welcome");
    }
    const before = new Date();
    await new Promise((resolve) => setTimeout(resolve, 5));
    const calls: number[] = [];
    const markSeenMany = store.clusters.markSeenMany;
    store.clusters.markSeenMany = (ids, at) => {
      calls.push(ids.length);
      return markSeenMany(ids, at);
    };
    t.after(() => {
      store.clusters.markSeenMany = markSeenMany;
    });
    for (const stream of streams) await stream.send({ body: { case: "heartbeat", value: {} } });
    await waitFor("last-seen times written", async () => {
      const seen = await Promise.all(registered.map((cluster) => store.clusters.get(cluster.id)));
      return seen.every((cluster) => (cluster?.lastSeenAt?.getTime() ?? 0) > before.getTime());
    });
    // Streams of earlier tests may beat in the same second: their clusters join the write.
    assert.equal(calls.length, 1, `one write for the three heartbeats, not ${calls.length}`);
    assert.ok((calls[0] ?? 0) >= 3, `${calls[0]} clusters in it`);
  });

  it("reads on while a stream's status reports are written, so they share group writes", {
    timeout,
  }, async (t) => {
    const cluster = await registerCluster();
    const stream = useStream(t, cluster.credential);
    await stream.send(hello(cluster.name));
    assert.equal((await stream.receive()).body.case, "welcome");
    let upserts = 0;
    const upsertMany = store.statuses.upsertMany;
    // A slow store: the reports that arrive while one write is under way must join the next.
    store.statuses.upsertMany = async (statuses) => {
      if (statuses.some((status) => status.clusterId === cluster.id)) upserts += 1;
      await new Promise((resolve) => setTimeout(resolve, 20));
      return upsertMany(statuses);
    };
    t.after(() => {
      store.statuses.upsertMany = upsertMany;
    });
    const reports = 40;
    await Promise.all(
      Array.from({ length: reports }, (_, index) =>
        stream.send({
          body: {
            case: "appStatus",
            value: {
              app: `app-${index % 10}`,
              digest: "d1",
              revision: `r${index}`,
              syncStatus: SyncStatus.SYNCED,
              healthStatus: index >= 30 ? HealthStatus.HEALTHY : HealthStatus.PROGRESSING,
            },
          },
        }),
      ),
    );
    await waitFor("every report stored", async () => {
      const statuses = await store.statuses.list(cluster.id);
      return statuses.length === 10 && statuses.every((status) => status.health === "Healthy");
    });
    assert.equal((await store.statuses.get(cluster.id, "app-3"))?.revision, "r33", "the last report wins");
    // Awaiting each report before reading the next took one write per report.
    assert.ok(upserts <= reports / 4, `${reports} reports in ${upserts} writes`);
  });

  it("stores app statuses and answers bundle requests", { timeout }, async (t) => {
    const cluster = await registerCluster();
    const bytes = await putBundle("b-req", '[{"kind":"Service"}]');
    const stream = useStream(t, cluster.credential);
    await stream.send(hello(cluster.name));
    assert.equal((await stream.receive()).body.case, "welcome");

    await stream.send({
      body: {
        case: "appStatus",
        value: {
          app: "web",
          digest: "d1",
          revision: "abc",
          syncStatus: SyncStatus.SYNCED,
          healthStatus: HealthStatus.DEGRADED,
          healthMessage: "crash loop",
        },
      },
    });
    const status = await waitFor("status stored", () => store.statuses.get(cluster.id, "web"));
    assert.deepEqual(
      [status.sync, status.health, status.healthMessage],
      ["Synced", "Degraded", "crash loop"],
    );

    await stream.send({ body: { case: "bundleRequest", value: { digests: ["b-req", "b-missing"] } } });
    const found = await stream.receive();
    const missing = await stream.receive();
    assert.deepEqual(copyBytes(found.body.case === "bundle" ? found.body.value.data : undefined), bytes);
    assert.match(missing.body.case === "bundle" ? missing.body.value.error : "", /b-missing is not stored/);
  });

  it("sends a bundle over the message limit without bytes in the upsert, then in ordered slices", {
    timeout,
  }, async (t) => {
    const cluster = await registerCluster();
    const big = new Uint8Array(9 * 1024 * 1024).map((_, index) => index % 251);
    await store.bundles.put({ digest: "b-big", encoding: "json", bytes: big, objectCount: 1 });
    await store.targets.apply(cluster.id, [target("big", "d-big", "b-big")]);
    const stream = useStream(t, cluster.credential);
    await stream.send(hello(cluster.name));
    assert.equal((await stream.receive()).body.case, "welcome");
    const upsert = await stream.receive();
    assert.equal(upsert.body.case, "upsert");
    assert.equal(upsert.body.case === "upsert" ? upsert.body.value.app?.bundle : "x", undefined);

    await stream.send({ body: { case: "bundleRequest", value: { digests: ["b-big"] } } });
    const parts: Uint8Array[] = [];
    let total = 0n;
    for (let received = 0; total === 0n || received < Number(total); ) {
      const message = await stream.receive();
      assert.equal(message.body.case, "bundle");
      if (message.body.case !== "bundle") break;
      assert.equal(message.body.value.offset, BigInt(received), "slices arrive in order");
      assert.ok(
        message.body.value.data.length < 4 * 1024 * 1024,
        "every slice fits the agent's receive limit",
      );
      total = message.body.value.totalSize;
      parts.push(copyBytes(message.body.value.data) ?? new Uint8Array());
      received += message.body.value.data.length;
    }
    assert.ok(parts.length >= 3, `${parts.length} slices`);
    assert.deepEqual(new Uint8Array(Buffer.concat(parts)), big);
  });

  it("coalesces changes for a slow agent: only the latest state of each app goes out", {
    timeout,
  }, async (t) => {
    const cluster = await registerCluster();
    await putBundle("b-slow", "[]");
    const stream = useStream(t, cluster.credential);
    await stream.send(hello(cluster.name));
    assert.equal((await stream.receive()).body.case, "welcome");
    // The agent reads nothing while 200 changes of one app land; none is acknowledged.
    for (let version = 1; version <= 200; version++) {
      const result = await store.targets.apply(cluster.id, [target("busy", `d-${version}`, "b-slow")]);
      await bus.publish({
        type: "targets-changed",
        clusterId: cluster.id,
        apps: ["busy"],
        seq: String(result.changed[0]?.seq ?? 0),
      });
    }
    const received: string[] = [];
    for (;;) {
      const message = await stream.receive();
      if (message.body.case !== "upsert") continue;
      const digest = message.body.value.app?.digest ?? "";
      received.push(digest);
      await stream.send({
        body: { case: "ack", value: { app: "busy", seq: message.body.value.seq, digest, accepted: true } },
      });
      if (digest === "d-200") break;
    }
    assert.ok(received.length < 20, `coalesced to ${received.length} upserts, not 200`);
    assert.equal(received.at(-1), "d-200");
  });

  it("sends pending sync requests after Welcome and acknowledges them from the operation status", {
    timeout,
  }, async (t) => {
    const cluster = await registerCluster();
    await store.syncRequests.add({
      clusterId: cluster.id,
      app: "web",
      requestId: "req-1",
      prune: true,
      requestedBy: "alice",
    });
    const stream = useStream(t, cluster.credential);
    await stream.send(hello(cluster.name));
    assert.equal((await stream.receive()).body.case, "welcome");
    const sync = await stream.receive();
    assert.equal(sync.body.case, "sync");
    assert.deepEqual(
      sync.body.case === "sync"
        ? [sync.body.value.requestId, sync.body.value.prune, sync.body.value.requestedBy]
        : [],
      ["req-1", true, "alice"],
    );
    await stream.send({
      body: {
        case: "appStatus",
        value: {
          app: "web",
          syncStatus: SyncStatus.SYNCED,
          healthStatus: HealthStatus.HEALTHY,
          operation: { requestId: "req-1", phase: 2 },
        },
      },
    });
    await waitFor(
      "sync request acknowledged",
      async () => (await store.syncRequests.listPending(cluster.id)).length === 0,
    );

    // A request made while connected goes out at once.
    await store.syncRequests.add({ clusterId: cluster.id, app: "web", requestId: "req-2" });
    await bus.publish({ type: "sync-request", clusterId: cluster.id, app: "web", requestId: "req-2" });
    const live = await stream.receive();
    assert.equal(live.body.case === "sync" ? live.body.value.requestId : "", "req-2");
  });

  it("rotates the credential over the stream; the old one keeps working only for the grace period", {
    timeout,
  }, async (t) => {
    const cluster = await registerCluster();
    const stream = useStream(t, cluster.credential);
    await stream.send(hello(cluster.name));
    assert.equal((await stream.receive()).body.case, "welcome");
    await bus.publish({ type: "rotate-credential", clusterId: cluster.id, requestId: "rot-1", graceMs: 0 });
    const rotation = await stream.receive();
    assert.equal(rotation.body.case, "credentialRotation");
    const next = rotation.body.case === "credentialRotation" ? rotation.body.value.credential : "";
    const parsedNext = parseToken(next);
    assert.equal(parsedNext?.kind, "cluster");
    assert.deepEqual(await store.credentials.verify(parsedNext?.id ?? "", parsedNext?.secret ?? ""), {
      ok: true,
      clusterId: cluster.id,
    });
    const old = parseToken(cluster.credential);
    await waitFor(
      "old credential retired",
      async () => !(await store.credentials.verify(old?.id ?? "", old?.secret ?? "")).ok,
    );
  });

  it("prunes on removal only when the app's last policy had automated prune", { timeout }, async (t) => {
    const cluster = await registerCluster();
    await putBundle("b-rm", "[]");
    const withPrune: TargetInput = {
      ...target("pruned", "d-p", "b-rm"),
      desired: { syncPolicy: { automated: { prune: true } } },
    };
    const without: TargetInput = {
      ...target("kept", "d-k", "b-rm"),
      desired: { syncPolicy: { automated: { prune: false } } },
    };
    await store.targets.apply(cluster.id, [withPrune, without]);
    const stream = useStream(t, cluster.credential);
    await stream.send(hello(cluster.name));
    assert.equal((await stream.receive()).body.case, "welcome");
    for (let i = 0; i < 2; i++) {
      const upsert = await stream.receive();
      if (upsert.body.case === "upsert")
        await stream.send({
          body: {
            case: "ack",
            value: { app: upsert.body.value.app?.name ?? "", seq: upsert.body.value.seq, accepted: true },
          },
        });
    }
    const result = await store.targets.apply(cluster.id, []);
    await bus.publish({
      type: "targets-changed",
      clusterId: cluster.id,
      apps: ["pruned", "kept"],
      seq: String(result.removed.at(-1)?.seq ?? 0),
    });
    const prune = new Map<string, boolean>();
    while (prune.size < 2) {
      const message = await stream.receive();
      if (message.body.case === "removal") prune.set(message.body.value.app, message.body.value.prune);
    }
    assert.deepEqual(Object.fromEntries(prune), { pruned: true, kept: false });
  });

  it("ends the stream of a cluster that was removed from the hub", { timeout }, async (t) => {
    const cluster = await registerCluster();
    const stream = useStream(t, cluster.credential);
    await stream.send(hello(cluster.name));
    assert.equal((await stream.receive()).body.case, "welcome");
    await store.clusters.remove(cluster.id);
    await bus.publish({ type: "cluster-changed", clusterId: cluster.id });
    assert.ok(isGrpcError("UNAUTHENTICATED", /was removed from the hub/)(await stream.ended()));
  });
});
