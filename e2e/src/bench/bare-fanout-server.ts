// The baseline of the fanout benchmark: AgentService (same proto service) on a grpc-js server
// behind the hub's own TLS listener (hub/src/server/listen.ts, same certificate), with no hub
// logic: Register hands out a dummy credential, Connect answers Hello with an empty Welcome and
// holds the stream, and `broadcast` writes one HubMessage to every held stream. What simulated
// agents measure against it is the cost of TLS, HTTP/2, protobuf and the event loops alone.
//
// Run as a child of the benchmark (forkBenchChild): ops `listen` and `broadcast`.
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { type Listener, listenTls } from "@flotilla/hub/server/listen";
import {
  type AgentMessageSchema,
  AgentService,
  type HubMessageSchema,
  HubMessageSchema as HubMessageType,
} from "@flotilla/proto/gen/flotilla/v1/agent_pb";
import { addService, createServer, type ServerBidiStream } from "@flotilla/proto/grpc";
import { answerParent } from "./fanout-worker.js";

type ConnectStream = ServerBidiStream<typeof AgentMessageSchema, typeof HubMessageSchema>;

export type BareFanoutServer = {
  /** `https://127.0.0.1:<port>`. */
  url: string;
  /** Streams that got their Welcome and are still open. */
  streams(): number;
  /** Writes `message` to every open stream; resolves with how many took it once all writes are queued. */
  broadcast(message: MessageInitShape<typeof HubMessageSchema>): Promise<number>;
  close(): Promise<void>;
};

/** Listens on 127.0.0.1 (a free port) with the given serving certificate. */
export async function startBareFanoutServer(tls: {
  certPem: string;
  keyPem: string;
  /** Sent in Welcome; the hub's default is 10 s. */
  heartbeatIntervalMs: number;
}): Promise<BareFanoutServer> {
  const streams = new Set<ConnectStream>();
  const server = createServer({ keepaliveTimeMs: 30_000 });
  addService(server, AgentService, {
    async register(request) {
      return {
        clusterName: request.clusterName,
        clusterId: randomUUID(),
        credential: "bare",
        labels: request.labels,
        hubVersion: "bare",
      };
    },
    async connect(stream) {
      let welcomed = false;
      try {
        for await (const message of stream) {
          if (welcomed || message.body.case !== "hello") continue;
          welcomed = true;
          await stream.send({
            body: {
              case: "welcome",
              value: {
                clusterName: message.body.value.clusterName,
                clusterId: randomUUID(),
                hubVersion: "bare",
                heartbeatIntervalMs: tls.heartbeatIntervalMs,
                resume: { latestSeq: 0n, backlog: 0 },
              },
            },
          });
          streams.add(stream);
        }
      } finally {
        streams.delete(stream);
      }
    },
  });
  const listener: Listener = await listenTls(
    "127.0.0.1:0",
    { certPem: tls.certPem, keyPem: tls.keyPem },
    {
      http: (_req, res) => {
        res.writeHead(404).end();
      },
      grpc: server,
    },
  );
  return {
    url: `https://127.0.0.1:${listener.port}`,
    streams: () => streams.size,
    async broadcast(message) {
      const writes = [...streams].map((stream) =>
        stream.send(message).then(
          () => 1,
          () => 0,
        ),
      );
      const sent = await Promise.all(writes);
      return sent.reduce<number>((total, one) => total + one, 0);
    },
    async close() {
      await listener.close();
      server.forceShutdown();
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let bare: BareFanoutServer | undefined;
  answerParent({
    listen: async (args: { certPem: string; keyPem: string; heartbeatIntervalMs: number }) => {
      bare = await startBareFanoutServer(args);
      return { url: bare.url };
    },
    broadcast: async (args: { message: Uint8Array }) => {
      if (!bare) throw new Error("bare fanout server: broadcast before listen");
      return { sent: await bare.broadcast(fromBinary(HubMessageType, args.message)) };
    },
    streams: async () => ({ streams: bare?.streams() ?? 0 }),
  });
}
