// The agent's end of AgentService.Connect (see proto/flotilla/v1/agent.proto): one stream at a
// time, Hello with what the agent holds, every change persisted before it is acked, statuses and
// heartbeats back, and a reconnect with capped, jittered exponential backoff whenever the stream
// breaks.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import {
  type AgentMessageSchema,
  AgentService,
  type Bundle,
  type DesiredAppRemoval,
  type DesiredAppUpsert,
  type HubMessage,
  type SyncCommand,
} from "@flotilla/proto/gen/flotilla/v1/agent_pb";
import type { DesiredApp as DesiredAppMessage } from "@flotilla/proto/gen/flotilla/v1/app_pb";
import {
  closeClient,
  createClient,
  credentials,
  GrpcError,
  type TransportOptions,
} from "@flotilla/proto/grpc";
import type { DesiredApp } from "../desired/desired-app.js";
import type { HubIdentity } from "../desired/state-store.js";
import type { KubeObject, ObjectKey } from "../kube/kube-object.js";
import type { AppStatus } from "../reconcile/app-status.js";
import { decodeBundle, MAX_BUNDLE_BYTES, toDesiredApp } from "./decode-desired-app.js";
import { countStatuses, type StatusReport, toAppStatusMessage } from "./to-app-status-message.js";

/** One app the agent holds, as Hello lists it. */
export type HeldApp = { app: string; digest: string; seq: bigint; bundleDigest: string };

/** A SyncCommand from the hub. */
export type SyncRequest = {
  requestId: string;
  app: string;
  prune: boolean;
  force: boolean;
  dryRun: boolean;
  /** Sync only these objects; empty means all of the app. */
  resources: (ObjectKey & { version: string })[];
  requestedBy: string;
};

/**
 * Where the hub connection puts what it receives and finds what it reports. Every method that
 * persists resolves only once the change is durable: the connection acks right after.
 */
export interface HubSink {
  /** Every app held (seq 0 for an app that came without one) and the highest seq persisted. */
  held(): Promise<{ apps: HeldApp[]; lastAppliedSeq: bigint }>;
  /** The decoded objects of bundle `bundleDigest` when some held app came from it. */
  bundleObjects(bundleDigest: string): Promise<KubeObject[] | undefined>;
  /** Persists `app` as the desired state, remembering the seq and bundle it came with. */
  upsert(app: DesiredApp, delivery: { seq: bigint; bundleDigest: string }): Promise<void>;
  /** Persists that `name` is no longer desired; with `prune` its objects are deleted. */
  remove(name: string, removal: { seq: bigint; prune: boolean }): Promise<void>;
  /** The hub's sequence history restarted: forget every seq held (as 0). */
  forgetSeqs(): Promise<void>;
  /**
   * Syncs now; resolves with the status after the sync, undefined for an app not held. Rejects
   * when the request cannot be carried out (the connection reports it as an Error operation).
   */
  sync(request: SyncRequest): Promise<AppStatus | undefined>;
  /** The latest status of every app. */
  statuses(): AppStatus[];
  /** Calls `listener` with every new status and every removal (status undefined); returns an unsubscribe. */
  watchStatuses(listener: (report: StatusReport) => void): () => void;
  /** Persists a rotated credential. */
  saveCredential(credential: string): Promise<void>;
}

export type Log = (
  level: "info" | "warn" | "error",
  message: string,
  fields?: Record<string, unknown>,
) => void;

export type Backoff = { initialMs: number; factor: number; maxMs: number };

/** What the connection reports as it works, for metrics and readiness; must not throw. */
export type HubConnectionObserver = {
  /** A stream got its Welcome (true), or a welcomed stream ended (false). */
  connected?(connected: boolean): void;
  /** The newest seq the hub announced: Welcome's latestSeq, then every change received. */
  desiredSeq?(seq: bigint): void;
  /** The highest seq persisted and acknowledged (0 after a seq reset). */
  appliedSeq?(seq: bigint): void;
  /** An AppStatus report went out on the stream. */
  statusReported?(): void;
};

