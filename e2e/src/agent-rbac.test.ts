// The agent under exactly the permissions of deploy/agent/rbac: each kustomize variant is built,
// applied as the cluster admin, and the agent runs with a token of its ServiceAccount. What the
// variant does not allow comes back as a `failed` result that says forbidden, never as a crash.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { createKubeClient } from "@flotilla/agent/kube/create-kube-client";
import type { KubeObject } from "@flotilla/agent/kube/kube-object";
import { loadKubeConfig } from "@flotilla/agent/kube/load-kube-config";
import { parseAllDocuments } from "yaml";
import {
  type AgentRun,
  adminKube,
  makeTempDir,
  runAgentOnce,
  serviceAccountKubeconfig,
  waitFor,
  writeDesiredDir,
} from "./harness/agent.js";
import { type Cluster, useClusters } from "./harness/cluster.js";
import { ensureTool, REPO_ROOT } from "./harness/tools.js";

const agentServiceAccount = { namespace: "flotilla-system", name: "flotilla-agent" };

/** The objects `kustomize build deploy/agent/rbac/<variant>` renders. */
async function buildRbac(variant: "cluster-wide" | "namespaced"): Promise<KubeObject[]> {
  const kustomize = await ensureTool("kustomize");
  const { stdout } = await promisify(execFile)(kustomize, [
    "build",
    join(REPO_ROOT, "deploy", "agent", "rbac", variant),
  ]);
  const objects: KubeObject[] = [];
  for (const doc of parseAllDocuments(stdout)) {
    if (doc.errors.length > 0) throw new Error(`kustomize build ${variant}: ${doc.errors[0]?.message}`);
    const object = doc.toJS() as KubeObject | null;
    if (object) objects.push(object);
  }
  return objects;
}

/**
 * Applies the variant as the cluster admin and writes a kubeconfig for the agent's ServiceAccount
 * into `dir`; returns its path.
 */
async function installRbac(
  cluster: Cluster,
  variant: "cluster-wide" | "namespaced",
  dir: string,
): Promise<string> {
  const kube = adminKube(cluster);
  // kustomize emits Namespaces and ServiceAccounts before the RBAC objects that refer to them.
  for (const object of await buildRbac(variant)) {
    await kube.apply(object, { fieldManager: "test", force: true });
  }
  const path = join(dir, `${variant}.kubeconfig`);
  await writeFile(path, await serviceAccountKubeconfig(cluster, agentServiceAccount), { mode: 0o600 });
  // The API server's RBAC authorizer learns new bindings through its own watch: wait until every
  // binding of the variant is in effect (state Secrets, the ClusterRole, the target namespace).
  const agent = createKubeClient(loadKubeConfig({ kubeconfigPath: path }));
  const [secrets, namespaces, configMaps] = await Promise.all([
    agent.resourceFor("v1", "Secret"),
    agent.resourceFor("v1", "Namespace"),
    agent.resourceFor("v1", "ConfigMap"),
  ]);
  await waitFor("the agent's RBAC to take effect", async () => {
    await agent.list(secrets, agentServiceAccount.namespace);
    await agent.list(namespaces);
    await agent.list(configMaps, variant === "namespaced" ? "apps" : "default");
    return true;
  });
  return path;
}

const deployment = (name: string) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name, image: "nginx:1.27" }] },
    },
  },
});

const service = (name: string) => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name },
  spec: { ports: [{ port: 80, targetPort: 80 }], selector: { app: name } },
});

const configMap = (name: string, namespace?: string) => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, ...(namespace ? { namespace } : {}) },
  data: { owner: "flotilla" },
});

const clusterRole = (name: string) => ({
  apiVersion: "rbac.authorization.k8s.io/v1",
  kind: "ClusterRole",
  metadata: { name },
  rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get"] }],
});

function appOf(run: AgentRun, name: string) {
  const app = run.json.apps.find((a) => a.name === name);
  assert.ok(app, `app ${name} in the output:\n${run.stdout}\n${run.stderr}`);
  return app;
}

function resultsOf(run: AgentRun, name: string): Record<string, string> {
  return Object.fromEntries(
    appOf(run, name).resources.map((r) => [
      `${r.kind}/${r.namespace ? `${r.namespace}/` : ""}${r.name}`,
      r.result,
    ]),
  );
}

