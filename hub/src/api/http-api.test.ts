import * as assert from "node:assert/strict";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type { FleetService } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import type { ServiceImpl } from "@flotilla/proto/grpc";
import { parseToken } from "../auth/tokens.js";
import { createFleetService } from "./fleet-service.js";
import { createHttpApi } from "./http-api.js";
import { TEST_CA_HASH, useTestRuntime } from "./test-runtime.js";

const hub = useTestRuntime();
let baseUrl: string;
let adminToken: string;
let viewerToken: string;
const servers: Server[] = [];

/** Serves `api` on a free loopback port; other paths answer 418 so a fall-through shows. */
async function serve(api: ReturnType<typeof createHttpApi>): Promise<string> {
  const server = createServer((req, res) => {
    api(req, res).then(
      (handled) => {
        if (!handled) res.writeHead(418).end("not the API");
      },
      () => res.destroy(),
    );
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

before(async () => {
  const runtime = await hub.opened;
  baseUrl = await serve(createHttpApi(createFleetService(runtime), { pingIntervalMs: 50 }));
  adminToken = await hub.createApiToken("admin", { name: "root" });
  viewerToken = await hub.createApiToken("viewer", { name: "dash" });
});

after(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function request(method: string, path: string, options: { token?: string; body?: string } = {}) {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body !== undefined ? { "content-type": "application/json" } : {}),
    },
    ...(options.body !== undefined ? { body: options.body } : {}),
  });
  const text = await response.text();
  const json = response.headers.get("content-type")?.startsWith("application/json")
    ? JSON.parse(text)
    : undefined;
  return { status: response.status, headers: response.headers, text, json };
}

