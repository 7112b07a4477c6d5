// Issue #4's acceptance, end to end: the hub's resolver renders the argocd-example-apps fixture
// (a Helm app of apps over directory, Kustomize and Helm apps, Argo CD and Helm hooks, sync
// waves), each in-cluster target is handed to the agent as a DesiredApp, and the agent syncs them
// into a real cluster with workloads, reports every object honestly, makes no write when a
// restarted agent resyncs, and rewrites only what a new commit changed.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import type { DesiredApp, IgnoreDifference, RetryPolicy } from "@flotilla/agent/desired/desired-app";
import { createFileStateStore } from "@flotilla/agent/desired/state-store";
import { assessResourceHealth } from "@flotilla/agent/health/assess-health";
import { createKubeClient } from "@flotilla/agent/kube/create-kube-client";
import type { KubeClient } from "@flotilla/agent/kube/kube-client";
import type { KubeObject, ObjectKey } from "@flotilla/agent/kube/kube-object";
import { loadKubeConfig } from "@flotilla/agent/kube/load-kube-config";
import type { AppStatus, ResourceStatus } from "@flotilla/agent/reconcile/app-status";
import { createReconciler, type Reconciler } from "@flotilla/agent/reconcile/reconciler";
import { groupOf, subject } from "@flotilla/hub/render/kube-object";
import { createRenderCache, renderSourceCached } from "@flotilla/hub/render/render-cache";
import { createRenderTools } from "@flotilla/hub/render/render-source";
import { createFixtureRepo, FIXTURE_REPOS_DIR, type FixtureRepo } from "@flotilla/hub/resolve/fixture-repo";
import {
  type FleetResolution,
  type ResolveDeps,
  resolveFleet,
  type Target,
} from "@flotilla/hub/resolve/resolve-fleet";
import { TRACKING_ANNOTATION } from "@flotilla/hub/resolve/tracking";
import { openGitSource } from "@flotilla/hub/source/git-source";
import { parseDuration } from "@flotilla/proto/duration";
import { makeTempDir } from "./harness/agent.js";
import { useClusters } from "./harness/cluster.js";
import { ensureTool } from "./harness/tools.js";

const FIXTURE = "argocd-example-apps";
const CLUSTER = "in-cluster";

/** The parts of the fixture's expected.json this suite reads. */
type Expected = {
  root: { repoURL: string; path: string };
  clusters: Record<string, Record<string, { namespace: string; objects: string[] }>>;
  problems: { app: string; kind: string }[];
};

// Argo CD's retry backoff defaults, used when a retry policy leaves them out.
const RETRY_DEFAULTS = { duration: "5s", factor: 2, maxDuration: "3m" };

function retryOf(retry: NonNullable<Target["syncPolicy"]>["retry"]): RetryPolicy | undefined {
  if (!retry) return undefined;
  return {
    limit: retry.limit ?? 0,
    backoffDurationMs: parseDuration(retry.backoff?.duration ?? RETRY_DEFAULTS.duration, "retry.duration"),
    backoffFactor: retry.backoff?.factor ?? RETRY_DEFAULTS.factor,
    backoffMaxDurationMs: parseDuration(
      retry.backoff?.maxDuration ?? RETRY_DEFAULTS.maxDuration,
      "retry.maxDuration",
    ),
  };
}

/** Argo CD's ignoreDifferences entry, as the resolver passes it through, in the agent's shape. */
function ignoreDifferenceOf(entry: unknown): IgnoreDifference {
  const e = (entry ?? {}) as Partial<Record<keyof IgnoreDifference, unknown>>;
  const text = (value: unknown) => (typeof value === "string" ? value : "");
  const texts = (value: unknown) =>
    Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
  return {
    group: text(e.group),
    kind: text(e.kind),
    name: text(e.name),
    namespace: text(e.namespace),
    jsonPointers: texts(e.jsonPointers),
    jqPathExpressions: texts(e.jqPathExpressions),
    managedFieldsManagers: texts(e.managedFieldsManagers),
  };
}

/**
 * What the hub will stream to the agent for one target; handed over directly here (the
 * hub-to-agent wire comes with a later issue). An `automated` block with `enabled: false` is
 * manual, as in Argo CD.
 */
