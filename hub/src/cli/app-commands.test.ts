import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { HealthStatus, OperationPhase, SyncStatus } from "@flotilla/proto/gen/flotilla/v1/app_pb";
import {
  ConnectionState,
  type GetAppRequest,
  type ListAppsRequest,
} from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { ADMIN_TOKEN, type FakeFleet, runFlotilla, useFakeHub } from "./use-fake-hub.js";

const SHA1 = "1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SHA2 = "2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

function seedFleet(fleet: FakeFleet): void {
  fleet.clusters.push(
    { name: "c-1", labels: { env: "prod" }, connection: ConnectionState.CONNECTED },
    { name: "c-2", labels: { env: "prod" }, connection: ConnectionState.DISCONNECTED },
    { name: "c-3", labels: { env: "staging" }, connection: ConnectionState.CONNECTED },
  );
  const counts = (total: number, synced: number, healthy: number) => ({ total, synced, healthy });
  fleet.apps.push(
    {
      name: "web",
      project: "default",
      sourceName: "fleet",
      source: { repoUrl: "https://git.example/fleet.git", path: "apps/web", targetRevision: "main" },
      parent: "root",
      counts: counts(3, 1, 2),
      problems: [
        {
          app: "web",
          cluster: "c-2",
          reason: "DeliveryRejected",
          message: "the agent rejected seq 4:\nbundle too large",
        },
      ],
      targets: [
        {
          cluster: "c-3",
          desiredDigest: "d3",
          desiredRevision: SHA2,
        },
        {
          cluster: "c-1",
          desiredDigest: "d1",
          desiredRevision: SHA2,
          ackedDigest: "d1",
          status: {
            app: "web",
            revision: SHA2,
            syncStatus: SyncStatus.SYNCED,
            healthStatus: HealthStatus.HEALTHY,
            operation: { phase: OperationPhase.SUCCEEDED },
            observedAt: timestampFromDate(new Date("2030-01-02T03:04:05.678Z")),
          },
        },
        {
          cluster: "c-2",
          desiredDigest: "d2",
          desiredRevision: SHA2,
          ackedDigest: "d0",
          status: {
            app: "web",
            revision: SHA1,
            syncStatus: SyncStatus.OUT_OF_SYNC,
            healthStatus: HealthStatus.DEGRADED,
            healthMessage: "Pod web-1: CrashLoopBackOff",
            operation: {
              phase: OperationPhase.FAILED,
              message: "apply failed: Deployment/web/web is invalid",
            },
          },
        },
      ],
    },
    { name: "api", project: "backend", sourceName: "fleet", parent: "root", counts: counts(2, 2, 2) },
    { name: "root", project: "default", sourceName: "fleet", counts: counts(0, 0, 0) },
    { name: "db", project: "backend", sourceName: "data", parent: "root", counts: counts(1, 1, 0) },
  );
}

