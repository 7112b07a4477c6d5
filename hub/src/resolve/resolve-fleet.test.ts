import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse, stringify } from "yaml";
import { groupOf, isCustomResourceDefinition, type KubeObject, subject } from "../render/kube-object.js";
import type { GitSource } from "../source/git-source.js";
import type { Cluster } from "./cluster.js";
import {
  createFixtureRepo,
  FIXTURE_REPOS_DIR,
  type FixtureRepo,
  openFixtureResolver,
  useTempDirs,
} from "./fixture-repo.js";
import {
  type FleetResolution,
  type FleetRoot,
  type ResolveDeps,
  type ResolveLimits,
  resolveFleet,
  type Target,
} from "./resolve-fleet.js";
import { TRACKING_ANNOTATION } from "./tracking.js";

const REPO_URL = "https://git.example.com/fleet.git";
const ROOT: FleetRoot = { name: "root", source: { repoURL: REPO_URL, path: "root" } };
const CLUSTERS: Cluster[] = [
  // Registered under another address: https://kubernetes.default.svc still names it.
  { name: "in-cluster", server: "https://10.0.0.1:6443", labels: { env: "hub" } },
  { name: "prod-eu", server: "https://prod-eu.example.com:6443", labels: { env: "prod" } },
  { name: "prod-us", server: "https://prod-us.example.com:6443/", labels: { env: "prod" } },
];

type OpenOptions = {
  clusters?: Cluster[];
  /** URLs that read the repository (default: REPO_URL). */
  urls?: string[];
  limits?: Partial<ResolveLimits>;
  /** Wraps the real GitSource, to watch what the resolver asks of it. */
  wrapGit?: (git: GitSource) => GitSource;
};

type TestResolver = {
  deps: ResolveDeps;
  /** Renders run so far (render cache misses), through the injected render function. */
  renders(): number;
  resolve(root?: FleetRoot): Promise<FleetResolution>;
};

/** Real GitSource, real kustomize and helm, a render cache; one per `open`, over a fixture repository. */
function useResolver(): (repo: FixtureRepo, options?: OpenOptions) => Promise<TestResolver> {
  const tempDir = useTempDirs("flotilla-resolve");
  return async (repo, options = {}) => {
    const { git, cache, render } = openFixtureResolver(repo, await tempDir(), options.urls ?? [REPO_URL]);
    const deps: ResolveDeps = {
      git: options.wrapGit ? options.wrapGit(git) : git,
      clusters: options.clusters ?? CLUSTERS,
      render,
      ...(options.limits ? { limits: options.limits } : {}),
    };
    return {
      deps,
      renders: () => cache.misses,
      resolve: (root = ROOT) => resolveFleet(root, deps),
    };
  };
}

/** A repository of the given files, created before use and removed after the suite. */
function useRepos(): (files: Record<string, string>) => Promise<FixtureRepo> {
  const tempDir = useTempDirs("flotilla-resolve-repo");
  return async (files) => createFixtureRepo(join(await tempDir(), "repo"), { files });
}

function application(
  name: string,
  path: string,
  destination: Record<string, string> | undefined,
  source: Record<string, unknown> = {},
): string {
  return stringify({
    apiVersion: "argoproj.io/v1alpha1",
    kind: "Application",
    metadata: { name, namespace: "argocd" },
    spec: {
      project: "default",
      source: { repoURL: REPO_URL, targetRevision: "HEAD", path, ...source },
      ...(destination ? { destination } : {}),
    },
  });
}

function configMap(
  name: string,
  data: Record<string, string> = { key: "value" },
  namespace?: string,
): string {
  return stringify({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, ...(namespace ? { namespace } : {}) },
    data,
  });
}

const documents = (...docs: string[]) => docs.join("---\n");

function targetOf(resolution: FleetResolution, cluster: string, app: string): Target {
  const target = resolution.targets.find((t) => t.cluster === cluster && t.app === app);
  if (!target) {
    const have = resolution.targets.map((t) => `${t.cluster}/${t.app}`).join(", ");
    const problems = resolution.problems.map((p) => `${p.app}: ${p.kind}: ${p.message}`).join("; ");
    assert.fail(`no target ${cluster}/${app}; targets: ${have}; problems: ${problems}`);
  }
  return target;
}

function objectOf(target: Target, kind: string, name: string): KubeObject {
  const found = target.objects.find(
    (o) => o.kind === kind && (o.metadata.name ?? o.metadata.generateName) === name,
  );
  if (!found) assert.fail(`${target.app} has no ${kind}/${name}: ${target.objects.map(subject).join(", ")}`);
  return found;
}

/** An object's spec, typed for the fields a test reads. */
function specOf<T>(obj: KubeObject): T {
  return obj.spec as T;
}

function problemsOf(resolution: FleetResolution, app: string) {
  return resolution.problems.filter((p) => p.app === app);
}

// --- Fixture repositories, compared with what Argo CD would produce (expected.json) ---

type Expected = {
  root: { repoURL: string; path: string };
  clusters: Record<string, Record<string, { namespace: string; objects: string[] }>>;
  problems: { app: string; kind: string }[];
};

function readFixture(name: string): { expected: Expected; clusters: Cluster[] } {
  const dir = join(FIXTURE_REPOS_DIR, name);
  const expected = JSON.parse(readFileSync(join(dir, "expected.json"), "utf8")) as Expected;
  const file = parse(readFileSync(join(dir, "clusters.yaml"), "utf8"), { merge: true }) as {
    clusters: {
      name: string;
      server: string;
      labels?: Record<string, string>;
      annotations?: Record<string, string>;
    }[];
  };
  const clusters = file.clusters.map((c) => ({
    name: c.name,
    server: c.server,
    labels: c.labels ?? {},
    annotations: c.annotations ?? {},
  }));
  return { expected, clusters };
}

/** What expected.json records of a resolution: per cluster, app namespaces and sorted objects; problem kinds. */
function summarize(resolution: FleetResolution, clusters: Cluster[]): Omit<Expected, "root"> {
  const summary: Expected["clusters"] = {};
  for (const cluster of clusters) summary[cluster.name] = {};
  for (const target of resolution.targets) {
    const apps = summary[target.cluster] ?? {};
    apps[target.app] = { namespace: target.namespace, objects: target.objects.map(subject).sort() };
    summary[target.cluster] = apps;
  }
  return {
    clusters: summary,
    problems: resolution.problems
      .map((p) => ({ app: p.app, kind: p.kind }))
      .sort((a, b) => a.app.localeCompare(b.app) || a.kind.localeCompare(b.kind)),
  };
}

