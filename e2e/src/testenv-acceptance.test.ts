// The foundation's acceptance test (issue #2): every real part later suites stand on, together.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { KubeConfig, KubernetesObjectApi, PatchStrategy, type V1Deployment } from "@kubernetes/client-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import git from "isomorphic-git";
import http from "isomorphic-git/http/node";
import pg from "pg";
import { useClusters } from "./harness/cluster.js";
import { useGitServer } from "./harness/git-server.js";
import { useNats } from "./harness/nats.js";
import { usePostgres } from "./harness/postgres.js";

describe("test environment", () => {
  const clusters = useClusters(3);
  const gitServer = useGitServer();
  const postgres = usePostgres();
  const nats = useNats();

  it("server-side applies a Namespace and a Deployment into each of 3 clusters and reads them back", async () => {
    assert.equal(clusters().length, 3);
    await Promise.all(
      clusters().map(async (cluster, index) => {
        const config = new KubeConfig();
        config.loadFromString(cluster.kubeconfig);
        const api = KubernetesObjectApi.makeApiClient(config);
        const apply = <T extends { apiVersion?: string; kind?: string }>(obj: T) =>
          api.patch(obj, undefined, undefined, "flotilla", true, PatchStrategy.ServerSideApply);
        await apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "acceptance" } });
        const deployment: V1Deployment = {
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name: "web", namespace: "acceptance", labels: { cluster: cluster.name } },
          spec: {
            replicas: index + 1,
            selector: { matchLabels: { app: "web" } },
            template: {
              metadata: { labels: { app: "web" } },
              spec: { containers: [{ name: "web", image: "nginx:1.27" }] },
            },
          },
        };
        await apply(deployment);
        const read = (await api.read({
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name: "web", namespace: "acceptance" },
        })) as V1Deployment;
        assert.equal(read.spec?.replicas, index + 1);
        assert.equal(read.metadata?.labels?.cluster, cluster.name);
        assert.ok(
          read.metadata?.managedFields?.some((f) => f.manager === "flotilla" && f.operation === "Apply"),
        );
      }),
    );
  });

  it("clones a repository from the git server over smart HTTP with isomorphic-git", async () => {
    const sha = await gitServer().createRepo("fleet", { "apps/guestbook.yaml": "kind: Application\n" });
    const dir = await mkdtemp(join(tmpdir(), "flotilla-acceptance-clone-"));
    try {
      await git.clone({ fs, http, dir, url: gitServer().repoUrl("fleet"), depth: 1 });
      assert.equal(await git.resolveRef({ fs, dir, ref: "HEAD" }), sha);
      assert.equal(await readFile(join(dir, "apps/guestbook.yaml"), "utf8"), "kind: Application\n");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("connects to PostgreSQL and round-trips a row", async () => {
    const client = new pg.Client({ connectionString: postgres().url });
    await client.connect();
    try {
      await client.query("CREATE TABLE acceptance (id int PRIMARY KEY, note text)");
      await client.query("INSERT INTO acceptance VALUES ($1, $2)", [1, "held"]);
      const { rows } = await client.query("SELECT note FROM acceptance WHERE id = 1");
      assert.deepEqual(rows, [{ note: "held" }]);
    } finally {
      await client.end();
    }
  });

  it("connects to NATS and round-trips a JetStream message", async () => {
    const connection = await connect({ servers: nats().url });
    try {
      const manager = await jetstreamManager(connection);
      await manager.streams.add({ name: "ACCEPTANCE", subjects: ["acceptance.>"] });
      await jetstream(connection).publish("acceptance.hello", "held");
      const consumer = await jetstream(connection).consumers.get("ACCEPTANCE");
      const message = await consumer.next({ expires: 5_000 });
      assert.equal(message?.string(), "held");
    } finally {
      await connection.close();
    }
  });
});
