import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { ConnectionState, type SyncRequest } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { ADMIN_TOKEN, type FakeFleet, runFlotilla, useFakeHub, VIEWER_TOKEN } from "./use-fake-hub.js";

function seedFleet(fleet: FakeFleet): void {
  fleet.clusters.push(
    { name: "c-1", labels: { env: "prod" }, connection: ConnectionState.CONNECTED },
    { name: "c-2", labels: { env: "prod" }, connection: ConnectionState.DISCONNECTED },
    { name: "c-3", labels: { env: "staging" }, connection: ConnectionState.CONNECTED },
  );
  fleet.apps.push({
    name: "web",
    targets: [{ cluster: "c-1" }, { cluster: "c-2" }, { cluster: "c-3" }],
  });
}

describe("flotilla sync", () => {
  const hub = useFakeHub(seedFleet);
  const env = (token = ADMIN_TOKEN) => ({
    FLOTILLA_HUB: hub().url,
    FLOTILLA_TOKEN: token,
    FLOTILLA_CA: hub().caPath,
  });
  const syncRequests = () =>
    hub()
      .fleet.calls.filter((c) => c.method === "sync")
      .map((c) => c.request as SyncRequest);
  beforeEach(() => hub().reset());

  it("prints the request id and whether each cluster's agent got it", async () => {
    const run = await runFlotilla(["sync", "web"], env());
    assert.equal(run.code, 0, run.err);
    assert.equal(run.err, "");
    assert.equal(
      run.out,
      [
        "sync of app web requested: request id req-1",
        "c-1: sent",
        "c-2: not sent: cluster disconnected; the sync runs when its agent reconnects",
        "c-3: sent",
        "",
      ].join("\n"),
    );
    const [request] = syncRequests();
    assert.deepEqual(
      [request?.app, request?.clusters, request?.selector, request?.prune, request?.force, request?.dryRun],
      ["web", [], "", false, false, false],
    );
  });

  it("sends clusters, selector, prune, force and dry run, and names the options it asked for", async () => {
    const run = await runFlotilla(
      [
        "sync",
        "web",
        "--cluster",
        "c-2,c-3",
        "--cluster",
        "c-1",
        "--selector",
        "env=prod",
        "--prune",
        "--force",
        "--dry-run",
      ],
      env(),
    );
    assert.equal(run.code, 0, run.err);
    const [request] = syncRequests();
    assert.deepEqual(
      [request?.clusters, request?.selector, request?.prune, request?.force, request?.dryRun],
      [["c-2", "c-3", "c-1"], "env=prod", true, true, true],
    );
    assert.equal(
      run.out,
      "sync of app web requested (dry run, prune, force): request id req-1\nc-2: not sent: cluster disconnected; the sync runs when its agent reconnects\nc-1: sent\n",
    );
  });

  it("exits 0 and says so on stderr when no cluster matches", async () => {
    const run = await runFlotilla(["sync", "web", "--selector", "env=dev"], env());
    assert.equal(run.code, 0, run.err);
    assert.equal(run.out, "sync of app web requested: request id req-1\n");
    assert.equal(run.err, "No cluster of app web matches; nothing was sent.\n");
  });

  it("shows the hub's NOT_FOUND message for an unknown app and exits 1", async () => {
    const run = await runFlotilla(["sync", "nope"], env());
    assert.deepEqual(
      [run.code, run.out, run.err],
      [1, "", 'flotilla: app "nope" does not exist (NOT_FOUND)\n'],
    );
  });

  it("explains a refused write for a viewer's token and exits 1", async () => {
    const run = await runFlotilla(["sync", "web"], env(VIEWER_TOKEN));
    assert.equal(run.code, 1);
    assert.match(
      run.err,
      /does not allow this for the API token from FLOTILLA_TOKEN: token "viewer" is a viewer/,
    );
    assert.doesNotMatch(run.err, /abcdefghijklmnop/);
  });

  describe("usage errors exit 2 before calling the hub", () => {
    for (const [what, args, message] of [
      ["no app", [], /the app name is required/],
      ["two apps", ["web", "api"], /unexpected argument 'api'/],
      ["an invalid selector", ["web", "--selector", "=x"], /--selector: /],
      ["an empty --cluster", ["web", "--cluster", ""], /--cluster needs a cluster name/],
      ["an unknown flag", ["web", "--now"], /Unknown option '--now'/],
    ] as const) {
      it(`refuses ${what}`, async () => {
        const run = await runFlotilla(["sync", ...args], env());
        assert.equal(run.code, 2);
        assert.match(run.err, message);
        assert.match(run.err, /Usage: flotilla sync <app>/);
        assert.deepEqual(hub().fleet.calls, []);
      });
    }
  });
});