/** Resolves a fixture repository from its expected.json root, with its clusters.yaml. */
function useFixtureResolution(name: string): () => FleetResolution {
  const open = useResolver();
  const tempDir = useTempDirs(`flotilla-fixture-${name}`);
  let resolution: FleetResolution | undefined;
  it(`resolves ${name} to the apps and objects Argo CD would produce`, async () => {
    const { expected, clusters } = readFixture(name);
    const repo = await createFixtureRepo(join(await tempDir(), "repo"), { fixture: name });
    const resolver = await open(repo, { clusters, urls: [expected.root.repoURL] });
    resolution = await resolver.resolve({ name: "root", source: expected.root });
    assert.deepEqual(summarize(resolution, clusters), {
      clusters: expected.clusters,
      problems: expected.problems,
    });
  });
  return () => {
    if (!resolution) throw new Error(`the ${name} fixture did not resolve`);
    return resolution;
  };
}

describe("resolveFleet on argocd-example-apps (Helm app of apps)", () => {
  const resolution = useFixtureResolution("argocd-example-apps");

  it("stamps each child's tracking id with its own name and destination namespace", () => {
    const target = targetOf(resolution(), "in-cluster", "example.kustomize-guestbook");
    const deployment = objectOf(target, "Deployment", "kustomize-guestbook-ui");
    assert.equal(
      deployment.metadata.annotations?.[TRACKING_ANNOTATION],
      "example.kustomize-guestbook:apps/Deployment:kustomize-guestbook/kustomize-guestbook-ui",
    );
  });

  it("keeps the child Applications' sync policy on their targets", () => {
    const target = targetOf(resolution(), "in-cluster", "example.guestbook");
    assert.deepEqual(target.syncPolicy, {
      syncOptions: ["CreateNamespace=true"],
      automated: { prune: true, selfHeal: true },
    });
    assert.equal(target.sources[0]?.path, "guestbook");
  });

  it("lists a hook that has only generateName by that generateName", () => {
    const target = targetOf(resolution(), "in-cluster", "example.sync-waves");
    const hook = objectOf(target, "Job", "upgrade-sql-schema");
    assert.equal(hook.metadata.name, undefined);
    assert.equal(hook.metadata.annotations?.["argocd.argoproj.io/hook"], "PreSync");
  });

  it("names the plugin in the unsupported problem", () => {
    const [problem] = problemsOf(resolution(), "example.plugin-kasane");
    assert.match(problem?.message ?? "", /kasane/);
  });

  it("records the root, its child apps and their parents", () => {
    const root = resolution().apps.find((a) => a.name === "root");
    assert.deepEqual(root?.children, [
      "example.guestbook",
      "example.helm-guestbook",
      "example.helm-hooks",
      "example.kustomize-guestbook",
      "example.plugin-kasane",
      "example.sync-waves",
    ]);
    const plugin = resolution().apps.find((a) => a.name === "example.plugin-kasane");
    assert.deepEqual({ parent: plugin?.parent, state: plugin?.state }, { parent: "root", state: "problem" });
  });
});

describe("resolveFleet on applicationset-examples (every generator)", () => {
  const resolution = useFixtureResolution("applicationset-examples");

  it("renders each list element's folder", () => {
    const prod = targetOf(resolution(), "engineering-prod", "engineering-prod-guestbook");
    assert.equal(specOf<{ replicas: number }>(objectOf(prod, "Deployment", "guestbook-ui")).replicas, 3);
  });

  it("fills Kustomize options from git files generator parameters", () => {
    const target = targetOf(resolution(), "engineering-dev", "engineering-dev-guestbook-discovery");
    assert.equal(
      objectOf(target, "Service", "guestbook-ui").metadata.labels?.owner,
      "cluster-admin-at-company.com",
    );
  });

  it("merges generator values by server into Helm parameters", () => {
    const data = (cluster: string) =>
      (
        objectOf(targetOf(resolution(), cluster, `${cluster}-queues`), "ConfigMap", "queues") as {
          data?: unknown;
        }
      ).data;
    assert.deepEqual(data("engineering-dev"), { kafka: "true", redis: "false" });
    assert.deepEqual(data("engineering-prod"), { kafka: "false", redis: "true" });
    assert.deepEqual(data("in-cluster"), { kafka: "true", redis: "false" });
  });

  it("leaves CRDs untracked and keeps cluster-scoped objects out of the destination namespace", () => {
    const target = targetOf(resolution(), "in-cluster", "argo-workflows");
    const crd = objectOf(target, "CustomResourceDefinition", "workflows.argoproj.io");
    assert.equal(crd.metadata.annotations?.[TRACKING_ANNOTATION], undefined);
    const role = objectOf(target, "ClusterRole", "argo-cluster-role");
    assert.equal(role.metadata.namespace, undefined);
    assert.equal(
      role.metadata.annotations?.[TRACKING_ANNOTATION],
      "argo-workflows:rbac.authorization.k8s.io/ClusterRole:argo-workflows/argo-cluster-role",
    );
  });
});

