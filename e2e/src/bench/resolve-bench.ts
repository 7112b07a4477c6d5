// The `resolve` benchmark (DESIGN.md section 6: 1,000 apps x 1,000 clusters through
// ApplicationSets, <= 3 s cold, <= 300 ms after a one-file change). A synthetic fleet repository
// laid out like gitops-bridge add-ons: `apps/app-NNNN/` directory apps of three objects each,
// and per app an ApplicationSet in `appsets/` whose clusters generator sends it to every
// cluster. (One ApplicationSet with a matrix of git directories x clusters would be the other
// common layout, but one generator may yield at most 100,000 param sets.)
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createRenderCache, renderSourceCached } from "@flotilla/hub/render/render-cache";
import { createRenderTools } from "@flotilla/hub/render/render-source";
import type { Cluster } from "@flotilla/hub/resolve/cluster";
import { createFixtureRepo } from "@flotilla/hub/resolve/fixture-repo";
import { type FleetResolution, type ResolveDeps, resolveFleet } from "@flotilla/hub/resolve/resolve-fleet";
import { openGitSource } from "@flotilla/hub/source/git-source";

export type ResolveBenchOptions = { apps: number; clusters: number };

export type ResolveBenchResult = {
  apps: number;
  clusters: number;
  /** (cluster, app) targets of the cold resolve. */
  targets: number;
  objects: number;
  problems: number;
  coldMs: number;
  /** The resolve after a commit that changes one file of one app. */
  changeMs: number;
  /** Targets whose digest changed between the two resolves (expected: one per cluster). */
  changedTargets: number;
  /** Renders run (render cache misses) by the cold resolve and by the one after the change. */
  coldRenders: number;
  changeRenders: number;
  /** Peak resident set size of this process, so far, in bytes. */
  peakRssBytes: number;
};

const REPO_URL = "https://git.example.com/fleet.git";

/** Builds the repository, resolves it cold, changes one file, resolves again. */
export async function benchResolve(options: ResolveBenchOptions): Promise<ResolveBenchResult> {
  const dir = await mkdtemp(join(tmpdir(), "flotilla-bench-resolve-"));
  try {
    const repo = await createFixtureRepo(join(dir, "repo"), { files: fleetFiles(options.apps) });
    const clusters = fleetClusters(options.clusters);
    const cache = createRenderCache({ maxEntries: 100_000 });
    const tools = createRenderTools({
      kustomizePath: "kustomize",
      helmPath: "helm",
      workDir: join(dir, "work"),
    });
    const deps: ResolveDeps = {
      git: openGitSource({
        cacheDir: join(dir, "cache"),
        repos: [{ url: repo.dir }],
        rewrites: [{ from: REPO_URL, to: repo.dir }],
      }),
      clusters,
      render: (input, key) => renderSourceCached(input, tools, cache, key),
      limits: { maxApps: options.apps * options.clusters + 10 },
    };
    const fleet = { name: "root", source: { repoURL: REPO_URL, path: "appsets" } };

    const coldStart = performance.now();
    const cold = await resolveFleet(fleet, deps);
    const coldMs = performance.now() - coldStart;
    const coldRenders = cache.misses;
    assertResolved(cold, options);

    await repo.commit({ [`apps/${appName(0)}/configmap.yaml`]: configMap(appName(0), "changed") });
    const changeStart = performance.now();
    const changed = await resolveFleet(fleet, deps);
    const changeMs = performance.now() - changeStart;
    const before = new Map(cold.targets.map((t) => [`${t.cluster}/${t.app}`, t.digest]));
    const changedTargets = changed.targets.filter(
      (t) => before.get(`${t.cluster}/${t.app}`) !== t.digest,
    ).length;

    return {
      apps: options.apps,
      clusters: options.clusters,
      targets: cold.targets.length,
      objects: cold.targets.reduce((sum, t) => sum + t.objects.length, 0),
      problems: cold.problems.length,
      coldMs,
      changeMs,
      changedTargets,
      coldRenders,
      changeRenders: cache.misses - coldRenders,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function assertResolved(resolution: FleetResolution, options: ResolveBenchOptions): void {
  const expected = options.apps * options.clusters;
  if (resolution.problems.length > 0 || resolution.targets.length !== expected) {
    const first = resolution.problems[0];
    throw new Error(
      `resolve bench: expected ${expected} targets and no problems, got ${resolution.targets.length} targets and ${resolution.problems.length} problems${first ? ` (first: ${first.app}: ${first.kind}: ${first.message})` : ""}`,
    );
  }
}

function appName(index: number): string {
  return `app-${String(index).padStart(4, "0")}`;
}

function fleetClusters(count: number): Cluster[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `cluster-${String(i).padStart(4, "0")}`,
    server: `https://cluster-${i}.fleet.example.com:6443`,
    labels: { env: i % 10 === 0 ? "staging" : "prod", region: `region-${i % 8}` },
  }));
}

function fleetFiles(apps: number): Record<string, string> {
  const files: Record<string, string> = {};
  for (let i = 0; i < apps; i++) {
    const name = appName(i);
    files[`appsets/${name}.yaml`] = applicationSet(name);
    files[`apps/${name}/deployment.yaml`] = deployment(name);
    files[`apps/${name}/service.yaml`] = service(name);
    files[`apps/${name}/configmap.yaml`] = configMap(name, "initial");
  }
  return files;
}

/** One ApplicationSet per app, sending it to every matching cluster (the gitops-bridge add-on layout). */
function applicationSet(name: string): string {
  return `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: ${name}
  namespace: argocd
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
    - clusters:
        selector:
          matchExpressions:
            - key: env
              operator: In
              values: [staging, prod]
  template:
    metadata:
      name: '${name}-{{.name}}'
      labels:
        env: '{{index .metadata.labels "env"}}'
    spec:
      project: default
      source:
        repoURL: ${REPO_URL}
        targetRevision: HEAD
        path: apps/${name}
      destination:
        server: '{{.server}}'
        namespace: ${name}
      syncPolicy:
        automated:
          prune: true
        syncOptions:
          - CreateNamespace=true
`;
}

function deployment(name: string): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  labels:
    app.kubernetes.io/name: ${name}
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: ${name}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: ${name}
    spec:
      containers:
        - name: app
          image: registry.example.com/${name}:1.0.0
          ports:
            - containerPort: 8080
          resources:
            requests:
              cpu: 50m
              memory: 64Mi
`;
}

function service(name: string): string {
  return `apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  selector:
    app.kubernetes.io/name: ${name}
  ports:
    - port: 80
      targetPort: 8080
`;
}

function configMap(name: string, mode: string): string {
  return `apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}-config
data:
  mode: ${mode}
  LOG_LEVEL: info
`;
}
