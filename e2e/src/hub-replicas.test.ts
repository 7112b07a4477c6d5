// Scale-out, end to end: two hub processes on one PostgreSQL and one NATS JetStream, behind a
// TCP balancer (as a Service would be), with real agents in two real clusters. One replica is
// killed mid-delivery: its agents reconnect through the balancer to the other, the resolver lease
// moves, and every commit still reaches every cluster. The killed replica is then restarted on
// PostgreSQL and the other killed, so the agents move back.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { stringify } from "yaml";
import { adminKube, makeTempDir, waitFor } from "./harness/agent.js";
import { type Cluster, useClusters } from "./harness/cluster.js";
import { useGitServer } from "./harness/git-server.js";
import {
  type Balancer,
  fleetStatus,
  freePort,
  type HubProcess,
  joinArgs,
  type ManagedProcess,
  runFlotilla,
  startAgentProcess,
  startBalancer,
  startHubProcess,
} from "./harness/hub.js";
import { useNats } from "./harness/nats.js";
import { usePostgres } from "./harness/postgres.js";

const CONVERGE_MS = 180_000;

function configMap(version: string): string {
  return stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "shared" }, data: { version } });
}

async function versionIn(cluster: Cluster): Promise<string | undefined> {
  const object = await adminKube(cluster).get("v1", {
    group: "",
    kind: "ConfigMap",
    namespace: "shared",
    name: "shared",
  });
  return (object?.data as Record<string, string> | undefined)?.version;
}

describe("hub replicas on PostgreSQL and NATS", () => {
  const clusters = useClusters(2);
  const git = useGitServer();
  const postgres = usePostgres();
  const nats = useNats();
  let work: { path: string; remove(): Promise<void> };
  let balancer: Balancer;
  const replicas: HubProcess[] = [];
  const agents: ManagedProcess[] = [];
  let env: Record<string, string> = {};
  let cli: Record<string, string> = {};

  async function startReplica(name: string, port: number): Promise<HubProcess> {
    const [first] = replicas;
    return startHubProcess({
      dataDir: join(work.path, name),
      port,
      env: {
        ...env,
        FLOTILLA_REPLICA: name,
        // Both replicas serve the same certificate, as replicas behind one Service do.
        ...(first
          ? {
              FLOTILLA_TLS_CERT: join(first.dataDir, "tls.crt"),
              FLOTILLA_TLS_KEY: join(first.dataDir, "tls.key"),
              FLOTILLA_TLS_CA: join(first.dataDir, "ca.crt"),
            }
          : {}),
      },
    });
  }

  async function waitVersion(version: string): Promise<void> {
    for (const [i, cluster] of clusters().entries()) {
      await waitFor(
        `cluster ${i} at version ${version}`,
        async () => ((await versionIn(cluster)) === version ? true : undefined),
        CONVERGE_MS,
      );
    }
  }

  before(async () => {
    work = await makeTempDir("flotilla-hub-replicas-");
    const repoUrl = git().repoUrl("fleet");
    await git().createRepo("fleet", {
      "apps/shared.yaml": stringify({
        apiVersion: "argoproj.io/v1alpha1",
        kind: "ApplicationSet",
        metadata: { name: "shared" },
        spec: {
          generators: [{ clusters: {} }],
          template: {
            metadata: { name: "shared-{{name}}" },
            spec: {
              source: { repoURL: repoUrl, path: "shared" },
              destination: { name: "{{name}}", namespace: "shared" },
              syncPolicy: { automated: { prune: true }, syncOptions: ["CreateNamespace=true"] },
            },
          },
        },
      }),
      "shared/cm.yaml": configMap("1"),
    });
    const ports = [await freePort(), await freePort()];
    balancer = await startBalancer(ports);
    env = {
      DATABASE_URL: await postgres().createDatabase("hub_replicas"),
      NATS_URL: nats().url,
      FLOTILLA_PUBLIC_URL: `https://127.0.0.1:${balancer.port}`,
      FLOTILLA_LEASE_TTL: "4s",
    };
    replicas.push(await startReplica("hub-a", ports[0] ?? 0));
    replicas.push(await startReplica("hub-b", ports[1] ?? 0));
    const [a] = replicas;
    assert.ok(a);
    cli = { ...a.cliEnv, FLOTILLA_HUB: `https://127.0.0.1:${balancer.port}` };
  });

  after(async () => {
    for (const agent of agents) await agent.stop();
    for (const replica of replicas) await replica.stop();
    await balancer?.stop();
    await work?.remove();
  });

  it("shares registrations and delivery between replicas behind one address", async () => {
    const source = await runFlotilla(
      ["source", "add", "fleet", "--repo", git().repoUrl("fleet"), "--path", "apps"],
      cli,
    );
    assert.equal(source.code, 0, source.stderr);
    const created = await runFlotilla(["cluster", "token", "create", "--uses", "2"], cli);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, new RegExp(`--hub https://127\\.0\\.0\\.1:${balancer.port} `));
    for (const [i, cluster] of clusters().entries()) {
      agents.push(
        startAgentProcess([
          ...joinArgs(created.stdout),
          "--kubeconfig",
          cluster.kubeconfigPath,
          "--name",
          `r${i}`,
          "--state-file",
          join(work.path, `agent-${i}.json`),
        ]),
      );
    }
    await waitVersion("1");
    const status = await waitFor(
      "both clusters Connected and Healthy",
      async () => {
        const s = await fleetStatus({ cliEnv: cli });
        const ok =
          s.clusters.length === 2 &&
          s.clusters.every(
            (c) =>
              c.state === "Connected" &&
              c.apps.every((app) => app.health === "Healthy" && app.sync === "Synced") &&
              c.apps.length === 1,
          );
        return ok ? s : undefined;
      },
      CONVERGE_MS,
    );
    assert.deepEqual(
      status.clusters.map((c) => c.name),
      ["r0", "r1"],
    );
  });

  it("loses nothing when one replica is killed mid-delivery: agents move, the lease moves, commits land", async (t) => {
    t.diagnostic("reliability: faults");
    await git().commit("fleet", { "shared/cm.yaml": configMap("2") }, { message: "v2" });
    // Kill the replica that holds the resolver lease around the time it delivers the commit.
    await new Promise((resolve) => setTimeout(resolve, 2_000 + Math.random() * 2_000));
    const [a, b] = replicas;
    assert.ok(a && b);
    await a.kill();
    await waitVersion("2");
    await git().commit("fleet", { "shared/cm.yaml": configMap("3") }, { message: "v3" });
    await waitVersion("3");
    const status = await fleetStatus({ cliEnv: cli });
    assert.ok(
      status.clusters.every((c) => c.state === "Connected"),
      JSON.stringify(status),
    );

    // Restart the killed replica on the same PostgreSQL data, then kill the other one.
    replicas[0] = await startReplica("hub-a", a.port);
    await b.kill();
    await git().commit("fleet", { "shared/cm.yaml": configMap("4") }, { message: "v4" });
    await waitVersion("4");
    const after = await waitFor(
      "both clusters Connected to the restarted replica",
      async () => {
        const s = await fleetStatus({ cliEnv: cli });
        return s.clusters.every(
          (c) => c.state === "Connected" && c.apps.every((app) => app.health === "Healthy"),
        )
          ? s
          : undefined;
      },
      CONVERGE_MS,
    );
    assert.equal(after.clusters.length, 2);
    t.diagnostic(
      "2 replicas on PostgreSQL and NATS behind one address; each SIGKILLed once around delivery; 3 commits: every one on both clusters",
    );
  });
});
