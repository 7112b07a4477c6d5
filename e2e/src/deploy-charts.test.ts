// The Helm charts and Kustomize bases of deploy/, with the pinned helm and kustomize binaries:
// lint and schema checks, what the templates render, that the agent chart grants exactly the RBAC
// of deploy/agent/rbac, that the Kustomize bases equal the charts' defaults, and that every
// rendered object passes a server-side dry run on a real kube-apiserver, its pods the restricted
// Pod Security Standard.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import type { KubeClient } from "@flotilla/agent/kube/kube-client";
import { KubeError } from "@flotilla/agent/kube/kube-client";
import { type KubeObject, subject } from "@flotilla/agent/kube/kube-object";
import { parse, parseAllDocuments } from "yaml";
import { adminKube, makeTempDir } from "./harness/agent.js";
import { type Cluster, useClusters } from "./harness/cluster.js";
import { ensureTool, REPO_ROOT } from "./harness/tools.js";

const deployDir = join(REPO_ROOT, "deploy");
const hubChart = join(deployDir, "charts", "hub");
const agentChart = join(deployDir, "charts", "agent");
const namespace = "flotilla-system";
const fieldManager = "deploy-charts-test";

type Values = Record<string, unknown>;
type ToolRun = { code: number; stdout: string; stderr: string };

/** `${NAME}`, written so that no linter mistakes it for a template literal. */
const envRef = (name: string) => `$${"{"}${name}}`;

const caHash = `sha256:${"ab".repeat(32)}`;
const joinValues = {
  hub: {
    url: "https://flotilla.example.com",
    caHash,
    tokenSecret: { name: "flotilla-join-token", key: "token" },
  },
  cluster: { name: "edge-1" },
};

const hubValueSets: Record<string, Values> = {
  defaults: {},
  "ingress, network policy, service monitor": {
    ingress: { enabled: true, className: "nginx", host: "flotilla.example.com" },
    networkPolicy: {
      enabled: true,
      ingressFrom: [{ ipBlock: { cidr: "0.0.0.0/0" } }],
      egress: [{ to: [{ ipBlock: { cidr: "10.0.0.0/8" } }], ports: [{ port: 5432, protocol: "TCP" }] }],
    },
    serviceMonitor: { enabled: true },
    metrics: { tokenSecret: { name: "flotilla-metrics", key: "token" } },
    config: {
      sources: [
        {
          name: "infra",
          repoURL: "https://github.com/acme/infra.git",
          path: "apps",
          targetRevision: "main",
          webhookSecret: envRef("INFRA_WEBHOOK_SECRET"),
        },
      ],
      repositories: [{ url: "https://github.com/acme/charts.git", token: envRef("CHARTS_TOKEN") }],
      notifications: { targets: [{ name: "ops", url: "https://alerts.example.com/flotilla" }] },
      pollInterval: "1m",
    },
    secretEnv: {
      INFRA_WEBHOOK_SECRET: { name: "infra-git", key: "webhookSecret" },
      CHARTS_TOKEN: { name: "charts-git", key: "token" },
    },
  },
  "PostgreSQL and NATS with 3 replicas": {
    replicas: 3,
    persistence: { enabled: false },
    database: { urlSecret: { name: "flotilla-postgres", key: "url" } },
    nats: { urlSecret: { name: "flotilla-nats", key: "url" } },
    tls: { existingSecret: "flotilla-hub-tls" },
    publicUrl: "https://flotilla.example.com",
  },
};

const agentValueSets: Record<string, Values> = {
  "join values (cluster-wide RBAC)": joinValues,
  "namespaced RBAC, network policy, health checks": {
    hub: joinValues.hub,
    cluster: { name: "edge-1", labels: { env: "prod", tier: "edge" } },
    rbac: { scope: "namespaced", namespaces: ["apps", "web"], createNamespaces: true },
    networkPolicy: {
      enabled: true,
      hubPeers: [{ ipBlock: { cidr: "203.0.113.10/32" } }],
      apiServerPeers: [{ ipBlock: { cidr: "10.96.0.1/32" } }],
    },
    healthChecks: [
      {
        apiVersion: "cert-manager.io/v1",
        kind: "Certificate",
        current: "self.status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')",
      },
    ],
    resyncInterval: "5m",
  },
  "inline token": {
    hub: { url: joinValues.hub.url, caHash, token: "flb_abc123.s3cr3t" },
    cluster: joinValues.cluster,
  },
};

let valuesDir: { path: string; remove(): Promise<void> };
let valuesFiles = 0;

before(async () => {
  valuesDir = await makeTempDir("flotilla-deploy-charts-");
  // Build or find both tools up front, so the first test's time is not a build.
  await Promise.all([ensureTool("helm"), ensureTool("kustomize")]);
});
after(async () => {
  await valuesDir?.remove();
});

