/**
 * Simulated agents: real AgentService clients (TLS, HTTP/2, the real Register and Connect
 * protocol of proto/flotilla/v1/agent.proto) that skip only the Kubernetes side. Each keeps its
 * "persisted" desired state in memory, acks every change after "persisting" it the way
 * agent/src/hub/hub-connection.ts does, reports every app Synced and Healthy, and records every
 * change it applied, so a test can tell an update applied twice, out of order or never.
 *
 * Lean enough for thousands per process: each agent has its own channel (its own TCP
 * connection) only while connected, no polling, and no timer while idle other than its
 * heartbeat. With `cuttable`, the agent dials the hub through a private TCP relay, so that
 * `disconnect({ abrupt: true })` can reset the socket like a network cut.
 */
import { randomUUID } from "node:crypto";
import { get } from "node:https";
import { createServer, connect as dialTcp, type Server, type Socket } from "node:net";
import { checkServerIdentity } from "node:tls";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { decodeBundle } from "@flotilla/agent/hub/decode-desired-app";
import { caHashOf } from "@flotilla/agent/hub/join";
import type { KubeObject } from "@flotilla/agent/kube/kube-object";
import {
  type AgentMessageSchema,
  AgentService,
  type Bundle,
  type DesiredAppRemoval,
  type DesiredAppUpsert,
  type HubMessage,
} from "@flotilla/proto/gen/flotilla/v1/agent_pb";
import {
  type AppStatusSchema,
  type DesiredApp,
  HealthStatus,
  OperationPhase,
  SyncStatus,
} from "@flotilla/proto/gen/flotilla/v1/app_pb";
import { closeClient, createClient, credentials, GrpcError } from "@flotilla/proto/grpc";

export type SimulatedAgentOptions = {
  /** `https://host:port` of the hub; AgentService is served at the same host and port. */
  hubUrl: string;
  /** PEM of the hub's CA. Without it the CA is fetched from `${hubUrl}/ca.crt` and pinned by `caHash`. */
  caPem?: string;
  /** `sha256:<hex>` of the CA's public key, as a join command prints it; checked when given. */
  caHash?: string;
  /** Bootstrap token; sent only to a hub whose CA checked out, never logged or put in an error. */
  token: string;
  name: string;
  labels?: Record<string, string>;
  /** The cluster's stable identity (the kube-system uid of a real cluster); default a random UUID. */
  clusterUid?: string;
  /** Dial through a private TCP relay, so that an abrupt disconnect resets the socket. Default false. */
  cuttable?: boolean;
  /** Reconnect delay after a stream broke without disconnect(): initialMs doubling up to maxMs, jittered; default 200 ms to 5 s. */
  backoff?: { initialMs: number; maxMs: number };
  /** For Register and for fetching the CA; default 30 000 ms. */
  timeoutMs?: number;
  /** How long a clean disconnect waits for the hub to end the stream before cancelling it; default 2 000 ms. */
  drainTimeoutMs?: number;
  /** Heartbeat interval when Welcome names none; default 30 000 ms. */
  heartbeatIntervalMs?: number;
  /** Jitter source; default Math.random. */
  random?: () => number;
  /** Send an AppStatus after each applied change and on Sync; default true. Benchmarks of delivery alone turn it off. */
  reportStatuses?: boolean;
  /** Told of every change the agent applied, right after it persisted it and before its ack. */
  onApplied?: (record: AppliedRecord, change: DesiredAppUpsert | DesiredAppRemoval) => void;
};

/** One app the agent holds, as its desired store would persist it. */
export type HeldApp = {
  app: string;
  digest: string;
  seq: bigint;
  bundleDigest: string;
  revision: string;
  namespace: string;
  objects: KubeObject[];
};

/** One change the agent applied (persisted for the first time), in the order it applied them. */
export type AppliedRecord = {
  kind: "upsert" | "removal";
  app: string;
  seq: bigint;
  /** Empty for a removal. */
  digest: string;
  revision: string;
  /** Which stream of this agent delivered it (1 for the first). */
  stream: number;
  /**
   * When it was persisted, in milliseconds since the Unix epoch with sub-millisecond precision
   * (`performance.timeOrigin + performance.now()`), comparable across processes of one machine.
   */
  persistedAtMs: number;
};

