// A FleetService fake served over real gRPC and TLS on 127.0.0.1, for the CLI's tests: the seam
// between the CLI and the hub's FleetService (hub/src/api). It keeps clusters, status rows,
// sources, bootstrap tokens, apps, events and rollouts in memory, authenticates API tokens as
// the hub does (messages name the token id or name, never the secret), pages with its own small
// page size, and refuses a page token issued for other filters, so a CLI that changes filters
// between pages fails. Tests can make a method's next calls fail (`failures`).

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { durationMs, type Timestamp, timestampFromDate, timestampMs } from "@bufbuild/protobuf/wkt";
import { HealthStatus, SyncStatus } from "@flotilla/proto/gen/flotilla/v1/app_pb";
import {
  type AppSchema,
  type AppTargetSchema,
  type ClusterSchema,
  ConnectionState,
  type EventSchema,
  FleetService,
  type FleetStatusRowSchema,
  RolloutAction,
  RolloutPhase,
  type RolloutSchema,
  type SourceSchema,
} from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import {
  addService,
  bindServer,
  createServer,
  GrpcError,
  type HandlerContext,
  ServerCredentials,
  type ServiceImpl,
  stopServer,
} from "@flotilla/proto/grpc";
import { ensureHubTls } from "../auth/hub-tls.js";
import { formatJoinCommand } from "../auth/join-command.js";
import { parseToken } from "../auth/tokens.js";
import { matchesSelector, parseLabelSelector } from "../fleet/label-selector.js";
import type { CliIo } from "./command.js";
import { commands } from "./commands.js";
import { runCli } from "./run-cli.js";

type ClusterInit = MessageInitShape<typeof ClusterSchema> & { name: string };
type RowInit = MessageInitShape<typeof FleetStatusRowSchema> & { cluster: string; app: string };
type SourceInit = MessageInitShape<typeof SourceSchema> & { name: string };
type AppTargetInit = MessageInitShape<typeof AppTargetSchema> & { cluster: string };
/** An app as ListApps and GetApp return it, with the targets GetApp lists. */
type AppInit = MessageInitShape<typeof AppSchema> & { name: string; targets?: AppTargetInit[] };
/** An event; ids are decimal numbers, increasing in the order the hub recorded them. */
type EventInit = MessageInitShape<typeof EventSchema> & { id: string };
type RolloutInit = MessageInitShape<typeof RolloutSchema> & { name: string };

export const ADMIN_TOKEN = "fla_admin0000000.abcdefghijklmnopqrstuvwxyz012345";
export const VIEWER_TOKEN = "fla_viewer000000.abcdefghijklmnopqrstuvwxyz012345";

/** What the fake holds and what it saw; tests set the data and read `calls`. */
export type FakeFleet = {
  clusters: ClusterInit[];
  rows: RowInit[];
  sources: SourceInit[];
  apps: AppInit[];
  /** In any order; ListEvents answersndewest (highest id) first. */
  events: EventInit[];
  /** In any order; ListRollouts answers by name. */
  rollouts: RolloutInit[];
  /**
   * Whether UpdateRollout answers applied (and changes the rollout: pause -> PAUSED, resume ->
   * PROGRESSING, abort -> ABORTED, promote -> next step), or queued (nothing changes).
   */
  rolloutActionsApplied: boolean;
  bootstrapTokens: {
    id: string;
    labels: Record<string, string>;
    maxUses: number;
    revoked: boolean;
    description: string;
  }[];
  /** API tokens the fake accepts, with the name and role the hub would have stored. */
  apiTokens: Map<string, { name: string; role: "admin" | "viewer" }>;
  /** Items per page, whatever the request asks. */
  pageSize: number;
  /** Every call: method, request and the authorization header as received. */
  calls: { method: string; request: unknown; authorization: string | undefined }[];
  /** Per source name: the error Refresh reports for it. */
  refreshErrors: Map<string, string>;
  /** Per method (as in `calls`): errors its next calls fail with, one each, in order. */
  failures: Map<string, GrpcError[]>;
};

export type FakeHub = {
  url: string;
  port: number;
  caPath: string;
  caHash: string;
  fleet: FakeFleet;
  /** Clears calls and restores the data the hub started with. */
  reset(): void;
};

