import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import type { KubeObject } from "../../render/kube-object.js";
import type { Cluster } from "../cluster.js";
import {
  type GenerateContext,
  type GitReader,
  generateApplications,
  RESOURCES_FINALIZER,
} from "./generate-applications.js";

const TESTDATA = new URL("./testdata/", import.meta.url).pathname;
const ARGO_CD_REPO = "https://github.com/argoproj/argo-cd.git";

/** testdata/repo as the argo-cd repository at HEAD, read from disk. */
function fixtureRepo(): GitReader {
  const root = join(TESTDATA, "repo");
  const walk = async (dir: string): Promise<{ files: string[]; dirs: string[] }> => {
    const files: string[] = [];
    const dirs: string[] = [];
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        dirs.push(relative(root, path));
        const inner = await walk(path);
        files.push(...inner.files);
        dirs.push(...inner.dirs);
      } else files.push(relative(root, path));
    }
    return { files, dirs };
  };
  const check = (repoURL: string, revision: string) => {
    if (repoURL !== ARGO_CD_REPO || revision !== "HEAD")
      throw new Error(`no repository ${repoURL} at ${revision}`);
  };
  return {
    listDirectories: async (repoURL, revision) => {
      check(repoURL, revision);
      return (await walk(root)).dirs;
    },
    listFiles: async (repoURL, revision) => {
      check(repoURL, revision);
      return (await walk(root)).files;
    },
    readFile: async (repoURL, revision, path) => {
      check(repoURL, revision);
      return readFile(join(root, path));
    },
  };
}

async function loadYaml<T>(path: string): Promise<T> {
  return parse(await readFile(join(TESTDATA, path), "utf8")) as T;
}

async function fixtureContext(): Promise<GenerateContext> {
  const { clusters } = await loadYaml<{ clusters: Cluster[] }>("clusters.yaml");
  return { clusters, git: fixtureRepo() };
}

const NO_GIT: GitReader = {
  listDirectories: async () => {
    throw Object.assign(new Error("repository not allowed"), { reason: "not-allowed" });
  },
  listFiles: async () => [],
  readFile: async () => undefined,
};

function appSet(
  spec: Record<string, unknown>,
  metadata: Record<string, unknown> = { name: "apps", namespace: "argocd" },
): KubeObject {
  return { apiVersion: "argoproj.io/v1alpha1", kind: "ApplicationSet", metadata, spec };
}

const context = (clusters: Cluster[] = []): GenerateContext => ({ clusters, git: NO_GIT });
const list = (...elements: Record<string, unknown>[]) => ({ list: { elements } });
const names = (apps: KubeObject[]) => apps.map((app) => app.metadata.name);

describe("generateApplications on Argo CD's ApplicationSet examples", () => {
  const examples = [
    "list",
    "cluster",
    "git-directories",
    "git-directories-excludes",
    "git-files",
    "matrix-cluster-and-git",
    "matrix-list-and-git",
    "merge-clusters-and-list",
  ];
  for (const example of examples) {
    it(`generates the same Applications from ${example} in goTemplate and fasttemplate form`, async () => {
      const expected = await loadYaml<KubeObject[]>(`examples/${example}/expected.yaml`);
      for (const form of ["gotemplate", "fasttemplate"]) {
        const input = await loadYaml<KubeObject>(`examples/${example}/${form}.yaml`);
        const result = await generateApplications(input, await fixtureContext());
        assert.deepEqual(result.problems, [], `${example}/${form}`);
        assert.deepEqual(result.applications, expected, `${example}/${form}`);
      }
    });
  }

  it("keeps Argo CD's goTemplate quirk in merge-clusters-and-list as written: a flat values.redis key is not .values.redis", async () => {
    const input = await loadYaml<KubeObject>("examples/merge-clusters-and-list/gotemplate-verbatim.yaml");
    const result = await generateApplications(input, await fixtureContext());
    assert.deepEqual(
      result.applications,
      await loadYaml("examples/merge-clusters-and-list/expected-verbatim.yaml"),
    );
  });

  it("prints the whole path map for `{{.path}}` in goTemplate mode, as Argo CD's excludes example does", async () => {
    const input = await loadYaml<KubeObject>("examples/git-directories-excludes/gotemplate.yaml");
    const template = (input.spec as { template: { spec: { source: { path: string } } } }).template;
    template.spec.source.path = "{{.path}}";
    const result = await generateApplications(input, await fixtureContext());
    const source = (result.applications[0]?.spec as { source: { path: string } } | undefined)?.source;
    const dir = "applicationset/examples/git-generator-directory/excludes/cluster-addons/argo-workflows";
    assert.equal(
      source?.path,
      `map[basename:argo-workflows basenameNormalized:argo-workflows path:${dir} segments:[${dir.split("/").join(" ")}]]`,
    );
  });
});

