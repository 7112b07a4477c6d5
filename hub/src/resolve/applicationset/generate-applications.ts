// An ApplicationSet to the Applications Argo CD's ApplicationSet controller would generate from it
// (argo-cd applicationset/controllers/template/template.go GenerateApplications and
// applicationset/utils/utils.go RenderTemplateParams). See ../shared/research/argocd-semantics.md §5.

import type { KubeObject, ObjectMeta } from "../../render/kube-object.js";
import type { Cluster } from "../cluster.js";
import type { Problem } from "../problem.js";
import { isObject, type JsonObject, transformGenerator } from "./generate-params.js";
import {
  type ApplicationSetLimits,
  classifyError,
  DEFAULT_APPLICATIONSET_LIMITS,
  type GeneratorContext,
  type GitReader,
} from "./generator-context.js";
import { cloneGoValue } from "./go-value.js";
import { parseYamlLikeGo } from "./go-yaml.js";
import type { ParamSet } from "./param-set.js";
import {
  renderTemplateValue,
  replaceTemplate,
  selectTemplateEngine,
  type TemplateEngine,
} from "./render-template.js";

export type { GitReader } from "./generator-context.js";

export const APPLICATION_API_VERSION = "argoproj.io/v1alpha1";
export const RESOURCES_FINALIZER = "resources-finalizer.argocd.argoproj.io";

export type GenerateContext = {
  clusters: readonly Cluster[];
  git: GitReader;
  /**
   * Argo CD always knows its own cluster, so an empty clusters selector yields `in-cluster` even
   * without a cluster Secret. Default true (Argo's behaviour); the hub passes false, because its
   * registry is the only source of clusters and an unregistered `in-cluster` could never sync.
   */
  addImplicitInCluster?: boolean;
  limits?: Partial<ApplicationSetLimits>;
};

export type GenerateResult = {
  /** The generated Applications, in generator order; empty when any generator or template failed. */
  applications: KubeObject[];
  problems: Problem[];
  /** `spec.strategy` as written (RollingSync steps), for a later progressive rollout. */
  strategy?: unknown;
};

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const TEMPLATE_META_FIELDS = ["name", "namespace", "labels", "annotations", "finalizers"] as const;

/** Remembers listings and file reads for the length of one ApplicationSet (a matrix reads the same repo per param set). */
function memoizeGitReader(git: GitReader): GitReader {
  const cache = new Map<string, Promise<unknown>>();
  const remember = <T>(key: string, read: () => Promise<T>): Promise<T> => {
    let pending = cache.get(key) as Promise<T> | undefined;
    if (!pending) {
      pending = read();
      cache.set(key, pending);
    }
    return pending;
  };
  return {
    listDirectories: (repoURL, revision) =>
      remember(`d\0${repoURL}\0${revision}`, () => git.listDirectories(repoURL, revision)),
    listFiles: (repoURL, revision) =>
      remember(`f\0${repoURL}\0${revision}`, () => git.listFiles(repoURL, revision)),
    readFile: (repoURL, revision, path) =>
      remember(`r\0${repoURL}\0${revision}\0${path}`, () => git.readFile(repoURL, revision, path)),
  };
}

/**
 * Generates the Applications of one ApplicationSet. Never throws: every failure is a Problem for
 * the ApplicationSet (`app` is its name). As in Argo CD, a generator or template error fails the
 * whole ApplicationSet (no Applications), while an Application without a valid name or with the
 * name of an earlier one is dropped on its own.
 */