describe("resolveFleet on gitops-bridge (merged clusters generators, multi-source values)", () => {
  const resolution = useFixtureResolution("gitops-bridge");

  it("layers $values files by environment and cluster, ignoring missing ones", () => {
    const deployment = (cluster: string) =>
      specOf<{ replicas: number; template: { spec: { containers: { image: string; args: string[] }[] } } }>(
        objectOf(
          targetOf(resolution(), cluster, `addon-${cluster}-metrics-server`),
          "Deployment",
          "metrics-server",
        ),
      );
    const prod = deployment("spoke-prod");
    assert.equal(prod.replicas, 2);
    assert.equal(
      prod.template.spec.containers[0]?.image,
      "registry.k8s.io/metrics-server/metrics-server:v0.7.1",
    );
    const hub = deployment("hub-cluster");
    assert.equal(hub.replicas, 1);
    assert.ok(hub.template.spec.containers[0]?.args.includes("--kubelet-insecure-tls"));
    assert.equal(
      deployment("spoke-staging").template.spec.containers[0]?.image,
      "registry.k8s.io/metrics-server/metrics-server:v0.7.2",
    );
  });

  it("records both sources, the ref source first", () => {
    const target = targetOf(resolution(), "spoke-prod", "addon-spoke-prod-cert-manager");
    assert.deepEqual(
      target.sources.map((s) => ({ ref: s.ref, path: s.path })),
      [
        { ref: "values", path: "" },
        { ref: undefined, path: "charts/cert-manager/v1.16.2" },
      ],
    );
    assert.deepEqual(target.syncPolicy?.syncOptions, ["CreateNamespace=true", "ServerSideApply=true"]);
  });

  it("leaves a CRD-declared Cluster-scoped custom resource without a namespace", () => {
    const target = targetOf(resolution(), "hub-cluster", "addon-hub-cluster-cert-manager");
    const issuer = objectOf(target, "ClusterIssuer", "selfsigned");
    assert.equal(issuer.metadata.namespace, undefined);
    assert.equal(
      issuer.metadata.annotations?.[TRACKING_ANNOTATION],
      "addon-hub-cluster-cert-manager:cert-manager.io/ClusterIssuer:cert-manager/selfsigned",
    );
  });
});

describe("resolveFleet on fleet-overlays (an overlay per env label)", () => {
  const resolution = useFixtureResolution("fleet-overlays");

  it("applies each environment's overlay", () => {
    const frontend = (cluster: string) =>
      objectOf(targetOf(resolution(), cluster, `guestbook-${cluster}`), "Deployment", "frontend").spec as {
        replicas: number;
      };
    assert.deepEqual(
      ["dev-1", "test-1", "prod-eu", "prod-us"].map((c) => frontend(c).replicas),
      [1, 2, 3, 3],
    );
    const service = objectOf(targetOf(resolution(), "prod-us", "guestbook-prod-us"), "Service", "frontend");
    assert.equal((service.spec as { type: string }).type, "LoadBalancer");
  });
});

describe("resolveFleet on flux-overlays (overlays patching a HelmRelease)", () => {
  const resolution = useFixtureResolution("flux-overlays");

  it("patches the HelmRelease per environment", () => {
    const release = (cluster: string) =>
      objectOf(targetOf(resolution(), cluster, `apps-${cluster}`), "HelmRelease", "podinfo").spec as {
        chart: { spec: { version: string } };
        values: { replicaCount?: number; ingress: { hosts: { host: string }[] } };
      };
    assert.equal(release("staging").chart.spec.version, ">=1.0.0-alpha");
    assert.equal(release("staging").values.ingress.hosts[0]?.host, "podinfo.staging");
    assert.equal(release("staging").values.replicaCount, undefined);
    assert.equal(release("production").chart.spec.version, ">=1.0.0");
    assert.equal(release("production").values.replicaCount, 2);
  });

  it("tracks a Namespace under the destination namespace, without giving it one", () => {
    const namespace = objectOf(targetOf(resolution(), "staging", "apps-staging"), "Namespace", "podinfo");
    assert.equal(namespace.metadata.namespace, undefined);
    assert.equal(
      namespace.metadata.annotations?.[TRACKING_ANNOTATION],
      "apps-staging:/Namespace:podinfo/podinfo",
    );
  });
});

// --- Behaviours, on small repositories ---

describe("resolveFleet tracking and namespaces", () => {
  const open = useResolver();
  const createRepo = useRepos();
  let target: Target;

  it("resolves an app with namespaced, cluster-scoped and custom objects", async () => {
    const repo = await createRepo({
      "root/platform.yaml": application("platform", "platform", { name: "prod-eu", namespace: "platform" }),
      "platform/crds.yaml": documents(
        stringify({
          apiVersion: "apiextensions.k8s.io/v1",
          kind: "CustomResourceDefinition",
          metadata: { name: "backups.example.com" },
          spec: { group: "example.com", scope: "Cluster", names: { kind: "Backup", plural: "backups" } },
        }),
        stringify({
          apiVersion: "apiextensions.k8s.io/v1",
          kind: "CustomResourceDefinition",
          metadata: { name: "widgets.example.com" },
          spec: { group: "example.com", scope: "Namespaced", names: { kind: "Widget", plural: "widgets" } },
        }),
      ),
      "platform/objects.yaml": documents(
        stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: "team-a" } }),
        stringify({
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "ClusterRole",
          metadata: { name: "reader" },
        }),
        stringify({ apiVersion: "example.com/v1", kind: "Backup", metadata: { name: "nightly" } }),
        stringify({ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w1" } }),
        configMap("settings"),
        configMap("team-settings", {}, "team-a"),
      ),
    });
    const resolution = await (await open(repo)).resolve();
    assert.deepEqual(resolution.problems, []);
    target = targetOf(resolution, "prod-eu", "platform");
  });

  it("stamps the tracking annotation <app>:<group>/<kind>:<ns>/<name> on every object except CRDs", () => {
    for (const obj of target.objects) {
      const tracking = obj.metadata.annotations?.[TRACKING_ANNOTATION];
      if (isCustomResourceDefinition(obj)) {
        assert.equal(tracking, undefined, subject(obj));
        continue;
      }
      const namespace = obj.metadata.namespace || "platform";
      assert.equal(
        tracking,
        `platform:${groupOf(obj.apiVersion)}/${obj.kind}:${namespace}/${obj.metadata.name}`,
      );
    }
  });

  it("gives namespaced objects without a namespace the destination namespace", () => {
    assert.equal(objectOf(target, "ConfigMap", "settings").metadata.namespace, "platform");
    assert.equal(objectOf(target, "Widget", "w1").metadata.namespace, "platform");
    assert.equal(objectOf(target, "ConfigMap", "team-settings").metadata.namespace, "team-a");
  });

  it("leaves Namespaces, ClusterRoles and CRD-declared Cluster-scoped kinds without a namespace", () => {
    for (const [kind, name] of [
      ["Namespace", "team-a"],
      ["ClusterRole", "reader"],
      ["Backup", "nightly"],
      ["CustomResourceDefinition", "backups.example.com"],
    ] as const) {
      assert.equal(objectOf(target, kind, name).metadata.namespace, undefined, `${kind}/${name}`);
    }
  });

  it("orders objects by group, kind, namespace and name", () => {
    assert.deepEqual(target.objects.map(subject), [
      "ConfigMap/platform/settings",
      "ConfigMap/team-a/team-settings",
      "Namespace/team-a",
      "CustomResourceDefinition/backups.example.com",
      "CustomResourceDefinition/widgets.example.com",
      "Backup/nightly",
      "Widget/platform/w1",
      "ClusterRole/reader",
    ]);
  });
});