export type HubConnectionOptions = {
  /** From the state store; `caCertPem` is required (written by joinHub). */
  identity: HubIdentity;
  sink: HubSink;
  /** Aborting closes the stream; connectToHub then resolves. */
  signal?: AbortSignal;
  /** Only this module's edge decisions are logged; never the credential. */
  log?: Log;
  agentVersion?: string;
  kubeVersion?: string;
  /** Identifies this process to the hub (the pod name); default "". */
  instanceId?: string;
  /** Heartbeat interval when Welcome sets none; default 30 000. */
  heartbeatIntervalMs?: number;
  /** Status reports wait this long so that bursts send only each app's latest; default 1 000. */
  statusDebounceMs?: number;
  /** Delay before reconnecting: initialMs x factor^attempt up to maxMs, each drawn from [50 %, 100 %]; default 1 s x 2 up to 60 s. */
  backoff?: Backoff;
  /** How long to wait for a Bundle after a BundleRequest before dropping the stream; default 60 000. */
  bundleTimeoutMs?: number;
  /**
   * Called once per stream when the agent has caught up: the Welcome and the `resume.backlog`
   * upserts and removals after it were all handled (persisted and acked, or rejected). From then
   * on the sink holds every app the hub targets at this cluster. Not called for a stream that
   * breaks before; must not throw.
   */
  onCaughtUp?: (resume: { latestSeq: bigint; backlog: number }) => void;
  observer?: HubConnectionObserver;
  /** On abort, how long status reports not yet sent may take to go out before the stream closes; default 2 000. */
  drainTimeoutMs?: number;
  /** For tests: the jitter source, default Math.random. */
  random?: () => number;
  transport?: TransportOptions;
};

/**
 * The gRPC target of the hub's AgentService: `identity.grpcAddress`, else the host and port of
 * `identity.hubUrl` (port 443 when it names none).
 */
export function hubGrpcAddress(identity: Pick<HubIdentity, "hubUrl" | "grpcAddress">): string {
  if (identity.grpcAddress) return identity.grpcAddress;
  const url = new URL(identity.hubUrl);
  return `${url.hostname}:${url.port || "443"}`;
}

/**
 * Keeps one Connect stream to the hub open until `signal` aborts (then sends the status reports
 * still pending, within `drainTimeoutMs`, and resolves). A stream that fails or ends is reopened
 * after a backoff, which restarts from `backoff.initialMs` once a stream got its Welcome.
 * Rejects when the hub refuses the credential (UNAUTHENTICATED) or the cluster name
 * (PERMISSION_DENIED): retrying cannot help, an operator has to join again.
 */
export async function connectToHub(options: HubConnectionOptions): Promise<void> {
  const { identity, sink } = options;
  const signal = options.signal ?? new AbortController().signal;
  const log = options.log ?? (() => {});
  const backoff = options.backoff ?? { initialMs: 1_000, factor: 2, maxMs: 60_000 };
  const random = options.random ?? Math.random;
  if (!identity.caCertPem) {
    throw new Error(`hub ${identity.hubUrl}: no CA certificate stored; run flotilla-agent join again`);
  }
  const address = hubGrpcAddress(identity);
  const caCertPem = Buffer.from(identity.caCertPem);
  // A fresh channel per stream, closed when the stream ends, with connections of its own (not
  // grpc-js's process-wide pool): a channel whose connection failed keeps a backoff of its own
  // (1 s x 1.6, up to 120 s), dials on that schedule and fails calls in between without dialling,
  // so a reused channel stretched reconnects after a long outage well past `backoff.maxMs` (up
  // to about 3 minutes after the network was back).
  const transport = {
    ...options.transport,
    channelOptions: { ...options.transport?.channelOptions, "grpc.use_local_subchannel_pool": 1 },
  };
  const openClient = () => createClient(AgentService, address, credentials.createSsl(caCertPem), transport);
  const session: Session = {
    options,
    log,
    credential: identity.credential,
    seqs: new Map(),
    operationRequests: new Map(),
    reporter: createStatusReporter(options.statusDebounceMs ?? 1_000, options.observer, (report) => {
      const started = report.status?.operation?.startedAt;
      const request = session.operationRequests.get(report.app);
      const requestId =
        started !== undefined && request?.startedAt === started ? request.requestId : undefined;
      return {
        body: {
          case: "appStatus",
          value: toAppStatusMessage(report, { observedAtMs: Date.now(), requestId }),
        },
      };
    }),
  };
  const unwatch = sink.watchStatuses((report) => session.reporter.add(report));
  let attempt = 0;
  try {
    while (!signal.aborted) {
      const outcome = { welcomed: false };
      const client = openClient();
      try {
        await runStream(session, client, signal, outcome);
        if (!signal.aborted) log("warn", "hub ended the stream", { hub: address });
      } catch (error) {
        if (signal.aborted) break;
        if (
          error instanceof GrpcError &&
          (error.code === "UNAUTHENTICATED" || error.code === "PERMISSION_DENIED")
        ) {
          throw new Error(
            `hub ${identity.hubUrl} refused cluster ${identity.clusterName} (${error.code}: ${error.details}); ` +
              "the credential is no longer valid: create a new token (flotilla cluster token create) and run flotilla-agent join again",
            { cause: error },
          );
        }
        log("warn", "hub connection lost", { hub: address, error: messageOf(error) });
      } finally {
        closeClient(client);
      }
      if (outcome.welcomed) attempt = 0;
      const ceiling = Math.min(backoff.maxMs, backoff.initialMs * backoff.factor ** attempt);
      attempt += 1;
      await sleep(ceiling * (0.5 + random() / 2), signal);
    }
  } finally {
    unwatch();
    session.reporter.detach();
  }
}

