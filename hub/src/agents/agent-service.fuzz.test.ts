// Fuzz tests of AgentService over real gRPC (PGlite store, in-process bus), as an agent would reach
// it: random but well-typed messages built from the proto schema (random, huge, empty and unicode
// strings with NUL, random and extreme integers and bigints, invalid timestamps, unknown enum
// values, missing fields) for Register, Hello and every other AgentMessage, and random byte
// strings where the messages belong. The hub must answer each with a result or a clear gRPC
// status, keep serving, and record nothing for a cluster the credential does not own.
// fast-check prints the seed of a failing run.
import * as assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  AgentMessageSchema,
  AgentService,
  HelloSchema,
  type HubMessage,
  RegisterRequestSchema,
} from "@flotilla/proto/gen/flotilla/v1/agent_pb";
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
import { messageArbitraries } from "@flotilla/proto/testing/message-arbitrary";
import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import { generateToken, parseToken } from "../auth/tokens.js";
import type { Bus } from "../bus/bus.js";
import { createLocalBus } from "../bus/create-local-bus.js";
import { openStore } from "../store/open-store.js";
import type { Store } from "../store/store.js";
import { type AgentServiceHandlers, createAgentService } from "./agent-service.js";

const timeout = 240_000;
/** How long the hub may take to answer one fuzzed exchange on a slow, shared machine. */
const waitMs = 15_000;
/** Codes that mean the hub refused the input; INTERNAL and UNKNOWN would mean it broke. */
const REFUSALS: GrpcCode[] = ["INVALID_ARGUMENT", "PERMISSION_DENIED", "UNAUTHENTICATED", "ALREADY_EXISTS"];

// ---- Random messages from a protobuf schema ----

const hostileString = fc.oneof(
  { arbitrary: fc.string({ maxLength: 16 }), weight: 4 },
  fc.string({ unit: "grapheme", maxLength: 16 }),
  fc.constantFrom("", "\u0000", "a\u0000b", "__proto__", "constructor", "../..", "é", "🚀", "\uFFFD", "%s%n"),
  fc.constant("x".repeat(5_000)),
);

const arbitraries = messageArbitraries(fc, { string: hostileString, maxBytes: 64 });

// ---- The hub under test ----