describe("generateApplications", () => {
  const template = {
    metadata: { name: "{{name}}", namespace: "ignored", labels: { team: "{{team}}" } },
    spec: {
      project: "default",
      destination: { server: "https://kubernetes.default.svc", namespace: "{{name}}" },
    },
  };

  it("names and places each Application in the ApplicationSet's namespace, adding the resources finalizer", async () => {
    const result = await generateApplications(
      appSet({ generators: [list({ name: "a", team: "x" })], template }),
      context(),
    );
    assert.deepEqual(result.applications, [
      {
        apiVersion: "argoproj.io/v1alpha1",
        kind: "Application",
        metadata: {
          name: "a",
          namespace: "argocd",
          labels: { team: "x" },
          finalizers: [RESOURCES_FINALIZER],
        },
        spec: {
          project: "default",
          destination: { server: "https://kubernetes.default.svc", namespace: "a" },
        },
      },
    ]);
  });

  it("adds no finalizer when the template has some or the ApplicationSet preserves resources", async () => {
    const own = { ...template, metadata: { ...template.metadata, finalizers: ["example.com/keep"] } };
    const withOwn = await generateApplications(
      appSet({ generators: [list({ name: "a" })], template: own }),
      context(),
    );
    assert.deepEqual(withOwn.applications[0]?.metadata.finalizers, ["example.com/keep"]);
    const preserve = await generateApplications(
      appSet({
        generators: [list({ name: "a" })],
        template,
        syncPolicy: { preserveResourcesOnDeletion: true },
      }),
      context(),
    );
    assert.equal(preserve.applications[0]?.metadata.finalizers, undefined);
  });

  it("uses the template as written, without a finalizer, for an empty param set (as Argo CD does)", async () => {
    const result = await generateApplications(
      appSet({ generators: [list({})], template: { ...template, metadata: { name: "fixed" } } }),
      context(),
    );
    assert.deepEqual(result.applications[0]?.metadata, { name: "fixed", namespace: "argocd" });
  });

  it("records spec.strategy untouched", async () => {
    const strategy = {
      type: "RollingSync",
      rollingSync: { steps: [{ matchExpressions: [{ key: "env", operator: "In", values: ["dev"] }] }] },
    };
    const result = await generateApplications(appSet({ generators: [], template, strategy }), context());
    assert.deepEqual(result.strategy, strategy);
    assert.deepEqual(result.applications, []);
  });

  it("keeps the first of two Applications with one name and reports the second", async () => {
    const result = await generateApplications(
      appSet({ generators: [list({ name: "a" }, { name: "b" }), list({ name: "a" })], template }),
      context(),
    );
    assert.deepEqual(names(result.applications), ["a", "b"]);
    assert.deepEqual(result.problems, [
      {
        app: "apps",
        kind: "duplicate",
        message: "generators[1] (list): contains applications with duplicate name: a",
      },
    ]);
  });

  it("drops an Application whose name is empty or not a DNS subdomain and keeps the others", async () => {
    const result = await generateApplications(
      appSet({ generators: [list({ name: "Bad_Name" }, { name: "" }, { name: "ok" })], template }),
      context(),
    );
    assert.deepEqual(names(result.applications), ["ok"]);
    assert.deepEqual(
      result.problems.map((p) => p.kind),
      ["invalid", "invalid"],
    );
    assert.match(result.problems[0]?.message ?? "", /"Bad_Name" is not a valid lowercase RFC 1123 subdomain/);
  });

  it("fails the whole ApplicationSet when one generator fails, naming the generator", async () => {
    const result = await generateApplications(
      appSet({
        generators: [
          list({ name: "a" }),
          { git: { repoURL: "https://git/x.git", revision: "main", directories: [{ path: "*" }] } },
        ],
        template,
      }),
      context(),
    );
    assert.deepEqual(result.applications, []);
    assert.deepEqual(result.problems.length, 1);
    assert.equal(result.problems[0]?.kind, "source");
    assert.match(
      result.problems[0]?.message ?? "",
      /^generators\[1\] \(git\): git: error getting directories from repo https:\/\/git\/x\.git@main: repository not allowed$/,
    );
  });

  it("reports an unknown template function, naming it, and fails the ApplicationSet", async () => {
    const spec = {
      goTemplate: true,
      generators: [list({ name: "a" })],
      template: { ...template, metadata: { name: "{{ .name | shout }}" } },
    };
    const result = await generateApplications(appSet(spec), context());
    assert.deepEqual(result.applications, []);
    assert.equal(result.problems[0]?.kind, "invalid");
    assert.match(
      result.problems[0]?.message ?? "",
      /generators\[0\] \(list\): param set 0: .*function "shout" not defined/,
    );
  });

  it("reports the first failing param set once, quoting the template, with a count of the others", async () => {
    const spec = {
      goTemplate: true,
      generators: [list({ name: "a" }, { name: "b" }, { name: "c" })],
      template: { metadata: { name: "{{ .name | lower 1 }}" } },
    };
    const result = await generateApplications(appSet(spec), context());
    assert.deepEqual(
      result.problems.map((p) => p.message),
      [
        'generators[0] (list): param set 0: failed to execute go template {{ .name | lower 1 }}: template: base:1:11: executing "base" at <lower>: wrong number of args for lower: want 1 got 2 (and 2 more param sets)',
      ],
    );
  });

  it("reports a missing key with missingkey=error and a refused function as unsupported", async () => {
    const missing = await generateApplications(
      appSet({
        goTemplate: true,
        goTemplateOptions: ["missingkey=error"],
        generators: [list({ name: "a" })],
        template: { metadata: { name: "{{ .nope }}" } },
      }),
      context(),
    );
    assert.match(missing.problems[0]?.message ?? "", /map has no entry for key "nope"/);
    const refused = await generateApplications(
      appSet({
        goTemplate: true,
        generators: [list({ name: "a" })],
        template: { metadata: { name: "{{ uuidv4 }}" } },
      }),
      context(),
    );
    assert.equal(refused.problems[0]?.kind, "unsupported");
    assert.match(refused.problems[0]?.message ?? "", /"uuidv4"/);
  });

  it("reports an unknown goTemplateOptions entry", async () => {
    const result = await generateApplications(
      appSet({ goTemplate: true, goTemplateOptions: ["missingkey=panic"], generators: [], template }),
      context(),
    );
    assert.deepEqual(result.problems, [
      { app: "apps", kind: "invalid", message: 'unrecognized goTemplateOptions entry "missingkey=panic"' },
    ]);
  });

  it("applies templatePatch after rendering, without letting it change the project", async () => {
    const goTemplate = {
      metadata: { name: "{{ .name }}" },
      spec: {
        project: "default",
        destination: { server: "https://kubernetes.default.svc", namespace: "{{ .name }}" },
      },
    };
    const templatePatch = [
      "metadata:",
      "  annotations:",
      "    owner: '{{ .name }}'",
      "spec:",
      "  project: hijacked",
      "  syncPolicy:",
      "    automated: {}",
      "  destination:",
      "    namespace: null",
    ].join("\n");
    const result = await generateApplications(
      appSet({ goTemplate: true, generators: [list({ name: "a" })], template: goTemplate, templatePatch }),
      context(),
    );
    assert.deepEqual(result.problems, []);
    const app = result.applications[0];
    assert.deepEqual(app?.metadata.annotations, { owner: "a" });
    assert.deepEqual(app?.spec, {
      project: "default",
      destination: { server: "https://kubernetes.default.svc" },
      syncPolicy: { automated: {} },
    });
  });

  it("renders template keys and drops null entries, as Argo CD's deeplyReplace does", async () => {
    const spec = {
      goTemplate: true,
      generators: [list({ name: "a", key: "team" })],
      template: {
        metadata: { name: "{{ .name }}", annotations: { "{{ .key }}/owner": "{{ .name }}", gone: null } },
        spec: { project: "default", replicas: 3 },
      },
    };
    const result = await generateApplications(appSet(spec), context());
    assert.deepEqual(result.applications[0]?.metadata.annotations, { "team/owner": "a" });
    assert.deepEqual(result.applications[0]?.spec, { project: "default", replicas: 3 });
  });

  it("uses a generator's own template over the ApplicationSet's", async () => {
    const spec = {
      generators: [
        list({ name: "a" }),
        {
          list: {
            elements: [{ name: "b" }],
            template: { metadata: { name: "custom-{{name}}" }, spec: { project: "special" } },
          },
        },
      ],
      template,
    };
    const result = await generateApplications(appSet(spec), context());
    assert.deepEqual(names(result.applications), ["a", "custom-b"]);
    assert.equal((result.applications[1]?.spec as { project?: string } | undefined)?.project, "special");
    assert.deepEqual(result.applications[1]?.metadata.labels, { team: "{{team}}" });
  });

  it("filters a generator's output with its selector", async () => {
    const spec = {
      generators: [
        {
          ...list({ name: "a", env: "dev" }, { name: "b", env: "prod" }),
          selector: { matchLabels: { env: "prod" } },
        },
      ],
      template,
    };
    assert.deepEqual(names((await generateApplications(appSet(spec), context())).applications), ["b"]);
  });

  it("reports unsupported generators and stops at the application limit", async () => {
    const scm = await generateApplications(
      appSet({ generators: [{ scmProvider: { github: { organization: "x" } } }], template }),
      context(),
    );
    assert.equal(scm.problems[0]?.kind, "unsupported");
    const many = await generateApplications(
      appSet({ generators: [list({ name: "a" }, { name: "b" }, { name: "c" })], template }),
      { ...context(), limits: { maxApplications: 2 } },
    );
    assert.deepEqual(many.applications, []);
    assert.equal(many.problems[0]?.kind, "limit");
  });

  it("never throws on a malformed ApplicationSet", async () => {
    const cases = [
      appSet({ generators: "nope" }),
      { apiVersion: "argoproj.io/v1alpha1", kind: "ApplicationSet", metadata: { name: "x" } } as KubeObject,
      appSet({ goTemplate: "yes", generators: [] }),
      appSet({ generators: [null, 3, { list: "x" }, { matrix: { generators: "x" } }], template }),
      appSet({ generators: [list({ name: "a" })], template: { metadata: { name: 5 } } }),
    ];
    for (const input of cases) {
      const result = await generateApplications(input, context());
      assert.deepEqual(result.applications, []);
      assert.ok(result.problems.length > 0, JSON.stringify(input.spec));
      for (const problem of result.problems)
        assert.ok(["invalid", "limit"].includes(problem.kind), problem.message);
    }
  });
});