export type SimulatedAgentStats = {
  /** Connect streams opened. */
  streams: number;
  /** Streams that got their Welcome. */
  welcomes: number;
  /** Streams that got their Welcome and handled the whole resume backlog. */
  caughtUp: number;
  /** Upserts and removals received whose seq the agent held already, acked without applying. */
  resends: number;
  /** Changes acked (accepted or not). */
  acks: number;
  /** Upserts refused with accepted=false (bad bundle, missing bundle). */
  rejected: number;
  bundleRequests: number;
  statusesSent: number;
  /** Streams that broke without disconnect(): the hub ended them or the connection failed. */
  streamFailures: number;
  /** Milliseconds from opening a stream to its Welcome, summed over the welcomed streams. */
  welcomeWaitMs: number;
};

export type DisconnectOptions = {
  /**
   * false (default): half-close the stream and let the hub end it, as an agent that stops does.
   * true: end it at once without a word: with `cuttable` the TCP connection is reset on the
   * agent's side, otherwise the call is cancelled (RST_STREAM) and the channel closed.
   */
  abrupt?: boolean;
  /**
   * With `abrupt` and `cuttable`: the hub's side of the connection stays open but silent this
   * long before it is reset too, as when a network path dies and the hub notices late. Default 0.
   */
  blackholeMs?: number;
};

export type SimulatedAgent = {
  readonly name: string;
  readonly clusterId: string;
  /** Labels the hub gave the cluster at registration. */
  readonly labels: Readonly<Record<string, string>>;
  /**
   * Keeps a Connect stream open from now on, reconnecting with backoff when it breaks. Resolves
   * once a stream got its Welcome and handled its resume backlog (the agent then holds the
   * hub's desired state as of Welcome); rejects when disconnect() or close() comes first, or
   * when the hub refuses the credential or the name (UNAUTHENTICATED, PERMISSION_DENIED).
   */
  connect(): Promise<void>;
  /** Stops reconnecting and ends the stream (see DisconnectOptions); resolves once it is down. */
  disconnect(options?: DisconnectOptions): Promise<void>;
  /** What the agent holds now, by app. */
  desired(): ReadonlyMap<string, HeldApp>;
  readonly applied: readonly AppliedRecord[];
  /** Highest seq persisted (Hello's last_applied_seq). */
  readonly lastAppliedSeq: bigint;
  /** Highest seq acked with accepted=true. */
  readonly ackedSeq: bigint;
  /** A stream is open and welcomed. */
  readonly connected: boolean;
  readonly stats: Readonly<SimulatedAgentStats>;
  /** Disconnects (clean) and frees the relay. */
  close(): Promise<void>;
};

/** How long an upsert waits for the Bundle it asked for before the stream is dropped (the real agent: 60 s). */
const BUNDLE_TIMEOUT_MS = 30_000;

type AgentMessage = MessageInitShape<typeof AgentMessageSchema>;
type AgentClient = ReturnType<typeof createClient<typeof AgentService>>;
type Waiter = { resolve(): void; reject(error: Error): void };

/**
 * Registers a cluster named `options.name` with the bootstrap token and returns its simulated
 * agent, not yet connected. Throws naming the hub and the cause when the CA does not match
 * `caHash` (before the token is sent) or when the hub refuses the registration.
 */
