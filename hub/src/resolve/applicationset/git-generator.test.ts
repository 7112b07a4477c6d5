import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  DEFAULT_APPLICATIONSET_LIMITS,
  type GeneratorContext,
  GeneratorError,
  type GitReader,
} from "./generator-context.js";
import { generateGitParams } from "./git-generator.js";
import { selectTemplateEngine } from "./render-template.js";

const REPO = "https://git.example.com/infra.git";

/** An in-memory repository: path -> content; directories are derived from the file paths. */
function memoryRepo(files: Record<string, string>): GitReader & { reads: string[] } {
  const reads: string[] = [];
  const dirs = new Set<string>();
  for (const path of Object.keys(files)) {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join("/"));
  }
  const check = (repoURL: string, revision: string) => {
    if (repoURL !== REPO || (revision !== "main" && revision !== ""))
      throw new Error(`no ${repoURL}@${revision}`);
  };
  return {
    reads,
    listDirectories: async (repoURL, revision) => {
      check(repoURL, revision);
      return [...dirs].reverse();
    },
    listFiles: async (repoURL, revision) => {
      check(repoURL, revision);
      return Object.keys(files).reverse();
    },
    readFile: async (repoURL, revision, path) => {
      check(repoURL, revision);
      reads.push(path);
      return files[path] === undefined ? undefined : new TextEncoder().encode(files[path]);
    },
  };
}

function context(
  git: GitReader,
  goTemplate: boolean,
  limits = DEFAULT_APPLICATIONSET_LIMITS,
): GeneratorContext {
  return {
    clusters: [],
    git,
    engine: selectTemplateEngine(goTemplate, []),
    limits,
    addImplicitInCluster: true,
  };
}

const FILES = {
  "apps/web/kustomization.yaml": "",
  "apps/web/overlays/prod/kustomization.yaml": "",
  "apps/api/Chart.yaml": "",
  "apps/.hidden/x.yaml": "",
  "apps/api-v2/Chart.yaml": "",
  ".github/workflows/ci.yaml": "",
  "clusters/eu/prod/config.json":
    '{"cluster": {"name": "prod-eu", "replicas": 3, "big": 12345678}, "tags": ["a", "b"]}',
  "clusters/us/config.json": "- name: us-1\n- name: us-2\n",
  "clusters/empty/config.json": "",
  "clusters/excluded/config.json": "{}",
  "clusters/bad/config.yaml": "just a string",
};

describe("generateGitParams directories", () => {
  it("keeps directories matching a pattern with * inside one segment, in walk order, skipping hidden ones", async () => {
    const params = await generateGitParams(
      { repoURL: REPO, revision: "main", directories: [{ path: "apps/*" }] },
      context(memoryRepo(FILES), false),
    );
    assert.deepEqual(
      params.map((p) => p.path),
      ["apps/api", "apps/api-v2", "apps/web"],
    );
    assert.deepEqual(params[0], {
      path: "apps/api",
      "path.basename": "api",
      "path.basenameNormalized": "api",
      "path[0]": "apps",
      "path[1]": "api",
    });
  });

  it("drops a directory any exclude pattern matches, whatever the order of the patterns", async () => {
    const directories = [
      { path: "apps/api*", exclude: true },
      { path: "apps/*" },
      { path: "apps/web/overlays/*" },
    ];
    const params = await generateGitParams(
      { repoURL: REPO, revision: "main", directories },
      context(memoryRepo(FILES), false),
    );
    assert.deepEqual(
      params.map((p) => p.path),
      ["apps/web", "apps/web/overlays/prod"],
    );
  });

  it("nests goTemplate path params, under pathParamPrefix when set, and renders values", async () => {
    const spec = {
      repoURL: REPO,
      revision: "main",
      pathParamPrefix: "app",
      directories: [{ path: "apps/web" }],
      values: { ns: "{{ .app.path.basename }}-ns" },
    };
    const [params] = await generateGitParams(spec, context(memoryRepo(FILES), true));
    assert.deepEqual(params, {
      app: {
        path: { path: "apps/web", basename: "web", basenameNormalized: "web", segments: ["apps", "web"] },
      },
      values: { ns: "web-ns" },
    });
  });
});

describe("generateGitParams files", () => {
  it("reads matching files in path order, one param set per object, flattened in fasttemplate mode", async () => {
    const files = [{ path: "clusters/**/config.json" }, { path: "clusters/excluded/*", exclude: true }];
    const repo = memoryRepo(FILES);
    const params = await generateGitParams({ repoURL: REPO, revision: "main", files }, context(repo, false));
    assert.deepEqual(repo.reads, [
      "clusters/empty/config.json",
      "clusters/eu/prod/config.json",
      "clusters/us/config.json",
    ]);
    assert.deepEqual(params[1], {
      "cluster.name": "prod-eu",
      "cluster.replicas": "3",
      "cluster.big": "1.2345678e+07",
      "tags.0": "a",
      "tags.1": "b",
      path: "clusters/eu/prod",
      "path.basename": "prod",
      "path.filename": "config.json",
      "path.basenameNormalized": "prod",
      "path.filenameNormalized": "config.json",
      "path[0]": "clusters",
      "path[1]": "eu",
      "path[2]": "prod",
    });
    assert.equal(params[0]?.path, "clusters/empty");
    assert.deepEqual(
      params.slice(2).map((p) => p.name),
      ["us-1", "us-2"],
    );
  });

  it("keeps objects as they are in goTemplate mode, with the path map", async () => {
    const params = await generateGitParams(
      { repoURL: REPO, revision: "main", files: [{ path: "clusters/eu/prod/config.json" }] },
      context(memoryRepo(FILES), true),
    );
    assert.deepEqual(params, [
      {
        cluster: { name: "prod-eu", replicas: 3, big: 12345678 },
        tags: ["a", "b"],
        path: {
          path: "clusters/eu/prod",
          basename: "prod",
          filename: "config.json",
          basenameNormalized: "prod",
          filenameNormalized: "config.json",
          segments: ["clusters", "eu", "prod"],
        },
      },
    ]);
  });

  it("fails on a file that is not an object or a list of objects, naming it", async () => {
    await assert.rejects(
      generateGitParams(
        { repoURL: REPO, revision: "main", files: [{ path: "clusters/bad/*" }] },
        context(memoryRepo(FILES), true),
      ),
      (error: unknown) =>
        error instanceof GeneratorError &&
        error.kind === "invalid" &&
        /clusters\/bad\/config\.yaml/.test(error.message),
    );
  });

  it("reports an unreadable repository as a source problem and an oversized file as a limit", async () => {
    await assert.rejects(
      generateGitParams(
        { repoURL: "https://other.example.com/x.git", revision: "main", directories: [{ path: "*" }] },
        context(memoryRepo(FILES), true),
      ),
      (error: unknown) => error instanceof GeneratorError && error.kind === "source",
    );
    const limits = { ...DEFAULT_APPLICATIONSET_LIMITS, maxParamFileBytes: 10 };
    await assert.rejects(
      generateGitParams(
        { repoURL: REPO, revision: "main", files: [{ path: "clusters/eu/prod/config.json" }] },
        context(memoryRepo(FILES), true, limits),
      ),
      (error: unknown) => error instanceof GeneratorError && error.kind === "limit",
    );
  });

  it("needs directories or files", async () => {
    await assert.rejects(
      generateGitParams({ repoURL: REPO, revision: "main" }, context(memoryRepo(FILES), true)),
      /needs directories or files/,
    );
  });
});
