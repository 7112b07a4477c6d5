// Invariants of resolveFleet over random app-of-apps trees, through an in-memory GitSource and a
// render function at the seam (resolve-fleet.test.ts covers the real ones). Trees have cycles,
// duplicate names, unknown destinations and shared paths.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { KubeObject } from "../render/kube-object.js";
import type { RenderInput, RenderOutcome } from "../render/render-source.js";
import type { GitSource } from "../source/git-source.js";
import type { Cluster } from "./cluster.js";
import { type FleetResolution, resolveFleet } from "./resolve-fleet.js";

const REPO_URL = "https://git.example.com/fleet.git";
const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const PATHS = ["root", "p1", "p2", "p3", "p4"] as const;
const APP_NAMES = ["a", "b", "c", "d", "e", "root"] as const;
const CLUSTERS: Cluster[] = [
  { name: "c1", server: "https://c1.example.com", labels: {} },
  { name: "c2", server: "https://c2.example.com", labels: {} },
  { name: "c3", server: "https://c3.example.com", labels: {} },
];

type Entry =
  | { type: "app"; name: string; path: string; cluster: string }
  | { type: "object"; kind: "ConfigMap" | "Namespace" | "Secret"; name: string; namespace: string };

type Tree = Record<(typeof PATHS)[number], Entry[]>;

const entryArb: fc.Arbitrary<Entry> = fc.oneof(
  fc.record({
    type: fc.constant("app" as const),
    name: fc.constantFrom(...APP_NAMES),
    path: fc.constantFrom(...PATHS),
    // "" = no destination; "nowhere" = not registered.
    cluster: fc.constantFrom("c1", "c2", "c3", "nowhere", ""),
  }),
  fc.record({
    type: fc.constant("object" as const),
    kind: fc.constantFrom("ConfigMap" as const, "Namespace" as const, "Secret" as const),
    name: fc.constantFrom("x", "y", "z"),
    namespace: fc.constantFrom("", "team"),
  }),
);

const treeArb: fc.Arbitrary<Tree> = fc.record({
  root: fc.array(entryArb, { maxLength: 6 }),
  p1: fc.array(entryArb, { maxLength: 5 }),
  p2: fc.array(entryArb, { maxLength: 5 }),
  p3: fc.array(entryArb, { maxLength: 5 }),
  p4: fc.array(entryArb, { maxLength: 5 }),
});

function toObject(entry: Entry): KubeObject {
  if (entry.type === "app") {
    return {
      apiVersion: "argoproj.io/v1alpha1",
      kind: "Application",
      metadata: { name: entry.name, namespace: "argocd" },
      spec: {
        source: { repoURL: REPO_URL, path: entry.path },
        ...(entry.cluster ? { destination: { name: entry.cluster, namespace: `ns-${entry.name}` } } : {}),
      },
    };
  }
  // Objects of one key always have one content: which duplicate wins may follow render order.
  return {
    apiVersion: "v1",
    kind: entry.kind,
    metadata: { name: entry.name, ...(entry.namespace ? { namespace: entry.namespace } : {}) },
    data: { of: `${entry.kind}/${entry.name}` },
  };
}

/** A deterministic permutation of items from a seed (mulberry32 + Fisher-Yates). */
function shuffle<T>(items: readonly T[], seed: number): T[] {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

const fakeGit: GitSource = {
  isAllowed: (url) => url === REPO_URL,
  fetch: async () => {},
  resolveRevision: async () => COMMIT,
  checkout: async () => ({
    dir: "/nonexistent/flotilla-fake-checkout",
    commit: COMMIT,
    unsafeLinks: [],
    oversized: [],
  }),
  treeId: async (_url, _commit, path) => `tree:${path}`,
  listFiles: async () => [],
  listDirectories: async () => [],
  readFile: async () => undefined,
  commitInfo: async () => ({ sha: COMMIT, author: "t", email: "t@example.com", message: "m", timeMs: 0 }),
};

/** Resolves the tree with each path's output in an order given by `seed`, and the clusters shuffled by it. */
function resolveTree(tree: Tree, seed: number | undefined): Promise<FleetResolution> {
  const render = async (input: RenderInput): Promise<RenderOutcome> => {
    const entries = tree[input.source.path as keyof Tree] ?? [];
    const objects = entries.map(toObject);
    return { ok: true, tool: "directory", objects: seed === undefined ? objects : shuffle(objects, seed) };
  };
  return resolveFleet(
    { name: "root", source: { repoURL: REPO_URL, path: "root" } },
    {
      git: fakeGit,
      render,
      clusters: seed === undefined ? CLUSTERS : shuffle(CLUSTERS, seed + 1),
      limits: { renderConcurrency: 3 },
    },
  );
}

describe("resolveFleet properties", () => {
  it("never yields one app twice, for one cluster or across clusters", async () => {
    await fc.assert(
      fc.asyncProperty(treeArb, async (tree) => {
        const resolution = await resolveTree(tree, undefined);
        const names = resolution.targets.map((t) => t.app);
        assert.equal(new Set(names).size, names.length, `an app twice: ${names.join(", ")}`);
        const walked = resolution.apps.map((a) => a.name);
        assert.equal(new Set(walked).size, walked.length, `an app walked twice: ${walked.join(", ")}`);
      }),
      { numRuns: 300 },
    );
  });

  it("gives every target an app that resolved to its cluster, and every failed app a problem", async () => {
    await fc.assert(
      fc.asyncProperty(treeArb, async (tree) => {
        const resolution = await resolveTree(tree, undefined);
        for (const target of resolution.targets) {
          const node = resolution.apps.find((a) => a.name === target.app);
          assert.deepEqual([node?.state, node?.cluster], ["ok", target.cluster]);
        }
        for (const node of resolution.apps.filter((a) => a.state === "problem")) {
          assert.ok(
            resolution.problems.some((p) => p.app === node.name),
            `${node.name} failed without a problem`,
          );
        }
      }),
      { numRuns: 200 },
    );
  });

  it("gives the same targets, digests, apps and problems whatever the order of files, objects and clusters", async () => {
    await fc.assert(
      fc.asyncProperty(treeArb, fc.integer({ min: 0, max: 2 ** 31 - 1 }), async (tree, seed) => {
        const reference = await resolveTree(tree, undefined);
        const shuffled = await resolveTree(tree, seed);
        assert.deepEqual(shuffled, reference);
      }),
      { numRuns: 300 },
    );
  });
});
