import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { cp, mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it, type TestContext } from "node:test";
import type { Logger } from "../server/hub-runtime.js";
import { openStore } from "../store/open-store.js";
import type { Cluster, HubEvent, Store } from "../store/store.js";
import { type NotificationConfig, type NotificationTarget, TRIGGERS } from "./notification-config.js";
import { FLAP_WINDOW_MS, type Notifier, type NotifierDeps, startNotifier } from "./notifier.js";

const timeout = 60_000;
const waitMs = 15_000;
const root = await mkdtemp(join(tmpdir(), "flotilla-notifier-"));
after(() => rm(root, { recursive: true, force: true }));

let template: Promise<string> | undefined;
let databases = 0;

const teardowns = new WeakMap<TestContext, (() => unknown)[]>();

/** Runs `step` when the test ends, last registered first, so the store closes after its users. */
function onTeardown(t: TestContext, step: () => unknown): void {
  let steps = teardowns.get(t);
  if (!steps) {
    const registered: (() => unknown)[] = [];
    steps = registered;
    teardowns.set(t, registered);
    t.after(async () => {
      for (const next of registered.reverse()) await next();
    });
  }
  steps.push(step);
}

/** A migrated PGlite store of the test's own, copied from a template (initdb costs seconds). */
async function useStore(t: TestContext): Promise<Store> {
  template ??= (async () => {
    const dataDir = join(root, "template");
    await (await openStore({ kind: "pglite", dataDir })).close();
    return dataDir;
  })();
  const dataDir = join(root, `db-${++databases}`);
  await cp(await template, dataDir, { recursive: true });
  const store = await openStore({ kind: "pglite", dataDir });
  onTeardown(t, () => store.close());
  return store;
}

type Received = { path: string; headers: IncomingHttpHeaders; body: Record<string, unknown> };

/**
 * A webhook receiver on 127.0.0.1: records every POST and answers with `respond` (default 200),
 * which may hold the answer back.
 */
