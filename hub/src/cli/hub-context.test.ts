import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { ConnectionState } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { GrpcError } from "@flotilla/proto/grpc";
import {
  collectPages,
  contextFilePath,
  describeHubError,
  type HubTarget,
  normalizeHubUrl,
  readContextFile,
  resolveHubTarget,
  writeContextFile,
} from "./hub-context.js";
import { ADMIN_TOKEN, runFlotilla, useFakeHub } from "./use-fake-hub.js";

const OTHER_TOKEN = "fla_other0000000.abcdefghijklmnopqrstuvwxyz012345";

let dir = "";
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "flotilla-hub-context-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("contextFilePath", () => {
  it("prefers FLOTILLA_CONFIG, then XDG_CONFIG_HOME, then ~/.config", () => {
    const env = { HOME: "/home/me", XDG_CONFIG_HOME: "/xdg", FLOTILLA_CONFIG: "/etc/flotilla.yaml" };
    assert.equal(contextFilePath(env), "/etc/flotilla.yaml");
    assert.equal(contextFilePath({ ...env, FLOTILLA_CONFIG: "" }), "/xdg/flotilla/config.yaml");
    assert.equal(contextFilePath({ HOME: "/home/me" }), "/home/me/.config/flotilla/config.yaml");
  });
});

describe("normalizeHubUrl", () => {
  it("reads host:port as https and drops a trailing slash", () => {
    assert.equal(normalizeHubUrl("hub.example:8443", "--hub"), "https://hub.example:8443");
    assert.equal(normalizeHubUrl("https://hub.example:8443/", "--hub"), "https://hub.example:8443");
  });

  it("refuses http, credentials in the URL and non-URLs, naming where the URL came from", () => {
    assert.throws(
      () => normalizeHubUrl("http://hub:80", "FLOTILLA_HUB"),
      /\(from FLOTILLA_HUB\) must be an https/,
    );
    assert.throws(
      () => normalizeHubUrl("https://u:secret@hub", "--hub"),
      (error: Error) => {
        assert.match(error.message, /must not contain a user or password/);
        assert.doesNotMatch(error.message, /secret/);
        return true;
      },
    );
    assert.throws(() => normalizeHubUrl("https://", "--hub"), /is not a URL/);
  });
});

