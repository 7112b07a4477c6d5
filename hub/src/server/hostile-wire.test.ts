/**
 * Hostile input at the hub's real front door (issue 8: "wire and API", "security defaults"). One
 * embedded hub (PGlite, in-process bus) listens on 127.0.0.1 with its own CA; the tests reach it
 * only from outside: gRPC clients of the proto adapter, raw HTTP/2 frames (node:http2, so
 * frames grpc-js would never send can be sent, and grpc-js stays behind the adapter), HTTPS
 * requests and raw sockets. Its config plants secrets (repository passwords in URLs, a webhook
 * secret, a notification URL and header, a metrics token); every log line, progress line,
 * response body and error is kept, and the security tests search all of them and the event
 * history. The tests share the hub and run in file order; the last one closes it and reads
 * what it left on disk.
 */
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer, request as requestHttp } from "node:http";
import { connect as connectHttp2 } from "node:http2";
import { request as requestHttps } from "node:https";
import { type AddressInfo, connect as connectTcp } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import { connect as connectTls } from "node:tls";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs, timestampDate } from "@bufbuild/protobuf/wkt";
import {
  type AgentMessageSchema,
  AgentService,
  type HubMessage,
} from "@flotilla/proto/gen/flotilla/v1/agent_pb";
import { HealthStatus, SyncStatus } from "@flotilla/proto/gen/flotilla/v1/app_pb";
import { FleetService } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import {
  type CallOptions,
  type Client,
  closeClient,
  createClient,
  credentials,
  type GrpcCode,
  GrpcError,
} from "@flotilla/proto/grpc";
import { generateToken, hashSecret, parseToken } from "../auth/tokens.js";
import { loadHubConfig } from "./hub-config.js";
import { createLogger } from "./log.js";
import { ADMIN_TOKEN_FILE, type Hub, startHub } from "./start-hub.js";

const timeout = 180_000;
const WAIT_MS = 30_000;
/** FLOTILLA_MAX_MESSAGE_BYTES of the hub under test: small, so oversized messages are cheap. */
const MAX_MESSAGE_BYTES = 64 * 1024;

const run = randomBytes(6).toString("hex");
/**
 * Secrets the hub is configured with. None may reach a log line, a response, an error or an
 * event; "+" and "/" make their URL-encoded forms differ from the plain ones.
 */
const PLANTED = {
  "source repository password": `src-pw+${run}/x`,
  "repositories entry password": `repo-pw+${run}/y`,
  "webhook secret": `hook-secret+${run}/z`,
  "notification URL path": `notify-path-${run}`,
  "notification header": `notify-header+${run}`,
  "metrics token": `metrics-token+${run}`,
} as const;

type Http = { status: number; body: string; headers: Record<string, string | string[] | undefined> };
type AgentClient = Client<typeof AgentService>;
type FleetClient = Client<typeof FleetService>;

/** Everything the hub said to anyone during this file, for the secret searches. */
const seen = {
  logLines: [] as string[],
  progress: [] as string[],
  /** Response bodies, error details and trailers; not the responses that hand out a token by design. */
  responses: [] as string[],
};

/** Every token and credential handed out by this file: their secrets must never be stored or shown. */
const issued: { what: string; text: string }[] = [];

type Remote = { url: string; hits(prefix: string): number; close(): Promise<void> };

type Wire = {
  hub: Hub;
  dir: string;
  dataDir: string;
  cacheDir: string;
  remote: Remote;
  adminToken: string;
  agent: AgentClient;
  fleet: FleetClient;
  closed: boolean;
};

let wire: Wire;

/**
 * A stand-in for the Git server and the notification receiver: every repository refuses
 * (401 for the ones with credentials, 503 otherwise), the notification endpoint answers 500.
 */
