// The agent against a real kube-apiserver with controllers and kwok (issue #4): sync, no-op
// resync, change, drift with and without self-heal, prune, waves and hooks, CRDs, restarts.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { loadDesiredDir } from "@flotilla/agent/desired/load-desired-dir";
import { createFileStateStore } from "@flotilla/agent/desired/state-store";
import { assessResourceHealth } from "@flotilla/agent/health/assess-health";
import type { KubeClient } from "@flotilla/agent/kube/kube-client";
import type { AppStatus } from "@flotilla/agent/reconcile/app-status";
import { createReconciler, type Reconciler } from "@flotilla/agent/reconcile/reconciler";
import { adminKube, makeTempDir, runAgentOnce, waitFor, writeDesiredDir } from "./harness/agent.js";
import { useClusters } from "./harness/cluster.js";

const guestbookDeployment = (replicas: number, image = "gcr.io/heptio-images/ks-guestbook-demo:0.2") => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "guestbook-ui" },
  spec: {
    replicas,
    revisionHistoryLimit: 3,
    selector: { matchLabels: { app: "guestbook-ui" } },
    template: {
      metadata: { labels: { app: "guestbook-ui" } },
      spec: { containers: [{ name: "guestbook-ui", image, ports: [{ containerPort: 80 }] }] },
    },
  },
});

const guestbookService = {
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "guestbook-ui" },
  spec: { ports: [{ port: 80, targetPort: 80 }], selector: { app: "guestbook-ui" } },
};

const configMap = (name: string, data: Record<string, string>, annotations: Record<string, string> = {}) => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, annotations },
  data,
});

function resultsOf(
  run: { json: { apps: { name: string; resources: { kind: string; name: string; result: string }[] }[] } },
  app: string,
) {
  const found = run.json.apps.find((a) => a.name === app);
  assert.ok(found, `app ${app} in the output`);
  return Object.fromEntries(found.resources.map((r) => [`${r.kind}/${r.name}`, r.result]));
}

async function resourceVersionOf(
  kube: KubeClient,
  apiVersion: string,
  kind: string,
  namespace: string,
  name: string,
) {
  const group = apiVersion.includes("/") ? (apiVersion.split("/")[0] ?? "") : "";
  const live = await kube.get(apiVersion, { group, kind, namespace, name });
  return live?.metadata.resourceVersion;
}

