import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { type KubeObject, subject } from "./kube-object.js";
import { escapeSetValue, parseKubeVersion } from "./render-helm.js";
import type { RenderProblem } from "./render-problem.js";
import {
  createRenderTools,
  type RenderInput,
  type RenderOutcome,
  type RenderTools,
  renderSource,
} from "./render-source.js";
import { runTool } from "./run-tool.js";
import type { ApplicationSource } from "./source-spec.js";
import { createToolEnv } from "./tool-env.js";

const EXAMPLE_APPS = fileURLToPath(new URL("./testdata/example-apps", import.meta.url));
const VALUES_REPO = fileURLToPath(new URL("./testdata/values-repo", import.meta.url));
const COMMIT = "0123456789abcdef0123456789abcdef01234567";

/** Real kustomize and helm (the test runner exports them from .cache/tools.json) and a work dir. */
function useRenderTools(overrides: Partial<RenderTools> = {}): () => RenderTools {
  let tools: RenderTools | undefined;
  let root = "";
  before(async () => {
    const kustomizePath = process.env.FLOTILLA_KUSTOMIZE;
    const helmPath = process.env.FLOTILLA_HELM;
    if (!kustomizePath || !helmPath) {
      throw new Error(
        "FLOTILLA_KUSTOMIZE and FLOTILLA_HELM must name the test binaries (see .cache/tools.json)",
      );
    }
    root = await mkdtemp(join(tmpdir(), "flotilla-render-test-"));
    tools = createRenderTools({ kustomizePath, helmPath, workDir: join(root, "work"), ...overrides });
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });
  return () => {
    if (!tools) throw new Error("useRenderTools: used outside a test");
    return tools;
  };
}

/** A writable copy of a fixture repository, for tests that add hostile files to it. */
async function copyRepo(fixture: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "flotilla-render-repo-"));
  await cp(fixture, dir, { recursive: true, verbatimSymlinks: true });
  return dir;
}

function inputFor(
  path: string,
  extra: Partial<ApplicationSource> = {},
  more: Partial<RenderInput> = {},
): RenderInput {
  return {
    appName: "echo",
    destinationNamespace: "apps",
    source: { repoURL: "https://git.example.com/example-apps.git", path, ...extra },
    checkout: { dir: EXAMPLE_APPS, commit: COMMIT, unsafeLinks: [], oversized: [] },
    ...more,
  };
}

function objectsOf(outcome: RenderOutcome): KubeObject[] {
  if (!outcome.ok)
    assert.fail(`expected objects, got ${outcome.problem.kind} problem: ${outcome.problem.message}`);
  return outcome.objects;
}

function problemOf(outcome: RenderOutcome): RenderProblem {
  if (outcome.ok) assert.fail(`expected a problem, got ${outcome.objects.map(subject).join(", ")}`);
  return outcome.problem;
}

function find(objects: KubeObject[], kind: string): KubeObject {
  const found = objects.find((o) => o.kind === kind);
  assert.ok(found, `no ${kind} in ${objects.map(subject).join(", ")}`);
  return found;
}

/** The chart fixture helm-params echoes its merged values into ConfigMap data["values.json"]. */
function echoedValues(objects: KubeObject[]): Record<string, unknown> {
  const data = find(objects, "ConfigMap").data as Record<string, string>;
  return JSON.parse(data["values.json"] as string);
}

