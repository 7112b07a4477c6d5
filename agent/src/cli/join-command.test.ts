import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it, type TestContext } from "node:test";
import { gzipSync } from "node:zlib";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { DesiredAppSchema } from "@flotilla/proto/gen/flotilla/v1/app_pb";
import { HealthStatus } from "@flotilla/proto/gen/flotilla/v1/app_pb";
import { GrpcError } from "@flotilla/proto/grpc";
import { createTestTls, type TestTls } from "@flotilla/proto/test-tls";
import { createFileStateStore } from "../desired/state-store.js";
import { type FakeConnection, type FakeHub, useFakeHub } from "../hub/fake-hub.js";
import { caHashOf, joinHub } from "../hub/join.js";
import { createFakePlatform, type FakePlatform, startCommand } from "./fake-platform.js";
import { invokeCommand } from "./invoke-command.js";
import { joinUsage, runJoinCommand } from "./join-command.js";

const timeout = 20_000;
const token = "flb_abc123.s3cr3t-bootstrap";
let tls: TestTls;

before(async () => {
  tls = await createTestTls();
});

async function useWorkDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "flotilla-join-command-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** `flotilla-agent join` as main.ts runs it, on `platform`; stopped when the test ends. */
function startJoin(t: TestContext, platform: FakePlatform, argv: string[], env: Record<string, string> = {}) {
  const command = startCommand(
    (args, io) => invokeCommand("join", joinUsage, (a, i) => runJoinCommand(a, i, platform), args, io),
    argv,
    env,
  );
  t.after(() => command.stop());
  return command;
}

/** The flags of the join command the hub prints, pointed at the fake hub and a state file. */
function joinArgs(hub: FakeHub, statePath: string): string[] {
  return [
    "--hub",
    hub.hubUrl,
    "--grpc-address",
    hub.grpcAddress,
    "--ca-hash",
    caHashOf(tls.caPem),
    "--kubeconfig",
    "unused-by-the-fake-platform",
    "--state-file",
    statePath,
  ];
}

function desiredApp(name: string): MessageInitShape<typeof DesiredAppSchema> {
  const json = Buffer.from(
    JSON.stringify([{ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "web" } }]),
  );
  return {
    name,
    namespace: "web",
    revision: "rev-1",
    digest: `sha256:${name}-1`,
    bundleDigest: `sha256:${createHash("sha256").update(json).digest("hex")}`,
    bundleEncoding: "gzip+json",
    objectCount: 1,
    bundle: gzipSync(json),
  };
}

/** Accepts the next stream: reads Hello, answers Welcome followed by `backlog` upserts. */
async function welcome(hub: FakeHub, backlog: MessageInitShape<typeof DesiredAppSchema>[] = []) {
  const connection = await hub.nextConnection();
  const hello = await connection.next("hello");
  await connection.send({
    body: {
      case: "welcome",
      value: {
        clusterName: hello.clusterName,
        heartbeatIntervalMs: 60_000,
        resume: { latestSeq: BigInt(backlog.length), backlog: backlog.length },
      },
    },
  });
  for (const [i, app] of backlog.entries()) await upsert(connection, BigInt(i + 1), app);
  return { connection, hello };
}

function upsert(connection: FakeConnection, seq: bigint, app: MessageInitShape<typeof DesiredAppSchema>) {
  return connection.send({ body: { case: "upsert", value: { seq, app } } });
}

