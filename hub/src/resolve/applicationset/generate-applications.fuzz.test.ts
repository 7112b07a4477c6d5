// Fuzz tests of ApplicationSet expansion: random Go templates and fasttemplates (including deep
// nesting and recursive {{template}} calls), random YAML for the git generator's files and
// templatePatch, and random ApplicationSets with wrong types in every field. Each must render,
// or fail with a clear error (generateApplications: a problem value), within a bounded time.
// fast-check prints the seed of a failing run.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { KubeObject } from "../../render/kube-object.js";
import type { Cluster } from "../cluster.js";
import { generateApplications } from "./generate-applications.js";
import { parseYamlLikeGo } from "./go-yaml.js";
import type { ParamSet } from "./param-set.js";
import { MAX_TEMPLATE_NESTING } from "./parse-go-template.js";
import { replaceTemplate, selectTemplateEngine } from "./render-template.js";
import { TemplateError } from "./template-error.js";
import { TEMPLATE_FUNCTIONS } from "./template-functions.js";

/** One call on fuzzed input may take this long on a slow, shared machine before it counts as a hang. */
const MAX_CASE_MS = 5_000;
/** Messages of JavaScript's own TypeErrors and RangeErrors: a crash, not a clear error. */
const INTERNAL_ERROR =
  /is not a function|Cannot read propert|Cannot set propert|is not iterable|Cannot convert|Maximum call stack|Invalid time value|Invalid array length|\[object Object\]/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const TEMPLATE_PIECES = [
  "{{",
  "}}",
  "{{- ",
  " -}}",
  " ",
  "\n",
  "text",
  ".",
  ".name",
  ".path.basename",
  ".list",
  ".missing",
  "$",
  "$x",
  "$x := ",
  "$x = ",
  " | ",
  "(",
  ")",
  "if ",
  "else",
  "else if ",
  "end",
  "range ",
  "with ",
  'define "t"',
  'template "t" .',
  'block "b" .',
  "break",
  "continue",
  "nil",
  "true",
  "1",
  "-1",
  "0x7fffffffffffffff",
  "99999999999999999999",
  "1e308",
  "'a'",
  '"s"',
  "`raw`",
  ", ",
  "/* c */",
  "{{name}}",
  "{{path[0]}}",
  "{{values.x}}",
  ...Object.keys(TEMPLATE_FUNCTIONS).map((name) => `${name} `),
];

const templatePieces = fc.array(fc.constantFrom(...TEMPLATE_PIECES), { maxLength: 40 });
const templateText = fc.oneof(
  templatePieces.map((pieces) => pieces.join("")),
  templatePieces.map((pieces) => `{{ ${pieces.join("")} }}`),
);

/** Templates nested `depth` levels, or calling themselves through a nested body. */
const nestedTemplate = fc
  .record({
    how: fc.constantFrom("parens", "ifs", "ranges", "withs", "recursion"),
    depth: fc.integer({ min: 1, max: 2_000 }),
  })
  .map(({ how, depth }) => {
    switch (how) {
      case "parens":
        return `{{ ${"(".repeat(depth)}1${")".repeat(depth)} }}`;
      case "ifs":
        return `${"{{ if 1 }}".repeat(depth)}x${"{{ end }}".repeat(depth)}`;
      case "ranges":
        return `${"{{ range .list }}".repeat(depth)}x${"{{ end }}".repeat(depth)}`;
      case "withs":
        return `${"{{ with . }}".repeat(depth)}x${"{{ end }}".repeat(depth)}`;
      default: {
        const levels = Math.min(depth, MAX_TEMPLATE_NESTING);
        return `{{ define "t" }}${"{{ if 1 }}".repeat(levels)}{{ template "t" . }}${"{{ end }}".repeat(levels)}{{ end }}{{ template "t" . }}`;
      }
    }
  });

const goValue: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 3 });

const params: fc.Arbitrary<ParamSet> = fc
  .record(
    {
      name: fc.oneof(fc.string({ maxLength: 10 }), goValue),
      path: fc.oneof(
        fc.record({ basename: fc.string({ maxLength: 8 }), path: fc.string({ maxLength: 8 }) }),
        goValue,
      ),
      list: fc.oneof(fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }), goValue),
      x: goValue,
    },
    { requiredKeys: [] },
  )
  .map((record) => record as ParamSet);

type Outcome = "rendered" | "refused";

function timed<T>(slowest: { ms: number }, run: () => T): T {
  const started = performance.now();
  try {
    return run();
  } finally {
    const ms = performance.now() - started;
    slowest.ms = Math.max(slowest.ms, ms);
    assert.ok(ms < MAX_CASE_MS, `took ${Math.round(ms)} ms`);
  }
}

