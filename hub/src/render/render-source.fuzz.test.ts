// Fuzz tests of Application source parsing on the render path: random spec.source values (wrong
// types in every field and every helm, kustomize and directory option), random
// `.argocd-source*.yaml` override files and random manifests, rendered by renderSource in a
// scratch repository. The tools are absent on purpose (a helm or kustomize source stops where it
// would run the tool), so everything before the tool runs: override merging, tool detection,
// option handling and directory reading. renderSource must always resolve, within a bounded
// time, with a problem whose message is clear. fast-check prints the seed of a failing run.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { stringify } from "yaml";
import { createRenderTools, type RenderTools, renderSource } from "./render-source.js";
import type { ApplicationSource } from "./source-spec.js";

const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const REPO_URL = "https://git.example.com/fuzz.git";
/** One render may take this long on a slow, shared machine before it counts as a hang. */
const MAX_RENDER_MS = 10_000;
/** Messages of JavaScript's own TypeErrors and RangeErrors: a crash, not a clear problem. */
const INTERNAL_ERROR =
  /is not a function|Cannot read propert|Cannot set propert|is not iterable|Cannot convert|Maximum call stack|Invalid time value|Invalid array length|\[object Object\]|must be of type/;

const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 10 }),
  fc.constantFrom("", "__proto__", "../..", "/etc/passwd", "*", "{a,b}", "[", "\u0000"),
  fc.integer({ min: -5, max: 1_000_000 }),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.oneof(fc.string({ maxLength: 5 }), fc.integer(), fc.constant(null)), { maxLength: 3 }),
  fc.dictionary(
    fc.string({ maxLength: 5 }),
    fc.oneof(fc.string({ maxLength: 5 }), fc.integer(), fc.constant(null)),
  ),
);

/** A value that is usually right for its field and now and then of any other type. */
function mostly<T>(right: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof({ arbitrary: right, weight: 15 }, { arbitrary: wrongValue, weight: 1 });
}

const strings = (...values: string[]) => mostly(fc.array(fc.constantFrom(...values), { maxLength: 3 }));

const helm = fc.record(
  {
    releaseName: mostly(fc.constantFrom("rel", "")),
    namespace: mostly(fc.constant("team")),
    valueFiles: strings("values.yaml", "missing.yaml", "../../etc/passwd", "$values/x.yaml", "*.yaml"),
    values: mostly(fc.constantFrom("a: 1\n", "[", "")),
    valuesObject: mostly(fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 2 }))),
    parameters: mostly(
      fc.array(
        fc.record(
          {
            name: mostly(fc.constant("a.b")),
            value: mostly(fc.string({ maxLength: 5 })),
            forceString: mostly(fc.boolean()),
          },
          { requiredKeys: [] },
        ),
        { maxLength: 2 },
      ),
    ),
    fileParameters: mostly(
      fc.array(
        fc.record(
          { name: mostly(fc.constant("f")), path: mostly(fc.constantFrom("values.yaml", "../x")) },
          { requiredKeys: [] },
        ),
        { maxLength: 2 },
      ),
    ),
    ignoreMissingValueFiles: mostly(fc.boolean()),
    skipCrds: mostly(fc.boolean()),
    kubeVersion: mostly(fc.constantFrom("1.30", "v1.31.2", "x")),
    apiVersions: strings("v1", "apps/v1"),
  },
  { requiredKeys: [] },
);

const kustomize = fc.record(
  {
    namePrefix: mostly(fc.constant("p-")),
    nameSuffix: mostly(fc.constant("-s")),
    images: strings("nginx=nginx:1", "nginx:2", "x@sha256:00"),
    commonLabels: mostly(fc.dictionary(fc.constantFrom("app", "env"), fc.string({ maxLength: 4 }))),
    commonAnnotations: mostly(fc.dictionary(fc.constantFrom("a"), fc.string({ maxLength: 4 }))),
    namespace: mostly(fc.constant("team")),
    replicas: mostly(
      fc.array(
        fc.record(
          {
            name: mostly(fc.constant("d")),
            count: mostly(fc.oneof(fc.integer({ min: -1, max: 5 }), fc.constant("3"))),
          },
          { requiredKeys: [] },
        ),
        { maxLength: 2 },
      ),
    ),
    patches: mostly(
      fc.array(
        fc.record(
          {
            path: mostly(fc.constantFrom("patch.yaml", "../../x")),
            patch: mostly(fc.constantFrom("- op: add\n", "[")),
            target: mostly(fc.record({ kind: fc.constant("ConfigMap") })),
          },
          { requiredKeys: [] },
        ),
        {
          maxLength: 2,
        },
      ),
    ),
    components: strings("../comp", "comp", "/abs"),
    ignoreMissingComponents: mostly(fc.boolean()),
    kubeVersion: mostly(fc.constant("1.31")),
  },
  { requiredKeys: [] },
);

const directory = fc.record(
  {
    recurse: mostly(fc.boolean()),
    include: mostly(fc.constantFrom("*.yaml", "{a,b}*", "[", "**", "*.json")),
    exclude: mostly(fc.constantFrom("*.json", "", "sub/*")),
    jsonnet: fc.constantFrom(undefined, null, {}),
    disableExtensionFilter: mostly(fc.boolean()),
  },
  { requiredKeys: [] },
);