describe("renderSource: directory apps", () => {
  const tools = useRenderTools();

  it("renders the guestbook directory app as its two manifests", async () => {
    const objects = objectsOf(await renderSource(inputFor("guestbook"), tools()));
    assert.deepEqual(objects.map(subject), ["Deployment/guestbook-ui", "Service/guestbook-ui"]);
    assert.equal((find(objects, "Deployment").spec as { replicas: number }).replicas, 1);
  });

  it("reads YAML and JSON, skips empty documents, expands Lists and ignores values.yaml and non-manifests", async () => {
    const objects = objectsOf(await renderSource(inputFor("directory-with-values"), tools()));
    assert.deepEqual(objects.map(subject), [
      "ConfigMap/app-config",
      "ConfigMap/after-empty",
      "ConfigMap/listed-config",
      "Secret/listed-secret",
      "Service/from-json",
    ]);
  });

  it("reads YAML as Go does: timestamps and sexagesimal numbers stay strings", async () => {
    const objects = objectsOf(await renderSource(inputFor("directory-with-values"), tools()));
    assert.deepEqual(objects[0]?.data, { released: "2024-01-31", window: "12:30", enabled: "yes" });
  });

  it("walks sub-directories only with recurse", async () => {
    const objects = objectsOf(
      await renderSource(inputFor("directory-with-values", { directory: { recurse: true } }), tools()),
    );
    assert.ok(objects.map(subject).includes("ConfigMap/only-with-recurse"));
    assert.equal(objects.map(subject).indexOf("ConfigMap/only-with-recurse"), 4, "lexical walk order");
  });

  it("applies exclude and include globs on the path relative to the app, with * crossing /", async () => {
    const render = (directory: ApplicationSource["directory"]) =>
      renderSource(inputFor("recurse-app", { directory }), tools()).then((o) => objectsOf(o).map(subject));
    assert.deepEqual(await render({ recurse: true }), [
      "ConfigMap/a",
      "ConfigMap/b",
      "ConfigMap/skip-me",
      "ConfigMap/base",
      "ConfigMap/excluded",
    ]);
    assert.deepEqual(await render({ recurse: true, exclude: "exclude/*" }), [
      "ConfigMap/a",
      "ConfigMap/b",
      "ConfigMap/skip-me",
      "ConfigMap/base",
    ]);
    assert.deepEqual(await render({ recurse: true, include: "{apps/*,base.yaml}", exclude: "*skip-me*" }), [
      "ConfigMap/a",
      "ConfigMap/b",
      "ConfigMap/base",
    ]);
    assert.deepEqual(await render({ include: "*.yaml" }), ["ConfigMap/base"]);
  });

  it("tells onRendered the tool and outcome of each render that reached a tool", async () => {
    const seen: { tool: string; ok: boolean }[] = [];
    const observed: RenderTools = {
      ...tools(),
      onRendered: ({ tool, ok, seconds }) => {
        assert.ok(seconds >= 0);
        seen.push({ tool, ok });
      },
    };
    objectsOf(await renderSource(inputFor("guestbook"), observed));
    problemOf(await renderSource(inputFor("broken-manifest"), observed));
    assert.deepEqual(seen, [
      { tool: "directory", ok: true },
      { tool: "directory", ok: false },
    ]);
  });

  it("reports a manifest-looking file that does not parse, naming the file and document", async () => {
    const problem = problemOf(await renderSource(inputFor("broken-manifest"), tools()));
    assert.equal(problem.kind, "render");
    assert.match(problem.message, /^broken-manifest\/bad\.yaml document 1: /);
  });

  it("reports an object without metadata as invalid, naming the file and document", async () => {
    const problem = problemOf(await renderSource(inputFor("invalid-object"), tools()));
    assert.deepEqual(problem, {
      kind: "invalid",
      message: "invalid-object/objects.yaml document 2: object without metadata",
    });
  });

  it("stops a YAML alias bomb as a limit problem", async () => {
    const started = Date.now();
    const problem = problemOf(await renderSource(inputFor("alias-bomb"), tools()));
    assert.equal(problem.kind, "limit");
    assert.match(problem.message, /^alias-bomb\/bomb\.yaml: document 1: .*alias/);
    assert.ok(Date.now() - started < 5_000);
  });

  it("reports Jsonnet as unsupported", async () => {
    const problem = problemOf(await renderSource(inputFor("jsonnet-guestbook"), tools()));
    assert.deepEqual(problem, {
      kind: "unsupported",
      message: "jsonnet-guestbook/guestbook-ui.jsonnet: Jsonnet is not supported by Flotilla",
    });
  });

  it("stops when the manifests exceed maxOutputBytes", async () => {
    const small = { ...tools(), maxOutputBytes: 300 };
    const problem = problemOf(await renderSource(inputFor("guestbook"), small));
    assert.equal(problem.kind, "limit");
  });
});

