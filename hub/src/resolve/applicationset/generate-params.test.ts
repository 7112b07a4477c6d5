import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Cluster } from "../cluster.js";
import { mergeTemplates, transformGenerator } from "./generate-params.js";
import { DEFAULT_APPLICATIONSET_LIMITS, type GeneratorContext, GeneratorError } from "./generator-context.js";
import { selectTemplateEngine } from "./render-template.js";

const CLUSTERS: Cluster[] = [
  { name: "dev", server: "https://dev", labels: { env: "dev" } },
  { name: "prod", server: "https://prod", labels: { env: "prod" } },
];

const DIRECTORIES: Record<string, string[]> = {
  "https://git/dev.git": ["apps", "apps/a", "apps/b"],
  "https://git/prod.git": ["apps", "apps/c"],
};

function context(
  goTemplate: boolean,
  options: { limits?: typeof DEFAULT_APPLICATIONSET_LIMITS } = {},
): GeneratorContext {
  return {
    clusters: CLUSTERS,
    git: {
      listDirectories: async (repoURL) => {
        const dirs = DIRECTORIES[repoURL];
        if (!dirs) throw new Error(`unknown repository ${repoURL}`);
        return dirs;
      },
      listFiles: async () => [],
      readFile: async () => undefined,
    },
    engine: selectTemplateEngine(goTemplate, []),
    limits: options.limits ?? DEFAULT_APPLICATIONSET_LIMITS,
    addImplicitInCluster: true,
  };
}

async function params(generator: unknown, goTemplate: boolean) {
  const results = await transformGenerator(generator, {}, context(goTemplate), { level: 0 });
  return results.flatMap((result) => result.params);
}

async function failure(generator: unknown, goTemplate = true): Promise<GeneratorError> {
  try {
    await params(generator, goTemplate);
  } catch (error) {
    assert.ok(error instanceof GeneratorError, String(error));
    return error;
  }
  assert.fail("no error");
}

const list = (...elements: Record<string, unknown>[]) => ({ list: { elements } });

describe("matrix", () => {
  it("combines every param set of the first child with each of the second", async () => {
    const result = await params(
      { matrix: { generators: [list({ a: "1" }, { a: "2" }), list({ b: "x" }, { b: "y" })] } },
      false,
    );
    assert.deepEqual(result, [
      { a: "1", b: "x" },
      { a: "1", b: "y" },
      { a: "2", b: "x" },
      { a: "2", b: "y" },
    ]);
  });

  it("renders the second child with each param set of the first (clusters x git)", async () => {
    const generator = {
      matrix: {
        generators: [
          { clusters: { selector: { matchLabels: { env: "dev" } } } },
          {
            git: {
              repoURL: "https://git/{{ .name }}.git",
              revision: "HEAD",
              directories: [{ path: "apps/*" }],
              // Values are pre-rendered with the first child's params where they can be, and else
              // rendered with the child's own params: one value cannot use both (as in Argo CD).
              values: {
                cluster: "{{ .name }}",
                app: "{{ .path.basename }}",
                both: "{{ .path.basename }}@{{ .name }}",
              },
            },
          },
        ],
      },
    };
    const result = await params(generator, true);
    assert.deepEqual(
      result.map((p) => [p.name, (p.path as { path: string }).path, p.values]),
      [
        ["dev", "apps/a", { cluster: "dev", app: "a", both: "a@<no value>" }],
        ["dev", "apps/b", { cluster: "dev", app: "b", both: "b@<no value>" }],
      ],
    );
  });

  it("lets the first child win when both have a key (goTemplate), merging maps", async () => {
    const result = await params(
      {
        matrix: {
          generators: [list({ k: "first", m: { a: 1 } }), list({ k: "second", m: { b: 2 }, only: "b" })],
        },
      },
      true,
    );
    assert.deepEqual(result, [{ k: "first", m: { a: 1, b: 2 }, only: "b" }]);
  });

  it("fails on one key with two values in fasttemplate mode", async () => {
    const error = await failure({ matrix: { generators: [list({ k: "1" }), list({ k: "2" })] } }, false);
    assert.match(error.message, /found duplicate key k with different value, a: 1 ,b: 2/);
  });

  it("needs exactly two children and allows one level of nesting", async () => {
    assert.match(
      (await failure({ matrix: { generators: [list({ a: "1" })] } })).message,
      /less than two generators/,
    );
    assert.match(
      (await failure({ matrix: { generators: [list(), list(), list()] } })).message,
      /more than two generators/,
    );
    const nested = {
      matrix: {
        generators: [list({ a: "1" }), { matrix: { generators: [list({ b: "2" }), list({ c: "3" })] } }],
      },
    };
    assert.deepEqual(await params(nested, true), [{ a: "1", b: "2", c: "3" }]);
    const tooDeep = {
      matrix: {
        generators: [
          list({ a: "1" }),
          {
            matrix: {
              generators: [list({ b: "2" }), { merge: { mergeKeys: ["a"], generators: [list(), list()] } }],
            },
          },
        ],
      },
    };
    assert.match((await failure(tooDeep)).message, /one level of nesting only/);
  });

  it("fails for a child with no generator in it", async () => {
    assert.match(
      (await failure({ matrix: { generators: [list({ a: "1" }), {}] } })).message,
      /child generator generated no parameters/,
    );
  });
});

