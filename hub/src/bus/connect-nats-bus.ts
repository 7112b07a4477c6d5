/**
 * The scaled-out bus: several hub replicas share one NATS server (or cluster) with JetStream.
 *
 * Events: one stream (default `FLOTILLA`, subjects `<prefix>.>`, file storage, limits
 * retention, max age 24 h) holds every event on `<prefix>.<kind>.<clusterId>` (see
 * eventSubject). Each subscription is its own ordered consumer: ephemeral, in memory on the
 * server, no acks, starting right after the stream's last message when it subscribed (what
 * DeliverPolicy.New means, pinned to a sequence so that a consumer recreated before its first
 * message resumes there instead of replaying the whole stream). The client recreates the
 * consumer from the last sequence it delivered after a gap, a lost consumer or a server
 * restart; should it give up, this file starts a new one from the same place. So every
 * replica sees every event published after it subscribed, once and in stream order, as long
 * as the stream still holds it (max age).
 *
 * Leases: a KV bucket (`flotilla-leases`, history 1) with one key per lease holding
 * `{holder, ttlMs}`. Every write is a compare-and-swap on the key's revision: `create` when
 * absent, `update(revision)` to renew when the holder matches, `update(revision)` again to take
 * over an entry that has lapsed. Lapsed is judged like Kubernetes leader election: by the
 * contender's own monotonic clock, ttlMs after it first saw that revision, so replicas' wall
 * clocks need not agree. A contender that arrives late waits up to one TTL more.
 *
 * Why the modular @nats-io/* clients (transport-node, jetstream, kv) rather than the legacy
 * `nats` package: they are where nats.js is maintained (the ordered consumer that recreates
 * itself, KV compare-and-swap, newer server features) while `nats` v2 only gets fixes; they
 * are split per concern, so the hub loads the Node transport and the JetStream and KV APIs
 * and nothing else (tree-shakable, no transports for other runtimes); and they keep the same
 * API family (connect, jetstream(), consumers, Kvm), so nats.js documentation applies.
 */
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { type KV, type KvEntry, Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Bus, BusEvent, BusHandler, BusStats, BusSubscription, SubscribeOptions } from "./bus.js";
import { checkLeaseArgs } from "./bus.js";
import { deliverEvent, describeEvent } from "./deliver-event.js";
import { checkSubjectPrefix, eventSubject } from "./event-subject.js";
import { parseBusEvent } from "./parse-bus-event.js";

export type NatsBusOptions = {
  /** `nats://host:4222`, or several comma-separated (as in `NATS_URL`). */
  url: string;
  /** This replica's name; names its NATS connection. */
  replica: string;
  /** Default `FLOTILLA`. */
  stream?: string;
  /** Default `flotilla`. */
  subjectPrefix?: string;
  /** How long the stream keeps an event; default 24 h. */
  maxAgeMs?: number;
  /** Default `flotilla-leases`. */
  leaseBucket?: string;
  /** Wait between reconnect attempts, which never stop; default 500 ms. */
  reconnectWaitMs?: number;
  /** The clock lease expiry is observed by, in ms; default `performance.now` (monotonic). */
  nowMs?: () => number;
};

const DAY_MS = 24 * 60 * 60 * 1000;
const DUPLICATE_WINDOW_MS = 2 * 60 * 1000;
/** Not in JetStreamApiCodes: "stream name already in use with a different configuration". */
const STREAM_NAME_IN_USE = 10058;
/**
 * How long a JetStream request (a publish's ack, a consumer or KV operation) waits for its
 * answer. A request sent right after reconnecting to a restarted server, still recovering its
 * streams, can go unanswered; a short timeout bounds that stall (the client default is 5 s).
 */
const API_TIMEOUT_MS = 2_000;
/** A publish is retried (same message id) on a timeout or while JetStream has no responder. */
const PUBLISH_RETRIES = 5;
const CONSUMER_BATCH = 256;
const RESUBSCRIBE_BACKOFF_MS = [250, 500, 1000, 2000, 5000] as const;

const nanos = (ms: number) => Math.round(ms * 1_000_000);

type LeaseValue = { holder: string; ttlMs: number };