describe("agent with the cluster-wide RBAC variant", () => {
  const clusters = useClusters(1, { workloads: true });
  let dir: { path: string; remove(): Promise<void> };
  let kubeconfigPath: string;
  const cluster = () => clusters()[0] as Cluster;

  before(async () => {
    dir = await makeTempDir("flotilla-rbac-wide-");
    kubeconfigPath = await installRbac(cluster(), "cluster-wide", dir.path);
    await writeDesiredDir(join(dir.path, "desired"), {
      wide: {
        "app.yaml": {
          namespace: "wide",
          syncPolicy: { automated: { prune: true, selfHeal: true }, syncOptions: ["CreateNamespace=true"] },
        },
        "objects.yaml": [
          deployment("web"),
          service("web"),
          configMap("settings"),
          clusterRole("wide-reader"),
        ],
      },
    });
  });
  after(async () => {
    await dir?.remove();
  });

  const once = () =>
    runAgentOnce(kubeconfigPath, [
      "--desired-dir",
      join(dir.path, "desired"),
      "--state-namespace",
      agentServiceAccount.namespace,
    ]);

  it("creates a namespace, namespaced and cluster-scoped objects, and reports the app Synced", async () => {
    const run = await once();
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const app = appOf(run, "wide");
    assert.equal(app.sync, "Synced");
    assert.equal(app.health, "Healthy");
    assert.deepEqual(resultsOf(run, "wide"), {
      "ClusterRole/wide-reader": "created",
      "ConfigMap/wide/settings": "created",
      "Deployment/wide/web": "created",
      "Service/wide/web": "created",
    });
    const kube = adminKube(cluster());
    assert.ok(await kube.get("v1", { group: "", kind: "Namespace", namespace: "", name: "wide" }));
    assert.ok(
      await kube.get("apps/v1", { group: "apps", kind: "Deployment", namespace: "wide", name: "web" }),
    );
    assert.ok(await kube.get("v1", { group: "", kind: "Service", namespace: "wide", name: "web" }));
    assert.ok(await kube.get("v1", { group: "", kind: "ConfigMap", namespace: "wide", name: "settings" }));
    assert.ok(
      await kube.get("rbac.authorization.k8s.io/v1", {
        group: "rbac.authorization.k8s.io",
        kind: "ClusterRole",
        namespace: "",
        name: "wide-reader",
      }),
    );
  });

  it("reports every object unchanged on a second run", async () => {
    const run = await once();
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const results = Object.values(resultsOf(run, "wide"));
    assert.equal(results.length, 4);
    assert.deepEqual(
      results.filter((result) => result !== "unchanged"),
      [],
      run.stdout,
    );
  });
});

describe("agent with the namespaced RBAC variant", () => {
  const clusters = useClusters(1, { workloads: true });
  let dir: { path: string; remove(): Promise<void> };
  let run: AgentRun;
  const cluster = () => clusters()[0] as Cluster;

  before(async () => {
    dir = await makeTempDir("flotilla-rbac-narrow-");
    const kubeconfigPath = await installRbac(cluster(), "namespaced", dir.path);
    const desiredDir = join(dir.path, "desired");
    await writeDesiredDir(desiredDir, {
      narrow: {
        "app.yaml": { namespace: "apps", syncPolicy: { automated: { prune: true, selfHeal: true } } },
        "objects.yaml": [
          configMap("settings"),
          deployment("web"),
          configMap("sneaky", "kube-system"),
          clusterRole("narrow-reader"),
        ],
      },
    });
    run = await runAgentOnce(kubeconfigPath, [
      "--desired-dir",
      desiredDir,
      "--state-namespace",
      agentServiceAccount.namespace,
    ]);
  });
  after(async () => {
    await dir?.remove();
  });

  it("creates the objects in its target namespace", async () => {
    const results = resultsOf(run, "narrow");
    assert.equal(results["ConfigMap/apps/settings"], "created", run.stdout);
    assert.equal(results["Deployment/apps/web"], "created", run.stdout);
    const kube = adminKube(cluster());
    assert.ok(await kube.get("v1", { group: "", kind: "ConfigMap", namespace: "apps", name: "settings" }));
    assert.ok(
      await kube.get("apps/v1", { group: "apps", kind: "Deployment", namespace: "apps", name: "web" }),
    );
  });

  it("reports an object outside its namespaces and a cluster-scoped one as failed: forbidden, naming each", async (t) => {
    t.diagnostic("reliability: security defaults");
    const byName = Object.fromEntries(appOf(run, "narrow").resources.map((r) => [r.name, r]));
    assert.equal(byName.sneaky?.result, "failed", run.stdout);
    assert.match(byName.sneaky?.message ?? "", /ConfigMap\/kube-system\/sneaky.*forbidden/i);
    assert.equal(byName["narrow-reader"]?.result, "failed", run.stdout);
    assert.match(byName["narrow-reader"]?.message ?? "", /ClusterRole\/narrow-reader.*forbidden/i);
    const kube = adminKube(cluster());
    assert.equal(
      await kube.get("v1", { group: "", kind: "ConfigMap", namespace: "kube-system", name: "sneaky" }),
      undefined,
    );
    t.diagnostic(
      "agent as a ServiceAccount with the namespaced RBAC of deploy/agent/rbac (= the chart's): a ConfigMap in kube-system and a ClusterRole refused by the API server, nothing written",
    );
  });

  it("exits 1 with the result printed and the sync operation Failed, not a crash", () => {
    assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
    assert.equal(appOf(run, "narrow").operation?.phase, "Failed", run.stdout);
  });

  it("keeps its state in Secrets of flotilla-system", async () => {
    const kube = adminKube(cluster());
    const secrets = await kube.list(await kube.resourceFor("v1", "Secret"), agentServiceAccount.namespace);
    const stateApps = secrets.items
      .filter((secret) => secret.metadata.labels?.["flotilla.dev/agent-state"] === "true")
      .filter((secret) => secret.metadata.name?.startsWith("flotilla-agent-app-"))
      .map((secret) => secret.metadata.annotations?.["flotilla.dev/app-name"]);
    assert.deepEqual(stateApps, ["narrow"]);
  });
});
