// The hub as a service, end to end with real processes: `flotilla hub serve` on the embedded
// default (PGlite, in-process bus, its own CA), a fleet repository over real Git HTTP, three real
// kube-apiservers joined with the printed `flotilla-agent join` command, `flotilla status`, a
// commit reaching every cluster, a large bundle sent in slices, a hub killed and restarted on
// the same data, and bootstrap tokens misused in every way the issue lists.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { stringify } from "yaml";
import { adminKube, makeTempDir, waitFor } from "./harness/agent.js";
import { type Cluster, useClusters } from "./harness/cluster.js";
import { useGitServer } from "./harness/git-server.js";
import {
  fleetStatus,
  type HubProcess,
  joinArgs,
  type ManagedProcess,
  runAgentProcess,
  runFlotilla,
  type StatusJson,
  startAgentProcess,
  startHubProcess,
} from "./harness/hub.js";

const CONVERGE_MS = 180_000;

/** An ApplicationSet over registered clusters (optionally by label) with one plain-YAML path. */
function appSet(name: string, repoUrl: string, path: string, selector?: Record<string, string>): string {
  return stringify({
    apiVersion: "argoproj.io/v1alpha1",
    kind: "ApplicationSet",
    metadata: { name, namespace: "argocd" },
    spec: {
      generators: [{ clusters: selector ? { selector: { matchLabels: selector } } : {} }],
      template: {
        metadata: { name: `${name}-{{name}}` },
        spec: {
          project: "default",
          source: { repoURL: repoUrl, path, targetRevision: "HEAD" },
          destination: { name: "{{name}}", namespace: name },
          syncPolicy: { automated: { prune: true, selfHeal: true }, syncOptions: ["CreateNamespace=true"] },
        },
      },
    },
  });
}

function configMap(name: string, data: Record<string, string>): string {
  return stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name }, data });
}

async function configMapData(
  cluster: Cluster,
  namespace: string,
  name: string,
): Promise<Record<string, string> | undefined> {
  const object = await adminKube(cluster).get("v1", { group: "", kind: "ConfigMap", namespace, name });
  return object?.data as Record<string, string> | undefined;
}

/**
 * Every listed cluster Connected with exactly `apps`, all Synced and Healthy, and the `base-*`
 * apps at `revision` when given (the others' output did not change, so they were not resent).
 */
function converged(status: StatusJson, expected: Record<string, string[]>, revision?: string): boolean {
  return Object.entries(expected).every(([name, apps]) => {
    const cluster = status.clusters.find((c) => c.name === name);
    if (cluster?.state !== "Connected") return false;
    const names = cluster.apps.map((app) => app.name).sort();
    if (JSON.stringify(names) !== JSON.stringify([...apps].sort())) return false;
    return cluster.apps.every(
      (app) =>
        app.sync === "Synced" &&
        app.health === "Healthy" &&
        (!revision || !app.name.startsWith("base-") || app.revision === revision),
    );
  });
}

async function waitConverged(
  hub: HubProcess,
  expected: Record<string, string[]>,
  revision?: string,
): Promise<StatusJson> {
  let last: StatusJson | undefined;
  try {
    return await waitFor(
      "every app Synced and Healthy",
      async () => {
        last = await fleetStatus(hub);
        return converged(last, expected, revision) ? last : undefined;
      },
      CONVERGE_MS,
    );
  } catch (error) {
    throw new Error(
      `${(error as Error).message}\nlast status: ${JSON.stringify(last, null, 1)}\nhub log tail:\n${hub.output().slice(-3000)}`,
    );
  }
}

