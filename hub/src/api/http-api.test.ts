import * as assert from "node:assert/strict";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type { FleetService } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import type { ServiceImpl } from "@flotilla/proto/grpc";
import { parseToken } from "../auth/tokens.js";
import type { RolloutMember, RolloutState } from "../rollout/rollout-state.js";
import { viewRollout } from "../rollout/rollout-view.js";
import type { Cluster } from "../store/store.js";
import { createFleetService } from "./fleet-service.js";
import { createHttpApi, createRolloutApi } from "./http-api.js";
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

async function request(
  method: string,
  path: string,
  options: { token?: string; body?: string; base?: string } = {},
) {
  const response = await fetch(`${options.base ?? baseUrl}${path}`, {
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

const STARTED_AT = "2024-05-01T12:00:00.000Z";

/** A member of `cluster` at `step` (0-based) with a wanted state; `extra` says where it is. */
function member(
  cluster: Cluster,
  app: string,
  step: number,
  extra: Partial<RolloutMember> = {},
): RolloutMember {
  return {
    clusterId: cluster.id,
    cluster: cluster.name,
    app,
    step,
    wanted: { digest: `sha256:${app}-new`, bundleDigest: "", desired: {} },
    stable: { digest: `sha256:${app}-old`, bundleDigest: "", desired: {} },
    ...extra,
  };
}

/**
 * A rollout of two steps (canary on env=staging, prod on env=prod), as the controller stores it:
 * `members` decide the counts, `overrides` the phase, step and failures.
 */
function rolloutState(
  name: string,
  members: RolloutMember[],
  overrides: Partial<RolloutState> = {},
): RolloutState {
  return {
    name,
    declaration: {
      name,
      origin: "Rollout",
      declaredBy: "fleet-root",
      steps: [
        {
          name: "canary",
          selector: { clusters: { matchLabels: { env: "staging" } } },
          maxUnavailable: { count: 1 },
          bakeTimeMs: 60_000,
        },
        {
          name: "prod",
          selector: { clusters: { matchLabels: { env: "prod" } } },
          maxUnavailable: { percent: 25 },
          bakeTimeMs: 300_000,
        },
      ],
      progressDeadlineMs: 600_000,
      rollback: false,
      offline: { policy: "wait" },
      apps: [...new Set(members.map((m) => m.app))].sort(),
    },
    generation: 1,
    commit: "0123456789abcdef0123456789abcdef01234567",
    phase: "Progressing",
    step: 1,
    stepCount: 2,
    stepStartedAt: STARTED_AT,
    message: "step 2/2 prod started",
    failures: [],
    members,
    startedAt: STARTED_AT,
    updatedAt: STARTED_AT,
    ...overrides,
  };
}

type ViewJson = ReturnType<typeof viewRollout>;

describe("HTTP API: rollouts", () => {
  let rolloutUrl: string;
  let slowUrl: string;
  let web: RolloutState;
  let api: RolloutState;

  before(async () => {
    const runtime = await hub.opened;
    // Short waits: no controller runs here, so an action stays queued unless a test carries it out.
    rolloutUrl = await serve(createRolloutApi(runtime, { actionWaitMs: 100 }));
    slowUrl = await serve(createRolloutApi(runtime, { actionWaitMs: 5_000 }));
    const staging = await hub.addCluster({ name: "ro-staging-1", labels: { env: "staging" } });
    const prod1 = await hub.addCluster({ name: "ro-prod-1", labels: { env: "prod" } });
    const prod2 = await hub.addCluster({ name: "ro-prod-2", labels: { env: "prod" } });
    web = rolloutState("web", [
      member(staging, "web", 0, { releasedAt: STARTED_AT, doneAt: STARTED_AT, passed: true }),
      member(prod1, "web", 1, { releasedAt: STARTED_AT }),
      member(prod2, "web", 1),
    ]);
    api = rolloutState(
      "api",
      [member(staging, "api", 0, { releasedAt: STARTED_AT }), member(prod1, "api", 1)],
      {
        phase: "Failed",
        step: 0,
        message: "step 1/2 canary failed: api on ro-staging-1 is Degraded",
        failures: [
          {
            cluster: "ro-staging-1",
            app: "api",
            message: "Degraded: Deployment api has 0/2 ready replicas",
            resources: [
              { kind: "Deployment", namespace: "api", name: "api", health: "Degraded", message: "0/2 ready" },
            ],
          },
        ],
      },
    );
    // Hand-written states must read as the controller's own.
    viewRollout(web);
    viewRollout(api);
    await hub.store.rollouts.put("web", web as unknown as Record<string, unknown>);
    await hub.store.rollouts.put("api", api as unknown as Record<string, unknown>);
  });

  /** Deletes queued commands so each test sees only its own. */
  async function clearCommands(): Promise<void> {
    const commands = await hub.store.rollouts.listCommands();
    await hub.store.rollouts.removeCommands(commands.map((command) => command.id));
  }

  it("lists every rollout as its view, and tells whether the token may act", async () => {
    const asViewer = await request("GET", "/api/v1/rollouts", { token: viewerToken, base: rolloutUrl });
    const asAdmin = await request("GET", "/api/v1/rollouts", { token: adminToken, base: rolloutUrl });

    assert.equal(asViewer.status, 200, asViewer.text);
    assert.deepEqual(
      asViewer.json.rollouts.map((view: ViewJson) => view.name),
      ["api", "web"],
    );
    assert.equal(asViewer.json.canControl, false);
    assert.equal(asAdmin.json.canControl, true);
    const view = asViewer.json.rollouts.find((candidate: ViewJson) => candidate.name === "web");
    assert.deepEqual(view, JSON.parse(JSON.stringify(viewRollout(web))));
    assert.deepEqual(
      [view.phase, view.step, view.stepCount, view.stepName, view.waitingClusters],
      ["Progressing", 2, 2, "prod", ["ro-prod-2"]],
    );
    assert.deepEqual(view.counts, {
      updated: 1,
      updating: 1,
      waiting: 1,
      failed: 0,
      rolledBack: 0,
      skipped: 0,
    });
  });

  it("answers one rollout with its failures, and 404 naming an unknown one", async () => {
    const found = await request("GET", "/api/v1/rollouts/api", { token: viewerToken, base: rolloutUrl });
    const missing = await request("GET", "/api/v1/rollouts/nope", { token: viewerToken, base: rolloutUrl });

    assert.equal(found.status, 200, found.text);
    assert.equal(found.json.phase, "Failed");
    assert.deepEqual(found.json.failures, api.failures);
    assert.equal(found.json.counts.failed, 1);
    assert.deepEqual([missing.status, missing.json.error.code], [404, "NOT_FOUND"]);
    assert.match(missing.json.error.message, /rollout nope does not exist/);
  });

  it("queues an admin's pause and answers applied false when no replica carries it out in time", async () => {
    await clearCommands();

    const response = await request("POST", "/api/v1/rollouts/web/pause", {
      token: adminToken,
      base: rolloutUrl,
    });

    assert.equal(response.status, 200, response.text);
    assert.equal(response.json.applied, false);
    assert.equal(response.json.rollout.name, "web");
    assert.equal(response.json.rollout.phase, "Progressing");
    const queued = await hub.store.rollouts.listCommands();
    assert.deepEqual(
      queued.map(({ rollout, action, all, actor }) => ({ rollout, action, all, actor })),
      [{ rollout: "web", action: "pause", all: false, actor: "root" }],
    );
  });

  it("answers applied true with the new state once the resolving replica carried the command out", async () => {
    await clearCommands();
    // Stands in for the controller: takes the command and pauses the rollout.
    let stop = false;
    const controller = (async () => {
      while (!stop) {
        const commands = await hub.store.rollouts.listCommands();
        if (commands.length > 0) {
          await hub.store.rollouts.put("web", { ...web, phase: "Paused", message: "paused by root" });
          await hub.store.rollouts.removeCommands(commands.map((command) => command.id));
          return commands;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return [];
    })();

    const response = await request("POST", "/api/v1/rollouts/web/pause", {
      token: adminToken,
      base: slowUrl,
    });
    stop = true;
    const taken = await controller;
    await hub.store.rollouts.put("web", web as unknown as Record<string, unknown>);

    assert.equal(response.status, 200, response.text);
    assert.equal(response.json.applied, true);
    assert.equal(response.json.rollout.phase, "Paused");
    assert.deepEqual(
      taken.map((command) => command.action),
      ["pause"],
    );
  });

  it('queues promote with "all" from the body', async () => {
    await clearCommands();

    const response = await request("POST", "/api/v1/rollouts/web/promote", {
      token: adminToken,
      base: rolloutUrl,
      body: '{"all":true}',
    });

    assert.equal(response.status, 200, response.text);
    const queued = await hub.store.rollouts.listCommands();
    assert.deepEqual(
      queued.map(({ action, all }) => ({ action, all })),
      [{ action: "promote", all: true }],
    );
    await clearCommands();
  });

  it("leaves other paths to the caller", async () => {
    const response = await request("GET", "/api/v1/clusters", { token: adminToken, base: rolloutUrl });

    assert.deepEqual([response.status, response.text], [418, "not the API"]);
  });
});

describe("reliability: security defaults", () => {
  let rolloutUrl: string;

  before(async () => {
    rolloutUrl = await serve(createRolloutApi(await hub.opened, { actionWaitMs: 100 }));
  });

  it("a viewer token or no token cannot pause, resume, abort or promote a rollout", async (t) => {
    const before = (await hub.store.rollouts.listCommands()).length;
    const cases: [string, string | undefined, number, RegExp][] = [];
    for (const action of ["pause", "resume", "abort", "promote"]) {
      cases.push([action, viewerToken, 403, /viewer and may only read/]);
      cases.push([action, undefined, 401, /missing API token/]);
    }
    let refused = 0;
    for (const [action, token, status, message] of cases) {
      const response = await request("POST", `/api/v1/rollouts/web/${action}`, {
        ...(token ? { token } : {}),
        base: rolloutUrl,
      });
      assert.equal(response.status, status, `${action}: ${response.text}`);
      assert.match(response.json.error.message, message, action);
      assert.ok(!response.text.includes(viewerToken), "the token is never echoed");
      refused += 1;
    }

    assert.equal((await hub.store.rollouts.listCommands()).length, before, "nothing was queued");
    t.diagnostic(
      `${refused} rollout actions by a viewer or without a token; ${refused} refused (403/401), 0 queued`,
    );
  });

  it("a bad rollout action, body or method is refused with a status naming the cause", async (t) => {
    const before = (await hub.store.rollouts.listCommands()).length;
    const cases: [string, string, string | undefined, number, string, RegExp][] = [
      [
        "POST",
        "/api/v1/rollouts/web/explode",
        undefined,
        400,
        "INVALID_ARGUMENT",
        /unknown action "explode"/,
      ],
      ["POST", "/api/v1/rollouts/nope/pause", undefined, 404, "NOT_FOUND", /rollout nope does not exist/],
      [
        "POST",
        "/api/v1/rollouts/web/pause",
        '{"all":true}',
        400,
        "INVALID_ARGUMENT",
        /"all" goes with the promote action only/,
      ],
      [
        "POST",
        "/api/v1/rollouts/web/promote",
        "{all",
        400,
        "INVALID_ARGUMENT",
        /rollout web: the body is not JSON/,
      ],
      ["POST", "/api/v1/rollouts/web/promote", "[true]", 400, "INVALID_ARGUMENT", /must be a JSON object/],
      ["POST", "/api/v1/rollouts/web/promote", '{"al":true}', 400, "INVALID_ARGUMENT", /"al" is unknown/],
      [
        "POST",
        "/api/v1/rollouts/web/promote",
        '{"all":"yes"}',
        400,
        "INVALID_ARGUMENT",
        /"all" must be true/,
      ],
      ["GET", "/api/v1/rollouts/web/pause", undefined, 405, "UNIMPLEMENTED", /use POST/],
      ["DELETE", "/api/v1/rollouts/web", undefined, 405, "UNIMPLEMENTED", /use GET/],
      ["POST", "/api/v1/rollouts/web/pause/now", undefined, 404, "NOT_FOUND", /no route/],
      ["GET", "/api/v1/rollouts/%E0%A4%A", undefined, 400, "INVALID_ARGUMENT", /not valid URL encoding/],
    ];
    for (const [method, path, body, status, code, message] of cases) {
      const response = await request(method, path, {
        token: adminToken,
        base: rolloutUrl,
        ...(body !== undefined ? { body } : {}),
      });
      assert.equal(response.status, status, `${method} ${path}: ${response.text}`);
      assert.equal(response.json.error.code, code, `${method} ${path}`);
      assert.match(response.json.error.message, message, `${method} ${path}`);
    }

    assert.equal((await hub.store.rollouts.listCommands()).length, before, "nothing was queued");
    t.diagnostic(
      `${cases.length} malformed rollout requests; ${cases.length} refused with 400/404/405, 0 queued`,
    );
  });

  it("a viewer limited to staging clusters sees no member, failure or waiting cluster of prod", async (t) => {
    const token = await hub.createApiToken("viewer", { name: "staging-only", selector: "env=staging" });

    const listed = await request("GET", "/api/v1/rollouts", { token, base: rolloutUrl });
    const one = await request("GET", "/api/v1/rollouts/web", { token, base: rolloutUrl });

    assert.equal(listed.status, 200, listed.text);
    const views: ViewJson[] = listed.json.rollouts;
    const clusters = views.flatMap((view) => [
      ...view.members.map((m) => m.cluster),
      ...view.waitingClusters,
      ...view.failures.map((failure) => failure.cluster),
    ]);
    assert.ok(clusters.length > 0, "the staging members are shown");
    assert.deepEqual([...new Set(clusters)], ["ro-staging-1"]);
    assert.ok(!listed.text.includes("ro-prod-"), "no prod cluster name anywhere in the answer");
    assert.equal(one.status, 200, one.text);
    assert.deepEqual(one.json.counts, {
      updated: 1,
      updating: 0,
      waiting: 0,
      failed: 0,
      rolledBack: 0,
      skipped: 0,
    });
    t.diagnostic(
      `${views.length} rollouts shown to a staging-only viewer with ${clusters.length} cluster mentions; 0 name a prod cluster`,
    );
  });
});