export function createFakeFleet(): FakeFleet {
  return {
    clusters: [],
    rows: [],
    sources: [],
    apps: [],
    events: [],
    rollouts: [],
    rolloutActionsApplied: true,
    bootstrapTokens: [],
    apiTokens: new Map([
      [ADMIN_TOKEN, { name: "admin", role: "admin" }],
      [VIEWER_TOKEN, { name: "viewer", role: "viewer" }],
    ]),
    pageSize: 2,
    calls: [],
    refreshErrors: new Map(),
    failures: new Map(),
  };
}

/** Starts a fake hub with its own CA before the suite and stops it after; `seed` fills it on every reset. */
export function useFakeHub(seed: (fleet: FakeFleet) => void = () => {}): () => FakeHub {
  let hub: FakeHub | undefined;
  let dir = "";
  let server: ReturnType<typeof createServer> | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "flotilla-fake-hub-"));
    const tls = await ensureHubTls(join(dir, "tls"), { hosts: ["127.0.0.1", "localhost"] });
    const fleet = createFakeFleet();
    seed(fleet);
    server = createServer();
    let url = "";
    addService(
      server,
      FleetService,
      createFakeFleetService(fleet, () => ({ url, caHash: tls.caHash })),
    );
    const keyCertPairs = [{ cert_chain: Buffer.from(tls.certPem), private_key: Buffer.from(tls.keyPem) }];
    const port = await bindServer(
      server,
      "127.0.0.1:0",
      ServerCredentials.createSsl(null, keyCertPairs, false),
    );
    url = `https://127.0.0.1:${port}`;
    hub = {
      url,
      port,
      caPath: tls.caCertPath,
      caHash: tls.caHash,
      fleet,
      reset() {
        Object.assign(fleet, createFakeFleet());
        seed(fleet);
      },
    };
  });
  after(async () => {
    if (server) await stopServer(server);
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return () => {
    if (!hub) throw new Error("useFakeHub: used outside a test");
    return hub;
  };
}

export type CliRun = { code: number; out: string; err: string };

/**
 * Runs `flotilla <args>` in-process with exactly `env` (nothing from the test's own environment).
 * `signal` stands in for Ctrl-C; `onStdout` sees all output so far after each write, so a test
 * can act (add data, abort) when a long-running command has printed something.
 */
export async function runFlotilla(
  args: string[],
  env: Record<string, string | undefined>,
  options: { isTty?: boolean; signal?: AbortSignal; onStdout?: (out: string) => void } = {},
): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdout: (text) => {
      out.push(text);
      options.onStdout?.(out.join(""));
    },
    stderr: (text) => err.push(text),
    // HOME too, so nothing reads the ~/.config of whoever runs the tests.
    env: { HOME: join(tmpdir(), "flotilla-no-home"), ...env },
    isTty: options.isTty ?? false,
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const code = await runCli("flotilla", commands, args, io);
  return { code, out: out.join(""), err: err.join("") };
}

function authenticate(fleet: FakeFleet, context: HandlerContext, verb: "read" | "write" | "admin") {
  const header = context.metadata.authorization;
  const bearer = /^Bearer (\S+)$/.exec(header ?? "")?.[1];
  if (!bearer) throw new GrpcError("UNAUTHENTICATED", "missing API token");
  const parsed = parseToken(bearer);
  const known = fleet.apiTokens.get(bearer);
  if (!parsed || !known) {
    throw new GrpcError(
      "UNAUTHENTICATED",
      `API token ${parsed?.id ?? "(malformed)"} is not known to this hub (or its secret is wrong)`,
    );
  }
  if (known.role === "viewer" && verb !== "read") {
    throw new GrpcError(
      "PERMISSION_DENIED",
      `token "${known.name}" is a viewer and may only read, not ${verb}`,
    );
  }
}

/** A page of `items` after the position in `pageToken`, which must have been issued for `filters`. */
function page<T>(fleet: FakeFleet, items: T[], filters: unknown, pageToken: string) {
  const key = JSON.stringify(filters);
  let offset = 0;
  if (pageToken !== "") {
    const [tokenKey, position] = JSON.parse(Buffer.from(pageToken, "base64url").toString()) as [
      string,
      number,
    ];
    if (tokenKey !== key) throw new GrpcError("INVALID_ARGUMENT", "page_token was issued for other filters");
    offset = position;
  }
  const end = offset + fleet.pageSize;
  const next = end < items.length ? Buffer.from(JSON.stringify([key, end])).toString("base64url") : "";
  return { items: items.slice(offset, end), nextPageToken: next };
}