describe("agent reconcile against a real cluster", () => {
  const clusters = useClusters(1, { workloads: true });
  let desired: { path: string; remove(): Promise<void> };
  let state: { path: string; remove(): Promise<void> };
  const stateFile = () => join(state.path, "state.json");

  before(async () => {
    desired = await makeTempDir("flotilla-desired-");
    state = await makeTempDir("flotilla-state-");
  });
  after(async () => {
    await desired?.remove();
    await state?.remove();
  });

  const once = (extra: string[] = []) =>
    runAgentOnce(clusters()[0]?.kubeconfigPath ?? "", [
      "--desired-dir",
      desired.path,
      "--state-file",
      stateFile(),
      ...extra,
    ]);

  it("syncs a new app into a namespace it creates, and reports every object created, Synced and Healthy", async () => {
    await writeDesiredDir(desired.path, {
      guestbook: {
        "app.yaml": {
          namespace: "guestbook",
          syncPolicy: { automated: { prune: true, selfHeal: true }, syncOptions: ["CreateNamespace=true"] },
        },
        "guestbook-ui-deployment.yaml": guestbookDeployment(1),
        "guestbook-ui-svc.yaml": guestbookService,
      },
    });
    const run = await once();
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const [app] = run.json.apps;
    assert.equal(app?.name, "guestbook");
    assert.equal(app?.sync, "Synced");
    assert.equal(app?.health, "Healthy");
    assert.deepEqual(resultsOf(run, "guestbook"), {
      "Deployment/guestbook-ui": "created",
      "Service/guestbook-ui": "created",
    });
    for (const resource of app?.resources ?? []) {
      assert.equal(resource.namespace, "guestbook");
      assert.equal(resource.health, "Healthy");
    }
    const live = await adminKube(clusters()[0] as never).get("apps/v1", {
      group: "apps",
      kind: "Deployment",
      namespace: "guestbook",
      name: "guestbook-ui",
    });
    assert.equal(
      live?.metadata.annotations?.["argocd.argoproj.io/tracking-id"],
      "guestbook:apps/Deployment:guestbook/guestbook-ui",
    );
  });

  it("makes no write on a no-op resync after a restart, and leaves every resourceVersion as it was", async () => {
    const kube = adminKube(clusters()[0] as never);
    const before = await resourceVersionOf(kube, "apps/v1", "Deployment", "guestbook", "guestbook-ui");
    const beforeSvc = await resourceVersionOf(kube, "v1", "Service", "guestbook", "guestbook-ui");
    // A new reconciler over the same state file: the agent's own restart.
    const agentKube = adminKube(clusters()[0] as never);
    const reconciler = createReconciler({
      kube: agentKube,
      store: createFileStateStore(stateFile()),
      assessHealth: assessResourceHealth,
    });
    try {
      await reconciler.start();
      const { apps } = await loadDesiredDir(desired.path);
      await reconciler.setDesired(apps);
      const [status] = await reconciler.reconcileAll();
      assert.equal(status?.sync, "Synced");
      assert.deepEqual(
        status?.resources.map((r) => r.result),
        ["unchanged", "unchanged"],
      );
      assert.equal(agentKube.requestCounts().writes, 0, "writes to the API server on a no-op resync");
    } finally {
      await reconciler.stop();
    }
    assert.equal(await resourceVersionOf(kube, "apps/v1", "Deployment", "guestbook", "guestbook-ui"), before);
    assert.equal(await resourceVersionOf(kube, "v1", "Service", "guestbook", "guestbook-ui"), beforeSvc);
  });

  it("configures only the object that changed", async () => {
    await writeDesiredDir(desired.path, {
      guestbook: {
        "app.yaml": {
          namespace: "guestbook",
          syncPolicy: { automated: { prune: true, selfHeal: true }, syncOptions: ["CreateNamespace=true"] },
        },
        "guestbook-ui-deployment.yaml": guestbookDeployment(2),
        "guestbook-ui-svc.yaml": guestbookService,
      },
    });
    const run = await once();
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.deepEqual(resultsOf(run, "guestbook"), {
      "Deployment/guestbook-ui": "configured",
      "Service/guestbook-ui": "unchanged",
    });
  });

  it("syncs and resyncs an app named like an Object.prototype member (constructor)", async () => {
    const configMapNamed = (name: string) => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name },
      data: { app: name },
    });
    await writeDesiredDir(desired.path, {
      constructor: {
        "app.yaml": { namespace: "default", syncPolicy: { automated: { prune: true } } },
        "cm.yaml": configMapNamed("proto-constructor"),
      },
    });
    for (const pass of ["first", "second"]) {
      const run = await once();
      assert.equal(run.code, 0, `${pass} pass: ${run.stdout}\n${run.stderr}`);
      const app = run.json.apps.find((entry) => entry.name === "constructor");
      assert.equal(app?.sync, "Synced", `${pass} pass`);
    }
    assert.equal(resultsOf(await once(), "constructor")["ConfigMap/proto-constructor"], "unchanged");
  });
});