export async function joinSimulatedAgent(options: SimulatedAgentOptions): Promise<SimulatedAgent> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const hub = URL.canParse(options.hubUrl) ? new URL(options.hubUrl) : undefined;
  if (hub?.protocol !== "https:") {
    throw new Error(
      `simulated agent ${options.name}: hub URL ${JSON.stringify(options.hubUrl)} is not an https:// URL`,
    );
  }
  const host = hub.hostname.replace(/^\[|\]$/g, "");
  const port = Number(hub.port || "443");
  const caPem = options.caPem ?? (await fetchCaCertificate(hub, timeoutMs));
  if (options.caHash !== undefined && caHashOf(caPem) !== options.caHash.trim().toLowerCase()) {
    throw new Error(
      `simulated agent ${options.name}: hub ${hub.origin} has a CA that does not match ${options.caHash}; the token was not sent`,
    );
  }
  const creds = credentials.createSsl(Buffer.from(caPem));
  const hubAddress = `${hub.hostname}:${port}`;
  const registrar = createClient(AgentService, hubAddress, creds);
  let registered: Awaited<ReturnType<typeof registrar.register>>;
  try {
    registered = await registrar.register(
      {
        bootstrapToken: options.token,
        clusterName: options.name,
        labels: options.labels ?? {},
        agentVersion: "simulated",
        kubeVersion: "v0.0.0-simulated",
        serverUrl: `https://${options.name}.simulated.invalid`,
        clusterUid: options.clusterUid ?? randomUUID(),
      },
      { deadlineMs: timeoutMs },
    );
  } catch (error) {
    const cause = error instanceof GrpcError ? `${error.code}: ${error.details}` : String(error);
    throw new Error(`simulated agent ${options.name}: Register at ${hub.origin} failed: ${cause}`, {
      cause: error,
    });
  } finally {
    closeClient(registrar);
  }
  const relay = options.cuttable ? await startRelay(host, port) : undefined;
  return createSimulatedAgent(options, {
    clusterName: registered.clusterName || options.name,
    clusterId: registered.clusterId,
    labels: { ...registered.labels },
    credential: registered.credential,
    // The relay listens on 127.0.0.1; the hub's certificate is still checked against the hub's name.
    creds: relay
      ? credentials.createSsl(Buffer.from(caPem), null, null, {
          checkServerIdentity: (_name, certificate) => checkServerIdentity(host, certificate),
        })
      : creds,
    address: relay ? `127.0.0.1:${relay.port}` : hubAddress,
    channelOptions: {
      // Its own connection per agent: grpc-js would otherwise share one between equal channels.
      "grpc.use_local_subchannel_pool": 1,
      ...(relay ? { "grpc.default_authority": hubAddress } : {}),
    },
    relay,
  });
}

type Identity = {
  clusterName: string;
  clusterId: string;
  labels: Record<string, string>;
  credential: string;
  creds: ReturnType<typeof credentials.createSsl>;
  address: string;
  channelOptions: Record<string, string | number>;
  relay: Relay | undefined;
};

/** What disconnect() needs of the stream that is open. */
type OpenStream = { end(): void; cancel(): void; ended: Promise<void> };