function desiredAppOf(target: Target): DesiredApp {
  const policy = target.syncPolicy;
  const automated = policy?.automated;
  const retry = retryOf(policy?.retry);
  return {
    name: target.app,
    namespace: target.namespace,
    revision: target.sources[0]?.commit ?? "",
    digest: target.digest,
    syncPolicy: {
      ...(automated && automated.enabled !== false
        ? {
            automated: {
              prune: automated.prune ?? false,
              selfHeal: automated.selfHeal ?? false,
              allowEmpty: automated.allowEmpty ?? false,
            },
          }
        : {}),
      syncOptions: policy?.syncOptions ?? [],
      ...(retry ? { retry } : {}),
    },
    ignoreDifferences: target.ignoreDifferences.map(ignoreDifferenceOf),
    objects: target.objects,
  };
}

function apiVersionOf(r: Pick<ResourceStatus, "group" | "version">): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

function keyOfDeclared(obj: KubeObject): ObjectKey {
  return {
    group: groupOf(obj.apiVersion),
    kind: obj.kind,
    namespace: obj.metadata.namespace ?? "",
    name: obj.metadata.name ?? "",
  };
}

/** `kube` with every write it is asked for (dry runs aside) recorded as `verb Kind/namespace/name`. */
function recordWrites(kube: KubeClient): { kube: KubeClient; writes: string[] } {
  const writes: string[] = [];
  const record = (verb: string, obj: Pick<KubeObject, "kind" | "metadata"> | ObjectKey) =>
    writes.push(`${verb} ${"metadata" in obj ? subject(obj) : `${obj.kind}/${obj.namespace}/${obj.name}`}`);
  return {
    writes,
    kube: {
      ...kube,
      apply: (obj, options) => {
        if (!options.dryRun) record("apply", obj);
        return kube.apply(obj, options);
      },
      create: (obj, options) => {
        if (!options.dryRun) record("create", obj);
        return kube.create(obj, options);
      },
      replace: (obj, options) => {
        if (!options.dryRun) record("replace", obj);
        return kube.replace(obj, options);
      },
      delete: (apiVersion, key, options) => {
        if (!options?.dryRun) record("delete", key);
        return kube.delete(apiVersion, key, options);
      },
    },
  };
}

const describeResources = (status: AppStatus | undefined) =>
  JSON.stringify(
    status?.resources.map(
      (r) => `${r.hook ?? "-"} ${r.kind}/${r.name} ${r.result} ${r.sync} ${r.health}: ${r.message}`,
    ),
    null,
    1,
  );

