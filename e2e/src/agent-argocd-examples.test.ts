// Issue #4's acceptance: the hub resolves the argocd-example-apps fixture (Helm app of apps,
// directory, Kustomize and Helm apps, hooks and waves) and the agent syncs what the resolver
// produced for `in-cluster` into a real cluster with workloads, reports every object honestly,
// and makes no write when a restarted agent resyncs.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { DesiredApp } from "@flotilla/agent/desired/desired-app";
import { createFileStateStore } from "@flotilla/agent/desired/state-store";
import { assessResourceHealth } from "@flotilla/agent/health/assess-health";
import { createKubeClient, loadKubeConfig } from "@flotilla/agent/kube/create-kube-client";
import type { AppStatus } from "@flotilla/agent/reconcile/app-status";
import { createReconciler } from "@flotilla/agent/reconcile/reconciler";
import { createRenderCache, renderSourceCached } from "@flotilla/hub/render/render-cache";
import { createRenderTools } from "@flotilla/hub/render/render-source";
import { createFixtureRepo } from "@flotilla/hub/resolve/fixture-repo";
import { type FleetResolution, resolveFleet, type Target } from "@flotilla/hub/resolve/resolve-fleet";
import { openGitSource } from "@flotilla/hub/source/git-source";
import { makeTempDir } from "./harness/agent.js";
import { useClusters } from "./harness/cluster.js";
import { ensureTool } from "./harness/tools.js";

const ROOT_URL = "https://github.com/argoproj/argocd-example-apps";

/** What the hub will put on the wire, here handed over directly (the stream comes with issue #5). */
function desiredAppOf(target: Target, revision: string): DesiredApp {
  const automated = target.syncPolicy?.automated;
  const enabled = automated !== undefined && automated.enabled !== false;
  return {
    name: target.app,
    namespace: target.namespace,
    revision: target.sources[0]?.commit ?? revision,
    digest: target.digest,
    syncPolicy: {
      ...(enabled
        ? {
            automated: {
              prune: automated.prune ?? false,
              selfHeal: automated.selfHeal ?? false,
              allowEmpty: automated.allowEmpty ?? false,
            },
          }
        : {}),
      syncOptions: target.syncPolicy?.syncOptions ?? [],
    },
    ignoreDifferences: [],
    objects: target.objects,
  };
}

