import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { RolloutAction, type UpdateRolloutRequest } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { toRolloutMessage } from "../api/rollout-messages.js";
import type { RolloutView } from "../rollout/rollout-view.js";
import { formatDurationMs } from "./rollout-command.js";
import { ADMIN_TOKEN, type FakeFleet, runFlotilla, useFakeHub, VIEWER_TOKEN } from "./use-fake-hub.js";

const web: RolloutView = {
  name: "web",
  origin: "Rollout",
  declaredBy: "platform",
  phase: "Failed",
  generation: 3,
  commit: "0123456789abcdef",
  step: 2,
  stepCount: 3,
  stepName: "prod",
  stepStartedAt: "2030-01-02T03:10:00.000Z",
  message: "step prod failed: prod-1/web is Degraded",
  counts: { updated: 1, updating: 0, waiting: 2, failed: 1, rolledBack: 0, skipped: 0 },
  steps: [
    { index: 1, name: "staging", members: 1, state: "passed", maxUnavailable: "1", bakeTimeMs: 30_000 },
    { index: 2, name: "prod", members: 3, state: "current", maxUnavailable: "25%", bakeTimeMs: 5_400_000 },
    {
      index: 3,
      name: "after the last step",
      members: 0,
      state: "pending",
      maxUnavailable: "100%",
      bakeTimeMs: 0,
    },
  ],
  members: [
    { cluster: "stage-1", app: "web", step: 1, state: "updated", releasedAt: "2030-01-02T03:04:05.000Z" },
    { cluster: "prod-1", app: "web", step: 2, state: "failed", releasedAt: "2030-01-02T03:10:00.000Z" },
    { cluster: "prod-2", app: "web", step: 2, state: "waiting" },
    { cluster: "prod-3", app: "web", step: 2, state: "waiting" },
  ],
  waitingClusters: ["prod-2", "prod-3"],
  failures: [
    {
      cluster: "prod-1",
      app: "web",
      message: "Degraded: 1 resource is not Healthy",
      resources: [
        {
          kind: "Deployment",
          namespace: "shop",
          name: "web",
          health: "Degraded",
          message: "Readiness probe failed",
        },
        { kind: "ClusterRole", namespace: "", name: "web-reader", health: "Missing", message: "" },
      ],
    },
  ],
  apps: ["web"],
  startedAt: "2030-01-02T03:04:05.000Z",
  updatedAt: "2030-01-02T03:12:00.000Z",
};

const api: RolloutView = {
  ...web,
  name: "api",
  origin: "ApplicationSet",
  phase: "Completed",
  step: 2,
  stepCount: 1,
  stepName: "",
  message: "every step passed",
  counts: { updated: 2, updating: 0, waiting: 0, failed: 0, rolledBack: 0, skipped: 0 },
  steps: [{ index: 1, name: "all", members: 2, state: "passed", maxUnavailable: "100%", bakeTimeMs: 0 }],
  members: [
    { cluster: "prod-1", app: "api", step: 1, state: "updated" },
    { cluster: "stage-1", app: "api", step: 1, state: "updated" },
  ],
  waitingClusters: [],
  failures: [],
  apps: ["api"],
};

function seedFleet(fleet: FakeFleet): void {
  fleet.rollouts.push({ ...toRolloutMessage(web), name: "web" }, { ...toRolloutMessage(api), name: "api" });
}