async function startRemote(): Promise<Remote> {
  const hits: string[] = [];
  const server = createHttpServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    hits.push(path);
    req.resume();
    if (path.startsWith("/git/private") || path.startsWith("/git/extra")) {
      res.writeHead(401, { "www-authenticate": 'Basic realm="git"' });
      res.end("denied");
    } else if (path.startsWith("/notify/")) {
      res.writeHead(500);
      res.end("receiver down");
    } else {
      res.writeHead(503);
      res.end("unavailable");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    hits: (prefix) => hits.filter((path) => path.startsWith(prefix)).length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function startWire(): Promise<Wire> {
  const dir = await mkdtemp(join(tmpdir(), "flotilla-hostile-wire-"));
  const remote = await startRemote();
  const withUser = (password: string, path: string) =>
    remote.url.replace("http://", `http://flotilla:${encodeURIComponent(password)}@`) + path;
  // The config file lives beside the data dir, not in it: the at-rest scan reads the data dir.
  const configFile = join(dir, "hub.yaml");
  await writeFile(
    configFile,
    [
      "sources:",
      "  - name: private",
      `    repoURL: ${withUser(PLANTED["source repository password"], "/git/private.git")}`,
      "    pollInterval: 1h",
      "  - name: hooked",
      `    repoURL: ${remote.url}/git/hooked.git`,
      "    pollInterval: 1h",
      `    webhookSecret: \${HOOK_SECRET}`,
      "repositories:",
      `  - url: ${withUser(PLANTED["repositories entry password"], "/git/extra.git")}`,
      `metricsToken: \${METRICS_TOKEN}`,
      "notifications:",
      "  pollInterval: 200ms",
      "  maxAttempts: 1",
      "  timeout: 5s",
      "  targets:",
      "    - name: ops",
      `      url: ${remote.url}/notify/\${NOTIFY_PATH}`,
      "      triggers: [app-degraded]",
      "      headers:",
      `        Authorization: Bearer \${NOTIFY_HEADER}`,
      "",
    ].join("\n"),
  );
  const dataDir = join(dir, "data");
  const cacheDir = join(dir, "cache");
  const config = loadHubConfig(
    { dataDir, listenHttp: "127.0.0.1:0", config: configFile },
    {
      HOME: dir,
      FLOTILLA_CACHE_DIR: cacheDir,
      FLOTILLA_REPLICA: "hostile-wire",
      FLOTILLA_MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES),
      HOOK_SECRET: PLANTED["webhook secret"],
      METRICS_TOKEN: PLANTED["metrics token"],
      NOTIFY_PATH: PLANTED["notification URL path"],
      NOTIFY_HEADER: PLANTED["notification header"],
    },
    dir,
  );
  // The hub's own JSON logger (with its redaction) at debug, writing into memory.
  const log = createLogger({ level: "debug", write: (line) => seen.logLines.push(line) });
  const hub = await startHub(config, { log, progress: (line) => seen.progress.push(line) });
  const adminToken = hub.createdAdminToken ?? "";
  assert.ok(parseToken(adminToken)?.kind === "api", "the first start creates an admin token");
  issued.push({ what: "admin API token", text: adminToken });
  const address = `localhost:${hub.port}`;
  const channel = () => credentials.createSsl(Buffer.from(hub.runtime.caCertPem));
  return {
    hub,
    dir,
    dataDir,
    cacheDir,
    remote,
    adminToken,
    agent: createClient(AgentService, address, channel()),
    fleet: createClient(FleetService, address, channel()),
    closed: false,
  };
}

before(async () => {
  wire = await startWire();
  // Settle the first poll of every source, so the fetch counts below only move when asked to.
  await wire.fleet.refresh({}, asAdmin());
});

after(async () => {
  if (!wire) return;
  closeClient(wire.agent);
  closeClient(wire.fleet);
  if (!wire.closed) await wire.hub.close();
  await wire.remote.close();
  await rm(wire.dir, { recursive: true, force: true });
});

function bearer(token: string): CallOptions {
  return { metadata: { authorization: `Bearer ${token}` }, deadlineMs: WAIT_MS };
}

function asAdmin(): CallOptions {
  return bearer(wire.adminToken);
}

/** The GrpcError `call` fails with (kept for the secret search); fails the test when it succeeds. */
async function refusal(call: Promise<unknown>, what: string): Promise<GrpcError> {
  const outcome = await call.then(
    () => undefined,
    (error: unknown) => error,
  );
  assert.ok(outcome instanceof GrpcError, `${what}: expected a refusal, got ${String(outcome)}`);
  seen.responses.push(outcome.message);
  return outcome;
}

function assertCode(error: GrpcError, code: GrpcCode, details: RegExp, what: string): void {
  assert.equal(error.code, code, `${what}: ${error.message}`);
  assert.match(error.details, details, what);
}

/** A request to the hub over HTTPS, trusting its CA; the body is kept for the secret search. */
function https(
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string } = {},
): Promise<Http> {
  return new Promise((resolve, reject) => {
    const req = requestHttps(
      `${wire.hub.url}${path}`,
      { method, ca: wire.hub.runtime.caCertPem, headers: options.headers ?? {} },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () => {
          seen.responses.push(body);
          resolve({ status: res.statusCode ?? 0, body, headers: res.headers });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

/** Polls `check` until it returns something other than undefined or false, failing after WAIT_MS. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${WAIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

let tokenCount = 0;

/** A bootstrap token made through CreateBootstrapToken as admin; its text is remembered. */
async function createBootstrapToken(
  request: { ttlMs?: number; maxUses?: number } = {},
): Promise<{ text: string; id: string; expiresAt: Date }> {
  const response = await wire.fleet.createBootstrapToken(
    {
      maxUses: request.maxUses ?? 0,
      description: `hostile-wire ${++tokenCount}`,
      ...(request.ttlMs === undefined ? {} : { ttl: durationFromMs(request.ttlMs) }),
    },
    asAdmin(),
  );
  issued.push({ what: "bootstrap token", text: response.token });
  assert.ok(response.info?.expiresAt);
  return { text: response.token, id: response.info.id, expiresAt: timestampDate(response.info.expiresAt) };
}

let clusterCount = 0;

/** Registers a new cluster through the real Register RPC; returns its name, id and credential. */
async function registerCluster(prefix: string) {
  clusterCount += 1;
  const name = `${prefix}-${clusterCount}`;
  const clusterUid = `uid-${name}`;
  const token = await createBootstrapToken();
  const response = await wire.agent.register(
    { bootstrapToken: token.text, clusterName: name, clusterUid, agentVersion: "9.9.9-test" },
    { deadlineMs: WAIT_MS },
  );
  issued.push({ what: `credential of cluster ${name}`, text: response.credential });
  return { name, clusterUid, id: response.clusterId, credential: response.credential };
}

/** An agent's Connect stream over the real listener, cancelled when the test ends. */
function openStream(t: TestContext, authorization: string | undefined) {
  const stream = wire.agent.connect(authorization === undefined ? {} : { metadata: { authorization } });
  t.after(() => stream.cancel());
  const messages = stream[Symbol.asyncIterator]();
  const next = async () => {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no hub message within ${WAIT_MS} ms`)), WAIT_MS);
    });
    try {
      return await Promise.race([messages.next(), deadline]);
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    send: (message: MessageInitShape<typeof AgentMessageSchema>) => stream.send(message),
    /** The next hub message; fails when the stream ends first. */
    async receive(): Promise<HubMessage> {
      const message = await next();
      if (message.done) throw new Error("the hub ended the stream");
      return message.value;
    },
    /** Reads until a message of `kind` arrives. */
    async receiveUntil(kind: HubMessage["body"]["case"]): Promise<HubMessage> {
      for (;;) {
        const message = await this.receive();
        if (message.body.case === kind) return message;
      }
    },
    /** The GrpcError the stream ends with (fails when it ends with OK). */
    async refusal(): Promise<GrpcError> {
      return refusal(
        (async () => {
          for (let message = await next(); !message.done; message = await next()) {
            // Messages before the end are not what this waits for.
          }
        })(),
        "Connect",
      );
    },
  };
}

function hello(clusterName: string, held: { app: string; digest: string; seq: bigint }[] = []) {
  return {
    body: {
      case: "hello",
      value: {
        clusterName,
        agentVersion: "9.9.9-test",
        held: held.map((entry) => ({ ...entry, bundleDigest: "" })),
      },
    },
  } as const;
}

/** The hub still answers: a gRPC refusal on the agent port, a fleet read, and /healthz. */
async function assertServing(what: string): Promise<void> {
  const error = await refusal(
    wire.agent.register(
      { bootstrapToken: "nope", clusterName: "x", clusterUid: "x" },
      { deadlineMs: WAIT_MS },
    ),
    `${what}: Register`,
  );
  assertCode(error, "UNAUTHENTICATED", /malformed/, `${what}: Register`);
  const clusters = await wire.fleet.listClusters({}, asAdmin());
  assert.ok(Array.isArray(clusters.clusters), `${what}: ListClusters`);
  assert.equal((await https("GET", "/healthz")).status, 200, `${what}: /healthz`);
}

/** One gRPC message frame: flag byte, 4-byte big-endian length, payload. */
function grpcFrame(payload: Buffer, options: { compressed?: boolean; declaredLength?: number } = {}): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(options.compressed ? 1 : 0, 0);
  header.writeUInt32BE(options.declaredLength ?? payload.length, 1);
  return Buffer.concat([header, payload]);
}

type GrpcStatus = { code: number; message: string };

/**
 * A raw HTTP/2 connection to the hub (TLS, ALPN h2 only, as gRPC clients offer), closed when
 * the test ends. `call` sends `body` as the whole request stream of `path` and resolves with the
 * gRPC status the hub ended the call with; it fails when the hub ends it without one.
 */
function openRawGrpc(t: TestContext): { call(path: string, body: Buffer): Promise<GrpcStatus> } {
  const session = connectHttp2(`https://localhost:${wire.hub.port}`, { ca: wire.hub.runtime.caCertPem });
  // A failed session fails the calls on it, which is what the tests look at.
  session.on("error", () => {});
  t.after(() => session.close());
  return {
    call: (path, body) =>
      new Promise((resolve, reject) => {
        const stream = session.request({
          ":method": "POST",
          ":path": path,
          "content-type": "application/grpc",
          te: "trailers",
        });
        const timer = setTimeout(() => {
          stream.close();
          reject(new Error(`${path}: no gRPC status within ${WAIT_MS} ms`));
        }, WAIT_MS);
        let status: GrpcStatus | undefined;
        const read = (headers: Record<string, unknown>) => {
          if (headers["grpc-status"] === undefined) return;
          const message = decodeURIComponent(String(headers["grpc-message"] ?? ""));
          status = { code: Number(headers["grpc-status"]), message };
          seen.responses.push(message);
        };
        stream.on("response", read);
        stream.on("trailers", read);
        stream.on("data", () => {});
        stream.on("error", () => {});
        stream.on("close", () => {
          clearTimeout(timer);
          if (status) resolve(status);
          else
            reject(
              new Error(`${path}: the hub reset the stream (code ${stream.rstCode}) without a gRPC status`),
            );
        });
        stream.end(body);
      }),
  };
}

const GRPC_CODE_NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
] as const;

function codeName(code: number): string {
  return GRPC_CODE_NAMES[code] ?? `code ${code}`;
}

/** A small deterministic generator, so a failing random case can be replayed from its seed. */
function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The texts of every event, from ListEvents (all pages) and from /api/v1/events. */
async function collectEvents(): Promise<{ texts: string[]; count: number }> {
  const texts: string[] = [];
  let count = 0;
  let pageToken = "";
  do {
    const page = await wire.fleet.listEvents({ pageSize: 500, pageToken }, asAdmin());
    for (const event of page.events) texts.push(textOf(event));
    count += page.events.length;
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  const http = await https("GET", "/api/v1/events?pageSize=500", { headers: authHeader(wire.adminToken) });
  assert.equal(http.status, 200, http.body);
  texts.push(http.body);
  return { texts, count };
}

/** A protobuf message (or anything) as JSON text; bigints as strings. */
function textOf(value: unknown): string {
  return JSON.stringify(value, (_, field: unknown) => (typeof field === "bigint" ? String(field) : field));
}

async function countEvents(type: string): Promise<number> {
  return (await wire.hub.runtime.store.events.list({ type, limit: 1_000 })).events.length;
}

function authHeader(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

/** The forms a leaked secret could take: as is, URL-encoded, base64, and inside a Basic header. */
function encodingsOf(secret: string): string[] {
  const forms = [
    secret,
    encodeURIComponent(secret),
    Buffer.from(secret).toString("base64"),
    Buffer.from(`flotilla:${secret}`).toString("base64"),
  ];
  return [...new Set(forms)];
}

describe("reliability: wire and API", () => {
  it("bootstrap tokens that are malformed, unknown, expired, revoked or used up are each refused with their own reason", {
    timeout,
  }, async (t) => {
    const admin = parseToken(wire.adminToken);
    assert.ok(admin);
    const known = await createBootstrapToken();
    const knownId = parseToken(known.text)?.id ?? "";
    const expired = await createBootstrapToken({ ttlMs: 1 });
    await waitFor("the 1 ms token to expire", async () => Date.now() > expired.expiresAt.getTime() + 5);
    const revoked = await createBootstrapToken();
    await wire.fleet.revokeBootstrapToken({ id: revoked.id }, asAdmin());
    const once = await createBootstrapToken({ maxUses: 1 });
    const first = await wire.agent.register(
      { bootstrapToken: once.text, clusterName: "replay-first", clusterUid: "uid-replay-first" },
      { deadlineMs: WAIT_MS },
    );
    issued.push({ what: "credential of cluster replay-first", text: first.credential });
    const cluster = generateToken("cluster");

    const cases: { name: string; token: string; details: RegExp }[] = [
      { name: "empty", token: "", details: /^bootstrap token is malformed$/ },
      { name: "not a token", token: "hello world", details: /^bootstrap token is malformed$/ },
      { name: "an API token", token: wire.adminToken, details: /^bootstrap token is malformed$/ },
      { name: "a cluster credential", token: cluster, details: /^bootstrap token is malformed$/ },
      { name: "upper-cased", token: known.text.toUpperCase(), details: /^bootstrap token is malformed$/ },
      {
        name: "unknown id",
        token: generateToken("bootstrap"),
        details: /unknown or its secret does not match/,
      },
      {
        name: "known id, wrong secret",
        token: `flb_${knownId}.${"0".repeat(32)}`,
        details: /unknown or its secret does not match/,
      },
      { name: "expired", token: expired.text, details: /^bootstrap token expired$/ },
      { name: "revoked", token: revoked.text, details: /^bootstrap token was revoked$/ },
      {
        name: "used up (a replay of a used token)",
        token: once.text,
        details: /^bootstrap token has no uses left$/,
      },
    ];
    const messages = new Set<string>();
    for (const [at, entry] of cases.entries()) {
      const name = `refused-${at}`;
      const error = await refusal(
        wire.agent.register(
          { bootstrapToken: entry.token, clusterName: name, clusterUid: `uid-${name}` },
          { deadlineMs: WAIT_MS },
        ),
        entry.name,
      );
      assertCode(error, "UNAUTHENTICATED", entry.details, entry.name);
      messages.add(error.details);
      const secret = parseToken(entry.token)?.secret;
      assert.ok(entry.token === "" || !error.message.includes(entry.token), `${entry.name}: token echoed`);
      if (secret) assert.ok(!error.message.includes(secret), `${entry.name}: secret echoed`);
      assert.equal(
        await wire.hub.runtime.store.clusters.getByName(name),
        undefined,
        `${entry.name}: registered`,
      );
    }
    // malformed, unknown, expired, revoked and used up read differently; a wrong secret for a
    // known id reads as unknown, so a guesser cannot tell that the id exists.
    assert.equal(messages.size, 5, [...messages].join(" | "));
    const listed = await wire.fleet.listClusters({}, asAdmin());
    assert.deepEqual(
      listed.clusters.map((entry) => entry.name).filter((name) => name.startsWith("refused-")),
      [],
    );
    t.diagnostic(
      `${cases.length} bad bootstrap tokens sent to Register over TLS: ${cases.length} refused with UNAUTHENTICATED, ${messages.size} distinct reasons, 0 token texts or secrets in the messages, 0 clusters created`,
    );
  });

  it("a cluster's credential cannot open another cluster's stream, and nothing is recorded for the other cluster", {
    timeout,
  }, async (t) => {
    const a = await registerCluster("cross-a");
    const b = await registerCluster("cross-b");
    const store = wire.hub.runtime.store;
    const bBefore = await store.clusters.get(b.id);
    const bEventsBefore = (await store.events.list({ clusterId: b.id })).events.length;

    const impersonate = openStream(t, `Bearer ${a.credential}`);
    await impersonate.send(hello(b.name));
    const denied = await impersonate.refusal();
    assertCode(
      denied,
      "PERMISSION_DENIED",
      new RegExp(`belongs to cluster ${a.name}, not ${b.name}`),
      "Hello naming B",
    );

    // On A's own stream, a status for an app only B would have is A's, never B's.
    const own = openStream(t, `Bearer ${a.credential}`);
    await own.send(hello(a.name));
    assert.equal((await own.receive()).body.case, "welcome");
    await own.send({
      body: {
        case: "appStatus",
        value: {
          app: `${b.name}-only-app`,
          syncStatus: SyncStatus.SYNCED,
          healthStatus: HealthStatus.HEALTHY,
        },
      },
    });
    await waitFor("A's status to be stored", async () =>
      (await store.statuses.list(a.id)).some((status) => status.app === `${b.name}-only-app`),
    );

    const crossKind: { name: string; call: () => Promise<unknown>; code: GrpcCode; details: RegExp }[] = [
      {
        name: "A's credential as an API token",
        call: () => wire.fleet.listClusters({}, bearer(a.credential)),
        code: "UNAUTHENTICATED",
        details: /is a cluster token, not an API token/,
      },
      {
        name: "A's credential as a bootstrap token",
        call: () =>
          wire.agent.register(
            { bootstrapToken: a.credential, clusterName: "cross-kind", clusterUid: "uid-cross-kind" },
            { deadlineMs: WAIT_MS },
          ),
        code: "UNAUTHENTICATED",
        details: /^bootstrap token is malformed$/,
      },
    ];
    for (const entry of crossKind) {
      const error = await refusal(entry.call(), entry.name);
      assertCode(error, entry.code, entry.details, entry.name);
      assert.ok(!error.message.includes(a.credential), `${entry.name}: credential echoed`);
    }
    const streams: { name: string; authorization: string; details: RegExp }[] = [
      {
        name: "the admin API token on Connect",
        authorization: `Bearer ${wire.adminToken}`,
        details: /malformed/,
      },
      {
        name: "A's credential id with B's secret",
        authorization: `Bearer flc_${parseToken(a.credential)?.id}.${parseToken(b.credential)?.secret}`,
        details: /cluster credential \w+ is unknown/,
      },
      { name: "no credential", authorization: "", details: /missing bearer credential/ },
    ];
    for (const entry of streams) {
      const stream = openStream(t, entry.authorization);
      await stream.send(hello(b.name)).catch(() => {});
      const error = await stream.refusal();
      assertCode(error, "UNAUTHENTICATED", entry.details, entry.name);
      assert.ok(
        !error.message.includes(parseToken(b.credential)?.secret ?? "?"),
        `${entry.name}: secret echoed`,
      );
    }

    const bAfter = await store.clusters.get(b.id);
    assert.ok(bBefore && bAfter);
    assert.equal(bAfter.state, "Pending", "B never connected");
    assert.equal(bAfter.lastSeenAt, null);
    assert.equal(bAfter.agentVersion, bBefore.agentVersion);
    assert.deepEqual(await store.statuses.list(b.id), []);
    assert.equal((await store.events.list({ clusterId: b.id })).events.length, bEventsBefore);
    const shown = await wire.fleet.getCluster({ name: b.name }, asAdmin());
    seen.responses.push(textOf(shown.cluster));
    t.diagnostic(
      `cluster A's credential: Hello naming B refused with PERMISSION_DENIED; ${crossKind.length + streams.length} cross-kind or forged credentials refused with UNAUTHENTICATED; B afterwards: state Pending, 0 statuses, 0 new events`,
    );
  });

  it("a rotated-away, re-registered or removed cluster's old credential is refused with UNAUTHENTICATED", {
    timeout,
  }, async (t) => {
    const c = await registerCluster("rotated");
    const first = openStream(t, `Bearer ${c.credential}`);
    await first.send(hello(c.name));
    assert.equal((await first.receive()).body.case, "welcome");
    await waitFor("the cluster to be Connected", async () =>
      (await wire.hub.runtime.store.clusters.get(c.id))?.state === "Connected" ? true : undefined,
    );

    const rotated = await wire.fleet.rotateClusterCredential(
      { name: c.name, grace: durationFromMs(0) },
      asAdmin(),
    );
    assert.equal(rotated.delivered, true);
    const rotation = await first.receiveUntil("credentialRotation");
    assert.equal(rotation.body.case, "credentialRotation");
    const second = rotation.body.value.credential;
    issued.push({ what: `rotated credential of cluster ${c.name}`, text: second });

    const reasons: string[] = [];
    /** Connect with a retired credential: UNAUTHENTICATED saying why, without the secret. */
    const assertRetired = async (credential: string, details: RegExp, what: string) => {
      const stream = openStream(t, `Bearer ${credential}`);
      await stream.send(hello(c.name)).catch(() => {});
      const error = await stream.refusal();
      assertCode(error, "UNAUTHENTICATED", details, what);
      assert.ok(!error.message.includes(parseToken(credential)?.secret ?? "?"), `${what}: secret echoed`);
      reasons.push(`${what}: ${details.exec(error.details)?.[0]}`);
    };
    await assertRetired(c.credential, /is expired/, "rotated away");

    // The new credential works.
    const current = openStream(t, `Bearer ${second}`);
    await current.send(hello(c.name));
    assert.equal((await current.receive()).body.case, "welcome");

    // Joining again with the same cluster uid issues a new credential and revokes the others.
    const rejoinToken = await createBootstrapToken();
    const rejoined = await wire.agent.register(
      { bootstrapToken: rejoinToken.text, clusterName: c.name, clusterUid: c.clusterUid },
      { deadlineMs: WAIT_MS },
    );
    issued.push({ what: `re-registered credential of cluster ${c.name}`, text: rejoined.credential });
    assert.equal(rejoined.clusterId, c.id);
    await assertRetired(second, /is revoked/, "replaced by a re-join");

    await wire.fleet.removeCluster({ name: c.name }, asAdmin());
    await assertRetired(rejoined.credential, /is unknown|was removed/, "cluster removed");
    t.diagnostic(
      `${reasons.length} retired credentials refused on Connect with UNAUTHENTICATED (${reasons.join("; ")}), none echoing its secret; the rotated-in credential connected`,
    );
  });

  it("a gRPC message over the hub's message limit is refused with RESOURCE_EXHAUSTED and the hub keeps serving", {
    timeout,
  }, async (t) => {
    const big = "x".repeat(MAX_MESSAGE_BYTES + 1024);
    const cases: { name: string; call: () => Promise<GrpcError> }[] = [
      {
        name: "Register with a huge cluster name",
        call: () =>
          refusal(
            wire.agent.register(
              { bootstrapToken: "x", clusterName: big, clusterUid: "u" },
              { deadlineMs: WAIT_MS },
            ),
            "Register",
          ),
      },
      {
        name: "CreateBootstrapToken with a huge description (admin)",
        call: () =>
          refusal(wire.fleet.createBootstrapToken({ description: big }, asAdmin()), "CreateBootstrapToken"),
      },
      {
        name: "ListClusters with a huge selector and no token",
        call: () =>
          refusal(wire.fleet.listClusters({ selector: big }, { deadlineMs: WAIT_MS }), "ListClusters"),
      },
    ];
    const outcomes: string[] = [];
    for (const entry of cases) {
      const error = await entry.call();
      assertCode(error, "RESOURCE_EXHAUSTED", /larger than max/i, entry.name);
      outcomes.push(error.code);
      await assertServing(`after ${entry.name}`);
    }
    // A Hello larger than the limit on an authenticated stream.
    const c = await registerCluster("oversized");
    const stream = openStream(t, `Bearer ${c.credential}`);
    const held = Array.from({ length: 2_000 }, (_, at) => ({
      app: `app-${at}-${"y".repeat(40)}`,
      digest: "d",
      seq: 1n,
    }));
    await stream.send(hello(c.name, held)).catch(() => {});
    assertCode(await stream.refusal(), "RESOURCE_EXHAUSTED", /larger than max/i, "a huge Hello");
    outcomes.push("RESOURCE_EXHAUSTED");
    await assertServing("after a huge Hello");
    // The same cluster connects normally right after.
    const normal = openStream(t, `Bearer ${c.credential}`);
    await normal.send(hello(c.name));
    assert.equal((await normal.receive()).body.case, "welcome");
    // Raw frames claiming more than the limit, with and without the bytes behind the claim.
    const declared = await openRawGrpc(t).call(
      "/flotilla.v1.AgentService/Register",
      grpcFrame(Buffer.alloc(16), { declaredLength: 1 << 30 }),
    );
    assert.equal(codeName(declared.code), "RESOURCE_EXHAUSTED", declared.message);
    outcomes.push(codeName(declared.code));
    await assertServing("after a frame declaring 1 GiB");
    t.diagnostic(
      `limit ${MAX_MESSAGE_BYTES} bytes; ${outcomes.length} oversized messages (3 unary RPCs, 1 Connect Hello, 1 raw frame declaring 1 GiB): ${outcomes.filter((code) => code === "RESOURCE_EXHAUSTED").length} RESOURCE_EXHAUSTED; the hub answered Register, ListClusters and /healthz after each`,
    );
  });

  it("malformed gRPC frames and random bytes get a gRPC error status and never take the hub down", {
    timeout,
  }, async (t) => {
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    const cases: { name: string; path: string; body: Buffer; codes: readonly string[] }[] = [
      {
        name: "undecodable protobuf to Register",
        path: "/flotilla.v1.AgentService/Register",
        body: grpcFrame(garbage),
        codes: ["INTERNAL", "INVALID_ARGUMENT"],
      },
      {
        name: "undecodable protobuf to ListClusters (before authentication)",
        path: "/flotilla.v1.FleetService/ListClusters",
        body: grpcFrame(garbage),
        codes: ["INTERNAL", "INVALID_ARGUMENT"],
      },
      {
        name: "undecodable protobuf on Connect",
        path: "/flotilla.v1.AgentService/Connect",
        body: grpcFrame(garbage),
        codes: ["INTERNAL", "INVALID_ARGUMENT", "UNAUTHENTICATED"],
      },
      {
        name: "a frame cut short (declares 100 bytes, carries 10)",
        path: "/flotilla.v1.AgentService/Register",
        body: grpcFrame(Buffer.alloc(10), { declaredLength: 100 }),
        // grpc-js: "Received no request message", with the code it uses for that.
        codes: ["INTERNAL", "INVALID_ARGUMENT", "UNIMPLEMENTED"],
      },
      {
        name: "a compressed frame without grpc-encoding",
        path: "/flotilla.v1.AgentService/Register",
        body: grpcFrame(Buffer.from("not gzip at all"), { compressed: true }),
        codes: ["INTERNAL", "INVALID_ARGUMENT", "UNIMPLEMENTED"],
      },
      {
        name: "a half frame header",
        path: "/flotilla.v1.AgentService/Register",
        body: Buffer.from([0, 0, 0]),
        codes: ["INTERNAL", "INVALID_ARGUMENT", "UNIMPLEMENTED"],
      },
      {
        name: "an unknown method",
        path: "/flotilla.v1.AgentService/Steal",
        body: grpcFrame(Buffer.alloc(0)),
        codes: ["UNIMPLEMENTED"],
      },
    ];
    const raw = openRawGrpc(t);
    const found: string[] = [];
    for (const entry of cases) {
      const status = await raw.call(entry.path, entry.body);
      const name = codeName(status.code);
      assert.ok(entry.codes.includes(name), `${entry.name}: got ${name} (${status.message})`);
      found.push(`${entry.name}: ${name}`);
    }
    await assertServing("after malformed frames");

    const seed = Number.parseInt(run.slice(0, 8), 16);
    const random = createRandom(seed);
    const counts = new Map<string, number>();
    const total = 200;
    const methods = ["/flotilla.v1.AgentService/Register", "/flotilla.v1.FleetService/CreateBootstrapToken"];
    for (let at = 0; at < total; at++) {
      const length = Math.floor(random() * 512);
      const payload = Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
      const status = await raw.call(methods[at % methods.length] as string, grpcFrame(payload));
      const name = codeName(status.code);
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    // Random bytes either fail to decode (INTERNAL) or decode into a request without a valid token.
    const allowed = new Set(["INTERNAL", "INVALID_ARGUMENT", "UNAUTHENTICATED"]);
    assert.deepEqual(
      [...counts.keys()].filter((name) => !allowed.has(name)),
      [],
      JSON.stringify([...counts]),
    );
    await assertServing("after random frames");
    const summary = [...counts].map(([name, count]) => `${count} ${name}`).join(", ");
    t.diagnostic(`${cases.length} malformed frames: ${found.join("; ")}`);
    t.diagnostic(
      `${total} random protobuf payloads (seed ${seed}) to Register and CreateBootstrapToken: ${summary}; 0 crashes, 0 accepted; the hub served Register, ListClusters and /healthz afterwards`,
    );
  });

  it("API calls without a token, with a wrong or revoked token, or from a viewer are refused and name what is missing", {
    timeout,
  }, async (t) => {
    const store = wire.hub.runtime.store;
    const makeApiToken = async (name: string) => {
      const text = generateToken("api");
      const parsed = parseToken(text);
      assert.ok(parsed);
      await store.apiTokens.create({ id: parsed.id, secret: parsed.secret, name, role: "viewer" });
      issued.push({ what: `API token ${name}`, text });
      return { text, id: parsed.id };
    };
    const viewer = await makeApiToken("viewer");
    const revoked = await makeApiToken("revoked-viewer");
    await store.apiTokens.revoke(revoked.id);
    const target = await registerCluster("protected");
    const admin = parseToken(wire.adminToken);
    assert.ok(admin);
    const tokensBefore = (await wire.fleet.listBootstrapTokens({ includeInactive: true }, asAdmin())).tokens
      .length;

    const unauthenticated: { name: string; metadata: Record<string, string>; details: RegExp }[] = [
      { name: "no token", metadata: {}, details: /missing API token/ },
      {
        name: "Basic instead of Bearer",
        metadata: { authorization: "Basic YWRtaW46YWRtaW4=" },
        details: /malformed authorization header/,
      },
      { name: "not a token", metadata: { authorization: "Bearer hunter2" }, details: /malformed API token/ },
      {
        name: "unknown token",
        metadata: authHeader(generateToken("api")),
        details: /is not known to this hub/,
      },
      {
        name: "admin id with a wrong secret",
        metadata: authHeader(`fla_${admin.id}.${"a".repeat(32)}`),
        details: /is not known to this hub/,
      },
      { name: "revoked token", metadata: authHeader(revoked.text), details: /was revoked/ },
    ];
    let grpcRefused = 0;
    let httpRefused = 0;
    for (const entry of unauthenticated) {
      const error = await refusal(
        wire.fleet.listClusters({}, { metadata: entry.metadata, deadlineMs: WAIT_MS }),
        entry.name,
      );
      assertCode(error, "UNAUTHENTICATED", entry.details, entry.name);
      grpcRefused += 1;
      const http = await https("GET", "/api/v1/clusters", { headers: entry.metadata });
      assert.equal(http.status, 401, `${entry.name}: ${http.body}`);
      assert.match(http.body, /"code":"UNAUTHENTICATED"/);
      assert.match(http.body, entry.details);
      httpRefused += 1;
    }

    const viewerCalls: { name: string; call: () => Promise<unknown>; verb: string }[] = [
      {
        name: "CreateBootstrapToken",
        call: () => wire.fleet.createBootstrapToken({}, bearer(viewer.text)),
        verb: "admin",
      },
      {
        name: "RemoveCluster",
        call: () => wire.fleet.removeCluster({ name: target.name }, bearer(viewer.text)),
        verb: "admin",
      },
      {
        name: "RotateClusterCredential",
        call: () => wire.fleet.rotateClusterCredential({ name: target.name }, bearer(viewer.text)),
        verb: "admin",
      },
      {
        name: "AddSource",
        call: () =>
          wire.fleet.addSource(
            { name: "evil", repoUrl: "https://git.invalid/evil.git" },
            bearer(viewer.text),
          ),
        verb: "write",
      },
      {
        name: "RemoveSource",
        call: () => wire.fleet.removeSource({ name: "hooked" }, bearer(viewer.text)),
        verb: "write",
      },
      { name: "Sync", call: () => wire.fleet.sync({ app: "anything" }, bearer(viewer.text)), verb: "write" },
      { name: "Refresh", call: () => wire.fleet.refresh({}, bearer(viewer.text)), verb: "write" },
      {
        name: "LabelCluster",
        call: () =>
          wire.fleet.labelCluster({ name: target.name, set: { owned: "yes" } }, bearer(viewer.text)),
        verb: "write",
      },
    ];
    for (const entry of viewerCalls) {
      const error = await refusal(entry.call(), entry.name);
      assertCode(
        error,
        "PERMISSION_DENIED",
        new RegExp(`token "viewer" is a viewer and may only read, not ${entry.verb}`),
        entry.name,
      );
      grpcRefused += 1;
    }
    const viewerRoutes: { method: string; path: string; body?: string; verb: string }[] = [
      { method: "POST", path: "/api/v1/tokens", body: "{}", verb: "admin" },
      { method: "DELETE", path: `/api/v1/clusters/${target.name}`, verb: "admin" },
      {
        method: "POST",
        path: `/api/v1/clusters/${target.name}/rotate-credential`,
        body: "{}",
        verb: "admin",
      },
      { method: "DELETE", path: "/api/v1/tokens/abcdef", verb: "admin" },
      {
        method: "POST",
        path: "/api/v1/sources",
        body: JSON.stringify({ name: "evil", repoUrl: "https://git.invalid/evil.git" }),
        verb: "write",
      },
      { method: "DELETE", path: "/api/v1/sources/hooked", verb: "write" },
      { method: "POST", path: "/api/v1/apps/anything/sync", body: "{}", verb: "write" },
      { method: "POST", path: "/api/v1/refresh", body: "{}", verb: "write" },
      {
        method: "PATCH",
        path: `/api/v1/clusters/${target.name}/labels`,
        body: '{"set":{"owned":"yes"}}',
        verb: "write",
      },
    ];
    for (const route of viewerRoutes) {
      const http = await https(route.method, route.path, {
        headers: { ...authHeader(viewer.text), "content-type": "application/json" },
        ...(route.body === undefined ? {} : { body: route.body }),
      });
      assert.equal(http.status, 403, `${route.method} ${route.path}: ${http.body}`);
      assert.match(
        http.body,
        new RegExp(`may only read, not ${route.verb}`),
        `${route.method} ${route.path}`,
      );
      httpRefused += 1;
    }
    // The viewer may still read.
    assert.equal((await https("GET", "/api/v1/clusters", { headers: authHeader(viewer.text) })).status, 200);
    assert.ok((await wire.fleet.listClusters({}, bearer(viewer.text))).clusters.length > 0);
    // Nothing the refused calls asked for happened.
    assert.ok(await store.clusters.get(target.id), "the cluster is still there");
    assert.deepEqual((await store.clusters.get(target.id))?.labels.owned, undefined);
    assert.equal(await store.sources.get("evil"), undefined);
    assert.ok(await store.sources.get("hooked"));
    const tokensAfter = (await wire.fleet.listBootstrapTokens({ includeInactive: true }, asAdmin())).tokens
      .length;
    assert.equal(tokensAfter, tokensBefore);
    for (const token of [viewer, revoked]) {
      const secret = parseToken(token.text)?.secret ?? "?";
      assert.ok(!seen.responses.some((text) => text.includes(secret)), "a token secret was echoed");
    }
    t.diagnostic(
      `${unauthenticated.length} missing, malformed, unknown, forged or revoked API tokens: refused on gRPC (UNAUTHENTICATED) and HTTP (401); viewer token: ${viewerCalls.length} mutating RPCs refused PERMISSION_DENIED and ${viewerRoutes.length} mutating routes refused 403, each naming the missing verb; ${grpcRefused + httpRefused} refusals in all, 0 changes made`,
    );
  });

  it("webhooks with a missing, malformed or wrong signature are refused with 401 and refresh nothing", {
    timeout,
  }, async (t) => {
    const secret = PLANTED["webhook secret"];
    const repoUrl = `${wire.remote.url}/git/hooked.git`;
    const github = JSON.stringify({
      ref: "refs/heads/main",
      after: "a".repeat(40),
      repository: { clone_url: repoUrl },
    });
    const gitlab = JSON.stringify({ ref: "refs/heads/main", project: { git_http_url: repoUrl } });
    const gitea = JSON.stringify({ ref: "refs/heads/main", repository: { clone_url: repoUrl } });
    const hmac = (key: string, body: string) => createHmac("sha256", key).update(body).digest("hex");
    const cases: {
      name: string;
      provider: string;
      headers: Record<string, string>;
      body: string;
      details: RegExp;
    }[] = [
      {
        name: "GitHub without a signature",
        provider: "github",
        headers: { "x-github-event": "push" },
        body: github,
        details: /has no X-Hub-Signature-256 header/,
      },
      {
        name: "GitHub signed with another secret",
        provider: "github",
        headers: { "x-github-event": "push", "x-hub-signature-256": `sha256=${hmac("guess", github)}` },
        body: github,
        details: /X-Hub-Signature-256 does not match the webhook secret of source "hooked"/,
      },
      {
        name: "GitHub signature of another body",
        provider: "github",
        headers: { "x-github-event": "push", "x-hub-signature-256": `sha256=${hmac(secret, `${github} `)}` },
        body: github,
        details: /does not match/,
      },
      {
        name: "GitHub malformed signature",
        provider: "github",
        headers: { "x-github-event": "push", "x-hub-signature-256": "sha256=zz" },
        body: github,
        details: /does not match/,
      },
      {
        name: "GitHub SHA-1 signature",
        provider: "github",
        headers: { "x-github-event": "push", "x-hub-signature-256": `sha1=${"0".repeat(40)}` },
        body: github,
        details: /does not match/,
      },
      {
        name: "GitLab without a token",
        provider: "gitlab",
        headers: { "x-gitlab-event": "Push Hook" },
        body: gitlab,
        details: /has no X-Gitlab-Token header/,
      },
      {
        name: "GitLab with a wrong token",
        provider: "gitlab",
        headers: { "x-gitlab-event": "Push Hook", "x-gitlab-token": `${secret}x` },
        body: gitlab,
        details: /X-Gitlab-Token does not match/,
      },
      {
        name: "Gitea without a signature",
        provider: "gitea",
        headers: { "x-gitea-event": "push" },
        body: gitea,
        details: /has no X-Gitea-Signature header/,
      },
      {
        name: "Gitea signed with another secret",
        provider: "gitea",
        headers: { "x-gitea-event": "push", "x-gitea-signature": hmac("guess", gitea) },
        body: gitea,
        details: /X-Gitea-Signature does not match/,
      },
    ];
    // Every refresh a webhook asks for goes over the hub's bus to the resolver: watch it there.
    const refreshes: string[] = [];
    const watch = wire.hub.runtime.bus.subscribe((event) => {
      if (event.type === "refresh") refreshes.push(event.source);
    });
    t.after(() => watch.unsubscribe());
    await watch.ready;
    const logsBefore = seen.logLines.length;
    const rejectedBefore = await countEvents("webhook-rejected");
    for (const entry of cases) {
      const http = await https("POST", `/webhooks/${entry.provider}`, {
        headers: { "content-type": "application/json", ...entry.headers },
        body: entry.body,
      });
      assert.equal(http.status, 401, `${entry.name}: ${http.body}`);
      const answer = JSON.parse(http.body) as { error?: string; refreshing?: unknown };
      assert.match(answer.error ?? "", entry.details, entry.name);
      assert.equal(answer.refreshing, undefined, `${entry.name}: refreshing`);
    }
    assert.equal(await countEvents("webhook-rejected"), rejectedBefore + cases.length);

    // The control, sent after the refused pushes: a correctly signed push asks for a refresh and
    // the repository is fetched. Refreshes reach the bus in the order they were asked for, so
    // once this one is there, any a refused push had asked for would be there before it.
    const fetchesBefore = wire.remote.hits("/git/hooked");
    const signed = await https("POST", "/webhooks/github", {
      headers: {
        "content-type": "application/json",
        "x-github-event": "push",
        "x-hub-signature-256": `sha256=${hmac(secret, github)}`,
      },
      body: github,
    });
    assert.equal(signed.status, 202, signed.body);
    assert.deepEqual(JSON.parse(signed.body), { refreshing: ["hooked"] });
    await waitFor("the signed push's refresh", async () => refreshes.length > 0);
    assert.deepEqual(refreshes, ["hooked"], "only the signed push asked for a refresh");
    await waitFor("the signed push to fetch", async () => wire.remote.hits("/git/hooked") > fetchesBefore);
    const refreshLogs = seen.logLines
      .slice(logsBefore)
      .filter((line) => line.includes("webhook push refreshes"));
    assert.equal(refreshLogs.length, 1, refreshLogs.join(""));
    t.diagnostic(
      `${cases.length} unsigned or mis-signed pushes (GitHub 5, GitLab 2, Gitea 2): ${cases.length} answered 401 naming the header and the source, ${cases.length} webhook-rejected events, 0 refreshes asked for; the control, a correctly signed push, answered 202, asked for 1 refresh and fetched the repository`,
    );
    t.diagnostic(
      "not guarded: replayed deliveries (the hub keeps no delivery ids or timestamps), so a replayed signed push refreshes its sources again",
    );
  });
});

describe("reliability: security defaults", () => {
  it("the hub's port refuses plain HTTP, cleartext HTTP/2 and TLS below 1.2", { timeout }, async (t) => {
    const port = wire.hub.port;
    // Plain HTTP/1.1: the TLS server answers with a TLS alert or closes, never with HTTP.
    const plain = await new Promise<Buffer>((resolve, reject) => {
      const socket = connectTcp(port, "127.0.0.1", () => {
        socket.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
      });
      const chunks: Buffer[] = [];
      socket.on("data", (chunk: Buffer) => chunks.push(chunk));
      socket.on("error", () => resolve(Buffer.concat(chunks)));
      socket.on("close", () => resolve(Buffer.concat(chunks)));
      socket.setTimeout(WAIT_MS, () => {
        socket.destroy();
        reject(new Error("plain HTTP: the hub neither answered nor closed"));
      });
    });
    assert.ok(!plain.toString("latin1").startsWith("HTTP/"), "plain HTTP got an HTTP answer");
    assert.ok(!plain.toString("latin1").includes('"ok"'));
    const plainClient = await new Promise<string>((resolve) => {
      const req = requestHttp({ host: "127.0.0.1", port, path: "/healthz" }, (res) =>
        resolve(`HTTP ${res.statusCode}`),
      );
      req.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      req.end();
    });
    assert.ok(!plainClient.startsWith("HTTP "), `node:http got ${plainClient}`);

    // Cleartext gRPC (h2c), as a misconfigured agent would dial.
    const insecure = createClient(AgentService, `127.0.0.1:${port}`, credentials.createInsecure());
    const h2c = await refusal(
      insecure.register({ bootstrapToken: "x", clusterName: "x", clusterUid: "x" }, { deadlineMs: 10_000 }),
      "h2c",
    ).finally(() => closeClient(insecure));
    assert.ok(["UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL"].includes(h2c.code), h2c.message);

    // Old TLS versions: the client offers them (security level 0 lets OpenSSL 3 do so) and the
    // hub answers with a protocol_version alert.
    const handshake = (maxVersion: "TLSv1" | "TLSv1.1" | "TLSv1.2") =>
      new Promise<string>((resolve) => {
        const socket = connectTls({
          host: "127.0.0.1",
          port,
          servername: "localhost",
          ca: wire.hub.runtime.caCertPem,
          minVersion: "TLSv1",
          maxVersion,
          ciphers: "DEFAULT:@SECLEVEL=0",
        });
        socket.once("secureConnect", () => {
          resolve(`connected ${socket.getProtocol()}`);
          socket.destroy();
        });
        socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      });
    const tls10 = await handshake("TLSv1");
    const tls11 = await handshake("TLSv1.1");
    const tls12 = await handshake("TLSv1.2");
    assert.equal(tls10, "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION");
    assert.equal(tls11, "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION");
    assert.equal(tls12, "connected TLSv1.2", "the control: TLS 1.2 is accepted");
    await assertServing("after the refused handshakes");
    t.diagnostic(
      `plain HTTP: ${plain.length === 0 ? "connection closed" : `${plain.length} bytes of TLS alert`}, no HTTP answer (node:http: ${plainClient}); cleartext gRPC: ${h2c.code}; TLS 1.0: ${tls10}; TLS 1.1: ${tls11}; TLS 1.2: ${tls12}. The agent's status listener defaults to HTTPS (agent/src/metrics/serve-status.test.ts)`,
    );
  });

  it("planted secrets appear in no log line, response, error or event, even after the failures that report on them", {
    timeout,
  }, async (t) => {
    const store = wire.hub.runtime.store;
    // 1. The repositories refuse: refresh the source whose URL carries a password, and list sources.
    const refreshed = await wire.fleet.refresh({ source: "private" }, asAdmin());
    seen.responses.push(textOf(refreshed.sources));
    const privateSource = refreshed.sources.find((source) => source.name === "private");
    assert.ok(privateSource, "the private source is listed");
    // Shown without the password the config gave it, with the reason the fetch failed.
    assert.equal(privateSource.repoUrl, `${wire.remote.url}/git/private.git`);
    assert.match(privateSource.error, /the server refused the credentials/);
    const listed = await wire.fleet.listSources({}, asAdmin());
    seen.responses.push(textOf(listed.sources));
    for (const path of ["/api/v1/sources", "/api/v1/apps", "/api/v1/status", "/api/v1/clusters"]) {
      assert.equal((await https("GET", path, { headers: authHeader(wire.adminToken) })).status, 200, path);
    }
    // 2. A bad webhook (its refusal names the source and header, not the secret).
    const bad = await https("POST", "/webhooks/gitlab", {
      headers: {
        "content-type": "application/json",
        "x-gitlab-event": "Push Hook",
        "x-gitlab-token": "wrong",
      },
      body: JSON.stringify({
        ref: "refs/heads/main",
        project: { git_http_url: `${wire.remote.url}/git/hooked.git` },
      }),
    });
    assert.equal(bad.status, 401);
    // 3. A failed notification: an app turns Degraded, the receiver answers 500.
    const c = await registerCluster("degraded");
    const stream = openStream(t, `Bearer ${c.credential}`);
    await stream.send(hello(c.name));
    assert.equal((await stream.receive()).body.case, "welcome");
    await stream.send({
      body: {
        case: "appStatus",
        value: {
          app: "shop",
          syncStatus: SyncStatus.SYNCED,
          healthStatus: HealthStatus.DEGRADED,
          healthMessage: "Deployment shop: 0/1 ready",
        },
      },
    });
    const failed = await waitFor("the notification to fail", async () => {
      const { events } = await store.events.list({ type: "notification-failed", limit: 10 });
      return events.find((event) => event.clusterId === c.id);
    });
    assert.match(failed.message, /notification to ops failed after 1 attempt: HTTP 500/);
    assert.equal(
      wire.remote.hits(`/notify/${PLANTED["notification URL path"]}`),
      1,
      "the receiver was called",
    );
    // 4. /metrics without and with a wrong token, then with the right one.
    const metricsRefusals = [
      await https("GET", "/metrics"),
      await https("GET", "/metrics", { headers: { authorization: "Bearer wrong" } }),
      await https("GET", "/metrics", { headers: { authorization: `Bearer ${PLANTED["metrics token"]}x` } }),
    ];
    for (const refused of metricsRefusals) assert.equal(refused.status, 401, refused.body);
    assert.equal(
      (await https("GET", "/metrics", { headers: authHeader(PLANTED["metrics token"]) })).status,
      200,
    );
    // 5. Everything the hub recorded.
    const events = await collectEvents();
    const stored: string[] = [];
    for (let before: number | undefined, first = true; first || before !== undefined; first = false) {
      const page = await store.events.list({ limit: 1000, ...(before === undefined ? {} : { before }) });
      for (const event of page.events) stored.push(textOf(event));
      before = page.next;
    }

    const corpora: Record<string, string[]> = {
      "log lines": seen.logLines,
      "progress lines": seen.progress,
      "responses and errors": seen.responses,
      "events (ListEvents, /api/v1/events)": events.texts,
      "stored events": stored,
    };
    const leaks: string[] = [];
    let forms = 0;
    for (const [what, secret] of Object.entries(PLANTED)) {
      for (const form of encodingsOf(secret)) {
        forms += 1;
        for (const [corpus, texts] of Object.entries(corpora)) {
          const hit = texts.find((text) => text.includes(form));
          if (hit) leaks.push(`${what} (${form}) in ${corpus}: ${hit.slice(0, 300)}`);
        }
      }
    }
    // Tokens and credentials: never in logs or events (responses handing one out are not kept).
    let tokenSecrets = 0;
    for (const { what, text } of issued) {
      const secret = parseToken(text)?.secret;
      if (!secret) continue;
      tokenSecrets += 1;
      for (const [corpus, texts] of Object.entries(corpora)) {
        const hit = texts.find((entry) => entry.includes(secret));
        if (hit) leaks.push(`${what} in ${corpus}: ${hit.slice(0, 300)}`);
      }
    }
    assert.deepEqual(leaks, []);
    assert.ok(seen.logLines.length > 10, "the hub logged");
    assert.ok(
      seen.logLines.some((line) => line.includes("source not resolved")),
      "the failed fetch was logged, so the search covered it",
    );
    assert.ok(seen.logLines.some((line) => line.includes("notification failed")));
    assert.ok(seen.logLines.some((line) => line.includes("webhook push rejected")));
    const texts = Object.values(corpora).reduce((sum, list) => sum + list.length, 0);
    t.diagnostic(
      `searched ${seen.logLines.length} log lines, ${seen.progress.length} progress lines, ${seen.responses.length} responses and errors, ${events.count} events (gRPC and HTTP) and ${stored.length} stored events (${texts} texts) for ${Object.keys(PLANTED).length} planted secrets in ${forms} forms (plain, URL-encoded, base64, Basic) and ${tokenSecrets} token and credential secrets: ${leaks.length} found`,
    );
  });

  it("tokens and cluster credentials are stored only as SHA-256 hashes", { timeout }, async (t) => {
    // Closing the hub closes the store, so everything it wrote is on disk.
    wire.closed = true;
    await wire.hub.close();
    const skipped = new Set([ADMIN_TOKEN_FILE, "ca.key"]);
    const files: { path: string; bytes: Buffer }[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) await walk(path);
        else if (entry.isFile() && !(dir === wire.dataDir && skipped.has(entry.name)))
          files.push({ path, bytes: await readFile(path) });
      }
    };
    await walk(wire.dataDir);
    await walk(wire.cacheDir);
    const bytes = files.reduce((sum, file) => sum + file.bytes.length, 0);
    const holding = (needle: string) =>
      files
        .filter((file) => file.bytes.includes(Buffer.from(needle)))
        .map((file) => relative(wire.dir, file.path));

    const found: string[] = [];
    let hashes = 0;
    for (const { what, text } of issued) {
      const parsed = parseToken(text);
      assert.ok(parsed, what);
      const where = [...holding(parsed.secret), ...holding(text)];
      if (where.length > 0) found.push(`${what}: ${[...new Set(where)].join(", ")}`);
      if (holding(hashSecret(parsed.secret)).length > 0) hashes += 1;
    }
    assert.deepEqual(found, []);
    // The controls: the scan does read the tables. Ids are stored as they are, webhook secrets
    // verbatim (signature checks need them), and the hashes of the secrets are there.
    const adminId = parseToken(wire.adminToken)?.id ?? "?";
    assert.ok(holding(adminId).length > 0, "the admin token's id is in the store files");
    assert.ok(holding(PLANTED["webhook secret"]).length > 0, "the webhook secret is in the store files");
    assert.ok(hashes > 0, "some secret's hash is in the store files");
    const repoPassword = holding(encodeURIComponent(PLANTED["source repository password"])).length > 0;
    t.diagnostic(
      `scanned ${files.length} files (${bytes} bytes) of the data and cache dirs, without admin.token and ca.key: 0 of ${issued.length} issued tokens and credentials (API, bootstrap, cluster, rotated) in plain text, ${hashes} found as their SHA-256 hash; the webhook secret is stored verbatim (HMAC checks need it)${repoPassword ? "; a password in a configured repository URL is stored verbatim with its source" : ""}`,
    );
  });
});
