import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { ConnectionState } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { parse } from "yaml";
import { ADMIN_TOKEN, runFlotilla, useFakeHub, VIEWER_TOKEN } from "./use-fake-hub.js";

describe("flotilla login", () => {
  const hub = useFakeHub((fleet) => {
    fleet.clusters.push({ name: "edge-1", connection: ConnectionState.CONNECTED });
  });
  let dir = "";
  let env: Record<string, string> = {};
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "flotilla-login-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    hub().reset();
    env = { XDG_CONFIG_HOME: join(dir, `xdg-${Math.random()}`) };
  });
  const configPath = () => join(env.XDG_CONFIG_HOME as string, "flotilla", "config.yaml");

  it("checks the token against the hub, then writes the context file 0600 in a 0700 directory", async () => {
    const ca = relative(process.cwd(), hub().caPath);
    const run = await runFlotilla(["login", "--hub", hub().url, "--token", ADMIN_TOKEN, "--ca", ca], env);
    assert.equal(run.code, 0, run.err);
    const name = new URL(hub().url).host;
    assert.equal(
      run.out,
      `Logged in to ${hub().url}; context "${name}" saved in ${configPath()} and made current.\n`,
    );
    assert.deepEqual(
      hub().fleet.calls.map((c) => [c.method, c.authorization]),
      [["listClusters", `Bearer ${ADMIN_TOKEN}`]],
    );
    assert.equal((await stat(configPath())).mode & 0o777, 0o600);
    assert.equal((await stat(join(env.XDG_CONFIG_HOME as string, "flotilla"))).mode & 0o777, 0o700);
    assert.deepEqual(parse(await readFile(configPath(), "utf8")), {
      current: name,
      contexts: { [name]: { hub: hub().url, token: ADMIN_TOKEN, ca: hub().caPath } },
    });
  });

  it("lets later commands find the hub, token and CA through the saved context alone", async () => {
    const login = await runFlotilla(
      ["login", "--hub", hub().url, "--token", ADMIN_TOKEN, "--ca", hub().caPath, "--name", "lab"],
      env,
    );
    assert.equal(login.code, 0, login.err);
    hub().fleet.calls.length = 0;
    const list = await runFlotilla(["cluster", "list"], env);
    assert.equal(list.code, 0, list.err);
    assert.match(list.out, /^NAME\s+STATE.*\nedge-1\s+Connected\s/);
    assert.deepEqual(
      hub().fleet.calls.map((c) => c.authorization),
      [`Bearer ${ADMIN_TOKEN}`],
    );
  });

  it("reads the token from --token-file and keeps the other contexts", async () => {
    const tokenFile = join(dir, "viewer.token");
    await writeFile(tokenFile, `${VIEWER_TOKEN}\n`);
    const first = await runFlotilla(
      ["login", "--hub", hub().url, "--token", ADMIN_TOKEN, "--ca", hub().caPath, "--name", "admin"],
      env,
    );
    assert.equal(first.code, 0, first.err);
    const second = await runFlotilla(
      ["login", "--hub", hub().url, "--token-file", tokenFile, "--ca", hub().caPath, "--name", "viewer"],
      env,
    );
    assert.equal(second.code, 0, second.err);
    const file = parse(await readFile(configPath(), "utf8"));
    assert.equal(file.current, "viewer");
    assert.deepEqual(Object.keys(file.contexts), ["admin", "viewer"]);
    assert.equal(file.contexts.viewer.token, VIEWER_TOKEN);
    assert.ok(!`${first.out}${first.err}${second.out}${second.err}`.includes(VIEWER_TOKEN));
  });

  it("takes the token and CA from FLOTILLA_TOKEN and FLOTILLA_CA when no flag gives them", async () => {
    const run = await runFlotilla(["login", "--hub", hub().url, "--name", "env"], {
      ...env,
      FLOTILLA_TOKEN: ADMIN_TOKEN,
      FLOTILLA_CA: hub().caPath,
    });
    assert.equal(run.code, 0, run.err);
    assert.deepEqual(parse(await readFile(configPath(), "utf8")).contexts.env, {
      hub: hub().url,
      token: ADMIN_TOKEN,
      ca: hub().caPath,
    });
  });

  it("saves nothing and exits 1 when the hub refuses the token, without printing it", async () => {
    const badToken = "fla_unknown00000.abcdefghijklmnopqrstuvwxyz012345";
    const run = await runFlotilla(
      ["login", "--hub", hub().url, "--token", badToken, "--ca", hub().caPath],
      env,
    );
    assert.equal(run.code, 1);
    assert.match(run.err, /refused the API token from --token: API token unknown00000 is not known/);
    assert.ok(!`${run.out}${run.err}`.includes(badToken));
    await assert.rejects(stat(configPath()), { code: "ENOENT" });
  });

  it("saves nothing when the hub's certificate does not match the CA", async () => {
    const otherCa = join(dir, "other-ca.crt");
    await writeFile(otherCa, await readFile(hub().caPath.replace(/ca\.crt$/, "tls.crt")));
    const run = await runFlotilla(
      ["login", "--hub", hub().url, "--token", ADMIN_TOKEN, "--ca", otherCa],
      env,
    );
    assert.equal(run.code, 1);
    assert.match(run.err, /cannot reach the hub at 127\.0\.0\.1:\d+ .*TLS/);
    await assert.rejects(stat(configPath()), { code: "ENOENT" });
  });

  it("refuses --insecure-skip-tls-verify with exit 2 and says to pin the CA", async () => {
    const run = await runFlotilla(
      ["login", "--hub", hub().url, "--token", ADMIN_TOKEN, "--insecure-skip-tls-verify"],
      env,
    );
    assert.equal(run.code, 2);
    assert.match(
      run.err,
      /--insecure-skip-tls-verify is not offered: .*pass the hub's CA certificate with --ca/,
    );
    const help = await runFlotilla(["login", "--help"], env);
    assert.match(help.out, /There is no --insecure-skip-tls-verify: .*Pin the hub's\s+own CA instead/s);
  });

  describe("usage errors exit 2", () => {
    for (const [what, args, message] of [
      ["no --hub", ["--token", "x"], /--hub is required/],
      ["no token", ["--hub", "https://h:1"], /pass the API token with --token-file or --token/],
      ["both token flags", ["--hub", "https://h:1", "--token", "x", "--token-file", "f"], /not both/],
      ["an http URL", ["--hub", "http://h:1", "--token", "x"], /must be an https:\/\/ URL/],
    ] as const) {
      it(`refuses ${what}`, async () => {
        const run = await runFlotilla(["login", ...args], env);
        assert.equal(run.code, 2);
        assert.match(run.err, message);
        assert.match(run.err, /Usage: flotilla login --hub/);
      });
    }
  });
});