async function runTool(tool: "helm" | "kustomize", args: string[]): Promise<ToolRun> {
  const path = await ensureTool(tool);
  try {
    const { stdout, stderr } = await promisify(execFile)(path, args, { maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    if (typeof failed.code !== "number") throw error;
    return { code: failed.code, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

/** Writes `values` to a fresh file (JSON is YAML) and returns the helm flags that pass it. */
async function valuesFlags(values: Values): Promise<string[]> {
  valuesFiles += 1;
  const path = join(valuesDir.path, `values-${valuesFiles}.yaml`);
  await writeFile(path, JSON.stringify(values));
  return ["--values", path];
}

async function helmLint(chart: string, values: Values): Promise<ToolRun> {
  return runTool("helm", ["lint", "--strict", chart, ...(await valuesFlags(values))]);
}

/** `helm template`, which fails the test when helm refuses the values. */
async function renderChart(chart: string, release: string, values: Values): Promise<KubeObject[]> {
  const run = await tryRenderChart(chart, release, values);
  assert.equal(run.code, 0, `helm template ${chart}:\n${run.stderr}`);
  return parseObjects(run.stdout, `helm template ${chart}`);
}

async function tryRenderChart(
  chart: string,
  release: string,
  values: Values,
  extraFlags: string[] = [],
): Promise<ToolRun> {
  return runTool("helm", [
    "template",
    release,
    chart,
    "--namespace",
    namespace,
    ...extraFlags,
    ...(await valuesFlags(values)),
  ]);
}

async function kustomizeBuild(dir: string): Promise<KubeObject[]> {
  const run = await runTool("kustomize", ["build", join(deployDir, dir)]);
  assert.equal(run.code, 0, `kustomize build ${dir}:\n${run.stderr}`);
  return parseObjects(run.stdout, `kustomize build ${dir}`);
}

/**
 * Asserts that helm refuses `values` with `message`, and never quotes a secret: the secrets in
 * the refused value sets all contain "s3cr3t".
 */
async function assertRefused(chart: string, values: Values, message: RegExp): Promise<void> {
  const run = await tryRenderChart(chart, "flotilla", values);
  assert.notEqual(run.code, 0, run.stdout);
  assert.match(run.stderr, message);
  assert.doesNotMatch(run.stderr, /s3cr3t/, "the error never quotes a secret");
}

function parseObjects(text: string, what: string): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${what}: ${doc.errors[0]?.message}`);
    const object = doc.toJS() as KubeObject | null;
    if (object) objects.push(object);
  }
  return objects;
}

function find(objects: KubeObject[], kind: string, name?: string): KubeObject {
  const found = objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.ok(found, `${kind}${name ? `/${name}` : ""} among ${objects.map(subject).join(", ")}`);
  return found;
}

type Container = {
  name: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: Record<string, Record<string, unknown>> }[];
  securityContext?: Record<string, unknown>;
  resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
  livenessProbe?: { httpGet?: { path: string; scheme: string } };
  readinessProbe?: { httpGet?: { path: string; scheme: string } };
  volumeMounts?: { name: string; mountPath: string }[];
};
type PodSpec = {
  containers: Container[];
  volumes?: { name: string; [source: string]: unknown }[];
  securityContext?: Record<string, unknown>;
  automountServiceAccountToken?: boolean;
  serviceAccountName?: string;
};
type Workload = KubeObject & {
  spec: {
    replicas?: number;
    template: {
      metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
      spec: PodSpec;
    };
    volumeClaimTemplates?: { metadata: { name: string } }[];
  };
};

const isWorkload = (o: KubeObject): o is Workload => o.kind === "Deployment" || o.kind === "StatefulSet";

function workloadOf(objects: KubeObject[]): Workload {
  const workloads = objects.filter(isWorkload);
  assert.equal(workloads.length, 1, `one workload among ${objects.map(subject).join(", ")}`);
  return workloads[0] as Workload;
}

function containerOf(workload: Workload): Container {
  const container = workload.spec.template.spec.containers[0];
  assert.ok(container, `${subject(workload)} has a container`);
  return container;
}

function envOf(container: Container, name: string) {
  return container.env?.find((e) => e.name === name);
}

/** The checks every Flotilla pod passes: the restricted Pod Security Standard and a bit more. */
function assertSecureDefaults(workload: Workload): void {
  const pod = workload.spec.template.spec;
  const container = containerOf(workload);
  const what = subject(workload);
  assert.equal(pod.securityContext?.runAsNonRoot, true, `${what}: pod runAsNonRoot`);
  assert.equal(pod.securityContext?.runAsUser, 10001, `${what}: pod runAsUser`);
  assert.deepEqual(pod.securityContext?.seccompProfile, { type: "RuntimeDefault" }, `${what}: seccomp`);
  assert.equal(
    container.securityContext?.allowPrivilegeEscalation,
    false,
    `${what}: allowPrivilegeEscalation`,
  );
  assert.equal(container.securityContext?.readOnlyRootFilesystem, true, `${what}: readOnlyRootFilesystem`);
  assert.deepEqual(container.securityContext?.capabilities, { drop: ["ALL"] }, `${what}: capabilities`);
  assert.ok(container.resources?.requests?.cpu && container.resources.requests.memory, `${what}: requests`);
  assert.ok(container.resources?.limits?.cpu && container.resources.limits.memory, `${what}: limits`);
  assert.deepEqual(
    [container.livenessProbe?.httpGet, container.readinessProbe?.httpGet].map((g) => [g?.path, g?.scheme]),
    [
      ["/healthz", "HTTPS"],
      ["/readyz", "HTTPS"],
    ],
    `${what}: probes`,
  );
  const tmp = container.volumeMounts?.find((m) => m.mountPath === "/tmp");
  assert.ok(tmp && pod.volumes?.find((v) => v.name === tmp.name)?.emptyDir, `${what}: an emptyDir on /tmp`);
}

describe("hub chart", () => {
  for (const [name, values] of Object.entries(hubValueSets)) {
    it(`passes helm lint --strict with ${name}`, async () => {
      const run = await helmLint(hubChart, values);
      assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    });
  }

  it("runs one replica as a StatefulSet with a volume claim for the data dir by default", async () => {
    const objects = await renderChart(hubChart, "flotilla-hub", {});
    const hub = workloadOf(objects);
    assert.equal(hub.kind, "StatefulSet");
    assert.equal(hub.metadata.name, "flotilla-hub");
    assert.equal(hub.spec.replicas, 1);
    assert.deepEqual(
      hub.spec.volumeClaimTemplates?.map((c) => c.metadata.name),
      ["data"],
    );
    const container = containerOf(hub);
    assert.deepEqual(container.args, ["hub", "serve"]);
    assert.equal(envOf(container, "FLOTILLA_DATA_DIR")?.value, "/var/lib/flotilla/hub");
    assert.equal(
      envOf(container, "FLOTILLA_PUBLIC_URL")?.value,
      `https://flotilla-hub.${namespace}.svc:8443`,
    );
    assert.match(envOf(container, "FLOTILLA_TLS_HOSTS")?.value ?? "", /flotilla-hub\.flotilla-system\.svc\b/);
    assert.equal(envOf(container, "DATABASE_URL"), undefined);
    assert.equal(envOf(container, "FLOTILLA_TLS_CERT"), undefined, "the self-made CA by default");
    assert.deepEqual(objects.map((o) => o.kind).sort(), [
      "ConfigMap",
      "Service",
      "ServiceAccount",
      "StatefulSet",
    ]);
  });

  it("gives the hub secure defaults, no API token and one HTTPS port", async () => {
    const objects = await renderChart(hubChart, "flotilla-hub", {});
    const hub = workloadOf(objects);
    assertSecureDefaults(hub);
    assert.equal(hub.spec.template.spec.automountServiceAccountToken, false);
    assert.equal(find(objects, "ServiceAccount").automountServiceAccountToken, false);
    const service = find(objects, "Service") as KubeObject & { spec: { ports: { port: number }[] } };
    assert.deepEqual(
      service.spec.ports.map((p) => p.port),
      [8443],
    );
    assert.ok(
      objects.every((o) => !["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"].includes(o.kind)),
      "the hub gets no RBAC",
    );
  });

  it("takes DATABASE_URL, NATS_URL and the certificate from Secrets for scale-out", async () => {
    const objects = await renderChart(
      hubChart,
      "flotilla",
      hubValueSets["PostgreSQL and NATS with 3 replicas"] ?? {},
    );
    const hub = workloadOf(objects);
    assert.equal(hub.kind, "Deployment");
    assert.equal(hub.metadata.name, "flotilla-hub", "release flotilla names the objects flotilla-hub");
    assert.equal(hub.spec.replicas, 3);
    const container = containerOf(hub);
    assert.deepEqual(envOf(container, "DATABASE_URL")?.valueFrom, {
      secretKeyRef: { name: "flotilla-postgres", key: "url" },
    });
    assert.deepEqual(envOf(container, "NATS_URL")?.valueFrom, {
      secretKeyRef: { name: "flotilla-nats", key: "url" },
    });
    assert.equal(envOf(container, "FLOTILLA_TLS_CA")?.value, "/etc/flotilla/tls/ca.crt");
    assert.equal(envOf(container, "FLOTILLA_PUBLIC_URL")?.value, "https://flotilla.example.com");
    assert.deepEqual(envOf(container, "FLOTILLA_REPLICA")?.valueFrom, {
      fieldRef: { fieldPath: "metadata.name" },
    });
    const tls = hub.spec.template.spec.volumes?.find((v) => v.name === "tls");
    assert.deepEqual((tls?.secret as { secretName?: string } | undefined)?.secretName, "flotilla-hub-tls");
    assertSecureDefaults(hub);
  });

  it("renders the config file, Secret env for its variables, a passthrough Ingress, a NetworkPolicy and a ServiceMonitor", async () => {
    const values = hubValueSets["ingress, network policy, service monitor"] ?? {};
    const objects = await renderChart(hubChart, "flotilla-hub", values);
    const config = find(objects, "ConfigMap") as KubeObject & { data: Record<string, string> };
    assert.deepEqual(parse(config.data["hub.yaml"] ?? ""), values.config);
    const container = containerOf(workloadOf(objects));
    assert.deepEqual(envOf(container, "INFRA_WEBHOOK_SECRET")?.valueFrom, {
      secretKeyRef: { name: "infra-git", key: "webhookSecret" },
    });
    assert.deepEqual(envOf(container, "FLOTILLA_METRICS_TOKEN")?.valueFrom, {
      secretKeyRef: { name: "flotilla-metrics", key: "token" },
    });
    assert.equal(envOf(container, "FLOTILLA_PUBLIC_URL")?.value, "https://flotilla.example.com");
    const ingress = find(objects, "Ingress");
    assert.equal(ingress.metadata.annotations?.["nginx.ingress.kubernetes.io/ssl-passthrough"], "true");
    const policy = find(objects, "NetworkPolicy") as KubeObject & { spec: { policyTypes: string[] } };
    assert.deepEqual(policy.spec.policyTypes, ["Ingress", "Egress"]);
    const monitor = find(objects, "ServiceMonitor") as KubeObject & {
      spec: { endpoints: { scheme: string; authorization?: unknown }[] };
    };
    assert.equal(monitor.spec.endpoints[0]?.scheme, "https");
    assert.deepEqual(monitor.spec.endpoints[0]?.authorization, {
      type: "Bearer",
      credentials: { name: "flotilla-metrics", key: "token" },
    });
  });

  it("restarts the hub when its config file changes", async () => {
    const checksum = async (values: Values) =>
      workloadOf(await renderChart(hubChart, "flotilla-hub", values)).spec.template.metadata.annotations?.[
        "checksum/config"
      ];
    const original = await checksum({});
    assert.match(original ?? "", /^[0-9a-f]{64}$/);
    assert.notEqual(await checksum({ config: { pollInterval: "1m" } }), original);
  });

  const refusals: [string, Values, RegExp][] = [
    [
      "3 replicas without PostgreSQL, NATS and a certificate",
      { replicas: 3 },
      /at '\/database\/urlSecret\/name'/,
    ],
    [
      "3 replicas without NATS",
      { replicas: 3, database: { urlSecret: { name: "pg", key: "url" } }, tls: { existingSecret: "tls" } },
      /at '\/nats'/,
    ],
    ["an unknown top-level key", { replica: 3 }, /additional properties 'replica' not allowed/],
    ["an unknown key in a main object", { persistence: { enable: false } }, /at '\/persistence'.*'enable'/],
    ["an Ingress without a host", { ingress: { enabled: true } }, /at '\/ingress\/host'/],
    [
      "a literal secret in the config file",
      {
        config: {
          sources: [
            { name: "infra", repoURL: "https://git.example/infra.git", webhookSecret: "s3cr3t-hook" },
          ],
        },
      },
      /at '\/config\/sources\/0\/webhookSecret'/,
    ],
    [
      "a NATS URL with credentials",
      { nats: { url: "nats://flotilla:s3cr3t@nats:4222" } },
      /at '\/nats\/url'/,
    ],
  ];
  for (const [what, values, message] of refusals) {
    it(`refuses ${what}, naming the field`, () => assertRefused(hubChart, values, message));
  }

  it("refuses several replicas in the templates too, when the schema is skipped", async () => {
    const run = await tryRenderChart(hubChart, "flotilla-hub", { replicas: 3 }, ["--skip-schema-validation"]);
    assert.notEqual(run.code, 0, run.stdout);
    assert.match(run.stderr, /replicas: 3 needs PostgreSQL: set database\.urlSecret\.name/);
  });
});