type NatsSubscription = {
  stop(): void;
  /** Settles when the subscription's loop has ended. */
  running: Promise<void>;
};

/**
 * Connects to NATS, creates or updates the stream and opens the lease bucket (both
 * idempotent, so replicas may start together), and returns the bus. Rejects when the first
 * connection or the setup fails; after that, reconnects never give up.
 */
export async function connectNatsBus(options: NatsBusOptions): Promise<Bus> {
  const stream = options.stream ?? "FLOTILLA";
  const prefix = options.subjectPrefix ?? "flotilla";
  const maxAgeMs = options.maxAgeMs ?? DAY_MS;
  const nowMs = options.nowMs ?? (() => performance.now());
  checkSubjectPrefix(prefix);

  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: options.url
        .split(",")
        .map((server) => server.trim())
        .filter(Boolean),
      name: `flotilla-hub/${options.replica}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: options.reconnectWaitMs ?? 500,
    });
  } catch (cause) {
    // The URL is left out: it may carry credentials.
    throw new Error(`bus: connect replica ${options.replica} to NATS`, { cause });
  }
  const js = jetstream(nc, { timeout: API_TIMEOUT_MS });
  let kv: KV;
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc, { timeout: API_TIMEOUT_MS });
    await ensureStream(jsm, stream, prefix, maxAgeMs);
    kv = await new Kvm(js).create(options.leaseBucket ?? "flotilla-leases", { history: 1 });
  } catch (cause) {
    await nc.close();
    throw new Error(`bus: set up stream ${stream} and the lease bucket`, { cause });
  }
  const stats: BusStats = { published: 0, delivered: 0, dropped: 0, handlerErrors: 0 };
  const subscriptions = new Set<NatsSubscription>();
  /** Per lease: the revision this replica last saw and when it first saw it. */
  const observed = new Map<string, { revision: number; sinceMs: number }>();
  let closed = false;

  function hasLapsed(name: string, entry: KvEntry, ttlMs: number): boolean {
    const seen = observed.get(name);
    if (seen?.revision !== entry.revision) {
      observed.set(name, { revision: entry.revision, sinceMs: nowMs() });
      return false;
    }
    return nowMs() - seen.sinceMs >= ttlMs;
  }

  function subscribe(handler: BusHandler, subscribeOptions: SubscribeOptions = {}): BusSubscription {
    const { onError } = subscribeOptions;
    let active = !closed;
    let stopConsumer: (() => void) | undefined;
    let wake: (() => void) | undefined;
    let markReady!: () => void;
    const ready = new Promise<void>((resolve) => {
      markReady = resolve;
    });

    async function consume(): Promise<void> {
      let nextSeq: number | undefined;
      for (let attempt = 0; active; attempt++) {
        try {
          nextSeq ??= (await jsm.streams.info(stream)).state.last_seq + 1;
          markReady();
          const consumer = await js.consumers.get(stream, {
            opt_start_seq: nextSeq,
            filter_subjects: `${prefix}.>`,
          });
          const messages = await consumer.consume({ max_messages: CONSUMER_BATCH });
          stopConsumer = () => {
            messages.stop();
            consumer.delete().catch(() => {
              // Best effort: the server drops an idle ephemeral consumer by itself.
            });
          };
          if (!active) stopConsumer();
          for await (const message of messages) {
            nextSeq = message.seq + 1;
            attempt = 0;
            const event = decodeMessage(message);
            if (!event) {
              stats.dropped++;
              onError?.(
                new Error(`bus: dropped a malformed message on ${message.subject} (#${message.seq})`),
              );
              continue;
            }
            if (!active) break;
            await deliverEvent(handler, event, stats, onError);
          }
        } catch (cause) {
          if (!active) break;
          onError?.(new Error(`bus: consumer on stream ${stream} failed; starting another`, { cause }));
        }
        if (!active) break;
        // The client library gave up (or the first setup failed): start over from nextSeq.
        const waitMs = RESUBSCRIBE_BACKOFF_MS[Math.min(attempt, RESUBSCRIBE_BACKOFF_MS.length - 1)];
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, waitMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      markReady();
    }

    const subscription: NatsSubscription = {
      stop() {
        active = false;
        stopConsumer?.();
        wake?.();
        markReady();
        subscriptions.delete(subscription);
      },
      running: consume(),
    };
    if (active) subscriptions.add(subscription);
    return { ready, unsubscribe: () => subscription.stop() };
  }

  return {
    async publish(event: BusEvent) {
      if (closed) throw new Error(`bus: publish ${event.type}: the bus is closed`);
      // Checked here so that an invalid event fails its publisher, not every subscriber.
      const valid = parseBusEvent(event);
      if (!valid) throw new Error(`bus: publish: not a valid event of type ${JSON.stringify(event.type)}`);
      const subject = eventSubject(prefix, valid);
      try {
        // The message id lets JetStream drop the copy a retried publish may store twice.
        await js.publish(subject, JSON.stringify(valid), {
          msgID: crypto.randomUUID(),
          retries: PUBLISH_RETRIES,
        });
      } catch (cause) {
        throw new Error(`bus: publish ${describeEvent(valid)} on ${subject}`, { cause });
      }
      stats.published++;
    },

    subscribe,

    async tryLease(name, holder, ttlMs) {
      checkLeaseArgs(name, holder, ttlMs);
      const value = JSON.stringify({ holder, ttlMs } satisfies LeaseValue);
      try {
        const entry = await kv.get(name);
        if (entry?.operation !== "PUT") {
          await kv.create(name, value);
          return true;
        }
        const current = decodeLease(entry);
        // An unreadable entry is held by no one.
        if (!current || current.holder === holder || hasLapsed(name, entry, current.ttlMs)) {
          await kv.update(name, value, entry.revision);
          return true;
        }
        return false;
      } catch (error) {
        if (!isWrongLastSequence(error))
          throw new Error(`bus: lease ${name} for ${holder}`, { cause: error });
        // Lost a race: someone wrote between our read and our write. Ours if it was this holder.
        const entry = await kv.get(name);
        return entry?.operation === "PUT" && decodeLease(entry)?.holder === holder;
      }
    },

    async releaseLease(name, holder) {
      try {
        const entry = await kv.get(name);
        if (entry?.operation !== "PUT" || decodeLease(entry)?.holder !== holder) return;
        await kv.delete(name, { previousSeq: entry.revision });
      } catch (error) {
        // A lost race means someone else took it over: nothing left to release.
        if (!isWrongLastSequence(error))
          throw new Error(`bus: release lease ${name} for ${holder}`, { cause: error });
      }
    },

    stats: () => ({ ...stats }),

    async close() {
      if (closed) return;
      closed = true;
      const running = [...subscriptions].map((subscription) => subscription.running);
      for (const subscription of [...subscriptions]) subscription.stop();
      // Closing also fails requests in flight (a consumer being created while NATS is away).
      await nc.close();
      await Promise.all(running);
    },
  };
}

