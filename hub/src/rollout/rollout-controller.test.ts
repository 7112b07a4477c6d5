import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import type { BusEvent } from "../bus/bus.js";
import { createLocalBus } from "../bus/create-local-bus.js";
import { openStore } from "../store/open-store.js";
import type { Cluster, Store, TargetInput } from "../store/store.js";
import { allowedUpdating, createRolloutController, type RolloutController } from "./rollout-controller.js";
import type { RolloutDeclaration } from "./rollout-spec.js";
import type { RolloutState } from "./rollout-state.js";
import { viewRollout } from "./rollout-view.js";

const CLUSTERS = [
  { name: "staging-1", env: "staging" },
  { name: "prod-1", env: "prod" },
  { name: "prod-2", env: "prod" },
  { name: "prod-3", env: "prod" },
] as const;

function declaration(overrides: Partial<RolloutDeclaration> = {}): RolloutDeclaration {
  return {
    name: "web",
    origin: "Rollout",
    declaredBy: "root",
    steps: [
      {
        name: "staging",
        selector: { clusters: { matchLabels: { env: "staging" } } },
        maxUnavailable: { count: 1 },
        bakeTimeMs: 10_000,
      },
      {
        name: "prod",
        selector: { clusters: { matchLabels: { env: "prod" } } },
        maxUnavailable: { count: 2 },
        bakeTimeMs: 0,
      },
    ],
    progressDeadlineMs: 60_000,
    rollback: false,
    offline: { policy: "wait" },
    apps: ["web"],
    appLabels: {},
    ...overrides,
  };
}

function input(app: string, version: string): TargetInput {
  return {
    app,
    digest: `sha256:${app}-${version}`,
    bundleDigest: `sha256:bundle-${app}-${version}`,
    desired: { revision: `commit-${version}`, namespace: app },
  };
}

