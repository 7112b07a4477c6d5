import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { durationMs } from "@bufbuild/protobuf/wkt";
import type { CreateBootstrapTokenRequest } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { ADMIN_TOKEN, runFlotilla, useFakeHub } from "./use-fake-hub.js";

describe("flotilla cluster token", () => {
  const hub = useFakeHub();
  const env = () => ({ FLOTILLA_HUB: hub().url, FLOTILLA_TOKEN: ADMIN_TOKEN, FLOTILLA_CA: hub().caPath });
  beforeEach(() => hub().reset());

  it("prints exactly the join command on stdout and the token id and expiry on stderr", async () => {
    const run = await runFlotilla(
      [
        "cluster",
        "token",
        "create",
        "--ttl",
        "7d",
        "--uses",
        "3",
        "--label",
        "env=prod",
        "--label",
        "region=eu",
        "--description",
        "edge rollout",
      ],
      env(),
    );
    assert.equal(run.code, 0, run.err);
    assert.equal(
      run.out,
      `flotilla-agent join --hub ${hub().url} --token flb_tok000.abcdefghijklmnopqrstuvwxyz012345 --ca-hash ${hub().caHash}\n`,
    );
    assert.equal(run.err, "bootstrap token tok000 expires 2030-01-08T00:00:00Z (3 use(s))\n");
    const request = hub().fleet.calls[0]?.request as CreateBootstrapTokenRequest;
    assert.equal(request.ttl && durationMs(request.ttl), 7 * 24 * 3_600_000);
    assert.deepEqual(
      [request.maxUses, { ...request.labels }, request.description],
      [3, { env: "prod", region: "eu" }, "edge rollout"],
    );
  });

  it("leaves ttl and uses to the hub's defaults when not given", async () => {
    const run = await runFlotilla(["cluster", "token", "create"], env());
    assert.equal(run.code, 0, run.err);
    assert.match(run.err, /\(unlimited uses\)/);
    const request = hub().fleet.calls[0]?.request as CreateBootstrapTokenRequest;
    assert.deepEqual([request.ttl, request.maxUses], [undefined, 0]);
  });

  it("lists tokens as a table and as JSON, and revokes one by id", async () => {
    await runFlotilla(["cluster", "token", "create", "--description", "first"], env());
    await runFlotilla(["cluster", "token", "create", "--uses", "2", "--label", "env=prod"], env());
    const table = await runFlotilla(["cluster", "token", "list"], env());
    assert.equal(table.code, 0, table.err);
    assert.match(table.out, /^ID\s+STATE\s+USES\s+EXPIRES\s+LABELS\s+CREATED BY\s+DESCRIPTION\n/);
    assert.match(
      table.out,
      /\ntok000\s+(active|expired)\s+0\/unlimited\s+2030-01-01T00:00:00Z\s+-\s+admin\s+first\n/,
    );
    assert.match(table.out, /\ntok001\s+\S+\s+0\/2\s+\S+\s+env=prod\s+admin\s+-\n$/);

    const revoke = await runFlotilla(["cluster", "token", "revoke", "tok000"], env());
    assert.deepEqual([revoke.code, revoke.out], [0, "bootstrap token tok000 revoked\n"]);
    const json = await runFlotilla(["cluster", "token", "list", "-o", "json"], env());
    assert.deepEqual(
      (JSON.parse(json.out) as { tokens: { id: string }[] }).tokens.map((t) => t.id),
      ["tok001"],
    );
    const all = await runFlotilla(["cluster", "token", "list", "--all", "-o", "json"], env());
    assert.deepEqual(
      (JSON.parse(all.out) as { tokens: { id: string; revoked?: boolean }[] }).tokens.map((t) => [
        t.id,
        t.revoked ?? false,
      ]),
      [
        ["tok000", true],
        ["tok001", false],
      ],
    );
  });

  it("shows the hub's message when the token id is unknown", async () => {
    const run = await runFlotilla(["cluster", "token", "revoke", "nope00"], env());
    assert.deepEqual(
      [run.code, run.err],
      [1, 'flotilla: bootstrap token "nope00" does not exist (NOT_FOUND)\n'],
    );
  });

  it("refuses a whole token in place of its id without echoing it", async () => {
    const token = "flb_abc123.abcdefghijklmnopqrstuvwxyz012345";
    const run = await runFlotilla(["cluster", "token", "revoke", token], env());
    assert.equal(run.code, 2);
    assert.match(run.err, /pass the token id \(the part before the dot\), not the whole token/);
    assert.ok(!run.err.includes("abcdefghijklmnopqrstuvwxyz012345"));
  });

  describe("usage errors exit 2 before calling the hub", () => {
    for (const [what, args, message] of [
      ["a ttl that is not a duration", ["--ttl", "soon"], /--ttl: "soon" is not a duration/],
      ["a zero ttl", ["--ttl", "0s"], /--ttl "0s" must be longer than 0/],
      ["negative uses", ["--uses=-1"], /--uses "-1" must be a whole number/],
      ["fractional uses", ["--uses", "2.5"], /--uses "2.5" must be a whole number/],
      ["a label without =", ["--label", "env"], /--label "env" must look like key=value/],
      ["a label removal", ["--label", "env-"], /--label "env-" must look like key=value/],
      ["an invalid label value", ["--label", "env=a b"], /--label "env=a b": value "a b"/],
    ] as const) {
      it(`refuses ${what}`, async () => {
        const run = await runFlotilla(["cluster", "token", "create", ...args], env());
        assert.equal(run.code, 2);
        assert.match(run.err, message);
        assert.match(run.err, /Usage: flotilla cluster token create/);
        assert.deepEqual(hub().fleet.calls, []);
      });
    }
  });
});
