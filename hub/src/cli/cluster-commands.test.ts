import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { durationMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { HealthStatus, SyncStatus } from "@flotilla/proto/gen/flotilla/v1/app_pb";
import {
  ConnectionState,
  type RotateClusterCredentialRequest,
} from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { ADMIN_TOKEN, runFlotilla, useFakeHub } from "./use-fake-hub.js";

describe("flotilla cluster", () => {
  const hub = useFakeHub((fleet) => {
    fleet.clusters.push(
      {
        name: "edge-1",
        id: "0f3c",
        labels: { env: "prod", region: "eu" },
        connection: ConnectionState.CONNECTED,
        agentVersion: "0.1.0",
        kubeVersion: "v1.31.0",
        serverUrl: "https://10.0.0.1:6443",
        lastSeenAt: timestampFromDate(new Date("2030-01-02T03:04:05Z")),
        apps: { total: 2, synced: 1, healthy: 2 },
      },
      { name: "edge-2", labels: { env: "staging" }, connection: ConnectionState.PENDING },
      { name: "edge-3", labels: { env: "prod" }, connection: ConnectionState.DISCONNECTED },
    );
    fleet.rows.push({
      cluster: "edge-1",
      app: "web",
      syncStatus: SyncStatus.OUT_OF_SYNC,
      healthStatus: HealthStatus.HEALTHY,
      revision: "abcdef0123456789",
      message: "1 object differs",
    });
  });
  const env = () => ({ FLOTILLA_HUB: hub().url, FLOTILLA_TOKEN: ADMIN_TOKEN, FLOTILLA_CA: hub().caPath });
  beforeEach(() => hub().reset());

  it("lists clusters over every page as a table", async () => {
    const run = await runFlotilla(["cluster", "list"], env());
    assert.equal(run.code, 0, run.err);
    assert.equal(
      run.out,
      [
        "NAME    STATE         APPS  SYNCED  HEALTHY  LAST SEEN",
        "edge-1  Connected     2     1       2        2030-01-02T03:04:05Z",
        "edge-2  Pending       0     0       0        -",
        "edge-3  Disconnected  0     0       0        -",
        "",
      ].join("\n"),
    );
  });

  it("filters by selector and prints protobuf JSON with -o json", async () => {
    const run = await runFlotilla(["cluster", "list", "--selector", "env=prod", "-o", "json"], env());
    assert.equal(run.code, 0, run.err);
    const document = JSON.parse(run.out) as {
      clusters: { name: string; connection: string; labels: object }[];
    };
    assert.deepEqual(
      document.clusters.map((c) => [c.name, c.connection]),
      [
        ["edge-1", "CONNECTION_STATE_CONNECTED"],
        ["edge-3", "CONNECTION_STATE_DISCONNECTED"],
      ],
    );
    assert.deepEqual(document.clusters[0]?.labels, { env: "prod", region: "eu" });
  });

  it("adds labels, agent, Kubernetes version and server with -o wide", async () => {
    const run = await runFlotilla(["cluster", "list", "-o", "wide", "--selector", "region=eu"], env());
    assert.match(
      run.out,
      /^NAME\s+STATE\s+APPS\s+SYNCED\s+HEALTHY\s+LAST SEEN\s+LABELS\s+AGENT\s+KUBERNETES\s+SERVER\nedge-1\s+Connected\s+2\s+1\s+2\s+2030-01-02T03:04:05Z\s+env=prod,region=eu\s+0\.1\.0\s+v1\.31\.0\s+https:\/\/10\.0\.0\.1:6443\n$/,
    );
  });

  it("shows one cluster with its apps", async () => {
    const run = await runFlotilla(["cluster", "get", "edge-1"], env());
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /^Name:\s+edge-1\nID:\s+0f3c\nState:\s+Connected\nLabels:\s+env=prod,region=eu\n/);
    assert.match(
      run.out,
      /\n\nAPP\s+SYNC\s+HEALTH\s+REVISION\s+MESSAGE\nweb\s+OutOfSync\s+Healthy\s+abcdef0\s+1 object differs\n$/,
    );
  });

  it("shows the hub's NOT_FOUND message for an unknown cluster and exits 1", async () => {
    const run = await runFlotilla(["cluster", "get", "nope"], env());
    assert.deepEqual(
      [run.code, run.out, run.err],
      [1, "", 'flotilla: cluster "nope" does not exist (NOT_FOUND)\n'],
    );
  });

  it("sets and removes labels in one call: a=b c-", async () => {
    const run = await runFlotilla(["cluster", "label", "edge-1", "tier=web", "region-"], env());
    assert.equal(run.code, 0, run.err);
    assert.equal(run.out, "cluster edge-1 labeled: env=prod,tier=web\n");
    const call = hub().fleet.calls.find((c) => c.method === "labelCluster");
    const request = call?.request as { name: string; set: Record<string, string>; remove: string[] };
    assert.deepEqual([request.name, request.set, request.remove], ["edge-1", { tier: "web" }, ["region"]]);
  });

  it("removes a cluster", async () => {
    const run = await runFlotilla(["cluster", "remove", "edge-3"], env());
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /^cluster edge-3 removed/);
    assert.deepEqual(
      hub().fleet.clusters.map((c) => c.name),
      ["edge-1", "edge-2"],
    );
  });

  it("rotates a credential with a grace period and prints the new credential", async () => {
    const run = await runFlotilla(["cluster", "rotate", "edge-1", "--grace", "10m"], env());
    assert.equal(run.code, 0, run.err);
    assert.equal(run.out, "flc_rotated00000.abcdefghijklmnopqrstuvwxyz012345\n");
    assert.match(
      run.err,
      /the connected agent received the new credential; the previous one works until 2030-01-01T00:10:00Z/,
    );
    const request = hub().fleet.calls.find((c) => c.method === "rotateClusterCredential")
      ?.request as RotateClusterCredentialRequest;
    assert.equal(request.grace && durationMs(request.grace), 600_000);
  });

  it("leaves the grace period to the hub when --grace is not given", async () => {
    await runFlotilla(["cluster", "rotate", "edge-2"], env());
    const request = hub().fleet.calls.find((c) => c.method === "rotateClusterCredential")
      ?.request as RotateClusterCredentialRequest;
    assert.equal(request.grace, undefined);
  });

  describe("usage errors exit 2 before calling the hub", () => {
    for (const [what, args, message] of [
      ["get without a name", ["get"], /the cluster name is required/],
      ["get with two names", ["get", "a", "b"], /unexpected argument 'b'/],
      ["label without changes", ["label", "edge-1"], /give at least one label change/],
      ["label with a bare word", ["label", "edge-1", "a=b", "c"], /label "c" must look like key=value/],
      [
        "rotate with a bad --grace",
        ["rotate", "edge-1", "--grace", "soon"],
        /--grace: "soon" is not a duration/,
      ],
      ["list with an invalid selector", ["list", "--selector", "=x"], /--selector: /],
      ["remove without a name", ["remove"], /the cluster name is required/],
    ] as const) {
      it(`refuses ${what}`, async () => {
        const run = await runFlotilla(["cluster", ...args], env());
        assert.equal(run.code, 2);
        assert.match(run.err, message);
        assert.match(run.err, /Usage: flotilla cluster /);
        assert.deepEqual(hub().fleet.calls, []);
      });
    }
  });
});
