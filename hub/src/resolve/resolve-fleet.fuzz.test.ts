// Fuzz tests of the resolve path: app-of-apps trees whose Applications and ApplicationSets have
// random specs (wrong types in every field, unknown generators, random templates and git files)
// go through resolveFleet with an in-memory GitSource and a render function that checks objects
// as the real renderer does (toKubeObjects). resolveFleet must always resolve, within a bounded
// time, with every failure a problem value carrying a clear message. fast-check prints the seed
// of a failing run.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { isPlainObject, toKubeObjects } from "../render/decode-manifests.js";
import { RenderProblemError } from "../render/render-problem.js";
import type { RenderInput, RenderOutcome } from "../render/render-source.js";
import type { GitSource } from "../source/git-source.js";
import type { Cluster } from "./cluster.js";
import type { ProblemKind } from "./problem.js";
import { resolveFleet } from "./resolve-fleet.js";

const REPO_URL = "https://git.example.com/fleet.git";
const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const CLUSTERS: Cluster[] = [
  { name: "c1", server: "https://c1.example.com", labels: { env: "prod" } },
  { name: "c2", server: "https://c2.example.com", labels: { env: "dev" } },
  { name: "in-cluster", server: "https://kubernetes.default.svc", labels: {} },
];
const PROBLEM_KINDS: ProblemKind[] = [
  "cycle",
  "duplicate",
  "destination",
  "render",
  "unsupported",
  "invalid",
  "limit",
  "source",
];
/** A resolve of one random tree may take this long on a slow, shared machine before it counts as a hang. */
const MAX_RESOLVE_MS = 10_000;
/** Messages of JavaScript's own TypeErrors and RangeErrors: a crash, not a clear problem. */
const INTERNAL_ERROR =
  /is not a function|Cannot read propert|Cannot set propert|is not iterable|Cannot convert|Maximum call stack|Invalid time value|Invalid array length|\[object Object\]/;

const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom("", "__proto__", "constructor", "toString", "HEAD", "../..", "/etc", "\u0000"),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.oneof(fc.string({ maxLength: 4 }), fc.integer()), { maxLength: 3 }),
  fc.dictionary(
    fc.string({ maxLength: 4 }),
    fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.constant(null)),
  ),
);

/** A value that is usually right for its field and sometimes of any other type. */
function mostly<T>(right: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof({ arbitrary: right, weight: 3 }, { arbitrary: wrongValue, weight: 1 });
}

const source = fc.record(
  {
    repoURL: mostly(fc.constantFrom(REPO_URL, "https://other.example.com/x.git", "file:///etc")),
    path: mostly(fc.constantFrom("p1", "p2", "p3", "p1", "p2", "p3", "root", "", "../outside")),
    targetRevision: mostly(fc.constantFrom("", "HEAD", "main", COMMIT)),
    chart: fc.constantFrom(undefined, undefined, undefined, "nginx"),
    ref: mostly(fc.constantFrom("values", "")),
    helm: wrongValue,
    kustomize: wrongValue,
    directory: mostly(
      fc.record({ recurse: wrongValue, include: wrongValue, jsonnet: wrongValue }, { requiredKeys: [] }),
    ),
    plugin: fc.constantFrom(undefined, undefined, { name: "p" }),
  },
  { requiredKeys: ["repoURL"] },
);

const destination = fc.oneof(
  fc.record({ name: fc.constantFrom("c1", "c2", "nowhere"), namespace: fc.constantFrom("team", "") }),
  fc.record({
    server: fc.constantFrom("https://c1.example.com/", "https://kubernetes.default.svc"),
    namespace: fc.constant("team"),
  }),
  fc.record(
    {
      name: mostly(fc.constantFrom("c1", "c2", "")),
      server: mostly(fc.constantFrom("https://c1.example.com/", "")),
      namespace: mostly(fc.constantFrom("team", "", "kube-system")),
    },
    { requiredKeys: [] },
  ),
);

const applicationSpec = fc.record(
  {
    project: mostly(fc.constantFrom("default", "team", "")),
    source: mostly(source),
    sources: mostly(fc.array(source, { maxLength: 3 })),
    destination: mostly(destination),
    syncPolicy: mostly(
      fc.record(
        {
          automated: mostly(fc.record({ prune: wrongValue, selfHeal: wrongValue }, { requiredKeys: [] })),
          syncOptions: mostly(fc.array(fc.constantFrom("CreateNamespace=true", "Prune=false"))),
          retry: wrongValue,
        },
        { requiredKeys: [] },
      ),
    ),
    ignoreDifferences: wrongValue,
  },
  { requiredKeys: [] },
);

/** An Application spec that resolves, apart from cycles, duplicates and unknown clusters. */
const wellFormedSpec = fc.record({
  project: fc.constantFrom("default", "team"),
  source: fc.record({ repoURL: fc.constant(REPO_URL), path: fc.constantFrom("p1", "p2", "p3") }),
  destination: fc.oneof(
    fc.record({ name: fc.constantFrom("c1", "c2"), namespace: fc.constantFrom("team", "") }),
    fc.record({ server: fc.constantFrom("https://c1.example.com/", "https://kubernetes.default.svc") }),
  ),
  syncPolicy: fc.jsonValue({ maxDepth: 2 }),
});

