// A minimal hub for tests: AgentService on a real grpc-js server (TLS) and the HTTPS endpoint
// that serves its CA certificate. Tests drive each Connect stream by hand.
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { TestContext } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  type AgentMessage,
  type AgentMessageSchema,
  AgentService,
  type HubMessageSchema,
  type RegisterRequest,
  type RegisterResponseSchema,
} from "@flotilla/proto/gen/flotilla/v1/agent_pb";
import {
  addService,
  bindServer,
  createServer,
  GrpcError,
  type ServerBidiStream,
  ServerCredentials,
  stopServer,
} from "@flotilla/proto/grpc";
import type { TestTls } from "@flotilla/proto/test-tls";

type Body = AgentMessage["body"];
type Kind = NonNullable<Body["case"]>;
type ValueOf<K extends Kind> = Extract<Body, { case: K }>["value"];

/** One Connect stream as the hub sees it. */
export type FakeConnection = {
  readonly authorization: string | undefined;
  /** The next message of `kind` the agent sent (others are queued by their own kind). */
  next<K extends Kind>(kind: K, timeoutMs?: number): Promise<ValueOf<K>>;
  send(message: MessageInitShape<typeof HubMessageSchema>): Promise<void>;
  /** Ends the stream: OK without `error`, else with its status. */
  end(error?: GrpcError): void;
};

export type FakeHub = {
  /** https URL serving /ca.crt. */
  hubUrl: string;
  /** host:port of AgentService. */
  grpcAddress: string;
  registerCalls: RegisterRequest[];
  /** What Register answers; default: the requested name, id "c-1", credential "cred-1". */
  register: (request: RegisterRequest) => MessageInitShape<typeof RegisterResponseSchema>;
  /** Credentials Connect accepts; others fail with UNAUTHENTICATED. */
  credentials: Set<string>;
  /** The next Connect stream (in arrival order). */
  nextConnection(timeoutMs?: number): Promise<FakeConnection>;
};

const defaultTimeoutMs = 5_000;

/** Starts a fake hub with `tls` for the length of the test. */
export async function useFakeHub(t: TestContext, tls: TestTls): Promise<FakeHub> {
  const connections = createQueue<FakeConnection>();
  const hub: FakeHub = {
    hubUrl: "",
    grpcAddress: "",
    registerCalls: [],
    register: (request) => ({
      clusterName: request.clusterName,
      clusterId: "c-1",
      credential: "cred-1",
      labels: request.labels,
      hubVersion: "0.1.0",
    }),
    credentials: new Set(["cred-1"]),
    nextConnection: (timeoutMs = defaultTimeoutMs) => connections.take(timeoutMs, "a Connect stream"),
  };

  const server = createServer();
  addService(server, AgentService, {
    async register(request) {
      hub.registerCalls.push(request);
      return hub.register(request);
    },
    async connect(stream, context) {
      const authorization = context.metadata.authorization;
      if (!hub.credentials.has(authorization?.replace(/^Bearer /, "") ?? "")) {
        throw new GrpcError("UNAUTHENTICATED", "unknown credential");
      }
      let finish: (error: GrpcError | undefined) => void = () => {};
      const finished = new Promise<GrpcError | undefined>((resolve) => {
        finish = resolve;
      });
      connections.put(createConnection(stream, authorization, finish));
      const outcome = await finished;
      if (outcome !== undefined) throw outcome;
    },
  });
  const keyCertPairs = [{ cert_chain: Buffer.from(tls.certPem), private_key: Buffer.from(tls.keyPem) }];
  const port = await bindServer(
    server,
    "localhost:0",
    ServerCredentials.createSsl(null, keyCertPairs, false),
  );
  t.after(() => stopServer(server));

  const https = createHttpsServer({ cert: tls.certPem, key: tls.keyPem }, (request, response) => {
    if (request.url === "/ca.crt")
      response.writeHead(200, { "content-type": "application/x-pem-file" }).end(tls.caPem);
    else response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => https.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => https.close(() => resolve())));
  https.unref();

  hub.hubUrl = `https://localhost:${(https.address() as AddressInfo).port}`;
  hub.grpcAddress = `localhost:${port}`;
  return hub;
}

function createConnection(
  stream: ServerBidiStream<typeof AgentMessageSchema, typeof HubMessageSchema>,
  authorization: string | undefined,
  finish: (error: GrpcError | undefined) => void,
): FakeConnection {
  const queues = new Map<Kind, ReturnType<typeof createQueue<unknown>>>();
  const queueOf = (kind: Kind) => {
    let queue = queues.get(kind);
    if (queue === undefined) {
      queue = createQueue<unknown>();
      queues.set(kind, queue);
    }
    return queue;
  };
  void (async () => {
    try {
      for await (const message of stream) {
        if (message.body.case !== undefined) queueOf(message.body.case).put(message.body.value);
      }
    } catch {
      // The agent went away; the test sees it through what stops arriving.
    }
    finish(undefined);
  })();
  return {
    authorization,
    next: (kind, timeoutMs = defaultTimeoutMs) =>
      queueOf(kind).take(timeoutMs, `a ${kind} message`) as Promise<ValueOf<typeof kind>>,
    send: (message) => stream.send(message),
    end: (error) => finish(error),
  };
}

function createQueue<T>() {
  const items: T[] = [];
  const waiters: ((item: T) => void)[] = [];
  return {
    put(item: T) {
      const waiter = waiters.shift();
      if (waiter) waiter(item);
      else items.push(item);
    },
    take(timeoutMs: number, what: string): Promise<T> {
      const item = items.shift();
      if (item !== undefined) return Promise.resolve(item);
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(deliver), 1);
          reject(new Error(`fake hub: no ${what} within ${timeoutMs} ms`));
        }, timeoutMs);
        const deliver = (value: T) => {
          clearTimeout(timer);
          resolve(value);
        };
        waiters.push(deliver);
      });
    },
  };
}
