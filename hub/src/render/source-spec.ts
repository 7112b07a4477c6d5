// The parts of an Argo CD Application that say how to render one source (spec.source or one
// entry of spec.sources), as written in Git. Field names and meanings follow Argo CD
// (pkg/apis/application/v1alpha1/types.go); see ../shared/research/argocd-semantics.md §1.1.

export type ApplicationSource = {
  repoURL: string;
  path?: string;
  /** Branch, tag or commit; empty means HEAD. */
  targetRevision?: string;
  /** Helm chart name when repoURL is a chart repository (not supported: no network). */
  chart?: string;
  /** Makes this source addressable as `$<ref>` at the start of a Helm valueFiles entry. */
  ref?: string;
  name?: string;
  helm?: HelmOptions;
  kustomize?: KustomizeOptions;
  directory?: DirectoryOptions;
  plugin?: { name?: string; env?: { name: string; value: string }[]; parameters?: unknown[] };
};

export type HelmOptions = {
  releaseName?: string;
  namespace?: string;
  valueFiles?: string[];
  values?: string;
  /** Wins over `values` when both are set. */
  valuesObject?: Record<string, unknown>;
  parameters?: { name: string; value: string; forceString?: boolean }[];
  fileParameters?: { name: string; path: string }[];
  ignoreMissingValueFiles?: boolean;
  skipCrds?: boolean;
  skipTests?: boolean;
  skipSchemaValidation?: boolean;
  kubeVersion?: string;
  apiVersions?: string[];
  passCredentials?: boolean;
  version?: string;
};

export type KustomizeOptions = {
  namePrefix?: string;
  nameSuffix?: string;
  /** `kustomize edit set image` syntax: `name=repo:tag`, `name:tag`, `name@digest`. */
  images?: string[];
  commonLabels?: Record<string, string>;
  commonAnnotations?: Record<string, string>;
  forceCommonLabels?: boolean;
  forceCommonAnnotations?: boolean;
  commonAnnotationsEnvsubst?: boolean;
  labelWithoutSelector?: boolean;
  labelIncludeTemplates?: boolean;
  namespace?: string;
  replicas?: { name: string; count: number | string }[];
  patches?: {
    path?: string;
    patch?: string;
    target?: Record<string, unknown>;
    options?: Record<string, boolean>;
  }[];
  components?: string[];
  ignoreMissingComponents?: boolean;
  version?: string;
  kubeVersion?: string;
  apiVersions?: string[];
};

export type DirectoryOptions = {
  recurse?: boolean;
  /** One glob; `{a,b}` alternation allowed; `*` also matches `/` (gobwas/glob without separators). */
  include?: string;
  exclude?: string;
  jsonnet?: {
    extVars?: { name: string; value: string; code?: boolean }[];
    tlas?: { name: string; value: string; code?: boolean }[];
    libs?: string[];
  };
  disableExtensionFilter?: boolean;
};

/** How one field of a source is written, for checkSourceOptions. */
type FieldRule =
  | "string"
  | "requiredString"
  | "bool"
  | "strings"
  | "map"
  | "stringMap"
  | "intOrString"
  | "requiredIntOrString"
  | Record<string, FieldRule>[];

const HELM_RULES: Record<string, FieldRule> = {
  releaseName: "string",
  namespace: "string",
  valueFiles: "strings",
  values: "string",
  valuesObject: "map",
  parameters: [{ name: "requiredString", value: "string", forceString: "bool" }],
  fileParameters: [{ name: "requiredString", path: "requiredString" }],
  ignoreMissingValueFiles: "bool",
  skipCrds: "bool",
  skipTests: "bool",
  skipSchemaValidation: "bool",
  kubeVersion: "string",
  apiVersions: "strings",
  passCredentials: "bool",
  version: "string",
};

