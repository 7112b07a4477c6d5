import * as assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  type V1Deployment,
  type V1Namespace,
  type V1Pod,
  VersionApi,
} from "@kubernetes/client-node";
import { type Cluster, startCluster, useClusters, workloadNodeName } from "./cluster.js";

const fieldManager = "flotilla";

function loadConfig(cluster: Cluster): KubeConfig {
  const config = new KubeConfig();
  config.loadFromString(cluster.kubeconfig);
  return config;
}

function connect(cluster: Cluster): KubernetesObjectApi {
  return KubernetesObjectApi.makeApiClient(loadConfig(cluster));
}

function apply<T extends KubernetesObject>(api: KubernetesObjectApi, object: T): Promise<T> {
  return api.patch(object, undefined, undefined, fieldManager, true, PatchStrategy.ServerSideApply);
}

function namespaceFor(index: number): V1Namespace {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: `flotilla-e2e-${index}`, labels: { "flotilla.dev/cluster-index": String(index) } },
  };
}

function deploymentFor(index: number): V1Deployment {
  const labels = { app: "web" };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web", namespace: `flotilla-e2e-${index}` },
    spec: {
      replicas: index + 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: "web", image: `registry.example/web:${index}` }] },
      },
    },
  };
}

/** Pids of processes whose command line mentions `text` (Linux /proc). */
function findProcessesMentioning(text: string): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(text);
      } catch {
        return false; // exited meanwhile
      }
    })
    .map(Number);
}

/** Polls `read` until `accept` holds for its result; throws the last result on the deadline. */
async function waitFor<T>(
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (accept(value)) return value;
    if (Date.now() >= deadline) {
      throw new Error(`condition not met after ${timeoutMs} ms; last value: ${JSON.stringify(value)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (cause) {
    return (cause as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

describe("startCluster", () => {
  const clusters = useClusters(3);

  it("starts three clusters that each take a server-side applied Namespace and Deployment", async () => {
    const servers = new Set(clusters().map((c) => c.server));
    assert.equal(servers.size, 3, "each cluster listens on its own port");

    await Promise.all(
      clusters().map(async (cluster, index) => {
        const api = connect(cluster);
        await apply(api, namespaceFor(index));
        await apply(api, deploymentFor(index));

        const namespace = await api.read<V1Namespace>({
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name: `flotilla-e2e-${index}` },
        });
        assert.equal(namespace.metadata?.labels?.["flotilla.dev/cluster-index"], String(index));
        assert.equal(namespace.status?.phase, "Active");

        const deployment = await api.read<V1Deployment>({
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name: "web", namespace: `flotilla-e2e-${index}` },
        });
        assert.equal(deployment.spec?.replicas, index + 1);
        assert.deepEqual(deployment.spec?.selector.matchLabels, { app: "web" });
        assert.equal(deployment.spec?.template.spec?.containers[0]?.image, `registry.example/web:${index}`);
        // Defaults prove a real API server handled the object, not an echo.
        assert.equal(deployment.spec?.strategy?.type, "RollingUpdate");
        const managers = deployment.metadata?.managedFields?.map((f) => `${f.manager}/${f.operation}`);
        assert.deepEqual(managers, [`${fieldManager}/Apply`]);
      }),
    );
  });

  it("keeps the clusters apart", async () => {
    const [first, second] = clusters();
    assert.ok(first && second);
    await apply(connect(first), {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "only-in-first", namespace: "default" },
    });
    await assert.rejects(
      connect(second).read({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "only-in-first", namespace: "default" },
      }),
      (error: { code?: number }) => error.code === 404,
    );
  });

  it("reports the Kubernetes version stamped into the binary", async () => {
    const [cluster] = clusters();
    assert.ok(cluster);
    const version = await loadConfig(cluster).makeApiClient(VersionApi).getCode();
    assert.match(version.gitVersion, /^v1\.\d+\.\d+$/);
  });

  it("stops every process it started and removes its directory", async () => {
    const all = clusters();
    const pids = all.flatMap((c) => Object.values(c.pids));
    assert.equal(pids.length, 6, "an etcd and a kube-apiserver per cluster");
    assert.ok(pids.every(isRunning), "all processes run before stop()");

    await Promise.all(all.map((c) => c.stop()));

    assert.deepEqual(pids.filter(isRunning), [], "no etcd or kube-apiserver process is left after stop()");
    for (const cluster of all) assert.equal(existsSync(cluster.dir), false, `${cluster.dir} is removed`);
  });
});

describe("startCluster failure", () => {
  it("names the cause, shows the logs and leaves nothing running when not ready in time", async () => {
    let dir = "";
    await assert.rejects(startCluster({ name: "too-slow", readyTimeoutMs: 1 }), (error: Error) => {
      assert.match(error.message, /^cluster too-slow: etcd not ready after 1 ms/);
      dir = /last \d+ lines of (\S+)\/etcd\.log ---/.exec(error.message)?.[1] ?? "";
      return true;
    });
    assert.notEqual(dir, "", "the error shows the etcd log");
    assert.equal(existsSync(dir), false, `${dir} is removed`);
    assert.deepEqual(findProcessesMentioning(dir), [], "no process of the failed cluster is left");
  });
});

describe("startCluster with workloads", () => {
  const clusters = useClusters(1, { workloads: true, namePrefix: "workloads" });

  it("rolls a server-side applied Deployment out until it is Available with Running pods", async () => {
    const [cluster] = clusters();
    assert.ok(cluster);
    const api = connect(cluster);
    await apply(api, namespaceFor(7));
    await apply(api, deploymentFor(7)); // 8 replicas

    const deployment = await waitFor(
      () =>
        api.read<V1Deployment>({
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name: "web", namespace: "flotilla-e2e-7" },
        }),
      // Available turns True at replicas - maxUnavailable; wait for the whole rollout.
      (d) =>
        d.status?.availableReplicas === 8 &&
        (d.status.conditions?.some((c) => c.type === "Available" && c.status === "True") ?? false),
      60_000,
    );
    assert.equal(deployment.status?.availableReplicas, 8);
    assert.equal(deployment.status?.readyReplicas, 8);

    const pods = await api.list<V1Pod>("v1", "Pod", "flotilla-e2e-7");
    assert.equal(pods.items.length, 8);
    for (const pod of pods.items) {
      assert.equal(pod.spec?.nodeName, workloadNodeName);
      assert.equal(pod.status?.phase, "Running");
    }
  });

  it("stops all five processes", async () => {
    const [cluster] = clusters();
    assert.ok(cluster);
    const pids = Object.values(cluster.pids);
    assert.equal(pids.length, 5);
    await cluster.stop();
    assert.deepEqual(pids.filter(isRunning), []);
  });
});