/** The RBAC-relevant fields of the RBAC objects and ServiceAccounts, sorted, for comparing. */
function rbacOf(objects: KubeObject[]) {
  return objects
    .filter((o) =>
      ["ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"].includes(o.kind),
    )
    .map((o) => ({
      kind: o.kind,
      name: o.metadata.name,
      namespace: o.metadata.namespace,
      rules: o.rules,
      roleRef: o.roleRef,
      subjects: o.subjects,
    }))
    .sort((a, b) => rbacSubject(a).localeCompare(rbacSubject(b)));
}

function rbacSubject(o: { kind: string; name?: string; namespace?: string }): string {
  return o.namespace ? `${o.kind}/${o.namespace}/${o.name}` : `${o.kind}/${o.name}`;
}

describe("agent chart", () => {
  for (const [name, values] of Object.entries(agentValueSets)) {
    it(`passes helm lint --strict with ${name}`, async () => {
      const run = await helmLint(agentChart, values);
      assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    });
  }

  it("refuses to lint without the join values, naming each", async () => {
    const run = await helmLint(agentChart, {});
    assert.notEqual(run.code, 0);
    const output = run.stdout + run.stderr;
    for (const field of ["/hub/url", "/hub/caHash", "/cluster/name"])
      assert.match(output, new RegExp(`'${field}'`));
  });

  it("runs `flotilla-agent join --in-cluster` with its state in the release namespace and the token from a Secret", async () => {
    const agent = workloadOf(
      await renderChart(
        agentChart,
        "flotilla-agent",
        agentValueSets["namespaced RBAC, network policy, health checks"] ?? {},
      ),
    );
    assert.equal(agent.kind, "Deployment");
    assert.equal(agent.spec.replicas, 1);
    assert.equal((agent.spec as { strategy?: { type: string } }).strategy?.type, "Recreate");
    const container = containerOf(agent);
    assert.deepEqual(container.args, [
      "join",
      "--hub=https://flotilla.example.com",
      `--ca-hash=${caHash}`,
      "--label=env=prod",
      "--label=tier=edge",
      "--in-cluster",
      `--state-namespace=${namespace}`,
      "--status-listen=0.0.0.0:8443",
      "--resync-interval=5m",
      "--health-config=/etc/flotilla-agent/health.yaml",
    ]);
    assert.equal(envOf(container, "FLOTILLA_CLUSTER_NAME")?.value, "edge-1");
    assert.deepEqual(envOf(container, "FLOTILLA_JOIN_TOKEN")?.valueFrom, {
      secretKeyRef: { name: "flotilla-join-token", key: "token", optional: true },
    });
    assert.equal(agent.spec.template.spec.automountServiceAccountToken, true);
    assertSecureDefaults(agent);
  });

  it("puts an inline token into a Secret of its own, not into the pod spec", async () => {
    const objects = await renderChart(agentChart, "flotilla-agent", agentValueSets["inline token"] ?? {});
    const secret = find(objects, "Secret") as KubeObject & { stringData: Record<string, string> };
    assert.equal(secret.metadata.name, "flotilla-agent-join-token");
    assert.equal(secret.stringData.token, "flb_abc123.s3cr3t");
    const container = containerOf(workloadOf(objects));
    assert.deepEqual(envOf(container, "FLOTILLA_JOIN_TOKEN")?.valueFrom, {
      secretKeyRef: { name: "flotilla-agent-join-token", key: "token", optional: true },
    });
    assert.doesNotMatch(JSON.stringify(workloadOf(objects)), /s3cr3t/);
  });

  for (const [scope, variant, namespaces] of [
    ["cluster", "cluster-wide", []],
    ["namespaced", "namespaced", ["apps"]],
  ] as const) {
    it(`grants exactly the RBAC of deploy/agent/rbac/${variant} with rbac.scope ${scope}`, async () => {
      const chart = await renderChart(agentChart, "flotilla-agent", {
        ...joinValues,
        rbac: { scope, namespaces: [...namespaces] },
      });
      const kustomized = await kustomizeBuild(join("agent", "rbac", variant));
      const expected = rbacOf(kustomized);
      assert.ok(expected.length >= 5, "the variant has RBAC objects");
      assert.deepEqual(
        rbacOf(chart).map((o) => ({ ...o, subject: rbacSubject(o) })),
        expected.map((o) => ({ ...o, subject: rbacSubject(o) })),
      );
    });
  }

  it("gives every namespace in rbac.namespaces its Role and RoleBinding", async () => {
    const objects = await renderChart(agentChart, "flotilla-agent", {
      ...joinValues,
      rbac: { scope: "namespaced", namespaces: ["apps", "web", "jobs"] },
    });
    const roles = objects.filter((o) => o.kind === "Role" && o.metadata.name === "flotilla-agent");
    const bindings = objects.filter((o) => o.kind === "RoleBinding" && o.metadata.name === "flotilla-agent");
    assert.deepEqual(roles.map((o) => o.metadata.namespace).sort(), ["apps", "jobs", "web"]);
    assert.deepEqual(bindings.map((o) => o.metadata.namespace).sort(), ["apps", "jobs", "web"]);
    assert.ok(
      !objects.some((o) => o.kind === "Namespace"),
      "namespaces are the admin's unless createNamespaces",
    );
  });

  it("lets the agent out only to the hub, the API server and DNS with the NetworkPolicy", async () => {
    const objects = await renderChart(
      agentChart,
      "flotilla-agent",
      agentValueSets["namespaced RBAC, network policy, health checks"] ?? {},
    );
    const policy = find(objects, "NetworkPolicy") as KubeObject & {
      spec: { policyTypes: string[]; egress: { to?: unknown[]; ports: { port: number }[] }[] };
    };
    assert.deepEqual(policy.spec.policyTypes, ["Ingress", "Egress"]);
    assert.deepEqual(
      policy.spec.egress.map((rule) => [rule.to, rule.ports.map((p) => p.port)]),
      [
        [[{ ipBlock: { cidr: "203.0.113.10/32" } }], [8443]],
        [[{ ipBlock: { cidr: "10.96.0.1/32" } }], [443, 6443]],
        [undefined, [53, 53]],
      ],
    );
  });

  const refusals: [string, Values, RegExp][] = [
    ["an unknown rbac.scope", { ...joinValues, rbac: { scope: "cluster-wide" } }, /at '\/rbac\/scope'/],
    [
      "rbac.scope namespaced without namespaces",
      { ...joinValues, rbac: { scope: "namespaced" } },
      /at '\/rbac\/namespaces'/,
    ],
    [
      "an unknown top-level key",
      { ...joinValues, hubUrl: "https://x" },
      /additional properties 'hubUrl' not allowed/,
    ],
    [
      "a CA hash that is not sha256",
      { ...joinValues, hub: { ...joinValues.hub, caHash: "md5:abc" } },
      /at '\/hub\/caHash'/,
    ],
    [
      "an http:// hub URL",
      { ...joinValues, hub: { ...joinValues.hub, url: "http://hub.example.com" } },
      /at '\/hub\/url'/,
    ],
    [
      "a hub URL with credentials",
      { ...joinValues, hub: { ...joinValues.hub, url: "https://flotilla:s3cr3t@hub.example.com" } },
      /at '\/hub\/url'/,
    ],
    [
      "a NetworkPolicy without hub peers, which would allow every destination",
      {
        ...joinValues,
        networkPolicy: { enabled: true, apiServerPeers: [{ ipBlock: { cidr: "10.0.0.1/32" } }] },
      },
      /at '\/networkPolicy\/hubPeers'/,
    ],
  ];
  for (const [what, values, message] of refusals) {
    it(`refuses ${what}, naming the field`, () => assertRefused(agentChart, values, message));
  }

  it("refuses a missing token in the templates, saying where it comes from", async () => {
    const run = await tryRenderChart(agentChart, "flotilla-agent", {
      ...joinValues,
      hub: { ...joinValues.hub, tokenSecret: { name: "", key: "token" } },
    });
    assert.notEqual(run.code, 0, run.stdout);
    assert.match(run.stderr, /hub\.tokenSecret\.name is required: a Secret holding the bootstrap token/);
  });
});