describe("rollout controller", () => {
  let dir = "";
  let store: Store;
  let clusters: Cluster[] = [];
  let clock = 0;
  const now = () => new Date(clock);
  let announced: BusEvent[] = [];
  let controller: RolloutController;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "flotilla-rollout-"));
    store = await openStore({ kind: "pglite", dataDir: dir });
  });

  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    for (const cluster of await store.clusters.list()) await store.clusters.remove(cluster.id);
    for (const rollout of await store.rollouts.list()) await store.rollouts.remove(rollout.name);
    await store.rollouts.removeCommands((await store.rollouts.listCommands()).map((c) => c.id));
    for (const { name, env } of CLUSTERS) {
      const created = await store.clusters.create({
        id: name,
        name,
        clusterUid: `uid-${name}`,
        labels: { env },
      });
      assert.ok(created.ok);
      await store.clusters.setState(name, "Connected");
    }
    clusters = await store.clusters.list();
    clock = Date.parse("2026-11-27T10:00:00Z");
    announced = [];
    const bus = createLocalBus();
    const subscription = bus.subscribe((event) => {
      announced.push(event);
    });
    await subscription.ready;
    controller = createRolloutController({ store, bus, log: () => {}, now });
  });

  /** What applyResolutions does: gate, then store every cluster's targets. */
  async function resolve(version: string, decl = declaration()): Promise<void> {
    const next = new Map<string, Map<string, TargetInput>>();
    for (const cluster of clusters) {
      next.set(
        cluster.id,
        new Map([
          ["web", input("web", version)],
          ["other", input("other", "v1")],
        ]),
      );
    }
    await controller.gate({
      declared: [{ sourceId: "fleet", declarations: [decl] }],
      failedSources: new Set(),
      clusters,
      next,
    });
    await store.targets.applyMany(
      [...next].map(([clusterId, apps]) => ({ clusterId, next: [...apps.values()] })),
    );
  }

  /** The version of web each cluster's desired state holds ("-" for none). */
  async function versions(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const { name } of CLUSTERS) {
      const web = (await store.targets.list(name)).find((t) => t.app === "web" && !t.removed);
      out[name] = web ? web.digest.replace("sha256:web-", "") : "-";
    }
    return out;
  }

  async function report(cluster: string, version: string, health: string, message = ""): Promise<void> {
    await store.statuses.upsert({
      clusterId: cluster,
      app: "web",
      digest: `sha256:web-${version}`,
      revision: `commit-${version}`,
      sync: "Synced",
      health,
      healthMessage: message,
      resources:
        health === "Healthy"
          ? []
          : [
              {
                kind: "Deployment",
                namespace: "web",
                name: "web",
                healthStatus: "HEALTH_STATUS_DEGRADED",
                message,
              },
              { kind: "ConfigMap", namespace: "web", name: "web", healthStatus: "HEALTH_STATUS_HEALTHY" },
            ],
      observedAt: now(),
    });
  }

  async function state(): Promise<RolloutState> {
    const record = await store.rollouts.get("web");
    assert.ok(record, "the rollout is stored");
    return record.state as unknown as RolloutState;
  }

  /** Every cluster reports `version` Healthy where it holds it. */
  async function reportHealthyWhereHeld(version: string): Promise<void> {
    for (const [cluster, held] of Object.entries(await versions())) {
      if (held === version) await report(cluster, version, "Healthy");
    }
  }

  async function rollThrough(version: string): Promise<void> {
    for (let tick = 0; tick < 20 && (await state()).phase !== "Completed"; tick++) {
      await controller.advance();
      await reportHealthyWhereHeld(version);
      clock += 5_000;
    }
    assert.equal((await state()).phase, "Completed");
  }

  it("rolls a first revision through the steps: staging, its bake, then prod two at a time", async () => {
    await resolve("v1");
    assert.deepEqual(await versions(), { "staging-1": "-", "prod-1": "-", "prod-2": "-", "prod-3": "-" });
    await controller.advance();
    assert.deepEqual(await versions(), { "staging-1": "v1", "prod-1": "-", "prod-2": "-", "prod-3": "-" });
    assert.ok(announced.some((e) => e.type === "targets-changed" && e.clusterId === "staging-1"));
    await report("staging-1", "v1", "Healthy");
    await controller.advance();
    assert.ok((await state()).bakeStartedAt, "the bake started");
    clock += 5_000;
    await controller.advance();
    assert.equal((await state()).step, 0, "still baking after 5 of 10 s");
    clock += 5_000;
    await controller.advance();
    const afterBake = await state();
    assert.equal(afterBake.step, 1);
    assert.deepEqual(await versions(), { "staging-1": "v1", "prod-1": "v1", "prod-2": "v1", "prod-3": "-" });
    assert.deepEqual(viewRollout(afterBake).counts, {
      updated: 1,
      updating: 2,
      waiting: 1,
      failed: 0,
      rolledBack: 0,
      skipped: 0,
    });
    assert.deepEqual(viewRollout(afterBake).waitingClusters, ["prod-3"]);
    await report("prod-1", "v1", "Healthy");
    await controller.advance();
    assert.equal((await versions())["prod-3"], "v1", "a slot freed up");
    await report("prod-2", "v1", "Healthy");
    await report("prod-3", "v1", "Healthy");
    await controller.advance();
    assert.equal((await state()).phase, "Completed");
    // The apps outside the rollout were never held.
    assert.ok((await store.targets.list("prod-3")).some((t) => t.app === "other"));
    const events = await store.events.list({ type: "rollout" });
    const messages = events.events.map((e) => e.message).reverse();
    assert.ok(
      messages.some((m) => /step 1\/2 \(staging\) passed/.test(m)),
      messages.join("\n"),
    );
    assert.ok(
      messages.some((m) => /completed/.test(m)),
      messages.join("\n"),
    );
  });

  it("holds a new revision back from prod until staging passes, and resolves keep holding it", async () => {
    await resolve("v1");
    await rollThrough("v1");
    await resolve("v2");
    assert.deepEqual(await versions(), { "staging-1": "v1", "prod-1": "v1", "prod-2": "v1", "prod-3": "v1" });
    assert.equal((await state()).generation, 2);
    await controller.advance();
    await resolve("v2"); // Another resolve of the same commit changes nothing.
    assert.deepEqual(await versions(), { "staging-1": "v2", "prod-1": "v1", "prod-2": "v1", "prod-3": "v1" });
    await rollThrough("v2");
    assert.deepEqual(await versions(), { "staging-1": "v2", "prod-1": "v2", "prod-2": "v2", "prod-3": "v2" });
  });

  it("fails a step whose member turns Degraded, names the failing resources, and rolls it back", async () => {
    await resolve("v1");
    await rollThrough("v1");
    await resolve("v2", declaration({ rollback: true }));
    await controller.advance();
    await report("staging-1", "v2", "Degraded", "Deployment web: ProgressDeadlineExceeded");
    await controller.advance();
    const failed = await state();
    assert.equal(failed.phase, "RolledBack");
    assert.deepEqual(failed.failures, [
      {
        cluster: "staging-1",
        app: "web",
        message: "Degraded: Deployment web: ProgressDeadlineExceeded",
        resources: [
          {
            kind: "Deployment",
            namespace: "web",
            name: "web",
            health: "Degraded",
            message: "Deployment web: ProgressDeadlineExceeded",
          },
        ],
      },
    ]);
    assert.deepEqual(await versions(), { "staging-1": "v1", "prod-1": "v1", "prod-2": "v1", "prod-3": "v1" });
    // Later ticks and resolves of the same commit leave it rolled back.
    clock += 60_000;
    await controller.advance();
    await resolve("v2", declaration({ rollback: true }));
    assert.deepEqual(await versions(), { "staging-1": "v1", "prod-1": "v1", "prod-2": "v1", "prod-3": "v1" });
    // A fix forward starts a new revision from step 1.
    await resolve("v3", declaration({ rollback: true }));
    assert.equal((await state()).phase, "Progressing");
    await rollThrough("v3");
  });

  it("fails a member that is not Healthy within the progress deadline, and keeps it without rollback", async () => {
    await resolve("v1");
    await rollThrough("v1");
    await resolve("v2");
    await controller.advance();
    await report("staging-1", "v2", "Progressing");
    clock += 59_000;
    await controller.advance();
    assert.equal((await state()).phase, "Progressing");
    clock += 2_000;
    await controller.advance();
    const failed = await state();
    assert.equal(failed.phase, "Failed");
    assert.match(
      failed.failures[0]?.message ?? "",
      /not Synced and Healthy 60 s after its release \(Synced\/Progressing\)/,
    );
    assert.deepEqual(await versions(), { "staging-1": "v2", "prod-1": "v1", "prod-2": "v1", "prod-3": "v1" });
    // resume retries the step: it succeeds once staging turns Healthy.
    await store.rollouts.addCommand({ rollout: "web", action: "resume", all: false, actor: "admin" });
    await controller.advance();
    assert.equal((await state()).phase, "Progressing");
    assert.deepEqual((await state()).failures, []);
    await rollThrough("v2");
  });

  it("pauses, resumes, promotes and aborts on command", async () => {
    await resolve("v1");
    await rollThrough("v1");
    await store.rollouts.addCommand({ rollout: "web", action: "pause", all: false, actor: "alice" });
    await controller.advance();
    assert.equal((await state()).phase, "Completed", "a completed rollout has nothing to pause");
    await resolve("v2");
    await store.rollouts.addCommand({ rollout: "web", action: "pause", all: false, actor: "alice" });
    await controller.advance();
    assert.equal((await state()).phase, "Paused");
    await resolve("v3"); // A new revision of a paused rollout stays paused.
    for (let i = 0; i < 3; i++) {
      clock += 30_000;
      await controller.advance();
    }
    assert.equal((await state()).phase, "Paused");
    assert.deepEqual(await versions(), { "staging-1": "v1", "prod-1": "v1", "prod-2": "v1", "prod-3": "v1" });
    await store.rollouts.addCommand({ rollout: "web", action: "resume", all: false, actor: "alice" });
    await controller.advance();
    assert.equal((await versions())["staging-1"], "v3");
    // promote passes staging's gate without waiting for it.
    await store.rollouts.addCommand({ rollout: "web", action: "promote", all: false, actor: "alice" });
    await controller.advance();
    const promoted = await state();
    assert.equal(promoted.step, 1);
    assert.deepEqual(await versions(), { "staging-1": "v3", "prod-1": "v3", "prod-2": "v3", "prod-3": "v1" });
    // abort rolls every released member back to what it ran when the revision started.
    await store.rollouts.addCommand({ rollout: "web", action: "abort", all: false, actor: "alice" });
    await controller.advance();
    assert.equal((await state()).phase, "Aborted");
    assert.deepEqual(await versions(), { "staging-1": "v1", "prod-1": "v1", "prod-2": "v1", "prod-3": "v1" });
    await resolve("v3");
    assert.deepEqual(await versions(), { "staging-1": "v1", "prod-1": "v1", "prod-2": "v1", "prod-3": "v1" });
    // promote --all releases every step at once.
    await resolve("v4");
    await store.rollouts.addCommand({ rollout: "web", action: "promote", all: true, actor: "alice" });
    await controller.advance();
    assert.equal((await state()).phase, "Completed");
    assert.deepEqual(await versions(), { "staging-1": "v4", "prod-1": "v4", "prod-2": "v4", "prod-3": "v4" });
    const actors = (await store.events.list({ type: "rollout" })).events.filter((e) =>
      /by alice/.test(e.message),
    );
    assert.ok(actors.length >= 5, `${actors.length} commands recorded with their actor`);
    assert.deepEqual(await store.rollouts.listCommands(), [], "every command was taken");
  });

  it("waits for an offline cluster, or skips it after the timeout and updates it once the rollout completes", async () => {
    await resolve("v1");
    await rollThrough("v1");
    await store.clusters.setState("prod-3", "Disconnected");
    await resolve("v2", declaration({ offline: { policy: "skip", timeoutMs: 120_000 } }));
    for (let tick = 0; tick < 6; tick++) {
      await controller.advance();
      await reportHealthyWhereHeld("v2");
      clock += 5_000;
    }
    const waiting = await state();
    assert.equal(waiting.phase, "Progressing", "waits within the timeout");
    assert.equal((await versions())["prod-3"], "v1");
    clock += 120_000;
    await controller.advance();
    await reportHealthyWhereHeld("v2");
    clock += 5_000;
    await controller.advance();
    const done = await state();
    assert.equal(done.phase, "Completed", JSON.stringify(viewRollout(done).counts));
    assert.equal((await versions())["prod-3"], "v2", "the skipped member got the revision at the end");
  });

  it("resumes a rollout where it was with a new controller (a restarted or new leader)", async () => {
    await resolve("v1");
    await controller.advance();
    await report("staging-1", "v1", "Healthy");
    await controller.advance();
    const bakeStartedAt = (await state()).bakeStartedAt;
    assert.ok(bakeStartedAt);
    controller = createRolloutController({ store, bus: createLocalBus(), log: () => {}, now });
    clock += 10_000;
    await controller.advance();
    assert.equal((await state()).step, 1, "the bake counted from before the restart");
    assert.deepEqual(await versions(), { "staging-1": "v1", "prod-1": "v1", "prod-2": "v1", "prod-3": "-" });
  });

  it("removes a rollout its source no longer declares, and keeps one whose source failed", async () => {
    await resolve("v1");
    const next = new Map(clusters.map((c) => [c.id, new Map([["web", input("web", "v1")]])]));
    await controller.gate({ declared: [], failedSources: new Set(["fleet"]), clusters, next });
    assert.ok(await store.rollouts.get("web"), "kept while its source fails");
    await controller.gate({
      declared: [{ sourceId: "fleet", declarations: [] }],
      failedSources: new Set(),
      clusters,
      next,
    });
    assert.equal(await store.rollouts.get("web"), undefined);
    assert.equal(next.get("prod-1")?.get("web")?.digest, "sha256:web-v1", "nothing is held any more");
  });

  it("keeps holding with the last valid declaration while the declaration in Git is invalid", async () => {
    await resolve("v1");
    await rollThrough("v1");
    const next = new Map(clusters.map((c) => [c.id, new Map([["web", input("web", "v2")]])]));
    await controller.gate({
      declared: [
        {
          sourceId: "fleet",
          declarations: [],
          problemApps: new Set(),
          problems: [
            { app: "root", message: 'Rollout web: spec.steps[0].maxUnavailable: "150%" is not a count' },
          ],
        },
      ],
      failedSources: new Set(),
      clusters,
      next,
    });
    assert.ok(await store.rollouts.get("web"), "the rollout is kept");
    assert.equal((await state()).generation, 2, "the new revision started under the last valid declaration");
    assert.deepEqual(
      [...next.values()].map((apps) => apps.get("web")?.digest),
      ["sha256:web-v1", "sha256:web-v1", "sha256:web-v1", "sha256:web-v1"],
      "v2 is held back everywhere",
    );
  });

  it("counts maxUnavailable as a count or a percentage of the step, at least one unless zero", () => {
    const steps = (maxUnavailable: RolloutDeclaration["steps"][number]["maxUnavailable"]) => ({
      steps: [{ name: "s", selector: { clusters: {} }, maxUnavailable, bakeTimeMs: 0 }],
    });
    assert.equal(allowedUpdating(steps({ percent: 25 }), 0, 10), 2);
    assert.equal(allowedUpdating(steps({ percent: 10 }), 0, 3), 1);
    assert.equal(allowedUpdating(steps({ percent: 0 }), 0, 3), 0);
    assert.equal(allowedUpdating(steps({ count: 3 }), 0, 10), 3);
    assert.equal(allowedUpdating(steps({ count: 1 }), 1, 10), 10, "the implicit last step has no limit");
  });
});