export async function generateApplications(
  appSet: KubeObject,
  context: GenerateContext,
): Promise<GenerateResult> {
  const appSetName = appSet.metadata.name ?? "";
  const problems: Problem[] = [];
  const report = (kind: Problem["kind"], message: string) =>
    problems.push({ app: appSetName, kind, message });
  const spec = appSet.spec;
  const strategy = isObject(spec) ? spec.strategy : undefined;
  const finish = (applications: KubeObject[]): GenerateResult => ({
    applications,
    problems,
    ...(strategy !== undefined ? { strategy } : {}),
  });
  if (!isObject(spec)) {
    report("invalid", "spec is missing");
    return finish([]);
  }

  const limits: ApplicationSetLimits = { ...DEFAULT_APPLICATIONSET_LIMITS, ...context.limits };
  let engine: TemplateEngine;
  try {
    engine = selectTemplateEngine(
      readGoTemplate(spec.goTemplate),
      readOptions(spec.goTemplateOptions),
      limits,
    );
  } catch (error) {
    report("invalid", (error as Error).message);
    return finish([]);
  }
  const generators = spec.generators ?? [];
  const template = spec.template ?? {};
  if (!Array.isArray(generators)) report("invalid", "spec.generators must be a list");
  if (!isObject(template)) report("invalid", "spec.template must be an object");
  if (
    spec.templatePatch !== undefined &&
    spec.templatePatch !== null &&
    typeof spec.templatePatch !== "string"
  ) {
    report("invalid", "spec.templatePatch must be a string");
  }
  if (problems.length > 0 || !Array.isArray(generators) || !isObject(template)) return finish([]);

  const generatorContext: GeneratorContext = {
    clusters: context.clusters,
    git: memoizeGitReader(context.git),
    engine,
    limits,
    addImplicitInCluster: context.addImplicitInCluster ?? true,
  };
  const rendered: { app: JsonObject; where: string }[] = [];
  for (const [i, generator] of generators.entries()) {
    const where = `generators[${i}]${describeGenerator(generator)}`;
    try {
      const results = await transformGenerator(generator, template, generatorContext, { level: 0 });
      // Argo CD reports the first failure; so do we, with a count of the others.
      const failures: { index: number; error: unknown }[] = [];
      for (const { params, template: merged } of results) {
        for (const [j, set] of params.entries()) {
          try {
            rendered.push({ app: renderApplication(merged, set, spec, engine), where });
          } catch (error) {
            failures.push({ index: j, error });
          }
        }
      }
      const [first] = failures;
      if (first) {
        const others = failures.length > 1 ? ` (and ${failures.length - 1} more param sets)` : "";
        report(
          classifyError(first.error),
          `${where}: param set ${first.index}: ${(first.error as Error).message}${others}`,
        );
      }
    } catch (error) {
      report(classifyError(error), `${where}: ${(error as Error).message}`);
    }
    if (rendered.length > limits.maxApplications) {
      report("limit", `${where}: generated more than ${limits.maxApplications} applications`);
      return finish([]);
    }
  }
  if (problems.length > 0) return finish([]);

  const namespace = appSet.metadata.namespace;
  const names = new Set<string>();
  const applications: KubeObject[] = [];
  for (const { app, where } of rendered) {
    const application = buildApplication(app, namespace);
    const name = application.metadata.name;
    if (name === undefined || name === "") {
      report(
        "invalid",
        `${where}: an application has no name; the template's metadata.name must render to one`,
      );
    } else if (names.has(name)) {
      report("duplicate", `${where}: contains applications with duplicate name: ${name}`);
    } else if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
      report(
        "invalid",
        `${where}: application name ${JSON.stringify(name)} is not a valid lowercase RFC 1123 subdomain`,
      );
    } else {
      names.add(name);
      applications.push(application);
    }
  }
  return finish(applications);
}

function readGoTemplate(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== "boolean") throw new Error("spec.goTemplate must be a boolean");
  return value;
}

function readOptions(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((option) => typeof option !== "string")) {
    throw new Error("spec.goTemplateOptions must be a list of strings");
  }
  return value as string[];
}

function describeGenerator(generator: unknown): string {
  if (!isObject(generator)) return "";
  const kinds = Object.keys(generator).filter((key) => key !== "selector");
  return kinds.length > 0 ? ` (${kinds.join(", ")})` : "";
}

/**
 * RenderTemplateParams for one param set, then templatePatch. With an empty param set the
 * template is used as written and gets no finalizer, as in Argo CD.
 */
function renderApplication(
  template: JsonObject,
  params: ParamSet,
  appSetSpec: JsonObject,
  engine: TemplateEngine,
): JsonObject {
  const source = templateSource(template);
  let app: JsonObject;
  if (Object.keys(params).length === 0) {
    app = structuredClone(source);
  } else {
    // A template function may change a map it was given (set, merge): then each Application
    // gets its own copy of the params.
    const own = mayChangeParams(source, appSetSpec) ? (cloneGoValue(params) as ParamSet) : params;
    app = renderTemplateValue(source, own, engine) as JsonObject;
    // Parts of the template without `{{` come back shared (see renderTemplateValue): copy the
    // two levels changed below, never the template itself.
    if (app === source) app = { ...source };
    if (app.metadata === source.metadata) app.metadata = { ...(source.metadata as JsonObject) };
    const syncPolicy = appSetSpec.syncPolicy;
    const preserve = isObject(syncPolicy) && syncPolicy.preserveResourcesOnDeletion === true;
    const appMeta = app.metadata as JsonObject;
    const finalizers = appMeta.finalizers;
    if (!preserve && (!Array.isArray(finalizers) || finalizers.length === 0))
      appMeta.finalizers = [RESOURCES_FINALIZER];
  }
  const patch = appSetSpec.templatePatch;
  if (typeof patch === "string")
    app = applyTemplatePatch(app, replaceTemplate(patch, cloneGoValue(params) as ParamSet, engine));
  return app;
}

