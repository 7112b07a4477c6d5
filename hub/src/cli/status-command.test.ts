import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { HealthStatus, SyncStatus } from "@flotilla/proto/gen/flotilla/v1/app_pb";
import { ConnectionState } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import type { StatusDocument } from "./status-command.js";
import { ADMIN_TOKEN, type FakeFleet, runFlotilla, useFakeHub } from "./use-fake-hub.js";

const SHA1 = "1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SHA2 = "2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const SEEN = new Date("2030-01-02T03:04:05.000Z");

function seedFleet(fleet: FakeFleet): void {
  fleet.clusters.push(
    {
      name: "c-4",
      labels: { env: "staging" },
      connection: ConnectionState.DISCONNECTED,
      lastSeenAt: timestampFromDate(SEEN),
    },
    {
      name: "c-1",
      labels: { env: "prod", tier: "web" },
      connection: ConnectionState.CONNECTED,
      lastSeenAt: timestampFromDate(SEEN),
    },
    {
      name: "c-2",
      labels: { env: "prod" },
      connection: ConnectionState.STALE,
      lastSeenAt: timestampFromDate(SEEN),
    },
    { name: "c-3", labels: { env: "staging" }, connection: ConnectionState.PENDING },
  );
  const row = (
    cluster: string,
    app: string,
    sync: SyncStatus,
    health: HealthStatus,
    revision: string,
    message = "",
  ) => ({
    cluster,
    app,
    syncStatus: sync,
    healthStatus: health,
    revision,
    message,
  });
  fleet.rows.push(
    row("c-1", "base", SyncStatus.SYNCED, HealthStatus.HEALTHY, SHA2),
    row(
      "c-1",
      "web",
      SyncStatus.OUT_OF_SYNC,
      HealthStatus.PROGRESSING,
      SHA1,
      "Deployment/web/web: 1 of 3\nreplicas updated",
    ),
    row("c-2", "base", SyncStatus.SYNCED, HealthStatus.HEALTHY, SHA2),
    row("c-2", "web", SyncStatus.SYNCED, HealthStatus.DEGRADED, SHA2, "Pod web-1: CrashLoopBackOff"),
    row("c-4", "base", SyncStatus.UNKNOWN, HealthStatus.UNKNOWN, ""),
  );
}

