import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { HealthStatus } from "@flotilla/proto/gen/flotilla/v1/app_pb";
import {
  RolloutAction,
  RolloutMemberState,
  RolloutPhase,
  RolloutSchema,
} from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { ROLLOUT_PHASES } from "../rollout/rollout-state.js";
import type { RolloutView } from "../rollout/rollout-view.js";
import {
  ROLLOUT_PHASE,
  rolloutActionName,
  rolloutPhaseName,
  toRolloutMessage,
  toRolloutView,
} from "./rollout-messages.js";

const view: RolloutView = {
  name: "web",
  origin: "ApplicationSet",
  declaredBy: "platform",
  phase: "RolledBack",
  generation: 7,
  commit: "0123456789abcdef",
  step: 2,
  stepCount: 2,
  stepName: "prod",
  stepStartedAt: "2030-01-02T03:04:05.678Z",
  bakeStartedAt: "2030-01-02T03:05:00.000Z",
  bakeEndsAt: "2030-01-02T03:10:00.000Z",
  message: "step prod failed; rolled back",
  counts: { updated: 1, updating: 0, waiting: 0, failed: 0, rolledBack: 1, skipped: 1 },
  steps: [
    { index: 1, name: "staging", members: 1, state: "passed", maxUnavailable: "1", bakeTimeMs: 1_500 },
    { index: 2, name: "prod", members: 2, state: "current", maxUnavailable: "25%", bakeTimeMs: 300_000 },
  ],
  members: [
    { cluster: "s-1", app: "web", step: 1, state: "updated", releasedAt: "2030-01-02T03:00:00.000Z" },
    { cluster: "p-1", app: "web", step: 2, state: "rolledBack", releasedAt: "2030-01-02T03:04:06.000Z" },
    { cluster: "p-2", app: "web", step: 2, state: "skipped" },
  ],
  waitingClusters: [],
  failures: [
    {
      cluster: "p-1",
      app: "web",
      message: "not Healthy within the progress deadline (10m)",
      resources: [
        {
          kind: "Deployment",
          namespace: "shop",
          name: "web",
          health: "Progressing",
          message: "1 of 2 ready",
        },
        { kind: "ClusterRole", namespace: "", name: "web", health: "Missing", message: "" },
      ],
    },
  ],
  apps: ["web"],
  startedAt: "2030-01-02T03:00:00.000Z",
  updatedAt: "2030-01-02T03:10:00.000Z",
};

describe("rollout messages", () => {
  it("turns a view into a message and back into the same view, also over the wire", () => {
    const message = create(RolloutSchema, toRolloutMessage(view));
    assert.equal(message.phase, RolloutPhase.ROLLED_BACK);
    assert.deepEqual(
      message.members.map((member) => member.state),
      [RolloutMemberState.UPDATED, RolloutMemberState.ROLLED_BACK, RolloutMemberState.SKIPPED],
    );
    assert.deepEqual(
      message.failures[0]?.resources.map((resource) => resource.health),
      [HealthStatus.PROGRESSING, HealthStatus.MISSING],
    );
    assert.deepEqual(toRolloutView(message), view);
    assert.deepEqual(toRolloutView(fromBinary(RolloutSchema, toBinary(RolloutSchema, message))), view);
  });

  it("leaves out times that are absent or not times", () => {
    const message = create(
      RolloutSchema,
      toRolloutMessage({ ...view, bakeStartedAt: "not a time", bakeEndsAt: undefined, stepStartedAt: "" }),
    );
    assert.equal(message.bakeStartedAt, undefined);
    assert.equal(message.bakeEndsAt, undefined);
    assert.equal(message.stepStartedAt, undefined);
    const back = toRolloutView(message);
    assert.equal("bakeStartedAt" in back, false);
    assert.equal(back.stepStartedAt, "");
  });

  it("has an enum value for every phase, and reads unknown values as Unknown", () => {
    const values = ROLLOUT_PHASES.map((phase) => ROLLOUT_PHASE[phase]);
    assert.equal(new Set(values).size, ROLLOUT_PHASES.length);
    assert.ok(!values.includes(RolloutPhase.UNSPECIFIED));
    assert.deepEqual(values.map(rolloutPhaseName), [...ROLLOUT_PHASES]);
    assert.equal(rolloutPhaseName(RolloutPhase.UNSPECIFIED), "Unknown");
    assert.equal(rolloutPhaseName(99 as RolloutPhase), "Unknown");
  });

  it("names every action and no other value", () => {
    assert.deepEqual(
      [RolloutAction.PAUSE, RolloutAction.RESUME, RolloutAction.ABORT, RolloutAction.PROMOTE].map(
        rolloutActionName,
      ),
      ["pause", "resume", "abort", "promote"],
    );
    assert.equal(rolloutActionName(RolloutAction.UNSPECIFIED), undefined);
    assert.equal(rolloutActionName(5 as RolloutAction), undefined);
  });
});