// One source per template (a generator renders its template once per param set), so the parts of
// the template without `{{` are recognised once and shared (see renderTemplateValue).
const templateSources = new WeakMap<JsonObject, JsonObject>();

/** The fields of the template an Application is rendered from: metadata's TEMPLATE_META_FIELDS and spec. */
function templateSource(template: JsonObject): JsonObject {
  let source = templateSources.get(template);
  if (!source) {
    const metadata = isObject(template.metadata) ? template.metadata : {};
    source = { metadata: {}, spec: template.spec ?? {} };
    for (const field of TEMPLATE_META_FIELDS) {
      if (metadata[field] !== undefined && metadata[field] !== null)
        (source.metadata as JsonObject)[field] = metadata[field];
    }
    templateSources.set(template, source);
  }
  return source;
}

/**
 * Names (or parts of names) of the template functions that change a map or list they are given
 * (set, unset, merge*, and, to be safe, anything that could be one); `call` could run any.
 */
const CHANGING_FUNCTIONS = /set|merge|push|append|prepend|sort|reverse|call/i;
const changingTemplates = new WeakMap<JsonObject, boolean>();

/** Whether rendering the template (or its templatePatch) could change the params it is given. */
function mayChangeParams(source: JsonObject, appSetSpec: JsonObject): boolean {
  if (typeof appSetSpec.templatePatch === "string" && CHANGING_FUNCTIONS.test(appSetSpec.templatePatch))
    return true;
  let found = changingTemplates.get(source);
  if (found === undefined) {
    found = anyTemplateString(source, (text) => text.includes("{{") && CHANGING_FUNCTIONS.test(text));
    changingTemplates.set(source, found);
  }
  return found;
}

function anyTemplateString(value: unknown, test: (text: string) => boolean): boolean {
  if (typeof value === "string") return test(value);
  if (Array.isArray(value)) return value.some((item) => anyTemplateString(item, test));
  if (typeof value === "object" && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      if (test(key) || anyTemplateString(item, test)) return true;
    }
  }
  return false;
}

/** Argo's templatePatch: a strategic merge patch (for Application, a JSON merge patch) that may not change the project. */
function applyTemplatePatch(app: JsonObject, patchText: string): JsonObject {
  let patch: unknown;
  try {
    patch = parseYamlLikeGo(patchText);
  } catch (error) {
    throw new Error(`error while converting templatePatch to json: ${(error as Error).message}`);
  }
  if (patch === null) return app;
  if (!isObject(patch))
    throw new Error(`invalid templatePatch ${JSON.stringify(patchText)}: it is not an object`);
  const patched = applyMergePatch(app, patch) as JsonObject;
  const project = isObject(app.spec) ? app.spec.project : undefined;
  const spec = isObject(patched.spec) ? patched.spec : {};
  patched.spec = spec;
  if (project === undefined) delete spec.project;
  else spec.project = project;
  return patched;
}

function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = applyMergePatch(out[key], value);
  }
  return out;
}

function buildApplication(app: JsonObject, namespace: string | undefined): KubeObject {
  const source = isObject(app.metadata) ? app.metadata : {};
  const metadata: ObjectMeta = {};
  if (typeof source.name === "string" && source.name !== "") metadata.name = source.name;
  if (namespace) metadata.namespace = namespace;
  if (isObject(source.labels) && Object.keys(source.labels).length > 0) {
    metadata.labels = source.labels as Record<string, string>;
  }
  if (isObject(source.annotations) && Object.keys(source.annotations).length > 0) {
    metadata.annotations = source.annotations as Record<string, string>;
  }
  if (Array.isArray(source.finalizers) && source.finalizers.length > 0)
    metadata.finalizers = source.finalizers;
  return {
    apiVersion: APPLICATION_API_VERSION,
    kind: "Application",
    metadata,
    spec: isObject(app.spec) ? app.spec : {},
  };
}