/** Creates the stream, or brings an existing one to this configuration. */
async function ensureStream(jsm: JetStreamManager, name: string, prefix: string, maxAgeMs: number) {
  const settings = {
    subjects: [`${prefix}.>`],
    max_age: nanos(maxAgeMs),
    duplicate_window: nanos(Math.min(maxAgeMs, DUPLICATE_WINDOW_MS)),
  };
  try {
    await jsm.streams.add({
      name,
      ...settings,
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
    });
  } catch (error) {
    // Identical settings make `add` a no-op; different ones (another max age) are an update.
    if (!(error instanceof JetStreamApiError && error.code === STREAM_NAME_IN_USE)) throw error;
    await jsm.streams.update(name, settings);
  }
}

function decodeMessage(message: JsMsg): BusEvent | undefined {
  try {
    return parseBusEvent(message.json());
  } catch {
    return undefined;
  }
}

function decodeLease(entry: KvEntry): LeaseValue | undefined {
  try {
    const value = entry.json<Partial<LeaseValue>>();
    return typeof value.holder === "string" && typeof value.ttlMs === "number"
      ? { holder: value.holder, ttlMs: value.ttlMs }
      : undefined;
  } catch {
    return undefined;
  }
}

function isWrongLastSequence(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence ||
      error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}