describe("agent syncs what the resolver produces for argocd-example-apps", () => {
  const clusters = useClusters(1, { workloads: true });
  let work: { path: string; remove(): Promise<void> };
  let resolution: FleetResolution;
  let apps: DesiredApp[];
  const firstStatuses = new Map<string, AppStatus>();

  before(async () => {
    work = await makeTempDir("flotilla-example-apps-");
    const tools = { kustomize: await ensureTool("kustomize"), helm: await ensureTool("helm") };
    const repo = await createFixtureRepo(join(work.path, "repo"), { fixture: "argocd-example-apps" });
    const git = openGitSource({
      cacheDir: join(work.path, "git"),
      repos: [{ url: repo.dir }],
      rewrites: [{ from: ROOT_URL, to: repo.dir }],
    });
    const renderTools = createRenderTools({
      kustomizePath: tools.kustomize,
      helmPath: tools.helm,
      workDir: join(work.path, "render"),
    });
    const cache = createRenderCache({ maxEntries: 100 });
    resolution = await resolveFleet(
      { name: "root", source: { repoURL: ROOT_URL, path: "apps" } },
      {
        git,
        clusters: [{ name: "in-cluster", server: "https://kubernetes.default.svc", labels: {} }],
        render: (input, key) => renderSourceCached(input, renderTools, cache, key),
      },
    );
    apps = resolution.targets
      .filter((t) => t.cluster === "in-cluster")
      .map((t) => desiredAppOf(t, resolution.revision));
  });
  after(async () => {
    await work?.remove();
  });

  const newAgent = () => {
    const cluster = clusters()[0];
    assert.ok(cluster);
    const kube = createKubeClient(loadKubeConfig({ kubeconfigPath: cluster.kubeconfigPath }));
    const reconciler = createReconciler({
      kube,
      store: createFileStateStore(join(work.path, "agent-state.json")),
      assessHealth: assessResourceHealth,
      pollIntervalMs: 250,
      waveTimeoutMs: 120_000,
    });
    return { kube, reconciler };
  };

  it("delivers every app the resolver could resolve, and none that has a problem", () => {
    assert.deepEqual(apps.map((a) => a.name).sort(), [
      "example.guestbook",
      "example.helm-guestbook",
      "example.helm-hooks",
      "example.kustomize-guestbook",
      "example.sync-waves",
    ]);
    assert.deepEqual(
      resolution.problems.map((p) => p.app),
      ["example.plugin-kasane"],
    );
  });

  it("syncs them all to Synced and Healthy, creating every object and running the hooks", async () => {
    const { kube, reconciler } = newAgent();
    try {
      await reconciler.start();
      await reconciler.setDesired(apps);
      await reconciler.reconcileAll();
      const statuses = await reconciler.settle(120_000);
      for (const status of statuses) firstStatuses.set(status.name, status);
      for (const status of statuses) {
        assert.equal(status.sync, "Synced", `${status.name}: ${JSON.stringify(status.resources)}`);
        assert.equal(status.health, "Healthy", `${status.name}: ${status.healthMessage}`);
        assert.equal(status.operation?.phase, "Succeeded", `${status.name}: ${status.operation?.message}`);
        for (const resource of status.resources.filter((r) => !r.hook)) {
          assert.equal(resource.result, "created", `${status.name} ${resource.kind}/${resource.name}`);
        }
      }
      const hooks = (name: string) =>
        (firstStatuses.get(name)?.resources ?? [])
          .filter((r) => r.hook)
          .map((r) => `${r.hook}:${r.message}`)
          .sort();
      assert.deepEqual(hooks("example.sync-waves").length, 3);
      assert.ok(
        hooks("example.sync-waves").every((h) => h.endsWith("hook succeeded")),
        hooks("example.sync-waves").join(),
      );
      assert.ok(hooks("example.helm-hooks").length >= 2, hooks("example.helm-hooks").join());

      // Live objects carry the tracking id the resolver stamped.
      const guestbook = apps.find((a) => a.name === "example.kustomize-guestbook");
      const declared = guestbook?.objects.find((o) => o.kind === "Deployment");
      assert.ok(declared?.metadata.name);
      const live = await kube.get("apps/v1", {
        group: "apps",
        kind: "Deployment",
        namespace: "kustomize-guestbook",
        name: declared.metadata.name,
      });
      assert.equal(
        live?.metadata.annotations?.["argocd.argoproj.io/tracking-id"],
        declared.metadata.annotations?.["argocd.argoproj.io/tracking-id"],
      );
    } finally {
      await reconciler.stop();
    }
  });

  it("after a restart, resyncs every app without a single write, hook or changed resourceVersion", async () => {
    const { kube, reconciler } = newAgent();
    const versions = async () => {
      const found: Record<string, string | undefined> = {};
      for (const status of firstStatuses.values()) {
        for (const r of status.resources.filter((x) => !x.hook)) {
          const apiVersion = r.group ? `${r.group}/${r.version}` : r.version;
          const live = await kube.get(apiVersion, r);
          found[`${r.kind}/${r.namespace}/${r.name}`] = live?.metadata.resourceVersion;
        }
      }
      return found;
    };
    const before = await versions();
    const readsOnly = kube.requestCounts().writes;
    try {
      await reconciler.start();
      await reconciler.setDesired(apps);
      const statuses = await reconciler.reconcileAll();
      assert.equal(statuses.length, apps.length);
      for (const status of statuses) {
        assert.equal(status.sync, "Synced", status.name);
        assert.equal(status.operation, undefined, `${status.name}: no sync operation`);
        assert.ok(
          status.resources.every((r) => r.result === "unchanged"),
          `${status.name}: ${status.resources.map((r) => r.result).join()}`,
        );
      }
      assert.equal(kube.requestCounts().writes - readsOnly, 0, "writes to the API server");
    } finally {
      await reconciler.stop();
    }
    assert.deepEqual(await versions(), before);
  });
});
