import assert from "node:assert/strict";
import { get } from "node:https";
import { after, before, describe, it } from "node:test";
import { AgentService } from "@flotilla/proto/gen/flotilla/v1/agent_pb";
import {
  addService,
  closeClient,
  createClient,
  createServer,
  credentials,
  GrpcError,
} from "@flotilla/proto/grpc";
import { createTestTls, type TestTls } from "@flotilla/proto/test-tls";
import { type Listener, listenTls } from "./listen.js";

let tls: TestTls;
let listener: Listener;

before(async () => {
  tls = await createTestTls();
  const grpc = createServer();
  addService(grpc, AgentService, {
    register: async (request) => {
      if (request.clusterName === "") throw new GrpcError("INVALID_ARGUMENT", "cluster_name is required");
      return {
        clusterName: request.clusterName,
        clusterId: "id-1",
        credential: "",
        labels: {},
        hubVersion: "t",
      };
    },
  });
  listener = await listenTls("127.0.0.1:0", tls, {
    http: (req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(`http ${req.url}`);
    },
    grpc,
  });
});

after(async () => {
  await listener.close();
});

function httpsGet(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port: listener.port, path, ca: tls.caPem, servername: "localhost" }, (res) => {
      let body = "";
      res.on("data", (chunk) => {
        body += chunk;
      });
      res.on("end", () => resolve(body));
    }).on("error", reject);
  });
}

describe("listenTls", () => {
  it("serves HTTP/1.1 and gRPC on one TLS port, chosen by ALPN", async () => {
    assert.equal(await httpsGet("/ca.crt"), "http /ca.crt");
    const client = createClient(
      AgentService,
      `localhost:${listener.port}`,
      credentials.createSsl(Buffer.from(tls.caPem)),
    );
    try {
      const response = await client.register({ clusterName: "edge" });
      assert.equal(response.clusterId, "id-1");
      await assert.rejects(client.register({ clusterName: "" }), (error: unknown) => {
        assert.ok(error instanceof GrpcError);
        assert.equal(error.code, "INVALID_ARGUMENT");
        return true;
      });
    } finally {
      closeClient(client);
    }
    // Both kinds of connection at once: HTTP keeps working while a gRPC channel is open.
    assert.equal(await httpsGet("/healthz"), "http /healthz");
  });
});