function createSimulatedAgent(options: SimulatedAgentOptions, identity: Identity): SimulatedAgent {
  const name = identity.clusterName;
  const random = options.random ?? Math.random;
  const backoff = options.backoff ?? { initialMs: 200, maxMs: 5_000 };
  const drainTimeoutMs = options.drainTimeoutMs ?? 2_000;
  let credential = identity.credential;
  const held = new Map<string, HeldApp>();
  /** Per app, the seq of the last change applied, removals included (as the real agent's session). */
  const seqs = new Map<string, bigint>();
  const applied: AppliedRecord[] = [];
  const stats: SimulatedAgentStats = {
    streams: 0,
    welcomes: 0,
    caughtUp: 0,
    resends: 0,
    acks: 0,
    rejected: 0,
    bundleRequests: 0,
    statusesSent: 0,
    streamFailures: 0,
    welcomeWaitMs: 0,
  };
  let lastAppliedSeq = 0n;
  let ackedSeq = 0n;
  let connected = false;
  let caughtUpNow = false;
  let wanted = false;
  let closed = false;
  let refusal: Error | undefined;
  let loop: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  let open: OpenStream | undefined;
  /** Wakes the backoff sleep of the loop when disconnect() comes. */
  let wake: (() => void) | undefined;
  let waiters: Waiter[] = [];

  function settleWaiters(error?: Error): void {
    const settling = waiters;
    waiters = [];
    for (const waiter of settling) {
      if (error) waiter.reject(error);
      else waiter.resolve();
    }
  }

  async function maintain(): Promise<void> {
    let attempt = 0;
    while (wanted) {
      const outcome = { welcomed: false };
      try {
        await runStream(outcome);
        if (wanted) stats.streamFailures += 1;
      } catch (error) {
        if (!wanted) break;
        stats.streamFailures += 1;
        if (
          error instanceof GrpcError &&
          (error.code === "UNAUTHENTICATED" || error.code === "PERMISSION_DENIED")
        ) {
          refusal = new Error(`simulated agent ${name}: the hub refused the stream: ${error.message}`, {
            cause: error,
          });
          wanted = false;
          settleWaiters(refusal);
          break;
        }
      }
      if (!wanted) break;
      if (outcome.welcomed) attempt = 0;
      const ceiling = Math.min(backoff.maxMs, backoff.initialMs * 2 ** attempt);
      attempt += 1;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ceiling * (0.5 + random() / 2));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  }

  async function runStream(outcome: { welcomed: boolean }): Promise<void> {
    const client: AgentClient = createClient(AgentService, identity.address, identity.creds, {
      channelOptions: identity.channelOptions,
    });
    stats.streams += 1;
    const streamNumber = stats.streams;
    const openedAtMs = performance.now();
    const stream = client.connect({ metadata: { authorization: `Bearer ${credential}` } });
    let markEnded: () => void = () => {};
    const current: OpenStream = {
      end: () => stream.end(),
      cancel: () => stream.cancel(),
      ended: new Promise<void>((resolve) => {
        markEnded = resolve;
      }),
    };
    open = current;
    const send = (message: AgentMessage) =>
      stream.send(message).catch(() => {
        // The stream ended: the hub resends whatever was not acked on the next one.
      });

    let failure: { error: unknown } | undefined;
    let work: Promise<void> = Promise.resolve();
    // Changes are handled one at a time in arrival order, so acks follow seq order.
    const enqueue = (step: () => Promise<void>) => {
      work = work.then(async () => {
        if (failure !== undefined) return;
        try {
          await step();
        } catch (error) {
          failure = { error };
          stream.cancel();
        }
      });
    };
    let heartbeat: ReturnType<typeof setInterval> | undefined;
    let streamEnded = false;
    let backlogLeft = 0;
    const bundleWaiters = new Map<string, { resolve(bundle: Bundle): void; reject(error: Error): void }>();
    const slices = new Map<string, { parts: Uint8Array[]; received: number }>();

    const ack = async (seq: bigint, app: string, digest: string, accepted: boolean, error = "") => {
      stats.acks += 1;
      if (accepted && seq > ackedSeq) ackedSeq = seq;
      await send({ body: { case: "ack", value: { seq, app, digest, accepted, error } } });
    };

    const reportStatus = async (app: string, operation?: { requestId: string }) => {
      if (options.reportStatuses === false) return;
      const entry = held.get(app);
      const status: MessageInitShape<typeof AppStatusSchema> = entry
        ? statusOf(entry, operation?.requestId)
        : { app, removed: true, observedAt: timestampNow() };
      stats.statusesSent += 1;
      await send({ body: { case: "appStatus", value: status } });
    };

    /** The objects of an upsert's bundle, or why it is refused. */
    const objectsOf = async (app: DesiredApp): Promise<KubeObject[] | { rejected: string }> => {
      const decode = (bytes: Uint8Array, encoding: string) => {
        try {
          return decodeBundle(app.name, bytes, encoding, app.bundleDigest);
        } catch (error) {
          return { rejected: error instanceof Error ? error.message : String(error) };
        }
      };
      if (app.bundle !== undefined) return decode(app.bundle, app.bundleEncoding);
      for (const entry of held.values()) if (entry.bundleDigest === app.bundleDigest) return entry.objects;
      if (streamEnded)
        throw new Error(`bundle ${app.bundleDigest}: the stream ended before it could be asked for`);
      const bundle = await new Promise<Bundle>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(`bundle ${app.bundleDigest}: the hub did not send it within ${BUNDLE_TIMEOUT_MS} ms`),
            ),
          BUNDLE_TIMEOUT_MS,
        );
        const settle = () => {
          clearTimeout(timer);
          bundleWaiters.delete(app.bundleDigest);
        };
        bundleWaiters.set(app.bundleDigest, {
          resolve: (arrived) => {
            settle();
            resolve(arrived);
          },
          reject: (error) => {
            settle();
            reject(error);
          },
        });
        stats.bundleRequests += 1;
        void send({ body: { case: "bundleRequest", value: { digests: [app.bundleDigest] } } });
      });
      if (bundle.error) return { rejected: `app ${app.name}: bundle ${app.bundleDigest}: ${bundle.error}` };
      return decode(bundle.data, bundle.encoding);
    };

    const receiveUpsert = async (upsert: DesiredAppUpsert): Promise<void> => {
      const { seq, app } = upsert;
      if (app === undefined) return ack(seq, "", "", false, "upsert without an app");
      const heldSeq = seqs.get(app.name);
      if (heldSeq !== undefined && seq <= heldSeq) {
        stats.resends += 1;
        return ack(seq, app.name, app.digest, true);
      }
      const objects = await objectsOf(app);
      if (!Array.isArray(objects)) {
        stats.rejected += 1;
        return ack(seq, app.name, app.digest, false, objects.rejected);
      }
      held.set(app.name, {
        app: app.name,
        digest: app.digest,
        seq,
        bundleDigest: app.bundleDigest,
        revision: app.revision,
        namespace: app.namespace,
        objects,
      });
      seqs.set(app.name, seq);
      if (seq > lastAppliedSeq) lastAppliedSeq = seq;
      const record: AppliedRecord = {
        kind: "upsert",
        app: app.name,
        seq,
        digest: app.digest,
        revision: app.revision,
        stream: streamNumber,
        persistedAtMs: performance.timeOrigin + performance.now(),
      };
      applied.push(record);
      options.onApplied?.(record, upsert);
      await ack(seq, app.name, app.digest, true);
      await reportStatus(app.name);
    };

    const receiveRemoval = async (removal: DesiredAppRemoval): Promise<void> => {
      const { seq, app } = removal;
      const heldSeq = seqs.get(app);
      if (heldSeq !== undefined && seq <= heldSeq) {
        stats.resends += 1;
        return ack(seq, app, "", true);
      }
      held.delete(app);
      seqs.set(app, seq);
      if (seq > lastAppliedSeq) lastAppliedSeq = seq;
      const record: AppliedRecord = {
        kind: "removal",
        app,
        seq,
        digest: "",
        revision: "",
        stream: streamNumber,
        persistedAtMs: performance.timeOrigin + performance.now(),
      };
      applied.push(record);
      options.onApplied?.(record, removal);
      await ack(seq, app, "", true);
      await reportStatus(app);
    };

    const countBacklog = () => {
      if (backlogLeft === 0) return;
      backlogLeft -= 1;
      if (backlogLeft === 0) enqueue(async () => reportCaughtUp());
    };

    const reportCaughtUp = () => {
      caughtUpNow = true;
      stats.caughtUp += 1;
      settleWaiters();
    };

    const receive = (message: HubMessage): void => {
      const body = message.body;
      if (body.case === "welcome") {
        if (outcome.welcomed) throw new Error(`simulated agent ${name}: the hub sent a second Welcome`);
        outcome.welcomed = true;
        connected = true;
        stats.welcomes += 1;
        stats.welcomeWaitMs += performance.now() - openedAtMs;
        const welcome = body.value;
        if (welcome.resume?.seqReset) {
          enqueue(async () => {
            seqs.clear();
            for (const entry of held.values()) entry.seq = 0n;
            lastAppliedSeq = 0n;
          });
        }
        // The hub may have missed reports while the agent was away: send every app's latest.
        enqueue(async () => {
          for (const app of held.keys()) await reportStatus(app);
        });
        backlogLeft = welcome.resume?.backlog ?? 0;
        if (backlogLeft === 0) enqueue(async () => reportCaughtUp());
        const intervalMs = welcome.heartbeatIntervalMs || (options.heartbeatIntervalMs ?? 30_000);
        heartbeat = setInterval(() => {
          const total = held.size;
          void send({
            body: {
              case: "heartbeat",
              value: {
                sentAt: timestampNow(),
                counts: { total, synced: total, healthy: total },
                lastAppliedSeq,
              },
            },
          });
        }, intervalMs);
        heartbeat.unref();
        return;
      }
      if (!outcome.welcomed)
        throw new Error(
          `simulated agent ${name}: the hub sent ${body.case ?? "an empty message"} before Welcome`,
        );
      switch (body.case) {
        case "upsert": {
          const upsert = body.value;
          enqueue(() => receiveUpsert(upsert));
          countBacklog();
          return;
        }
        case "removal": {
          const removal = body.value;
          enqueue(() => receiveRemoval(removal));
          countBacklog();
          return;
        }
        case "bundle": {
          const bundle = assembleBundle(slices, body.value);
          if (bundle) bundleWaiters.get(bundle.digest)?.resolve(bundle);
          return;
        }
        case "sync": {
          const command = body.value;
          enqueue(() => reportStatus(command.app, { requestId: command.requestId }));
          return;
        }
        case "credentialRotation": {
          credential = body.value.credential;
          return;
        }
        default:
          return;
      }
    };

    try {
      await send({
        body: {
          case: "hello",
          value: {
            clusterName: name,
            agentVersion: "simulated",
            kubeVersion: "v0.0.0-simulated",
            held: [...held.values()].map((entry) => ({
              app: entry.app,
              digest: entry.digest,
              seq: entry.seq,
              bundleDigest: entry.bundleDigest,
            })),
            lastAppliedSeq,
            instanceId: `${name}-${streamNumber}`,
          },
        },
      });
      for await (const message of stream as AsyncIterable<HubMessage>) receive(message);
    } catch (error) {
      if (failure === undefined) throw error;
    } finally {
      if (heartbeat !== undefined) clearInterval(heartbeat);
      streamEnded = true;
      const ended = new Error("the stream ended");
      for (const waiter of [...bundleWaiters.values()]) waiter.reject(ended);
      // Let the change being persisted finish, so the next Hello lists it.
      await work;
      connected = false;
      caughtUpNow = false;
      closeClient(client);
      if (open === current) open = undefined;
      markEnded();
    }
    if (failure !== undefined) throw failure.error;
  }

  function connect(): Promise<void> {
    if (closed) return Promise.reject(new Error(`simulated agent ${name}: closed`));
    if (refusal) return Promise.reject(refusal);
    if (stopping !== undefined) return stopping.then(connect);
    wanted = true;
    if (caughtUpNow) return Promise.resolve();
    const caughtUp = new Promise<void>((resolve, reject) => waiters.push({ resolve, reject }));
    loop ??= maintain().finally(() => {
      loop = undefined;
    });
    return caughtUp;
  }

  async function stop(disconnectOptions: DisconnectOptions): Promise<void> {
    wanted = false;
    wake?.();
    const stream = open;
    if (stream) {
      if (disconnectOptions.abrupt) {
        // Reset the socket first, so that the cancel below never reaches the hub.
        identity.relay?.cut(disconnectOptions.blackholeMs ?? 0);
        stream.cancel();
      } else {
        stream.end();
        const timer = setTimeout(() => stream.cancel(), drainTimeoutMs);
        await stream.ended;
        clearTimeout(timer);
      }
    }
    await loop;
    settleWaiters(new Error(`simulated agent ${name}: disconnected before it caught up`));
  }

  function disconnect(disconnectOptions: DisconnectOptions = {}): Promise<void> {
    stopping ??= stop(disconnectOptions).finally(() => {
      stopping = undefined;
    });
    return stopping;
  }

  return {
    name,
    clusterId: identity.clusterId,
    labels: identity.labels,
    connect,
    disconnect,
    desired: () => held,
    applied,
    get lastAppliedSeq() {
      return lastAppliedSeq;
    },
    get ackedSeq() {
      return ackedSeq;
    },
    get connected() {
      return connected;
    },
    stats,
    async close() {
      await disconnect();
      closed = true;
      await identity.relay?.close();
    },
  };
}

