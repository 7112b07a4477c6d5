import * as assert from "node:assert/strict";
import { before, describe, it, type TestContext } from "node:test";
import { AgentService } from "./gen/flotilla/v1/agent_pb.js";
import { FleetService } from "./gen/flotilla/v1/fleet_pb.js";
import {
  addService,
  bindServer,
  closeClient,
  createClient,
  createServer,
  createServiceDefinition,
  credentials,
  type GrpcCode,
  GrpcError,
  ServerCredentials,
  type ServiceImpl,
  stopServer,
  type TransportOptions,
} from "./grpc.js";
import { createTestTls, type TestTls } from "./test-tls.js";

const timeout = 15_000;
const mib = 1024 * 1024;

interface TestServices {
  agent?: Partial<ServiceImpl<typeof AgentService>>;
  fleet?: Partial<ServiceImpl<typeof FleetService>>;
}

let tls: TestTls;
let otherTls: TestTls;

before(async () => {
  [tls, otherTls] = await Promise.all([createTestTls(), createTestTls()]);
});

/** Starts a TLS server on a free loopback port, stopped when the test ends; returns its address. */
async function useServer(
  t: TestContext,
  services: TestServices,
  options?: TransportOptions,
): Promise<string> {
  const server = createServer(options);
  addService(server, AgentService, services.agent ?? {});
  addService(server, FleetService, services.fleet ?? {});
  const keyCertPairs = [{ cert_chain: Buffer.from(tls.certPem), private_key: Buffer.from(tls.keyPem) }];
  const port = await bindServer(
    server,
    "localhost:0",
    ServerCredentials.createSsl(null, keyCertPairs, false),
  );
  t.after(() => stopServer(server));
  return `localhost:${port}`;
}

/** A client trusting `caPem` (the test CA by default), closed when the test ends. */
function useClient<S extends typeof AgentService | typeof FleetService>(
  t: TestContext,
  service: S,
  address: string,
  options?: TransportOptions & { caPem?: string },
) {
  const client = createClient(
    service,
    address,
    credentials.createSsl(Buffer.from(options?.caPem ?? tls.caPem)),
    options,
  );
  t.after(() => closeClient(client));
  return client;
}

function createDeferred<T>() {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((resolvePromise) => {
    resolve = resolvePromise;
  });
  return { promise, resolve };
}

