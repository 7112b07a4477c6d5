import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { createKubeClient } from "@flotilla/agent/kube/create-kube-client";
import { type KubeClient, KubeError, type WatchEvent } from "@flotilla/agent/kube/kube-client";
import type { KubeObject } from "@flotilla/agent/kube/kube-object";
import { loadKubeConfig } from "@flotilla/agent/kube/load-kube-config";
import { requestServiceAccountToken, tokenKubeconfig } from "./harness/agent.js";
import { type Cluster, useClusters } from "./harness/cluster.js";

const clusters = useClusters(1);
const waitMs = 20_000;
const pollMs = 50;

/** Polls `check` until it returns a value other than undefined/false, or fails after `waitMs`. */
async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>) {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${waitMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

async function rejection(promise: Promise<unknown>): Promise<KubeError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof KubeError, `expected a KubeError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected a rejection");
}

function configMap(namespace: string, name: string, data: Record<string, string>): KubeObject {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { namespace, name }, data };
}

let nextNamespace = 0;
/** A fresh namespace per test, so tests do not see each other's objects. */
async function createNamespace(kube: KubeClient): Promise<string> {
  nextNamespace += 1;
  const name = `kube-client-${nextNamespace}`;
  await kube.apply(
    { apiVersion: "v1", kind: "Namespace", metadata: { name } },
    { fieldManager: "test", force: true },
  );
  return name;
}

describe("agent kube client against a real API server", () => {
  let kube: KubeClient;
  before(() => {
    kube = createKubeClient(loadKubeConfig({ kubeconfigPath: clusters()[0]?.kubeconfigPath ?? "" }));
  });

  it("names the server by its URL", () => {
    assert.equal(kube.server, clusters()[0]?.server);
  });

  it("reads the server's Kubernetes version", async () => {
    assert.match((await kube.serverVersion?.()) ?? "", /^v1\.\d+\.\d+/);
  });

  it("discovers core and apps kinds with their scope", async () => {
    assert.deepEqual(await kube.resourceFor("v1", "ConfigMap"), {
      group: "",
      version: "v1",
      kind: "ConfigMap",
      plural: "configmaps",
      namespaced: true,
    });
    assert.deepEqual(await kube.resourceFor("v1", "Namespace"), {
      group: "",
      version: "v1",
      kind: "Namespace",
      plural: "namespaces",
      namespaced: false,
    });
    const deployments = await kube.resourceFor("apps/v1", "Deployment");
    assert.equal(deployments.plural, "deployments");
    assert.equal(deployments.namespaced, true);
  });

  it("finds a CRD's kind after invalidateDiscovery, NoKind before", async () => {
    const error = await rejection(kube.resourceFor("example.com/v1", "Widget"));
    assert.equal(error.reason, "NoKind");
    assert.equal(error.message, 'no kind "Widget" in example.com/v1 on the API server');
    await kube.apply(
      {
        apiVersion: "apiextensions.k8s.io/v1",
        kind: "CustomResourceDefinition",
        metadata: { name: "widgets.example.com" },
        spec: {
          group: "example.com",
          scope: "Namespaced",
          names: { plural: "widgets", singular: "widget", kind: "Widget" },
          versions: [
            {
              name: "v1",
              served: true,
              storage: true,
              schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
            },
          ],
        },
      },
      { fieldManager: "test", force: true },
    );
    const widgets = await waitFor("Widget in discovery", async () => {
      kube.invalidateDiscovery();
      return kube.resourceFor("example.com/v1", "Widget").catch(() => undefined);
    });
    assert.deepEqual(widgets, {
      group: "example.com",
      version: "v1",
      kind: "Widget",
      plural: "widgets",
      namespaced: true,
    });
    const namespace = await createNamespace(kube);
    const widget = await waitFor("a Widget to be accepted", () =>
      kube
        .apply(
          { apiVersion: "example.com/v1", kind: "Widget", metadata: { namespace, name: "w" }, size: 3 },
          { fieldManager: "test", force: true },
        )
        .catch(() => undefined),
    );
    assert.equal(widget.size, 3);
  });

  it("dry-run apply of an unchanged object returns it without a write", async () => {
    const namespace = await createNamespace(kube);
    const desired = configMap(namespace, "settings", { mode: "fast" });
    const created = await kube.apply(desired, { fieldManager: "test", force: false });
    const before = kube.requestCounts();
    const dryRun = await kube.apply(desired, { fieldManager: "test", force: false, dryRun: true });
    const after = kube.requestCounts();
    assert.equal(dryRun.metadata.resourceVersion, created.metadata.resourceVersion);
    assert.deepEqual(dryRun.data, { mode: "fast" });
    assert.equal(after.writes, before.writes);
    assert.equal(after.dryRuns, before.dryRuns + 1);
    const live = await kube.get("v1", { group: "", kind: "ConfigMap", namespace, name: "settings" });
    assert.equal(live?.metadata.resourceVersion, created.metadata.resourceVersion);
  });

  it("rejects a conflicting apply without force and takes the field over with force", async () => {
    const namespace = await createNamespace(kube);
    await kube.apply(configMap(namespace, "shared", { owner: "one" }), { fieldManager: "one", force: false });
    const error = await rejection(
      kube.apply(configMap(namespace, "shared", { owner: "two" }), { fieldManager: "two", force: false }),
    );
    assert.equal(error.reason, "Conflict");
    assert.equal(error.statusCode, 409);
    assert.match(error.message, /^ConfigMap\/kube-client-\d+\/shared: Apply failed with 1 conflict/);
    assert.match(error.message, /conflict with "one"/);
    const forced = await kube.apply(configMap(namespace, "shared", { owner: "two" }), {
      fieldManager: "two",
      force: true,
    });
    assert.deepEqual(forced.data, { owner: "two" });
  });

  it("reports AlreadyExists for a create of an existing object", async () => {
    const namespace = await createNamespace(kube);
    await kube.create(configMap(namespace, "once", {}), { fieldManager: "test" });
    const error = await rejection(kube.create(configMap(namespace, "once", {}), { fieldManager: "test" }));
    assert.equal(error.reason, "AlreadyExists");
  });

  it("replaces an object with PUT", async () => {
    const namespace = await createNamespace(kube);
    const created = await kube.create(configMap(namespace, "put", { a: "1" }), { fieldManager: "test" });
    const replaced = await kube.replace(
      { ...configMap(namespace, "put", { a: "2" }), metadata: { ...created.metadata } },
      { fieldManager: "test" },
    );
    assert.deepEqual(replaced.data, { a: "2" });
    assert.notEqual(replaced.metadata.resourceVersion, created.metadata.resourceVersion);
  });

  it("gets undefined for a missing object", async () => {
    const namespace = await createNamespace(kube);
    assert.equal(
      await kube.get("v1", { group: "", kind: "ConfigMap", namespace, name: "absent" }),
      undefined,
    );
  });

  it("rejects a namespaced object without a namespace before sending it", async () => {
    const error = await rejection(
      kube.apply(configMap("", "nowhere", {}), { fieldManager: "test", force: true }),
    );
    assert.equal(error.reason, "Invalid");
    assert.match(error.message, /^ConfigMap\/nowhere: ConfigMap is namespaced/);
  });

  it("deletes with the propagation policy asked for, and a missing object counts as deleted", async () => {
    const namespace = await createNamespace(kube);
    await kube.apply(
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { namespace, name: "web" },
        spec: {
          selector: { matchLabels: { app: "web" } },
          template: {
            metadata: { labels: { app: "web" } },
            spec: { containers: [{ name: "web", image: "nginx" }] },
          },
        },
      },
      { fieldManager: "test", force: true },
    );
    const key = { group: "apps", kind: "Deployment", namespace, name: "web" };
    await kube.delete("apps/v1", key, { propagationPolicy: "Foreground" });
    // No garbage collector runs in this cluster: a foreground delete stays pending on its finalizer.
    const pending = await kube.get("apps/v1", key);
    assert.ok(pending?.metadata.deletionTimestamp);
    assert.deepEqual(pending?.metadata.finalizers, ["foregroundDeletion"]);

    await kube.create(configMap(namespace, "gone", {}), { fieldManager: "test" });
    const cmKey = { group: "", kind: "ConfigMap", namespace, name: "gone" };
    await kube.delete("v1", cmKey, { propagationPolicy: "Background" });
    assert.equal(await kube.get("v1", cmKey), undefined);
    await kube.delete("v1", cmKey);
  });

  it("reports Invalid with the server's message for a Deployment without selector", async () => {
    const namespace = await createNamespace(kube);
    const error = await rejection(
      kube.apply(
        {
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { namespace, name: "broken" },
          spec: { template: { spec: { containers: [{ name: "c", image: "nginx" }] } } },
        },
        { fieldManager: "test", force: true },
      ),
    );
    assert.equal(error.reason, "Invalid");
    assert.equal(error.statusCode, 422);
    assert.match(
      error.message,
      /^Deployment\/kube-client-\d+\/broken: Deployment\.apps "broken" is invalid: /,
    );
    assert.match(error.message, /spec\.selector: Required value/);
  });

  it("reports Forbidden for a ServiceAccount without RBAC", async () => {
    const cluster = clusters()[0] as Cluster;
    const namespace = await createNamespace(kube);
    await kube.create(
      { apiVersion: "v1", kind: "ServiceAccount", metadata: { namespace, name: "nobody" } },
      { fieldManager: "test" },
    );
    const token = await requestServiceAccountToken(cluster, { namespace, name: "nobody" }, 600);
    const nobody = createKubeClient(
      loadKubeConfig({ kubeconfigText: tokenKubeconfig(cluster.server, cluster.caCertPath, token) }),
    );
    const error = await rejection(nobody.get("v1", { group: "", kind: "ConfigMap", namespace, name: "x" }));
    assert.equal(error.reason, "Forbidden");
    assert.equal(error.statusCode, 403);
    assert.match(error.message, /^ConfigMap\/kube-client-\d+\/x: configmaps "x" is forbidden: /);
    assert.ok(!error.message.includes(token));
  });

  it("reports Unauthorized for a token the server does not know", async () => {
    const cluster = clusters()[0] as Cluster;
    const stranger = createKubeClient(
      loadKubeConfig({ kubeconfigText: tokenKubeconfig(cluster.server, cluster.caCertPath, "not-a-token") }),
    );
    const error = await rejection(stranger.resourceFor("v1", "ConfigMap"));
    assert.equal(error.reason, "Unauthorized");
  });

  it("reports Unavailable naming the server when nothing listens", async () => {
    const cluster = clusters()[0] as Cluster;
    const offline = createKubeClient(
      loadKubeConfig({ kubeconfigText: tokenKubeconfig("https://127.0.0.1:1", cluster.caCertPath, "t") }),
    );
    const error = await rejection(offline.resourceFor("v1", "ConfigMap"));
    assert.equal(error.reason, "Unavailable");
    assert.equal(error.message, "discovery /api: API server https://127.0.0.1:1 unreachable (ECONNREFUSED)");
  });

  it("watches ADDED, MODIFIED and DELETED after listing what exists", async (t) => {
    const namespace = await createNamespace(kube);
    await kube.apply(configMap(namespace, "early", { v: "1" }), { fieldManager: "test", force: true });
    const events: WatchEvent[] = [];
    const errors: KubeError[] = [];
    let synced = 0;
    const handle = kube.watch(await kube.resourceFor("v1", "ConfigMap"), namespace, {
      onEvent: (event) => events.push(event),
      onSynced: () => {
        synced += 1;
      },
      onError: (error) => errors.push(error),
    });
    t.after(() => handle.stop());
    const seen = (type: string, name: string) =>
      events.some((e) => e.type === type && e.object.metadata.name === name);
    await waitFor("the initial list", () => synced === 1);
    assert.ok(seen("ADDED", "early"));
    assert.equal(events[0]?.object.kind, "ConfigMap");
    await kube.apply(configMap(namespace, "late", { v: "1" }), { fieldManager: "test", force: true });
    await waitFor("ADDED late", () => seen("ADDED", "late"));
    await kube.apply(configMap(namespace, "late", { v: "2" }), { fieldManager: "test", force: true });
    await waitFor("MODIFIED late", () => seen("MODIFIED", "late"));
    await kube.delete("v1", { group: "", kind: "ConfigMap", namespace, name: "early" });
    await waitFor("DELETED early", () => seen("DELETED", "early"));
    assert.deepEqual(errors, []);
  });

  it("resumes a watch the server ended, from the last resourceVersion without relisting", async (t) => {
    const cluster = clusters()[0] as Cluster;
    const shortWatches = createKubeClient(loadKubeConfig({ kubeconfigPath: cluster.kubeconfigPath }), {
      watchTimeoutSeconds: 1,
    });
    const namespace = await createNamespace(kube);
    const events: WatchEvent[] = [];
    const errors: KubeError[] = [];
    const handle = shortWatches.watch(await shortWatches.resourceFor("v1", "ConfigMap"), namespace, {
      onEvent: (event) => events.push(event),
      onError: (error) => errors.push(error),
    });
    t.after(() => handle.stop());
    await waitFor("two reconnections", () => shortWatches.requestCounts().watch >= 3);
    await kube.apply(configMap(namespace, "after-reconnect", {}), { fieldManager: "test", force: true });
    await waitFor("the object made after reconnecting", () =>
      events.some((e) => e.type === "ADDED" && e.object.metadata.name === "after-reconnect"),
    );
    assert.equal(shortWatches.requestCounts().list, 1);
    assert.deepEqual(errors, []);
  });

  it("stops a watch: no more requests after stop()", async () => {
    const namespace = await createNamespace(kube);
    const watcher = createKubeClient(loadKubeConfig({ kubeconfigPath: clusters()[0]?.kubeconfigPath ?? "" }));
    let synced = false;
    const handle = watcher.watch(await watcher.resourceFor("v1", "ConfigMap"), namespace, {
      onEvent() {},
      onSynced: () => {
        synced = true;
      },
    });
    await waitFor("the watch to start", () => synced && watcher.requestCounts().watch === 1);
    handle.stop();
    const counts = watcher.requestCounts();
    await kube.apply(configMap(namespace, "unseen", {}), { fieldManager: "test", force: true });
    assert.deepEqual(watcher.requestCounts(), counts);
  });
});

describe("loadKubeConfig", () => {
  it("names the file it cannot read", () => {
    assert.throws(() => loadKubeConfig({ kubeconfigPath: "/nonexistent/kubeconfig" }), {
      message: "kubeconfig /nonexistent/kubeconfig: cannot read (ENOENT)",
    });
  });

  it("names a context that does not exist", () => {
    const text = tokenKubeconfig("https://127.0.0.1:1", "/ca.crt", "secret-token");
    assert.throws(() => loadKubeConfig({ kubeconfigText: text, context: "other" }), {
      message: 'kubeconfig text: no context "other"',
    });
  });

  it("does not quote a broken kubeconfig, which may hold a token", () => {
    assert.throws(
      () => loadKubeConfig({ kubeconfigText: "users:\n- user: {token: secret-token\n" }),
      (error: Error) =>
        error.message.startsWith("kubeconfig text: not a valid kubeconfig") &&
        !error.message.includes("secret-token"),
    );
  });
});