const source = fc.record(
  {
    // resolveFleet's readSpec refuses a path, targetRevision, chart or ref that is not a string.
    path: fc.oneof(
      { arbitrary: fc.constantFrom("app", "app/", "./app", "app/sub"), weight: 6 },
      fc.constantFrom("", ".", "../outside", "/app", "missing", "app/cm.yaml"),
    ),
    targetRevision: fc.constantFrom("", "HEAD", "main"),
    chart: fc.oneof({ arbitrary: fc.constant(undefined), weight: 20 }, fc.constant("nginx")),
    ref: fc.constantFrom(undefined, undefined, "values", ""),
    name: mostly(fc.constant("src")),
    helm: fc.oneof(fc.constant(undefined), fc.constant(undefined), mostly(helm)),
    kustomize: fc.oneof(fc.constant(undefined), fc.constant(undefined), mostly(kustomize)),
    directory: fc.oneof(fc.constant(undefined), mostly(directory)),
    plugin: fc.oneof(
      { arbitrary: fc.constant(undefined), weight: 20 },
      fc.constantFrom({ name: "p" }, null, 3),
    ),
  },
  { requiredKeys: [] },
);

/** An override file: random YAML, or a patch that sets options with wrong types. */
const overrideFile = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 4 },
  {
    arbitrary: fc
      .record(
        { helm: mostly(helm), kustomize: mostly(kustomize), directory: mostly(directory), path: wrongValue },
        { requiredKeys: [] },
      )
      .map((patch) => stringify(patch)),
    weight: 2,
  },
  wrongValue.map((value) => stringify(value)),
  fc.constantFrom("[", "a: &a [*a]\n", "? [x]\n: 1\n", "{{", "helm:\n  valuesObject:\n    a: null\n"),
);

const manifestFile = fc.oneof(
  fc.constant("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n"),
  fc
    .record({ apiVersion: wrongValue, kind: wrongValue, metadata: wrongValue }, { requiredKeys: [] })
    .map((value) => stringify(value)),
  fc.constantFrom("apiVersion: v1\nkind: List\nitems: 3\nmetadata: {}\n", "[", "- a\n- b\n", "{}"),
);

describe("reliability: fuzz", () => {
  let root = "";
  let tools: RenderTools;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "flotilla-render-fuzz-"));
    tools = createRenderTools({
      // Absent on purpose: a helm or kustomize source fails where the tool would run.
      kustomizePath: join(root, "no-kustomize"),
      helmPath: join(root, "no-helm"),
      workDir: join(root, "work"),
      timeoutMs: 5_000,
    });
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("random Application sources and override files render or give a problem with a clear message", async (t) => {
    const outcomes = { rendered: 0, problems: 0, slowestMs: 0 };
    const kinds = new Map<string, number>();
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        source,
        overrideFile,
        overrideFile,
        manifestFile,
        async (random, shared, perApp, manifest) => {
          run += 1;
          const repo = join(root, `repo-${run}`);
          await mkdir(join(repo, "app", "sub"), { recursive: true });
          await writeFile(join(repo, "app", "cm.yaml"), manifest);
          await writeFile(join(repo, "app", "sub", "more.yaml"), manifest);
          await writeFile(join(repo, "app", "values.yaml"), "a: 1\n");
          if (shared !== undefined) await writeFile(join(repo, "app", ".argocd-source.yaml"), shared);
          if (perApp !== undefined) await writeFile(join(repo, "app", ".argocd-source-fuzz.yaml"), perApp);
          const started = performance.now();
          const outcome = await renderSource(
            {
              appName: "fuzz",
              destinationNamespace: "team",
              source: { repoURL: REPO_URL, ...random } as ApplicationSource,
              checkout: { dir: repo, commit: COMMIT, unsafeLinks: [], oversized: [] },
            },
            tools,
          );
          const ms = performance.now() - started;
          outcomes.slowestMs = Math.max(outcomes.slowestMs, ms);
          assert.ok(ms < MAX_RENDER_MS, `render took ${Math.round(ms)} ms`);
          await rm(repo, { recursive: true, force: true });
          if (outcome.ok) {
            outcomes.rendered += 1;
            for (const obj of outcome.objects) {
              assert.equal(typeof obj.apiVersion, "string");
              assert.equal(typeof obj.kind, "string");
            }
            return;
          }
          outcomes.problems += 1;
          kinds.set(outcome.problem.kind, (kinds.get(outcome.problem.kind) ?? 0) + 1);
          assert.notEqual(outcome.problem.message, "");
          assert.doesNotMatch(
            outcome.problem.message,
            INTERNAL_ERROR,
            `${outcome.problem.message} for ${JSON.stringify({ random, shared, perApp })}`,
          );
        },
      ),
      { numRuns: 300, timeout: MAX_RENDER_MS },
    );
    const byKind = [...kinds.entries()].map(([kind, n]) => `${n} ${kind}`).join(", ");
    t.diagnostic(
      `${outcomes.rendered + outcomes.problems} random sources with random override files and manifests: 0 crashes; ${outcomes.rendered} rendered, ${outcomes.problems} problems (${byKind}); slowest ${Math.round(outcomes.slowestMs)} ms`,
    );
  });
});
