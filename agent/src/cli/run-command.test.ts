import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it, type TestContext } from "node:test";
import { gzipSync } from "node:zlib";
import { createTestTls, type TestTls } from "@flotilla/proto/test-tls";
import { createFileStateStore } from "../desired/state-store.js";
import { type FakeHub, useFakeHub } from "../hub/fake-hub.js";
import { caHashOf, joinHub } from "../hub/join.js";
import { createFakePlatform, type FakePlatform, startCommand } from "./fake-platform.js";
import { invokeCommand } from "./invoke-command.js";
import { runAgentCommand, runUsage } from "./run-command.js";

const timeout = 20_000;
let tls: TestTls;

before(async () => {
  tls = await createTestTls();
});

async function useWorkDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "flotilla-run-command-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** `flotilla-agent run` as main.ts runs it, on `platform`; stopped when the test ends. */
function startRun(t: TestContext, platform: FakePlatform, argv: string[]) {
  const command = startCommand(
    (args, io) => invokeCommand("run", runUsage, (a, i) => runAgentCommand(a, i, platform), args, io),
    ["--kubeconfig", "unused-by-the-fake-platform", ...argv],
  );
  t.after(() => command.stop());
  return command;
}

/** A state file holding the identity `join` persisted for the fake hub. */
async function useJoinedState(t: TestContext, hub: FakeHub, platform: FakePlatform): Promise<string> {
  const statePath = join(await useWorkDir(t), "state.json.gz");
  await joinHub({
    hubUrl: hub.hubUrl,
    grpcAddress: hub.grpcAddress,
    token: "flb_abc123.secret",
    caHash: caHashOf(tls.caPem),
    clusterName: "edge-1",
    kube: platform.kube,
    store: createFileStateStore(statePath),
  });
  return statePath;
}

async function welcome(hub: FakeHub) {
  const connection = await hub.nextConnection();
  const hello = await connection.next("hello");
  await connection.send({
    body: { case: "welcome", value: { clusterName: "edge-1", resume: { latestSeq: 0n, backlog: 0 } } },
  });
  return { connection, hello };
}

function webUpsert() {
  const json = Buffer.from(
    JSON.stringify([{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "web", namespace: "web" } }]),
  );
  return {
    seq: 1n,
    app: {
      name: "web",
      namespace: "web",
      revision: "rev-1",
      digest: "sha256:web-1",
      bundleDigest: `sha256:${createHash("sha256").update(json).digest("hex")}`,
      bundleEncoding: "gzip+json",
      objectCount: 1,
      bundle: gzipSync(json),
    },
  };
}

describe("flotilla-agent run", () => {
  it("connects a joined agent to its hub and resumes from what it persisted", { timeout }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const platform = createFakePlatform();
    const statePath = await useJoinedState(t, hub, platform);
    const first = startRun(t, platform, ["--state-file", statePath]);
    const { connection, hello } = await welcome(hub);
    assert.deepEqual(hello.held, []);
    await connection.send({ body: { case: "upsert", value: webUpsert() } });
    assert.equal((await connection.next("ack")).accepted, true);
    assert.equal(await first.stop(), 0);
    assert.match(first.stderr(), /"msg":"agent running".*"cluster":"edge-1"/);

    // A restart: the same command, a new process.
    const second = startRun(t, platform, ["--state-file", statePath]);
    const resumed = await welcome(hub);
    assert.equal(resumed.connection.authorization, "Bearer cred-1");
    assert.deepEqual(
      resumed.hello.held.map((app) => [app.app, app.digest, app.seq]),
      [["web", "sha256:web-1", 1n]],
    );
    assert.equal(resumed.hello.lastAppliedSeq, 1n);
    assert.equal(await second.stop(), 0);
    assert.equal(hub.registerCalls.length, 1);
  });

  it("refuses --desired-dir for a joined agent with exit code 2", { timeout }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const platform = createFakePlatform();
    const statePath = await useJoinedState(t, hub, platform);
    const run = startRun(t, platform, ["--state-file", statePath, "--desired-dir", "apps"]);
    assert.equal(await run.done, 2);
    assert.match(
      run.stderr(),
      /holds the identity of cluster edge-1 joined to hub \S+: .*--desired-dir cannot be used \(one source of desired state at a time\)/,
    );
    assert.match(run.stderr(), /Usage: flotilla-agent run/);
  });

  it("without an identity, reconciles the desired directory and connects to no hub", async (t) => {
    const dir = await useWorkDir(t);
    await mkdir(join(dir, "apps", "web"), { recursive: true });
    await writeFile(
      join(dir, "apps", "web", "config.yaml"),
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n",
    );
    const platform = createFakePlatform();
    const run = startRun(t, platform, [
      "--state-file",
      join(dir, "state.json.gz"),
      "--desired-dir",
      join(dir, "apps"),
      "--once",
      "-o",
      "json",
    ]);
    assert.equal(await run.done, 0, run.stderr());
    const printed = JSON.parse(run.stdout()) as { apps: { name: string; health: string }[] };
    assert.deepEqual(
      printed.apps.map((app) => [app.name, app.health]),
      [["web", "Healthy"]],
    );
    assert.deepEqual(platform.upserted, ["web"]);
    assert.equal((await createFileStateStore(join(dir, "state.json.gz")).load()).identity, undefined);
  });
});
