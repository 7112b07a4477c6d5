import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:https";
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
function startRun(t: TestContext, platform: FakePlatform, argv: string[], env: Record<string, string> = {}) {
  const command = startCommand(
    (args, io) => invokeCommand("run", runUsage, (a, i) => runAgentCommand(a, i, platform), args, io),
    ["--kubeconfig", "unused-by-the-fake-platform", ...argv],
    env,
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

/** Polls `check` until it returns something other than undefined or false; fails after 10 s. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The status listener URL the agent logged once it listens. */
function statusUrl(command: { stderr(): string }): Promise<string> {
  return waitFor("status listener started", async () => {
    const line = command.stderr().match(/\{[^\n]*"msg":"status listener started"[^\n]*\}/)?.[0];
    return line ? (JSON.parse(line) as { url: string }).url : undefined;
  });
}

/**
 * GET on the agent's status listener. Its certificate is self-made at start and not trusted
 * here; serve-status.test.ts checks it verifies against itself.
 */
function getStatus(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { rejectUnauthorized: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
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

  it("serves /readyz (ready once reconciled and welcomed) and /metrics on --status-listen", {
    timeout,
  }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const platform = createFakePlatform();
    const statePath = await useJoinedState(t, hub, platform);
    const run = startRun(t, platform, ["--state-file", statePath, "--status-listen", "127.0.0.1:0"]);
    const url = await statusUrl(run);
    assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await getStatus(`${url}/healthz`)).status, 200);
    const connection = await hub.nextConnection();
    await connection.next("hello");
    const notReady = await getStatus(`${url}/readyz`);
    assert.equal(notReady.status, 503);
    assert.match(
      notReady.body,
      /"reason":"the (first reconcile pass has not finished|hub stream was not established yet)"/,
    );

    await connection.send({
      body: { case: "welcome", value: { clusterName: "edge-1", resume: { latestSeq: 1n, backlog: 1 } } },
    });
    await connection.send({ body: { case: "upsert", value: webUpsert() } });
    assert.equal((await connection.next("ack")).accepted, true);
    await waitFor("ready", async () => (await getStatus(`${url}/readyz`)).status === 200);
    const metrics = await waitFor("acked seq scraped", async () => {
      const body = (await getStatus(`${url}/metrics`)).body;
      return /^flotilla_agent_acked_seq 1$/m.test(body) && body;
    });
    assert.match(metrics, /^flotilla_agent_hub_connected 1$/m);
    assert.match(metrics, /^flotilla_agent_desired_seq 1$/m);
    assert.match(metrics, /^flotilla_agent_reconcile_total\{app="web",result="synced"\} 1$/m);
    assert.match(metrics, /^flotilla_agent_apps\{health="Healthy"\} 1$/m);
    assert.match(metrics, /^flotilla_agent_process_cpu_seconds_total /m);
    assert.equal(await run.stop(), 0);
  });

  it("logs only from the level FLOTILLA_LOG_LEVEL or --log-level sets", { timeout }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const platform = createFakePlatform();
    const statePath = await useJoinedState(t, hub, platform);
    const quiet = startRun(t, platform, ["--state-file", statePath], { FLOTILLA_LOG_LEVEL: "warn" });
    await welcome(hub);
    assert.equal(await quiet.stop(), 0);
    assert.doesNotMatch(quiet.stderr(), /"level":"info"/);

    const chatty = startRun(t, platform, ["--state-file", statePath, "--log-level", "info"], {
      FLOTILLA_LOG_LEVEL: "error",
    });
    await welcome(hub);
    assert.equal(await chatty.stop(), 0);
    assert.match(chatty.stderr(), /^\{"time":"[^"]+","level":"info","msg":"agent running"/m);
  });

  it("refuses bad log and status listener flags with exit code 2, naming the flag", async (t) => {
    const platform = createFakePlatform();
    const cases: [string[], RegExp][] = [
      [["--log-level", "loud"], /--log-level: log level must be debug, info, warn or error, not "loud"/],
      [["--status-listen", "8443"], /--status-listen: status listener "8443" must be host:port/],
      [["--status-insecure-http"], /need --status-listen/],
      [
        ["--status-listen", "127.0.0.1:0", "--status-cert", "c.pem"],
        /give both --status-cert and --status-key/,
      ],
      [
        [
          "--status-listen",
          "127.0.0.1:0",
          "--status-cert",
          "c",
          "--status-key",
          "k",
          "--status-insecure-http",
        ],
        /not both/,
      ],
    ];
    for (const [argv, message] of cases) {
      const run = startRun(t, platform, ["--once", ...argv]);
      assert.equal(await run.done, 2, argv.join(" "));
      assert.match(run.stderr(), message);
    }
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
