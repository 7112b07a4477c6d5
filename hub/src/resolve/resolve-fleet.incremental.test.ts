import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse, stringify } from "yaml";
import type { Cluster } from "./cluster.js";
import {
  createFixtureRepo,
  FIXTURE_REPOS_DIR,
  type FixtureRepo,
  openFixtureResolver,
  useTempDirs,
} from "./fixture-repo.js";
import {
  createResolveMemo,
  type FleetResolution,
  type FleetRoot,
  type ResolveDeps,
  resolveFleet,
} from "./resolve-fleet.js";
import {
  syntheticAppFiles,
  syntheticApplicationSet,
  syntheticAppName,
  syntheticClusters,
  syntheticConfigMap,
  syntheticFleetFiles,
} from "./synthetic-fleet.js";

const REPO_URL = "https://git.example.com/fleet.git";

type Resolver = {
  /** Render calls so far (cache hits too): what a resolve did not reuse. */
  renderCalls(): number;
  resolve(root: FleetRoot, clusters: Cluster[]): Promise<FleetResolution>;
};

/**
 * Resolvers over one repository: `incremental` keeps one memo (and one render cache) for all
 * its resolves, `cold` is a fresh GitSource and render cache, no memo, on every call.
 */
function useResolvers(): (
  repo: FixtureRepo,
  urls: string[],
) => Promise<{ incremental: Resolver; cold: Resolver }> {
  const tempDir = useTempDirs("flotilla-resolve-incremental");
  return async (repo, urls) => {
    const open = async (): Promise<Omit<ResolveDeps, "clusters"> & { calls: () => number }> => {
      const { git, render } = openFixtureResolver(repo, await tempDir(), urls, 10_000);
      let calls = 0;
      return {
        git,
        render: (input, key) => {
          calls++;
          return render(input, key);
        },
        calls: () => calls,
      };
    };
    const kept = await open();
    const memo = createResolveMemo();
    return {
      incremental: {
        renderCalls: kept.calls,
        resolve: (root, clusters) =>
          resolveFleet(
            root,
            { git: kept.git, render: kept.render, clusters: structuredClone(clusters) },
            memo,
          ),
      },
      cold: {
        renderCalls: () => 0,
        resolve: async (root, clusters) => {
          const fresh = await open();
          return resolveFleet(root, { git: fresh.git, render: fresh.render, clusters });
        },
      },
    };
  };
}

/** A resolution as the store and the agents see it: targets with their objects, in order. */
function plain(resolution: FleetResolution): unknown {
  return JSON.parse(JSON.stringify(resolution));
}

/** Resolves with both and asserts the same resolution; returns the incremental one and its render calls. */
async function resolveBoth(
  resolvers: { incremental: Resolver; cold: Resolver },
  root: FleetRoot,
  clusters: Cluster[],
  step: string,
): Promise<{ resolution: FleetResolution; renderCalls: number }> {
  const callsBefore = resolvers.incremental.renderCalls();
  const incremental = await resolvers.incremental.resolve(root, clusters);
  const renderCalls = resolvers.incremental.renderCalls() - callsBefore;
  const cold = await resolvers.cold.resolve(root, clusters);
  assert.deepEqual(
    plain(incremental),
    plain(cold),
    `${step}: the incremental resolve differs from a cold one`,
  );
  return { resolution: incremental, renderCalls };
}

function changedDigests(before: FleetResolution, after: FleetResolution): string[] {
  const old = new Map(before.targets.map((t) => [`${t.cluster}/${t.app}`, t.digest]));
  return after.targets
    .filter((t) => old.get(`${t.cluster}/${t.app}`) !== t.digest)
    .map((t) => `${t.cluster}/${t.app}`);
}