/** Polls `check` until it holds, failing after five seconds. */
async function waitFor(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached within 5 s`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe("HTTP API", () => {
  it("answers a list as protobuf JSON with every field present", async () => {
    await hub.addCluster({ name: "http-a", labels: { env: "prod" } });

    const response = await request("GET", "/api/v1/clusters?namePrefix=http-&pageSize=10", {
      token: adminToken,
    });

    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
    assert.deepEqual(
      response.json.clusters.map((cluster: { name: string; labels: unknown }) => [
        cluster.name,
        cluster.labels,
      ]),
      [["http-a", { env: "prod" }]],
    );
    assert.equal(response.json.nextPageToken, "");
    assert.equal(response.json.clusters[0].connection, "CONNECTION_STATE_CONNECTED");
  });

  it("maps refusals to HTTP statuses with an error body", async () => {
    await hub.addCluster({ name: "http-b" });

    const cases: [string, string, { token?: string; body?: string }, number, string, RegExp][] = [
      ["GET", "/api/v1/clusters", {}, 401, "UNAUTHENTICATED", /missing API token/],
      [
        "PATCH",
        "/api/v1/clusters/http-b/labels",
        { token: viewerToken, body: '{"set":{"a":"b"}}' },
        403,
        "PERMISSION_DENIED",
        /viewer/,
      ],
      [
        "GET",
        "/api/v1/clusters/nowhere",
        { token: adminToken },
        404,
        "NOT_FOUND",
        /cluster "nowhere" does not exist/,
      ],
      [
        "GET",
        "/api/v1/status?selector=env%20in%20(",
        { token: adminToken },
        400,
        "INVALID_ARGUMENT",
        /^selector: label selector/,
      ],
      [
        "POST",
        "/api/v1/apps/web/sync",
        { token: adminToken, body: '{"resources":[{"kind":"Deployment"}]}' },
        501,
        "UNIMPLEMENTED",
        /resources/,
      ],
      [
        "PATCH",
        "/api/v1/clusters/http-b/labels",
        { token: adminToken, body: '{"colour":"red"}' },
        400,
        "INVALID_ARGUMENT",
        /"colour" is unknown/,
      ],
      [
        "GET",
        "/api/v1/status?colour=red",
        { token: adminToken },
        400,
        "INVALID_ARGUMENT",
        /query parameter "colour"/,
      ],
      ["GET", "/api/v1/nope", { token: adminToken }, 404, "NOT_FOUND", /no route GET \/api\/v1\/nope/],
    ];
    for (const [method, path, options, status, code, message] of cases) {
      const response = await request(method, path, options);
      assert.equal(response.status, status, `${method} ${path}: ${response.text}`);
      assert.equal(response.json.error.code, code, `${method} ${path}`);
      assert.match(response.json.error.message, message, `${method} ${path}`);
    }
  });

  it("answers ALREADY_EXISTS as 409", async () => {
    const body = JSON.stringify({ name: "http-src", repoUrl: "https://git.example/http.git" });

    assert.equal((await request("POST", "/api/v1/sources", { token: adminToken, body })).status, 200);
    const again = await request("POST", "/api/v1/sources", { token: adminToken, body });

    assert.deepEqual([again.status, again.json.error.code], [409, "ALREADY_EXISTS"]);
  });

  it("answers 405 with the allowed methods for a known path", async () => {
    const response = await request("DELETE", "/api/v1/status", { token: adminToken });

    assert.equal(response.status, 405);
    assert.equal(response.headers.get("allow"), "GET");
  });

  it("refuses a body over 1 MiB with 413", async () => {
    const body = JSON.stringify({ description: "x".repeat(1024 * 1024) });

    const response = await request("POST", "/api/v1/tokens", { token: adminToken, body });

    assert.deepEqual([response.status, response.json.error.code], [413, "RESOURCE_EXHAUSTED"]);
  });

  it("refuses a streamed body that grows over 1 MiB with 413", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const outgoing = httpRequest(`${baseUrl}/api/v1/tokens`, {
        method: "POST",
        headers: { authorization: `Bearer ${adminToken}`, "transfer-encoding": "chunked" },
      });
      outgoing.on("response", (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      outgoing.on("error", reject);
      outgoing.write(`{"description":"${"x".repeat(700 * 1024)}`);
      outgoing.end(`${"x".repeat(700 * 1024)}"}`);
    });

    assert.equal(status, 413);
  });

  it("leaves paths outside /api/v1/ to the caller", async () => {
    const response = await request("GET", "/ca.crt");

    assert.deepEqual([response.status, response.text], [418, "not the API"]);
  });

  it("creates, lists and revokes a bootstrap token", async () => {
    const created = await request("POST", "/api/v1/tokens", {
      token: adminToken,
      body: JSON.stringify({ ttl: "600s", labels: { env: "edge" }, description: "http" }),
    });
    assert.equal(created.status, 200, created.text);
    assert.equal(parseToken(created.json.token)?.kind, "bootstrap");
    assert.match(created.json.joinCommand, new RegExp(`--ca-hash ${TEST_CA_HASH}`));
    const id = created.json.info.id;

    const listed = await request("GET", "/api/v1/tokens", { token: adminToken });
    assert.ok(listed.json.tokens.some((token: { id: string }) => token.id === id));
    assert.ok(!listed.text.includes(created.json.token));

    assert.equal((await request("DELETE", `/api/v1/tokens/${id}`, { token: adminToken })).status, 200);
    const inactive = await request("GET", "/api/v1/tokens?includeInactive=true", { token: adminToken });
    assert.equal(inactive.json.tokens.find((token: { id: string }) => token.id === id)?.revoked, true);
  });

  it("filters fleet status by enum names in the query", async () => {
    await hub.addCluster({
      name: "http-status",
      labels: { suite: "http-status" },
      apps: [{ app: "web", sync: "OutOfSync", health: "Degraded" }, { app: "api" }],
    });

    const response = await request(
      "GET",
      "/api/v1/status?selector=suite%3Dhttp-status&sync=OutOfSync&health=Degraded",
      {
        token: viewerToken,
      },
    );

    assert.equal(response.status, 200, response.text);
    assert.deepEqual(
      response.json.rows.map((row: { app: string; healthStatus: string }) => [row.app, row.healthStatus]),
      [["web", "HEALTH_STATUS_DEGRADED"]],
    );
    assert.equal(response.json.counts.total, 1);
  });

  it("answers 500 without the details of an unexpected error", async () => {
    const failing = { listClusters: async () => Promise.reject(new Error("postgres://admin:pw@db failed")) };
    const url = await serve(createHttpApi(failing as unknown as ServiceImpl<typeof FleetService>));

    const response = await fetch(`${url}/api/v1/clusters`);
    const text = await response.text();

    assert.equal(response.status, 500);
    assert.equal(JSON.parse(text).error.code, "INTERNAL");
    assert.ok(!text.includes("pw@db"));
  });

  it("streams watch events as server-sent events with pings", { timeout: 15_000 }, async () => {
    const cluster = await hub.addCluster({ name: "http-watch", apps: [{ app: "sse-app" }] });
    const subscriptions = hub.subscriptions();
    const controller = new AbortController();
    const response = await fetch(`${baseUrl}/api/v1/watch?app=sse-app`, {
      headers: { authorization: `Bearer ${viewerToken}` },
      signal: controller.signal,
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
    const reader = response.body?.getReader();
    assert.ok(reader);
    let received = "";
    const readUntil = async (pattern: RegExp) => {
      const decoder = new TextDecoder();
      const deadline = Date.now() + 5_000;
      while (!pattern.test(received)) {
        if (Date.now() > deadline)
          throw new Error(`stream: no ${pattern} within 5 s in ${JSON.stringify(received)}`);
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${pattern}`);
        received += decoder.decode(value, { stream: true });
      }
    };

    await waitFor("watch subscribed", () => hub.subscriptions() > subscriptions);
    await hub.runtime.bus.publish({
      type: "status",
      clusterId: cluster.id,
      app: "sse-app",
      digest: "",
      sync: "Synced",
      health: "Degraded",
      observedAt: new Date().toISOString(),
      revision: "abc123",
      message: "OOMKilled",
    });
    await readUntil(/^data: .*\n\n/m);
    await readUntil(/^: ping\n\n/m);

    const line = received.split("\n").find((text) => text.startsWith("data: ")) ?? "";
    const event = JSON.parse(line.slice("data: ".length));
    assert.deepEqual(
      [
        event.statusChanged.cluster,
        event.statusChanged.app,
        event.statusChanged.healthStatus,
        event.statusChanged.message,
      ],
      ["http-watch", "sse-app", "HEALTH_STATUS_DEGRADED", "OOMKilled"],
    );
    controller.abort();
    await waitFor("watch unsubscribed", () => hub.subscriptions() === subscriptions);
  });

  it("refuses a watch with a status code before the stream starts", async () => {
    const response = await request("GET", "/api/v1/watch?selector=env%20in%20(", { token: viewerToken });

    assert.deepEqual([response.status, response.json.error.code], [400, "INVALID_ARGUMENT"]);
    assert.equal((await request("GET", "/api/v1/watch")).status, 401);
  });
});
