// Phases, waves and hooks (Argo CD's sync-waves example, rewritten), a conflicting field manager,
// an API server restart and the agent's own restart, against a real cluster with workloads.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { loadDesiredDir } from "@flotilla/agent/desired/load-desired-dir";
import { createFileStateStore } from "@flotilla/agent/desired/state-store";
import { assessResourceHealth } from "@flotilla/agent/health/assess-health";
import type { KubeClient, WatchHandle } from "@flotilla/agent/kube/kube-client";
import type { KubeObject } from "@flotilla/agent/kube/kube-object";
import { createReconciler, type Reconciler } from "@flotilla/agent/reconcile/reconciler";
import { adminKube, makeTempDir, waitFor, writeDesiredDir } from "./harness/agent.js";
import { useClusters } from "./harness/cluster.js";

const hookJob = (generateName: string, hook: string, extra: Record<string, string> = {}) => ({
  apiVersion: "batch/v1",
  kind: "Job",
  metadata: { generateName, annotations: { "argocd.argoproj.io/hook": hook, ...extra } },
  spec: {
    backoffLimit: 0,
    template: {
      spec: {
        restartPolicy: "Never",
        containers: [{ name: "run", image: "alpine:3.22", command: ["true"] }],
      },
    },
  },
});

const replicaSet = (name: string, wave?: number) => ({
  apiVersion: "apps/v1",
  kind: "ReplicaSet",
  metadata: {
    name,
    ...(wave === undefined ? {} : { annotations: { "argocd.argoproj.io/sync-wave": String(wave) } }),
  },
  spec: {
    replicas: 1,
    selector: { matchLabels: { tier: name } },
    template: {
      metadata: { labels: { tier: name } },
      spec: { containers: [{ name: "main", image: "nginx:1.29" }] },
    },
  },
});

const service = (name: string, wave?: number) => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: {
    name,
    ...(wave === undefined ? {} : { annotations: { "argocd.argoproj.io/sync-wave": String(wave) } }),
  },
  spec: { selector: { tier: name }, ports: [{ port: 80, targetPort: 80 }] },
});

const wavesApp = {
  "app.yaml": {
    namespace: "waves",
    syncPolicy: { automated: { prune: true }, syncOptions: ["CreateNamespace=true"] },
  },
  "manifests.yaml": [
    hookJob("upgrade-sql-schema-", "PostSync"),
    replicaSet("backend"),
    service("backend"),
    hookJob("maintenance-page-up-", "Sync", { "argocd.argoproj.io/sync-wave": "1" }),
    replicaSet("frontend", 2),
    service("frontend", 2),
    hookJob("migrate-", "PreSync", { "argocd.argoproj.io/hook-delete-policy": "HookSucceeded" }),
  ],
};

/** Records the resourceVersion at which each object of `kinds` was first seen, in one namespace. */
async function recordCreations(kube: KubeClient, namespace: string, kinds: [string, string][]) {
  const created = new Map<string, number>();
  const handles: WatchHandle[] = [];
  for (const [apiVersion, kind] of kinds) {
    const resource = await kube.resourceFor(apiVersion, kind);
    handles.push(
      kube.watch(resource, namespace, {
        onEvent(event) {
          const name = `${kind}/${event.object.metadata.name}`;
          if (event.type === "ADDED" && !created.has(name))
            created.set(name, Number(event.object.metadata.resourceVersion));
        },
      }),
    );
  }
  return {
    created,
    stop: () => {
      for (const handle of handles) handle.stop();
    },
  };
}