describe("flotilla status", () => {
  const hub = useFakeHub(seedFleet);
  const env = () => ({ FLOTILLA_HUB: hub().url, FLOTILLA_TOKEN: ADMIN_TOKEN, FLOTILLA_CA: hub().caPath });
  beforeEach(() => hub().reset());

  it("prints the -o json document exactly, reading every page of clusters and rows", async () => {
    const run = await runFlotilla(["status", "-o", "json"], env());
    assert.equal(run.code, 0, run.err);
    assert.equal(run.err, "");
    const document = JSON.parse(run.out) as StatusDocument;
    const seen = SEEN.toISOString();
    assert.deepEqual(document, {
      clusters: [
        {
          name: "c-1",
          labels: { env: "prod", tier: "web" },
          state: "Connected",
          lastSeen: seen,
          apps: [
            { name: "base", sync: "Synced", health: "Healthy", revision: SHA2, message: "" },
            {
              name: "web",
              sync: "OutOfSync",
              health: "Progressing",
              revision: SHA1,
              message: "Deployment/web/web: 1 of 3\nreplicas updated",
            },
          ],
        },
        {
          name: "c-2",
          labels: { env: "prod" },
          state: "Disconnected",
          lastSeen: seen,
          apps: [
            { name: "base", sync: "Synced", health: "Healthy", revision: SHA2, message: "" },
            {
              name: "web",
              sync: "Synced",
              health: "Degraded",
              revision: SHA2,
              message: "Pod web-1: CrashLoopBackOff",
            },
          ],
        },
        { name: "c-3", labels: { env: "staging" }, state: "Pending", lastSeen: null, apps: [] },
        {
          name: "c-4",
          labels: { env: "staging" },
          state: "Disconnected",
          lastSeen: seen,
          apps: [{ name: "base", sync: "Unknown", health: "Unknown", revision: "", message: "" }],
        },
      ],
    });
    const methods = hub().fleet.calls.map((c) => c.method);
    assert.deepEqual(methods, [
      "listClusters",
      "listClusters",
      "getFleetStatus",
      "getFleetStatus",
      "getFleetStatus",
    ]);
  });

  it("sends the selector and filters on every page and leaves out clusters without a matching app", async () => {
    const run = await runFlotilla(
      [
        "status",
        "-o",
        "json",
        "--selector",
        "env in (prod,staging)",
        "--app",
        "base",
        "--sync",
        "synced,unknown",
      ],
      env(),
    );
    assert.equal(run.code, 0, run.err);
    const document = JSON.parse(run.out) as StatusDocument;
    assert.deepEqual(
      document.clusters.map((c) => [c.name, c.apps.map((a) => a.name)]),
      [
        ["c-1", ["base"]],
        ["c-2", ["base"]],
        ["c-4", ["base"]],
      ],
    );
    const statusCalls = hub().fleet.calls.filter((c) => c.method === "getFleetStatus");
    assert.equal(statusCalls.length, 2);
    for (const call of statusCalls) {
      const request = call.request as { selector: string; app: string; sync: number[]; health: number[] };
      assert.deepEqual(
        [request.selector, request.app, request.sync, request.health],
        ["env in (prod,staging)", "base", [SyncStatus.SYNCED, SyncStatus.UNKNOWN], []],
      );
    }
  });

  it("shows only rows that need attention with --problems and --health", async () => {
    const problems = JSON.parse(
      (await runFlotilla(["status", "-o", "json", "--problems"], env())).out,
    ) as StatusDocument;
    assert.deepEqual(
      problems.clusters.map((c) => [c.name, c.apps.map((a) => a.name)]),
      [
        ["c-1", ["web"]],
        ["c-2", ["web"]],
        ["c-4", ["base"]],
      ],
    );
    const degraded = JSON.parse(
      (await runFlotilla(["status", "-o", "json", "--health", "Degraded"], env())).out,
    );
    assert.deepEqual(degraded, {
      clusters: [
        {
          name: "c-2",
          labels: { env: "prod" },
          state: "Disconnected",
          lastSeen: SEEN.toISOString(),
          apps: [
            {
              name: "web",
              sync: "Synced",
              health: "Degraded",
              revision: SHA2,
              message: "Pod web-1: CrashLoopBackOff",
            },
          ],
        },
      ],
    });
  });

  it("prints aligned columns with a short revision and one-line messages", async () => {
    const run = await runFlotilla(["status"], env());
    assert.equal(run.code, 0, run.err);
    assert.equal(
      run.out,
      [
        "CLUSTER  STATE         APP   SYNC       HEALTH       REVISION  MESSAGE",
        "c-1      Connected     base  Synced     Healthy      2222222",
        "c-1      Connected     web   OutOfSync  Progressing  1111111   Deployment/web/web: 1 of 3 replicas updated",
        "c-2      Disconnected  base  Synced     Healthy      2222222",
        "c-2      Disconnected  web   Synced     Degraded     2222222   Pod web-1: CrashLoopBackOff",
        "c-3      Pending       -",
        "c-4      Disconnected  base  Unknown    Unknown      -",
        "",
      ].join("\n"),
    );
  });

  it("adds labels and last seen with -o wide", async () => {
    const run = await runFlotilla(["status", "-o", "wide", "--selector", "tier=web"], env());
    assert.equal(run.code, 0, run.err);
    const lines = run.out.split("\n");
    assert.match(
      lines[0] ?? "",
      /^CLUSTER\s+STATE\s+APP\s+SYNC\s+HEALTH\s+REVISION\s+LABELS\s+LAST SEEN\s+MESSAGE$/,
    );
    assert.match(
      lines[1] ?? "",
      /^c-1\s+Connected\s+base\s+Synced\s+Healthy\s+2222222\s+env=prod,tier=web\s+2030-01-02T03:04:05Z$/,
    );
    assert.equal(lines.length, 4);
  });

  it("colours states only on a terminal without NO_COLOR", async () => {
    const tty = await runFlotilla(["status"], env(), { isTty: true });
    const esc = `${String.fromCharCode(27)}[`;
    assert.ok(tty.out.includes(`${esc}32mConnected${esc}0m`), tty.out);
    assert.ok(tty.out.includes(`${esc}31mDegraded${esc}0m`), tty.out);
    const plainLength = (await runFlotilla(["status"], env())).out.split("\n")[1]?.length;
    assert.equal(
      tty.out
        .split("\n")[1]
        ?.split(esc)
        .map((part, i) => (i === 0 ? part : part.replace(/^\d+m/, "")))
        .join("").length,
      plainLength,
    );
    const noColour = await runFlotilla(["status"], { ...env(), NO_COLOR: "1" }, { isTty: true });
    assert.ok(!noColour.out.includes(esc));
    const piped = await runFlotilla(["status"], env(), { isTty: false });
    assert.ok(!piped.out.includes(esc));
  });

  it("says so on stderr when nothing matches", async () => {
    const run = await runFlotilla(["status", "--app", "nope"], env());
    assert.deepEqual([run.code, run.out, run.err], [0, "", "No apps match.\n"]);
  });

  describe("usage errors exit 2 before calling the hub", () => {
    for (const [what, args, message] of [
      [
        "an unknown health",
        ["--health", "Sick"],
        /--health "Sick" is not one of Healthy, Progressing, Degraded, Suspended, Missing, Unknown$/m,
      ],
      ["an unknown sync", ["--sync", "later"], /--sync "later" is not one of/],
      ["an invalid selector", ["--selector", "env in (prod"], /--selector: /],
      ["an unknown output", ["-o", "yaml"], /-o must be one of table, wide, json/],
      ["a stray argument", ["extra"], /unexpected argument 'extra'/],
      ["an unknown flag", ["--frobnicate"], /frobnicate/],
    ] as const) {
      it(`refuses ${what}`, async () => {
        const run = await runFlotilla(["status", ...args], env());
        assert.equal(run.code, 2);
        assert.match(run.err, message);
        assert.match(run.err, /Usage: flotilla status/);
        assert.deepEqual(hub().fleet.calls, []);
      });
    }
  });
});