/** Drops what only Helm adds (its labels and the config checksum), so chart and base compare. */
function withoutHelmMarks(objects: KubeObject[]): unknown[] {
  const helmLabels = ["app.kubernetes.io/version", "app.kubernetes.io/managed-by", "helm.sh/chart"];
  const strip = (
    meta: { labels?: Record<string, string>; annotations?: Record<string, string> } | undefined,
  ) => {
    if (!meta) return;
    for (const label of helmLabels) delete meta.labels?.[label];
    for (const key of Object.keys(meta.annotations ?? {}))
      if (key.startsWith("checksum/")) delete meta.annotations?.[key];
    if (meta.annotations && Object.keys(meta.annotations).length === 0) delete meta.annotations;
  };
  return structuredClone(objects)
    .map((object) => {
      strip(object.metadata);
      if (isWorkload(object)) strip(object.spec.template.metadata);
      return object;
    })
    .sort((a, b) => subject(a).localeCompare(subject(b)));
}

/** Kustomize's generated ConfigMaps carry a content hash: map `name-<hash>` back to `name`. */
function withoutNameHashes(objects: KubeObject[], names: string[]): KubeObject[] {
  let text = JSON.stringify(objects);
  for (const name of names)
    text = text.replace(new RegExp(`"${name}-[a-z0-9]{10}"`, "g"), JSON.stringify(name));
  return JSON.parse(text) as KubeObject[];
}

