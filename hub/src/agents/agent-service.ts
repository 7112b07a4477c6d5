/**
 * The gRPC endpoint agents dial (AgentService in proto/flotilla/v1/agent.proto): Register trades
 * a bootstrap token for a cluster credential; Connect authenticates that credential, answers
 * Hello with Welcome and the resume backlog, then streams changes of the cluster's targets as the
 * bus announces them, and records acks, statuses and heartbeats in the store.
 */
import { randomUUID } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type {
  AgentMessage,
  AgentMessageSchema,
  AgentService,
  Hello,
  HubMessageSchema,
} from "@flotilla/proto/gen/flotilla/v1/agent_pb";
import type {
  AppSourceSchema,
  AppStatus,
  DesiredAppSchema,
  IgnoreDifferenceSchema,
  SyncPolicySchema,
} from "@flotilla/proto/gen/flotilla/v1/app_pb";
import { GrpcError, type ServerBidiStream, type ServiceImpl } from "@flotilla/proto/grpc";
import { generateToken, parseToken, redact } from "../auth/tokens.js";
import type { Bus, BusEvent } from "../bus/bus.js";
import { checkRequest } from "../server/check-request.js";
import { createStatusWriter } from "../status/status-writer.js";
import type { Store, Target, TokenRefusal } from "../store/store.js";
import { createBundleCache } from "./bundle-cache.js";
import { createClusterEventRouter } from "./cluster-event-router.js";
import { type Change, createDeliveryQueue, planResume } from "./delivery-queue.js";

export type AgentServiceOptions = {
  store: Store;
  bus: Bus;
  hubVersion: string;
  /** Sent in Welcome: how often agents send Heartbeat. */
  heartbeatIntervalMs: number;
  /** Sent in Welcome: the largest message the hub accepts; the server must be created with it. */
  maxMessageBytes: number;
  /** Names this hub replica in "cluster" bus events; default "hub". */
  replica?: string;
  now?: () => Date;
  /** Edge logging of stream problems; never receives a token. Default: nothing is logged. */
  log?: (message: string, details?: Record<string, unknown>) => void;
  /** Told about deliveries and statuses as they happen (for /metrics); default: nobody. */
  metrics?: AgentServiceMetrics;
};

/** What the service reports as it works; hub/src/metrics turns it into Prometheus metrics. */
export type AgentServiceMetrics = {
  /** A DesiredApp upsert went out on a stream. */
  desiredAppSent(): void;
  /** Bundle bytes went out, inline in an upsert or as a Bundle message. */
  bundleBytesSent(bytes: number): void;
  /** An Ack arrived for an upsert sent on the same stream, `seconds` after it was sent. */
  delivered(seconds: number): void;
  /** An AppStatus was ingested. */
  statusIngested(): void;
};

/** This replica's delivery right now. */
export type AgentServiceStats = {
  /** Connect streams open (Hello accepted). */
  connectedAgents: number;
  /** Changes not acknowledged yet, summed over the open streams' delivery queues. */
  queuedChanges: number;
};

type ConnectStream = ServerBidiStream<typeof AgentMessageSchema, typeof HubMessageSchema>;

export type AgentServiceHandlers = Pick<ServiceImpl<typeof AgentService>, "register" | "connect"> & {
  /** Ends every open Connect stream with UNAVAILABLE and waits for their handlers to finish. */
  close(): Promise<void>;
  stats(): AgentServiceStats;
};

const TOKEN_REFUSAL_MESSAGE: Record<TokenRefusal, string> = {
  unknown: "bootstrap token is unknown or its secret does not match",
  expired: "bootstrap token expired",
  "used-up": "bootstrap token has no uses left",
  revoked: "bootstrap token was revoked",
};

/** How long heartbeats are gathered before their clusters' last-seen times are written. */
const HEARTBEAT_FLUSH_MS = 1_000;

/**
 * Status reports one stream may have in the status writer at once before it stops reading; a
 * bound on what a flooding agent holds in the hub's memory.
 */
const STATUS_WINDOW = 256;

/** gRPC's default receive limit, which agents keep: no message to an agent may be larger. */
const AGENT_RECEIVE_LIMIT_BYTES = 4 * 1024 * 1024;

type Connection = { end(error: GrpcError): void; done: Promise<void> };

/** The part of a stream's delivery that stats() reads. */
type DeliveryDepth = { depth(): number };