describe("resolveFleet problems", () => {
  const open = useResolver();
  const createRepo = useRepos();

  it("reports a cycle with the path that closes it", async () => {
    const repo = await createRepo({
      "root/a.yaml": application("a", "a", { name: "prod-eu", namespace: "a" }),
      "a/b.yaml": application("b", "b", { name: "prod-eu", namespace: "b" }),
      "b/a.yaml": application("a", "a", { name: "prod-eu", namespace: "a" }),
    });
    const resolution = await (await open(repo)).resolve();
    assert.deepEqual(resolution.problems, [
      { app: "a", kind: "cycle", message: "app-of-apps cycle: a -> b -> a" },
    ]);
    assert.deepEqual(
      resolution.apps.map((a) => [a.name, a.parent, a.state]),
      [
        ["a", "root", "ok"],
        ["b", "a", "ok"],
        ["root", undefined, "ok"],
      ],
    );
  });

  it("keeps the first of two apps of one name, whatever the file names", async () => {
    const files = (first: string, second: string) => ({
      [`root/${first}.yaml`]: application("p1", "p1", undefined),
      [`root/${second}.yaml`]: application("p2", "p2", undefined),
      "p1/web.yaml": application("web", "web-one", { name: "prod-eu", namespace: "web" }),
      "p2/web.yaml": application("web", "web-two", { name: "prod-eu", namespace: "web" }),
      "web-one/cm.yaml": configMap("one"),
      "web-two/cm.yaml": configMap("two"),
    });
    for (const [first, second] of [
      ["a", "b"],
      ["b", "a"],
    ] as const) {
      const resolution = await (await open(await createRepo(files(first, second)))).resolve();
      assert.deepEqual(targetOf(resolution, "prod-eu", "web").objects.map(subject), ["ConfigMap/web/one"]);
      assert.deepEqual(resolution.problems, [
        {
          app: "web",
          kind: "duplicate",
          message: 'app "web" is declared by "p2" and already by "p1"; the first one is kept',
        },
      ]);
    }
  });

  describe("destination", () => {
    let resolution: FleetResolution;
    it("resolves apps with every kind of destination", async () => {
      const repo = await createRepo({
        "root/apps.yaml": documents(
          application("unknown-name", "web", { name: "prod-ap", namespace: "web" }),
          application("unknown-server", "web", { server: "https://nowhere.example.com", namespace: "web" }),
          application("both", "web", {
            name: "prod-eu",
            server: "https://prod-eu.example.com:6443",
            namespace: "web",
          }),
          application("neither", "web", { namespace: "web" }),
          application("local", "web", { server: "https://kubernetes.default.svc", namespace: "web" }),
          application("by-server", "web", { server: "https://prod-us.example.com:6443", namespace: "web" }),
        ),
        "web/cm.yaml": configMap("web"),
      });
      resolution = await (await open(repo)).resolve();
    });

    const messageOf = (app: string) => {
      const found = problemsOf(resolution, app);
      assert.equal(found.length, 1, JSON.stringify(found));
      assert.equal(found[0]?.kind, "destination");
      return found[0]?.message ?? "";
    };

    it("reports an unknown cluster name", () => {
      assert.match(messageOf("unknown-name"), /no registered cluster named "prod-ap"/);
    });

    it("reports an unknown server", () => {
      assert.match(
        messageOf("unknown-server"),
        /no registered cluster with server https:\/\/nowhere.example.com/,
      );
    });

    it("reports a destination with both name and server", () => {
      assert.match(messageOf("both"), /both name and server/);
    });

    it("reports a destination with neither name nor server", () => {
      assert.match(messageOf("neither"), /neither name nor server/);
    });

    it("sends https://kubernetes.default.svc to the cluster registered as in-cluster", () => {
      assert.equal(targetOf(resolution, "in-cluster", "local").objects.length, 1);
    });

    it("matches a server registered with a trailing slash", () => {
      assert.equal(targetOf(resolution, "prod-us", "by-server").objects.length, 1);
    });

    it("marks an app with a destination problem as a problem and gives it no target", () => {
      assert.equal(resolution.apps.find((a) => a.name === "both")?.state, "problem");
      assert.equal(
        resolution.targets.some((t) => t.app === "both"),
        false,
      );
    });
  });

  it("reports https://kubernetes.default.svc as unknown when no in-cluster is registered", async () => {
    const repo = await createRepo({
      "root/local.yaml": application("local", "web", {
        server: "https://kubernetes.default.svc",
        namespace: "w",
      }),
      "web/cm.yaml": configMap("web"),
    });
    const clusters = CLUSTERS.filter((c) => c.name !== "in-cluster");
    const resolution = await (await open(repo, { clusters })).resolve();
    assert.deepEqual(
      resolution.problems.map((p) => [p.app, p.kind, p.message]),
      [["local", "destination", "no registered cluster with server https://kubernetes.default.svc"]],
    );
  });

  it("reports a repository that is neither configured nor mapped as a source problem, without reading it", async () => {
    const foreign = "https://git.internal.example.net/secret/infra.git";
    const repo = await createRepo({
      "root/apps.yaml": documents(
        application("foreign", "web", { name: "prod-eu", namespace: "web" }, { repoURL: foreign }),
        application("local-file", "web", { name: "prod-eu", namespace: "web" }, { repoURL: "file:///etc" }),
        application("web", "web", { name: "prod-eu", namespace: "web" }),
      ),
      "web/cm.yaml": configMap("web"),
    });
    const asked: string[] = [];
    const wrapGit = (git: GitSource): GitSource =>
      new Proxy(git, {
        get(target, property, receiver) {
          const value = Reflect.get(target, property, receiver);
          if (typeof value !== "function" || property === "isAllowed") return value;
          return (url: string, ...rest: unknown[]) => {
            asked.push(url);
            return value.call(target, url, ...rest);
          };
        },
      });
    const resolution = await (await open(repo, { wrapGit })).resolve();
    assert.deepEqual(
      resolution.problems.map((p) => [p.app, p.kind]),
      [
        ["foreign", "source"],
        ["local-file", "source"],
      ],
    );
    assert.match(
      problemsOf(resolution, "foreign")[0]?.message ?? "",
      /not configured or mapped; it is not fetched/,
    );
    assert.deepEqual(
      asked.filter((url) => url !== REPO_URL),
      [],
    );
    assert.equal(targetOf(resolution, "prod-eu", "web").objects.length, 1);
  });

  it("keeps the other apps' targets when one app fails to render", async () => {
    const repo = await createRepo({
      "root/apps.yaml": documents(
        application("good", "good", { name: "prod-eu", namespace: "good" }),
        application("broken", "broken", { name: "prod-eu", namespace: "broken" }),
        application("also-good", "good", { name: "prod-us", namespace: "good" }),
      ),
      "good/cm.yaml": configMap("good"),
      "broken/bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [unclosed\n",
    });
    const resolution = await (await open(repo)).resolve();
    assert.deepEqual(
      resolution.problems.map((p) => [p.app, p.kind]),
      [["broken", "render"]],
    );
    assert.match(resolution.problems[0]?.message ?? "", /broken\/bad\.yaml/);
    assert.equal(resolution.apps.find((a) => a.name === "broken")?.state, "problem");
    assert.deepEqual(
      resolution.targets.map((t) => `${t.cluster}/${t.app}`),
      ["prod-eu/good", "prod-us/also-good"],
    );
  });

  it("reports apps nested deeper than the depth limit, with the chain", async () => {
    const repo = await createRepo({
      "root/l1.yaml": application("l1", "l1", undefined),
      "l1/l2.yaml": application("l2", "l2", undefined),
      "l2/l3.yaml": application("l3", "l3", undefined),
      "l3/l4.yaml": application("l4", "l4", undefined),
    });
    const resolution = await (await open(repo, { limits: { maxDepth: 2 } })).resolve();
    assert.deepEqual(resolution.problems, [
      { app: "l3", kind: "limit", message: "app-of-apps nesting deeper than 2 (root -> l1 -> l2)" },
    ]);
  });

  it("needs no destination for an app of ApplicationSets, even ones that generate nothing", async () => {
    const appSet = stringify({
      apiVersion: "argoproj.io/v1alpha1",
      kind: "ApplicationSet",
      metadata: { name: "nothing-yet" },
      spec: {
        generators: [{ list: { elements: [] } }],
        template: {
          metadata: { name: "{{name}}" },
          spec: { source: { repoURL: REPO_URL, path: "web" }, destination: { name: "{{name}}" } },
        },
      },
    });
    const repo = await createRepo({
      "root/appsets.yaml": application("appsets", "appsets", undefined),
      "appsets/nothing-yet.yaml": appSet,
    });
    const resolution = await (await open(repo)).resolve();
    assert.deepEqual(resolution.problems, []);
    assert.deepEqual(resolution.targets, []);
  });
});