const TEMPLATE_TEXTS = [
  "{{name}}",
  "{{.name}}",
  "app-{{path.basename}}",
  "{{path.basename}}",
  "{{ .path.basename }}",
  '{{ .missing | default "x" }}',
  '{{ index .metadata.labels "env" }}',
  "{{ range .x }}{{ . }}{{ end }}",
  '{{ template "t" }}',
  "{{ toYaml . }}",
  "{{ fromYaml .y }}",
  "{{",
  "}}",
  "{{ now }}",
  '{{ printf "%*d" 999999999 1 }}',
  '{{ repeat 100000000 "x" }}',
  "{{ .name | upper | lower | trunc 5 }}",
  "{{ server }}",
  "{{ values.a }}",
  "plain",
];

const templateText = fc.oneof(
  fc.constantFrom(...TEMPLATE_TEXTS),
  fc.array(fc.constantFrom(...TEMPLATE_TEXTS), { maxLength: 4 }).map((parts) => parts.join("")),
);

const listElement = fc.oneof(
  fc.record(
    { name: mostly(fc.constantFrom("a", "b", "Bad_Name", "")), path: wrongValue },
    { requiredKeys: [] },
  ),
  wrongValue,
);

const leafGenerator: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.record({
    list: mostly(
      fc.record(
        { elements: mostly(fc.array(listElement, { maxLength: 4 })), elementsYaml: wrongValue },
        { requiredKeys: [] },
      ),
    ),
  }),
  fc.record({
    clusters: mostly(
      fc.record(
        {
          selector: mostly(
            fc.record({
              matchLabels: mostly(fc.dictionary(fc.constantFrom("env", "x"), fc.string({ maxLength: 4 }))),
            }),
          ),
          values: wrongValue,
        },
        { requiredKeys: [] },
      ),
    ),
  }),
  fc.record({
    git: mostly(
      fc.record(
        {
          repoURL: mostly(fc.constant(REPO_URL)),
          revision: mostly(fc.constantFrom("", "HEAD")),
          directories: mostly(
            fc.array(
              fc.record(
                { path: mostly(fc.constantFrom("apps/*", "*", "[", "**")), exclude: wrongValue },
                { requiredKeys: [] },
              ),
              { maxLength: 2 },
            ),
          ),
          files: mostly(
            fc.array(fc.record({ path: mostly(fc.constantFrom("config/*.json", "config/**", "*.yaml")) }), {
              maxLength: 2,
            }),
          ),
        },
        { requiredKeys: [] },
      ),
    ),
  }),
  fc.record({ pullRequest: wrongValue }),
  fc.record({ plugin: fc.constant({}) }),
  wrongValue.map((value) => ({ unknown: value })),
);

const generator: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: leafGenerator, weight: 4 },
  {
    arbitrary: fc.record({
      matrix: fc.record({ generators: fc.array(leafGenerator, { maxLength: 3 }) }),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      merge: fc.record({ generators: fc.array(leafGenerator, { maxLength: 3 }), mergeKeys: wrongValue }),
    }),
    weight: 1,
  },
  { arbitrary: wrongValue, weight: 1 },
);

const applicationSetSpec = fc.record(
  {
    goTemplate: mostly(fc.boolean()),
    goTemplateOptions: mostly(fc.constant(["missingkey=error"])),
    generators: mostly(fc.array(generator, { maxLength: 3 })),
    template: mostly(
      fc.record({
        metadata: mostly(fc.record({ name: mostly(templateText), labels: wrongValue }, { requiredKeys: [] })),
        spec: fc.oneof(wellFormedSpec, applicationSpec),
      }),
    ),
    templatePatch: mostly(templateText),
    syncPolicy: wrongValue,
  },
  { requiredKeys: [] },
);

const child = fc.oneof(
  fc.record({
    apiVersion: fc.constant("argoproj.io/v1alpha1"),
    kind: fc.constant("Application"),
    metadata: fc.record({ name: fc.constantFrom("a", "b", "c", "d", "e", "f", "root") }),
    spec: fc.oneof(
      { arbitrary: wellFormedSpec, weight: 2 },
      { arbitrary: applicationSpec, weight: 1 },
      wrongValue,
    ),
  }),
  fc.record({
    apiVersion: fc.constant("argoproj.io/v1alpha1"),
    kind: fc.constant("ApplicationSet"),
    metadata: fc.record({
      name: fc.constantFrom("set-a", "set-b"),
      namespace: fc.constantFrom("argocd", ""),
    }),
    spec: mostly(applicationSetSpec),
  }),
  fc.record({
    apiVersion: fc.constantFrom("v1", "apiextensions.k8s.io/v1", "argoproj.io/v1alpha1"),
    kind: fc.constantFrom("ConfigMap", "Namespace", "CustomResourceDefinition", "AppProject"),
    metadata: fc.record(
      { name: fc.constantFrom("x", "y"), namespace: fc.constantFrom(undefined, "team") },
      { requiredKeys: ["name"] },
    ),
    spec: wrongValue,
  }),
);