describe("flotilla-agent join", () => {
  it("registers under the kubeconfig's cluster name, then applies what the hub sends and reports its status", {
    timeout,
  }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const dir = await useWorkDir(t);
    const tokenFile = join(dir, "token");
    await writeFile(tokenFile, `${token}\n`);
    const platform = createFakePlatform({ clusterName: "kind-edge" });
    const statePath = join(dir, "state.json.gz");
    const agent = startJoin(t, platform, [
      ...joinArgs(hub, statePath),
      "--token-file",
      tokenFile,
      "--label",
      "env=prod",
    ]);

    const { connection, hello } = await welcome(hub);
    assert.equal(hello.clusterName, "kind-edge");
    assert.equal(connection.authorization, "Bearer cred-1");
    await upsert(connection, 1n, desiredApp("web"));
    const ack = await connection.next("ack");
    assert.deepEqual([ack.seq, ack.app, ack.accepted], [1n, "web", true]);
    const report = await connection.next("appStatus");
    assert.deepEqual([report.app, report.healthStatus], ["web", HealthStatus.HEALTHY]);

    assert.equal(await agent.stop(), 0);
    const [register] = hub.registerCalls;
    assert.equal(register?.bootstrapToken, token);
    assert.equal(register?.clusterName, "kind-edge");
    assert.deepEqual(register?.labels, { env: "prod" });
    assert.match(
      agent.stderr(),
      new RegExp(`^joined hub ${hub.hubUrl} as cluster kind-edge \\(id c-1\\)$`, "m"),
    );
    assert.match(agent.stderr(), /"msg":"agent running"/);
    assert.doesNotMatch(agent.stdout() + agent.stderr(), /s3cr3t/);
    const state = await createFileStateStore(statePath).load();
    assert.equal(state.identity?.clusterName, "kind-edge");
    assert.equal(state.apps.web?.seq, 1);
  });

  it("takes the token from FLOTILLA_JOIN_TOKEN and the name from FLOTILLA_CLUSTER_NAME with --in-cluster", {
    timeout,
  }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const dir = await useWorkDir(t);
    const args = joinArgs(hub, join(dir, "state.json.gz")).filter(
      (arg) => arg !== "--kubeconfig" && arg !== "unused-by-the-fake-platform",
    );
    const agent = startJoin(t, createFakePlatform(), [...args, "--in-cluster"], {
      FLOTILLA_JOIN_TOKEN: token,
      FLOTILLA_CLUSTER_NAME: "edge-7",
    });
    const { hello } = await welcome(hub);
    assert.equal(hello.clusterName, "edge-7");
    assert.equal(hub.registerCalls[0]?.bootstrapToken, token);
    assert.equal(await agent.stop(), 0);
  });

  it("skips Register when the store holds the identity for that hub, CA and name, and needs no token", {
    timeout,
  }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const dir = await useWorkDir(t);
    const statePath = join(dir, "state.json.gz");
    const platform = createFakePlatform({ clusterName: "kind-edge" });
    await joinHub({
      hubUrl: hub.hubUrl,
      grpcAddress: hub.grpcAddress,
      token,
      caHash: caHashOf(tls.caPem),
      clusterName: "kind-edge",
      kube: platform.kube,
      store: createFileStateStore(statePath),
    });

    const agent = startJoin(t, platform, joinArgs(hub, statePath));
    const { connection } = await welcome(hub);
    assert.equal(connection.authorization, "Bearer cred-1");
    assert.equal(await agent.stop(), 0);
    assert.equal(hub.registerCalls.length, 1, "only the join before this command registered");
    assert.match(agent.stderr(), /already joined hub .* as cluster kind-edge; not registering again/);

    // Another name is another cluster: that needs a Register, hence a token.
    const renamed = startJoin(t, platform, [...joinArgs(hub, statePath), "--name", "edge-2"]);
    assert.equal(await renamed.done, 2);
    assert.match(
      renamed.stderr(),
      /holds no identity for hub .* as cluster edge-2: give the bootstrap token/,
    );
    assert.equal(hub.registerCalls.length, 1);
  });

  it("with --once, waits for the hub's backlog, prints the reconciled apps and exits 0", {
    timeout,
  }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const dir = await useWorkDir(t);
    const platform = createFakePlatform({ clusterName: "kind-edge" });
    const agent = startJoin(t, platform, [
      ...joinArgs(hub, join(dir, "state.json.gz")),
      "--token",
      token,
      "--once",
      "-o",
      "json",
    ]);
    const { connection } = await welcome(hub, [desiredApp("web"), desiredApp("api")]);

    assert.equal(await agent.done, 0, agent.stderr());
    const printed = JSON.parse(agent.stdout()) as { apps: { name: string; sync: string; health: string }[] };
    assert.deepEqual(printed.apps.map((app) => [app.name, app.sync, app.health]).sort(), [
      ["api", "Synced", "Healthy"],
      ["web", "Synced", "Healthy"],
    ]);
    // The statuses were sent before the agent exited.
    const reported = [await connection.next("appStatus"), await connection.next("appStatus")];
    assert.deepEqual(reported.map((r) => r.app).sort(), ["api", "web"]);
  });

  it("with --once, exits 1 when an app is not Healthy", { timeout }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const dir = await useWorkDir(t);
    const platform = createFakePlatform({
      clusterName: "kind-edge",
      healthOf: (app) => (app === "api" ? "Degraded" : "Healthy"),
    });
    const agent = startJoin(t, platform, [
      ...joinArgs(hub, join(dir, "state.json.gz")),
      "--token",
      token,
      "--once",
    ]);
    await welcome(hub, [desiredApp("web"), desiredApp("api")]);
    assert.equal(await agent.done, 1);
    assert.match(agent.stdout(), /^app api: Synced, Degraded$/m);
  });

  it("with --once, exits 1 when the hub delivers nothing within --timeout", { timeout }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const dir = await useWorkDir(t);
    const agent = startJoin(t, createFakePlatform({ clusterName: "kind-edge" }), [
      ...joinArgs(hub, join(dir, "state.json.gz")),
      "--token",
      token,
      "--once",
      "--timeout",
      "300ms",
    ]);
    const connection = await hub.nextConnection();
    await connection.next("hello"); // and no Welcome
    assert.equal(await agent.done, 1);
    assert.match(agent.stderr(), /the desired state did not arrive within 300 ms/);
  });

  it("exits 1 when the hub refuses the token, saying to create a new one, without printing it", {
    timeout,
  }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const dir = await useWorkDir(t);
    hub.register = () => {
      throw new GrpcError("UNAUTHENTICATED", "token expired");
    };
    const agent = startJoin(t, createFakePlatform({ clusterName: "kind-edge" }), [
      ...joinArgs(hub, join(dir, "state.json.gz")),
      "--token",
      token,
    ]);
    assert.equal(await agent.done, 1);
    assert.match(
      agent.stderr(),
      /^flotilla-agent join: hub \S+ refused the bootstrap token \(token expired\).*flotilla cluster token create/m,
    );
    assert.doesNotMatch(agent.stderr(), /Usage:/);
    assert.doesNotMatch(agent.stdout() + agent.stderr(), /s3cr3t/);
  });

  it("exits 1 when the hub refuses the stored credential, saying to create a new token and join again", {
    timeout,
  }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const dir = await useWorkDir(t);
    const statePath = join(dir, "state.json.gz");
    const platform = createFakePlatform({ clusterName: "kind-edge" });
    const args = [...joinArgs(hub, statePath), "--token", token];
    const first = startJoin(t, platform, args);
    await welcome(hub);
    assert.equal(await first.stop(), 0);

    hub.credentials.clear(); // the cluster was deleted on the hub, or its credential revoked
    const second = startJoin(t, platform, args);
    assert.equal(await second.done, 1);
    assert.match(
      second.stderr(),
      /refused cluster kind-edge \(UNAUTHENTICATED.*create a new token.*join again/,
    );
    assert.doesNotMatch(second.stdout() + second.stderr(), /s3cr3t/);
  });

  it("refuses a wrong command line with exit code 2 and the usage, before doing anything", async () => {
    const platform = createFakePlatform({ clusterName: "kind-edge" });
    platform.connectKube = () => {
      throw new Error("the command line was accepted");
    };
    const hash = `sha256:${"a".repeat(64)}`;
    const base = ["--ca-hash", hash, "--token", token, "--kubeconfig", "k"];
    const cases: [string[], RegExp][] = [
      [["--ca-hash", hash, "--token", token, "--kubeconfig", "k"], /--hub <url> is required/],
      [["--hub", "http://hub:8443", ...base], /--hub "http:\/\/hub:8443" must be an https:\/\/ URL/],
      [["--hub", "https://user:pw@hub", ...base], /--hub must not carry credentials/],
      [["--hub", "https://hub", "--token", token, "--kubeconfig", "k"], /--ca-hash sha256:<hex> is required/],
      [
        ["--hub", "https://hub", ...base, "--ca-hash", "sha256:abc"],
        /--ca-hash "sha256:abc" is not sha256:<64 hex/,
      ],
      [["--hub", "https://hub", ...base, "--token-file", "f"], /at most one of --token or --token-file/],
      [["--hub", "https://hub", ...base, "--label", "=x"], /--label "=x" is not key=value/],
      [["--hub", "https://hub", ...base, "--grpc-address", "hub"], /--grpc-address "hub" is not host:port/],
      [
        ["--hub", "https://hub", "--ca-hash", hash, "--token", token, "--in-cluster"],
        /--in-cluster needs the cluster's name: give --name <cluster> or set FLOTILLA_CLUSTER_NAME/,
      ],
      [["--hub", "https://hub", ...base, "extra"], /unexpected argument 'extra'/],
      [["--hub", "https://hub", ...base, "--tokn", "x"], /Unknown option '--tokn'/],
    ];
    for (const [argv, message] of cases) {
      const command = startCommand(
        (args, io) => invokeCommand("join", joinUsage, (a, i) => runJoinCommand(a, i, platform), args, io),
        argv,
      );
      assert.equal(await command.done, 2, argv.join(" "));
      assert.match(command.stderr(), message);
      assert.match(command.stderr(), /Usage: flotilla-agent join --hub <url>/);
      assert.doesNotMatch(command.stderr(), /s3cr3t/);
    }
  });
});