describe("resolveFleet digests and the render cache", () => {
  const open = useResolver();
  const createRepo = useRepos();
  const fleet = {
    "root/apps.yaml": documents(
      application("web", "web", { name: "prod-eu", namespace: "web" }),
      application("api", "api", { name: "prod-eu", namespace: "api" }),
      application("chart", "chart", { name: "prod-us", namespace: "chart" }),
    ),
    "web/cm.yaml": configMap("web", { replicas: "1" }),
    "api/cm.yaml": configMap("api"),
    "chart/Chart.yaml": "apiVersion: v2\nname: chart\nversion: 0.1.0\n",
    "chart/templates/cm.yaml":
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  revision: "{{ .Values.revision }}"\n',
  };

  const digests = (resolution: FleetResolution) =>
    Object.fromEntries(resolution.targets.map((t) => [`${t.cluster}/${t.app}`, t.digest]));

  it("gives the same targets and digests on every run", async () => {
    const repo = await createRepo(fleet);
    const first = await (await open(repo)).resolve();
    const second = await (await open(repo)).resolve();
    assert.equal(Object.keys(digests(first)).length, 3);
    assert.deepEqual(second, first);
    for (const digest of Object.values(digests(first))) assert.match(digest, /^sha256:[0-9a-f]{64}$/);
  });

  it("gives digests that do not depend on file or document order", async () => {
    const app = (path: string) => ({
      "root/app.yaml": application("app", path, { name: "prod-eu", namespace: "app" }),
    });
    const split = await createRepo({
      ...app("split"),
      "split/a.yaml": documents(configMap("one"), configMap("two")),
      "split/b.yaml": stringify({ apiVersion: "v1", kind: "Service", metadata: { name: "svc" }, spec: {} }),
    });
    // Same objects, one file, reverse order; the path differs too, and the digest does not cover it.
    const merged = await createRepo({
      ...app("merged"),
      "merged/all.yaml": documents(
        stringify({ apiVersion: "v1", kind: "Service", metadata: { name: "svc" }, spec: {} }),
        configMap("two"),
        configMap("one"),
      ),
    });
    const a = targetOf(await (await open(split)).resolve(), "prod-eu", "app");
    const b = targetOf(await (await open(merged)).resolve(), "prod-eu", "app");
    assert.deepEqual(b.objects, a.objects);
    assert.equal(b.digest, a.digest);
  });

  it("keeps an unchanged app's digest, and renders only the changed app, after a commit", async () => {
    const repo = await createRepo(fleet);
    const resolver = await open(repo);
    const before = await resolver.resolve();
    assert.equal(resolver.renders(), 4);
    await repo.commit({ "web/cm.yaml": configMap("web", { replicas: "2" }) });
    const after = await resolver.resolve();
    assert.notEqual(after.revision, before.revision);
    assert.equal(resolver.renders(), 5, "only web renders again");
    assert.deepEqual({ ...digests(after), "prod-eu/web": "" }, { ...digests(before), "prod-eu/web": "" });
    assert.notEqual(digests(after)["prod-eu/web"], digests(before)["prod-eu/web"]);
    assert.equal(targetOf(after, "prod-eu", "api").sources[0]?.commit, after.revision);
  });

  it("renders again an app whose Helm parameters name $ARGOCD_APP_REVISION, after any commit", async () => {
    const repo = await createRepo({
      ...fleet,
      "root/apps.yaml": application(
        "chart",
        "chart",
        { name: "prod-us", namespace: "chart" },
        { helm: { parameters: [{ name: "revision", value: "$ARGOCD_APP_REVISION" }] } },
      ),
    });
    const resolver = await open(repo);
    const revisionOf = (resolution: FleetResolution) =>
      (
        objectOf(targetOf(resolution, "prod-us", "chart"), "ConfigMap", "chart") as {
          data?: { revision?: string };
        }
      ).data?.revision;
    const before = await resolver.resolve();
    assert.equal(revisionOf(before), before.revision);
    await repo.commit({ "web/cm.yaml": configMap("web", { replicas: "3" }) });
    const after = await resolver.resolve();
    assert.equal(revisionOf(after), after.revision);
  });

  it("renders a plain directory once for every app an ApplicationSet sends it to, a chart once per app", async () => {
    const appSet = (name: string, path: string) =>
      stringify({
        apiVersion: "argoproj.io/v1alpha1",
        kind: "ApplicationSet",
        metadata: { name },
        spec: {
          goTemplate: true,
          generators: [{ clusters: { selector: { matchLabels: { env: "prod" } } } }],
          template: {
            metadata: { name: `${name}-{{.name}}` },
            spec: {
              source: { repoURL: REPO_URL, targetRevision: "HEAD", path },
              destination: { server: "{{.server}}", namespace: name },
            },
          },
        },
      });
    const repo = await createRepo({
      ...fleet,
      "root/apps.yaml": documents(appSet("web", "web"), appSet("chart", "chart")),
    });
    const resolver = await open(repo);
    const resolution = await resolver.resolve();
    assert.deepEqual(
      resolution.targets.map((t) => `${t.cluster}/${t.app}`),
      ["prod-eu/chart-prod-eu", "prod-eu/web-prod-eu", "prod-us/chart-prod-us", "prod-us/web-prod-us"],
    );
    // root, web (shared), chart-prod-eu, chart-prod-us: Helm's release name is the app's name.
    assert.equal(resolver.renders(), 4);
    const web = targetOf(resolution, "prod-us", "web-prod-us");
    assert.equal(
      objectOf(web, "ConfigMap", "web").metadata.annotations?.[TRACKING_ANNOTATION],
      "web-prod-us:/ConfigMap:web/web",
    );
    assert.equal(
      objectOf(targetOf(resolution, "prod-eu", "chart-prod-eu"), "ConfigMap", "chart-prod-eu").kind,
      "ConfigMap",
    );
  });

  it("keeps every hook that shares a generateName", async () => {
    const hook = (image: string) =>
      stringify({
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { generateName: "migrate-", annotations: { "argocd.argoproj.io/hook": "PreSync" } },
        spec: { template: { spec: { containers: [{ name: "m", image }], restartPolicy: "Never" } } },
      });
    const repo = await createRepo({
      "root/app.yaml": application("app", "app", { name: "prod-eu", namespace: "app" }),
      "app/hooks.yaml": documents(hook("migrate:2"), hook("migrate:1")),
    });
    const target = targetOf(await (await open(repo)).resolve(), "prod-eu", "app");
    assert.deepEqual(
      target.objects.map(
        (o) =>
          (o.spec as { template: { spec: { containers: { image: string }[] } } }).template.spec.containers[0]
            ?.image,
      ),
      ["migrate:1", "migrate:2"],
    );
  });
});

