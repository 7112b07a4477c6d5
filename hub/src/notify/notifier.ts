/**
 * Notifications from the event history (docs/notifications.md). Only the replica holding the
 * resolver lease runs it, so N replicas send once. It tails store.events; each event that raises
 * a condition (classify-event.ts) and passes a target's filters and de-duplication becomes a POST
 * to that target, queued per target so a slow one holds up no other. Every outcome is appended
 * to the history as `notification-sent` or `notification-failed`, which is also how a new leader
 * knows where to resume and what was sent: there is no other state.
 */

import { type Labels, matchesSelector } from "../fleet/label-selector.js";
import { matchGlob } from "../render/match-glob.js";
import type { Logger } from "../server/hub-runtime.js";
import type { HubEvent, Store } from "../store/store.js";
import { classifyEvent } from "./classify-event.js";
import { formatNotification, type Notice, summarizeNotice } from "./format-notification.js";
import type { NotificationConfig, NotificationTarget, Trigger } from "./notification-config.js";
import { postWebhook } from "./post-webhook.js";
import { createEventTail, type EventTail } from "./tail-events.js";

export const NOTIFICATION_SENT = "notification-sent";
export const NOTIFICATION_FAILED = "notification-failed";

/**
 * A condition that recovered and comes back within this long (by the events' times) is flapping:
 * it does not notify again until `repeatAfter`.
 */
export const FLAP_WINDOW_MS = 30_000;
/** Events older than this when read (after a failover or restart) notify nobody. */
export const CATCH_UP_MS = 15 * 60_000;
/** Deliveries waiting per target; more are recorded as failed at once. */
const MAX_QUEUED = 1_000;
/** notification-* events read back per type when a replica takes over. */
const MAX_HISTORY = 10_000;

export type NotifierDeps = {
  store: Store;
  config: NotificationConfig;
  log: Logger;
  /** Whether this replica holds the resolver lease; the notifier works only while it does. */
  isLeader: () => boolean;
  /** The hub's public URL for links and the JSON `hub` field; default "". */
  publicUrl?: string;
  /** Sent as `User-Agent: flotilla-hub/<version>`; default "0.0.0". */
  hubVersion?: string;
  fetch?: typeof fetch;
  now?: () => Date;
  /** Backoff before attempt n + 1; default 1 s doubling to 60 s (tests shorten it). */
  retryDelayMs?: (attempt: number) => number;
};

export type Notifier = {
  /** Stops polling and aborts deliveries in flight (they are not recorded, so a successor retries them). */
  stop(): Promise<void>;
  /** One poll: read new events and queue their notifications, send due reminders. No-op unless leader. */
  tick(): Promise<void>;
};

/** What was last sent for (target, trigger, cluster, app). */
type Dedup = {
  target: NotificationTarget;
  trigger: Trigger;
  clusterId: string;
  app: string | null;
  /** The event that raised the condition. */
  sourceEventId: number;
  /** The condition holds as far as the events tell. */
  active: boolean;
  /** The notifier's clock when the last notification for it was queued. */
  lastSentMs: number;
  /** Event time of the recovery, while not active. */
  clearedAtMs?: number;
};

type Job = { target: NotificationTarget; notice: Notice; clusterId: string; key: string; stamp: number };

type TargetQueue = { jobs: Job[]; running: Promise<void> | undefined };

/** State of one term as leader; dropped when the lease is lost. */
type Session = {
  tail: EventTail;
  /** Per target: events up to this id were handled by an earlier leader (or are too old). */
  handledUpTo: Map<string, number>;
  dedup: Map<string, Dedup>;
  queues: Map<string, TargetQueue>;
  abort: AbortController;
};