type AgentMessage = MessageInitShape<typeof AgentMessageSchema>;

type Client = ReturnType<typeof createClient<typeof AgentService>>;

type Session = {
  options: HubConnectionOptions;
  log: Log;
  credential: string;
  /** Per app, the seq of the last change applied, removals included (in memory only). */
  seqs: Map<string, bigint>;
  /** Per app, the operation a SyncCommand started, to tag its reports with the request id. */
  operationRequests: Map<string, { startedAt: string; requestId: string }>;
  reporter: StatusReporter;
};

async function runStream(
  session: Session,
  client: Client,
  signal: AbortSignal,
  outcome: { welcomed: boolean },
): Promise<void> {
  const { options, log } = session;
  const sink = options.sink;
  const controller = new AbortController();
  let closeTimer: ReturnType<typeof setTimeout> | undefined;
  // An agent that stops still sends the statuses it has not reported, so the hub sees its last
  // word; then it half-closes and lets the hub end the call, since a cancel could drop what is
  // still in transit. Past drainTimeoutMs the call is cancelled.
  const stopOnAbort = () => {
    if (!outcome.welcomed) return controller.abort();
    const drainTimeoutMs = options.drainTimeoutMs ?? 2_000;
    const started = Date.now();
    void session.reporter.drain(drainTimeoutMs).finally(() => {
      if (controller.signal.aborted) return; // the stream ended meanwhile
      stream.end();
      closeTimer = setTimeout(() => controller.abort(), Math.max(0, drainTimeoutMs - (Date.now() - started)));
    });
  };
  signal.addEventListener("abort", stopOnAbort, { once: true });
  const stream = client.connect({
    signal: controller.signal,
    metadata: { authorization: `Bearer ${session.credential}` },
  });
  const send = (message: AgentMessage) =>
    stream.send(message).catch(() => {
      // The stream ended; the read loop sees why, and the hub resends what was not acked.
    });

  const held = await sink.held();
  const heldNames = new Set(held.apps.map((app) => app.app));
  let lastAppliedSeq = held.lastAppliedSeq;
  for (const app of held.apps) session.seqs.set(app.app, app.seq);

  const bundleWaiters = new Map<string, { resolve(bundle: Bundle): void; reject(error: Error): void }>();
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let failure: { error: unknown } | undefined;
  /** What the Welcome said about resuming, and how many of its backlog changes are still to come. */
  let resume = { latestSeq: 0n, backlog: 0 };
  let backlogLeft = 0;
  const observer = options.observer;
  /** The newest seq the hub announced on this stream, for observer.desiredSeq. */
  let announcedSeq = 0n;
  const announce = (seq: bigint) => {
    if (seq <= announcedSeq) return;
    announcedSeq = seq;
    observer?.desiredSeq?.(seq);
  };
  let work: Promise<void> = Promise.resolve();
  // Changes are handled one at a time, in the order they arrived, so acks follow seq order.
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

  /** Slices of bundles the hub sends in several messages, by digest. */
  const slices = new Map<string, { parts: Uint8Array[]; received: number; total: number }>();
  /** The whole bundle once its last slice arrived; undefined while slices are missing. */
  function assembleBundle(bundle: Bundle): Bundle | undefined {
    const total = Number(bundle.totalSize);
    if (total === 0 || bundle.error) {
      slices.delete(bundle.digest);
      return bundle;
    }
    if (total > MAX_BUNDLE_BYTES)
      return {
        ...bundle,
        data: new Uint8Array(),
        error: `bundle of ${total} bytes is over the agent's limit`,
      };
    const entry = slices.get(bundle.digest) ?? { parts: [], received: 0, total };
    if (Number(bundle.offset) !== entry.received || entry.total !== total) {
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

  function waitForBundle(digest: string): Promise<Bundle> {
    const timeoutMs = options.bundleTimeoutMs ?? 60_000;
    return new Promise<Bundle>((resolve, reject) => {
      const timer = setTimeout(() => {
        bundleWaiters.delete(digest);
        reject(new Error(`bundle ${digest}: the hub did not send it within ${timeoutMs} ms`));
      }, timeoutMs);
      bundleWaiters.set(digest, {
        resolve: (bundle) => {
          clearTimeout(timer);
          resolve(bundle);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
  }

  /** The objects of an upsert's bundle, or why it is rejected. Throws only when the stream fails. */
  async function objectsOf(message: DesiredAppMessage): Promise<KubeObject[] | { rejected: string }> {
    const decode = (bytes: Uint8Array, encoding: string) => {
      try {
        return decodeBundle(message.name, bytes, encoding, message.bundleDigest);
      } catch (error) {
        return { rejected: messageOf(error) };
      }
    };
    if (message.bundle !== undefined) return decode(message.bundle, message.bundleEncoding);
    const heldObjects = await sink.bundleObjects(message.bundleDigest);
    if (heldObjects !== undefined) return heldObjects;
    const answer = waitForBundle(message.bundleDigest);
    await send({ body: { case: "bundleRequest", value: { digests: [message.bundleDigest] } } });
    const bundle = await answer;
    if (bundle.error)
      return { rejected: `app ${message.name}: bundle ${message.bundleDigest}: ${bundle.error}` };
    return decode(bundle.data, bundle.encoding);
  }

  async function receiveUpsert({ seq, app: message }: DesiredAppUpsert): Promise<void> {
    const ack = (accepted: boolean, error = "") =>
      send({
        body: {
          case: "ack",
          value: { seq, app: message?.name ?? "", digest: message?.digest ?? "", accepted, error },
        },
      });
    if (message === undefined) return ack(false, "upsert without an app");
    const refused = refuseChange(message.name, seq);
    if (refused !== undefined) {
      log("warn", "desired app rejected", { app: message.name, seq: String(seq), error: refused });
      return ack(false, refused);
    }
    const heldSeq = session.seqs.get(message.name);
    if (heldSeq !== undefined && seq <= heldSeq) return ack(true); // a resend: already applied
    const objects = await objectsOf(message);
    if (!Array.isArray(objects)) {
      log("warn", "desired app rejected", { app: message.name, seq: String(seq), error: objects.rejected });
      return ack(false, objects.rejected);
    }
    await sink.upsert(toDesiredApp(message, objects), { seq, bundleDigest: message.bundleDigest });
    session.seqs.set(message.name, seq);
    heldNames.add(message.name);
    if (seq > lastAppliedSeq) lastAppliedSeq = seq;
    await ack(true);
    observer?.appliedSeq?.(lastAppliedSeq);
  }

  async function receiveRemoval({ seq, app, prune }: DesiredAppRemoval): Promise<void> {
    const refused = refuseChange(app, seq);
    if (refused !== undefined) {
      log("warn", "removal rejected", { app, seq: String(seq), error: refused });
      await send({ body: { case: "ack", value: { seq, app, digest: "", accepted: false, error: refused } } });
      return;
    }
    const heldSeq = session.seqs.get(app);
    if (heldSeq === undefined || seq > heldSeq) {
      await sink.remove(app, { seq, prune });
      session.seqs.set(app, seq);
      heldNames.delete(app);
      if (seq > lastAppliedSeq) lastAppliedSeq = seq;
    }
    await send({ body: { case: "ack", value: { seq, app, digest: "", accepted: true } } });
    observer?.appliedSeq?.(lastAppliedSeq);
  }

  // Not awaited by the queue: a sync may take minutes and must not hold back deliveries.
  async function runSync(command: SyncCommand): Promise<void> {
    const request: SyncRequest = {
      requestId: command.requestId,
      app: command.app,
      prune: command.prune,
      force: command.force,
      dryRun: command.dryRun,
      resources: command.resources.map((r) => ({ ...r })),
      requestedBy: command.requestedBy,
    };
    try {
      const status = await sink.sync(request);
      if (status === undefined) {
        log("warn", "sync of an app this agent does not hold", { app: command.app });
        return;
      }
      if (status.operation !== undefined) {
        session.operationRequests.set(command.app, {
          startedAt: status.operation.startedAt,
          requestId: command.requestId,
        });
      }
      session.reporter.add({ app: command.app, status });
    } catch (error) {
      const latest = sink.statuses().find((s) => s.name === command.app);
      log("warn", "sync failed", { app: command.app, error: messageOf(error) });
      if (latest === undefined) return;
      const now = new Date().toISOString();
      session.operationRequests.set(command.app, { startedAt: now, requestId: command.requestId });
      session.reporter.add({
        app: command.app,
        status: {
          ...latest,
          operation: {
            phase: "Error",
            message: messageOf(error),
            revision: latest.revision,
            startedAt: now,
            finishedAt: now,
          },
        },
      });
    }
  }

  function startHeartbeat(intervalMs: number) {
    heartbeat = setInterval(() => {
      const statuses = new Map(sink.statuses().map((s) => [s.name, s]));
      void send({
        body: {
          case: "heartbeat",
          value: { sentAt: timestampNow(), counts: countStatuses(heldNames, statuses), lastAppliedSeq },
        },
      });
    }, intervalMs);
  }

  // Queued behind the changes received so far, so it runs once they are persisted.
  function reportCaughtUp(): void {
    const caughtUp = { ...resume };
    enqueue(async () => options.onCaughtUp?.(caughtUp));
  }

  function countBacklog(): void {
    if (backlogLeft === 0) return;
    backlogLeft -= 1;
    if (backlogLeft === 0) reportCaughtUp();
  }

  function receive(message: HubMessage): void {
    const body = message.body;
    if (body.case === "welcome") {
      if (outcome.welcomed) throw new GrpcError("INTERNAL", "hub sent a second Welcome");
      outcome.welcomed = true;
      const welcome = body.value;
      log("info", "connected to hub", {
        hub: hubGrpcAddress(options.identity),
        cluster: welcome.clusterName,
        backlog: welcome.resume?.backlog ?? 0,
      });
      observer?.connected?.(true);
      if (welcome.resume?.seqReset) {
        enqueue(async () => {
          await sink.forgetSeqs();
          session.seqs.clear();
          lastAppliedSeq = 0n;
          observer?.appliedSeq?.(0n);
        });
      } else observer?.appliedSeq?.(lastAppliedSeq);
      resume = { latestSeq: welcome.resume?.latestSeq ?? 0n, backlog: welcome.resume?.backlog ?? 0 };
      announce(resume.latestSeq);
      backlogLeft = resume.backlog;
      if (backlogLeft === 0) reportCaughtUp();
      // Timers wait at most 2^31 - 1 ms; a longer interval would fire every millisecond.
      startHeartbeat(
        Math.min(welcome.heartbeatIntervalMs || (options.heartbeatIntervalMs ?? 30_000), MAX_TIMER_MS),
      );
      // The hub may have missed reports while the agent was away: send every app's latest.
      for (const status of sink.statuses()) session.reporter.add({ app: status.name, status });
      session.reporter.attach((report) => stream.send(report));
      return;
    }
    if (!outcome.welcomed)
      throw new GrpcError("INTERNAL", `hub sent ${body.case ?? "an empty message"} before Welcome`);
    switch (body.case) {
      case "bundle": {
        const whole = assembleBundle(body.value);
        if (!whole) return; // More slices to come.
        bundleWaiters.get(whole.digest)?.resolve(whole);
        bundleWaiters.delete(whole.digest);
        return;
      }
      case "upsert": {
        const upsert = body.value;
        announce(upsert.seq);
        enqueue(() => receiveUpsert(upsert));
        countBacklog();
        return;
      }
      case "removal": {
        const removal = body.value;
        announce(removal.seq);
        enqueue(() => receiveRemoval(removal));
        countBacklog();
        return;
      }
      case "sync": {
        const command = body.value;
        enqueue(async () => {
          void runSync(command);
        });
        return;
      }
      case "credentialRotation": {
        const credential = body.value.credential;
        if (!CREDENTIAL.test(credential)) {
          // Saved, it would lock the agent out: no request could carry it, or the hub would not know it.
          log("warn", "credential rotation ignored: the new credential is empty or not printable ASCII", {
            cluster: options.identity.clusterName,
          });
          return;
        }
        enqueue(async () => {
          await sink.saveCredential(credential);
          session.credential = credential;
          log("info", "credential rotated", { cluster: options.identity.clusterName });
        });
        return;
      }
      default:
        return; // A message this agent does not know yet: newer hubs may send more.
    }
  }

  try {
    await send({
      body: {
        case: "hello",
        value: {
          clusterName: options.identity.clusterName,
          agentVersion: options.agentVersion ?? "",
          kubeVersion: options.kubeVersion ?? "",
          held: held.apps,
          lastAppliedSeq: held.lastAppliedSeq,
          instanceId: options.instanceId ?? "",
        },
      },
    });
    for await (const message of stream as AsyncIterable<HubMessage>) receive(message);
  } catch (error) {
    if (failure === undefined) throw error;
  } finally {
    signal.removeEventListener("abort", stopOnAbort);
    clearTimeout(closeTimer);
    if (heartbeat !== undefined) clearInterval(heartbeat);
    session.reporter.detach();
    controller.abort();
    const ended = new Error("the stream ended");
    for (const waiter of bundleWaiters.values()) waiter.reject(ended);
    bundleWaiters.clear();
    // Let the change being persisted finish, so the next Hello lists it.
    await work;
    if (outcome.welcomed) observer?.connected?.(false);
  }
  if (failure !== undefined) throw failure.error;
}

type StatusReporter = {
  add(report: StatusReport): void;
  attach(send: (message: AgentMessage) => Promise<void>): void;
  detach(): void;
  /** Sends what is pending now, without the debounce; resolves when done or after `timeoutMs`. */
  drain(timeoutMs: number): Promise<void>;
};

/**
 * Latest-wins status reports: one pending report per app, sent `debounceMs` after the first of
 * a burst, only while a stream is attached. Reports survive a reconnect.
 */
function createStatusReporter(
  debounceMs: number,
  observer: HubConnectionObserver | undefined,
  toMessage: (report: StatusReport) => AgentMessage,
): StatusReporter {
  const pending = new Map<string, StatusReport>();
  let sender: ((message: AgentMessage) => Promise<void>) | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;

  function schedule() {
    if (timer !== undefined || sender === undefined || pending.size === 0) return;
    timer = setTimeout(() => {
      timer = undefined;
      void flush();
    }, debounceMs);
  }

  async function flush() {
    const send = sender;
    if (send === undefined) return;
    for (const [app, report] of [...pending]) {
      if (pending.get(app) !== report) continue;
      pending.delete(app);
      try {
        await send(toMessage(report));
        observer?.statusReported?.();
      } catch {
        // The stream ended: keep the report for the next stream unless a newer one came.
        if (!pending.has(app)) pending.set(app, report);
        return;
      }
    }
  }

  return {
    add(report) {
      pending.set(report.app, report);
      schedule();
    },
    attach(send) {
      sender = send;
      schedule();
    },
    detach() {
      sender = undefined;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
    async drain(timeoutMs) {
      if (sender === undefined || pending.size === 0) return;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      let deadline: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        flush(),
        new Promise<void>((resolve) => {
          deadline = setTimeout(resolve, timeoutMs);
        }),
      ]);
      clearTimeout(deadline);
    },
  };
}

/** The longest delay setTimeout and setInterval keep; a longer one fires at once. */
const MAX_TIMER_MS = 2_147_483_647;

/** A credential as an authorization header carries it: printable ASCII, no spaces (the hub's are `flc_<id>.<secret>`). */
const CREDENTIAL = /^[\x21-\x7e]+$/;

/**
 * Why the agent refuses a change of `app` with `seq`, or undefined. The state store keeps apps
 * in objects keyed by name, where "__proto__" would replace the prototype, and seqs as JSON
 * numbers, exact only up to 2^53 - 1 (a hub would need that many changes to one cluster).
 */
function refuseChange(app: string, seq: bigint): string | undefined {
  if (app === "" || app === "__proto__")
    return `app name ${JSON.stringify(app)} cannot be held by this agent`;
  if (seq > BigInt(Number.MAX_SAFE_INTEGER)) return `seq ${seq} is beyond what this agent stores (2^53 - 1)`;
  return undefined;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