/** Renders `text`; a TemplateError (or fasttemplate's Error) with a clear message counts as refused. */
function render(text: string, set: ParamSet, goTemplate: boolean, missingKey: string): Outcome {
  try {
    const engine = selectTemplateEngine(goTemplate, [`missingkey=${missingKey}`]);
    assert.equal(typeof replaceTemplate(text, set, engine), "string");
    return "rendered";
  } catch (error) {
    assert.ok(error instanceof Error, `threw a non-Error: ${String(error)}`);
    if (goTemplate) assert.ok(error instanceof TemplateError, `not a TemplateError: ${error.stack}`);
    assert.doesNotMatch(error.message, INTERNAL_ERROR);
    return "refused";
  }
}

function tally(outcomes: Outcome[]): string {
  const rendered = outcomes.filter((outcome) => outcome === "rendered").length;
  return `${rendered} rendered, ${outcomes.length - rendered} refused with a template error`;
}

const CLUSTERS: Cluster[] = [
  { name: "c1", server: "https://c1.example.com", labels: { env: "prod" } },
  { name: "c2", server: "https://c2.example.com", labels: { env: "dev" } },
];

const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 10 }),
  fc.constantFrom("", "__proto__", "constructor"),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 })),
);

function mostly<T>(right: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof({ arbitrary: right, weight: 3 }, { arbitrary: wrongValue, weight: 1 });
}

const NAME_TEMPLATES = [
  "{{name}}",
  "{{.name}}",
  "app-{{path.basename}}",
  "{{ .path.basename }}",
  "c-{{ .name }}",
  "x",
];

const generatorSpec: fc.Arbitrary<unknown> = fc.oneof(
  fc.record({
    list: mostly(
      fc.record(
        {
          elements: mostly(
            fc.array(
              mostly(
                fc.record(
                  { name: mostly(fc.constantFrom("a", "b", "Bad_Name", "")), x: goValue },
                  { requiredKeys: [] },
                ),
              ),
              { maxLength: 5 },
            ),
          ),
          elementsYaml: mostly(fc.constantFrom("- name: y\n", "{{", "[".repeat(300))),
        },
        { requiredKeys: [] },
      ),
    ),
  }),
  fc.record({
    clusters: mostly(
      fc.record(
        { selector: mostly(fc.record({ matchLabels: mostly(fc.constant({ env: "prod" })) })) },
        { requiredKeys: [] },
      ),
    ),
  }),
  fc.record({
    git: mostly(
      fc.record(
        {
          repoURL: fc.constant("https://git.example.com/r.git"),
          revision: mostly(fc.constant("")),
          directories: mostly(
            fc.array(fc.record({ path: mostly(fc.constantFrom("apps/*", "*", "[", "**")) }), {
              maxLength: 2,
            }),
          ),
          files: mostly(
            fc.array(fc.record({ path: mostly(fc.constantFrom("config/*.yaml", "**")) }), { maxLength: 2 }),
          ),
        },
        { requiredKeys: [] },
      ),
    ),
  }),
  fc.record({
    matrix: fc.record({
      generators: mostly(
        fc.array(
          fc.record({
            list: fc.record({
              elements: fc.array(fc.record({ name: fc.constantFrom("a", "b") }), { maxLength: 20 }),
            }),
          }),
          { maxLength: 3 },
        ),
      ),
    }),
  }),
  fc.record({ scmProvider: fc.constant({}) }),
  wrongValue,
);

/** An ApplicationSet that generates Applications, so valid output is checked too. */
const workingSpec = fc.oneof(
  fc.record({
    generators: fc.constant([{ list: { elements: [{ name: "a" }, { name: "b" }] } }]),
    template: fc.record({
      metadata: fc.record({ name: fc.constantFrom("{{name}}", "app-{{name}}") }),
      spec: fc.record({ project: fc.constant("default"), source: wrongValue }),
    }),
  }),
  fc.record({
    goTemplate: fc.constant(true),
    generators: fc.constant([
      { git: { repoURL: "https://git.example.com/r.git", revision: "", directories: [{ path: "apps/*" }] } },
    ]),
    template: fc.constant({ metadata: { name: "{{ .path.basename }}" }, spec: { project: "default" } }),
    templatePatch: fc.constantFrom(
      undefined,
      "spec:\n  project: other\n",
      "metadata:\n  labels:\n    x: '{{ .path.path }}'\n",
    ),
  }),
  fc.record({
    generators: fc.constant([{ clusters: { selector: { matchLabels: { env: "prod" } } } }]),
    template: fc.constant({ metadata: { name: "{{name}}-app" }, spec: {} }),
  }),
);

const applicationSet = fc.record({
  apiVersion: fc.constant("argoproj.io/v1alpha1"),
  kind: fc.constant("ApplicationSet"),
  metadata: fc.record(
    { name: fc.constant("set"), namespace: fc.constantFrom("argocd", undefined) },
    { requiredKeys: ["name"] },
  ),
  spec: fc.oneof(
    workingSpec,
    wrongValue,
    fc.record(
      {
        goTemplate: mostly(fc.boolean()),
        goTemplateOptions: mostly(
          fc.array(fc.constantFrom("missingkey=error", "missingkey=zero", "bogus"), { maxLength: 2 }),
        ),
        generators: mostly(fc.array(generatorSpec, { maxLength: 3 })),
        template: mostly(
          fc.record({
            metadata: mostly(
              fc.record(
                {
                  name: mostly(fc.oneof(fc.constantFrom(...NAME_TEMPLATES), templateText)),
                  labels: wrongValue,
                },
                { requiredKeys: [] },
              ),
            ),
            spec: fc.record(
              { project: mostly(fc.constant("default")), source: wrongValue, destination: wrongValue },
              { requiredKeys: [] },
            ),
          }),
        ),
        templatePatch: mostly(
          fc.oneof(templateText, fc.constantFrom("spec:\n  project: other\n", "[", "{{ toYaml . }}")),
        ),
        syncPolicy: wrongValue,
        strategy: wrongValue,
      },
      { requiredKeys: [] },
    ),
  ),
});