describe("agent ordering and restarts against a real cluster", () => {
  const clusters = useClusters(1, { workloads: true });
  let desired: { path: string; remove(): Promise<void> };
  let state: { path: string; remove(): Promise<void> };
  let reconciler: Reconciler | undefined;

  before(async () => {
    desired = await makeTempDir("flotilla-desired-");
    state = await makeTempDir("flotilla-state-");
  });
  after(async () => {
    await reconciler?.stop();
    await desired?.remove();
    await state?.remove();
  });

  function newReconciler(kube = adminKube(clusters()[0] as never)) {
    reconciler = createReconciler({
      kube,
      store: createFileStateStore(join(state.path, "state.json")),
      assessHealth: assessResourceHealth,
      pollIntervalMs: 250,
      debounceMs: 100,
      waveTimeoutMs: 90_000,
    });
    return reconciler;
  }

  it("runs PreSync hooks, then waves in order waiting for health, then PostSync hooks, and deletes succeeded hooks", async () => {
    const kube = adminKube(clusters()[0] as never);
    await kube.create(
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "waves" } },
      { fieldManager: "test" },
    );
    const recorder = await recordCreations(kube, "waves", [
      ["batch/v1", "Job"],
      ["apps/v1", "ReplicaSet"],
      ["v1", "Service"],
    ]);
    await writeDesiredDir(desired.path, { waves: wavesApp });
    const agent = newReconciler();
    await agent.start();
    await agent.setDesired((await loadDesiredDir(desired.path)).apps);
    const [status] = await agent.reconcileAll();
    recorder.stop();
    assert.equal(status?.operation?.phase, "Succeeded", JSON.stringify(status, null, 2));

    const order = [...recorder.created.entries()]
      .sort((a, b) => a[1] - b[1])
      .map(([name]) => name.replace(/-[a-z0-9]{7}-\w+-\d+$/, "-*"));
    const position = (prefix: string) => order.findIndex((name) => name.startsWith(prefix));
    assert.ok(position("Job/migrate-") === 0, `PreSync hook first: ${order.join(", ")}`);
    assert.ok(
      position("Service/backend") < position("ReplicaSet/backend"),
      `kind order within wave 0: ${order.join(", ")}`,
    );
    assert.ok(
      position("ReplicaSet/backend") < position("Job/maintenance-page-up-"),
      `wave 0 before the wave 1 hook: ${order.join(", ")}`,
    );
    assert.ok(
      position("Job/maintenance-page-up-") < position("Service/frontend"),
      `wave 1 before wave 2: ${order.join(", ")}`,
    );
    assert.ok(
      position("ReplicaSet/frontend") < position("Job/upgrade-sql-schema-"),
      `PostSync last: ${order.join(", ")}`,
    );

    const hooks = status?.resources.filter((r) => r.hook) ?? [];
    assert.deepEqual(hooks.map((h) => h.hook).sort(), ["PostSync", "PreSync", "Sync"]);
    assert.ok(
      hooks.every((h) => h.message.endsWith("hook succeeded")),
      JSON.stringify(hooks),
    );
    const migrate = hooks.find((h) => h.hook === "PreSync");
    await waitFor("the HookSucceeded hook to be deleted", async () =>
      (await kube.get("batch/v1", {
        group: "batch",
        kind: "Job",
        namespace: "waves",
        name: migrate?.name ?? "",
      }))
        ? undefined
        : true,
    );
  });

  it("does not run hooks or write again after its own restart", async () => {
    await reconciler?.stop();
    const kube = adminKube(clusters()[0] as never);
    const jobsBefore = (await kube.list(await kube.resourceFor("batch/v1", "Job"), "waves")).items.length;
    const agent = newReconciler(kube);
    await agent.start();
    await agent.setDesired((await loadDesiredDir(desired.path)).apps);
    const [status] = await agent.reconcileAll();
    assert.equal(status?.sync, "Synced");
    assert.equal(status?.operation, undefined, "no sync operation after a restart with nothing changed");
    assert.equal(kube.requestCounts().writes, 0);
    const jobsAfter = (await kube.list(await kube.resourceFor("batch/v1", "Job"), "waves")).items.length;
    assert.equal(jobsAfter, jobsBefore, "no hook re-created");
  });

  it("takes over a field another manager set, as Argo CD's --force-conflicts does", async () => {
    const kube = adminKube(clusters()[0] as never);
    const resource = await kube.resourceFor("apps/v1", "ReplicaSet");
    await kube.apply(
      {
        ...replicaSet("backend"),
        metadata: { name: "backend", namespace: "waves" },
        spec: { ...replicaSet("backend").spec, replicas: 3 },
      },
      { fieldManager: "helm", force: true },
    );
    const [status] = (await reconciler?.reconcileAll()) ?? [];
    const backend = status?.resources.find((r) => r.kind === "ReplicaSet" && r.name === "backend");
    assert.equal(backend?.result, "unchanged", "self-heal is off: the drift is only reported");
    assert.equal(backend?.sync, "OutOfSync");
    const synced = await reconciler?.sync("waves");
    const after = synced?.resources.find((r) => r.kind === "ReplicaSet" && r.name === "backend");
    assert.equal(after?.result, "configured");
    const live = (await kube.get("apps/v1", {
      group: "apps",
      kind: "ReplicaSet",
      namespace: "waves",
      name: "backend",
    })) as KubeObject;
    assert.equal((live.spec as { replicas: number }).replicas, 1);
    const owners = (live.metadata.managedFields ?? [])
      .filter(
        (entry) =>
          entry.subresource !== "status" && JSON.stringify(entry.fieldsV1 ?? {}).includes('"f:replicas"'),
      )
      .map((entry) => entry.manager);
    assert.deepEqual(owners, ["flotilla-agent"]);
    void resource;
  });

  it("keeps reconciling through an API server restart: a change made while it was down is applied after", async () => {
    const cluster = clusters()[0];
    assert.ok(cluster);
    const restart = cluster.restartApiserver(3_000);
    await writeDesiredDir(desired.path, {
      waves: {
        ...wavesApp,
        "extra.yaml": { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "late" }, data: { a: "1" } },
      },
    });
    const apps = (await loadDesiredDir(desired.path)).apps;
    await reconciler?.setDesired(apps);
    await restart;
    const kube = adminKube(cluster);
    await waitFor(
      "the ConfigMap to be applied after the API server came back",
      async () =>
        (await kube.get("v1", { group: "", kind: "ConfigMap", namespace: "waves", name: "late" })) ??
        undefined,
      120_000,
    );
  });
});