describe("agent self-heal, prune and ordering against a real cluster", () => {
  const clusters = useClusters(1, { workloads: true });
  let desired: { path: string; remove(): Promise<void> };
  let state: { path: string; remove(): Promise<void> };
  let reconciler: Reconciler | undefined;
  const statuses = new Map<string, AppStatus>();

  before(async () => {
    desired = await makeTempDir("flotilla-desired-");
    state = await makeTempDir("flotilla-state-");
  });
  after(async () => {
    await reconciler?.stop();
    await desired?.remove();
    await state?.remove();
  });

  async function startAgent() {
    const kube = adminKube(clusters()[0] as never);
    reconciler = createReconciler({
      kube,
      store: createFileStateStore(join(state.path, "state.json")),
      assessHealth: assessResourceHealth,
      debounceMs: 100,
      pollIntervalMs: 250,
      selfHealBackoff: { initialMs: 100, factor: 2, maxMs: 1_000 },
      onStatus: (status) => statuses.set(status.name, status),
    });
    await reconciler.start();
    return reconciler;
  }

  async function load() {
    const { apps, problems } = await loadDesiredDir(desired.path);
    assert.deepEqual(problems, []);
    await reconciler?.setDesired(apps);
    return reconciler?.reconcileAll() ?? [];
  }

  it("reverts drift when self-heal is on and only reports it when self-heal is off", async () => {
    await startAgent();
    await writeDesiredDir(desired.path, {
      healed: {
        "app.yaml": {
          namespace: "heal",
          syncPolicy: { automated: { selfHeal: true }, syncOptions: ["CreateNamespace=true"] },
        },
        "cm.yaml": configMap("settings", { mode: "gitops" }),
      },
      reported: {
        "app.yaml": {
          namespace: "report",
          syncPolicy: { automated: { selfHeal: false }, syncOptions: ["CreateNamespace=true"] },
        },
        "cm.yaml": configMap("settings", { mode: "gitops" }),
      },
    });
    const first = await load();
    assert.deepEqual(first.map((s) => [s.name, s.sync]).sort(), [
      ["healed", "Synced"],
      ["reported", "Synced"],
    ]);

    const kube = adminKube(clusters()[0] as never);
    for (const namespace of ["heal", "report"]) {
      await kube.apply(
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: "settings", namespace },
          data: { mode: "hand-edited" },
        },
        { fieldManager: "kubectl-edit", force: true },
      );
    }
    await waitFor("the healed ConfigMap to be reverted", async () => {
      const live = await kube.get("v1", {
        group: "",
        kind: "ConfigMap",
        namespace: "heal",
        name: "settings",
      });
      return (live?.data as Record<string, string> | undefined)?.mode === "gitops" ? true : undefined;
    });
    const reported = await waitFor("the drift to be reported OutOfSync", async () =>
      statuses.get("reported")?.sync === "OutOfSync" ? statuses.get("reported") : undefined,
    );
    assert.match(reported.resources[0]?.message ?? "", /data/);
    const live = await kube.get("v1", {
      group: "",
      kind: "ConfigMap",
      namespace: "report",
      name: "settings",
    });
    assert.equal(
      (live?.data as Record<string, string> | undefined)?.mode,
      "hand-edited",
      "self-heal off must not revert",
    );
  });

  it("prunes an object no longer declared, keeps one marked Prune=false and reports it", async () => {
    await writeDesiredDir(desired.path, {
      pruning: {
        "app.yaml": {
          namespace: "pruning",
          syncPolicy: { automated: { prune: true }, syncOptions: ["CreateNamespace=true"] },
        },
        "objects.yaml": [
          configMap("kept", { a: "1" }),
          configMap("dropped", { b: "2" }),
          configMap("protected", { c: "3" }, { "argocd.argoproj.io/sync-options": "Prune=false" }),
        ],
      },
    });
    await load();
    await writeDesiredDir(desired.path, {
      pruning: {
        "app.yaml": {
          namespace: "pruning",
          syncPolicy: { automated: { prune: true }, syncOptions: ["CreateNamespace=true"] },
        },
        "objects.yaml": [configMap("kept", { a: "1" })],
      },
    });
    const statusesAfter = await load();
    const pruning = statusesAfter.find((s) => s.name === "pruning");
    const byName = Object.fromEntries((pruning?.resources ?? []).map((r) => [r.name, r]));
    assert.equal(byName.kept?.result, "unchanged");
    assert.equal(byName.dropped?.result, "pruned");
    assert.equal(byName.protected?.requiresPruning, true);
    assert.match(byName.protected?.message ?? "", /Prune=false/);
    assert.equal(pruning?.sync, "OutOfSync");
    const kube = adminKube(clusters()[0] as never);
    await waitFor("the pruned ConfigMap to be gone", async () =>
      (await kube.get("v1", { group: "", kind: "ConfigMap", namespace: "pruning", name: "dropped" }))
        ? undefined
        : true,
    );
    assert.ok(
      await kube.get("v1", { group: "", kind: "ConfigMap", namespace: "pruning", name: "protected" }),
    );
  });

  it("applies a CRD and its custom resource in one app", async () => {
    const crd = {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: "widgets.example.com" },
      spec: {
        group: "example.com",
        scope: "Namespaced",
        names: { plural: "widgets", singular: "widget", kind: "Widget", listKind: "WidgetList" },
        versions: [
          {
            name: "v1",
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: "object",
                properties: { spec: { type: "object", properties: { size: { type: "integer" } } } },
              },
            },
          },
        ],
      },
    };
    await writeDesiredDir(desired.path, {
      widgets: {
        "app.yaml": {
          namespace: "widgets",
          syncPolicy: { automated: {}, syncOptions: ["CreateNamespace=true"] },
        },
        // The custom resource sorts first by file name; the CRD must still go first.
        "a-widget.yaml": {
          apiVersion: "example.com/v1",
          kind: "Widget",
          metadata: { name: "small" },
          spec: { size: 1 },
        },
        "b-crd.yaml": crd,
      },
    });
    const all = await load();
    const widgets = all.find((s) => s.name === "widgets");
    assert.equal(widgets?.operation?.phase, "Succeeded", JSON.stringify(widgets, null, 2));
    const byKind = Object.fromEntries((widgets?.resources ?? []).map((r) => [r.kind, r.result]));
    assert.deepEqual(byKind, { CustomResourceDefinition: "created", Widget: "created" });
  });

  it("ignores differences declared in ignoreDifferences, and with RespectIgnoreDifferences keeps them on sync", async () => {
    const ignore = [{ group: "", kind: "ConfigMap", jsonPointers: ["/data/replicas"] }];
    const app = (mode: string, respect: boolean) => ({
      "app.yaml": {
        namespace: respect ? "respecting" : "ignoring",
        ignoreDifferences: ignore,
        syncPolicy: {
          automated: { selfHeal: true },
          syncOptions: ["CreateNamespace=true", ...(respect ? ["RespectIgnoreDifferences=true"] : [])],
        },
      },
      "cm.yaml": configMap("scaled", { replicas: "1", mode }),
    });
    await writeDesiredDir(desired.path, { ignoring: app("a", false), respecting: app("a", true) });
    await load();
    const kube = adminKube(clusters()[0] as never);
    const data = async (namespace: string) =>
      (await kube.get("v1", { group: "", kind: "ConfigMap", namespace, name: "scaled" }))?.data as
        | Record<string, string>
        | undefined;
    for (const namespace of ["ignoring", "respecting"]) {
      await kube.apply(
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: "scaled", namespace },
          data: { replicas: "5" },
        },
        { fieldManager: "autoscaler", force: true },
      );
    }
    const [ignoring] = (await reconciler?.reconcileAll())?.filter((s) => s.name === "ignoring") ?? [];
    assert.equal(ignoring?.sync, "Synced", JSON.stringify(ignoring?.resources));
    assert.equal((await data("ignoring"))?.replicas, "5", "an ignored field is not reverted by self-heal");

    await writeDesiredDir(desired.path, { respecting: app("b", true) });
    await load();
    assert.deepEqual(
      await data("respecting"),
      { replicas: "5", mode: "b" },
      "the sync kept the ignored field",
    );
  });

  it("writes with PUT under Replace=true", async () => {
    const annotated = (value: string) =>
      configMap("replaced", { value }, { "argocd.argoproj.io/sync-options": "Replace=true" });
    await writeDesiredDir(desired.path, {
      replacing: {
        "app.yaml": {
          namespace: "replacing",
          syncPolicy: { automated: {}, syncOptions: ["CreateNamespace=true"] },
        },
        "cm.yaml": annotated("1"),
      },
    });
    await load();
    await writeDesiredDir(desired.path, {
      replacing: {
        "app.yaml": {
          namespace: "replacing",
          syncPolicy: { automated: {}, syncOptions: ["CreateNamespace=true"] },
        },
        "cm.yaml": annotated("2"),
      },
    });
    const status = (await load()).find((s) => s.name === "replacing");
    assert.equal(status?.resources[0]?.result, "configured");
    const kube = adminKube(clusters()[0] as never);
    const live = await kube.get("v1", {
      group: "",
      kind: "ConfigMap",
      namespace: "replacing",
      name: "replaced",
    });
    assert.equal((live?.data as Record<string, string> | undefined)?.value, "2");
    const operations = (live?.metadata.managedFields ?? [])
      .filter((entry) => entry.manager === "flotilla-agent")
      .map((entry) => entry.operation);
    assert.deepEqual(operations, ["Update"], "Replace=true writes with create/PUT, not server-side apply");
  });

  it("fails with the server's reason on an immutable change, and re-creates the object under Force=true", async () => {
    const secret = (value: string, force: boolean) => ({
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name: force ? "forced" : "stuck",
        ...(force ? { annotations: { "argocd.argoproj.io/sync-options": "Force=true" } } : {}),
      },
      immutable: true,
      stringData: { value },
    });
    const files = (value: string) => ({
      "app.yaml": {
        namespace: "immutable",
        syncPolicy: { automated: {}, syncOptions: ["CreateNamespace=true"] },
      },
      "secrets.yaml": [secret(value, false), secret(value, true)],
    });
    await writeDesiredDir(desired.path, { immutable: files("1") });
    await load();
    const kube = adminKube(clusters()[0] as never);
    const uidBefore = (
      await kube.get("v1", { group: "", kind: "Secret", namespace: "immutable", name: "forced" })
    )?.metadata.uid;
    await writeDesiredDir(desired.path, { immutable: files("2") });
    const status = (await load()).find((s) => s.name === "immutable");
    const byName = Object.fromEntries((status?.resources ?? []).map((r) => [r.name, r]));
    assert.equal(byName.stuck?.result, "failed");
    assert.match(byName.stuck?.message ?? "", /Secret\/immutable\/stuck.*immutable/);
    assert.equal(byName.forced?.result, "configured", JSON.stringify(byName.forced));
    const forced = await kube.get("v1", {
      group: "",
      kind: "Secret",
      namespace: "immutable",
      name: "forced",
    });
    assert.notEqual(forced?.metadata.uid, uidBefore, "Force=true deleted and re-created the object");
    assert.equal(status?.operation?.phase, "Failed");
  });

  it("refuses to prune every object of an app whose render came out empty, unless allowEmpty", async () => {
    const files = (objects: object[], allowEmpty: boolean) => ({
      "app.yaml": {
        namespace: allowEmpty ? "emptied" : "guarded",
        syncPolicy: { automated: { prune: true, allowEmpty }, syncOptions: ["CreateNamespace=true"] },
      },
      ...(objects.length > 0 ? { "cm.yaml": objects } : {}),
    });
    await writeDesiredDir(desired.path, {
      guarded: files([configMap("precious", { a: "1" })], false),
      emptied: files([configMap("disposable", { a: "1" })], true),
    });
    await load();
    await writeDesiredDir(desired.path, { guarded: files([], false), emptied: files([], true) });
    const statuses = await load();
    const guarded = statuses.find((s) => s.name === "guarded");
    assert.match(guarded?.conditions.map((c) => c.message).join("\n") ?? "", /allowEmpty is false/);
    assert.equal(guarded?.resources[0]?.requiresPruning, true);
    const kube = adminKube(clusters()[0] as never);
    assert.ok(await kube.get("v1", { group: "", kind: "ConfigMap", namespace: "guarded", name: "precious" }));
    const emptied = statuses.find((s) => s.name === "emptied");
    assert.equal(emptied?.resources[0]?.result, "pruned");
  });

  it("runs SyncFail hooks when the sync fails, and reports the object that failed", async () => {
    await writeDesiredDir(desired.path, {
      failing: {
        "app.yaml": {
          namespace: "failing",
          syncPolicy: { automated: {}, syncOptions: ["CreateNamespace=true"] },
        },
        "objects.yaml": [
          configMap("fine", { a: "1" }),
          {
            apiVersion: "v1",
            kind: "Service",
            metadata: { name: "broken" },
            spec: { ports: [{ port: 99999 }] },
          },
          {
            ...configMap("sync-failed", { at: "sync" }),
            metadata: { name: "sync-failed", annotations: { "argocd.argoproj.io/hook": "SyncFail" } },
          },
        ],
      },
    });
    const failing = (await load()).find((s) => s.name === "failing");
    assert.equal(failing?.operation?.phase, "Failed");
    const byName = Object.fromEntries((failing?.resources ?? []).map((r) => [r.name, r]));
    assert.equal(byName.broken?.result, "failed");
    assert.match(byName.broken?.message ?? "", /Service\/failing\/broken.*port/);
    assert.equal(byName.fine?.result, "created", "an object in the same wave is still applied");
    assert.equal(byName["sync-failed"]?.hook, "SyncFail");
    const kube = adminKube(clusters()[0] as never);
    assert.ok(
      await kube.get("v1", { group: "", kind: "ConfigMap", namespace: "failing", name: "sync-failed" }),
    );
  });
});