describe("resolveHubTarget", () => {
  let config = "";
  before(async () => {
    config = join(dir, "precedence.yaml");
    await writeContextFile(config, {
      current: "a",
      contexts: {
        a: { hub: "https://hub-a:8443", token: "token-a", ca: "/ca/a.crt" },
        b: { hub: "https://hub-b:8443", token: "token-b", ca: "/ca/b.crt" },
      },
    });
  });

  it("takes everything from the current context when no flag or variable is set", async () => {
    const target = await resolveHubTarget({}, { FLOTILLA_CONFIG: config });
    assert.deepEqual(target, {
      url: "https://hub-a:8443",
      address: "hub-a:8443",
      token: "token-a",
      ca: "/ca/a.crt",
      from: {
        hub: `context "a" in ${config}`,
        token: `context "a" in ${config}`,
        ca: `context "a" in ${config}`,
      },
    });
  });

  it("lets environment variables beat the context and flags beat both, setting by setting", async () => {
    const env = { FLOTILLA_CONFIG: config, FLOTILLA_TOKEN: "token-env", FLOTILLA_CA: "/ca/env.crt" };
    const fromEnv = await resolveHubTarget({}, env);
    assert.deepEqual(
      [fromEnv.url, fromEnv.token, fromEnv.ca],
      ["https://hub-a:8443", "token-env", "/ca/env.crt"],
    );
    assert.deepEqual(fromEnv.from, {
      hub: `context "a" in ${config}`,
      token: "FLOTILLA_TOKEN",
      ca: "FLOTILLA_CA",
    });

    const fromFlags = await resolveHubTarget({ token: "token-flag", ca: "/ca/flag.crt" }, env);
    assert.deepEqual([fromFlags.token, fromFlags.ca], ["token-flag", "/ca/flag.crt"]);
    assert.deepEqual(fromFlags.from, { hub: `context "a" in ${config}`, token: "--token", ca: "--ca" });

    const hubFlag = await resolveHubTarget(
      { hub: "https://flag:1" },
      { ...env, FLOTILLA_HUB: "https://env:1" },
    );
    assert.deepEqual([hubFlag.url, hubFlag.from.hub], ["https://flag:1", "--hub"]);
    const hubEnv = await resolveHubTarget({}, { ...env, FLOTILLA_HUB: "https://env:1" });
    assert.deepEqual([hubEnv.url, hubEnv.from.hub], ["https://env:1", "FLOTILLA_HUB"]);
  });

  it("never sends a context's token to another hub", async () => {
    const target = await resolveHubTarget({ hub: "https://elsewhere:8443" }, { FLOTILLA_CONFIG: config });
    assert.equal(target.token, undefined);
    assert.equal(target.ca, undefined);
  });

  it("uses the context saved for the hub given by flag or variable, even when it is not current", async () => {
    const target = await resolveHubTarget({}, { FLOTILLA_CONFIG: config, FLOTILLA_HUB: "hub-b:8443" });
    assert.deepEqual(
      [target.token, target.ca, target.from.token],
      ["token-b", "/ca/b.crt", `context "b" in ${config}`],
    );
  });

  it("says how to configure a hub when none is", async () => {
    await assert.rejects(
      resolveHubTarget({}, { FLOTILLA_CONFIG: join(dir, "missing.yaml") }),
      /no hub configured: run `flotilla login --hub <url>.*FLOTILLA_HUB/,
    );
  });

  it("names the file when the current context does not exist", async () => {
    const path = join(dir, "dangling.yaml");
    await writeFile(path, "current: gone\ncontexts: {}\n");
    await assert.rejects(
      resolveHubTarget({}, { FLOTILLA_CONFIG: path }),
      new RegExp(`"gone" is not in ${path}`),
    );
  });
});

describe("readContextFile", () => {
  it("names the file and the context of a malformed entry", async () => {
    const path = join(dir, "bad-entry.yaml");
    await writeFile(path, "contexts:\n  prod:\n    token: x\n");
    await assert.rejects(readContextFile(path), new RegExp(`${path}: context "prod": "hub" must be a URL`));
  });

  it("does not quote a token from a file that is not YAML", async () => {
    const path = join(dir, "bad-yaml.yaml");
    await writeFile(path, `contexts:\n  prod: {hub: x, token: ${ADMIN_TOKEN}\n`);
    await assert.rejects(readContextFile(path), (error: Error) => {
      assert.match(error.message, /not valid YAML/);
      assert.ok(!error.message.includes(ADMIN_TOKEN));
      return true;
    });
  });

  it("resolves a relative CA path against the file's directory", async () => {
    const path = join(dir, "sub", "relative.yaml");
    await mkdir(join(dir, "sub"), { recursive: true });
    await writeFile(path, "current: x\ncontexts:\n  x: {hub: 'https://h:1', ca: certs/ca.crt}\n");
    assert.equal((await readContextFile(path)).contexts.x?.ca, join(dir, "sub", "certs", "ca.crt"));
  });
});

describe("describeHubError", () => {
  const target: HubTarget = {
    url: "https://hub:8443",
    address: "hub:8443",
    token: "s3cret-not-token-shaped",
    from: { hub: "--hub", token: "FLOTILLA_TOKEN" },
  };

  it("hides the token even when the hub's message echoes it", () => {
    const text = describeHubError(
      new GrpcError("UNAUTHENTICATED", `bad token s3cret-not-token-shaped and ${ADMIN_TOKEN}`),
      target,
    );
    assert.match(text, /refused the API token from FLOTILLA_TOKEN/);
    assert.ok(!text.includes("s3cret") && !text.includes(ADMIN_TOKEN), text);
  });

  it("shows the hub's message and code for other refusals", () => {
    assert.equal(
      describeHubError(new GrpcError("NOT_FOUND", 'cluster "x" does not exist'), target),
      'cluster "x" does not exist (NOT_FOUND)',
    );
  });
});

describe("collectPages", () => {
  it("stops when the hub repeats a page token", async () => {
    await assert.rejects(
      collectPages("ListClusters", async () => ({ items: [1], nextPageToken: "same" })),
      /ListClusters: the hub returned the same page token twice/,
    );
  });
});

describe("talking to a hub over gRPC and TLS", () => {
  const hubA = useFakeHub((fleet) => {
    fleet.clusters.push({ name: "a-1", connection: ConnectionState.CONNECTED });
    fleet.apiTokens.set(OTHER_TOKEN, { name: "other", role: "admin" });
  });
  const hubB = useFakeHub((fleet) => {
    fleet.clusters.push({ name: "b-1", connection: ConnectionState.CONNECTED });
  });
  let config = "";
  beforeEach(async () => {
    hubA().reset();
    hubB().reset();
    config = join(dir, `context-${Math.random()}.yaml`);
    // The current context's CA is hub B's, so hub A is only trusted when a higher setting wins.
    await writeContextFile(config, {
      current: "a",
      contexts: { a: { hub: hubA().url, token: ADMIN_TOKEN, ca: hubB().caPath } },
    });
  });
  const listed = (run: { out: string }) => run.out.split("\n")[1]?.split(/\s+/)[0];

  it("calls the hub of the flag over the variable over the context, with that setting's token", async () => {
    const env = {
      FLOTILLA_CONFIG: config,
      FLOTILLA_HUB: hubB().url,
      FLOTILLA_TOKEN: ADMIN_TOKEN,
      FLOTILLA_CA: hubB().caPath,
    };
    const viaEnv = await runFlotilla(["cluster", "list"], env);
    assert.equal(viaEnv.code, 0, viaEnv.err);
    assert.equal(listed(viaEnv), "b-1");

    const viaFlags = await runFlotilla(
      ["cluster", "list", "--hub", hubA().url, "--token", OTHER_TOKEN, "--ca", hubA().caPath],
      env,
    );
    assert.equal(viaFlags.code, 0, viaFlags.err);
    assert.equal(listed(viaFlags), "a-1");
    assert.deepEqual(
      hubA().fleet.calls.map((c) => c.authorization),
      [`Bearer ${OTHER_TOKEN}`],
    );
  });

  it("uses the CA of the variable over the context's, and the flag's over both", async () => {
    const wrongCa = await runFlotilla(["cluster", "list"], { FLOTILLA_CONFIG: config });
    assert.equal(wrongCa.code, 1);
    assert.match(wrongCa.err, new RegExp(`cannot reach the hub at 127\\.0\\.0\\.1:${hubA().port} .*TLS`));
    assert.match(wrongCa.err, new RegExp(`is ${hubB().caPath} \\(from context "a" in ${config}\\) the CA`));

    const rightEnv = await runFlotilla(["cluster", "list"], {
      FLOTILLA_CONFIG: config,
      FLOTILLA_CA: hubA().caPath,
    });
    assert.equal(rightEnv.code, 0, rightEnv.err);
    assert.equal(listed(rightEnv), "a-1");

    const wrongFlag = await runFlotilla(["cluster", "list", "--ca", hubB().caPath], {
      FLOTILLA_CONFIG: config,
      FLOTILLA_CA: hubA().caPath,
    });
    assert.equal(wrongFlag.code, 1);
    assert.match(wrongFlag.err, /\(from --ca\)/);
  });

  it("names the address it tried when the hub is unreachable", async () => {
    const port = await closedPort();
    const run = await runFlotilla(["cluster", "list"], {
      FLOTILLA_HUB: `https://127.0.0.1:${port}`,
      FLOTILLA_TOKEN: ADMIN_TOKEN,
      FLOTILLA_CA: hubA().caPath,
    });
    assert.equal(run.code, 1);
    assert.match(run.err, new RegExp(`^flotilla: cannot reach the hub at 127\\.0\\.0\\.1:${port} `));
    assert.equal(run.out, "");
  });

  it("exits 1 on a token the hub refuses, naming where the token came from but never the token", async () => {
    const badToken = "fla_unknown00000.abcdefghijklmnopqrstuvwxyz012345";
    const run = await runFlotilla(["cluster", "list", "--token", badToken], {
      FLOTILLA_CONFIG: config,
      FLOTILLA_CA: hubA().caPath,
    });
    assert.equal(run.code, 1);
    assert.match(
      run.err,
      /refused the API token from --token: API token unknown00000 is not known to this hub/,
    );
    assert.ok(!`${run.out}${run.err}`.includes(badToken));
    assert.ok(!`${run.out}${run.err}`.includes("abcdefghijklmnopqrstuvwxyz012345"));
  });

  it("says a viewer token may not write, naming the token", async () => {
    const { VIEWER_TOKEN } = await import("./use-fake-hub.js");
    const run = await runFlotilla(["cluster", "label", "a-1", "env=prod", "--token", VIEWER_TOKEN], {
      FLOTILLA_CONFIG: config,
      FLOTILLA_CA: hubA().caPath,
    });
    assert.equal(run.code, 1);
    assert.match(run.err, /does not allow this for the API token from --token: token "viewer" is a viewer/);
  });

  it("names the CA file it cannot read and where it was set", async () => {
    const missing = join(dir, "no-such-ca.crt");
    const run = await runFlotilla(["cluster", "list", "--ca", missing], { FLOTILLA_CONFIG: config });
    assert.equal(run.code, 1);
    assert.match(
      run.err,
      new RegExp(`cannot read the hub's CA certificate ${missing} \\(from --ca\\): ENOENT`),
    );
  });

  it("asks for a token when the hub has none configured", async () => {
    const run = await runFlotilla(["status"], { FLOTILLA_HUB: hubA().url, FLOTILLA_CA: hubA().caPath });
    assert.equal(run.code, 1);
    assert.match(
      run.err,
      /no API token for the hub https:\/\/127\.0\.0\.1:\d+ \(from FLOTILLA_HUB\): pass --token/,
    );
    assert.deepEqual(hubA().fleet.calls, []);
  });

  it("exits 1 with the way to configure a hub when none is", async () => {
    const run = await runFlotilla(["status"], { FLOTILLA_CONFIG: join(dir, "none.yaml") });
    assert.equal(run.code, 1);
    assert.match(run.err, /no hub configured: run `flotilla login/);
  });
});

/** A loopback port nothing listens on (bound once, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === "object" && address ? address.port : 0;
}
