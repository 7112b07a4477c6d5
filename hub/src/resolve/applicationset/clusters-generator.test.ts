import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { Cluster } from "../cluster.js";
import { generateClusterParams } from "./clusters-generator.js";
import { DEFAULT_APPLICATIONSET_LIMITS, type GeneratorContext } from "./generator-context.js";
import { selectTemplateEngine } from "./render-template.js";

const CLUSTERS: Cluster[] = [
  {
    name: "prod-eu",
    server: "https://eu.example.com",
    labels: { env: "prod", region: "eu" },
    annotations: { owner: "team-a" },
  },
  { name: "dev", server: "https://dev.example.com", labels: { env: "dev" }, project: "platform" },
  { name: "Prod_US", server: "https://us.example.com", labels: { env: "prod" } },
];

function context(clusters: readonly Cluster[], goTemplate: boolean): GeneratorContext {
  const git = {
    listDirectories: async () => [],
    listFiles: async () => [],
    readFile: async () => undefined,
  };
  return {
    clusters,
    git,
    engine: selectTemplateEngine(goTemplate, []),
    limits: DEFAULT_APPLICATIONSET_LIMITS,
    addImplicitInCluster: true,
  };
}

const names = (params: Record<string, unknown>[]) => params.map((p) => p.name);

describe("generateClusterParams", () => {
  it("gives every registered cluster, by name, then the local cluster when the selector is empty", () => {
    assert.deepEqual(names(generateClusterParams({}, context(CLUSTERS, false))), [
      "Prod_US",
      "dev",
      "prod-eu",
      "in-cluster",
    ]);
  });

  it("adds no implicit local cluster when the hub's registry is the only source of clusters", () => {
    const registryOnly = { ...context(CLUSTERS, false), addImplicitInCluster: false };
    assert.deepEqual(names(generateClusterParams({}, registryOnly)), ["Prod_US", "dev", "prod-eu"]);
  });

  it("adds no local cluster when one is registered, by server or by name", () => {
    const byServer = [...CLUSTERS, { name: "hub", server: "https://kubernetes.default.svc/", labels: {} }];
    assert.deepEqual(names(generateClusterParams({}, context(byServer, false))), [
      "Prod_US",
      "dev",
      "hub",
      "prod-eu",
    ]);
    const byName = [...CLUSTERS, { name: "in-cluster", server: "https://10.0.0.1", labels: {} }];
    assert.deepEqual(names(generateClusterParams({}, context(byName, false))), [
      "Prod_US",
      "dev",
      "in-cluster",
      "prod-eu",
    ]);
  });

  it("selects by matchLabels and matchExpressions, and then adds no local cluster", () => {
    const select = (selector: unknown) =>
      names(generateClusterParams({ selector }, context(CLUSTERS, false)));
    assert.deepEqual(select({ matchLabels: { env: "prod" } }), ["Prod_US", "prod-eu"]);
    assert.deepEqual(select({ matchExpressions: [{ key: "region", operator: "DoesNotExist" }] }), [
      "Prod_US",
      "dev",
    ]);
    assert.deepEqual(select({ matchExpressions: [{ key: "env", operator: "NotIn", values: ["prod"] }] }), [
      "dev",
    ]);
    assert.deepEqual(select({ matchLabels: { "argocd.argoproj.io/secret-type": "cluster" } }), [
      "Prod_US",
      "dev",
      "prod-eu",
    ]);
  });

  it("gives fasttemplate params as flat keys, secret-type label included", () => {
    const [first] = generateClusterParams(
      { selector: { matchLabels: { region: "eu" } } },
      context(CLUSTERS, false),
    );
    assert.deepEqual(first, {
      name: "prod-eu",
      nameNormalized: "prod-eu",
      server: "https://eu.example.com",
      project: "",
      "metadata.annotations.owner": "team-a",
      "metadata.labels.env": "prod",
      "metadata.labels.region": "eu",
      "metadata.labels.argocd.argoproj.io/secret-type": "cluster",
    });
  });

  it("gives goTemplate params with nested metadata, and none for the local cluster", () => {
    const params = generateClusterParams({}, context(CLUSTERS, true));
    assert.deepEqual(params[0], {
      name: "Prod_US",
      nameNormalized: "prod-us",
      server: "https://us.example.com",
      project: "",
      metadata: { labels: { env: "prod", "argocd.argoproj.io/secret-type": "cluster" } },
    });
    assert.deepEqual(params[3], {
      name: "in-cluster",
      nameNormalized: "in-cluster",
      server: "https://kubernetes.default.svc",
      project: "",
    });
    assert.equal(params[1]?.project, "platform");
  });

  it("renders values against each cluster's params", () => {
    const spec = {
      selector: { matchLabels: { env: "dev" } },
      values: { url: "{{server}}/x", fixed: "y", missing: "{{nope}}" },
    };
    assert.deepEqual(generateClusterParams(spec, context(CLUSTERS, false))[0], {
      name: "dev",
      nameNormalized: "dev",
      server: "https://dev.example.com",
      project: "platform",
      "metadata.labels.env": "dev",
      "metadata.labels.argocd.argoproj.io/secret-type": "cluster",
      "values.url": "https://dev.example.com/x",
      "values.fixed": "y",
      "values.missing": "{{nope}}",
    });
    const go = generateClusterParams(
      { ...spec, values: { env: "{{ .metadata.labels.env | upper }}" } },
      context(CLUSTERS, true),
    );
    assert.deepEqual(go[0]?.values, { env: "DEV" });
  });

  it("gives one param set with every cluster for flatList", () => {
    const params = generateClusterParams(
      { flatList: true, selector: { matchLabels: { env: "prod" } } },
      context(CLUSTERS, true),
    );
    assert.equal(params.length, 1);
    assert.deepEqual(names(params[0]?.clusters as Record<string, unknown>[]), ["Prod_US", "prod-eu"]);
  });

  it("rejects a selector value that is not a label value", () => {
    assert.throws(
      () => generateClusterParams({ selector: { matchLabels: { env: "a b" } } }, context(CLUSTERS, false)),
      /error converting label selector/,
    );
  });

  it("gives the same param sets whatever the order of the registered clusters", () => {
    const cluster = fc.record({
      name: fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/),
      server: fc.webUrl(),
      labels: fc.dictionary(fc.constantFrom("env", "region", "tier"), fc.constantFrom("a", "b", "c")),
    });
    fc.assert(
      fc.property(
        fc
          .uniqueArray(cluster, { selector: (c) => c.name, maxLength: 8 })
          .chain((clusters) =>
            fc.tuple(fc.constant(clusters), fc.shuffledSubarray(clusters, { minLength: clusters.length })),
          ),
        fc.boolean(),
        fc.option(fc.constantFrom("a", "b"), { nil: undefined }),
        ([clusters, shuffled], goTemplate, env) => {
          const spec = env ? { selector: { matchLabels: { env } } } : {};
          const expected = generateClusterParams(spec, context(clusters, goTemplate));
          assert.deepEqual(generateClusterParams(spec, context(shuffled, goTemplate)), expected);
          const sortedNames = names(expected).filter((name) => name !== "in-cluster");
          assert.deepEqual(sortedNames, [...sortedNames].sort());
        },
      ),
    );
  });
});