const KUSTOMIZE_RULES: Record<string, FieldRule> = {
  namePrefix: "string",
  nameSuffix: "string",
  images: "strings",
  commonLabels: "stringMap",
  commonAnnotations: "stringMap",
  forceCommonLabels: "bool",
  forceCommonAnnotations: "bool",
  commonAnnotationsEnvsubst: "bool",
  labelWithoutSelector: "bool",
  labelIncludeTemplates: "bool",
  namespace: "string",
  replicas: [{ name: "requiredString", count: "requiredIntOrString" }],
  patches: [{ path: "string", patch: "string", target: "map", options: "map" }],
  components: "strings",
  ignoreMissingComponents: "bool",
  version: "string",
  kubeVersion: "string",
  apiVersions: "strings",
};

const DIRECTORY_RULES: Record<string, FieldRule> = {
  recurse: "bool",
  include: "string",
  exclude: "string",
  jsonnet: "map",
  disableExtensionFilter: "bool",
};

const SOURCE_RULES: Record<string, FieldRule> = {
  path: "string",
  targetRevision: "string",
  chart: "string",
  ref: "string",
  name: "string",
  plugin: "map",
};

const BLOCK_RULES: Record<string, Record<string, FieldRule>> = {
  helm: HELM_RULES,
  kustomize: KUSTOMIZE_RULES,
  directory: DIRECTORY_RULES,
};

/**
 * Why the fields of a source (as written in an Application, after `.argocd-source*.yaml`
 * overrides) do not have the types Argo CD's Application schema gives them, or undefined:
 * "helm.valueFiles must be a list of strings". The API server would refuse such an Application
 * before Argo CD saw it. Null counts as unset, as in Go; unknown fields are left alone.
 */
export function checkSourceOptions(source: unknown): string | undefined {
  if (!isMapping(source)) return "the source must be a mapping";
  const problem = checkFields(source, SOURCE_RULES, "");
  if (problem) return problem;
  for (const [block, rules] of Object.entries(BLOCK_RULES)) {
    const value = source[block];
    if (value === undefined || value === null) continue;
    if (!isMapping(value)) return `${block} must be a mapping`;
    const found = checkFields(value, rules, `${block}.`);
    if (found) return found;
  }
  return undefined;
}

function checkFields(value: Record<string, unknown>, rules: Record<string, FieldRule>, prefix: string) {
  for (const [field, rule] of Object.entries(rules)) {
    const problem = checkField(value[field], rule);
    if (problem) return `${prefix}${field}${problem.startsWith("[") ? "" : " "}${problem}`;
  }
  return undefined;
}

/** Why `value` breaks `rule` ("must be a string"), or undefined; null and undefined pass unless required. */
function checkField(value: unknown, rule: FieldRule): string | undefined {
  if (value === undefined || value === null) {
    return rule === "requiredString" || rule === "requiredIntOrString" ? "is required" : undefined;
  }
  if (Array.isArray(rule)) {
    if (!Array.isArray(value)) return "must be a list";
    const [itemRules = {}] = rule;
    for (const [index, item] of value.entries()) {
      if (!isMapping(item)) return `[${index}] must be a mapping`;
      const problem = checkFields(item, itemRules, "");
      if (problem) return `[${index}].${problem}`;
    }
    return undefined;
  }
  switch (rule) {
    case "string":
    case "requiredString":
      return typeof value === "string" ? undefined : "must be a string";
    case "bool":
      return typeof value === "boolean" ? undefined : "must be true or false";
    case "strings":
      return Array.isArray(value) && value.every((item) => typeof item === "string")
        ? undefined
        : "must be a list of strings";
    case "map":
      return isMapping(value) ? undefined : "must be a mapping";
    case "stringMap":
      return isMapping(value) && Object.values(value).every((item) => typeof item === "string")
        ? undefined
        : "must be a mapping of strings";
    case "intOrString":
    case "requiredIntOrString":
      return typeof value === "string" || Number.isInteger(value)
        ? undefined
        : "must be an integer or a string";
  }
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