/** Synced and Healthy, with every object of the app listed as such. */
function statusOf(entry: HeldApp, requestId?: string): MessageInitShape<typeof AppStatusSchema> {
  const observedAt = timestampNow();
  return {
    app: entry.app,
    digest: entry.digest,
    revision: entry.revision,
    syncStatus: SyncStatus.SYNCED,
    healthStatus: HealthStatus.HEALTHY,
    observedAt,
    resources: entry.objects.map((object) => {
      const slash = object.apiVersion.lastIndexOf("/");
      return {
        group: slash < 0 ? "" : object.apiVersion.slice(0, slash),
        version: object.apiVersion.slice(slash + 1),
        kind: object.kind,
        namespace: object.metadata.namespace ?? "",
        name: object.metadata.name ?? "",
        syncStatus: SyncStatus.SYNCED,
        healthStatus: HealthStatus.HEALTHY,
      };
    }),
    ...(requestId
      ? {
          operation: {
            phase: OperationPhase.SUCCEEDED,
            requestId,
            revision: entry.revision,
            startedAt: observedAt,
            finishedAt: observedAt,
          },
        }
      : {}),
  };
}

/** The whole bundle once its last slice arrived; undefined while slices are missing. */
function assembleBundle(
  slices: Map<string, { parts: Uint8Array[]; received: number }>,
  bundle: Bundle,
): Bundle | undefined {
  const total = Number(bundle.totalSize);
  if (total === 0 || bundle.error) return bundle;
  const entry = slices.get(bundle.digest) ?? { parts: [], received: 0 };
  if (Number(bundle.offset) !== entry.received) {
    slices.delete(bundle.digest);
    return {
      ...bundle,
      data: new Uint8Array(),
      error: `bundle slice at ${bundle.offset} arrived out of order`,
    };
  }
  entry.parts.push(bundle.data);
  entry.received += bundle.data.length;
  slices.set(bundle.digest, entry);
  if (entry.received < total) return undefined;
  slices.delete(bundle.digest);
  return { ...bundle, data: Buffer.concat(entry.parts), offset: 0n, totalSize: 0n };
}