let tls: TestTls;
let dataDir: string;
let store: Store;
let bus: Bus;
let service: AgentServiceHandlers;
let server: Server;
let port: number;
let client: Client<typeof AgentService>;
const logged: { message: string; details?: Record<string, unknown> }[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

before(async () => {
  process.on("unhandledRejection", onUnhandled);
  tls = await createTestTls();
  dataDir = await mkdtemp(join(tmpdir(), "flotilla-agent-service-fuzz-"));
  store = await openStore({ kind: "pglite", dataDir });
  bus = createLocalBus();
  service = createAgentService({
    store,
    bus,
    hubVersion: "0.1.0-fuzz",
    heartbeatIntervalMs: 10_000,
    maxMessageBytes: 4 * 1024 * 1024,
    log: (message, details) => logged.push({ message, ...(details ? { details } : {}) }),
  });
  server = createServer({ maxReceiveMessageBytes: 4 * 1024 * 1024 });
  addService(server, AgentService, service);
  const keyCertPairs = [{ cert_chain: Buffer.from(tls.certPem), private_key: Buffer.from(tls.keyPem) }];
  port = await bindServer(server, "localhost:0", ServerCredentials.createSsl(null, keyCertPairs, false));
  client = createClient(AgentService, `localhost:${port}`, credentials.createSsl(Buffer.from(tls.caPem)));
});

after(async () => {
  process.off("unhandledRejection", onUnhandled);
  closeClient(client);
  await service.close();
  await stopServer(server);
  await bus.close();
  await store.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function createBootstrapToken(): Promise<string> {
  const text = generateToken("bootstrap");
  const parsed = parseToken(text);
  assert.ok(parsed);
  await store.bootstrapTokens.create({ id: parsed.id, secret: parsed.secret });
  return text;
}

let clusterCount = 0;
async function registerCluster() {
  clusterCount += 1;
  const name = `fuzz-${clusterCount}`;
  const response = await client.register({
    bootstrapToken: await createBootstrapToken(),
    clusterName: name,
    clusterUid: `uid-fuzz-${clusterCount}`,
  });
  return { name, id: response.clusterId, credential: response.credential };
}

/** Resolves with `promise`, or rejects once `ms` passed. */
function withDeadline<T>(promise: Promise<T>, what: string, ms = waitMs): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

type Ending = { kind: "answered" } | { kind: "refused"; code: GrpcCode; details: string };

function endingOf(error: unknown): Ending {
  assert.ok(error instanceof GrpcError, `the stream failed without a gRPC status: ${String(error)}`);
  assert.ok(
    REFUSALS.includes(error.code),
    `the hub broke instead of refusing: ${error.code}: ${error.details}`,
  );
  assert.notEqual(error.details, "");
  return { kind: "refused", code: error.code, details: error.details };
}

/**
 * One Connect stream: sends `messages` (Hello first unless `hello` is false), then a
 * BundleRequest for a digest the hub does not hold, and reads until the hub's answer to that
 * probe (every message before it was handled) or the end of the stream.
 */
async function exchange(
  credential: string,
  messages: MessageInitShape<typeof AgentMessageSchema>[],
): Promise<{ ending: Ending; received: HubMessage[] }> {
  const stream = client.connect({ metadata: { authorization: `Bearer ${credential}` } });
  const iterator = stream[Symbol.asyncIterator]();
  const received: HubMessage[] = [];
  const probe = `sha256:probe-${Math.random().toString(16).slice(2)}`;
  try {
    for (const message of [
      ...messages,
      { body: { case: "bundleRequest", value: { digests: [probe] } } } satisfies MessageInitShape<
        typeof AgentMessageSchema
      >,
    ])
      await stream.send(message).catch(() => {});
    for (;;) {
      const next = await withDeadline(iterator.next(), "hub answer");
      if (next.done) return { ending: { kind: "answered" }, received };
      received.push(next.value);
      if (next.value.body.case === "bundle" && next.value.body.value.digest === probe)
        return { ending: { kind: "answered" }, received };
    }
  } catch (error) {
    if (error instanceof Error && error.message.startsWith("hub answer")) throw error;
    return { ending: endingOf(error), received };
  } finally {
    stream.cancel();
  }
}

function tally(endings: Ending[]): string {
  const answered = endings.filter((ending) => ending.kind === "answered").length;
  const codes = new Map<string, number>();
  for (const ending of endings)
    if (ending.kind === "refused") codes.set(ending.code, (codes.get(ending.code) ?? 0) + 1);
  const refused = [...codes.entries()].map(([code, n]) => `${n} ${code}`).join(", ");
  return `${answered} handled${refused ? `, refused: ${refused}` : ""}`;
}

describe("reliability: fuzz", () => {
  it("random Register requests get a credential or a clear refusal, never INTERNAL", {
    timeout,
  }, async (t) => {
    const valid = await Promise.all(Array.from({ length: 3 }, () => createBootstrapToken()));
    const endings: Ending[] = [];
    await fc.assert(
      fc.asyncProperty(
        arbitraries.message(RegisterRequestSchema),
        fc.option(fc.constantFrom(...valid), { freq: 2 }),
        async (request, token) => {
          const sent = token === null ? request : { ...request, bootstrapToken: token };
          try {
            const response = await withDeadline(client.register(sent), "register");
            assert.equal(parseToken(response.credential)?.kind, "cluster");
            endings.push({ kind: "answered" });
          } catch (error) {
            if (error instanceof Error && error.message.startsWith("register")) throw error;
            const ending = endingOf(error);
            if (typeof sent.bootstrapToken === "string" && sent.bootstrapToken.length > 8)
              assert.ok(
                ending.kind !== "refused" || !ending.details.includes(sent.bootstrapToken),
                "the token is echoed",
              );
            endings.push(ending);
          }
        },
      ),
      { numRuns: 150 },
    );
    assert.deepEqual(unhandled, []);
    t.diagnostic(
      `${endings.length} random Register requests: ${tally(endings)}; 0 INTERNAL, 0 unhandled rejections`,
    );
  });

  it("random Hello messages get Welcome or a clear refusal, and the hub keeps serving", {
    timeout,
  }, async (t) => {
    const cluster = await registerCluster();
    const endings: Ending[] = [];
    await fc.assert(
      fc.asyncProperty(arbitraries.message(HelloSchema), fc.boolean(), async (hello, ownName) => {
        const value = ownName ? { ...hello, clusterName: cluster.name } : hello;
        const { ending, received } = await exchange(cluster.credential, [{ body: { case: "hello", value } }]);
        if (ending.kind === "answered") assert.equal(received[0]?.body.case, "welcome");
        endings.push(ending);
      }),
      { numRuns: 120 },
    );
    assert.deepEqual(unhandled, []);
    t.diagnostic(
      `${endings.length} random Hello messages: ${tally(endings)}; 0 INTERNAL, 0 unhandled rejections`,
    );
  });

  it("random acks, statuses, heartbeats and bundle requests after Hello are handled or refused, and touch no other cluster", {
    timeout,
  }, async (t) => {
    const cluster = await registerCluster();
    const other = await registerCluster();
    await store.targets.apply(other.id, [
      { app: "web", digest: "d-other", bundleDigest: "b-other", desired: { namespace: "default" } },
    ]);
    const otherBefore = {
      targets: await store.targets.list(other.id),
      statuses: await store.statuses.list(other.id),
      cluster: await store.clusters.get(other.id),
    };
    const nonHello = arbitraries
      .message(AgentMessageSchema)
      .filter((message) => message.body?.case !== "hello");
    const endings: Ending[] = [];
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(nonHello, { minLength: 1, maxLength: 5 }), async (messages) => {
        sent += messages.length;
        const hello = { body: { case: "hello", value: { clusterName: cluster.name } } } as const;
        const { ending } = await exchange(cluster.credential, [hello, ...messages]);
        endings.push(ending);
      }),
      { numRuns: 150 },
    );
    assert.deepEqual(unhandled, []);
    // Nothing reached the other cluster: its targets, statuses and record are as they were.
    assert.deepEqual(await store.targets.list(other.id), otherBefore.targets);
    assert.deepEqual(await store.statuses.list(other.id), otherBefore.statuses);
    assert.deepEqual(await store.clusters.get(other.id), otherBefore.cluster);
    // No ack moved the fuzzed cluster's acknowledged seq past what the hub ever assigned.
    const fuzzed = await store.clusters.get(cluster.id);
    assert.ok(
      fuzzed && fuzzed.ackedSeq <= fuzzed.desiredSeq,
      `acked ${fuzzed?.ackedSeq} > desired ${fuzzed?.desiredSeq}`,
    );
    const failures = logged.filter((entry) => /failed/.test(entry.message));
    t.diagnostic(
      `${endings.length} streams with ${sent} random acks, statuses, heartbeats and bundle requests: ${tally(endings)}; 0 INTERNAL, 0 unhandled rejections; the other cluster unchanged; ${failures.length} delivery failures logged`,
    );
  });

  it("random bytes in place of Register and Connect messages get a gRPC status and the hub keeps serving", {
    timeout,
  }, async (t) => {
    const cluster = await registerCluster();
    const raw = new grpc.Client(`localhost:${port}`, grpc.credentials.createSsl(Buffer.from(tls.caPem)));
    const identity = (bytes: Buffer) => bytes;
    const codes = new Map<string, number>();
    const count = (code: number) => {
      const name = grpc.status[code] ?? String(code);
      codes.set(name, (codes.get(name) ?? 0) + 1);
    };
    try {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), fc.boolean(), async (bytes, register) => {
          const payload = Buffer.from(bytes);
          const status = await withDeadline(
            new Promise<grpc.StatusObject>((resolve) => {
              if (register) {
                raw.makeUnaryRequest(
                  "/flotilla.v1.AgentService/Register",
                  identity,
                  identity,
                  payload,
                  new grpc.Metadata(),
                  {},
                  (error) =>
                    resolve({
                      code: error?.code ?? grpc.status.OK,
                      details: error?.details ?? "",
                      metadata: new grpc.Metadata(),
                    }),
                );
                return;
              }
              const metadata = new grpc.Metadata();
              metadata.set("authorization", `Bearer ${cluster.credential}`);
              const call = raw.makeBidiStreamRequest(
                "/flotilla.v1.AgentService/Connect",
                identity,
                identity,
                metadata,
                {},
              );
              call.on("data", () => call.end());
              call.on("error", () => {});
              call.on("status", resolve);
              call.write(payload);
              // An undecodable or non-Hello first message ends the stream; a Hello gets Welcome.
              setTimeout(() => call.end(), 200);
            }),
            "raw call",
          );
          count(status.code);
          assert.notEqual(status.code, grpc.status.UNKNOWN, status.details);
          // INTERNAL here is grpc-js refusing bytes that do not decode, with its generic message.
          if (status.code === grpc.status.INTERNAL) assert.match(status.details, /deserializ/i);
        }),
        { numRuns: 200 },
      );
    } finally {
      raw.close();
    }
    // Still serving: a well-formed exchange works.
    const { ending, received } = await exchange(cluster.credential, [
      { body: { case: "hello", value: { clusterName: cluster.name } } },
    ]);
    assert.equal(ending.kind, "answered");
    assert.equal(received[0]?.body.case, "welcome");
    assert.deepEqual(unhandled, []);
    const byCode = [...codes.entries()].map(([code, n]) => `${n} ${code}`).join(", ");
    t.diagnostic(
      `200 random byte strings sent as Register and Connect messages: ${byCode}; the hub kept serving`,
    );
  });
});