export function startNotifier(deps: NotifierDeps): Notifier {
  const { store, config, log } = deps;
  const now = deps.now ?? (() => new Date());
  const fetchFn = deps.fetch ?? fetch;
  const hubUrl = (deps.publicUrl ?? "").replace(/\/$/, "");
  const userAgent = `flotilla-hub/${deps.hubVersion ?? "0.0.0"}`;
  const targets = config.targets;
  let session: Session | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const keyOf = (target: string, trigger: Trigger, clusterId: string, app: string | null) =>
    `${target}\u0000${trigger}\u0000${clusterId}\u0000${app ?? ""}`;

  function matches(target: NotificationTarget, labels: Labels, app: string | null): boolean {
    if (target.selector && !matchesSelector(target.selector, labels)) return false;
    if (app !== null && target.apps.length > 0 && !target.apps.some((pattern) => matchGlob(pattern, app)))
      return false;
    return true;
  }

  /** Reads what earlier leaders sent, to resume after it and not send it again. */
  async function beginSession(): Promise<Session> {
    const nowMs = now().getTime();
    const longestRepeatMs = Math.max(0, ...targets.map((target) => target.repeatAfterMs));
    const since = new Date(nowMs - Math.max(CATCH_UP_MS, 2 * longestRepeatMs));
    const history = [
      ...(await readHistory(NOTIFICATION_SENT, since)),
      ...(await readHistory(NOTIFICATION_FAILED, since)),
    ].sort((a, b) => b.id - a.id);
    const byName = new Map(targets.map((target) => [target.name, target]));
    const lastHandled = new Map<string, number>();
    let newestHandled: number | undefined;
    const dedup = new Map<string, Dedup>();
    const decided = new Set<string>();
    for (const event of history) {
      const data = event.data;
      const source = Number(data.sourceEventId);
      const name = String(data.target);
      if (!Number.isSafeInteger(source)) continue;
      newestHandled = Math.max(newestHandled ?? 0, source);
      lastHandled.set(name, Math.max(lastHandled.get(name) ?? 0, source));
      const target = byName.get(name);
      const trigger = data.trigger as Trigger;
      if (!target || event.clusterId === null || !target.triggers.includes(trigger)) continue;
      const key = keyOf(name, trigger, event.clusterId, event.app);
      // The newest record of a condition decides: a failed delivery leaves it un-notified.
      if (decided.has(key)) continue;
      decided.add(key);
      if (event.type !== NOTIFICATION_SENT) continue;
      dedup.set(key, {
        target,
        trigger,
        clusterId: event.clusterId,
        app: event.app,
        sourceEventId: source,
        active: true,
        lastSentMs: event.at.getTime(),
      });
    }
    // A condition that recovered while no one was leader must notify when it comes back.
    for (const entry of dedup.values()) entry.active = await isStillPresent(entry);

    const newest = (await store.events.list({ limit: 1 })).events[0]?.id ?? 0;
    const handledUpTo = new Map<string, number>();
    for (const target of targets)
      handledUpTo.set(target.name, lastHandled.get(target.name) ?? newestHandled ?? newest);
    let start = Math.min(newest, ...handledUpTo.values());
    const firstRecent = (
      await store.events.list({ after: start, since: new Date(nowMs - CATCH_UP_MS), limit: 1 })
    ).events[0];
    start = firstRecent ? Math.max(start, firstRecent.id - 1) : newest;
    log("info", "notifier active on this replica", {
      targets: targets.map((target) => target.name),
      resumeAfterEvent: start,
      conditionsKnown: dedup.size,
    });
    return {
      tail: createEventTail({ events: store.events, after: start, nowMs: () => now().getTime() }),
      handledUpTo,
      dedup,
      queues: new Map(),
      abort: new AbortController(),
    };
  }

  async function readHistory(type: string, since: Date): Promise<HubEvent[]> {
    const found: HubEvent[] = [];
    let before: number | undefined;
    do {
      const page = await store.events.list({
        type,
        since,
        limit: 1_000,
        ...(before === undefined ? {} : { before }),
      });
      found.push(...page.events);
      before = page.next;
    } while (before !== undefined && found.length < MAX_HISTORY);
    return found;
  }

  async function isStillPresent(entry: Pick<Dedup, "trigger" | "clusterId" | "app">): Promise<boolean> {
    if (entry.trigger === "cluster-disconnected")
      return (await store.clusters.get(entry.clusterId))?.state === "Disconnected";
    if (entry.app === null) return false;
    const status = await store.statuses.get(entry.clusterId, entry.app);
    if (!status) return false;
    if (entry.trigger === "app-degraded") return status.health === "Degraded";
    const phase = status.operation?.phase;
    return phase === "OPERATION_PHASE_FAILED" || phase === "OPERATION_PHASE_ERROR";
  }

  /** The notice for an event that raised a condition, with what the store knows of the app now. */
  async function noticeFor(
    event: HubEvent,
    trigger: Trigger,
    cluster: { name: string; labels: Labels },
  ): Promise<Notice> {
    const data = event.data;
    const text = (value: unknown) => (typeof value === "string" && value !== "" ? value : null);
    const status =
      event.clusterId && event.app ? await store.statuses.get(event.clusterId, event.app) : undefined;
    let message = event.message;
    if (trigger === "app-degraded") message = stripPrefix(message, `${data.from} -> ${data.to}`);
    if (trigger === "sync-failed") message = stripPrefix(message, `sync ${data.phase}`);
    const forApp = trigger !== "cluster-disconnected";
    return {
      trigger,
      cluster: cluster.name,
      clusterLabels: cluster.labels,
      app: forApp ? event.app : null,
      health: forApp ? (trigger === "app-degraded" ? "Degraded" : (status?.health ?? null)) : null,
      sync: forApp ? (status?.sync ?? null) : null,
      message,
      revision: forApp ? (text(data.revision) ?? text(status?.revision)) : null,
      at: event.at.toISOString(),
      eventId: event.id,
      reminder: false,
    };
  }

  /** The notice for a condition still present after `repeatAfter`, from the current state. */
  async function reminderFor(entry: Dedup): Promise<Notice | undefined> {
    const cluster = await store.clusters.get(entry.clusterId);
    if (!cluster) return undefined;
    const base = {
      trigger: entry.trigger,
      cluster: cluster.name,
      clusterLabels: cluster.labels,
      at: now().toISOString(),
      eventId: entry.sourceEventId,
      reminder: true,
    };
    if (entry.trigger === "cluster-disconnected")
      return {
        ...base,
        app: null,
        health: null,
        sync: null,
        revision: null,
        message: `last seen ${cluster.lastSeenAt?.toISOString() ?? "never"}`,
      };
    const status = entry.app === null ? undefined : await store.statuses.get(entry.clusterId, entry.app);
    if (!status) return undefined;
    const operationMessage = status.operation?.message;
    return {
      ...base,
      app: entry.app,
      health: status.health,
      sync: status.sync,
      revision: status.revision || null,
      message:
        entry.trigger === "sync-failed" && typeof operationMessage === "string"
          ? operationMessage
          : status.healthMessage,
    };
  }

  async function handleEvent(current: Session, event: HubEvent): Promise<void> {
    if (event.type === "cluster-removed" && event.clusterId !== null) {
      for (const [key, entry] of current.dedup)
        if (entry.clusterId === event.clusterId) current.dedup.delete(key);
      return;
    }
    const signal = classifyEvent(event);
    if (!signal || event.clusterId === null) return;
    const eventAtMs = event.at.getTime();
    const nowMs = now().getTime();
    let cluster: { name: string; labels: Labels } | undefined | null = null;
    for (const target of targets) {
      if (event.id <= (current.handledUpTo.get(target.name) ?? 0)) continue;
      if (!target.triggers.includes(signal.trigger)) continue;
      const app = signal.trigger === "cluster-disconnected" ? null : event.app;
      const key = keyOf(target.name, signal.trigger, event.clusterId, app);
      const entry = current.dedup.get(key);
      if (signal.change === "cleared") {
        if (entry?.active) {
          entry.active = false;
          entry.clearedAtMs = eventAtMs;
        }
        continue;
      }
      if (nowMs - eventAtMs > CATCH_UP_MS) continue;
      if (cluster === null) cluster = await store.clusters.get(event.clusterId);
      if (!cluster || !matches(target, cluster.labels, app)) continue;
      const repeatDue =
        entry !== undefined && target.repeatAfterMs > 0 && nowMs - entry.lastSentMs >= target.repeatAfterMs;
      if (entry && !repeatDue) {
        const flapping =
          !entry.active && entry.clearedAtMs !== undefined && eventAtMs - entry.clearedAtMs < FLAP_WINDOW_MS;
        if (entry.active || flapping) {
          entry.active = true;
          continue;
        }
      }
      const notice = await noticeFor(event, signal.trigger, cluster);
      const next: Dedup = {
        target,
        trigger: signal.trigger,
        clusterId: event.clusterId,
        app,
        sourceEventId: event.id,
        active: true,
        lastSentMs: nowMs,
      };
      current.dedup.set(key, next);
      enqueue(current, { target, notice, clusterId: event.clusterId, key, stamp: nowMs });
    }
  }

  async function sendReminders(current: Session): Promise<void> {
    const nowMs = now().getTime();
    for (const [key, entry] of current.dedup) {
      const { target } = entry;
      if (!entry.active || target.repeatAfterMs <= 0 || nowMs - entry.lastSentMs < target.repeatAfterMs)
        continue;
      const notice = (await isStillPresent(entry)) ? await reminderFor(entry) : undefined;
      if (!notice || !matches(target, notice.clusterLabels, notice.app)) {
        entry.active = false;
        delete entry.clearedAtMs;
        continue;
      }
      entry.lastSentMs = nowMs;
      enqueue(current, { target, notice, clusterId: entry.clusterId, key, stamp: nowMs });
    }
  }

  function enqueue(current: Session, job: Job): void {
    let queue = current.queues.get(job.target.name);
    if (!queue) {
      queue = { jobs: [], running: undefined };
      current.queues.set(job.target.name, queue);
    }
    if (queue.jobs.length >= MAX_QUEUED) {
      current.dedup.delete(job.key);
      record(job, {
        delivered: false,
        attempts: 0,
        status: 0,
        reason: "too many notifications queued",
      }).catch((error: unknown) =>
        log("error", "notification not recorded", { target: job.target.name, error }),
      );
      return;
    }
    queue.jobs.push(job);
    if (!queue.running) {
      const work = queue;
      work.running = drain(current, work).finally(() => {
        work.running = undefined;
      });
    }
  }

  async function drain(current: Session, queue: TargetQueue): Promise<void> {
    for (let job = queue.jobs.shift(); job; job = queue.jobs.shift()) {
      if (current.abort.signal.aborted) return;
      try {
        const outcome = await postWebhook(
          {
            url: job.target.url,
            headers: job.target.headers,
            body: JSON.stringify(formatNotification(job.target.format, job.notice, hubUrl)),
          },
          {
            fetch: fetchFn,
            userAgent,
            timeoutMs: config.timeoutMs,
            maxAttempts: config.maxAttempts,
            signal: current.abort.signal,
            ...(deps.retryDelayMs ? { retryDelayMs: deps.retryDelayMs } : {}),
          },
        );
        if (!outcome.delivered && current.dedup.get(job.key)?.lastSentMs === job.stamp)
          current.dedup.delete(job.key);
        await record(job, outcome);
      } catch (error) {
        if (current.abort.signal.aborted) return;
        log("error", "notification not recorded", { target: job.target.name, error });
      }
    }
  }

  async function record(
    job: Job,
    outcome: { delivered: boolean; attempts: number; status: number; reason: string },
  ): Promise<void> {
    const { target, notice } = job;
    const summary = summarizeNotice(notice);
    const attempts = `${outcome.attempts} attempt${outcome.attempts === 1 ? "" : "s"}`;
    await store.events.append({
      clusterId: job.clusterId,
      app: notice.app,
      type: outcome.delivered ? NOTIFICATION_SENT : NOTIFICATION_FAILED,
      message: outcome.delivered
        ? `notified ${target.name}: ${summary}`
        : `notification to ${target.name} failed after ${attempts}: ${outcome.reason} (${summary})`,
      data: {
        target: target.name,
        trigger: notice.trigger,
        sourceEventId: notice.eventId,
        attempts: outcome.attempts,
        status: outcome.status,
        ...(outcome.delivered ? {} : { reason: outcome.reason }),
        ...(notice.reminder ? { reminder: true } : {}),
      },
    });
    const fields = {
      target: target.name,
      trigger: notice.trigger,
      cluster: notice.cluster,
      ...(notice.app === null ? {} : { app: notice.app }),
      attempts: outcome.attempts,
    };
    if (outcome.delivered) log("info", "notification sent", fields);
    else log("warn", "notification failed", { ...fields, reason: outcome.reason });
  }

  function endSession(): void {
    if (!session) return;
    session.abort.abort(new Error("the notifier stepped down"));
    session = undefined;
  }

  async function cycle(): Promise<void> {
    if (stopped || targets.length === 0) return;
    if (!deps.isLeader()) {
      if (session) log("info", "notifier paused: this replica no longer holds the resolver lease");
      endSession();
      return;
    }
    session ??= await beginSession();
    const current = session;
    for (const event of await current.tail.read()) await handleEvent(current, event);
    await sendReminders(current);
  }

  function tick(): Promise<void> {
    // A failed cycle fails its caller, not the cycles after it.
    running = running.catch(() => {}).then(cycle);
    return running;
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      tick()
        .catch((error: unknown) => log("error", "notifier cycle failed", { error }))
        .finally(schedule);
    }, config.pollIntervalMs);
  }

  if (targets.length > 0) schedule();

  return {
    tick,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      const current = session;
      endSession();
      await running.catch(() => {});
      if (current) await Promise.all([...current.queues.values()].map((queue) => queue.running));
    },
  };
}

/** `text` without `prefix` and the ": " after it; "" when it is only the prefix. */
function stripPrefix(text: string, prefix: string): string {
  if (text === prefix) return "";
  return text.startsWith(`${prefix}: `) ? text.slice(prefix.length + 2) : text;
}