type Relay = {
  port: number;
  /** Resets the agent's side of every connection now, the hub's side after `blackholeMs`. */
  cut(blackholeMs: number): void;
  close(): Promise<void>;
};

/** A TCP relay on 127.0.0.1 to the hub, one per agent, whose connections a test can cut. */
async function startRelay(hubHost: string, hubPort: number): Promise<Relay> {
  const pairs = new Set<{ agent: Socket; hub: Socket }>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const server: Server = createServer((agentSide) => {
    const hubSide = dialTcp(hubPort, hubHost);
    const pair = { agent: agentSide, hub: hubSide };
    pairs.add(pair);
    agentSide.pipe(hubSide);
    hubSide.pipe(agentSide);
    const drop = () => {
      if (!pairs.delete(pair)) return;
      agentSide.destroy();
      hubSide.destroy();
    };
    agentSide.on("error", drop).once("close", drop);
    hubSide.on("error", drop).once("close", drop);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    cut(blackholeMs) {
      for (const pair of [...pairs]) {
        pairs.delete(pair);
        pair.agent.unpipe(pair.hub);
        pair.hub.unpipe(pair.agent);
        pair.agent.resetAndDestroy();
        if (blackholeMs <= 0) {
          pair.hub.resetAndDestroy();
          continue;
        }
        // Silent: nothing more reaches the hub, and what it sends goes nowhere.
        pair.hub.pause();
        const timer = setTimeout(() => {
          timers.delete(timer);
          pair.hub.resetAndDestroy();
        }, blackholeMs);
        timers.add(timer);
      }
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const pair of pairs) {
        pair.agent.destroy();
        pair.hub.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** `${hub}/ca.crt`, unverified: the caller pins it by hash before trusting it. */
function fetchCaCertificate(hub: URL, timeoutMs: number): Promise<string> {
  const where = `hub ${hub.origin}: GET /ca.crt`;
  return new Promise((resolve, reject) => {
    const request = get(
      new URL("/ca.crt", hub),
      { rejectUnauthorized: false, timeout: timeoutMs },
      (response) => {
        if (response.statusCode !== 200) {
          response.resume();
          reject(new Error(`${where}: HTTP ${response.statusCode}`));
          return;
        }
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => {
          text += chunk;
        });
        response.on("end", () => {
          const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0];
          if (pem) resolve(`${pem}\n`);
          else reject(new Error(`${where}: no PEM certificate in the answer`));
        });
      },
    );
    request.on("timeout", () => request.destroy(new Error(`${where}: no answer within ${timeoutMs} ms`)));
    request.on("error", (cause) => reject(new Error(`${where}: ${cause.message}`, { cause })));
  });
}