describe("flotilla rollout", () => {
  const hub = useFakeHub(seedFleet);
  const env = (token = ADMIN_TOKEN) => ({
    FLOTILLA_HUB: hub().url,
    FLOTILLA_TOKEN: token,
    FLOTILLA_CA: hub().caPath,
  });
  const updates = () =>
    hub()
      .fleet.calls.filter((c) => c.method === "updateRollout")
      .map((c) => c.request as UpdateRolloutRequest);
  beforeEach(() => hub().reset());

  describe("status", () => {
    it("prints one line per rollout, by name", async () => {
      const run = await runFlotilla(["rollout", "status"], env());
      assert.equal(run.code, 0, run.err);
      assert.equal(
        run.out,
        [
          "NAME  PHASE      STEP      UPDATED  UPDATING  WAITING  FAILED  MESSAGE",
          "api   Completed  1/1 done  2        0         0        0       every step passed",
          "web   Failed     2/3 prod  1        0         2        1       step prod failed: prod-1/web is Degraded",
          "",
        ].join("\n"),
      );
      assert.equal(run.err, "");
    });

    it("shows one rollout with its revision, steps, waiting clusters and failures with their resources", async () => {
      const run = await runFlotilla(["rollout", "status", "web"], env());
      assert.equal(run.code, 0, run.err);
      assert.equal(
        run.out,
        [
          "NAME  PHASE   STEP      UPDATED  UPDATING  WAITING  FAILED  MESSAGE",
          "web   Failed  2/3 prod  1        0         2        1       step prod failed: prod-1/web is Degraded",
          "",
          "Declared by:   Rollout web in app platform",
          "Apps:          web",
          "Revision:      3 (commit 0123456)",
          "Started:       2030-01-02T03:04:05Z",
          "Updated:       2030-01-02T03:12:00Z",
          "Step started:  2030-01-02T03:10:00Z",
          "",
          "STEP  NAME                 MEMBERS  STATE    MAX UNAVAILABLE  BAKE",
          "1     staging              1        passed   1                30s",
          "2     prod                 3        current  25%              1h30m",
          "3     after the last step  0        pending  100%             0s",
          "",
          "Waiting clusters: prod-2, prod-3",
          "",
          "Failures:",
          "  prod-1/web: Degraded: 1 resource is not Healthy",
          "    RESOURCE                HEALTH    MESSAGE",
          "    Deployment/shop/web     Degraded  Readiness probe failed",
          "    ClusterRole/web-reader  Missing",
          "",
        ].join("\n"),
      );
      const [call] = hub().fleet.calls;
      assert.deepEqual(
        [call?.method, (call?.request as { name?: string } | undefined)?.name],
        ["listRollouts", "web"],
      );
    });

    it("prints RolloutView JSON with -o json", async () => {
      const run = await runFlotilla(["rollout", "status", "-o", "json"], env());
      assert.equal(run.code, 0, run.err);
      const document = JSON.parse(run.out) as { rollouts: RolloutView[] };
      assert.deepEqual(document, { rollouts: [api, web] });
      const [, parsed] = document.rollouts;
      assert.deepEqual(
        [
          parsed?.name,
          parsed?.phase,
          parsed?.step,
          parsed?.stepCount,
          parsed?.stepName,
          parsed?.counts.waiting,
        ],
        ["web", "Failed", 2, 3, "prod", 2],
      );
      assert.deepEqual(parsed?.failures[0]?.resources[0], {
        kind: "Deployment",
        namespace: "shop",
        name: "web",
        health: "Degraded",
        message: "Readiness probe failed",
      });
    });

    it("prints an empty list as JSON and says so in a table", async () => {
      hub().fleet.rollouts = [];
      const json = await runFlotilla(["rollout", "status", "-o", "json"], env());
      assert.deepEqual([json.code, JSON.parse(json.out)], [0, { rollouts: [] }]);
      const table = await runFlotilla(["rollout", "status"], env());
      assert.deepEqual([table.code, table.out, table.err], [0, "", "No rollouts.\n"]);
    });

    it("exits 1 for an unknown rollout", async () => {
      const run = await runFlotilla(["rollout", "status", "nope"], env(VIEWER_TOKEN));
      assert.deepEqual([run.code, run.out, run.err], [1, "", "flotilla: rollout nope does not exist\n"]);
    });
  });

  describe("actions", () => {
    for (const [action, value, done] of [
      ["pause", RolloutAction.PAUSE, "rollout web paused (Paused, step 2/3 prod)"],
      ["resume", RolloutAction.RESUME, "rollout web resumed (Progressing, step 2/3 prod)"],
      ["abort", RolloutAction.ABORT, "rollout web aborted (Aborted, step 2/3 prod)"],
      ["promote", RolloutAction.PROMOTE, "rollout web promoted (Failed, step 3/3 after the last step)"],
    ] as const) {
      it(`${action} says what happened`, async () => {
        const run = await runFlotilla(["rollout", action, "web"], env());
        assert.deepEqual([run.code, run.out, run.err], [0, `${done}\n`, ""]);
        assert.deepEqual(
          updates().map((request) => [request.name, request.action, request.all]),
          [["web", value, false]],
        );
      });
    }

    it("promote --all releases every step", async () => {
      const run = await runFlotilla(["rollout", "promote", "web", "--all"], env());
      assert.deepEqual(
        [run.code, run.out],
        [0, "rollout web promoted past every step (Failed, step 3/3 done)\n"],
      );
      assert.deepEqual(
        updates().map((request) => [request.action, request.all]),
        [[RolloutAction.PROMOTE, true]],
      );
    });

    it("says the action is queued when the hub did not carry it out yet", async () => {
      hub().fleet.rolloutActionsApplied = false;
      const run = await runFlotilla(["rollout", "pause", "web"], env());
      assert.equal(run.code, 0, run.err);
      assert.equal(
        run.out,
        "queued: pause of rollout web; the hub carries it out when its rollout controller next runs\n",
      );
    });

    it("shows the hub's NOT_FOUND message for an unknown rollout and exits 1", async () => {
      const run = await runFlotilla(["rollout", "abort", "nope"], env());
      assert.deepEqual(
        [run.code, run.out, run.err],
        [1, "", "flotilla: rollout nope does not exist (NOT_FOUND)\n"],
      );
    });

    it("explains a refused action for a viewer's token and exits 1", async () => {
      const run = await runFlotilla(["rollout", "pause", "web"], env(VIEWER_TOKEN));
      assert.equal(run.code, 1);
      assert.match(
        run.err,
        /does not allow this for the API token from FLOTILLA_TOKEN: token "viewer" is a viewer/,
      );
      assert.doesNotMatch(run.err, /abcdefghijklmnop/);
    });
  });

  describe("usage errors exit 2 before calling the hub", () => {
    for (const [what, args, message, usage] of [
      [
        "pause without a name",
        ["pause"],
        /the rollout name is required/,
        /Usage: flotilla rollout pause <name> \[--hub/,
      ],
      ["two names", ["resume", "web", "api"], /unexpected argument 'api'/, /Usage: flotilla rollout resume/],
      [
        "--all without promote",
        ["abort", "web", "--all"],
        /--all goes with promote only/,
        /Usage: flotilla rollout abort/,
      ],
      [
        "status of two rollouts",
        ["status", "web", "api"],
        /unexpected argument 'api'/,
        /Usage: flotilla rollout status/,
      ],
      [
        "an unknown output",
        ["status", "-o", "yaml"],
        /-o must be one of table, json/,
        /Usage: flotilla rollout status/,
      ],
      [
        "an unknown flag",
        ["promote", "web", "--force"],
        /Unknown option '--force'/,
        /Usage: flotilla rollout promote <name> \[--all\]/,
      ],
    ] as const) {
      it(`refuses ${what}`, async () => {
        const run = await runFlotilla(["rollout", ...args], env());
        assert.equal(run.code, 2);
        assert.match(run.err, message);
        assert.match(run.err, usage);
        assert.deepEqual(hub().fleet.calls, []);
      });
    }
  });
});

describe("formatDurationMs", () => {
  it("writes bake times as people write them", () => {
    assert.deepEqual([0, 1_500, 30_000, 60_000, 300_000, 5_400_000, 90_061_000].map(formatDurationMs), [
      "0s",
      "1.5s",
      "30s",
      "1m",
      "5m",
      "1h30m",
      "25h1m1s",
    ]);
  });
});
