import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { durationFromMs, durationMs } from "@bufbuild/protobuf/wkt";
import type { AddSourceRequest, RefreshRequest } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { ADMIN_TOKEN, runFlotilla, useFakeHub } from "./use-fake-hub.js";

describe("flotilla source and refresh", () => {
  const hub = useFakeHub((fleet) => {
    fleet.sources.push({
      name: "platform",
      repoUrl: "https://git.example/platform.git",
      path: "apps",
      revision: "0123456789abcdef",
      appCount: 4,
      pollInterval: durationFromMs(60_000),
    });
  });
  const env = () => ({ FLOTILLA_HUB: hub().url, FLOTILLA_TOKEN: ADMIN_TOKEN, FLOTILLA_CA: hub().caPath });
  beforeEach(() => hub().reset());

  it("adds a source with repository, path, revision and poll interval", async () => {
    const run = await runFlotilla(
      [
        "source",
        "add",
        "fleet",
        "--repo",
        "https://git.example/fleet.git",
        "--path",
        "clusters",
        "--revision",
        "main",
        "--poll-interval",
        "2m",
      ],
      env(),
    );
    assert.equal(run.code, 0, run.err);
    assert.equal(run.out, "source fleet added: https://git.example/fleet.git path clusters at main\n");
    const request = hub().fleet.calls[0]?.request as AddSourceRequest;
    assert.deepEqual(
      [request.name, request.repoUrl, request.path, request.targetRevision],
      ["fleet", "https://git.example/fleet.git", "clusters", "main"],
    );
    assert.equal(request.pollInterval && durationMs(request.pollInterval), 120_000);
  });

  it("shows the hub's ALREADY_EXISTS message and exits 1", async () => {
    const run = await runFlotilla(["source", "add", "platform", "--repo", "https://x/y.git"], env());
    assert.deepEqual(
      [run.code, run.err],
      [1, 'flotilla: source "platform" already exists (ALREADY_EXISTS)\n'],
    );
  });

  it("lists sources as a table and as JSON", async () => {
    const table = await runFlotilla(["source", "list"], env());
    assert.equal(table.code, 0, table.err);
    assert.equal(
      table.out,
      [
        "NAME      REPO                              PATH  REVISION  COMMIT   APPS  POLL  FETCHED  ERROR",
        "platform  https://git.example/platform.git  apps  HEAD      0123456  4     60s   -",
        "",
      ].join("\n"),
    );
    const json = await runFlotilla(["source", "list", "-o", "json"], env());
    assert.deepEqual(JSON.parse(json.out), {
      sources: [
        {
          name: "platform",
          repoUrl: "https://git.example/platform.git",
          path: "apps",
          pollInterval: "60s",
          revision: "0123456789abcdef",
          appCount: 4,
        },
      ],
    });
  });

  it("removes a source, and reports an unknown one with exit 1", async () => {
    const removed = await runFlotilla(["source", "remove", "platform"], env());
    assert.deepEqual([removed.code, removed.out], [0, "source platform removed\n"]);
    const again = await runFlotilla(["source", "remove", "platform"], env());
    assert.deepEqual(
      [again.code, again.err],
      [1, 'flotilla: source "platform" does not exist (NOT_FOUND)\n'],
    );
  });

  it("refreshes one source, hard, and prints what it fetched", async () => {
    const run = await runFlotilla(["refresh", "--source", "platform", "--hard"], env());
    assert.equal(run.code, 0, run.err);
    assert.match(
      run.out,
      /^NAME\s+REPO.*\nplatform\s+https:\/\/git\.example\/platform\.git\s+apps\s+HEAD\s+0123456\s/,
    );
    assert.match(run.out, /\n3 target\(s\) changed\n$/);
    const request = hub().fleet.calls[0]?.request as RefreshRequest;
    assert.deepEqual([request.source, request.hard], ["platform", true]);
  });

  it("exits 1 and names the source when a refreshed source reports an error", async () => {
    hub().fleet.refreshErrors.set("platform", "git fetch: authentication required");
    const run = await runFlotilla(["refresh"], env());
    assert.equal(run.code, 1);
    assert.equal(run.err, "flotilla: source platform: git fetch: authentication required\n");
  });

  describe("usage errors exit 2 before calling the hub", () => {
    for (const [what, args, message] of [
      ["add without --repo", ["source", "add", "x"], /--repo is required/],
      ["add without a name", ["source", "add", "--repo", "https://x/y.git"], /the source name is required/],
      [
        "add with a bad poll interval",
        ["source", "add", "x", "--repo", "r", "--poll-interval", "often"],
        /--poll-interval: "often" is not a duration/,
      ],
      ["list with an unknown output", ["source", "list", "-o", "wide"], /-o must be one of table, json/],
      ["refresh with a stray argument", ["refresh", "platform"], /unexpected argument 'platform'/],
    ] as const) {
      it(`refuses ${what}`, async () => {
        const run = await runFlotilla([...args], env());
        assert.equal(run.code, 2);
        assert.match(run.err, message);
        assert.match(run.err, /Usage: flotilla /);
        assert.deepEqual(hub().fleet.calls, []);
      });
    }
  });
});
