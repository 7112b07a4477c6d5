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
