import * as assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { durationMs, timestampDate } from "@bufbuild/protobuf/wkt";
import { HealthStatus } from "@flotilla/proto/gen/flotilla/v1/app_pb";
import {
  RolloutAction,
  RolloutMemberState,
  RolloutPhase,
  RolloutStepState,
} from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { type GrpcCode, GrpcError } from "@flotilla/proto/grpc";
import type { RolloutMember, RolloutState } from "../rollout/rollout-state.js";
import { createFleetService, type FleetServiceHandlers } from "./fleet-service.js";
import { type Caller, createCaller, useTestRuntime } from "./test-runtime.js";

const T0 = "2030-01-02T03:04:05.000Z";
const T1 = "2030-01-02T03:10:00.000Z";
const T2 = "2030-01-02T03:20:00.000Z";

const hub = useTestRuntime();
let service: FleetServiceHandlers;
let admin: Caller;
let viewer: Caller;
let prodViewer: Caller;

before(async () => {
  // No rollout controller runs here: actions stay queued, so a short wait keeps the tests quick.
  service = createFleetService(await hub.opened, { rollouts: { actionWaitMs: 50 } });
  admin = createCaller(service, await hub.createApiToken("admin", { name: "release-bot" }));
  viewer = createCaller(service, await hub.createApiToken("viewer", { name: "dash" }));
  prodViewer = createCaller(
    service,
    await hub.createApiToken("viewer", { name: "prod-team", selector: "env=prod" }),
  );
  await hub.addCluster({ name: "stage-1", labels: { env: "staging" } });
  await hub.addCluster({ name: "prod-1", labels: { env: "prod" } });
  await hub.addCluster({ name: "prod-2", labels: { env: "prod" } });
  await hub.store.rollouts.put("web", webRollout());
  await hub.store.rollouts.put("api", apiRollout());
  // A row that is not a RolloutState (an older or foreign format) is skipped, not an error.
  await hub.store.rollouts.put("junk", { hello: "world" });
});

function member(
  cluster: string,
  app: string,
  step: number,
  extra: Partial<RolloutMember> = {},
): RolloutMember {
  return {
    clusterId: `id-${cluster}`,
    cluster,
    app,
    step,
    wanted: { digest: "sha256:new", bundleDigest: "sha256:bundle-new", desired: {} },
    stable: { digest: "sha256:old", bundleDigest: "sha256:bundle-old", desired: {} },
    ...extra,
  };
}

/** Step 1 (staging) passed; in step 2 (prod) prod-1 failed and prod-2 waits. */
function webRollout(): RolloutState {
  return {
    name: "web",
    declaration: {
      name: "web",
      origin: "Rollout",
      declaredBy: "platform",
      steps: [
        {
          name: "staging",
          selector: { clusters: { matchLabels: { env: "staging" } } },
          maxUnavailable: { count: 1 },
          bakeTimeMs: 30_000,
        },
        {
          name: "prod",
          selector: { clusters: { matchLabels: { env: "prod" } } },
          maxUnavailable: { percent: 50 },
          bakeTimeMs: 300_000,
        },
      ],
      progressDeadlineMs: 600_000,
      rollback: false,
      offline: { policy: "wait" },
      apps: ["web"],
    },
    generation: 3,
    commit: "0123456789abcdef",
    phase: "Failed",
    step: 1,
    stepCount: 3,
    stepStartedAt: T1,
    message: "step prod failed: 1 member Degraded",
    failures: [
      {
        cluster: "prod-1",
        app: "web",
        message: "Degraded: Deployment shop/web has 0 of 2 replicas ready",
        resources: [
          {
            kind: "Deployment",
            namespace: "shop",
            name: "web",
            health: "Degraded",
            message: "Readiness probe failed",
          },
        ],
      },
    ],
    members: [
      member("prod-2", "web", 1),
      member("prod-1", "web", 1, { releasedAt: T1 }),
      member("stage-1", "web", 0, { releasedAt: T0, doneAt: T0, passed: true }),
    ],
    startedAt: T0,
    updatedAt: T2,
  };
}

