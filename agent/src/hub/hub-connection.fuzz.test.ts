// Fuzz tests of the agent's end of the Connect stream: a fake hub (real gRPC over TLS) sends random
// but well-typed HubMessages built from the proto schema (upserts with random apps, seqs and
// bundle bytes, removals, sync commands, bundles and slices, credential rotations, extra
// Welcomes, empty messages) to an agent with the real hub connection, sink and file state store.
// A second test answers Connect with random bytes instead of HubMessages (the gRPC client's
// deserializer at work). After each batch of messages the hub sends a valid upsert: the agent must persist and acknowledge it (on
// the same stream, or on the one it opens after dropping a bad one), never stop, never reject
// unhandled, never log its credential, and leave a state store that loads.
// fast-check prints the seed of a failing run.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { type Ack, HubMessageSchema } from "@flotilla/proto/gen/flotilla/v1/agent_pb";
import { createTestTls, type TestTls } from "@flotilla/proto/test-tls";
import { messageArbitraries } from "@flotilla/proto/testing/message-arbitrary";
import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import type { DesiredApp } from "../desired/desired-app.js";
import { type AgentState, createFileStateStore, type HubIdentity } from "../desired/state-store.js";
import type { AppStatus } from "../reconcile/app-status.js";
import { createReconcilerSink, createStatusFeed, type ReconcilerPort } from "./create-reconciler-sink.js";
import { type FakeConnection, type FakeHub, useFakeHub } from "./fake-hub.js";
import { connectToHub } from "./hub-connection.js";
import { createHubStateStore, type HubStateStore } from "./hub-state-store.js";

const timeout = 300_000;
/** How long the agent may take to acknowledge the probe on a slow, shared machine. */
const PROBE_MS = 15_000;

// ---- Random messages from a protobuf schema ----

const HOSTILE_STRINGS = [
  "",
  "\u0000",
  "a\nb",
  "__proto__",
  "constructor",
  "toString",
  "web",
  "sha256:x",
  "é🚀",
];
const hostileString = fc.oneof(
  { arbitrary: fc.string({ maxLength: 12 }), weight: 4 },
  fc.constantFrom(...HOSTILE_STRINGS),
);

/** Seqs are biased small, so that random upserts and acks hit the seqs the agent holds. */
const arbitraries = messageArbitraries(fc, { string: hostileString, maxBytes: 48, smallUnsigned: true });

/** Mostly upserts, removals and syncs with random content; every kind of message now and then. */
const hubMessage = arbitraries.message(HubMessageSchema);

// ---- The agent under test ----

/** A reconciler stand-in with the persistence behaviour of the real one: whole-state saves. */
function createMemoryReconciler(store: HubStateStore, feed: ReturnType<typeof createStatusFeed>) {
  let state: AgentState = { apps: {} };
  const statuses = new Map<string, AppStatus>();
  const held = (name: string) => (Object.hasOwn(state.apps, name) ? state.apps[name] : undefined);
  const port: ReconcilerPort & { start(): Promise<void> } = {
    async start() {
      state = await store.load();
    },
    async upsert(app: DesiredApp) {
      if (held(app.name)?.desired.digest === app.digest) return;
      state.apps[app.name] = { desired: app, inventory: [] };
      await store.save(state);
    },
    async remove(name) {
      if (!held(name)) return;
      delete state.apps[name];
      statuses.delete(name);
      await store.save(state);
      feed.removed(name);
    },
    async sync(name) {
      if (!held(name)) return undefined;
      const status: AppStatus = {
        name,
        digest: held(name)?.desired.digest ?? "",
        revision: "r",
        sync: "Synced",
        health: "Healthy",
        healthMessage: "",
        resources: [],
        conditions: [],
        operation: { phase: "Succeeded", message: "", revision: "r", startedAt: new Date().toISOString() },
      };
      statuses.set(name, status);
      return status;
    },
    statuses: () => [...statuses.values()],
  };
  return port;
}

function probeApp(name: string) {
  const json = Buffer.from(
    JSON.stringify([{ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "web" } }]),
  );
  return {
    name,
    namespace: "web",
    digest: `sha256:${name}`,
    bundleDigest: `sha256:${createHash("sha256").update(json).digest("hex")}`,
    bundleEncoding: "gzip+json",
    bundle: gzipSync(json),
  };
}

let tls: TestTls;
before(async () => {
  tls = await createTestTls();
});