/**
 * The agent container as it runs: configMapKeyRef env resolved from `configMaps` and `$(VAR)`
 * expanded in args, so the base's ConfigMap indirection compares with the chart's literal values.
 */
function resolvedContainer(workload: Workload, configMaps: KubeObject[]): Container {
  const container = structuredClone(containerOf(workload));
  const values = new Map<string, string>();
  for (const entry of container.env ?? []) {
    const ref = entry.valueFrom?.configMapKeyRef as { name: string; key: string } | undefined;
    if (!ref) continue;
    const map = configMaps.find((c) => c.metadata.name === ref.name) as
      | { data?: Record<string, string> }
      | undefined;
    const value = map?.data?.[ref.key];
    assert.ok(value !== undefined, `ConfigMap ${ref.name} has ${ref.key}`);
    values.set(entry.name, value);
    entry.value = value;
    delete entry.valueFrom;
  }
  values.set("POD_NAMESPACE", workload.metadata.namespace ?? "");
  container.args = container.args?.map((arg) =>
    arg.replace(/\$\((\w+)\)/g, (_, name: string) => values.get(name) ?? ""),
  );
  // Only the args read these two; the chart writes the values into the args directly.
  container.env = container.env?.filter(
    (e) => e.name !== "FLOTILLA_HUB_URL" && e.name !== "FLOTILLA_CA_HASH",
  );
  return container;
}