/** One step, completed, on the staging cluster only. */
function apiRollout(): RolloutState {
  return {
    name: "api",
    declaration: {
      name: "api",
      origin: "ApplicationSet",
      declaredBy: "apps",
      steps: [
        {
          name: "all",
          selector: { apps: {} },
          maxUnavailable: { percent: 100 },
          bakeTimeMs: 0,
        },
      ],
      progressDeadlineMs: 600_000,
      rollback: true,
      offline: { policy: "skip", timeoutMs: 60_000 },
      apps: ["api"],
    },
    generation: 1,
    commit: "fedcba9876543210",
    phase: "Completed",
    step: 2,
    stepCount: 2,
    stepStartedAt: T1,
    bakeStartedAt: T1,
    message: "every step passed",
    failures: [],
    members: [member("stage-1", "api", 0, { releasedAt: T0, doneAt: T0, passed: true })],
    startedAt: T0,
    updatedAt: T1,
  };
}

function isGrpcError(code: GrpcCode, details?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof GrpcError, `expected a GrpcError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (details) assert.match(error.details, details);
    return true;
  };
}

async function commandsFor(rollout: string) {
  return (await hub.store.rollouts.listCommands()).filter((command) => command.rollout === rollout);
}

describe("FleetService ListRollouts", () => {
  it("lists every stored rollout by name for a viewer, skipping rows that are not rollouts", async () => {
    const { rollouts } = await viewer("listRollouts");
    assert.deepEqual(
      rollouts.map((rollout) => [rollout.name, rollout.phase]),
      [
        ["api", RolloutPhase.COMPLETED],
        ["web", RolloutPhase.FAILED],
      ],
    );
  });

  it("shows phase, step, counts, steps, members, waiting clusters and failures with their resources", async () => {
    const [web] = (await viewer("listRollouts", { name: "web" })).rollouts;
    assert.ok(web);
    assert.deepEqual(
      [web.origin, web.declaredBy, web.generation, web.commit, web.step, web.stepCount, web.stepName],
      ["Rollout", "platform", 3, "0123456789abcdef", 2, 3, "prod"],
    );
    assert.equal(web.message, "step prod failed: 1 member Degraded");
    const counts = web.counts;
    assert.deepEqual(
      [
        counts?.updated,
        counts?.updating,
        counts?.waiting,
        counts?.failed,
        counts?.rolledBack,
        counts?.skipped,
      ],
      [1, 0, 1, 1, 0, 0],
    );
    assert.deepEqual(
      web.steps.map((step) => [
        step.index,
        step.name,
        step.members,
        step.state,
        step.maxUnavailable,
        step.bakeTime ? durationMs(step.bakeTime) : -1,
      ]),
      [
        [1, "staging", 1, RolloutStepState.PASSED, "1", 30_000],
        [2, "prod", 2, RolloutStepState.CURRENT, "50%", 300_000],
        [3, "after the last step", 0, RolloutStepState.PENDING, "100%", 0],
      ],
    );
    assert.deepEqual(
      web.members.map((m) => [
        m.cluster,
        m.app,
        m.step,
        m.state,
        m.releasedAt && timestampDate(m.releasedAt).toISOString(),
      ]),
      [
        ["stage-1", "web", 1, RolloutMemberState.UPDATED, T0],
        ["prod-1", "web", 2, RolloutMemberState.FAILED, T1],
        ["prod-2", "web", 2, RolloutMemberState.WAITING, undefined],
      ],
    );
    assert.deepEqual(web.waitingClusters, ["prod-2"]);
    assert.equal(web.failures.length, 1);
    const [failure] = web.failures;
    assert.deepEqual(
      [failure?.cluster, failure?.app, failure?.message],
      ["prod-1", "web", "Degraded: Deployment shop/web has 0 of 2 replicas ready"],
    );
    assert.deepEqual(
      failure?.resources.map((r) => [r.kind, r.namespace, r.name, r.health, r.message]),
      [["Deployment", "shop", "web", HealthStatus.DEGRADED, "Readiness probe failed"]],
    );
    assert.deepEqual(
      [web.stepStartedAt, web.startedAt, web.updatedAt].map((t) => t && timestampDate(t).toISOString()),
      [T1, T0, T2],
    );
    assert.equal(web.bakeStartedAt, undefined);
  });

  it("reports when a baking step's bake ends", async () => {
    const [api] = (await viewer("listRollouts", { name: "api" })).rollouts;
    assert.ok(api?.bakeStartedAt && api.bakeEndsAt);
    assert.equal(timestampDate(api.bakeStartedAt).toISOString(), T1);
    // The bake time of step 2 (the implicit step after the last) is 0.
    assert.equal(timestampDate(api.bakeEndsAt).toISOString(), T1);
    assert.equal(api.stepName, "");
  });

  it("lists nothing for an unknown name", async () => {
    assert.deepEqual((await viewer("listRollouts", { name: "nope" })).rollouts, []);
    assert.deepEqual((await viewer("listRollouts", { name: "junk" })).rollouts, []);
  });

  it("refuses a call without a token", async () => {
    await assert.rejects(createCaller(service, undefined)("listRollouts"), isGrpcError("UNAUTHENTICATED"));
  });
});

describe("reliability: security defaults", () => {
  it("a viewer limited to prod clusters sees only the prod members of a rollout, and no rollout without one", async (t) => {
    const all = (await admin("listRollouts")).rollouts;
    const { rollouts } = await prodViewer("listRollouts");
    assert.deepEqual(
      rollouts.map((rollout) => rollout.name),
      ["web"],
    );
    const [web] = rollouts;
    assert.ok(web);
    const seen = new Set([
      ...web.members.map((m) => m.cluster),
      ...web.failures.map((f) => f.cluster),
      ...web.waitingClusters,
    ]);
    assert.deepEqual([...seen].sort(), ["prod-1", "prod-2"]);
    assert.deepEqual([web.counts?.updated, web.counts?.failed, web.counts?.waiting], [0, 1, 1]);
    assert.deepEqual(
      web.steps.map((step) => step.members),
      [0, 2, 0],
    );
    const hiddenMembers =
      all.reduce((n, rollout) => n + rollout.members.length, 0) -
      rollouts.reduce((n, rollout) => n + rollout.members.length, 0);
    t.diagnostic(
      `${all.length} rollouts with ${all.reduce((n, r) => n + r.members.length, 0)} members; the env=prod viewer saw ${rollouts.length} rollout, ${seen.size} clusters, ${[...seen].filter((name) => !name.startsWith("prod-")).length} outside env=prod; ${hiddenMembers} members hidden`,
    );
  });

  it("a viewer's pause, resume, abort or promote is refused and queues nothing", async (t) => {
    const before = (await hub.store.rollouts.listCommands()).length;
    const actions = [RolloutAction.PAUSE, RolloutAction.RESUME, RolloutAction.ABORT, RolloutAction.PROMOTE];
    for (const action of actions) {
      await assert.rejects(
        viewer("updateRollout", { name: "web", action }),
        isGrpcError("PERMISSION_DENIED", /token "dash" is a viewer/),
      );
      await assert.rejects(
        prodViewer("updateRollout", { name: "web", action }),
        isGrpcError("PERMISSION_DENIED", /token "prod-team" is a viewer/),
      );
    }
    assert.equal((await hub.store.rollouts.listCommands()).length, before);
    t.diagnostic(
      `${actions.length * 2} rollout actions from 2 viewer tokens: all PERMISSION_DENIED, 0 commands queued`,
    );
  });
});

describe("FleetService UpdateRollout", () => {
  it("queues the action with the token's name and answers queued when no controller takes it", async () => {
    const response = await admin("updateRollout", { name: "web", action: RolloutAction.PAUSE });
    assert.equal(response.applied, false);
    assert.equal(response.rollout?.name, "web");
    assert.equal(response.rollout?.phase, RolloutPhase.FAILED);
    const queued = await commandsFor("web");
    assert.deepEqual(
      queued.map((command) => [command.action, command.all, command.actor]),
      [["pause", false, "release-bot"]],
    );
    await hub.store.rollouts.removeCommands(queued.map((command) => command.id));
  });

  it("queues promote with --all", async () => {
    const response = await admin("updateRollout", { name: "web", action: RolloutAction.PROMOTE, all: true });
    assert.equal(response.applied, false);
    const queued = await commandsFor("web");
    assert.deepEqual(
      queued.map((command) => [command.action, command.all]),
      [["promote", true]],
    );
    await hub.store.rollouts.removeCommands(queued.map((command) => command.id));
  });

  it("answers applied with the rollout as the controller left it once the command is taken", async () => {
    await hub.store.rollouts.put("applied", { ...webRollout(), name: "applied" });
    const slow = createCaller(
      createFleetService(hub.runtime, { rollouts: { actionWaitMs: 5_000 } }),
      await hub.createApiToken("admin", { name: "applier" }),
    );
    // Stands in for the rollout controller: takes the command, pauses the rollout.
    const controller = (async () => {
      const deadline = Date.now() + 5_000;
      while (Date.now() < deadline) {
        const [command] = await commandsFor("applied");
        if (command) {
          await hub.store.rollouts.put("applied", {
            ...webRollout(),
            name: "applied",
            phase: "Paused",
            message: `paused by ${command.actor}`,
          });
          await hub.store.rollouts.removeCommands([command.id]);
          return command;
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error("no command was queued within 5 s");
    })();
    const response = await slow("updateRollout", { name: "applied", action: RolloutAction.PAUSE });
    const command = await controller;
    assert.equal(command.actor, "applier");
    assert.equal(response.applied, true);
    assert.equal(response.rollout?.phase, RolloutPhase.PAUSED);
    assert.equal(response.rollout?.message, "paused by applier");
  });

  it("refuses an unknown rollout with NOT_FOUND naming it", async () => {
    await assert.rejects(
      admin("updateRollout", { name: "nope", action: RolloutAction.PAUSE }),
      isGrpcError("NOT_FOUND", /^rollout nope does not exist$/),
    );
    await assert.rejects(
      admin("updateRollout", { name: "junk", action: RolloutAction.RESUME }),
      isGrpcError("NOT_FOUND", /rollout junk/),
    );
    assert.deepEqual(await commandsFor("nope"), []);
  });

  it("refuses a missing or unknown action, and --all without promote, naming the rollout", async () => {
    await assert.rejects(
      admin("updateRollout", { name: "web" }),
      isGrpcError(
        "INVALID_ARGUMENT",
        /^rollout web: action is required; one of pause, resume, abort, promote$/,
      ),
    );
    await assert.rejects(
      admin("updateRollout", { name: "web", action: 42 as RolloutAction }),
      isGrpcError("INVALID_ARGUMENT", /^rollout web: action 42 is unknown/),
    );
    await assert.rejects(
      admin("updateRollout", { name: "web", action: RolloutAction.ABORT, all: true }),
      isGrpcError("INVALID_ARGUMENT", /^rollout web: "all" goes with the promote action only$/),
    );
    assert.deepEqual(await commandsFor("web"), []);
  });

  it("refuses an empty name and a name with a NUL", async () => {
    await assert.rejects(
      admin("updateRollout", { name: " ", action: RolloutAction.PAUSE }),
      isGrpcError("INVALID_ARGUMENT", /^name: the rollout name is required$/),
    );
    await assert.rejects(
      admin("updateRollout", { name: "web\u0000", action: RolloutAction.PAUSE }),
      isGrpcError("INVALID_ARGUMENT", /NUL/),
    );
  });
});