describe("reliability: fuzz", () => {
  it("random hub messages never stop or crash the agent: it acknowledges a valid upsert after every batch", {
    timeout,
  }, async (t) => {
    const hub: FakeHub = await useFakeHub(t, tls);
    const dir = await mkdtemp(join(tmpdir(), "flotilla-hub-connection-fuzz-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, "state.json.gz");
    const identity: HubIdentity = {
      clusterName: "edge-1",
      hubUrl: hub.hubUrl,
      credential: "cred-1",
      caHash: "sha256:unused",
      caCertPem: tls.caPem,
      grpcAddress: hub.grpcAddress,
    };
    await createFileStateStore(path).save({ identity, apps: {} });
    const store = createHubStateStore(createFileStateStore(path));
    const feed = createStatusFeed();
    const reconciler = createMemoryReconciler(store, feed);
    await reconciler.start();
    const logs: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    t.after(() => process.off("unhandledRejection", onUnhandled));
    const controller = new AbortController();
    let settled: { error?: unknown } | undefined;
    const done = connectToHub({
      identity,
      sink: createReconcilerSink(reconciler, store, feed),
      signal: controller.signal,
      statusDebounceMs: 5,
      bundleTimeoutMs: 300,
      backoff: { initialMs: 5, factor: 1, maxMs: 20 },
      log: (level, message, fields) => logs.push({ level, message, ...(fields ? { fields } : {}) }),
    }).then(
      () => {
        settled = {};
      },
      (error: unknown) => {
        settled = { error };
      },
    );
    t.after(async () => {
      controller.abort();
      await done;
    });

    /** Credentials the hub issued (the fake hub accepts them all). */
    const issued = new Set(["cred-1"]);
    let connection: FakeConnection | undefined;
    let connections = 0;
    // The next stream the agent opens, taken once the current one is found dead. Waits are short
    // and renewed, so that no wait outlives the test by long.
    const takeStream = () => {
      const taken = hub.nextConnection(2_000);
      taken.catch(() => {});
      return taken;
    };
    let upcoming = new Promise<FakeConnection>(() => {});
    const welcome = async (next: FakeConnection) => {
      await next.next("hello", PROBE_MS);
      await next.send({
        body: {
          case: "welcome",
          value: {
            clusterName: "edge-1",
            heartbeatIntervalMs: 60_000,
            resume: { latestSeq: 0n, backlog: 0 },
          },
        },
      });
      connections += 1;
      connection = next;
      upcoming = takeStream();
    };
    await welcome(await hub.nextConnection(PROBE_MS));

    /** Sends a valid upsert of a new app and waits for its ack, following the agent to a new stream. */
    let probes = 0;
    const probe = async (): Promise<Ack> => {
      probes += 1;
      const name = `probe-${probes}`;
      const message = {
        body: { case: "upsert", value: { seq: BigInt(probes), app: probeApp(name) } },
      } as const;
      const deadline = Date.now() + PROBE_MS;
      await connection?.send(message).catch(() => {});
      while (Date.now() < deadline) {
        const current = connection;
        const next = await Promise.race([
          (current?.next("ack", 500) ?? Promise.reject(new Error("no stream"))).then(
            (ack) => ({ ack }),
            () => ({}),
          ),
          upcoming.then(
            (stream) => ({ stream }),
            () => {
              upcoming = takeStream();
              return {};
            },
          ),
        ]);
        if ("ack" in next && next.ack) {
          if (next.ack.app === name) return next.ack;
        } else if ("stream" in next && next.stream) {
          await welcome(next.stream);
          await connection?.send(message).catch(() => {});
        }
      }
      const last = logs.at(-1);
      throw new Error(
        `${name}: no ack within ${PROBE_MS} ms (${connections} streams so far); the agent's last log line: ${last?.message} ${JSON.stringify(last?.fields)}`,
      );
    };

    let sent = 0;
    const kinds = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.array(hubMessage, { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        async (messages, drop) => {
          for (const message of messages) {
            const body = message.body as { case?: string; value?: { credential?: unknown } } | undefined;
            kinds.set(body?.case ?? "empty", (kinds.get(body?.case ?? "empty") ?? 0) + 1);
            // The hub issued any credential it rotates to; the fake hub must accept it.
            if (body?.case === "credentialRotation" && typeof body.value?.credential === "string") {
              issued.add(body.value.credential);
              hub.credentials.add(body.value.credential);
            }
            sent += 1;
            await connection?.send(message).catch(() => {});
          }
          // Half the time the hub then ends the stream, so the agent reconnects with what it has now
          // (a rotated credential among it).
          if (drop) connection?.end();
          const ack = await probe();
          assert.equal(ack.accepted, true, ack.error);
          assert.equal(settled, undefined, `the agent stopped: ${String(settled?.error)}`);
          assert.deepEqual(unhandled, []);
        },
      ),
      { numRuns: 120 },
    );

    // The state on disk loads, and every app in it is under its own name.
    const state = await createFileStateStore(path).load();
    for (const [name, record] of Object.entries(state.apps)) assert.equal(record.desired.name, name);
    // No credential reached a log line.
    const logged = JSON.stringify(logs);
    // (A fixed hostile string may also be an app name that is rightly logged, so only random ones count.)
    for (const credential of issued)
      if (credential === "cred-1" || (credential.length >= 10 && !HOSTILE_STRINGS.includes(credential)))
        assert.ok(!logged.includes(credential), "a credential was logged");
    const byKind = [...kinds.entries()].map(([kind, n]) => `${n} ${kind}`).join(", ");
    t.diagnostic(
      `${sent} random hub messages in 120 batches (${byKind}): the agent acknowledged all ${probes} probe upserts, never stopped, 0 unhandled rejections; it reopened its stream ${connections - 1} times; 0 credentials logged`,
    );
  });

  it("random bytes in place of hub messages end the stream with a gRPC error, and the agent keeps reconnecting", {
    timeout,
  }, async (t) => {
    // A hub speaking raw bytes: each Connect gets the payload the property chose, then ends.
    const identityBytes = (bytes: Buffer) => bytes;
    let payload = Buffer.alloc(0);
    const calls: (() => void)[] = [];
    const server = new grpc.Server();
    server.addService(
      {
        Connect: {
          path: "/flotilla.v1.AgentService/Connect",
          requestStream: true,
          responseStream: true,
          requestSerialize: identityBytes,
          requestDeserialize: identityBytes,
          responseSerialize: identityBytes,
          responseDeserialize: identityBytes,
        },
      },
      {
        Connect: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
          call.on("data", () => {});
          call.on("error", () => {});
          call.write(payload, () => setTimeout(() => call.end(), 20));
          calls.shift()?.();
        },
      },
    );
    const keyCertPairs = [{ cert_chain: Buffer.from(tls.certPem), private_key: Buffer.from(tls.keyPem) }];
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(
        "localhost:0",
        grpc.ServerCredentials.createSsl(null, keyCertPairs, false),
        (error, bound) => (error ? reject(error) : resolve(bound)),
      ),
    );
    t.after(() => new Promise<void>((resolve) => server.tryShutdown(() => resolve())));
    const dir = await mkdtemp(join(tmpdir(), "flotilla-hub-bytes-fuzz-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const store = createHubStateStore(createFileStateStore(join(dir, "state.json.gz")));
    const feed = createStatusFeed();
    const reconciler = createMemoryReconciler(store, feed);
    await reconciler.start();
    const logs: { message: string; fields?: Record<string, unknown> }[] = [];
    const controller = new AbortController();
    let settled: { error?: unknown } | undefined;
    const done = connectToHub({
      identity: {
        clusterName: "edge-1",
        hubUrl: `https://localhost:${port}`,
        credential: "cred-bytes",
        caHash: "sha256:unused",
        caCertPem: tls.caPem,
        grpcAddress: `localhost:${port}`,
      },
      sink: createReconcilerSink(reconciler, store, feed),
      signal: controller.signal,
      backoff: { initialMs: 1, factor: 1, maxMs: 5 },
      log: (_level, message, fields) => logs.push({ message, ...(fields ? { fields } : {}) }),
    }).then(
      () => {
        settled = {};
      },
      (error: unknown) => {
        settled = { error };
      },
    );
    t.after(async () => {
      controller.abort();
      await done;
    });

    let attempts = 0;
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 256 }), async (bytes) => {
        payload = Buffer.from(bytes);
        // The agent's next Connect receives these bytes.
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no Connect within ${PROBE_MS} ms`)), PROBE_MS);
          calls.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
        attempts += 1;
        assert.equal(settled, undefined, `the agent stopped: ${String(settled?.error)}`);
      }),
      { numRuns: 150 },
    );
    const lost = logs.filter((entry) => entry.message === "hub connection lost");
    assert.ok(lost.length > 0, "no stream failure was logged");
    assert.ok(!JSON.stringify(logs).includes("cred-bytes"), "the credential was logged");
    t.diagnostic(
      `${attempts} Connect streams answered with random bytes: the agent never stopped and reconnected after each; ${lost.length} stream failures logged with their gRPC status`,
    );
  });
});