describe("reliability: faults", () => {
  const open = useResolvers();
  const tempDir = useTempDirs("flotilla-resolve-incremental-repo");

  it("an incremental resolve equals a cold one across 8 commits of a 12-app x 40-cluster ApplicationSet fleet", async (t) => {
    const repo = await createFixtureRepo(join(await tempDir(), "repo"), {
      files: syntheticFleetFiles(12, REPO_URL),
    });
    const resolvers = await open(repo, [REPO_URL]);
    const root: FleetRoot = { name: "root", source: { repoURL: REPO_URL, path: "appsets" } };
    let clusters = syntheticClusters(40);
    const app = (index: number) => syntheticAppName(index);
    const first = await resolveBoth(resolvers, root, clusters, "cold");
    assert.equal(first.resolution.targets.length, 12 * 40);
    assert.equal(first.resolution.problems.length, 0);
    let previous = first.resolution;
    const steps: { step: string; change: () => Promise<unknown> }[] = [
      { step: "an empty commit", change: () => repo.commit({}) },
      {
        step: "one app file changed",
        change: () =>
          repo.commit({ [`apps/${app(0)}/configmap.yaml`]: syntheticConfigMap(app(0), "second") }),
      },
      {
        step: "an ApplicationSet changed",
        change: () =>
          repo.commit({ [`appsets/${app(3)}.yaml`]: syntheticApplicationSet(app(3), REPO_URL, "moved") }),
      },
      {
        step: "a cluster relabelled out of the fleet",
        change: async () => {
          clusters = clusters.map((c) =>
            c.name === "cluster-0005" ? { ...c, labels: { ...c.labels, env: "dev" } } : c,
          );
        },
      },
      {
        step: "an app added and one removed",
        change: () =>
          repo.commit({
            ...syntheticAppFiles(app(12), REPO_URL),
            ...Object.fromEntries(
              Object.keys(syntheticAppFiles(app(1), REPO_URL)).map((path) => [path, null]),
            ),
          }),
      },
      {
        step: "a broken commit (a kustomization naming a missing file, a template naming a missing key)",
        change: () =>
          repo.commit({
            [`apps/${app(2)}/kustomization.yaml`]: "resources: [missing.yaml]\n",
            [`appsets/${app(4)}.yaml`]: syntheticApplicationSet(app(4), REPO_URL).replace(
              "{{.name}}",
              "{{.missing}}",
            ),
          }),
      },
      {
        step: "the broken commit repaired",
        change: () =>
          repo.commit({
            [`apps/${app(2)}/kustomization.yaml`]: null,
            [`appsets/${app(4)}.yaml`]: syntheticApplicationSet(app(4), REPO_URL),
          }),
      },
      {
        step: "one app file changed again",
        change: () => repo.commit({ [`apps/${app(0)}/configmap.yaml`]: syntheticConfigMap(app(0), "third") }),
      },
    ];
    const report: string[] = [];
    for (const { step, change } of steps) {
      await change();
      const next = await resolveBoth(resolvers, root, clusters, step);
      report.push(
        `${step}: ${next.renderCalls} render calls, ${changedDigests(previous, next.resolution).length} digests changed`,
      );
      if (step.startsWith("one app file changed")) {
        // Only the changed app's generated apps (one per cluster in the fleet) are rendered again.
        const inFleet = clusters.filter((c) => c.labels?.env !== "dev").length;
        assert.equal(next.renderCalls, inFleet, `${step}: render calls; ${report.join("; ")}`);
        assert.deepEqual(
          new Set(changedDigests(previous, next.resolution).map((key) => key.split("/")[1])),
          new Set(clusters.filter((c) => c.labels?.env !== "dev").map((c) => `${app(0)}-${c.name}`)),
        );
        assert.ok(
          next.resolution.targets.every((target) => target.sources[0]?.commit === next.resolution.revision),
        );
      }
      if (step === "an empty commit") assert.equal(next.renderCalls, 0, "an empty commit renders nothing");
      // The root renders the changed ApplicationSets again; the others give the same apps, reused.
      if (step === "an ApplicationSet changed")
        assert.equal(next.renderCalls, 1 + 40, `${step}: render calls`);
      if (step.startsWith("a broken commit")) {
        const broken = new Set(next.resolution.problems.map((problem) => problem.app));
        assert.ok(
          broken.has("root") && [...broken].some((name) => name.startsWith(app(2))),
          `problems: ${JSON.stringify(next.resolution.problems)}`,
        );
      }
      previous = next.resolution;
    }
    t.diagnostic(
      `12 apps x 40 clusters, 8 commits, each incremental resolve deep-equal to a cold one; ${report.join("; ")}`,
    );
  });

  const fixtures = readdirSync(FIXTURE_REPOS_DIR).sort();
  for (const name of fixtures) {
    it(`an incremental resolve of the ${name} fixture equals a cold one after three changes`, async (t) => {
      const dir = join(FIXTURE_REPOS_DIR, name);
      const expected = JSON.parse(readFileSync(join(dir, "expected.json"), "utf8")) as {
        root: { repoURL: string; path: string };
      };
      const file = parse(readFileSync(join(dir, "clusters.yaml"), "utf8"), { merge: true }) as {
        clusters: {
          name: string;
          server: string;
          labels?: Record<string, string>;
          annotations?: Record<string, string>;
        }[];
      };
      let clusters: Cluster[] = file.clusters.map((c) => ({
        name: c.name,
        server: c.server,
        labels: c.labels ?? {},
        annotations: c.annotations ?? {},
      }));
      const repo = await createFixtureRepo(join(await tempDir(), "repo"), { fixture: name });
      const resolvers = await open(repo, [expected.root.repoURL]);
      const root: FleetRoot = {
        name: "root",
        source: { repoURL: expected.root.repoURL, path: expected.root.path },
      };
      const cold = await resolveBoth(resolvers, root, clusters, "cold");
      const again = await resolveBoth(resolvers, root, clusters, "nothing changed");
      assert.equal(again.renderCalls < cold.renderCalls || cold.renderCalls === 0, true);
      await repo.commit({ "unrelated/note.txt": "not part of any app\n" });
      await resolveBoth(resolvers, root, clusters, "an unrelated file added");
      // The most deeply nested manifest: a file of some app, not of the root.
      const depth = (path: string) => path.split("/").length;
      const manifest = (await repo.git("ls-files"))
        .split("\n")
        .filter((path) => path.endsWith(".yaml"))
        .sort((a, b) => depth(b) - depth(a) || (a < b ? -1 : 1))[0];
      assert.ok(manifest, `${name} has a manifest`);
      await repo.commit({ [manifest]: `${readFileSync(join(repo.dir, manifest), "utf8")}\n# changed\n` });
      await resolveBoth(resolvers, root, clusters, `${manifest} changed`);
      clusters = clusters.slice(0, -1);
      const last = await resolveBoth(resolvers, root, clusters, "a cluster gone");
      t.diagnostic(
        `${name}: 5 resolves (${last.resolution.targets.length} targets, ${last.resolution.problems.length} problems at the end), each incremental one deep-equal to a cold one; ${again.renderCalls} of ${cold.renderCalls} render calls when nothing changed`,
      );
    });
  }

  it("an incremental resolve declares the same rollouts as a cold one across 7 commits of a RollingSync ApplicationSet and a Rollout", async (t) => {
    const appSet = (prodMaxUpdate: number | string) =>
      stringify({
        apiVersion: "argoproj.io/v1alpha1",
        kind: "ApplicationSet",
        metadata: { name: "web", annotations: { "rollout.flotilla.dev/bake-time": "30s" } },
        spec: {
          goTemplate: true,
          generators: [{ clusters: {} }],
          strategy: {
            type: "RollingSync",
            rollingSync: {
              steps: [
                { matchExpressions: [{ key: "env", operator: "In", values: ["staging"] }], maxUpdate: 1 },
                {
                  matchExpressions: [{ key: "env", operator: "In", values: ["prod"] }],
                  maxUpdate: prodMaxUpdate,
                },
              ],
            },
          },
          template: {
            metadata: { name: "web-{{.name}}", labels: { env: '{{index .metadata.labels "env"}}' } },
            spec: {
              project: "default",
              source: { repoURL: REPO_URL, targetRevision: "HEAD", path: "web" },
              destination: { name: "{{.name}}", namespace: "web" },
            },
          },
        },
      });
    const application = (name: string, path: string, labels: Record<string, string>, destination?: string) =>
      stringify({
        apiVersion: "argoproj.io/v1alpha1",
        kind: "Application",
        metadata: { name, labels },
        spec: {
          project: "default",
          source: { repoURL: REPO_URL, targetRevision: "HEAD", path },
          ...(destination ? { destination: { name: destination, namespace: name } } : {}),
        },
      });
    const rollout = (maxUnavailable: unknown) =>
      stringify({
        apiVersion: "flotilla.dev/v1alpha1",
        kind: "Rollout",
        metadata: { name: "payments" },
        spec: {
          apps: { selector: { matchLabels: { team: "payments" } } },
          steps: [
            { name: "canary", clusters: { matchLabels: { env: "staging" } }, maxUnavailable, bakeTime: "1m" },
            { clusters: {} },
          ],
        },
      });
    const team = (dbTeam: string) =>
      [
        application("payments-api", "payments", { team: "payments" }, "prod-1"),
        application("payments-db", "payments", { team: dbTeam }, "staging-1"),
      ].join("---\n");
    const repo = await createFixtureRepo(join(await tempDir(), "repo"), {
      files: {
        "root/apps.yaml": [
          appSet("50%"),
          application("team", "team", {}),
          application("rollouts", "rollouts", {}),
        ].join("---\n"),
        "team/apps.yaml": team("payments"),
        "rollouts/payments.yaml": rollout(1),
        "web/cm.yaml": syntheticConfigMap("web", "one"),
        "payments/cm.yaml": syntheticConfigMap("payments", "one"),
      },
    });
    const clusters: Cluster[] = [
      { name: "staging-1", server: "https://staging-1.example.com:6443", labels: { env: "staging" } },
      { name: "prod-1", server: "https://prod-1.example.com:6443", labels: { env: "prod" } },
    ];
    const resolvers = await open(repo, [REPO_URL]);
    const root: FleetRoot = { name: "root", source: { repoURL: REPO_URL, path: "root" } };
    const summary = (resolution: FleetResolution) =>
      resolution.rollouts.map(
        (r) =>
          `${r.name}:${r.apps.join(",")}:${r.steps.map((s) => JSON.stringify(s.maxUnavailable)).join("/")}`,
      );
    const first = await resolveBoth(resolvers, root, clusters, "cold");
    assert.deepEqual(summary(first.resolution), [
      'payments:payments-api,payments-db:{"count":1}/{"percent":100}',
      'web:web-prod-1,web-staging-1:{"count":1}/{"percent":50}',
    ]);
    const steps: {
      step: string;
      change: () => Promise<unknown>;
      renderCalls?: number;
      rollouts: string[];
    }[] = [
      {
        step: "an empty commit",
        change: () => repo.commit({}),
        renderCalls: 0,
        rollouts: summary(first.resolution),
      },
      {
        step: "a step of the Rollout changed",
        change: () => repo.commit({ "rollouts/payments.yaml": rollout("25%") }),
        // Only the app declaring the Rollout renders again.
        renderCalls: 1,
        rollouts: [
          'payments:payments-api,payments-db:{"percent":25}/{"percent":100}',
          'web:web-prod-1,web-staging-1:{"count":1}/{"percent":50}',
        ],
      },
      {
        step: "a step of the RollingSync changed",
        change: () =>
          repo.commit({
            "root/apps.yaml": [
              appSet(2),
              application("team", "team", {}),
              application("rollouts", "rollouts", {}),
            ].join("---\n"),
          }),
        rollouts: [
          'payments:payments-api,payments-db:{"percent":25}/{"percent":100}',
          'web:web-prod-1,web-staging-1:{"count":1}/{"count":2}',
        ],
      },
      {
        step: "an Application relabelled out of the Rollout",
        change: () => repo.commit({ "team/apps.yaml": team("data") }),
        rollouts: [
          'payments:payments-api:{"percent":25}/{"percent":100}',
          'web:web-prod-1,web-staging-1:{"count":1}/{"count":2}',
        ],
      },
      {
        step: "the Rollout broken (maxUnavailable 150%)",
        change: () => repo.commit({ "rollouts/payments.yaml": rollout("150%") }),
        renderCalls: 1,
        rollouts: ['web:web-prod-1,web-staging-1:{"count":1}/{"count":2}'],
      },
      {
        step: "an empty commit with the Rollout still broken",
        change: () => repo.commit({}),
        // The app declaring the bad Rollout is reused: a rollout problem does not stop the memo.
        renderCalls: 0,
        rollouts: ['web:web-prod-1,web-staging-1:{"count":1}/{"count":2}'],
      },
      {
        step: "the Rollout repaired",
        change: () => repo.commit({ "rollouts/payments.yaml": rollout(1) }),
        renderCalls: 1,
        rollouts: [
          'payments:payments-api:{"count":1}/{"percent":100}',
          'web:web-prod-1,web-staging-1:{"count":1}/{"count":2}',
        ],
      },
    ];
    const report: string[] = [];
    for (const { step, change, renderCalls, rollouts } of steps) {
      await change();
      const next = await resolveBoth(resolvers, root, clusters, step);
      report.push(`${step}: ${next.renderCalls} render calls, ${next.resolution.rollouts.length} rollouts`);
      assert.deepEqual(summary(next.resolution), rollouts, step);
      if (renderCalls !== undefined) assert.equal(next.renderCalls, renderCalls, `${step}: render calls`);
      const broken = step.includes("still broken") || step.includes("broken (");
      assert.deepEqual(
        next.resolution.problems.map((p) => `${p.app}: ${p.message}`),
        broken
          ? [
              'rollouts: Rollout payments: spec.steps[0].maxUnavailable: "150%" is not a count or a percentage up to 100%',
            ]
          : [],
        step,
      );
      assert.ok(
        next.resolution.apps.every((app) => app.state === "ok"),
        step,
      );
    }
    t.diagnostic(
      `2 rollouts over 8 resolves, each incremental one deep-equal to a cold one (declarations included); ${report.join("; ")}`,
    );
  });

  it("an incremental resolve equals a cold one for Helm apps naming $ARGOCD_APP_REVISION and a root followed at a pinned revision", async (t) => {
    const application = (name: string, path: string, source: Record<string, unknown> = {}) =>
      stringify({
        apiVersion: "argoproj.io/v1alpha1",
        kind: "Application",
        metadata: { name },
        spec: {
          project: "default",
          source: { repoURL: REPO_URL, targetRevision: "HEAD", path, ...source },
          destination: { name: "prod-eu", namespace: name },
        },
      });
    const repo = await createFixtureRepo(join(await tempDir(), "repo"), {
      files: {
        "root/apps.yaml": [
          application("web", "web"),
          application("chart", "chart", {
            helm: { parameters: [{ name: "revision", value: "$ARGOCD_APP_REVISION" }] },
          }),
        ].join("---\n"),
        "web/cm.yaml": syntheticConfigMap("web", "one"),
        "chart/Chart.yaml": "apiVersion: v2\nname: chart\nversion: 0.1.0\n",
        "chart/templates/cm.yaml":
          'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  revision: "{{ .Values.revision }}"\n',
      },
    });
    const clusters: Cluster[] = [{ name: "prod-eu", server: "https://prod-eu.example.com:6443", labels: {} }];
    const resolvers = await open(repo, [REPO_URL]);
    const first = await repo.git("rev-parse", "HEAD");
    const at = (revision: string): FleetRoot => ({
      name: "root",
      source: { repoURL: REPO_URL, path: "root", targetRevision: revision },
      followRootRevision: true,
    });
    await resolveBoth(resolvers, at(first), clusters, "first commit");
    const second = await repo.commit({ "web/cm.yaml": syntheticConfigMap("web", "two") });
    const head = await resolveBoth(resolvers, at(second), clusters, "second commit");
    await resolveBoth(resolvers, at(first), clusters, "back to the first commit");
    await resolveBoth(
      resolvers,
      { name: "root", source: { repoURL: REPO_URL, path: "root" } },
      clusters,
      "HEAD",
    );
    t.diagnostic(
      `4 resolves over 2 commits, ${head.resolution.targets.length} targets, each incremental one deep-equal to a cold one`,
    );
  });
});