describe("resolveFleet with followRootRevision", () => {
  const open = useResolver();
  const createRepo = useRepos();

  it("reads child apps and git generators that follow HEAD at the root's revision", async () => {
    const appSet = stringify({
      apiVersion: "argoproj.io/v1alpha1",
      kind: "ApplicationSet",
      metadata: { name: "addons" },
      spec: {
        goTemplate: true,
        generators: [{ git: { repoURL: REPO_URL, revision: "HEAD", directories: [{ path: "addons/*" }] } }],
        template: {
          metadata: { name: "{{.path.basename}}" },
          spec: {
            source: { repoURL: REPO_URL, targetRevision: "HEAD", path: "{{.path.path}}" },
            destination: { name: "prod-eu", namespace: "addons" },
          },
        },
      },
    });
    const repo = await createRepo({
      "root/apps.yaml": documents(application("web", "web", { name: "prod-eu", namespace: "web" }), appSet),
      "web/cm.yaml": configMap("web", { replicas: "1" }),
      "addons/dns/cm.yaml": configMap("dns"),
    });
    const first = await repo.git("rev-parse", "HEAD");
    await repo.commit({
      "web/cm.yaml": configMap("web", { replicas: "2" }),
      "addons/metrics/cm.yaml": configMap("metrics"),
    });
    const resolver = await open(repo);
    const at = (followRootRevision: boolean) =>
      resolver.resolve({
        name: "root",
        source: { repoURL: REPO_URL, path: "root", targetRevision: first },
        followRootRevision,
      });
    const replicas = (resolution: FleetResolution) =>
      (
        objectOf(targetOf(resolution, "prod-eu", "web"), "ConfigMap", "web") as {
          data?: { replicas?: string };
        }
      ).data?.replicas;

    const preview = await at(true);
    assert.equal(preview.revision, first);
    assert.equal(replicas(preview), "1");
    assert.deepEqual(
      preview.targets.map((t) => t.app),
      ["dns", "web"],
    );
    assert.ok(preview.targets.every((t) => t.sources[0]?.commit === first));

    const asWritten = await at(false);
    assert.equal(replicas(asWritten), "2");
    assert.deepEqual(
      asWritten.targets.map((t) => t.app),
      ["dns", "metrics", "web"],
    );
  });
});

// --- Progressive rollouts declared in the app-of-apps tree ---

function labelledApplication(
  name: string,
  path: string,
  destination: Record<string, string> | undefined,
  labels: Record<string, string>,
): string {
  return stringify({
    apiVersion: "argoproj.io/v1alpha1",
    kind: "Application",
    metadata: { name, namespace: "argocd", labels },
    spec: {
      project: "default",
      source: { repoURL: REPO_URL, targetRevision: "HEAD", path },
      ...(destination ? { destination } : {}),
    },
  });
}