export function createAgentService(options: AgentServiceOptions): AgentServiceHandlers {
  const { store, bus } = options;
  const now = options.now ?? (() => new Date());
  const log = options.log ?? (() => {});
  const replica = options.replica ?? "hub";
  const metrics = options.metrics;
  /** The live stream of each cluster, by cluster id. */
  const connections = new Map<string, Connection>();
  /** The delivery of every stream past Hello, for stats(). */
  const deliveries = new Set<DeliveryDepth>();
  /** One bus subscription for all streams, each stream getting its cluster's events. */
  const clusterEvents = createClusterEventRouter(bus, (error) =>
    log("agent streams: bus subscription failed", { error: error.message }),
  );
  /** The bundle a commit sends on every stream is read from the store once. */
  const bundleCache = createBundleCache(store);
  /** Statuses are written in groups across streams (see hub/src/status/status-writer.ts). */
  const statusWriter = createStatusWriter({ store, bus, now });

  /**
   * Heartbeats are written in one statement a second for all clusters, not one each: 10,000
   * agents beating every 10 s would otherwise cost 1,000 writes a second of an idle hub. The
   * watchdog's cutoff is minutes, so a second's delay does not matter.
   */
  let seenPending = new Set<string>();
  let seenFlush: Promise<void> | undefined;
  function noteSeen(clusterId: string): void {
    seenPending.add(clusterId);
    seenFlush ??= new Promise<void>((resolve) => setTimeout(resolve, HEARTBEAT_FLUSH_MS).unref()).then(
      flushSeen,
    );
  }
  async function flushSeen(): Promise<void> {
    const ids = [...seenPending];
    seenPending = new Set();
    seenFlush = undefined;
    if (ids.length === 0) return;
    try {
      await store.clusters.markSeenMany(ids, now());
    } catch (error) {
      log(`heartbeats of ${ids.length} clusters not recorded`, { error: (error as Error).message });
    }
  }

  async function publishClusterState(clusterId: string, state: "Connected" | "Disconnected"): Promise<void> {
    await bus.publish({ type: "cluster", clusterId, state, replica, at: now().toISOString() });
  }

  const handlers: AgentServiceHandlers = {
    async register(request) {
      checkRequest(request, "RegisterRequest");
      const token = parseToken(request.bootstrapToken);
      if (token?.kind !== "bootstrap") throw new GrpcError("UNAUTHENTICATED", "bootstrap token is malformed");
      if (request.clusterName === "") throw new GrpcError("INVALID_ARGUMENT", "cluster_name is required");
      if (request.clusterUid === "") throw new GrpcError("INVALID_ARGUMENT", "cluster_uid is required");
      const credentialText = generateToken("cluster");
      const credential = parseToken(credentialText);
      if (!credential) throw new Error("generated cluster credential does not parse");
      const result = await store.clusters.register({
        token: { id: token.id, secret: token.secret },
        cluster: {
          id: randomUUID(),
          name: request.clusterName,
          clusterUid: request.clusterUid,
          serverUrl: request.serverUrl,
          labels: request.labels,
          kubeVersion: request.kubeVersion,
          agentVersion: request.agentVersion,
        },
        credential: { id: credential.id, secret: credential.secret },
      });
      if (!result.ok) {
        if (result.reason === "name-taken") {
          throw new GrpcError(
            "ALREADY_EXISTS",
            `cluster name ${request.clusterName} belongs to another cluster`,
          );
        }
        throw new GrpcError("UNAUTHENTICATED", TOKEN_REFUSAL_MESSAGE[result.reason]);
      }
      const { cluster, rejoined } = result;
      await bus.publish({ type: "cluster-changed", clusterId: cluster.id });
      await store.events.append({
        clusterId: cluster.id,
        type: rejoined ? "cluster-rejoined" : "cluster-registered",
        message: `cluster ${cluster.name} ${rejoined ? "re-joined" : "registered"} with bootstrap token ${token.id}`,
        data: { tokenId: token.id, agentVersion: request.agentVersion, kubeVersion: request.kubeVersion },
      });
      return {
        clusterName: cluster.name,
        clusterId: cluster.id,
        credential: credentialText,
        labels: cluster.labels,
        hubVersion: options.hubVersion,
      };
    },

    async connect(stream, context) {
      const clusterId = await authenticate(context.metadata.authorization);
      const cluster = await store.clusters.get(clusterId);
      if (!cluster) throw new GrpcError("UNAUTHENTICATED", "the credential's cluster was removed");

      // Ending this stream from outside (a newer stream, close()) rejects `ended`, which every
      // wait below races against.
      let endStream: (error: GrpcError) => void = () => {};
      const ended = new Promise<never>((_, reject) => {
        endStream = reject;
      });
      ended.catch(() => {});
      let finish: () => void = () => {};
      const connection: Connection = {
        end: (error) => endStream(error),
        done: new Promise<void>((resolve) => {
          finish = resolve;
        }),
      };
      const messages = stream[Symbol.asyncIterator]();
      const next = () => Promise.race([messages.next(), ended]);
      let streamDelivery: DeliveryDepth | undefined;
      /**
       * Set when the cluster was marked Disconnected while this stream is open: by the watchdog
       * after three silent heartbeat intervals (a busy hub or agent), or by an older stream of
       * another replica ending late. The next message on this stream proves the agent is there.
       */
      let markedDisconnected = false;

      try {
        const first = await next();
        if (first.done) return;
        const hello = first.value.body;
        if (hello.case !== "hello")
          throw new GrpcError("INVALID_ARGUMENT", "the first message must be Hello");
        checkRequest(hello.value, "Hello");
        if (hello.value.clusterName !== cluster.name) {
          throw new GrpcError(
            "PERMISSION_DENIED",
            `the credential belongs to cluster ${cluster.name}, not ${hello.value.clusterName}`,
          );
        }

        connections
          .get(clusterId)
          ?.end(new GrpcError("ABORTED", "replaced by a newer stream of this cluster"));
        connections.set(clusterId, connection);
        await store.clusters.updateInfo(clusterId, {
          agentVersion: hello.value.agentVersion,
          kubeVersion: hello.value.kubeVersion,
        });
        await store.clusters.markSeen(clusterId, now());
        await store.clusters.setState(clusterId, "Connected");
        // A reconnect after a disconnect is recorded, so notifications see the cluster recover.
        if (cluster.state === "Disconnected") {
          const lastSeen = cluster.lastSeenAt?.toISOString() ?? "never";
          await store.events.append({
            clusterId,
            type: "cluster-connected",
            message: `cluster ${cluster.name} connected again; last seen ${lastSeen}`,
            data: { lastSeen, agentVersion: hello.value.agentVersion },
          });
        }
        await publishClusterState(clusterId, "Connected");

        const delivery = createDelivery(stream, clusterId, hello.value, ended);
        deliveries.add(delivery);
        streamDelivery = delivery;
        // Subscribe before reading the targets, so a change made meanwhile is not missed.
        const subscription = clusterEvents.listen(
          clusterId,
          async (event) => {
            if (event.type === "targets-changed" && event.clusterId === clusterId)
              await delivery.onChanged(event);
            else if (event.type === "sync-request" && event.clusterId === clusterId)
              await delivery.sendPendingSyncs();
            else if (event.type === "rotate-credential" && event.clusterId === clusterId)
              await delivery.rotateCredential(event);
            else if (
              event.type === "cluster" &&
              event.clusterId === clusterId &&
              event.state === "Disconnected"
            )
              markedDisconnected = true;
            else if (event.type === "cluster-changed" && event.clusterId === clusterId) {
              if (!(await store.clusters.get(clusterId)))
                endStream(
                  new GrpcError("UNAUTHENTICATED", `cluster ${cluster.name} was removed from the hub`),
                );
            }
          },
          (error) => log(`cluster ${cluster.name}: delivery failed`, { error: error.message }),
        );
        try {
          await Promise.race([subscription.ready, ended]);
          // Acks are read while the backlog goes out, so a long backlog cannot stall on flow control.
          const welcomed = delivery.sendWelcome(cluster.name, options);
          welcomed.catch((error: unknown) =>
            endStream(
              error instanceof GrpcError
                ? error
                : new GrpcError("INTERNAL", "resume failed", { cause: error }),
            ),
          );
          /**
           * Status reports of this stream in the status writer. The stream reads on while fewer
           * than STATUS_WINDOW are, so the reports of a busy agent (and of many agents) share
           * group writes instead of each waiting for its own; the writer keeps their order.
           */
          const statusWrites = new Set<Promise<void>>();
          for (let message = await next(); !message.done; message = await next()) {
            if (markedDisconnected && connections.get(clusterId) === connection) {
              markedDisconnected = false;
              await Promise.race([markConnectedAgain(clusterId, cluster.name), ended]);
            }
            const { body } = message.value;
            if (body.case !== "appStatus") {
              await Promise.race([handleMessage(clusterId, message.value, delivery), ended]);
              continue;
            }
            const written = recordStatus(clusterId, body.value);
            statusWrites.add(written);
            written.then(
              () => statusWrites.delete(written),
              (error: unknown) =>
                endStream(
                  error instanceof GrpcError
                    ? error
                    : new GrpcError("INTERNAL", `storing the status of app ${body.value.app} failed`, {
                        cause: error,
                      }),
                ),
            );
            if (statusWrites.size >= STATUS_WINDOW) await Promise.race([Promise.race(statusWrites), ended]);
          }
          await Promise.race([Promise.all(statusWrites), ended]);
          await Promise.race([welcomed, ended]);
        } finally {
          subscription.unsubscribe();
        }
      } finally {
        if (streamDelivery) deliveries.delete(streamDelivery);
        if (connections.get(clusterId) === connection) {
          connections.delete(clusterId);
          await store.clusters.setState(clusterId, "Disconnected");
          // Its reports written first, so that none of them clears the stale flag set next.
          await statusWriter.release(clusterId);
          await store.statuses.markStale(clusterId);
          await publishClusterState(clusterId, "Disconnected");
        }
        finish();
      }
    },

    async close() {
      const open = [...connections.values()];
      for (const connection of open) connection.end(new GrpcError("UNAVAILABLE", "the hub is shutting down"));
      await Promise.all(open.map((connection) => connection.done));
      await flushSeen();
    },

    stats() {
      let queuedChanges = 0;
      for (const delivery of deliveries) queuedChanges += delivery.depth();
      return { connectedAgents: connections.size, queuedChanges };
    },
  };
  return {
    ...handlers,
    register: hideInternals("Register", handlers.register),
    connect: hideInternals("Connect", handlers.connect),
  };

  /**
   * An unexpected error (a store failure, a bug) is logged and reaches the agent as INTERNAL
   * without its text, which may describe internals (a query, a path). GrpcErrors pass unchanged.
   */
  function hideInternals<A extends unknown[], R>(
    method: string,
    handler: (...args: A) => Promise<R>,
  ): (...args: A) => Promise<R> {
    return async (...args) => {
      try {
        return await handler(...args);
      } catch (error) {
        if (error instanceof GrpcError) throw error;
        log(`AgentService.${method} failed`, {
          error: redact(error instanceof Error ? error.message : String(error)),
        });
        throw new GrpcError("INTERNAL", `${method} failed inside the hub; the hub log has the details`, {
          cause: error,
        });
      }
    };
  }

  async function authenticate(authorization: string | undefined): Promise<string> {
    const bearer = /^Bearer (.+)$/.exec(authorization ?? "")?.[1];
    if (bearer === undefined) throw new GrpcError("UNAUTHENTICATED", "missing bearer credential");
    const credential = parseToken(bearer);
    if (credential?.kind !== "cluster")
      throw new GrpcError("UNAUTHENTICATED", "malformed cluster credential");
    const verified = await store.credentials.verify(credential.id, credential.secret);
    if (!verified.ok)
      throw new GrpcError("UNAUTHENTICATED", `cluster credential ${credential.id} is ${verified.reason}`);
    return verified.clusterId;
  }

  /**
   * A cluster marked Disconnected whose agent speaks on its open stream is Connected again;
   * without this it would stay Disconnected (its statuses stale) until the stream ended.
   */
  async function markConnectedAgain(clusterId: string, clusterName: string): Promise<void> {
    await store.clusters.setState(clusterId, "Connected");
    await store.events.append({
      clusterId,
      type: "cluster-connected",
      message: `cluster ${clusterName} spoke again on its open stream after it was marked Disconnected`,
      data: {},
    });
    await publishClusterState(clusterId, "Connected");
  }

  /** Checks and hands one AppStatus to the status writer; resolves once it is stored and announced. */
  async function recordStatus(clusterId: string, status: AppStatus): Promise<void> {
    checkRequest(status, "appStatus");
    if (status.app === "") throw new GrpcError("INVALID_ARGUMENT", "AppStatus.app is required");
    metrics?.statusIngested();
    await statusWriter.record(clusterId, status);
  }

  async function handleMessage(clusterId: string, message: AgentMessage, delivery: Delivery): Promise<void> {
    const { body } = message;
    if (body.case !== undefined) checkRequest(body.value, body.case);
    switch (body.case) {
      case "hello":
        throw new GrpcError("INVALID_ARGUMENT", "Hello may be sent only once per stream");
      case "ack": {
        const { app, seq, accepted, error } = body.value;
        // Only a change this stream sent can be acknowledged: any other ack would mark a later
        // version of the app delivered before it ever went out.
        if (!delivery.wasSent(app, seq)) {
          log(
            `cluster ${clusterId}: ignored an ack of seq ${seq} of app ${app}, which this stream never sent`,
          );
          return;
        }
        await store.targets.markAcked(clusterId, app, Number(seq));
        delivery.onAck(app, seq, accepted);
        if (!accepted) {
          await store.events.append({
            clusterId,
            app,
            type: "delivery-problem",
            message: `app ${app}: the agent rejected seq ${seq}: ${error}`,
            data: { seq: Number(seq), digest: body.value.digest },
          });
        }
        return;
      }
      case "appStatus":
        await recordStatus(clusterId, body.value);
        return;
      case "heartbeat":
        noteSeen(clusterId);
        return;
      case "bundleRequest":
        for (const digest of body.value.digests) await delivery.sendBundle(digest);
        return;
      case undefined:
        return;
    }
  }

  type Delivery = ReturnType<typeof createDelivery>;

  /** What one stream sends: Welcome, the backlog, then live changes, one send at a time. */
  function createDelivery(stream: ConnectStream, clusterId: string, hello: Hello, ended: Promise<never>) {
    const queue = createDeliveryQueue();
    /** Bundle digests the agent holds: listed in Hello or acked on this stream. */
    const heldBundles = new Set(
      hello.held.map((held) => held.bundleDigest).filter((digest) => digest !== ""),
    );
    /** Highest seq sent per app, so a change announced while the backlog was read is not sent twice. */
    const sentSeq = new Map<string, bigint>();
    /** Bundle digest of the upsert in flight per app, to mark it held once acked. */
    const sentBundle = new Map<string, string>();
    /** Sync requests sent on this stream, so a repeated announcement does not run a sync twice. */
    const sentSyncs = new Set<string>();
    /** When the upsert in flight per app went out (performance.now()), for the delivery latency. */
    const sentAt = new Map<string, { seq: bigint; atMs: number }>();
    /**
     * Bundles larger than this go out in slices after a BundleRequest: below both the hub's
     * message limit and gRPC's default receive limit (4 MiB), which agents keep.
     */
    const chunkBytes = Math.max(
      64 * 1024,
      Math.min(options.maxMessageBytes, AGENT_RECEIVE_LIMIT_BYTES) - 256 * 1024,
    );
    let live = false;
    let sending: Promise<void> = Promise.resolve();

    const send = (message: MessageInitShape<typeof HubMessageSchema>) =>
      Promise.race([stream.send(message), ended]);

    async function sendChange(change: Change, target: Target | undefined): Promise<void> {
      if ((sentSeq.get(change.app) ?? 0n) >= change.seq) return;
      if (change.kind === "removal") {
        await send({
          body: { case: "removal", value: { seq: change.seq, app: change.app, prune: change.prune } },
        });
      } else {
        if (!target) return;
        const app = await toDesiredApp(target);
        await send({ body: { case: "upsert", value: { seq: change.seq, app } } });
        sentBundle.set(change.app, target.bundleDigest);
        sentAt.set(change.app, { seq: change.seq, atMs: performance.now() });
        metrics?.desiredAppSent();
        if (app.bundle) metrics?.bundleBytesSent(app.bundle.length);
      }
      sentSeq.set(change.app, change.seq);
      queue.sent(change);
    }

    async function toDesiredApp(target: Target): Promise<MessageInitShape<typeof DesiredAppSchema>> {
      const desired = target.desired as DesiredFields;
      const text = (key: keyof DesiredFields) =>
        typeof desired[key] === "string" ? (desired[key] as string) : "";
      const app: MessageInitShape<typeof DesiredAppSchema> = {
        name: target.app,
        digest: target.digest,
        bundleDigest: target.bundleDigest,
        namespace: text("namespace"),
        project: text("project"),
        revision: text("revision"),
        bundleEncoding: text("bundleEncoding"),
        ...(desired.source ? { source: desired.source } : {}),
        ...(desired.syncPolicy ? { syncPolicy: desired.syncPolicy } : {}),
        ...(desired.ignoreDifferences ? { ignoreDifferences: desired.ignoreDifferences } : {}),
      };
      if (typeof desired.objectCount === "number") app.objectCount = desired.objectCount;
      if (!heldBundles.has(target.bundleDigest)) {
        const bundle = await bundleCache.get(target.bundleDigest);
        // A missing bundle is sent without bytes; the agent asks with BundleRequest and gets an
        // error. So is a bundle too large for one message: the agent asks, and gets it in slices.
        if (bundle && bundle.bytes.length <= chunkBytes) {
          app.bundle = bundle.bytes;
          app.bundleEncoding = bundle.encoding;
          app.objectCount = bundle.objectCount;
        }
      }
      return app;
    }

    /**
     * The Hello says what the agent holds: a change it applied whose ack the hub never recorded
     * (the hub died between the agent's ack and the write) is acknowledged now, as is a removal
     * of an app the agent no longer holds. Without this the cluster's acked seq would stay behind.
     */
    async function recordHeldAsAcked(targets: readonly Target[]): Promise<void> {
      const held = new Map(hello.held.map((entry) => [entry.app, entry]));
      for (const target of targets) {
        if (target.ackedSeq >= target.seq) continue;
        const holds = held.get(target.app);
        const done = target.removed ? !holds : holds?.digest === target.digest;
        if (done) await store.targets.markAcked(clusterId, target.app, target.seq);
      }
    }

    /** Target rows read by onChanged, by app, for pump to send without reading them again. */
    const announced = new Map<string, Target>();

    async function pump(): Promise<void> {
      if (!live) return;
      for (let change = queue.take(); change; change = queue.take()) {
        // The row onChanged just read is the one to send, unless the app changed again since.
        const known = announced.get(change.app);
        announced.delete(change.app);
        const target =
          known && BigInt(known.seq) === change.seq
            ? known
            : (await store.targets.list(clusterId)).find((entry) => entry.app === change.app);
        await sendChange(change, target);
      }
    }

    function schedule(work: () => Promise<void>): Promise<void> {
      sending = sending.then(work);
      return sending;
    }

    return {
      /** Changes not acknowledged yet on this stream. */
      depth: () => queue.depth(),

      async sendWelcome(clusterName: string, settings: AgentServiceOptions): Promise<void> {
        await schedule(async () => {
          const cluster = await store.clusters.get(clusterId);
          const latestSeq = BigInt(cluster?.desiredSeq ?? 0);
          const targets = await store.targets.list(clusterId);
          const byApp = new Map(targets.map((target) => [target.app, target]));
          const plan = planResume({
            desired: targets
              .filter((target) => !target.removed)
              .map((target) => ({ ...target, seq: BigInt(target.seq) })),
            held: hello.held,
            lastAppliedSeq: hello.lastAppliedSeq,
            latestSeq,
            // A held app without a pending removal was removed before the store was recreated.
            removalSeq: (app) => BigInt(byApp.get(app)?.seq ?? Number(latestSeq)),
            pruneOnRemoval: (app) => {
              const target = byApp.get(app);
              return target ? prunesOnRemoval(target) : false;
            },
          });
          await send({
            body: {
              case: "welcome",
              value: {
                clusterName,
                clusterId,
                hubVersion: settings.hubVersion,
                heartbeatIntervalMs: settings.heartbeatIntervalMs,
                maxMessageBytes: settings.maxMessageBytes,
                resume: { latestSeq, backlog: plan.backlog.length, seqReset: plan.seqReset },
              },
            },
          });
          await recordHeldAsAcked(targets);
          for (const change of plan.backlog) await sendChange(change, byApp.get(change.app));
          live = true;
          await pump();
        });
        await this.sendPendingSyncs();
      },

      async onChanged(event: Extract<BusEvent, { type: "targets-changed" }>): Promise<void> {
        const apps = new Set(event.apps);
        for (const target of await store.targets.list(clusterId)) {
          if (!apps.has(target.app)) continue;
          announced.set(target.app, target);
          const seq = BigInt(target.seq);
          queue.push(
            target.removed
              ? { kind: "removal", app: target.app, seq, prune: prunesOnRemoval(target) }
              : {
                  kind: "upsert",
                  app: target.app,
                  seq,
                  digest: target.digest,
                  bundleDigest: target.bundleDigest,
                },
          );
        }
        await schedule(pump);
      },

      /** Whether this stream sent a change of `app` with `seq` (or a later one). */
      wasSent(app: string, seq: bigint): boolean {
        const sent = sentSeq.get(app);
        return sent !== undefined && seq <= sent;
      },

      onAck(app: string, seq: bigint, accepted: boolean): void {
        queue.ack(app, seq);
        const sent = sentAt.get(app);
        if (sent && sent.seq <= seq) {
          sentAt.delete(app);
          metrics?.delivered((performance.now() - sent.atMs) / 1_000);
        }
        const bundleDigest = sentBundle.get(app);
        if (accepted && bundleDigest !== undefined) heldBundles.add(bundleDigest);
      },

      async sendBundle(digest: string): Promise<void> {
        await schedule(async () => {
          const bundle = await bundleCache.get(digest);
          if (!bundle) {
            await send({
              body: { case: "bundle", value: { digest, error: `bundle ${digest} is not stored on the hub` } },
            });
            return;
          }
          const total = bundle.bytes.length;
          if (total <= chunkBytes) {
            await send({
              body: { case: "bundle", value: { digest, encoding: bundle.encoding, data: bundle.bytes } },
            });
            metrics?.bundleBytesSent(total);
            return;
          }
          for (let offset = 0; offset < total; offset += chunkBytes) {
            await send({
              body: {
                case: "bundle",
                value: {
                  digest,
                  encoding: bundle.encoding,
                  data: bundle.bytes.subarray(offset, offset + chunkBytes),
                  offset: BigInt(offset),
                  totalSize: BigInt(total),
                },
              },
            });
            metrics?.bundleBytesSent(Math.min(chunkBytes, total - offset));
          }
        });
      },

      /** Sends every sync request of this cluster the agent has not acknowledged yet. */
      async sendPendingSyncs(): Promise<void> {
        await schedule(async () => {
          if (!live) return;
          for (const request of await store.syncRequests.listPending(clusterId)) {
            if (sentSyncs.has(request.requestId)) continue;
            await send({
              body: {
                case: "sync",
                value: {
                  requestId: request.requestId,
                  app: request.app,
                  prune: request.prune,
                  force: request.force,
                  dryRun: request.dryRun,
                  requestedBy: request.requestedBy,
                },
              },
            });
            sentSyncs.add(request.requestId);
          }
        });
      },

      /** Issues a new credential and sends it; the old ones stop working after the grace period. */
      async rotateCredential(event: Extract<BusEvent, { type: "rotate-credential" }>): Promise<void> {
        await schedule(async () => {
          const text = generateToken("cluster");
          const credential = parseToken(text);
          if (!credential) throw new Error("generated cluster credential does not parse");
          const previousExpiresAt = new Date(now().getTime() + event.graceMs);
          await store.credentials.add({
            id: credential.id,
            clusterId,
            secret: credential.secret,
            retireOthersAt: previousExpiresAt,
          });
          let delivered = true;
          try {
            await send({
              body: {
                case: "credentialRotation",
                value: { credential: text, previousExpiresAt: timestampFromDate(previousExpiresAt) },
              },
            });
          } catch (error) {
            delivered = false;
            throw error;
          } finally {
            await store.events.append({
              clusterId,
              type: "credential-rotated",
              message: `cluster credential rotated (new id ${credential.id}); previous credentials expire at ${previousExpiresAt.toISOString()}${delivered ? "" : "; the agent did not receive it"}`,
              data: {
                credentialId: credential.id,
                delivered,
                previousExpiresAt: previousExpiresAt.toISOString(),
              },
            });
            await bus.publish({
              type: "credential-rotated",
              clusterId,
              requestId: event.requestId,
              delivered,
            });
          }
        });
      },
    };
  }
}

/** The DesiredApp fields the resolver keeps in Target.desired, in protobuf init form. */
type DesiredFields = {
  namespace?: string;
  project?: string;
  revision?: string;
  bundleEncoding?: string;
  objectCount?: number;
  source?: MessageInitShape<typeof AppSourceSchema>;
  syncPolicy?: MessageInitShape<typeof SyncPolicySchema>;
  ignoreDifferences?: MessageInitShape<typeof IgnoreDifferenceSchema>[];
};

/** A removed app's objects are deleted only when its last policy had automated prune, as in Argo CD. */
function prunesOnRemoval(target: Target): boolean {
  return (target.desired as DesiredFields).syncPolicy?.automated?.prune === true;
}