async function useReceiver(t: TestContext, respond: (index: number) => number | Promise<number> = () => 200) {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const index = received.length;
      received.push({
        path: req.url ?? "",
        headers: req.headers,
        body: JSON.parse(Buffer.concat(chunks).toString("utf8")),
      });
      Promise.resolve(respond(index)).then(
        (status) => res.writeHead(status, { "content-type": "text/plain" }).end(`answer ${status}`),
        () => res.destroy(),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  onTeardown(t, async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, received };
}

/** Polls `check` until it returns something other than undefined or false, failing after the deadline. */
async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${waitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function webhook(url: string, fields: Partial<NotificationTarget> = {}): NotificationTarget {
  return {
    name: "hook",
    url,
    format: "json",
    triggers: [...TRIGGERS],
    apps: [],
    headers: {},
    repeatAfterMs: 3_600_000,
    ...fields,
  };
}

function notifications(
  targets: NotificationTarget[],
  fields: Partial<NotificationConfig> = {},
): NotificationConfig {
  // The poll timer never fires within a test: each test calls tick() itself.
  return { targets, maxAttempts: 5, timeoutMs: 5_000, pollIntervalMs: 3_600_000, ...fields };
}

/** What an agent's reports and the watchdog record, written straight to the store. */
function useFleet(store: Store) {
  return {
    async cluster(name: string, labels: Record<string, string> = { env: "prod" }): Promise<Cluster> {
      const created = await store.clusters.create({
        id: randomUUID(),
        name,
        clusterUid: randomUUID(),
        labels,
      });
      assert.ok(created.ok);
      return created.cluster;
    },
    async health(
      cluster: Cluster,
      app: string,
      from: string,
      to: string,
      message = "",
      at?: Date,
    ): Promise<HubEvent> {
      await store.statuses.upsert({
        clusterId: cluster.id,
        app,
        digest: "d1",
        revision: "abc1234",
        sync: "Synced",
        health: to,
        healthMessage: message,
        observedAt: new Date(),
      });
      return store.events.append({
        clusterId: cluster.id,
        app,
        type: "health-changed",
        message: `${from} -> ${to}${message ? `: ${message}` : ""}`,
        data: { revision: "abc1234", digest: "d1", actor: "agent", from, to },
        ...(at ? { at } : {}),
      });
    },
    async syncFailed(cluster: Cluster, app: string, message: string): Promise<HubEvent> {
      await store.statuses.upsert({
        clusterId: cluster.id,
        app,
        digest: "d1",
        revision: "abc1234",
        sync: "OutOfSync",
        health: "Healthy",
        operation: { phase: "OPERATION_PHASE_FAILED", message },
        observedAt: new Date(),
      });
      return store.events.append({
        clusterId: cluster.id,
        app,
        type: "operation-finished",
        message: `sync Failed: ${message}`,
        data: { revision: "def5678", digest: "d1", actor: "agent", phase: "Failed", requestId: "" },
      });
    },
    async disconnect(cluster: Cluster): Promise<HubEvent> {
      await store.clusters.setState(cluster.id, "Disconnected");
      return store.events.append({
        clusterId: cluster.id,
        type: "cluster-disconnected",
        message: `cluster ${cluster.name} silent for three heartbeat intervals; last seen 2024-01-01T00:00:00.000Z`,
        data: { lastSeen: "2024-01-01T00:00:00.000Z" },
      });
    },
  };
}

/** Every log line as text, for searching. */
function useLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { lines, log: (level, message, fields) => lines.push(JSON.stringify({ level, message, fields })) };
}

/** A notifier stopped when the test ends, with its first tick done (it starts after the newest event). */
async function useNotifier(
  t: TestContext,
  deps: Omit<NotifierDeps, "log"> & { log?: Logger },
): Promise<Notifier> {
  const notifier = startNotifier({ log: () => {}, retryDelayMs: () => 10, ...deps });
  onTeardown(t, () => notifier.stop());
  await notifier.tick();
  return notifier;
}

async function recorded(store: Store, type: string): Promise<HubEvent[]> {
  return (await store.events.list({ type, limit: 1_000 })).events.reverse();
}

describe("startNotifier", () => {
  it("posts one JSON notification with cluster, app and status when an app turns Degraded", {
    timeout,
  }, async (t) => {
    const store = await useStore(t);
    const fleet = useFleet(store);
    const receiver = await useReceiver(t);
    const prod = await fleet.cluster("prod-1", { env: "prod", region: "eu" });
    const notifier = await useNotifier(t, {
      store,
      config: notifications([webhook(`${receiver.url}/hooks/flotilla`, { headers: { "X-Team": "ops" } })]),
      isLeader: () => true,
      publicUrl: "https://hub.example:8443/",
      hubVersion: "1.2.3",
    });

    const degraded = await fleet.health(
      prod,
      "web",
      "Healthy",
      "Degraded",
      "Deployment web: 0/3 replicas ready",
    );
    await notifier.tick();
    const [sent] = await waitFor("notification-sent", async () => {
      const events = await recorded(store, "notification-sent");
      return events.length > 0 && events;
    });

    assert.equal(receiver.received.length, 1);
    const [request] = receiver.received;
    assert.equal(request?.path, "/hooks/flotilla");
    assert.equal(request?.headers["content-type"], "application/json");
    assert.equal(request?.headers["user-agent"], "flotilla-hub/1.2.3");
    assert.equal(request?.headers["x-team"], "ops");
    assert.deepEqual(request?.body, {
      trigger: "app-degraded",
      cluster: "prod-1",
      clusterLabels: { env: "prod", region: "eu" },
      app: "web",
      health: "Degraded",
      sync: "Synced",
      message: "Deployment web: 0/3 replicas ready",
      revision: "abc1234",
      at: degraded.at.toISOString(),
      hub: "https://hub.example:8443",
      eventId: degraded.id,
      reminder: false,
    });
    assert.equal(sent?.message, "notified hook: web on prod-1 is Degraded");
    assert.equal(sent?.clusterId, prod.id);
    assert.equal(sent?.app, "web");
    assert.deepEqual(sent?.data, {
      target: "hook",
      trigger: "app-degraded",
      sourceEventId: degraded.id,
      attempts: 1,
      status: 200,
    });
  });

  it("posts a Slack-compatible message with a link to the app on the hub", { timeout }, async (t) => {
    const store = await useStore(t);
    const fleet = useFleet(store);
    const receiver = await useReceiver(t);
    const prod = await fleet.cluster("prod-1");
    const notifier = await useNotifier(t, {
      store,
      config: notifications([webhook(receiver.url, { format: "slack" })]),
      isLeader: () => true,
      publicUrl: "https://hub.example",
    });

    const degraded = await fleet.health(prod, "web", "Progressing", "Degraded", "crash <loop>");
    await notifier.tick();
    const request = await waitFor("slack message", () => receiver.received[0]);
    const line = ":red_circle: *web* on *prod-1* is Degraded: crash &lt;loop&gt;";
    assert.equal(request.body.text, `${line}\n<https://hub.example/#/apps/web|Open in Flotilla>`);
    assert.deepEqual(request.body.blocks, [
      { type: "section", text: { type: "mrkdwn", text: line } },
      {
        type: "context",
        elements: [
          {
            type: "mrkdwn",
            text: `revision \`abc1234\` · event ${degraded.id} · <https://hub.example/#/apps/web|Open in Flotilla>`,
          },
        ],
      },
    ]);
  });

  it("notifies failed syncs and disconnected clusters", { timeout }, async (t) => {
    const store = await useStore(t);
    const fleet = useFleet(store);
    const receiver = await useReceiver(t);
    const prod = await fleet.cluster("prod-1");
    const notifier = await useNotifier(t, {
      store,
      config: notifications([webhook(receiver.url)]),
      isLeader: () => true,
    });

    const failed = await fleet.syncFailed(prod, "api", "Deployment api: field is immutable");
    const lost = await fleet.disconnect(prod);
    await notifier.tick();
    await waitFor("two notifications", () => receiver.received.length === 2);
    const [sync, cluster] = receiver.received.map((request) => request.body);
    assert.deepEqual(
      [sync?.trigger, sync?.app, sync?.sync, sync?.message, sync?.revision, sync?.eventId],
      ["sync-failed", "api", "OutOfSync", "Deployment api: field is immutable", "def5678", failed.id],
    );
    assert.deepEqual(
      [cluster?.trigger, cluster?.cluster, cluster?.app, cluster?.health, cluster?.eventId],
      ["cluster-disconnected", "prod-1", null, null, lost.id],
    );
    assert.match(String(cluster?.message), /silent for three heartbeat intervals/);
    await waitFor("both recorded", async () => (await recorded(store, "notification-sent")).length === 2);
    assert.deepEqual(
      (await recorded(store, "notification-sent")).map((event) => event.message),
      ["notified hook: sync of api on prod-1 failed", "notified hook: cluster prod-1 is disconnected"],
    );
  });

  it("leaves out clusters the selector excludes, apps no pattern matches and triggers not chosen", {
    timeout,
  }, async (t) => {
    const store = await useStore(t);
    const fleet = useFleet(store);
    const receiver = await useReceiver(t);
    const prod = await fleet.cluster("prod-1", { env: "prod" });
    const dev = await fleet.cluster("dev-1", { env: "dev" });
    const notifier = await useNotifier(t, {
      store,
      config: notifications([
        webhook(receiver.url, {
          selector: { requirements: [{ key: "env", operator: "Equals", values: ["prod"] }] },
          apps: ["web*"],
          triggers: ["app-degraded"],
        }),
      ]),
      isLeader: () => true,
    });

    await fleet.health(dev, "web", "Healthy", "Degraded");
    await fleet.health(prod, "api", "Healthy", "Degraded");
    await fleet.syncFailed(prod, "web", "no");
    await fleet.disconnect(prod);
    await fleet.health(prod, "web-2", "Healthy", "Degraded");
    await notifier.tick();
    // The receiver hears of the last event; the queue is in order, so the others were dropped.
    await waitFor("the matching notification", () => receiver.received[0]);
    await waitFor("recorded", async () => (await recorded(store, "notification-sent")).length === 1);
    assert.deepEqual(
      receiver.received.map((request) => [request.body.cluster, request.body.app, request.body.trigger]),
      [["prod-1", "web-2", "app-degraded"]],
    );
  });

  it("sends once while an app flaps: Degraded, Progressing, Degraded, and Healthy then Degraded within seconds", {
    timeout,
  }, async (t) => {
    const store = await useStore(t);
    const fleet = useFleet(store);
    const receiver = await useReceiver(t);
    const prod = await fleet.cluster("prod-1");
    const notifier = await useNotifier(t, {
      store,
      config: notifications([webhook(receiver.url)]),
      isLeader: () => true,
    });

    const start = Date.now();
    const at = (seconds: number) => new Date(start + seconds * 1_000);
    await fleet.health(prod, "web", "Healthy", "Degraded", "down", at(0));
    await notifier.tick();
    await fleet.health(prod, "web", "Degraded", "Progressing", "", at(1));
    await fleet.health(prod, "web", "Progressing", "Degraded", "down again", at(2));
    await notifier.tick();
    await fleet.health(prod, "web", "Degraded", "Healthy", "", at(3));
    await fleet.health(prod, "web", "Healthy", "Degraded", "and again", at(5));
    await notifier.tick();
    // A sentinel after the flaps: once it is delivered, everything queued before it was too.
    await fleet.health(prod, "sentinel", "Healthy", "Degraded");
    await notifier.tick();
    await waitFor("sentinel recorded", async () => (await recorded(store, "notification-sent")).length === 2);
    assert.deepEqual(
      receiver.received.map((request) => [request.body.app, request.body.message]),
      [
        ["web", "down"],
        ["sentinel", ""],
      ],
    );
  });

  it("sends again when the condition recovered and came back after the flap window", {
    timeout,
  }, async (t) => {
    const store = await useStore(t);
    const fleet = useFleet(store);
    const receiver = await useReceiver(t);
    const prod = await fleet.cluster("prod-1");
    const notifier = await useNotifier(t, {
      store,
      config: notifications([webhook(receiver.url)]),
      isLeader: () => true,
    });

    const start = Date.now();
    await fleet.health(prod, "web", "Healthy", "Degraded", "first", new Date(start));
    await fleet.health(prod, "web", "Degraded", "Healthy", "", new Date(start + 1_000));
    await fleet.health(
      prod,
      "web",
      "Healthy",
      "Degraded",
      "second",
      new Date(start + 1_000 + FLAP_WINDOW_MS),
    );
    await fleet.syncFailed(prod, "web", "one");
    await fleet.syncFailed(prod, "web", "two");
    await notifier.tick();
    await waitFor("three recorded", async () => (await recorded(store, "notification-sent")).length === 3);
    assert.deepEqual(
      receiver.received.map((request) => [request.body.trigger, request.body.message]),
      [
        ["app-degraded", "first"],
        ["app-degraded", "second"],
        ["sync-failed", "one"],
      ],
    );
  });

  it("reminds after repeatAfter while the app stays Degraded, and stops once it recovered", {
    timeout,
  }, async (t) => {
    const store = await useStore(t);
    const fleet = useFleet(store);
    const receiver = await useReceiver(t);
    const prod = await fleet.cluster("prod-1");
    let offsetMs = 0;
    const notifier = await useNotifier(t, {
      store,
      config: notifications([webhook(receiver.url, { repeatAfterMs: 60_000 })]),
      isLeader: () => true,
      now: () => new Date(Date.now() + offsetMs),
    });

    await fleet.health(prod, "web", "Healthy", "Degraded", "down");
    await notifier.tick();
    await waitFor("first", () => receiver.received.length === 1);
    offsetMs = 30_000;
    await fleet.health(prod, "web", "Degraded", "Progressing");
    await fleet.health(prod, "web", "Progressing", "Degraded", "still down");
    await notifier.tick();
    offsetMs = 61_000;
    await notifier.tick();
    const reminder = await waitFor("reminder", () => receiver.received[1]);
    assert.deepEqual(
      [reminder.body.app, reminder.body.reminder, reminder.body.message, reminder.body.health],
      ["web", true, "still down", "Degraded"],
    );
    await waitFor("reminder recorded", async () => (await recorded(store, "notification-sent")).length === 2);
    const [, recordedReminder] = await recorded(store, "notification-sent");
    assert.equal(recordedReminder?.message, "notified hook: web on prod-1 is still Degraded");
    assert.equal(recordedReminder?.data.reminder, true);

    await fleet.health(prod, "web", "Degraded", "Healthy");
    offsetMs = 200_000;
    await notifier.tick();
    await fleet.health(prod, "sentinel", "Healthy", "Degraded");
    await notifier.tick();
    await waitFor("sentinel", async () => (await recorded(store, "notification-sent")).length === 3);
    assert.deepEqual(
      receiver.received.map((request) => [request.body.app, request.body.reminder]),
      [
        ["web", false],
        ["web", true],
        ["sentinel", false],
      ],
    );
  });

  it("retries a 500 and records notification-sent with attempts 2", { timeout }, async (t) => {
    const store = await useStore(t);
    const fleet = useFleet(store);
    const receiver = await useReceiver(t, (index) => (index === 0 ? 500 : 200));
    const prod = await fleet.cluster("prod-1");
    const notifier = await useNotifier(t, {
      store,
      config: notifications([webhook(receiver.url)]),
      isLeader: () => true,
    });

    await fleet.health(prod, "web", "Healthy", "Degraded");
    await notifier.tick();
    const [sent] = await waitFor("sent", async () => {
      const events = await recorded(store, "notification-sent");
      return events.length > 0 && events;
    });
    assert.equal(receiver.received.length, 2);
    assert.deepEqual([sent?.data.attempts, sent?.data.status], [2, 200]);
    assert.deepEqual(await recorded(store, "notification-failed"), []);
  });

  it("fails at once on a 400, and after maxAttempts on a 503, recording notification-failed", {
    timeout,
  }, async (t) => {
    const store = await useStore(t);
    const fleet = useFleet(store);
    const rejecting = await useReceiver(t, () => 400);
    const unavailable = await useReceiver(t, () => 503);
    const prod = await fleet.cluster("prod-1");
    const notifier = await useNotifier(t, {
      store,
      config: notifications(
        [webhook(rejecting.url, { name: "strict" }), webhook(unavailable.url, { name: "down" })],
        { maxAttempts: 3 },
      ),
      isLeader: () => true,
    });

    await fleet.health(prod, "web", "Healthy", "Degraded");
    await notifier.tick();
    const failures = await waitFor("two failures", async () => {
      const events = await recorded(store, "notification-failed");
      return events.length === 2 && events;
    });
    const byTarget = new Map(failures.map((event) => [event.data.target, event]));
    assert.equal(rejecting.received.length, 1);
    assert.equal(unavailable.received.length, 3);
    assert.equal(
      byTarget.get("strict")?.message,
      "notification to strict failed after 1 attempt: HTTP 400 (web on prod-1 is Degraded)",
    );
    assert.deepEqual([byTarget.get("strict")?.data.attempts, byTarget.get("strict")?.data.status], [1, 400]);
    assert.equal(
      byTarget.get("down")?.message,
      "notification to down failed after 3 attempts: HTTP 503 (web on prod-1 is Degraded)",
    );
    assert.deepEqual(await recorded(store, "notification-sent"), []);
  });

  it("a new notifier on the same store neither resends nor replays the history", { timeout }, async (t) => {
    const store = await useStore(t);
    const fleet = useFleet(store);
    const receiver = await useReceiver(t);
    const prod = await fleet.cluster("prod-1");
    // History from before notifications were enabled is not sent.
    await fleet.health(prod, "old", "Healthy", "Degraded");
    const config = notifications([webhook(receiver.url)]);
    const first = await useNotifier(t, { store, config, isLeader: () => true });
    await fleet.health(prod, "web", "Healthy", "Degraded", "down");
    await first.tick();
    await waitFor("first sent", async () => (await recorded(store, "notification-sent")).length === 1);
    await first.stop();

    // Events while no one was notifying are sent by the successor; known conditions are not.
    await fleet.health(prod, "web", "Degraded", "Progressing");
    await fleet.health(prod, "web", "Progressing", "Degraded", "down again");
    await fleet.health(prod, "api", "Healthy", "Degraded", "new");
    const second = await useNotifier(t, { store, config, isLeader: () => true });
    await second.tick();
    await waitFor("api sent", async () => (await recorded(store, "notification-sent")).length === 2);
    await second.stop();
    const third = await useNotifier(t, { store, config, isLeader: () => true });
    await fleet.health(prod, "sentinel", "Healthy", "Degraded");
    await third.tick();
    await waitFor("sentinel sent", async () => (await recorded(store, "notification-sent")).length === 3);
    assert.deepEqual(
      receiver.received.map((request) => [request.body.app, request.body.message]),
      [
        ["web", "down"],
        ["api", "new"],
        ["sentinel", ""],
      ],
    );
  });

  it("sends nothing while another replica holds the lease", { timeout }, async (t) => {
    const store = await useStore(t);
    const fleet = useFleet(store);
    const receiver = await useReceiver(t);
    const prod = await fleet.cluster("prod-1");
    let leader = false;
    const notifier = await useNotifier(t, {
      store,
      config: notifications([webhook(receiver.url)]),
      isLeader: () => leader,
    });

    await fleet.health(prod, "web", "Healthy", "Degraded");
    await notifier.tick();
    leader = true;
    await notifier.tick();
    await fleet.health(prod, "api", "Healthy", "Degraded");
    await notifier.tick();
    await waitFor("sent as leader", async () => (await recorded(store, "notification-sent")).length === 1);
    assert.deepEqual(
      receiver.received.map((request) => request.body.app),
      ["api"],
    );
  });

  it("does not let a slow target hold up another", { timeout }, async (t) => {
    const store = await useStore(t);
    const fleet = useFleet(store);
    let release: () => void = () => {};
    const released = new Promise<number>((resolve) => {
      release = () => resolve(200);
    });
    const slow = await useReceiver(t, () => released);
    const fast = await useReceiver(t);
    const prod = await fleet.cluster("prod-1");
    const notifier = await useNotifier(t, {
      store,
      config: notifications([webhook(slow.url, { name: "slow" }), webhook(fast.url, { name: "fast" })]),
      isLeader: () => true,
    });

    await fleet.health(prod, "web", "Healthy", "Degraded");
    await fleet.health(prod, "api", "Healthy", "Degraded");
    await notifier.tick();
    await waitFor("fast target got both", () => fast.received.length === 2);
    assert.equal(slow.received.length, 1);
    const sentTo = async () => (await recorded(store, "notification-sent")).map((event) => event.data.target);
    await waitFor("fast recorded", async () => (await sentTo()).length === 2);
    assert.deepEqual(await sentTo(), ["fast", "fast"]);
    release();
    await waitFor("slow recorded", async () => (await sentTo()).length === 4);
  });

  it("keeps the URL and header values out of every log line and event", { timeout }, async (t) => {
    const store = await useStore(t);
    const fleet = useFleet(store);
    const receiver = await useReceiver(t, (index) => (index === 0 ? 200 : 500));
    const secretPath = "T0SECRET/B0SECRET/xoxSecretPath";
    const secretHeader = "Bearer sk-planted-secret-value";
    const { log, lines } = useLog();
    const prod = await fleet.cluster("prod-1");
    const notifier = await useNotifier(t, {
      store,
      log,
      config: notifications(
        [
          webhook(`${receiver.url}/services/${secretPath}`, {
            name: "ops-slack",
            format: "slack",
            headers: { Authorization: secretHeader },
          }),
          // Nothing listens on port 9 here: a network error, whose text must not name the URL either.
          webhook(`http://127.0.0.1:9/services/${secretPath}`, { name: "refused" }),
        ],
        { maxAttempts: 2 },
      ),
      isLeader: () => true,
    });

    await fleet.health(prod, "web", "Healthy", "Degraded");
    await fleet.health(prod, "api", "Healthy", "Degraded");
    await notifier.tick();
    await waitFor("all outcomes", async () => {
      const sent = await recorded(store, "notification-sent");
      const failed = await recorded(store, "notification-failed");
      return sent.length + failed.length === 4;
    });
    assert.equal(receiver.received[0]?.path, `/services/${secretPath}`);
    assert.equal(receiver.received[0]?.headers.authorization, secretHeader);
    const failures = await recorded(store, "notification-failed");
    assert.ok(failures.some((event) => /network error/.test(event.message)));
    assert.ok(failures.some((event) => /HTTP 500/.test(event.message)));
    const everything = [
      ...lines,
      ...(await store.events.list({ limit: 1_000 })).events.map((event) => JSON.stringify(event)),
    ].join("\n");
    assert.match(everything, /ops-slack/);
    for (const secret of ["SECRET", "xoxSecretPath", "sk-planted"])
      assert.ok(!everything.includes(secret), `${secret} leaked`);
  });
});