describe("agent syncs what the resolver produces for argocd-example-apps", () => {
  const clusters = useClusters(1, { workloads: true });
  let work: { path: string; remove(): Promise<void> };
  let expected: Expected;
  let repo: FixtureRepo;
  let resolve: () => Promise<FleetResolution>;
  let resolution: FleetResolution;
  let apps: DesiredApp[];
  /** Statuses after the first sync settled, by app. */
  const synced = new Map<string, AppStatus>();

  before(async () => {
    work = await makeTempDir("flotilla-example-apps-");
    expected = JSON.parse(
      await readFile(join(FIXTURE_REPOS_DIR, FIXTURE, "expected.json"), "utf8"),
    ) as Expected;
    repo = await createFixtureRepo(join(work.path, "repo"), { fixture: FIXTURE });
    const git = openGitSource({
      cacheDir: join(work.path, "git"),
      repos: [{ url: repo.dir }],
      rewrites: [{ from: expected.root.repoURL, to: repo.dir }],
    });
    const tools = createRenderTools({
      kustomizePath: await ensureTool("kustomize"),
      helmPath: await ensureTool("helm"),
      workDir: join(work.path, "render"),
    });
    const cache = createRenderCache({ maxEntries: 100 });
    // The test cluster is the hub's own: https://kubernetes.default.svc names it.
    const deps: ResolveDeps = {
      git,
      clusters: [{ name: CLUSTER, server: "https://kubernetes.default.svc", labels: { env: "hub" } }],
      render: (input, key) => renderSourceCached(input, tools, cache, key),
    };
    resolve = () => resolveFleet({ name: "root", source: expected.root }, deps);
    resolution = await resolve();
    apps = desiredAppsOf(resolution);
  });
  after(async () => {
    await work?.remove();
  });

  function desiredAppsOf(fleet: FleetResolution): DesiredApp[] {
    return fleet.targets.filter((t) => t.cluster === CLUSTER).map(desiredAppOf);
  }

  function newKubeClient(): KubeClient {
    const cluster = clusters()[0];
    assert.ok(cluster);
    return createKubeClient(loadKubeConfig({ kubeconfigPath: cluster.kubeconfigPath }));
  }

  /**
   * A fresh client and reconciler over the one state file: a new process, as after a restart.
   * It is stopped after test `t`, pass or fail, so it cannot fight the next test's agent.
   */
  function newAgent(t: TestContext): { kube: KubeClient; writes: string[]; reconciler: Reconciler } {
    const { kube, writes } = recordWrites(newKubeClient());
    const reconciler = createReconciler({
      kube,
      store: createFileStateStore(join(work.path, "agent-state.json")),
      assessHealth: assessResourceHealth,
      pollIntervalMs: 250,
      debounceMs: 100,
      waveTimeoutMs: 120_000,
    });
    t.after(() => reconciler.stop());
    return { kube, writes, reconciler };
  }

  /** resourceVersion of every object the apps own, every hook the first sync ran, and their namespaces. */
  async function liveVersions(kube: KubeClient): Promise<Record<string, string | undefined>> {
    const found: Record<string, string | undefined> = {};
    const read = async (apiVersion: string, key: ObjectKey) => {
      const live = await kube.get(apiVersion, key);
      found[`${key.kind}/${key.namespace}/${key.name}`] = live?.metadata.resourceVersion;
    };
    for (const app of apps) {
      await read("v1", { group: "", kind: "Namespace", namespace: "", name: app.namespace });
      for (const obj of app.objects) if (obj.metadata.name) await read(obj.apiVersion, keyOfDeclared(obj));
    }
    for (const status of synced.values()) {
      for (const r of status.resources.filter((x) => x.hook)) await read(apiVersionOf(r), r);
    }
    return found;
  }

  it("delivers every in-cluster app the resolver could resolve, and none that has a problem", () => {
    const want = expected.clusters[CLUSTER] ?? {};
    assert.deepEqual(
      apps.map((a) => a.name).sort(),
      Object.keys(want).sort(),
      "delivered apps are the fixture's in-cluster apps",
    );
    const problemApps = expected.problems.map((p) => p.app);
    assert.deepEqual(resolution.problems.map((p) => p.app).sort(), problemApps.sort());
    for (const name of problemApps) {
      assert.ok(!apps.some((a) => a.name === name), `${name} has a problem and must not be delivered`);
    }
    for (const app of apps) {
      assert.equal(app.namespace, want[app.name]?.namespace, app.name);
      assert.deepEqual(app.objects.map(subject).sort(), want[app.name]?.objects, app.name);
      assert.equal(app.revision, resolution.revision, `${app.name} came from the root's commit`);
      assert.match(app.digest, /^sha256:[0-9a-f]{64}$/);
      assert.deepEqual(
        app.syncPolicy,
        {
          automated: { prune: true, selfHeal: true, allowEmpty: false },
          syncOptions: ["CreateNamespace=true"],
        },
        app.name,
      );
      assert.deepEqual(app.ignoreDifferences, [], app.name);
    }
  });

  it("syncs them all to Synced and Healthy, creating every object and running every hook", async (t) => {
    const { kube, writes, reconciler } = newAgent(t);
    await reconciler.start();
    await reconciler.setDesired(apps);
    await reconciler.reconcileAll();
    // settle polls health with its own deadline; the Deployments need the controllers and kwok.
    const statuses = await reconciler.settle(120_000);
    for (const status of statuses) synced.set(status.name, status);
    assert.deepEqual([...synced.keys()].sort(), apps.map((a) => a.name).sort());

    for (const status of statuses) {
      const detail = `${status.name}: ${describeResources(status)}`;
      assert.equal(status.sync, "Synced", detail);
      assert.equal(status.health, "Healthy", `${status.name}: ${status.healthMessage}; ${detail}`);
      assert.equal(status.operation?.phase, "Succeeded", `${status.name}: ${status.operation?.message}`);
      assert.equal(status.operation?.revision, resolution.revision);
      assert.deepEqual(status.conditions, [], status.name);
      const managed = status.resources.filter((r) => !r.hook);
      const declared = apps.find((a) => a.name === status.name)?.objects ?? [];
      assert.deepEqual(
        managed.map((r) => `${r.kind}/${r.namespace}/${r.name}`).sort(),
        declared
          .filter((o) => !isHook(o))
          .map(subject)
          .sort(),
        detail,
      );
      for (const r of managed) {
        // Written exactly once. The result is the first sync's "created", or "unchanged" when a
        // watch event started a no-op pass before settle returned (seen on a loaded machine).
        const written = `apply ${r.namespace ? `${r.kind}/${r.namespace}/${r.name}` : `${r.kind}/${r.name}`}`;
        const applies = writes.filter((w) => w === written);
        assert.equal(applies.length, 1, `${status.name} ${r.kind}/${r.name}: ${applies.length} applies`);
        assert.ok(
          ["created", "unchanged"].includes(r.result),
          `${status.name} ${r.kind}/${r.name}: ${r.result}`,
        );
        assert.equal(r.sync, "Synced", `${status.name} ${r.kind}/${r.name}`);
        assert.equal(r.health, "Healthy", `${status.name} ${r.kind}/${r.name}: ${r.message}`);
      }
    }

    // Hooks, by phase, name and outcome. A hook with only generateName gets Argo CD's name:
    // generateName + the commit's first 7 characters, the phase and the start time.
    const rev7 = resolution.revision.slice(0, 7);
    const generated = new RegExp(`^upgrade-sql-schema${rev7}-presync-\\d+$`);
    const hooksOf = (name: string) =>
      (synced.get(name)?.resources ?? [])
        .filter((r) => r.hook)
        .map((r) => ({
          hook: r.hook,
          name: generated.test(r.name) ? "upgrade-sql-schema<generated>" : r.name,
          result: r.result,
          health: r.health,
          message: r.message,
        }))
        .sort((a, b) => a.name.localeCompare(b.name));
    const succeeded = (hook: "PreSync" | "Sync" | "PostSync", name: string) => ({
      hook,
      name,
      result: "created",
      health: "Healthy",
      message: `${hook} hook succeeded`,
    });
    assert.deepEqual(hooksOf("example.sync-waves"), [
      succeeded("Sync", "maint-page-down"),
      succeeded("Sync", "maint-page-up"),
      succeeded("PreSync", "upgrade-sql-schema<generated>"),
    ]);
    // Helm's pre-install/pre-upgrade are PreSync, post-install/post-upgrade PostSync.
    assert.deepEqual(hooksOf("example.helm-hooks"), [
      succeeded("PostSync", "maint-page-down"),
      succeeded("PreSync", "maint-page-up"),
      succeeded("PreSync", "upgrade-sql-schema<generated>"),
    ]);
    for (const name of ["example.guestbook", "example.helm-guestbook", "example.kustomize-guestbook"]) {
      assert.deepEqual(hooksOf(name), [], name);
    }

    // What the statuses say about hooks is what the cluster shows: each Job completed.
    for (const status of statuses) {
      for (const r of status.resources.filter((x) => x.hook)) {
        const job = await kube.get(apiVersionOf(r), r);
        const conditions = (job?.status as { conditions?: { type: string; status: string }[] } | undefined)
          ?.conditions;
        assert.ok(
          conditions?.some((c) => c.type === "Complete" && c.status === "True"),
          `${status.name} Job/${r.name}: ${JSON.stringify(job?.status)}`,
        );
      }
    }

    // Every live object carries exactly the tracking id the resolver stamped.
    for (const app of apps) {
      for (const obj of app.objects.filter((o) => o.metadata.name)) {
        const live = await kube.get(obj.apiVersion, keyOfDeclared(obj));
        assert.ok(live, `${app.name}: ${subject(obj)} is live`);
        const stamped = obj.metadata.annotations?.[TRACKING_ANNOTATION];
        assert.ok(stamped?.startsWith(`${app.name}:`), `${subject(obj)}: ${stamped}`);
        assert.equal(live.metadata.annotations?.[TRACKING_ANNOTATION], stamped, subject(obj));
      }
    }
  });

  it("after a restart, resyncs every app without a write, an operation or a changed resourceVersion", async (t) => {
    const observer = newKubeClient();
    const before = await liveVersions(observer);
    assert.ok(
      Object.values(before).every((v) => v !== undefined),
      `every object is live: ${JSON.stringify(before)}`,
    );

    const { kube, writes, reconciler } = newAgent(t);
    await reconciler.start();
    await reconciler.setDesired(apps);
    const statuses = await reconciler.reconcileAll();
    assert.deepEqual(writes, []);
    assert.equal(kube.requestCounts().writes, 0, "writes to the API server");
    assert.deepEqual(statuses.map((s) => s.name).sort(), apps.map((a) => a.name).sort());
    for (const status of statuses) {
      assert.equal(status.sync, "Synced", `${status.name}: ${describeResources(status)}`);
      assert.equal(status.health, "Healthy", `${status.name}: ${status.healthMessage}`);
      assert.equal(status.operation, undefined, `${status.name}: no sync operation`);
      assert.ok(
        status.resources.every((r) => !r.hook && r.result === "unchanged"),
        `${status.name}: ${describeResources(status)}`,
      );
      const managed = (synced.get(status.name)?.resources ?? []).filter((r) => !r.hook);
      assert.equal(status.resources.length, managed.length, status.name);
    }
    assert.deepEqual(await liveVersions(observer), before);
    assert.equal(kube.requestCounts().writes, 0, "writes to the API server");
  });

  it("after a commit that changes one app, rewrites only that app's changed object", async (t) => {
    const path = "guestbook/guestbook-ui-deployment.yaml";
    const manifest = await readFile(join(repo.dir, path), "utf8");
    assert.match(manifest, /replicas: 1\n/);
    const commit = await repo.commit({ [path]: manifest.replace("replicas: 1\n", "replicas: 2\n") }, "scale");
    const next = await resolve();
    assert.equal(next.revision, commit);
    const nextApps = desiredAppsOf(next);
    const changed = nextApps.filter((a) => apps.find((b) => b.name === a.name)?.digest !== a.digest);
    assert.deepEqual(
      changed.map((a) => a.name),
      ["example.guestbook"],
      "a commit that leaves an app's output alone leaves its digest alone",
    );

    const { kube, writes, reconciler } = newAgent(t);
    await reconciler.start();
    await reconciler.setDesired(nextApps);
    await reconciler.reconcileAll();
    const statuses = await reconciler.settle(120_000);
    for (const status of statuses) {
      const detail = `${status.name}: ${describeResources(status)}`;
      assert.equal(status.sync, "Synced", detail);
      assert.equal(status.health, "Healthy", `${status.name}: ${status.healthMessage}`);
      const results = status.resources.map((r) => `${r.kind}/${r.name}=${r.result}`).sort();
      if (status.name === "example.guestbook") {
        assert.equal(status.operation?.phase, "Succeeded", status.operation?.message);
        assert.equal(status.revision, commit);
        assert.equal(status.operation?.revision, commit);
        assert.deepEqual(results, ["Deployment/guestbook-ui=configured", "Service/guestbook-ui=unchanged"]);
      } else {
        assert.equal(status.operation, undefined, `${status.name}: no sync operation`);
        assert.ok(
          status.resources.every((r) => r.result === "unchanged"),
          detail,
        );
      }
    }
    assert.deepEqual(writes, ["apply Deployment/guestbook/guestbook-ui"]);
    assert.equal(kube.requestCounts().writes, 1, "one write: the guestbook Deployment");
    const live = await kube.get("apps/v1", {
      group: "apps",
      kind: "Deployment",
      namespace: "guestbook",
      name: "guestbook-ui",
    });
    const liveStatus = live?.status as { availableReplicas?: number } | undefined;
    assert.equal((live?.spec as { replicas?: number } | undefined)?.replicas, 2);
    assert.equal(liveStatus?.availableReplicas, 2, JSON.stringify(live?.status));
  });
});

/** Declares an Argo CD or Helm hook (the fixture uses no `crd-install` or `Skip`). */
function isHook(obj: KubeObject): boolean {
  const annotations = obj.metadata.annotations ?? {};
  return "argocd.argoproj.io/hook" in annotations || "helm.sh/hook" in annotations;
}