const gitFile = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
  fc.constantFrom(
    "name: a\n",
    "- name: b\n- 3\n",
    "{{",
    "[".repeat(500),
    "? ".repeat(150),
    "a: &a [1]\n*a : 2\n",
  ),
  fc.string({ maxLength: 60 }),
);

describe("reliability: fuzz", () => {
  it("random Go templates and fasttemplates render or fail with a template error, within a bounded time", (t) => {
    const outcomes: Outcome[] = [];
    const slowest = { ms: 0 };
    fc.assert(
      fc.property(
        templateText,
        params,
        fc.boolean(),
        fc.constantFrom("default", "zero", "error"),
        (text, set, goTemplate, missingKey) => {
          outcomes.push(timed(slowest, () => render(text, set, goTemplate, missingKey)));
        },
      ),
      { numRuns: 1_500 },
    );
    t.diagnostic(
      `${outcomes.length} random templates: ${tally(outcomes)}; 0 crashes; slowest ${Math.round(slowest.ms)} ms`,
    );
  });

  it(`templates nested up to 2,000 levels, or recursing through {{template}}, are refused past ${MAX_TEMPLATE_NESTING} levels, never overflowing the stack`, (t) => {
    const outcomes: Outcome[] = [];
    const slowest = { ms: 0 };
    fc.assert(
      fc.property(nestedTemplate, params, (text, set) => {
        outcomes.push(timed(slowest, () => render(text, set, true, "default")));
      }),
      { numRuns: 150 },
    );
    // Still healthy afterwards.
    assert.equal(replaceTemplate("{{ .a }}", { a: "ok" }, selectTemplateEngine(true, [])), "ok");
    t.diagnostic(
      `${outcomes.length} deeply nested or recursive templates: ${tally(outcomes)}; slowest ${Math.round(slowest.ms)} ms`,
    );
  });

  it("random YAML for git generator files and templatePatch parses or fails with a yaml error", (t) => {
    const slowest = { ms: 0 };
    let parsed = 0;
    let refused = 0;
    fc.assert(
      fc.property(fc.oneof(gitFile, templateText), (text) => {
        timed(slowest, () => {
          try {
            parseYamlLikeGo(text);
            parsed += 1;
          } catch (error) {
            assert.ok(error instanceof Error);
            assert.match(error.message, /^(yaml|json): /, error.message);
            assert.doesNotMatch(error.message, INTERNAL_ERROR);
            refused += 1;
          }
        });
      }),
      { numRuns: 800 },
    );
    t.diagnostic(
      `${parsed + refused} random YAML texts: ${parsed} parsed, ${refused} refused with a yaml error; slowest ${Math.round(slowest.ms)} ms`,
    );
  });

  it("random ApplicationSets with wrong types in every field generate valid Applications or problems, never an exception", async (t) => {
    const totals = { sets: 0, applications: 0, problems: 0, slowestMs: 0 };
    const git = (file: string) => ({
      listDirectories: async () => ["apps", "apps/a", "apps/b", ".hidden"],
      listFiles: async () => ["config/a.yaml", "config/b.yaml"],
      readFile: async () => file,
    });
    await fc.assert(
      fc.asyncProperty(applicationSet, gitFile, async (appSet, file) => {
        const started = performance.now();
        const result = await generateApplications(appSet as KubeObject, {
          clusters: CLUSTERS,
          git: git(file),
        });
        const ms = performance.now() - started;
        totals.slowestMs = Math.max(totals.slowestMs, ms);
        assert.ok(ms < MAX_CASE_MS, `took ${Math.round(ms)} ms`);
        totals.sets += 1;
        totals.applications += result.applications.length;
        totals.problems += result.problems.length;
        for (const problem of result.problems) {
          assert.equal(problem.app, "set");
          assert.doesNotMatch(problem.message, INTERNAL_ERROR, problem.message);
        }
        for (const application of result.applications) {
          assert.equal(application.kind, "Application");
          assert.match(application.metadata.name ?? "", DNS_SUBDOMAIN);
        }
      }),
      { numRuns: 500, timeout: MAX_CASE_MS },
    );
    t.diagnostic(
      `${totals.sets} random ApplicationSets: 0 exceptions; ${totals.applications} Applications generated, ${totals.problems} problems; slowest ${Math.round(totals.slowestMs)} ms`,
    );
  });
});