describe("renderSource: kustomize apps", () => {
  const tools = useRenderTools();

  it("builds kustomize-guestbook with its namePrefix", async () => {
    const outcome = await renderSource(inputFor("kustomize-guestbook"), tools());
    assert.equal(outcome.ok && outcome.tool, "kustomize");
    assert.deepEqual(objectsOf(outcome).map(subject), [
      "Service/kustomize-guestbook-ui",
      "Deployment/kustomize-guestbook-ui",
    ]);
  });

  it("builds an overlay that climbs to its base", async () => {
    const objects = objectsOf(await renderSource(inputFor("kustomize-overlays/overlays/staging"), tools()));
    assert.deepEqual(objects.map(subject), [
      "Service/staging/staging-podinfo",
      "Deployment/staging/staging-podinfo",
    ]);
    assert.equal((find(objects, "Deployment").spec as { replicas: number }).replicas, 2);
  });

  it("applies every Application kustomize option the way Argo CD does", async () => {
    const kustomize = {
      namePrefix: "app-",
      nameSuffix: "-v2",
      images: ["ghcr.io/stefanprodan/podinfo=registry.local/podinfo:$ARGOCD_APP_REVISION_SHORT"],
      commonLabels: { team: "platform", rev: "$ARGOCD_APP_REVISION_SHORT" },
      commonAnnotations: { owner: "$ARGOCD_APP_NAME" },
      namespace: "podinfo-staging",
      replicas: [{ name: "podinfo", count: "4" }],
      patches: [{ path: "replicas-patch.yaml" }],
      components: ["../../components/monitoring", "../../components/missing"],
      ignoreMissingComponents: true,
    };
    const objects = objectsOf(
      await renderSource(inputFor("kustomize-overlays/overlays/staging", { kustomize }), tools()),
    );
    assert.deepEqual(objects.map(subject), [
      "Service/podinfo-staging/app-podinfo-v2",
      "Deployment/podinfo-staging/app-podinfo-v2",
      "ServiceMonitor/podinfo-staging/app-podinfo-v2",
    ]);
    const deployment = find(objects, "Deployment");
    const spec = deployment.spec as {
      replicas: number;
      selector: { matchLabels: Record<string, string> };
      template: { spec: { containers: { image: string }[] } };
    };
    assert.equal(spec.replicas, 4);
    assert.equal(spec.template.spec.containers[0]?.image, "registry.local/podinfo:0123456");
    assert.equal(deployment.metadata.labels?.rev, "0123456");
    assert.equal(
      spec.selector.matchLabels.team,
      "platform",
      "commonLabels reach selectors without --without-selector",
    );
    // Annotations are substituted only with commonAnnotationsEnvsubst.
    assert.deepEqual(deployment.metadata.annotations, {
      owner: "$ARGOCD_APP_NAME",
      "patched-by": "application",
    });
  });

  it("keeps selectors untouched with labelWithoutSelector and substitutes annotations on request", async () => {
    const kustomize = {
      commonLabels: { team: "platform" },
      labelWithoutSelector: true,
      commonAnnotations: { owner: "$ARGOCD_APP_NAME" },
      commonAnnotationsEnvsubst: true,
    };
    const objects = objectsOf(await renderSource(inputFor("kustomize-guestbook", { kustomize }), tools()));
    const deployment = find(objects, "Deployment");
    assert.equal(deployment.metadata.labels?.team, "platform");
    assert.deepEqual((deployment.spec as { selector: unknown }).selector, {
      matchLabels: { app: "guestbook-ui" },
    });
    assert.equal(deployment.metadata.annotations?.owner, "echo");
  });

  it("appends inline patches with targets to the kustomization", async () => {
    const kustomize = {
      patches: [
        {
          target: { kind: "Deployment", name: "guestbook-ui" },
          patch: "- op: replace\n  path: /spec/replicas\n  value: 5",
        },
      ],
    };
    const objects = objectsOf(await renderSource(inputFor("kustomize-guestbook", { kustomize }), tools()));
    assert.equal((find(objects, "Deployment").spec as { replicas: number }).replicas, 5);
  });

  it("reports a missing component unless ignoreMissingComponents", async () => {
    const problem = problemOf(
      await renderSource(
        inputFor("kustomize-guestbook", { kustomize: { components: ["missing"] } }),
        tools(),
      ),
    );
    assert.equal(problem.kind, "render");
    assert.match(problem.message, /^kustomize edit \(components\) in kustomize-guestbook failed/);
  });

  it("reports a non-integer replica count as invalid", async () => {
    const kustomize = { replicas: [{ name: "guestbook-ui", count: "many" }] };
    const problem = problemOf(await renderSource(inputFor("kustomize-guestbook", { kustomize }), tools()));
    assert.equal(problem.kind, "invalid");
  });

  it("fails fast on a remote base instead of reaching the network", async () => {
    const started = Date.now();
    const problem = problemOf(await renderSource(inputFor("kustomize-remote-base"), tools()));
    assert.ok(Date.now() - started < 10_000);
    assert.equal(problem.kind, "render");
    assert.match(
      problem.message,
      /kustomize-remote-base\/kustomization\.yaml: remote reference https:\/\/github\.com/,
    );
  });

  it("runs kustomize with no network: a remote base it is handed fails within seconds", async () => {
    // Bypasses the pre-check above, to show the tool environment itself is cut off.
    const scratch = await mkdtemp(join(tmpdir(), "flotilla-kustomize-net-"));
    try {
      const started = Date.now();
      const build = runTool({
        label: "kustomize build",
        executable: tools().kustomizePath,
        args: ["build", join(EXAMPLE_APPS, "kustomize-remote-base")],
        cwd: scratch,
        env: await createToolEnv(scratch),
        timeoutMs: 30_000,
        maxOutputBytes: 1024 * 1024,
      });
      await assert.rejects(build, (error: Error) => /github\.com/.test(error.message));
      assert.ok(Date.now() - started < 10_000);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });

  it("reports a resource that climbs out of the repository", async () => {
    const problem = problemOf(await renderSource(inputFor("kustomize-escape"), tools()));
    assert.deepEqual(problem, {
      kind: "invalid",
      message:
        "kustomize-escape/kustomization.yaml: ../../../../../../../../etc/flotilla-not-here resolves outside the repository",
    });
  });

  it("never writes to the checkout", async () => {
    const repo = await copyRepo(EXAMPLE_APPS);
    try {
      const checkout = { dir: repo, commit: COMMIT, unsafeLinks: [], oversized: [] };
      const kustomize = { namePrefix: "changed-", patches: [{ path: "guestbook-ui-svc.yaml" }] };
      objectsOf(await renderSource(inputFor("kustomize-guestbook", { kustomize }, { checkout }), tools()));
      const original = await readFile(join(repo, "kustomize-guestbook", "kustomization.yaml"), "utf8");
      assert.match(original, /^namePrefix: kustomize-$/m);
      assert.doesNotMatch(original, /patches/);
    } finally {
      await rm(repo, { recursive: true, force: true });
    }
  });
});

describe("renderSource: helm apps", () => {
  const tools = useRenderTools();

  it("renders helm-guestbook with the app name as release name", async () => {
    const outcome = await renderSource(
      inputFor("helm-guestbook", {}, { appName: "helm-guestbook" }),
      tools(),
    );
    assert.equal(outcome.ok && outcome.tool, "helm");
    const objects = objectsOf(outcome);
    assert.deepEqual(objects.map(subject), ["Service/helm-guestbook", "Deployment/helm-guestbook"]);
    assert.equal((find(objects, "Service").spec as { type: string }).type, "ClusterIP");
  });

  it("uses releaseName and valueFiles", async () => {
    const helm = { releaseName: "guestbook", valueFiles: ["values-production.yaml"] };
    const objects = objectsOf(await renderSource(inputFor("helm-guestbook", { helm }), tools()));
    assert.deepEqual(objects.map(subject), [
      "Service/guestbook-helm-guestbook",
      "Deployment/guestbook-helm-guestbook",
    ]);
    assert.equal((find(objects, "Service").spec as { type: string }).type, "LoadBalancer");
  });

  it("layers chart values < valueFiles in order < valuesObject (over values) < parameters", async () => {
    const helm = {
      valueFiles: ["values/common.yaml", "../shared-values/team.yaml", "values/prod.yaml"],
      values: "fromValues: true\nlayer: values",
      valuesObject: { fromObject: true, replicas: 5, layer: "valuesObject" },
      parameters: [{ name: "nested.fromParameter", value: "yes" }],
    };
    const values = echoedValues(objectsOf(await renderSource(inputFor("helm-params", { helm }), tools())));
    assert.deepEqual(values, {
      layer: "valuesObject",
      replicas: 5,
      list: ["chart"],
      nested: { fromChart: true, fromParameter: "yes" },
      fromCommon: true,
      team: "platform",
      fromObject: true,
    });
    const withoutObject = {
      ...helm,
      valuesObject: undefined,
      parameters: [{ name: "layer", value: "parameter" }],
    };
    const layered = echoedValues(
      objectsOf(await renderSource(inputFor("helm-params", { helm: withoutObject }), tools())),
    );
    assert.equal(layered.layer, "parameter");
    assert.equal(layered.fromValues, true);
    assert.equal(layered.replicas, 3, "values/prod.yaml is the last values file");
  });

  it("passes parameter values with commas, dots and equals signs literally and types them like --set", async () => {
    const helm = {
      parameters: [
        { name: "csv", value: "a,b,c" },
        { name: "host", value: "db.example.com" },
        { name: "query", value: "a=b,c=d" },
        { name: "replicas", value: "7" },
        { name: "enabled", value: "true" },
        { name: "version", value: "1.10" },
        { name: "pinned", value: "true", forceString: true },
        { name: "annotations.example\\.com/team", value: "x" },
        { name: "list[1]", value: "second" },
        { name: "braced", value: "{x,y}" },
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Argo CD's ${VAR} syntax, not a template
        { name: "app", value: "$ARGOCD_APP_NAME-${ARGOCD_APP_NAMESPACE}" },
        { name: "escapedComma", value: "a\\,b" },
      ],
    };
    const values = echoedValues(objectsOf(await renderSource(inputFor("helm-params", { helm }), tools())));
    assert.equal(values.csv, "a,b,c");
    assert.equal(values.host, "db.example.com");
    assert.equal(values.query, "a=b,c=d");
    assert.equal(values.replicas, 7);
    assert.equal(values.enabled, true);
    assert.equal(values.version, "1.10");
    assert.equal(values.pinned, "true");
    assert.deepEqual(values.annotations, { "example.com/team": "x" });
    assert.deepEqual(values.list, [null, "second"], "helm's --set builds a new list, as under Argo CD");
    assert.deepEqual(values.braced, ["x", "y"], "Argo CD passes {a,b} as Helm's list syntax");
    assert.equal(values.app, "echo-apps");
    assert.equal(values.escapedComma, "a,b");
  });

  it("reads fileParameters from the repository", async () => {
    const helm = { fileParameters: [{ name: "banner", path: "files/banner.txt" }] };
    const values = echoedValues(objectsOf(await renderSource(inputFor("helm-params", { helm }), tools())));
    assert.equal(values.banner, "Hello, from a file parameter\n");
  });

  it("reads $ref valueFiles from another source's checkout", async () => {
    const helm = { valueFiles: ["values/common.yaml", "$values/envs/prod/values.yaml"] };
    const refs = { values: { dir: VALUES_REPO, commit: COMMIT } };
    const values = echoedValues(
      objectsOf(await renderSource(inputFor("helm-params", { helm }, { refs }), tools())),
    );
    assert.equal(values.layer, "from-ref");
    assert.equal(values.environment, "prod");
    assert.equal(values.fromCommon, true);
  });

  it("expands valueFiles globs in lexical order", async () => {
    const helm = { valueFiles: ["values/*.yaml"] };
    const values = echoedValues(objectsOf(await renderSource(inputFor("helm-params", { helm }), tools())));
    assert.equal(values.layer, "prod");
    assert.equal(values.fromCommon, true);
  });

  it("reports a missing values file unless ignoreMissingValueFiles", async () => {
    const helm = { valueFiles: ["values/missing.yaml", "values/prod.yaml"] };
    const problem = problemOf(await renderSource(inputFor("helm-params", { helm }), tools()));
    assert.deepEqual(problem, {
      kind: "render",
      message: "helm.valueFiles: values/missing.yaml: no such file in the repository",
    });
    const ignoring = { ...helm, ignoreMissingValueFiles: true };
    const values = echoedValues(
      objectsOf(await renderSource(inputFor("helm-params", { helm: ignoring }), tools())),
    );
    assert.equal(values.layer, "prod");
  });

  it("reports values files that leave the repository", async () => {
    const helm = { valueFiles: ["../../../../../../etc/hostname"] };
    const problem = problemOf(await renderSource(inputFor("helm-params", { helm }), tools()));
    assert.equal(problem.kind, "invalid");
    assert.match(problem.message, /resolves outside the repository root/);
    const remote = { valueFiles: ["https://example.com/values.yaml"] };
    assert.equal(
      problemOf(await renderSource(inputFor("helm-params", { helm: remote }), tools())).kind,
      "unsupported",
    );
  });

  it("includes CRDs and tests unless skipCrds and skipTests", async () => {
    const all = objectsOf(await renderSource(inputFor("helm-params"), tools()));
    assert.deepEqual(all.map(subject), [
      "CustomResourceDefinition/widgets.example.com",
      "ConfigMap/apps/echo-echo",
      "Pod/echo-test",
    ]);
    const helm = { skipCrds: true, skipTests: true };
    const some = objectsOf(await renderSource(inputFor("helm-params", { helm }), tools()));
    assert.deepEqual(some.map(subject), ["ConfigMap/apps/echo-echo"]);
  });

  it("uses helm.namespace, the cluster's kube version and API versions", async () => {
    const input = inputFor(
      "helm-params",
      { helm: { namespace: "custom" } },
      { kubeVersion: "v1.29.3-gke.1000", apiVersions: ["monitoring.coreos.com/v1/ServiceMonitor"] },
    );
    const configMap = find(objectsOf(await renderSource(input, tools())), "ConfigMap");
    assert.equal(configMap.metadata.namespace, "custom");
    assert.deepEqual(
      {
        kubeVersion: (configMap.data as Record<string, string>).kubeVersion,
        has: (configMap.data as Record<string, string>).hasServiceMonitor,
      },
      { kubeVersion: "v1.29.3", has: "true" },
    );
  });

  it("reports dependencies that are not vendored, naming them", async () => {
    const started = Date.now();
    const problem = problemOf(await renderSource(inputFor("helm-missing-dependency"), tools()));
    assert.equal(problem.kind, "render");
    assert.match(
      problem.message,
      /^helm-missing-dependency: chart dependencies not vendored in charts\/: redis;/,
    );
    assert.ok(Date.now() - started < 10_000);
  });

  it("stops a render whose output exceeds maxOutputBytes", async () => {
    const problem = problemOf(
      await renderSource(inputFor("helm-guestbook"), { ...tools(), maxOutputBytes: 200 }),
    );
    assert.deepEqual(problem, {
      kind: "limit",
      message: "helm template helm-guestbook: output exceeds 200 bytes",
    });
  });

  it("unit: escapes commas as Argo CD's cleanSetParameters does", () => {
    assert.equal(escapeSetValue("a,b"), "a\\,b");
    assert.equal(escapeSetValue("a\\,b"), "a\\,b");
    assert.equal(escapeSetValue("{a,b}"), "{a,b}");
    assert.equal(escapeSetValue("x.y=z"), "x.y=z");
  });

  it("unit: normalises kube versions like Kubernetes' ParseGeneric", () => {
    assert.equal(parseKubeVersion("v1.29.3-gke.1000"), "1.29.3");
    assert.equal(parseKubeVersion("1.30"), "1.30");
    assert.equal(parseKubeVersion(""), "");
    assert.throws(() => parseKubeVersion("latest"));
  });
});

describe("renderSource: detection, overrides and unsupported sources", () => {
  const tools = useRenderTools();

  it("prefers a kustomization over Chart.yaml, and an explicit helm block over both", async () => {
    const detected = await renderSource(inputFor("kustomized-helm"), tools());
    assert.equal(detected.ok && detected.tool, "kustomize");
    assert.deepEqual(objectsOf(detected).map(subject), ["ConfigMap/from-kustomize"]);
    const explicit = await renderSource(inputFor("kustomized-helm", { helm: {} }), tools());
    assert.equal(explicit.ok && explicit.tool, "helm");
    assert.deepEqual(objectsOf(explicit).map(subject), ["ConfigMap/from-helm"]);
  });

  it("merges .argocd-source.yaml and .argocd-source-<app>.yaml onto the source", async () => {
    const echo = objectsOf(await renderSource(inputFor("helm-overrides"), tools()));
    assert.deepEqual(echo.map(subject), ["ConfigMap/apps/echo-echo"]);
    assert.equal(echoedValues(echo).layer, "from-override");
    const special = objectsOf(
      await renderSource(inputFor("helm-overrides", {}, { appName: "special" }), tools()),
    );
    assert.deepEqual(special.map(subject), ["ConfigMap/apps/special-release-echo"]);
  });

  it("reports more than one explicit tool block as invalid", async () => {
    const problem = problemOf(
      await renderSource(inputFor("guestbook", { helm: {}, directory: {} }), tools()),
    );
    assert.deepEqual(problem, {
      kind: "invalid",
      message: "multiple application sources defined: Helm,Directory",
    });
  });

  it("reports plugins and chart repositories as unsupported", async () => {
    const plugin = problemOf(
      await renderSource(inputFor("guestbook", { plugin: { name: "kasane" } }), tools()),
    );
    assert.deepEqual(plugin, {
      kind: "unsupported",
      message: "config management plugin kasane: Flotilla does not run plugins",
    });
    const chart = problemOf(
      await renderSource(inputFor("", { chart: "redis", targetRevision: "19.0.0" }), tools()),
    );
    assert.equal(chart.kind, "unsupported");
  });

  it("renders nothing for a ref-only source", async () => {
    const outcome = await renderSource(inputFor("", { ref: "values" }), tools());
    assert.deepEqual(objectsOf(outcome), []);
  });
});

describe("renderSource: hostile repositories", () => {
  const tools = useRenderTools();
  const repos: string[] = [];
  after(async () => {
    await Promise.all(repos.map((dir) => rm(dir, { recursive: true, force: true })));
  });
  async function hostileRepo(): Promise<string> {
    const repo = await copyRepo(EXAMPLE_APPS);
    repos.push(repo);
    return repo;
  }
  const checkoutAt = (dir: string, extra: Partial<RenderInput["checkout"]> = {}) => ({
    checkout: { dir, commit: COMMIT, unsafeLinks: [], oversized: [], ...extra },
  });

  it("reports app paths that escape the repository, are absolute or do not exist", async () => {
    const kinds = await Promise.all(
      ["../outside", "/etc", "guestbook/../../..", "no-such-app"].map(async (path) =>
        problemOf(await renderSource(inputFor(path), tools())),
      ),
    );
    assert.deepEqual(
      kinds.map((p) => p.kind),
      ["invalid", "invalid", "invalid", "invalid"],
    );
    assert.match(kinds[0]?.message ?? "", /outside repository root/);
    assert.match(kinds[1]?.message ?? "", /absolute/);
  });

  it("reports a symlink in a directory app that leaves the repository", async () => {
    const repo = await hostileRepo();
    await symlink("/etc/hostname", join(repo, "guestbook", "leak.yaml"));
    const problem = problemOf(await renderSource(inputFor("guestbook", {}, checkoutAt(repo)), tools()));
    assert.deepEqual(problem, {
      kind: "render",
      message: "guestbook/leak.yaml: symlink leaves the repository",
    });
  });

  it("reports a chart holding a symlink that leaves the repository, and never lets helm read it", async () => {
    const repo = await hostileRepo();
    await symlink(
      "../../../../../../../../etc/hostname",
      join(repo, "helm-guestbook", "templates", "leak.yaml"),
    );
    const problem = problemOf(await renderSource(inputFor("helm-guestbook", {}, checkoutAt(repo)), tools()));
    assert.deepEqual(problem, {
      kind: "render",
      message: "helm-guestbook/templates/leak.yaml: symlink leaves the repository",
    });
  });

  it("follows symlinks that stay inside the repository", async () => {
    const repo = await hostileRepo();
    await mkdir(join(repo, "linked"));
    await symlink("../guestbook/guestbook-ui-svc.yaml", join(repo, "linked", "svc.yaml"));
    const objects = objectsOf(await renderSource(inputFor("linked", {}, checkoutAt(repo)), tools()));
    assert.deepEqual(objects.map(subject), ["Service/guestbook-ui"]);
  });

  it("renders a chart whose vendored dependency links to a library chart elsewhere in the repository", async () => {
    const repo = await hostileRepo();
    const files: Record<string, string> = {
      "libraries/common/Chart.yaml": "apiVersion: v2\nname: common\ntype: library\nversion: 0.1.0\n",
      "libraries/common/templates/_names.tpl":
        '{{- define "common.name" -}}{{ .Release.Name }}-common{{- end -}}\n',
      "uses-library/Chart.yaml":
        "apiVersion: v2\nname: uses-library\nversion: 0.1.0\ndependencies:\n  - name: common\n    version: 0.1.0\n",
      "uses-library/templates/configmap.yaml":
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ include "common.name" . }}\n',
    };
    for (const [path, text] of Object.entries(files)) {
      await mkdir(join(repo, path, ".."), { recursive: true });
      await writeFile(join(repo, path), text);
    }
    await mkdir(join(repo, "uses-library", "charts"));
    await symlink("../../libraries/common", join(repo, "uses-library", "charts", "common"));
    const objects = objectsOf(await renderSource(inputFor("uses-library", {}, checkoutAt(repo)), tools()));
    assert.deepEqual(objects.map(subject), ["ConfigMap/echo-common"]);
  });

  it("reports unsafe links and oversized files the checkout lists under the app path", async () => {
    const unsafe = checkoutAt(EXAMPLE_APPS, { unsafeLinks: ["guestbook/evil.yaml"] });
    assert.deepEqual(problemOf(await renderSource(inputFor("guestbook", {}, unsafe), tools())), {
      kind: "render",
      message: "guestbook/evil.yaml: symlink leaves the repository",
    });
    const oversized = checkoutAt(EXAMPLE_APPS, { oversized: ["helm-guestbook/values.yaml"] });
    assert.deepEqual(problemOf(await renderSource(inputFor("helm-guestbook", {}, oversized), tools())), {
      kind: "limit",
      message: "helm-guestbook/values.yaml: file exceeds the repository file size limit",
    });
    const elsewhere = checkoutAt(EXAMPLE_APPS, { unsafeLinks: ["helm-guestbook/evil.yaml"] });
    objectsOf(await renderSource(inputFor("guestbook", {}, elsewhere), tools()));
  });

  it("kills a tool that hangs and reports the time limit", async () => {
    const repo = await hostileRepo();
    const hang = join(repo, "hang.sh");
    const pidFile = join(repo, "child.pid");
    await writeFile(hang, `#!/bin/sh\nsleep 300 &\necho $! > ${pidFile}\nwait\n`);
    await chmod(hang, 0o755);
    const started = Date.now();
    const problem = problemOf(
      await renderSource(inputFor("helm-guestbook", {}, checkoutAt(repo)), {
        ...tools(),
        helmPath: hang,
        timeoutMs: 500,
      }),
    );
    assert.deepEqual(problem, {
      kind: "limit",
      message: "helm template helm-guestbook: did not finish within 500 ms",
    });
    assert.ok(Date.now() - started < 5_000);
    const pid = Number((await readFile(pidFile, "utf8")).trim());
    await waitFor(() => !isAlive(pid), 5_000, `the tool's child ${pid} is still running`);
  });

  it("leaves no throw-away directories behind", async () => {
    objectsOf(await renderSource(inputFor("kustomize-guestbook"), tools()));
    problemOf(await renderSource(inputFor("helm-missing-dependency"), tools()));
    assert.deepEqual(await readdir(tools().workDir), []);
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers signal 0; it is gone for our purposes once it is not running.
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

async function waitFor(condition: () => boolean, timeoutMs: number, message: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(message);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