describe("merge", () => {
  it("merges later sets over base sets with the same merge keys, keeping base order and dropping unmatched sets", async () => {
    const generator = {
      merge: {
        mergeKeys: ["server"],
        generators: [
          list({ server: "b", v: "base-b" }, { server: "a", v: "base-a" }),
          list({ server: "a", v: "override-a", extra: "x" }, { server: "z", v: "dropped" }),
        ],
      },
    };
    assert.deepEqual(await params(generator, false), [
      { server: "b", v: "base-b" },
      { server: "a", v: "override-a", extra: "x" },
    ]);
  });

  it("merges nested maps in goTemplate mode", async () => {
    const generator = {
      merge: {
        mergeKeys: ["name"],
        generators: [
          { clusters: { values: { kafka: "true", redis: "false" } } },
          { clusters: { selector: { matchLabels: { env: "prod" } }, values: { kafka: "false" } } },
        ],
      },
    };
    const result = await params(generator, true);
    assert.deepEqual(
      result.map((p) => [p.name, p.values]),
      [
        ["dev", { kafka: "true", redis: "false" }],
        ["prod", { kafka: "false", redis: "false" }],
        ["in-cluster", { kafka: "true", redis: "false" }],
      ],
    );
  });

  it("fails on duplicate merge keys within one child, and without merge keys", async () => {
    const duplicate = { merge: { mergeKeys: ["k"], generators: [list({ k: "1" }, { k: "1" }), list()] } };
    assert.match((await failure(duplicate)).message, /not unique by the given mergeKeys.*\{"k":"1"\}/);
    assert.match(
      (await failure({ merge: { generators: [list(), list()] } })).message,
      /no merge keys were specified/,
    );
    assert.match(
      (await failure({ merge: { mergeKeys: ["k"], generators: [list()] } })).message,
      /less than two generators/,
    );
  });
});

describe("transformGenerator", () => {
  it("filters param sets with the generator's selector, on flattened params", async () => {
    const generator = {
      ...list({ env: "dev", meta: { tier: "web" } }, { env: "prod", meta: { tier: "db" } }),
      selector: { matchLabels: { "meta.tier": "db" } },
    };
    assert.deepEqual(await params(generator, true), [{ env: "prod", meta: { tier: "db" } }]);
  });

  it("merges a generator's template over the ApplicationSet's, filling only empty fields", async () => {
    const base = {
      metadata: { name: "{{name}}", labels: { a: "base", b: "base" } },
      spec: { project: "default", syncPolicy: { automated: { prune: true } } },
    };
    const generator = {
      list: {
        elements: [],
        template: {
          metadata: { labels: { a: "gen" } },
          spec: { project: "", syncPolicy: { automated: { prune: false, selfHeal: true } } },
        },
      },
    };
    const [result] = await transformGenerator(generator, base, context(false), { level: 0 });
    assert.deepEqual(result?.template, {
      metadata: { name: "{{name}}", labels: { a: "gen", b: "base" } },
      spec: { project: "default", syncPolicy: { automated: { prune: true, selfHeal: true } } },
    });
    assert.deepEqual(
      mergeTemplates(
        { spec: { source: { helm: { valuesObject: { a: 1 } } } } },
        { spec: { source: { helm: { valuesObject: { b: 2 } } } } },
      ),
      {
        spec: { source: { helm: { valuesObject: { a: 1 } } } },
      },
    );
  });

  it("refuses generators that need a network service, as unsupported", async () => {
    for (const kind of ["scmProvider", "pullRequest", "clusterDecisionResource", "plugin"]) {
      const error = await failure({ [kind]: {} });
      assert.equal(error.kind, "unsupported", kind);
    }
  });

  it("limits the number of param sets of a matrix", async () => {
    const limits = { ...DEFAULT_APPLICATIONSET_LIMITS, maxParamSets: 3 };
    const generator = {
      matrix: { generators: [list({ a: "1" }, { a: "2" }), list({ b: "1" }, { b: "2" })] },
    };
    await assert.rejects(
      transformGenerator(generator, {}, context(false, { limits }), { level: 0 }),
      (error: unknown) => error instanceof GeneratorError && error.kind === "limit",
    );
  });
});