function selectorOf(text: string) {
  try {
    return parseLabelSelector(text);
  } catch (error) {
    throw new GrpcError("INVALID_ARGUMENT", `selector: ${(error as Error).message}`);
  }
}

function findCluster(fleet: FakeFleet, name: string): ClusterInit {
  const cluster = fleet.clusters.find((c) => c.name === name);
  if (!cluster) throw new GrpcError("NOT_FOUND", `cluster "${name}" does not exist`);
  return cluster;
}

const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);

function findApp(fleet: FakeFleet, name: string): AppInit {
  const app = fleet.apps.find((a) => a.name === name);
  if (!app) throw new GrpcError("NOT_FOUND", `app "${name}" does not exist`);
  return app;
}

/** An app as the API returns it: without the targets the fake keeps beside it. */
function appMessage({ targets: _targets, ...app }: AppInit) {
  return app;
}

function createFakeFleetService(fleet: FakeFleet, hub: () => { url: string; caHash: string }) {
  const record = (method: string, request: unknown, context: HandlerContext) => {
    fleet.calls.push({ method, request, authorization: context.metadata.authorization });
    const failure = fleet.failures.get(method)?.shift();
    if (failure) throw failure;
  };
  return {
    async listClusters(request, context) {
      record("listClusters", request, context);
      authenticate(fleet, context, "read");
      const selector = selectorOf(request.selector);
      const matching = [...fleet.clusters]
        .filter((c) => matchesSelector(selector, c.labels ?? {}))
        .sort(byName);
      const { items, nextPageToken } = page(fleet, matching, { s: request.selector }, request.pageToken);
      return { clusters: items, nextPageToken, totalSize: matching.length };
    },
    async getCluster(request, context) {
      record("getCluster", request, context);
      authenticate(fleet, context, "read");
      const cluster = findCluster(fleet, request.name);
      return { cluster, apps: fleet.rows.filter((r) => r.cluster === request.name) };
    },
    async labelCluster(request, context) {
      record("labelCluster", request, context);
      authenticate(fleet, context, "write");
      const cluster = findCluster(fleet, request.name);
      const labels = { ...cluster.labels, ...request.set };
      for (const key of request.remove) delete labels[key];
      cluster.labels = labels;
      return { cluster };
    },
    async removeCluster(request, context) {
      record("removeCluster", request, context);
      authenticate(fleet, context, "admin");
      findCluster(fleet, request.name);
      fleet.clusters = fleet.clusters.filter((c) => c.name !== request.name);
      return {};
    },
    async rotateClusterCredential(request, context) {
      record("rotateClusterCredential", request, context);
      authenticate(fleet, context, "admin");
      const cluster = findCluster(fleet, request.name);
      const graceMs = request.grace ? durationMs(request.grace) : 60 * 60_000;
      return {
        credential: "flc_rotated00000.abcdefghijklmnopqrstuvwxyz012345",
        delivered: cluster.connection === ConnectionState.CONNECTED,
        previousExpiresAt: timestampFromDate(new Date(Date.UTC(2030, 0, 1) + graceMs)),
      };
    },
    async createBootstrapToken(request, context) {
      record("createBootstrapToken", request, context);
      authenticate(fleet, context, "admin");
      const id = `tok${String(fleet.bootstrapTokens.length).padStart(3, "0")}`;
      const token = `flb_${id}.abcdefghijklmnopqrstuvwxyz012345`;
      const ttlMs = request.ttl ? durationMs(request.ttl) : 60 * 60_000;
      const info = {
        id,
        labels: { ...request.labels },
        maxUses: request.maxUses,
        description: request.description,
        revoked: false,
      };
      fleet.bootstrapTokens.push(info);
      return {
        info: {
          ...info,
          expiresAt: timestampFromDate(new Date(Date.UTC(2030, 0, 1) + ttlMs)),
          createdBy: "admin",
        },
        token,
        joinCommand: formatJoinCommand({ hubUrl: hub().url, token, caHash: hub().caHash }),
        caHash: hub().caHash,
      };
    },
    async listBootstrapTokens(request, context) {
      record("listBootstrapTokens", request, context);
      authenticate(fleet, context, "admin");
      return {
        tokens: fleet.bootstrapTokens
          .filter((t) => request.includeInactive || !t.revoked)
          .map((t) => ({
            ...t,
            expiresAt: timestampFromDate(new Date(Date.UTC(2030, 0, 1))),
            createdBy: "admin",
          })),
      };
    },
    async revokeBootstrapToken(request, context) {
      record("revokeBootstrapToken", request, context);
      authenticate(fleet, context, "admin");
      const token = fleet.bootstrapTokens.find((t) => t.id === request.id);
      if (!token) throw new GrpcError("NOT_FOUND", `bootstrap token "${request.id}" does not exist`);
      token.revoked = true;
      return {};
    },
    async addSource(request, context) {
      record("addSource", request, context);
      authenticate(fleet, context, "write");
      if (fleet.sources.some((s) => s.name === request.name)) {
        throw new GrpcError("ALREADY_EXISTS", `source "${request.name}" already exists`);
      }
      const source: SourceInit = {
        name: request.name,
        repoUrl: request.repoUrl,
        path: request.path,
        targetRevision: request.targetRevision,
        ...(request.pollInterval ? { pollInterval: request.pollInterval } : {}),
      };
      fleet.sources.push(source);
      return { source };
    },
    async listSources(request, context) {
      record("listSources", request, context);
      authenticate(fleet, context, "read");
      return { sources: [...fleet.sources].sort(byName) };
    },
    async removeSource(request, context) {
      record("removeSource", request, context);
      authenticate(fleet, context, "write");
      if (!fleet.sources.some((s) => s.name === request.name)) {
        throw new GrpcError("NOT_FOUND", `source "${request.name}" does not exist`);
      }
      fleet.sources = fleet.sources.filter((s) => s.name !== request.name);
      return {};
    },
    async refresh(request, context) {
      record("refresh", request, context);
      authenticate(fleet, context, "write");
      const sources = fleet.sources
        .filter((s) => request.source === "" || s.name === request.source)
        .map((s) => ({ ...s, error: fleet.refreshErrors.get(s.name) ?? "" }));
      if (request.source !== "" && sources.length === 0) {
        throw new GrpcError("NOT_FOUND", `source "${request.source}" does not exist`);
      }
      return { sources, changedTargets: 3 };
    },
    async getFleetStatus(request, context) {
      record("getFleetStatus", request, context);
      authenticate(fleet, context, "read");
      const selector = selectorOf(request.selector);
      const labelsOf = (name: string) => fleet.clusters.find((c) => c.name === name)?.labels ?? {};
      const matching = fleet.rows
        .filter((row) => matchesSelector(selector, labelsOf(row.cluster)))
        .filter((row) => request.app === "" || row.app === request.app)
        .filter((row) => request.health.length === 0 || request.health.includes(row.healthStatus ?? 0))
        .filter((row) => request.sync.length === 0 || request.sync.includes(row.syncStatus ?? 0))
        .filter(
          (row) =>
            !request.problemsOnly ||
            row.syncStatus !== SyncStatus.SYNCED ||
            row.healthStatus !== HealthStatus.HEALTHY,
        )
        .sort((a, b) => a.cluster.localeCompare(b.cluster) || a.app.localeCompare(b.app));
      const filters = {
        s: request.selector,
        a: request.app,
        h: request.health,
        y: request.sync,
        p: request.problemsOnly,
      };
      const { items, nextPageToken } = page(fleet, matching, filters, request.pageToken);
      return { rows: items, nextPageToken, clusterCount: new Set(matching.map((r) => r.cluster)).size };
    },
    async listApps(request, context) {
      record("listApps", request, context);
      authenticate(fleet, context, "read");
      const matching = fleet.apps
        .filter((app) => app.name.startsWith(request.namePrefix))
        .filter((app) => request.project === "" || app.project === request.project)
        .filter((app) => {
          if (!request.problemsOnly) return true;
          const counts = app.counts ?? {};
          const total = counts.total ?? 0;
          return (
            (app.problems ?? []).length > 0 || (counts.synced ?? 0) < total || (counts.healthy ?? 0) < total
          );
        })
        .sort(byName);
      const filters = { n: request.namePrefix, p: request.project, o: request.problemsOnly };
      const { items, nextPageToken } = page(fleet, matching, filters, request.pageToken);
      return { apps: items.map(appMessage), nextPageToken, totalSize: matching.length };
    },
    async getApp(request, context) {
      record("getApp", request, context);
      authenticate(fleet, context, "read");
      const app = findApp(fleet, request.name);
      const targets = (app.targets ?? [])
        .filter((t) => request.clusters.length === 0 || request.clusters.includes(t.cluster))
        .sort((a, b) => a.cluster.localeCompare(b.cluster));
      return { app: appMessage(app), targets };
    },
    async listEvents(request, context) {
      record("listEvents", request, context);
      authenticate(fleet, context, "read");
      if (request.cluster !== "") findCluster(fleet, request.cluster);
      const sinceMs = request.since ? timestampMs(request.since) : undefined;
      const untilMs = request.until ? timestampMs(request.until) : undefined;
      const atMs = (event: EventInit) => (event.at ? timestampMs(event.at as Timestamp) : 0);
      const matching = fleet.events
        .filter((event) => request.cluster === "" || event.cluster === request.cluster)
        .filter((event) => request.app === "" || event.app === request.app)
        .filter((event) => request.kinds.length === 0 || request.kinds.includes(event.kind ?? 0))
        .filter((event) => sinceMs === undefined || atMs(event) >= sinceMs)
        .filter((event) => untilMs === undefined || atMs(event) < untilMs)
        .sort((a, b) => Number(b.id) - Number(a.id));
      const filters = { c: request.cluster, a: request.app, k: request.kinds, s: sinceMs, u: untilMs };
      const { items, nextPageToken } = page(fleet, matching, filters, request.pageToken);
      return { events: items, nextPageToken };
    },
    async listRollouts(request, context) {
      record("listRollouts", request, context);
      authenticate(fleet, context, "read");
      return {
        rollouts: fleet.rollouts.filter((r) => request.name === "" || r.name === request.name).sort(byName),
      };
    },
    async updateRollout(request, context) {
      record("updateRollout", request, context);
      authenticate(fleet, context, "admin");
      const known = [RolloutAction.PAUSE, RolloutAction.RESUME, RolloutAction.ABORT, RolloutAction.PROMOTE];
      if (!known.includes(request.action))
        throw new GrpcError("INVALID_ARGUMENT", `rollout ${request.name}: action is required`);
      if (request.all && request.action !== RolloutAction.PROMOTE)
        throw new GrpcError(
          "INVALID_ARGUMENT",
          `rollout ${request.name}: "all" goes with the promote action only`,
        );
      const rollout = fleet.rollouts.find((r) => r.name === request.name);
      if (!rollout) throw new GrpcError("NOT_FOUND", `rollout ${request.name} does not exist`);
      if (!fleet.rolloutActionsApplied) return { rollout, applied: false };
      if (request.action === RolloutAction.PAUSE) rollout.phase = RolloutPhase.PAUSED;
      if (request.action === RolloutAction.RESUME) rollout.phase = RolloutPhase.PROGRESSING;
      if (request.action === RolloutAction.ABORT) rollout.phase = RolloutPhase.ABORTED;
      if (request.action === RolloutAction.PROMOTE) {
        const stepCount = rollout.stepCount ?? 0;
        rollout.step = request.all ? stepCount + 1 : Math.min((rollout.step ?? 1) + 1, stepCount + 1);
        rollout.stepName = rollout.steps?.[rollout.step - 1]?.name ?? "";
      }
      return { rollout, applied: true };
    },
    async sync(request, context) {
      record("sync", request, context);
      authenticate(fleet, context, "write");
      if (request.app === "") throw new GrpcError("INVALID_ARGUMENT", "app: the app to sync is required");
      const selector = selectorOf(request.selector);
      const app = fleet.apps.find((a) => a.name === request.app);
      const targeted = (app?.targets ?? []).map((t) => t.cluster);
      let clusters: ClusterInit[];
      if (request.clusters.length > 0) clusters = request.clusters.map((name) => findCluster(fleet, name));
      else {
        if (!app) findApp(fleet, request.app);
        clusters = fleet.clusters.filter((c) => targeted.includes(c.name)).sort(byName);
      }
      const dispatches = clusters
        .filter((cluster) => matchesSelector(selector, cluster.labels ?? {}))
        .map((cluster) => {
          if (!targeted.includes(cluster.name)) {
            return {
              cluster: cluster.name,
              sent: false,
              error: `app "${request.app}" does not target this cluster`,
            };
          }
          return cluster.connection === ConnectionState.CONNECTED
            ? { cluster: cluster.name, sent: true, error: "" }
            : {
                cluster: cluster.name,
                sent: false,
                error: "cluster disconnected; the sync runs when its agent reconnects",
              };
        });
      return { requestId: `req-${fleet.calls.filter((c) => c.method === "sync").length}`, dispatches };
    },
  } satisfies Partial<ServiceImpl<typeof FleetService>>;
}
