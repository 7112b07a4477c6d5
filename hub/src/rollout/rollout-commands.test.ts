import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { openStore } from "../store/open-store.js";
import type { Store } from "../store/store.js";
import { listRolloutViews, requestRolloutAction } from "./rollout-commands.js";
import type { RolloutState } from "./rollout-state.js";

const AT = "2026-11-27T10:00:00.000Z";

function rollout(message: string): RolloutState {
  const member = (cluster: string, step: number) => ({
    clusterId: cluster,
    cluster,
    app: "web",
    step,
    wanted: { digest: "sha256:new", bundleDigest: "sha256:b", desired: {} },
  });
  return {
    name: "web",
    declaration: {
      name: "web",
      origin: "Rollout",
      declaredBy: "root",
      steps: [
        { name: "staging", selector: { clusters: {} }, maxUnavailable: { count: 1 }, bakeTimeMs: 0 },
        { name: "prod", selector: { clusters: {} }, maxUnavailable: { count: 1 }, bakeTimeMs: 0 },
      ],
      progressDeadlineMs: 60_000,
      rollback: false,
      offline: { policy: "wait" },
      apps: ["web"],
    },
    generation: 1,
    commit: "abc1234",
    phase: "Failed",
    step: 0,
    stepCount: 2,
    stepStartedAt: AT,
    message,
    failures: [],
    members: [member("staging-1", 0), member("prod-1", 1)],
    startedAt: AT,
    updatedAt: AT,
  };
}

describe("rollout commands", () => {
  let dir = "";
  let store: Store;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "flotilla-rollout-commands-"));
    store = await openStore({ kind: "pglite", dataDir: dir });
  });

  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("hides from a limited viewer the members, and a message, of clusters out of its sight", async () => {
    const prodOnly = (cluster: string) => cluster.startsWith("prod-");
    await store.rollouts.put(
      "web",
      rollout("failed at step 1/2 (staging): staging-1 (web: Degraded)") as never,
    );
    const [narrowed] = await listRolloutViews(store, { clusterVisible: prodOnly });
    assert.deepEqual(
      narrowed?.members.map((m) => m.cluster),
      ["prod-1"],
    );
    assert.equal(narrowed?.message, "", "the message names staging-1");
    await store.rollouts.put("web", rollout("paused by alice at step 2/2 (prod)") as never);
    const [plain] = await listRolloutViews(store, { clusterVisible: prodOnly });
    assert.equal(plain?.message, "paused by alice at step 2/2 (prod)");
    const [whole] = await listRolloutViews(store);
    assert.equal(whole?.members.length, 2);
  });

  it("refuses an unknown action, --all without promote and an unknown rollout, queueing nothing", async () => {
    await store.rollouts.put("web", rollout("") as never);
    const actor = "alice";
    const refused = [
      await requestRolloutAction(store, { name: "web", action: "restart", all: false, actor }, 0),
      await requestRolloutAction(store, { name: "web", action: "pause", all: true, actor }, 0),
      await requestRolloutAction(store, { name: "nope", action: "pause", all: false, actor }, 0),
    ];
    assert.deepEqual(
      refused.map((outcome) => (outcome.ok ? "ok" : outcome.reason)),
      ["invalid", "invalid", "not-found"],
    );
    assert.deepEqual(await store.rollouts.listCommands(), []);
    const queued = await requestRolloutAction(store, { name: "web", action: "pause", all: false, actor }, 0);
    assert.ok(queued.ok && !queued.applied, "no controller runs here: the command stays queued");
    assert.deepEqual(
      (await store.rollouts.listCommands()).map((c) => [c.rollout, c.action, c.actor]),
      [["web", "pause", "alice"]],
    );
  });
});