function isGrpcError(code: GrpcCode, details?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof GrpcError, `expected a GrpcError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (details) assert.match(error.details, details);
    return true;
  };
}

function waitForAbort(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener("abort", () => resolve(signal.reason), { once: true });
  });
}

const hello = { body: { case: "hello", value: { clusterName: "edge-1", agentVersion: "0.1.0" } } } as const;

describe("grpc adapter", () => {
  it("maps each rpc to its gRPC path and streaming flags", () => {
    const definition = createServiceDefinition(AgentService);
    assert.equal(definition.connect?.path, "/flotilla.v1.AgentService/Connect");
    assert.equal(definition.connect?.requestStream, true);
    assert.equal(definition.connect?.responseStream, true);
    assert.equal(definition.register?.path, "/flotilla.v1.AgentService/Register");
    assert.equal(definition.register?.requestStream, false);
    assert.equal(definition.register?.responseStream, false);
    assert.equal(createServiceDefinition(FleetService).watchFleet?.responseStream, true);
  });

  it("round-trips a unary call with its metadata", { timeout }, async (t) => {
    let seenAuthorization: string | undefined;
    const address = await useServer(t, {
      agent: {
        async register(request, context) {
          seenAuthorization = context.metadata.authorization;
          return {
            clusterName: request.clusterName,
            clusterId: "c-1",
            credential: "secret",
            labels: { ...request.labels, joined: "true" },
          };
        },
      },
    });
    const client = useClient(t, AgentService, address);

    const response = await client.register(
      { bootstrapToken: "abc.def", clusterName: "edge-1", labels: { env: "prod" } },
      { metadata: { authorization: "Bearer token-1" } },
    );

    assert.equal(response.$typeName, "flotilla.v1.RegisterResponse");
    assert.equal(response.clusterName, "edge-1");
    assert.deepEqual(response.labels, { env: "prod", joined: "true" });
    assert.equal(seenAuthorization, "Bearer token-1");
  });

  it("keeps the order of messages in both directions of a bidi stream", { timeout }, async (t) => {
    const count = 20;
    const serverAcks = createDeferred<bigint[]>();
    const address = await useServer(t, {
      agent: {
        async connect(stream) {
          const acks: bigint[] = [];
          for await (const message of stream) {
            if (message.body.case === "hello") {
              await stream.send({
                body: { case: "welcome", value: { clusterName: message.body.value.clusterName } },
              });
              for (let seq = 1n; seq <= BigInt(count); seq++) {
                await stream.send({ body: { case: "upsert", value: { seq, app: { name: `app-${seq}` } } } });
              }
            } else if (message.body.case === "ack") {
              acks.push(message.body.value.seq);
              if (acks.length === count) break;
            }
          }
          serverAcks.resolve(acks);
        },
      },
    });
    const client = useClient(t, AgentService, address);

    const stream = client.connect();
    await stream.send(hello);
    const received: string[] = [];
    for await (const message of stream) {
      if (message.body.case === "upsert") {
        const { seq, app } = message.body.value;
        received.push(`${seq} ${app?.name}`);
        await stream.send({ body: { case: "ack", value: { seq, app: app?.name, accepted: true } } });
      } else {
        received.push(
          `${message.body.case} ${message.body.case === "welcome" ? message.body.value.clusterName : ""}`,
        );
      }
    }

    const seqs = Array.from({ length: count }, (_, i) => BigInt(i + 1));
    assert.deepEqual(received, ["welcome edge-1", ...seqs.map((seq) => `${seq} app-${seq}`)]);
    assert.deepEqual(await serverAcks.promise, seqs);
  });

  it("aborts the server handler and fails the client with CANCELLED when the client cancels", {
    timeout,
  }, async (t) => {
    const handlerEnded = createDeferred<{ aborted: boolean; error: unknown }>();
    const address = await useServer(t, {
      agent: {
        async connect(stream, context) {
          let error: unknown;
          try {
            for await (const _ of stream) await stream.send({ body: { case: "welcome", value: {} } });
          } catch (caught) {
            error = caught;
          }
          handlerEnded.resolve({ aborted: context.signal.aborted, error });
        },
      },
    });
    const client = useClient(t, AgentService, address);

    const stream = client.connect();
    const responses = stream[Symbol.asyncIterator]();
    await stream.send(hello);
    assert.equal((await responses.next()).value?.body.case, "welcome");
    stream.cancel();

    await assert.rejects(responses.next(), isGrpcError("CANCELLED"));
    await assert.rejects(stream.send(hello), isGrpcError("CANCELLED"));
    const ended = await handlerEnded.promise;
    assert.equal(ended.aborted, true);
    assert.ok(isGrpcError("CANCELLED")(ended.error));
  });

  it("lets the server answer after the client half-closes with end()", { timeout }, async (t) => {
    const handlerSaw = createDeferred<{ requests: string[]; aborted: boolean }>();
    const address = await useServer(t, {
      agent: {
        async connect(stream, context) {
          const requests: string[] = [];
          for await (const message of stream) requests.push(message.body.case ?? "");
          handlerSaw.resolve({ requests, aborted: context.signal.aborted });
          await stream.send({ body: { case: "welcome", value: { hubVersion: "after-end" } } });
        },
      },
    });
    const client = useClient(t, AgentService, address);

    const stream = client.connect();
    await stream.send(hello);
    await stream.send({ body: { case: "heartbeat", value: {} } });
    stream.end();
    const versions: string[] = [];
    for await (const message of stream) {
      if (message.body.case === "welcome") versions.push(message.body.value.hubVersion);
    }

    assert.deepEqual(await handlerSaw.promise, { requests: ["hello", "heartbeat"], aborted: false });
    assert.deepEqual(versions, ["after-end"]);
    await assert.rejects(stream.send(hello), /send after end/);
  });

  it("cancels a unary call when the caller's signal aborts", { timeout }, async (t) => {
    const handlerStarted = createDeferred<void>();
    const handlerAborted = createDeferred<void>();
    const address = await useServer(t, {
      agent: {
        async register(_request, context) {
          handlerStarted.resolve();
          await waitForAbort(context.signal);
          handlerAborted.resolve();
          return {};
        },
      },
    });
    const client = useClient(t, AgentService, address);

    const controller = new AbortController();
    const call = client.register({ bootstrapToken: "abc.def" }, { signal: controller.signal });
    await handlerStarted.promise;
    controller.abort();

    await assert.rejects(call, isGrpcError("CANCELLED"));
    await handlerAborted.promise;
  });

  it("stops a server stream when the client leaves the loop early", { timeout }, async (t) => {
    const generatorClosed = createDeferred<boolean>();
    let seenSelector = "";
    const address = await useServer(t, {
      fleet: {
        async *watchFleet(request, context) {
          seenSelector = request.selector;
          try {
            for (let i = 0; ; i++) yield { event: { case: "clusterRemoved", value: `cluster-${i}` } };
          } finally {
            generatorClosed.resolve(context.signal.aborted);
          }
        },
      },
    });
    const client = useClient(t, FleetService, address);

    const names: string[] = [];
    for await (const response of client.watchFleet({ selector: "env=prod" })) {
      if (response.event.case === "clusterRemoved") names.push(response.event.value);
      if (names.length === 3) break;
    }

    assert.deepEqual(names, ["cluster-0", "cluster-1", "cluster-2"]);
    assert.equal(seenSelector, "env=prod");
    assert.equal(await generatorClosed.promise, true);
  });

  it("fails a call with DEADLINE_EXCEEDED after deadlineMs and aborts its handler", {
    timeout,
  }, async (t) => {
    const handlerAborted = createDeferred<void>();
    const address = await useServer(t, {
      agent: {
        async register(request, context) {
          if (request.clusterName === "warm-up") return {};
          await waitForAbort(context.signal);
          handlerAborted.resolve();
          return {};
        },
      },
    });
    const client = useClient(t, AgentService, address);
    // Connect first, so the deadline is spent waiting in the handler rather than on the handshake.
    await client.register({ clusterName: "warm-up" });

    await assert.rejects(client.register({}, { deadlineMs: 1_000 }), isGrpcError("DEADLINE_EXCEEDED"));
    await handlerAborted.promise;
  });

  it("rejects a response over the 4 MiB default with RESOURCE_EXHAUSTED unless the client raises its limit", {
    timeout,
  }, async (t) => {
    const data = new Uint8Array(5 * mib).fill(7);
    const address = await useServer(t, {
      agent: {
        async connect(stream) {
          for await (const message of stream) {
            if (message.body.case === "hello") {
              await stream.send({
                body: { case: "bundle", value: { digest: "sha256:big", encoding: "json", data } },
              });
            }
          }
        },
      },
    });

    const limited = useClient(t, AgentService, address).connect();
    await limited.send(hello);
    await assert.rejects(limited[Symbol.asyncIterator]().next(), isGrpcError("RESOURCE_EXHAUSTED"));

    const raised = useClient(t, AgentService, address, { maxReceiveMessageBytes: 8 * mib }).connect();
    await raised.send(hello);
    const { value } = await raised[Symbol.asyncIterator]().next();
    assert.equal(value?.body.case, "bundle");
    assert.equal(value?.body.case === "bundle" && value.body.value.data.byteLength, data.byteLength);
    raised.cancel();
  });

  it("rejects a request over the 4 MiB default with RESOURCE_EXHAUSTED unless the server raises its limit", {
    timeout,
  }, async (t) => {
    const agent: TestServices["agent"] = {
      async register(request) {
        return { clusterName: request.clusterName, labels: { size: String(request.labels.blob?.length) } };
      },
    };
    const request = { clusterName: "edge-1", labels: { blob: "x".repeat(5 * mib) } };

    const limited = useClient(t, AgentService, await useServer(t, { agent }));
    await assert.rejects(limited.register(request), isGrpcError("RESOURCE_EXHAUSTED"));

    const raised = useClient(
      t,
      AgentService,
      await useServer(t, { agent }, { maxReceiveMessageBytes: 8 * mib }),
    );
    assert.deepEqual((await raised.register(request)).labels, { size: String(5 * mib) });
  });

  it("passes a handler's GrpcError code and message to the client", { timeout }, async (t) => {
    const address = await useServer(t, {
      agent: {
        async register() {
          throw new GrpcError("UNAUTHENTICATED", "bootstrap token expired");
        },
        async connect(stream) {
          for await (const message of stream) {
            if (message.body.case === "hello") {
              await stream.send({ body: { case: "welcome", value: {} } });
              throw new GrpcError(
                "PERMISSION_DENIED",
                `cluster ${message.body.value.clusterName} is not yours`,
              );
            }
          }
        },
      },
    });
    const client = useClient(t, AgentService, address);

    await assert.rejects(client.register({}), isGrpcError("UNAUTHENTICATED", /^bootstrap token expired$/));
    const stream = client.connect();
    await stream.send(hello);
    const cases: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const message of stream) cases.push(message.body.case ?? "");
      })(),
      isGrpcError("PERMISSION_DENIED", /^cluster edge-1 is not yours$/),
    );
    assert.deepEqual(cases, ["welcome"]);
  });

  it("reports other handler errors as INTERNAL and missing methods as UNIMPLEMENTED", {
    timeout,
  }, async (t) => {
    const address = await useServer(t, {
      agent: {
        async register() {
          throw new Error("store: connection refused");
        },
      },
    });

    await assert.rejects(
      useClient(t, AgentService, address).register({}),
      isGrpcError("INTERNAL", /store: connection refused/),
    );
    await assert.rejects(useClient(t, FleetService, address).listClusters({}), isGrpcError("UNIMPLEMENTED"));
  });

  it("refuses a server whose certificate another CA signed", { timeout }, async (t) => {
    let calls = 0;
    const address = await useServer(t, {
      agent: {
        async register() {
          calls++;
          return {};
        },
      },
    });

    const trusting = useClient(t, AgentService, address);
    await trusting.register({});
    const distrusting = useClient(t, AgentService, address, { caPem: otherTls.caPem });
    await assert.rejects(
      distrusting.register({}, { deadlineMs: 5_000 }),
      isGrpcError("UNAVAILABLE", /certificate/i),
    );
    assert.equal(calls, 1);
  });
});