/** An ApplicationSet `web` sending `web/` to three clusters, labelling its apps by env. */
function rollingSyncAppSet(strategy: unknown, annotations: Record<string, string> = {}): string {
  return stringify({
    apiVersion: "argoproj.io/v1alpha1",
    kind: "ApplicationSet",
    metadata: { name: "web", namespace: "argocd", annotations },
    spec: {
      generators: [
        {
          list: {
            elements: [
              { cluster: "in-cluster", env: "staging" },
              { cluster: "prod-eu", env: "prod" },
              { cluster: "prod-us", env: "prod" },
            ],
          },
        },
      ],
      strategy,
      template: {
        metadata: { name: "web-{{cluster}}", labels: { env: "{{env}}" } },
        spec: {
          project: "default",
          source: { repoURL: REPO_URL, targetRevision: "HEAD", path: "web" },
          destination: { name: "{{cluster}}", namespace: "web" },
        },
      },
    },
  });
}

const WEB_STRATEGY = {
  type: "RollingSync",
  rollingSync: {
    steps: [
      { matchExpressions: [{ key: "env", operator: "In", values: ["staging"] }], maxUpdate: 1 },
      { matchExpressions: [{ key: "env", operator: "In", values: ["prod"] }], maxUpdate: "50%" },
    ],
  },
};

function rolloutResource(name: string, spec: Record<string, unknown>): string {
  return stringify({ apiVersion: "flotilla.dev/v1alpha1", kind: "Rollout", metadata: { name }, spec });
}

const EVERY_CLUSTER = [{ clusters: {} }];