describe("Kustomize bases", () => {
  it("deploy/kustomize/hub equals the hub chart's defaults", async () => {
    const base = withoutNameHashes(await kustomizeBuild("kustomize/hub"), ["flotilla-hub"]);
    const chart = await renderChart(hubChart, "flotilla-hub", {});
    // The base's hub.yaml is all comments (null); the chart's is {}: both mean no settings.
    for (const map of [...base, ...chart].filter((o) => o.kind === "ConfigMap")) {
      const data = map.data as Record<string, string>;
      data["hub.yaml"] = JSON.stringify(parse(data["hub.yaml"] ?? "") ?? {});
    }
    assert.deepEqual(withoutHelmMarks(base), withoutHelmMarks(chart));
  });

  for (const [dir, scope, namespaces] of [
    ["kustomize/agent", "cluster", []],
    ["kustomize/agent/namespaced", "namespaced", ["apps"]],
  ] as const) {
    it(`deploy/${dir} runs the agent chart's pod with its join values`, async () => {
      const base = await kustomizeBuild(dir);
      const joinConfig = base.find((o) => o.kind === "ConfigMap") as KubeObject & {
        data: Record<string, string>;
      };
      const chart = await renderChart(agentChart, "flotilla-agent", {
        hub: {
          url: joinConfig.data["hub-url"],
          caHash: joinConfig.data["ca-hash"],
          tokenSecret: { name: "flotilla-agent-join-token", key: "token" },
        },
        cluster: { name: joinConfig.data["cluster-name"] },
        rbac: { scope, namespaces: [...namespaces] },
      });
      const [baseAgent, chartAgent] = [workloadOf(base), workloadOf(chart)];
      assert.deepEqual(resolvedContainer(baseAgent, base), containerOf(chartAgent));
      // Everything but the container, compared above: strategy, selector, labels, pod settings.
      const withoutContainers = (w: Workload) => {
        const spec = (withoutHelmMarks([w])[0] as Workload).spec;
        return { ...spec, template: { ...spec.template, spec: { ...spec.template.spec, containers: [] } } };
      };
      assert.deepEqual(withoutContainers(baseAgent), withoutContainers(chartAgent));
      assert.deepEqual(rbacOf(base), rbacOf(chart));
    });
  }

  it("lets an overlay replace the join values and add registration labels (deploy/kustomize/examples/agent-join)", async () => {
    const objects = await kustomizeBuild("kustomize/examples/agent-join");
    const container = resolvedContainer(workloadOf(objects), objects);
    assert.ok(container.args?.includes("--hub=https://flotilla.example.com"), container.args?.join(" "));
    assert.ok(container.args?.includes("--label=env=prod"), container.args?.join(" "));
    assert.equal(envOf(container, "FLOTILLA_CLUSTER_NAME")?.value, "edge-1");
  });
});