describe("hub service: join, deliver, status, restart, token misuse", () => {
  const clusters = useClusters(3);
  const git = useGitServer();
  let work: { path: string; remove(): Promise<void> };
  let hub: HubProcess;
  const agents: ManagedProcess[] = [];
  let joinCommand = "";
  let repoUrl = "";
  const names = ["c0", "c1", "c2"];
  const labels = ["env=prod", "env=prod", "env=staging"];
  const expected = {
    c0: ["base-c0", "web-c0", "big"],
    c1: ["base-c1", "web-c1"],
    c2: ["base-c2"],
  };

  /** What the hub's notification target received: one parsed JSON body per POST. */
  const notifications: { trigger: string; cluster: string; headers: Record<string, unknown> }[] = [];
  let receiver: Server;
  let hubEnv: Record<string, string> = {};

  before(async () => {
    work = await makeTempDir("flotilla-hub-service-");
    receiver = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk) => {
        body += chunk;
      });
      req.on("end", () => {
        notifications.push({
          ...(JSON.parse(body) as { trigger: string; cluster: string }),
          headers: req.headers,
        });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    const receiverPort = (receiver.address() as { port: number }).port;
    const hubConfigPath = join(work.path, "hub.yaml");
    await writeFile(
      hubConfigPath,
      stringify({
        notifications: {
          targets: [
            {
              name: "ops",
              url: `http://127.0.0.1:${receiverPort}/hooks/\${HOOK_PATH}`,
              triggers: ["cluster-disconnected"],
            },
          ],
        },
      }),
    );
    hubEnv = {
      FLOTILLA_MAX_MESSAGE_BYTES: String(2 * 1024 * 1024),
      FLOTILLA_HUB_CONFIG: hubConfigPath,
      HOOK_PATH: "s3cret-hook-path",
    };
    repoUrl = git().repoUrl("fleet");
    // Five ConfigMaps of random text: about 2.7 MB after gzip, over the hub's 2 MiB message limit.
    const big = Array.from({ length: 5 }, (_, i) =>
      configMap(`big-${i}`, { blob: randomBytes(520 * 1024).toString("base64") }),
    ).join("---\n");
    await git().createRepo("fleet", {
      "apps/base.yaml": appSet("base", repoUrl, "base"),
      "apps/web.yaml": appSet("web", repoUrl, "web", { env: "prod" }),
      "apps/big.yaml": stringify({
        apiVersion: "argoproj.io/v1alpha1",
        kind: "Application",
        metadata: { name: "big", namespace: "argocd" },
        spec: {
          project: "default",
          source: { repoURL: repoUrl, path: "big" },
          destination: { name: "c0", namespace: "big" },
          syncPolicy: { automated: {}, syncOptions: ["CreateNamespace=true"] },
        },
      }),
      "base/info.yaml": configMap("fleet-info", { version: "1" }),
      "web/web.yaml": configMap("web-config", { color: "blue" }),
      "big/big.yaml": big,
    });
    hub = await startHubProcess({ dataDir: join(work.path, "hub"), env: hubEnv });
  });

  after(async () => {
    for (const agent of agents) await agent.stop();
    await hub?.stop();
    receiver?.close();
    await work?.remove();
  });

  it("prints a one-line join command with the hub URL, a bootstrap token and the CA hash", async () => {
    const source = await runFlotilla(
      ["source", "add", "fleet", "--repo", repoUrl, "--path", "apps"],
      hub.cliEnv,
    );
    assert.equal(source.code, 0, source.stderr);
    const created = await runFlotilla(
      ["cluster", "token", "create", "--uses", "3", "--ttl", "1h"],
      hub.cliEnv,
    );
    assert.equal(created.code, 0, created.stderr);
    joinCommand = created.stdout.trim();
    assert.match(
      joinCommand,
      /^flotilla-agent join --hub https:\/\/127\.0\.0\.1:\d+ --token flb_\S+ --ca-hash sha256:[0-9a-f]{64}$/,
    );
    assert.equal(joinCommand.split("\n").length, 1);
  });

  it("joins three real clusters with the printed command; every app converges and status shows it", async () => {
    for (const [i, cluster] of clusters().entries()) {
      agents.push(
        startAgentProcess([
          ...joinArgs(joinCommand),
          "--kubeconfig",
          cluster.kubeconfigPath,
          "--name",
          names[i] ?? "",
          "--label",
          labels[i] ?? "",
          "--state-file",
          join(work.path, `agent-${i}.json`),
        ]),
      );
    }
    const head = await git().resolveRef("fleet");
    const status = await waitConverged(hub, expected, head);
    assert.deepEqual(
      status.clusters.map((c) => [c.name, c.labels.env]),
      [
        ["c0", "prod"],
        ["c1", "prod"],
        ["c2", "staging"],
      ],
    );
    for (const cluster of status.clusters) assert.ok(cluster.lastSeen, `${cluster.name} has a lastSeen`);
    for (const [i, cluster] of clusters().entries()) {
      assert.deepEqual(await configMapData(cluster, "base", "fleet-info"), { version: "1" }, names[i]);
      const web = await configMapData(cluster, "web", "web-config");
      assert.deepEqual(web, i < 2 ? { color: "blue" } : undefined, names[i]);
    }
    // The large bundle went out in slices and was applied whole.
    const [c0] = clusters();
    assert.ok(c0);
    const blob = (await configMapData(c0, "big", "big-4"))?.blob ?? "";
    assert.equal(blob.length, Math.ceil((520 * 1024) / 3) * 4);
  });

  it("delivers a commit to every cluster it concerns", async () => {
    const sha = await git().commit(
      "fleet",
      { "base/info.yaml": configMap("fleet-info", { version: "2" }) },
      { message: "base v2" },
    );
    const refreshed = await runFlotilla(["refresh", "--source", "fleet"], hub.cliEnv);
    assert.equal(refreshed.code, 0, refreshed.stderr);
    await waitConverged(hub, expected, sha);
    for (const cluster of clusters())
      assert.deepEqual(await configMapData(cluster, "base", "fleet-info"), { version: "2" });
  });

  it("answers app list|get, cluster get, events and sync from the CLI, with clear errors", async () => {
    const listed = await runFlotilla(["app", "list", "-o", "json"], hub.cliEnv);
    assert.equal(listed.code, 0, listed.stderr);
    const apps = (JSON.parse(listed.stdout) as { apps: { name: string; counts?: { total?: number } }[] })
      .apps;
    // "fleet" is the source's root: the app-of-apps the others hang from.
    assert.deepEqual(apps.map((app) => app.name).sort(), [
      "base-c0",
      "base-c1",
      "base-c2",
      "big",
      "fleet",
      "web-c0",
      "web-c1",
    ]);
    const table = await runFlotilla(["app", "list"], hub.cliEnv);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^NAME\s/m);
    assert.ok(!table.stdout.includes("\u001b["), "no colour codes when stdout is not a terminal");

    const got = await runFlotilla(["app", "get", "web-c0", "-o", "json"], hub.cliEnv);
    assert.equal(got.code, 0, got.stderr);
    const targets = (JSON.parse(got.stdout) as { targets: { cluster: string; status?: { sync?: string } }[] })
      .targets;
    assert.deepEqual(
      targets.map((target) => target.cluster),
      ["c0"],
    );

    const unknownApp = await runFlotilla(["app", "get", "no-such-app"], hub.cliEnv);
    assert.notEqual(unknownApp.code, 0);
    assert.match(unknownApp.stderr, /no-such-app/);
    assert.match(unknownApp.stderr, /app "no-such-app" does not exist/);
    const unknownCluster = await runFlotilla(["cluster", "get", "no-such-cluster"], hub.cliEnv);
    assert.notEqual(unknownCluster.code, 0);
    assert.match(unknownCluster.stderr, /cluster "no-such-cluster" does not exist/);
    const badToken = await runFlotilla(["cluster", "list"], { ...hub.cliEnv, FLOTILLA_TOKEN: "fla_wrong" });
    assert.notEqual(badToken.code, 0);
    assert.match(badToken.stderr, /token/i);
    assert.doesNotMatch(badToken.stderr, /fla_wrong/, "the refused token is not echoed");

    const events = await runFlotilla(["events", "--cluster", "c0", "--limit", "0", "-o", "json"], hub.cliEnv);
    assert.equal(events.code, 0, events.stderr);
    const lines = events.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { kind: string; cluster: string; message: string });
    assert.ok(lines.length > 0 && lines.every((event) => event.cluster === "c0"));
    assert.ok(lines.some((event) => event.kind === "EVENT_KIND_CLUSTER_REGISTERED"));
    // A desired change is recorded per app, with the commit that made it.
    const changes = await runFlotilla(
      ["events", "--app", "base-c0", "--kind", "desired-changed", "--limit", "0"],
      hub.cliEnv,
    );
    assert.equal(changes.code, 0, changes.stderr);
    assert.match(changes.stdout, /desired-changed .*base v2/);

    const synced = await runFlotilla(["sync", "base-c1", "--cluster", "c1"], hub.cliEnv);
    assert.equal(synced.code, 0, synced.stderr);
    assert.match(synced.stdout, /c1/);
    await waitFor(
      "the agent's finished sync of base-c1 in the event history",
      async () => {
        const after = await runFlotilla(
          ["events", "--cluster", "c1", "--app", "base-c1", "--limit", "0", "-o", "json"],
          hub.cliEnv,
        );
        return after.stdout.includes('"EVENT_KIND_OPERATION_FINISHED"') ? after : undefined;
      },
      60_000,
    );
  });

  it("loses nothing when the hub is killed mid-delivery and restarted on the same data", async (t) => {
    t.diagnostic("reliability: faults");
    const sha = await git().commit(
      "fleet",
      { "base/info.yaml": configMap("fleet-info", { version: "3" }) },
      { message: "base v3" },
    );
    // The hub polls every 3 s: kill it around the time it picks the commit up and delivers.
    await new Promise((resolve) => setTimeout(resolve, 2_500 + Math.random() * 1_500));
    await hub.kill();
    const status = await runFlotilla(["status"], hub.cliEnv, 20_000);
    assert.notEqual(status.code, 0);
    assert.match(
      status.stderr,
      new RegExp(`127\\.0\\.0\\.1:${hub.port}`),
      "the error names the address tried",
    );
    hub = await startHubProcess({ dataDir: hub.dataDir, port: hub.port, env: hubEnv });
    await waitConverged(hub, expected, sha);
    for (const cluster of clusters())
      assert.deepEqual(await configMapData(cluster, "base", "fleet-info"), { version: "3" });
    t.diagnostic(
      `hub SIGKILLed around delivery of a commit to ${clusters().length} clusters, restarted on its PGlite data: all ${clusters().length} hold the commit`,
    );
  });

  it("marks a cluster whose agent stops Disconnected and its apps stale, and brings it back", async (t) => {
    t.diagnostic("reliability: faults");
    const agent = agents[2];
    assert.ok(agent);
    await agent.kill();
    const status = await waitFor(
      "c2 Disconnected",
      async () => {
        const s = await fleetStatus(hub);
        return s.clusters.find((c) => c.name === "c2")?.state === "Disconnected" ? s : undefined;
      },
      60_000,
    );
    assert.ok(status.clusters.find((c) => c.name === "c2")?.lastSeen);
    // The outage outlasted three heartbeats: the configured webhook target hears of it once.
    const notice = await waitFor(
      "a cluster-disconnected notification for c2",
      async () => notifications.find((n) => n.trigger === "cluster-disconnected" && n.cluster === "c2"),
      60_000,
    );
    assert.equal(notice.headers["content-type"], "application/json");
    const events = await runFlotilla(["events", "--cluster", "c2", "--limit", "0", "-o", "json"], hub.cliEnv);
    assert.match(events.stdout, /notified ops/);
    assert.ok(!events.stdout.includes("s3cret-hook-path"), "the target's URL is a secret");
    assert.ok(!hub.output().includes("s3cret-hook-path"), "nor in the hub's log");
    // Restarting the agent with `run` and its stored identity resumes without a token.
    agents[2] = startAgentProcess([
      "run",
      "--kubeconfig",
      clusters()[2]?.kubeconfigPath ?? "",
      "--state-file",
      join(work.path, "agent-2.json"),
    ]);
    await waitConverged(hub, expected);
    t.diagnostic(
      "agent SIGKILLed: cluster Disconnected, one cluster-disconnected notification; restarted with `run`: converged",
    );
  });

  it("refuses unknown, revoked, expired and used-up bootstrap tokens, and a wrong CA hash, with clear messages", async (t) => {
    t.diagnostic("reliability: wire and API");
    const cluster = clusters()[2];
    assert.ok(cluster);
    const caHash = joinArgs(joinCommand)[6] ?? "";
    const tryJoin = (tokenText: string, hash = caHash, name = "intruder") =>
      runAgentProcess([
        "join",
        "--hub",
        hub.url,
        "--token",
        tokenText,
        "--ca-hash",
        hash,
        "--kubeconfig",
        cluster.kubeconfigPath,
        "--name",
        name,
        "--state-file",
        join(work.path, `intruder-${Math.random()}.json`),
        "--once",
        "--timeout",
        "5s",
      ]);
    const unknown = await tryJoin("flb_abc123.0123456789abcdef0123456789abcdef");
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown|malformed/i);

    const revokedToken = await createToken(hub, ["--uses", "1"]);
    const list = await runFlotilla(["cluster", "token", "list", "-o", "json"], hub.cliEnv);
    assert.equal(list.code, 0, list.stderr);
    const id = /^flb_([a-z0-9]+)\./.exec(revokedToken)?.[1] ?? "";
    assert.ok(list.stdout.includes(id), "the token is listed by id");
    const revoke = await runFlotilla(["cluster", "token", "revoke", id], hub.cliEnv);
    assert.equal(revoke.code, 0, revoke.stderr);
    const revoked = await tryJoin(revokedToken);
    assert.equal(revoked.code, 1);
    assert.match(revoked.stderr, /revoked/);
    assert.ok(!revoked.stderr.includes(revokedToken), "the token is not echoed");

    const expiringToken = await createToken(hub, ["--ttl", "1s"]);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const expired = await tryJoin(expiringToken);
    assert.equal(expired.code, 1);
    assert.match(expired.stderr, /expired/);

    const wrongCa = await tryJoin(await createToken(hub, []), `sha256:${"0".repeat(64)}`);
    assert.equal(wrongCa.code, 1);
    assert.match(wrongCa.stderr, /hash|CA/i);

    // The join command's token allowed three uses, all spent by c0..c2: replaying it is refused.
    const replayed = await tryJoin(joinArgs(joinCommand)[4] ?? "");
    assert.equal(replayed.code, 1);
    assert.match(replayed.stderr, /no uses left|used/);
    t.diagnostic(
      "5 joins by real agent processes (unknown, revoked, expired, replayed token; wrong CA hash): 5 refused",
    );
  });
});

async function createToken(hub: HubProcess, args: string[]): Promise<string> {
  const created = await runFlotilla(["cluster", "token", "create", ...args], hub.cliEnv);
  assert.equal(created.code, 0, created.stderr);
  return joinArgs(created.stdout)[4] ?? "";
}