describe("resolveFleet rollouts", () => {
  const open = useResolver();
  const createRepo = useRepos();
  const fleet = (files: Record<string, string> = {}) => ({
    "root/apps.yaml": documents(
      rollingSyncAppSet(WEB_STRATEGY, { "rollout.flotilla.dev/bake-time": "30s" }),
      application("team", "team", undefined),
      application("rollouts", "rollouts", undefined),
    ),
    "team/apps.yaml": documents(
      labelledApplication(
        "payments-api",
        "payments",
        { name: "prod-eu", namespace: "payments" },
        { team: "payments" },
      ),
      labelledApplication(
        "payments-db",
        "payments",
        { name: "prod-us", namespace: "payments" },
        { team: "payments" },
      ),
      labelledApplication(
        "billing",
        "payments",
        { name: "prod-eu", namespace: "billing" },
        { team: "payments" },
      ),
      labelledApplication("other", "other", { name: "prod-us", namespace: "other" }, { team: "web" }),
    ),
    "rollouts/payments.yaml": rolloutResource("payments", {
      apps: { selector: { matchLabels: { team: "payments" } } },
      steps: [
        { name: "canary", clusters: { matchLabels: { env: "prod" } }, maxUnavailable: 1, bakeTime: "1m" },
      ],
      rollback: true,
    }),
    "other/cm.yaml": configMap("other"),
    "other/rollout.yaml": rolloutResource("others", { apps: { names: ["oth*"] }, steps: EVERY_CLUSTER }),
    "web/cm.yaml": configMap("web"),
    "payments/cm.yaml": configMap("payments"),
    ...files,
  });

  it("declares a RollingSync ApplicationSet's generated apps and a Rollout's apps from any depth, by name", async () => {
    const resolution = await (await open(await createRepo(fleet()))).resolve();
    assert.deepEqual(resolution.problems, []);
    assert.deepEqual(resolution.rollouts, [
      {
        name: "others",
        origin: "Rollout",
        declaredBy: "other",
        steps: [
          { name: "step-1", selector: { clusters: {} }, maxUnavailable: { percent: 100 }, bakeTimeMs: 0 },
        ],
        progressDeadlineMs: 600_000,
        rollback: false,
        offline: { policy: "wait" },
        apps: ["other"],
        appLabels: { other: { team: "web" } },
      },
      {
        name: "payments",
        origin: "Rollout",
        declaredBy: "rollouts",
        steps: [
          {
            name: "canary",
            selector: { clusters: { matchLabels: { env: "prod" } } },
            maxUnavailable: { count: 1 },
            bakeTimeMs: 60_000,
          },
        ],
        progressDeadlineMs: 600_000,
        rollback: true,
        offline: { policy: "wait" },
        apps: ["billing", "payments-api", "payments-db"],
        appLabels: {
          billing: { team: "payments" },
          "payments-api": { team: "payments" },
          "payments-db": { team: "payments" },
        },
      },
      {
        name: "web",
        origin: "ApplicationSet",
        declaredBy: "root",
        steps: [
          {
            name: "step-1",
            selector: { apps: { matchExpressions: [{ key: "env", operator: "In", values: ["staging"] }] } },
            maxUnavailable: { count: 1 },
            bakeTimeMs: 30_000,
          },
          {
            name: "step-2",
            selector: { apps: { matchExpressions: [{ key: "env", operator: "In", values: ["prod"] }] } },
            maxUnavailable: { percent: 50 },
            bakeTimeMs: 30_000,
          },
        ],
        progressDeadlineMs: 600_000,
        rollback: false,
        offline: { policy: "wait" },
        apps: ["web-in-cluster", "web-prod-eu", "web-prod-us"],
        appLabels: {
          "web-in-cluster": { env: "staging" },
          "web-prod-eu": { env: "prod" },
          "web-prod-us": { env: "prod" },
        },
      },
    ]);
  });

  it("never sends a Rollout to a cluster, and needs no destination for an app of only Rollouts", async () => {
    const resolution = await (await open(await createRepo(fleet()))).resolve();
    const other = targetOf(resolution, "prod-us", "other");
    assert.deepEqual(other.objects.map(subject), ["ConfigMap/other/other"]);
    assert.ok(resolution.targets.every((t) => t.objects.every((o) => o.kind !== "Rollout")));
    assert.equal(
      resolution.targets.some((t) => t.app === "rollouts"),
      false,
    );
    assert.deepEqual(resolution.apps.find((a) => a.name === "rollouts")?.state, "ok");
    assert.deepEqual(problemsOf(resolution, "rollouts"), []);
  });

  it("delivers Argo Rollouts' Rollout (argoproj.io) as a manifest", async () => {
    const argoRollout = stringify({
      apiVersion: "argoproj.io/v1alpha1",
      kind: "Rollout",
      metadata: { name: "canary" },
      spec: { strategy: { canary: {} } },
    });
    const resolution = await (
      await open(await createRepo(fleet({ "other/argo-rollout.yaml": argoRollout })))
    ).resolve();
    assert.deepEqual(targetOf(resolution, "prod-us", "other").objects.map(subject).sort(), [
      "ConfigMap/other/other",
      "Rollout/other/canary",
    ]);
  });

  it("keeps the first of two rollouts of one name, and of two rollouts taking one app, by declaring app", async () => {
    const repo = await createRepo(
      fleet({
        "root/more.yaml": documents(
          application("a-first", "first", undefined),
          application("zz-late", "late", undefined),
        ),
        // Declared by "a-first", before "root": takes web-in-cluster from the ApplicationSet.
        "first/rollout.yaml": rolloutResource("a-first", {
          apps: { names: ["web-in-*"] },
          steps: EVERY_CLUSTER,
        }),
        // Declared by "team", after "other": the name "others" is taken.
        "team/rollout.yaml": rolloutResource("others", {
          apps: { names: ["nothing-*"] },
          steps: EVERY_CLUSTER,
        }),
        "late/rollout.yaml": rolloutResource("late", { apps: { names: ["pay*"] }, steps: EVERY_CLUSTER }),
      }),
    );
    const resolution = await (await open(repo)).resolve();
    assert.deepEqual(resolution.problems, [
      {
        app: "root",
        kind: "invalid",
        message: 'ApplicationSet web: app "web-in-cluster" is already in rollout "a-first"; it is ignored',
      },
      {
        app: "team",
        kind: "invalid",
        message:
          'Rollout others: a rollout named "others" is already declared by app "other" (Rollout); it is ignored',
      },
      {
        app: "zz-late",
        kind: "invalid",
        message:
          'Rollout late: app "payments-api" (and 1 more) is already in rollout "payments"; it is ignored',
      },
    ]);
    assert.deepEqual(
      resolution.rollouts.map((r) => [r.name, r.declaredBy, r.apps]),
      [
        ["a-first", "a-first", ["web-in-cluster"]],
        ["others", "other", ["other"]],
        ["payments", "rollouts", ["billing", "payments-api", "payments-db"]],
      ],
    );
    assert.ok(resolution.apps.every((a) => a.state === "ok"));
  });

  describe("reliability: hostile repository", () => {
    it("invalid rollout declarations are problems on their apps and never prune or hold back an app", async (t) => {
      const valid = await (await open(await createRepo(fleet()))).resolve();
      const badStrategy = structuredClone(WEB_STRATEGY);
      (badStrategy.rollingSync.steps[1] as { maxUpdate: unknown }).maxUpdate = "150%";
      const broken = await (
        await open(
          await createRepo(
            fleet({
              "root/apps.yaml": documents(
                rollingSyncAppSet(badStrategy, { "rollout.flotilla.dev/rollback": "maybe" }),
                application("team", "team", undefined),
                application("rollouts", "rollouts", undefined),
              ),
              "rollouts/payments.yaml": rolloutResource("payments", {
                apps: { selector: { matchLabels: { team: "payments" } } },
                steps: [
                  { clusters: { matchExpressions: [{ key: "env", operator: "Equal", values: ["prod"] }] } },
                ],
              }),
              "other/rollout.yaml": rolloutResource("others", { apps: { names: ["oth*"] } }),
            }),
          ),
        )
      ).resolve();
      assert.deepEqual(broken.problems, [
        {
          app: "other",
          kind: "invalid",
          message: "Rollout others: spec.steps: at least one step is required",
        },
        {
          app: "rollouts",
          kind: "invalid",
          message:
            'Rollout payments: spec.steps[0].clusters.matchExpressions[0].operator: "Equal" is not In, NotIn, Exists or DoesNotExist',
        },
        {
          app: "root",
          kind: "invalid",
          message:
            'ApplicationSet web: metadata.annotations["rollout.flotilla.dev/rollback"]: "maybe" is not "true" or "false"',
        },
        {
          app: "root",
          kind: "invalid",
          message:
            'ApplicationSet web: spec.strategy.rollingSync.steps[1].maxUpdate: "150%" is not a count or a percentage up to 100%',
        },
      ]);
      assert.deepEqual(broken.rollouts, []);
      const digests = (resolution: FleetResolution) =>
        resolution.targets.map((t) => `${t.cluster}/${t.app}@${t.digest}`);
      assert.deepEqual(digests(broken), digests(valid));
      assert.deepEqual(broken.apps, valid.apps);
      const problemApps = broken.apps.filter((a) => a.state !== "ok").length;
      assert.equal(problemApps, 0);
      t.diagnostic(
        `3 invalid declarations (${broken.problems.length} bad fields): ${broken.problems.length} problems of kind invalid, ${broken.targets.length} of ${valid.targets.length} targets kept with the same digests, ${problemApps} of ${broken.apps.length} apps in state problem, ${broken.rollouts.length} declarations`,
      );
    });

    it("an app declaring more Rollouts than the object limit is a limit problem, and none of them is read", async (t) => {
      const count = 4;
      const many = Array.from({ length: count }, (_, i) =>
        rolloutResource(`r-${i}`, { apps: { names: ["*"] }, steps: EVERY_CLUSTER }),
      );
      const repo = await createRepo(fleet({ "rollouts/payments.yaml": documents(...many) }));
      const resolution = await (await open(repo, { limits: { maxObjectsPerApp: 3 } })).resolve();
      assert.deepEqual(problemsOf(resolution, "rollouts"), [
        { app: "rollouts", kind: "limit", message: "declares 4 Rollouts; the limit is 3" },
      ]);
      assert.equal(resolution.apps.find((a) => a.name === "rollouts")?.state, "problem");
      assert.deepEqual(
        resolution.rollouts.map((r) => r.name),
        ["others", "web"],
      );
      t.diagnostic(`${count} Rollouts in one app with a limit of 3 objects: 1 limit problem, 0 of them read`);
    });
  });
});