/** What a server-side dry run of `objects` did: the kinds skipped for a missing CRD, and failures. */
type DryRunOutcome = { skipped: string[]; failures: string[] };

/**
 * Creates the namespaces `objects` live in (for real: a dry-run Namespace does not exist for the
 * objects in it), then applies every object with dryRun=All and strict field validation.
 * ServiceMonitor is skipped when its CRD (prometheus-operator) is not installed, as here.
 */
async function dryRunApply(kube: KubeClient, objects: KubeObject[]): Promise<DryRunOutcome> {
  const namespaces = new Set(objects.flatMap((o) => (o.metadata.namespace ? [o.metadata.namespace] : [])));
  for (const o of objects) if (o.kind === "Namespace" && o.metadata.name) namespaces.add(o.metadata.name);
  for (const name of namespaces) {
    await kube.apply(
      { apiVersion: "v1", kind: "Namespace", metadata: { name } },
      { fieldManager, force: true },
    );
  }
  const outcome: DryRunOutcome = { skipped: [], failures: [] };
  for (const object of objects) {
    try {
      await kube.apply(object, { fieldManager, force: true, dryRun: true });
    } catch (error) {
      if (error instanceof KubeError && error.reason === "NoKind" && object.kind === "ServiceMonitor") {
        outcome.skipped.push(subject(object));
      } else outcome.failures.push(`${subject(object)}: ${(error as Error).message}`);
    }
  }
  return outcome;
}