const tree = fc.record({
  root: fc.array(child, { maxLength: 5 }),
  p1: fc.array(child, { maxLength: 4 }),
  p2: fc.array(child, { maxLength: 4 }),
  p3: fc.array(child, { maxLength: 4 }),
  gitFile: fc.oneof(
    fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
    fc.constantFrom("name: a\n", "- name: b\n- 3\n", "{{", "[".repeat(500), "? ".repeat(150)),
    fc.string({ maxLength: 50 }),
  ),
});

type Tree = typeof tree extends fc.Arbitrary<infer T> ? T : never;

function fakeGit(file: string): GitSource {
  return {
    isAllowed: (url) => url === REPO_URL,
    fetch: async () => {},
    resolveRevision: async (_url, revision) => {
      if (revision === "main" || revision === "" || revision === "HEAD" || revision === undefined)
        return COMMIT;
      if (revision === COMMIT) return COMMIT;
      throw new Error(`revision ${revision} not found`);
    },
    checkout: async () => ({
      dir: "/nonexistent/flotilla-fuzz-checkout",
      commit: COMMIT,
      unsafeLinks: [],
      oversized: [],
    }),
    treeId: async (_url, _commit, path) => `tree:${path}`,
    listFiles: async () => ["config/a.json", "config/b.yaml", "x.yaml"],
    listDirectories: async () => ["apps", "apps/a", "apps/b", ".hidden", "apps/B_x"],
    readFile: async () => new TextEncoder().encode(file),
    commitInfo: async () => ({ sha: COMMIT, author: "t", email: "t@example.com", message: "m", timeMs: 0 }),
  };
}

/** Renders a path of the tree as renderSource would: every object checked by toKubeObjects. */
function renderTree(t: Tree) {
  return async (input: RenderInput): Promise<RenderOutcome> => {
    const entries = (t as Record<string, unknown>)[String(input.source.path)];
    if (!Array.isArray(entries))
      return {
        ok: false,
        problem: { kind: "invalid", message: `${input.source.path}: app path does not exist` },
      };
    try {
      const values = entries
        .filter(isPlainObject)
        .map((value, i) => ({ value, where: `${input.source.path}/all.yaml document ${i + 1}` }));
      return { ok: true, tool: "directory", objects: toKubeObjects(structuredClone(values)) };
    } catch (error) {
      if (error instanceof RenderProblemError)
        return { ok: false, problem: { kind: error.kind, message: error.message } };
      throw error;
    }
  };
}

describe("reliability: fuzz", () => {
  it("random app-of-apps trees with wrong types in every Application and ApplicationSet field resolve, with each failure a clear problem", async (t) => {
    const totals = { trees: 0, apps: 0, targets: 0, problems: 0, slowestMs: 0 };
    const kinds = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(tree, async (random) => {
        const started = performance.now();
        const resolution = await resolveFleet(
          { name: "root", source: { repoURL: REPO_URL, path: "root" } },
          {
            git: fakeGit(random.gitFile),
            render: renderTree(random),
            clusters: CLUSTERS,
            limits: { renderConcurrency: 2, maxDepth: 4 },
          },
        );
        const ms = performance.now() - started;
        totals.slowestMs = Math.max(totals.slowestMs, ms);
        assert.ok(ms < MAX_RESOLVE_MS, `resolve took ${Math.round(ms)} ms`);
        totals.trees += 1;
        totals.apps += resolution.apps.length;
        totals.targets += resolution.targets.length;
        totals.problems += resolution.problems.length;
        for (const problem of resolution.problems) {
          kinds.set(problem.kind, (kinds.get(problem.kind) ?? 0) + 1);
          assert.ok(PROBLEM_KINDS.includes(problem.kind), `unknown kind ${problem.kind}`);
          assert.equal(typeof problem.app, "string");
          assert.equal(typeof problem.message, "string");
          assert.notEqual(problem.message, "");
          assert.doesNotMatch(problem.message, INTERNAL_ERROR, `${problem.app}: ${problem.message}`);
        }
        for (const target of resolution.targets) {
          assert.ok(
            CLUSTERS.some((cluster) => cluster.name === target.cluster),
            target.cluster,
          );
          assert.match(target.digest, /^sha256:[0-9a-f]{64}$/);
          for (const obj of target.objects) {
            assert.notEqual(obj.kind, "Application", "an Application is never shipped to a cluster");
          }
        }
        for (const node of resolution.apps) {
          if (node.state === "problem")
            assert.ok(
              resolution.problems.some((problem) => problem.app === node.name),
              `${node.name} failed silently`,
            );
        }
      }),
      { numRuns: 300, timeout: MAX_RESOLVE_MS },
    );
    const byKind = [...kinds.entries()].map(([kind, n]) => `${n} ${kind}`).join(", ");
    t.diagnostic(
      `${totals.trees} random trees (${totals.apps} apps walked): 0 crashes; ${totals.targets} targets, ${totals.problems} problems (${byKind}); slowest ${Math.round(totals.slowestMs)} ms`,
    );
  });
});