describe("flotilla app", () => {
  const hub = useFakeHub(seedFleet);
  const env = () => ({ FLOTILLA_HUB: hub().url, FLOTILLA_TOKEN: ADMIN_TOKEN, FLOTILLA_CA: hub().caPath });
  const requests = <T>(method: string) =>
    hub()
      .fleet.calls.filter((c) => c.method === method)
      .map((c) => c.request as T);
  beforeEach(() => hub().reset());

  describe("list", () => {
    it("lists every app over all pages as a table, by name", async () => {
      const run = await runFlotilla(["app", "list"], env());
      assert.equal(run.code, 0, run.err);
      assert.equal(
        run.out,
        [
          "NAME  PROJECT  CLUSTERS  PROBLEMS  SOURCE",
          "api   backend  2         0         fleet",
          "db    backend  1         0         data",
          "root  default  0         0         fleet",
          "web   default  3         1         fleet",
          "",
        ].join("\n"),
      );
      assert.equal(requests("listApps").length, 2);
    });

    it("sends --problems and --project to the hub and shows what it returns", async () => {
      const run = await runFlotilla(["app", "list", "--problems", "--project", "backend"], env());
      assert.equal(run.code, 0, run.err);
      assert.match(run.out, /^NAME\s+PROJECT\s+CLUSTERS\s+PROBLEMS\s+SOURCE\ndb\s+backend\s+1\s+0\s+data\n$/);
      const [request] = requests<ListAppsRequest>("listApps");
      assert.deepEqual([request?.problemsOnly, request?.project], [true, "backend"]);
    });

    it("adds the parent, synced and healthy counts and the first problem with -o wide", async () => {
      const run = await runFlotilla(["app", "list", "-o", "wide", "--project", "default"], env());
      assert.equal(run.code, 0, run.err);
      assert.equal(
        run.out,
        [
          "NAME  PROJECT  CLUSTERS  PROBLEMS  SOURCE  PARENT  SYNCED  HEALTHY  FIRST PROBLEM",
          "root  default  0         0         fleet   -       0       0",
          "web   default  3         1         fleet   root    1       2        DeliveryRejected: the agent rejected seq 4: bundle too large",
          "",
        ].join("\n"),
      );
    });

    it("colours problem counts on a terminal", async () => {
      const run = await runFlotilla(["app", "list", "--project", "default"], env(), { isTty: true });
      assert.match(run.out.replaceAll("\u001b", "ESC"), /web\s+default\s+3\s+ESC\[31m1ESC\[0m\s+fleet/);
    });

    it("prints the apps of every page as protobuf JSON with -o json", async () => {
      const run = await runFlotilla(["app", "list", "-o", "json"], env());
      assert.equal(run.code, 0, run.err);
      const document = JSON.parse(run.out) as {
        apps: { name: string; sourceName?: string; counts?: { total?: number } }[];
      };
      assert.deepEqual(
        document.apps.map((app) => [app.name, app.sourceName, app.counts?.total ?? 0]),
        [
          ["api", "fleet", 2],
          ["db", "data", 1],
          ["root", "fleet", 0],
          ["web", "fleet", 3],
        ],
      );
    });

    it("says on stderr when no app matches", async () => {
      const run = await runFlotilla(["app", "list", "--project", "nope"], env());
      assert.deepEqual([run.code, run.out, run.err], [0, "", "No apps match.\n"]);
    });
  });

  describe("get", () => {
    it("shows the app, its problems and one row per cluster", async () => {
      const run = await runFlotilla(["app", "get", "web"], env());
      assert.equal(run.code, 0, run.err);
      assert.equal(
        run.out,
        [
          "Name:      web",
          "Project:   default",
          "Source:    fleet (https://git.example/fleet.git apps/web @ main)",
          "Parent:    root",
          "Clusters:  3 (1 synced, 2 healthy)",
          "Problems:  1",
          "  DeliveryRejected (c-2): the agent rejected seq 4: bundle too large",
          "",
          "CLUSTER  SYNC       HEALTH    DELIVERED  REVISION  MESSAGE",
          "c-1      Synced     Healthy   yes        2222222",
          "c-2      OutOfSync  Degraded  no         1111111   apply failed: Deployment/web/web is invalid",
          "c-3      Unknown    Unknown   no         -         no status reported yet",
          "",
        ].join("\n"),
      );
    });

    it("adds the desired revision, the last sync and the observed time with -o wide", async () => {
      const run = await runFlotilla(["app", "get", "web", "-o", "wide"], env());
      assert.equal(run.code, 0, run.err);
      assert.match(
        run.out,
        /\nCLUSTER\s+SYNC\s+HEALTH\s+DELIVERED\s+REVISION\s+DESIRED\s+LAST SYNC\s+OBSERVED\s+MESSAGE\nc-1\s+Synced\s+Healthy\s+yes\s+2222222\s+2222222\s+Succeeded\s+2030-01-02T03:04:05Z\nc-2\s+OutOfSync\s+Degraded\s+no\s+1111111\s+2222222\s+Failed\s+-\s+apply failed/,
      );
    });

    it("asks only for the clusters given with --cluster (repeated or comma-separated)", async () => {
      const run = await runFlotilla(["app", "get", "web", "--cluster", "c-3,c-1", "--cluster", "c-1"], env());
      assert.equal(run.code, 0, run.err);
      assert.deepEqual(requests<GetAppRequest>("getApp")[0]?.clusters, ["c-3", "c-1"]);
      assert.match(run.out, /\nCLUSTER .*\nc-1 .*\nc-3 .*\n$/);
    });

    it("says so when the app targets no cluster", async () => {
      const run = await runFlotilla(["app", "get", "root"], env());
      assert.equal(run.code, 0, run.err);
      assert.match(run.out, /Problems:\s+none\n\nNo clusters to show\.\n$/);
    });

    it("prints GetAppResponse as protobuf JSON with -o json", async () => {
      const run = await runFlotilla(["app", "get", "web", "-o", "json"], env());
      assert.equal(run.code, 0, run.err);
      const document = JSON.parse(run.out) as {
        app: { name: string; problems: { reason: string }[] };
        targets: { cluster: string; status?: { syncStatus?: string } }[];
      };
      assert.equal(document.app.name, "web");
      assert.deepEqual(
        document.targets.map((t) => [t.cluster, t.status?.syncStatus]),
        [
          ["c-1", "SYNC_STATUS_SYNCED"],
          ["c-2", "SYNC_STATUS_OUT_OF_SYNC"],
          ["c-3", undefined],
        ],
      );
    });

    it("shows the hub's NOT_FOUND message for an unknown app and exits 1", async () => {
      const run = await runFlotilla(["app", "get", "nope"], env());
      assert.deepEqual(
        [run.code, run.out, run.err],
        [1, "", 'flotilla: app "nope" does not exist (NOT_FOUND)\n'],
      );
    });
  });

  describe("usage errors exit 2 before calling the hub", () => {
    for (const [what, args, message] of [
      ["get without a name", ["get"], /the app name is required/],
      ["get with two names", ["get", "web", "api"], /unexpected argument 'api'/],
      ["get with an empty --cluster", ["get", "web", "--cluster", "c-1,"], /--cluster needs a cluster name/],
      ["list with an argument", ["list", "web"], /unexpected argument 'web'/],
      ["list with -o yaml", ["list", "-o", "yaml"], /-o must be one of table, wide, json/],
      ["list with an unknown flag", ["list", "--frob"], /Unknown option '--frob'/],
    ] as const) {
      it(`refuses ${what}`, async () => {
        const run = await runFlotilla(["app", ...args], env());
        assert.equal(run.code, 2);
        assert.match(run.err, message);
        assert.match(run.err, /Usage: flotilla app /);
        assert.deepEqual(hub().fleet.calls, []);
      });
    }
  });
});