/** A Pod with the workload's pod template, as its controller would create it. */
function podOf(workload: Workload, podNamespace: string): KubeObject {
  const spec = structuredClone(workload.spec.template.spec);
  for (const claim of workload.spec.volumeClaimTemplates ?? []) {
    spec.volumes = [
      ...(spec.volumes ?? []),
      { name: claim.metadata.name, persistentVolumeClaim: { claimName: `${claim.metadata.name}-0` } },
    ];
  }
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: `${workload.metadata.name}-pss`, namespace: podNamespace },
    spec,
  };
}

describe("rendered manifests against a real kube-apiserver", () => {
  const clusters = useClusters(1);
  let kube: KubeClient;
  const restricted = "pss-restricted";
  const workloads: { what: string; workload: Workload }[] = [];

  before(async () => {
    kube = adminKube(clusters()[0] as Cluster);
    await kube.apply(
      {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: {
          name: restricted,
          labels: {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
          },
        },
      },
      { fieldManager, force: true },
    );
  });

  const sources: [string, () => Promise<KubeObject[]>][] = [
    ...Object.entries(hubValueSets).map(
      ([name, values]) =>
        [`hub chart with ${name}`, () => renderChart(hubChart, "flotilla-hub", values)] as [
          string,
          () => Promise<KubeObject[]>,
        ],
    ),
    ...Object.entries(agentValueSets).map(
      ([name, values]) =>
        [`agent chart with ${name}`, () => renderChart(agentChart, "flotilla-agent", values)] as [
          string,
          () => Promise<KubeObject[]>,
        ],
    ),
    ...[
      "kustomize/hub",
      "kustomize/agent",
      "kustomize/agent/namespaced",
      "kustomize/examples/agent-join",
    ].map(
      (dir) =>
        [`kustomize build deploy/${dir}`, () => kustomizeBuild(dir)] as [string, () => Promise<KubeObject[]>],
    ),
  ];
  for (const [what, render] of sources) {
    it(`accepts every object of ${what} in a server-side dry run`, async () => {
      const objects = await render();
      const outcome = await dryRunApply(kube, objects);
      assert.deepEqual(outcome.failures, []);
      // Only the ServiceMonitor may be skipped, and only because prometheus-operator's CRD is absent.
      const monitors = objects.filter((o) => o.kind === "ServiceMonitor").map(subject);
      assert.deepEqual(outcome.skipped, monitors);
      for (const workload of objects.filter(isWorkload)) workloads.push({ what, workload });
    });
  }

  it("knows no ServiceMonitor kind, which is why ServiceMonitors are skipped", async () => {
    await assert.rejects(kube.resourceFor("monitoring.coreos.com/v1", "ServiceMonitor"), (error: unknown) => {
      assert.ok(error instanceof KubeError);
      assert.equal(error.reason, "NoKind");
      return true;
    });
  });

  it("admits the pods of every workload under the restricted Pod Security Standard", async () => {
    assert.ok(workloads.length >= sources.length, `${workloads.length} workloads collected`);
    const failures: string[] = [];
    for (const { what, workload } of workloads) {
      try {
        await kube.create(podOf(workload, restricted), { fieldManager, dryRun: true });
      } catch (error) {
        failures.push(`${what}: ${subject(workload)}: ${(error as Error).message}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  it("refuses a pod without the charts' security context there, so the check above has teeth", async () => {
    const first = workloads[0];
    assert.ok(first);
    const pod = podOf(first.workload, restricted) as KubeObject & { spec: PodSpec };
    delete pod.spec.securityContext;
    for (const container of pod.spec.containers) delete container.securityContext;
    await assert.rejects(
      kube.create(pod, { fieldManager, dryRun: true }),
      /violates PodSecurity "restricted/,
    );
  });
});
