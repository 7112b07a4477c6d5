import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { KUSTOMIZATION_FILE_NAMES } from "../render/detect-tool.js";
import { groupOf, type KubeObject, subject } from "../render/kube-object.js";
import { needsCommitKey, needsRootKey } from "../render/render-cache.js";
import type { RenderInput, RenderOutcome } from "../render/render-source.js";
import { normalizeRepoPath } from "../render/repo-path.js";
import type { ApplicationSource } from "../render/source-spec.js";
import { type Checkout, type GitSource, normalizeRepoUrl, SourceError } from "../source/git-source.js";
import { generateApplications } from "./applicationset/generate-applications.js";
import { digestOf, sha256Digest, toCanonicalJson } from "./canonical-json.js";
import type { Cluster } from "./cluster.js";
import { type ClusterIndex, type Destination, indexClusters, matchDestination } from "./destination.js";
import type { Problem, ProblemKind } from "./problem.js";
import { collectClusterScopedCrdKinds, isClusterScoped } from "./scope.js";
import { stampTracking } from "./tracking.js";

/** Argo CD's syncPolicy as written in an Application. */
export type SyncPolicySpec = {
  automated?: { prune?: boolean; selfHeal?: boolean; allowEmpty?: boolean; enabled?: boolean };
  syncOptions?: string[];
  retry?: { limit?: number; backoff?: { duration?: string; factor?: number; maxDuration?: string } };
  managedNamespaceMetadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
};

type ApplicationSpec = {
  project?: string;
  source?: ApplicationSource;
  sources?: ApplicationSource[];
  destination?: Destination;
  syncPolicy?: SyncPolicySpec;
  ignoreDifferences?: unknown[];
};

/** One source of a target, with the commit it was rendered from. */
export type TargetSource = {
  repoURL: string;
  path: string;
  targetRevision: string;
  commit: string;
  chart?: string;
  ref?: string;
};

/** What one cluster should run for one app. */
export type Target = {
  cluster: string;
  app: string;
  project: string;
  namespace: string;
  sources: TargetSource[];
  syncPolicy?: SyncPolicySpec;
  ignoreDifferences: unknown[];
  /**
   * The rendered objects stamped with the app's tracking id. resolveFleet's targets make them on
   * each read (new copies every time): read once per use. `sources`, `syncPolicy` and
   * `ignoreDifferences` may be shared between targets: never change a target in place.
   */
  readonly objects: KubeObject[];
  /**
   * `sha256:` over everything the agent needs (namespace, policy, ignore rules, objects), not the
   * commit: a commit that leaves an app's output alone leaves its digest alone, so nothing is resent.
   */
  digest: string;
};

/** Every app the walk met, for callers that must tell "gone from Git" from "failed to resolve". */
export type AppNode = {
  name: string;
  parent?: string;
  cluster?: string;
  children: string[];
  /** `problem`: this app could not be resolved; keep what it had before (never prune because of it). */
  state: "ok" | "problem";
};

export type FleetResolution = {
  /** The root's resolved commit. */
  revision: string;
  targets: Target[];
  problems: Problem[];
  apps: AppNode[];
};

export type ResolveLimits = {
  /** App-of-apps nesting, root = 0. Default 10. */
  maxDepth: number;
  /** Apps in the whole fleet. Default 20,000. */
  maxApps: number;
  /** Objects one app may render. Default 10,000. */
  maxObjectsPerApp: number;
  /** Apps rendered at once. Default 4. */
  renderConcurrency: number;
};

export type ResolveDeps = {
  git: GitSource;
  /** Renders one source; `cacheKey` identifies its inputs (see renderCacheKey). */
  render: (input: RenderInput, cacheKey: string) => Promise<RenderOutcome>;
  clusters: readonly Cluster[];
  limits?: Partial<ResolveLimits>;
};

/**
 * The root of a fleet: a repository path rendered like an Application, or a root Application
 * manifest.
 *
 * `followRootRevision` previews the root's revision as a whole: sources and ApplicationSet git
 * generators that follow HEAD (targetRevision/revision empty or `HEAD`) of the root's repository
 * read the root's commit instead, so `render --revision X` and `diff --from A --to B` show the
 * child apps as of X, A and B, as a pull-request preview must. A repository counts as the
 * root's when its HEAD is the root repository's HEAD (--repo-map gives one repository several
 * URLs). Branches, tags and commits named explicitly are read as written.
 */
export type FleetRoot = (
  | { name?: string; source: ApplicationSource; destination?: Destination }
  | { application: KubeObject }
) & { followRootRevision?: boolean };

const DEFAULT_LIMITS: ResolveLimits = {
  maxDepth: 10,
  maxApps: 20_000,
  maxObjectsPerApp: 10_000,
  renderConcurrency: 4,
};
const APP_GROUP = "argoproj.io";
/**
 * Part of every target digest. The digest covers the rendered objects, not the stamped ones
 * (stamping is a function of app, namespace and objects): bump this when stamping, namespace
 * defaulting or the Target fields change, so agents are sent the new objects.
 */
const TARGET_FORMAT = 1;

type PendingApp = { app: KubeObject; chain: string[] };
type AppResult = {
  node: AppNode;
  target?: Target;
  children: KubeObject[];
  problems: Problem[];
  commit?: string;
};

/** State of one resolveFleet call. Its memos make a resolve one consistent snapshot of each repository. */
type Walk = {
  deps: ResolveDeps;
  limits: ResolveLimits;
  clusters: ClusterIndex;
  /** `url \0 revision` -> commit: each revision is resolved once per resolve. */
  revisions: Map<string, Promise<string>>;
  /** `url \0 commit` -> checkout. */
  checkouts: Map<string, Promise<Checkout>>;
  /** url -> GitSource.isAllowed(url). */
  allowed: Map<string, boolean>;
  /** The app-independent parts of render cache keys, by repository, commit and source. */
  sourceKeys: Map<string, Promise<SourceKeyParts>>;
  /** With followRootRevision: HEAD of the root's repository, and the commit it stands for. */
  head?: { actual: string; pinned: string };
  /** JSON.stringify -> canonical JSON of target settings: generated apps share a few settings. */
  settings: Map<string, string>;
  /** ignoreDifferences -> syncPolicy (ABSENT: none) -> project -> canonical JSON of the settings, by identity. */
  settingsByIdentity: WeakMap<object, WeakMap<object, Map<string, string>>>;
  /** Source object -> its JSON.stringify. */
  sourceJson: WeakMap<ApplicationSource, string>;
  /** Source object -> commit -> the TargetSource targets share. */
  targetSources: WeakMap<ApplicationSource, Map<string, TargetSource>>;
};

class AppProblem extends Error {
  constructor(
    readonly kind: ProblemKind,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Walks the app-of-apps tree from the root: renders every app, interprets the Applications and
 * ApplicationSets it finds (never shipping them to a cluster), and turns every other object into
 * a per-cluster target. A problem in one app is recorded against it and never stops the others.
 * Deterministic: the same repositories and clusters give the same targets, digests and order
 * (targets by cluster then app, objects by group, kind, namespace and name, problems by app).
 */
export async function resolveFleet(root: FleetRoot, deps: ResolveDeps): Promise<FleetResolution> {
  const limits = { ...DEFAULT_LIMITS, ...deps.limits };
  const rootApp = "application" in root ? root.application : impliedRootApplication(root);
  const walk: Walk = {
    deps,
    limits,
    clusters: indexClusters(deps.clusters),
    revisions: new Map(),
    checkouts: new Map(),
    allowed: new Map(),
    sourceKeys: new Map(),
    settings: new Map(),
    settingsByIdentity: new WeakMap(),
    sourceJson: new WeakMap(),
    targetSources: new WeakMap(),
  };
  const rootCommit = await resolveRootCommit(walk, rootApp, root.followRootRevision === true);
  const seen = new Map<string, string>();
  const targets: Target[] = [];
  const problems: Problem[] = [];
  const apps: AppNode[] = [];
  let revision = rootCommit ?? "";
  let level: PendingApp[] = [{ app: rootApp, chain: [] }];

  for (let depth = 0; level.length > 0; depth++) {
    const accepted: (PendingApp | undefined)[] = [];
    for (const pending of sortPending(level)) {
      const name = pending.app.metadata.name ?? "";
      const parent = pending.chain.at(-1);
      const admission = admitApp(name, pending.chain, seen, depth, limits);
      if (admission) {
        problems.push({ app: name || `(unnamed child of ${parent})`, ...admission });
        if (admission.kind === "limit") {
          // Still declared in Git: a node in state "problem" keeps what it had (never pruned).
          seen.set(name, parent ?? "");
          apps.push({ name, ...(parent ? { parent } : {}), children: [], state: "problem" });
        }
        continue;
      }
      seen.set(name, parent ?? "");
      accepted.push(pending);
    }
    level = [];
    const chains = accepted.map((pending) => pending?.chain ?? []);
    const results = await mapBounded(accepted.length, limits.renderConcurrency, (index) => {
      const pending = accepted[index] as PendingApp;
      // An ApplicationSet can make a level of many thousand apps: let each go once it is resolved.
      accepted[index] = undefined;
      return resolveApp(pending, walk, depth === 0);
    });
    const next: PendingApp[] = [];
    for (const [index, result] of results.entries()) {
      if (depth === 0 && result.commit) revision = result.commit;
      apps.push(result.node);
      problems.push(...result.problems);
      if (result.target) targets.push(result.target);
      const chain = [...(chains[index] ?? []), result.node.name];
      for (const child of result.children) next.push({ app: child, chain });
    }
    level = next;
  }
  targets.sort((a, b) => compareStrings(a.cluster, b.cluster) || compareStrings(a.app, b.app));
  apps.sort((a, b) => compareStrings(a.name, b.name));
  problems.sort(
    (a, b) =>
      compareStrings(a.app, b.app) || compareStrings(a.kind, b.kind) || compareStrings(a.message, b.message),
  );
  return { revision, targets, problems, apps };
}

function impliedRootApplication(root: {
  name?: string;
  source: ApplicationSource;
  destination?: Destination;
}): KubeObject {
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "Application",
    metadata: { name: root.name ?? "root" },
    spec: { source: root.source, ...(root.destination ? { destination: root.destination } : {}) },
  };
}

/**
 * The commit of the root's (first) source, so the resolution names it even when the root
 * fails to render; undefined when it cannot be read (the root's own problem says why). With
 * `follow`, also pins HEAD of the root's repository to it (see FleetRoot).
 */
async function resolveRootCommit(
  walk: Walk,
  rootApp: KubeObject,
  follow: boolean,
): Promise<string | undefined> {
  const spec = rootApp.spec as ApplicationSpec | undefined;
  const source = spec?.sources?.[0] ?? spec?.source;
  if (typeof source?.repoURL !== "string" || !isAllowed(walk, source.repoURL)) return undefined;
  try {
    const commit = await resolveRevision(walk, source.repoURL, source.targetRevision);
    if (follow) {
      const head = await resolveRevision(walk, source.repoURL, "HEAD");
      if (head !== commit) walk.head = { actual: head, pinned: commit };
    }
    return commit;
  } catch {
    return undefined;
  }
}

function isAllowed(walk: Walk, url: string): boolean {
  let allowed = walk.allowed.get(url);
  if (allowed === undefined) {
    allowed = walk.deps.git.isAllowed(url);
    walk.allowed.set(url, allowed);
  }
  return allowed;
}

function followsHead(revision: string | undefined): boolean {
  const trimmed = revision?.trim() ?? "";
  return trimmed === "" || trimmed === "HEAD";
}

/** A revision's commit, looked up once per resolve; HEAD of the root's repository is pinned when previewing. */
async function resolveRevision(walk: Walk, url: string, revision: string | undefined): Promise<string> {
  const key = `${url}\0${revision ?? ""}`;
  let pending = walk.revisions.get(key);
  if (!pending) {
    pending = walk.deps.git.resolveRevision(url, revision);
    walk.revisions.set(key, pending);
  }
  const commit = await pending;
  const head = walk.head;
  return head && commit === head.actual && followsHead(revision) ? head.pinned : commit;
}

/**
 * Name, then the chain that declared it ("\0" sorts before every character a name can have),
 * then, for two Applications of one name from one parent, their content: which of them is kept
 * never depends on the order of files or documents.
 */
function sortPending(level: PendingApp[]): PendingApp[] {
  const keyed = level.map((pending) => ({
    pending,
    key: `${pending.app.metadata.name ?? ""}\0${pending.chain.join("/")}`,
  }));
  keyed.sort(
    (a, b) =>
      compareStrings(a.key, b.key) ||
      compareStrings(toCanonicalJson(a.pending.app), toCanonicalJson(b.pending.app)),
  );
  return keyed.map((entry) => entry.pending);
}

/** Why an app may not be resolved (cycle, duplicate, limits, no name), or undefined. */
function admitApp(
  name: string,
  chain: string[],
  seen: Map<string, string>,
  depth: number,
  limits: ResolveLimits,
): { kind: ProblemKind; message: string } | undefined {
  const parent = chain.at(-1);
  if (!name)
    return { kind: "invalid", message: `an Application rendered by "${parent}" has no metadata.name` };
  if (chain.includes(name)) {
    return {
      kind: "cycle",
      message: `app-of-apps cycle: ${[...chain.slice(chain.indexOf(name)), name].join(" -> ")}`,
    };
  }
  if (seen.has(name)) {
    const first = seen.get(name) || "the root";
    return {
      kind: "duplicate",
      message: `app "${name}" is declared by "${parent}" and already by "${first}"; the first one is kept`,
    };
  }
  if (depth > limits.maxDepth) {
    return {
      kind: "limit",
      message: `app-of-apps nesting deeper than ${limits.maxDepth} (${chain.join(" -> ")})`,
    };
  }
  if (seen.size >= limits.maxApps)
    return { kind: "limit", message: `more than ${limits.maxApps} apps in the fleet` };
  return undefined;
}

async function resolveApp(pending: PendingApp, walk: Walk, isRoot: boolean): Promise<AppResult> {
  const app = pending.app;
  const name = app.metadata.name ?? "";
  const node: AppNode = { name, children: [], state: "ok" };
  const parent = pending.chain.at(-1);
  if (parent) node.parent = parent;
  try {
    const spec = readSpec(app);
    const rendered = await renderSources(name, spec, walk);
    const { children, manifests } = rendered.split;
    const problems: Problem[] = [];
    const childApps: KubeObject[] = [];
    for (const child of children) {
      if (child.kind === "Application") {
        childApps.push(child);
        continue;
      }
      // A failed ApplicationSet leaves the apps it generated unknown, not deleted: this app (the
      // ApplicationSet is no app of its own) carries the problem and the "problem" state that
      // keeps their earlier targets, so a broken template never prunes them.
      const failures = await expandApplicationSet(child, walk, childApps);
      if (failures.length > 0) node.state = "problem";
      for (const failure of failures)
        problems.push({ ...failure, app: name, message: `${subject(child)}: ${failure.message}` });
    }
    node.children = childApps.map((c) => c.metadata.name ?? "").sort(compareStrings);
    const result: AppResult = {
      node,
      children: childApps,
      problems,
      commit: rendered.sources[0]?.commit ?? "",
    };
    // An app of apps (or of ApplicationSets, even ones that generate nothing) needs no destination.
    if (manifests.length === 0 && (children.length > 0 || (isRoot && !spec.destination))) return result;
    if (manifests.length > walk.limits.maxObjectsPerApp) {
      throw new AppProblem(
        "limit",
        `renders ${manifests.length} objects; the limit is ${walk.limits.maxObjectsPerApp}`,
      );
    }
    const match = matchDestination(spec.destination, walk.clusters);
    if (!match.ok) throw new AppProblem("destination", match.message);
    node.cluster = match.cluster.name;
    result.target = buildTarget(walk, name, spec, match.cluster, rendered.sources, rendered.split);
    return result;
  } catch (error) {
    if (error instanceof AppProblem) return failedApp(node, error.kind, error.message);
    // Whatever else one app's content provokes stays that app's problem: it never fails the fleet.
    const message = error instanceof Error ? error.message : String(error);
    return failedApp(
      node,
      error instanceof SourceError ? "source" : "invalid",
      `${subject(app)}: ${message}`,
    );
  }
}

function failedApp(node: AppNode, kind: ProblemKind, message: string): AppResult {
  node.state = "problem";
  return { node, children: [], problems: [{ app: node.name, kind, message }] };
}

/** Fields of a source and of the destination that are read as strings. */
const SOURCE_STRING_FIELDS = ["path", "targetRevision", "chart", "ref"] as const;
const DESTINATION_STRING_FIELDS = ["name", "server", "namespace"] as const;

function readSpec(app: KubeObject): ApplicationSpec {
  const spec = app.spec;
  if (!isRecord(spec)) throw invalidSpec(app, "spec is missing");
  const typed = spec as ApplicationSpec;
  if (typed.sources != null && !Array.isArray(typed.sources))
    throw invalidSpec(app, "spec.sources must be a list");
  if (!typed.sources?.length && !typed.source)
    throw invalidSpec(app, "spec.source or spec.sources is required");
  const declared = typed.sources?.length ? typed.sources : [typed.source];
  for (const [index, source] of declared.entries()) {
    const where = typed.sources?.length ? `spec.sources[${index}]` : "spec.source";
    if (!isRecord(source) || typeof source.repoURL !== "string" || source.repoURL === "") {
      throw invalidSpec(app, "every source needs a repoURL");
    }
    for (const field of SOURCE_STRING_FIELDS) {
      if (source[field] != null && typeof source[field] !== "string")
        throw invalidSpec(app, `${where}.${field} must be a string`);
    }
  }
  if (typed.destination != null) {
    if (!isRecord(typed.destination)) throw invalidSpec(app, "spec.destination must be a mapping");
    for (const field of DESTINATION_STRING_FIELDS) {
      const value = typed.destination[field];
      if (value != null && typeof value !== "string")
        throw invalidSpec(app, `spec.destination.${field} must be a string`);
    }
  }
  if (typed.project != null && typeof typed.project !== "string")
    throw invalidSpec(app, "spec.project must be a string");
  return typed;
}

function invalidSpec(app: KubeObject, message: string): AppProblem {
  return new AppProblem("invalid", `${subject(app)}: ${message}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Rendered output split into child apps and manifests; manifests without duplicates (the last
 * of one group/kind/namespace/name wins, as in Argo CD) and sorted, with their digest.
 */
type SplitObjects = {
  children: KubeObject[];
  manifests: KubeObject[];
  manifestsDigest: string;
  crdKinds: Set<string>;
};

type RenderedSources = { split: SplitObjects; sources: TargetSource[] };

// Render outcomes are shared through the render cache: split each one once, however many apps use it.
const splitMemo = new WeakMap<readonly KubeObject[], SplitObjects>();

/** Renders spec.source, or each of spec.sources (later sources win on the same object), as Argo CD does. */
async function renderSources(appName: string, spec: ApplicationSpec, walk: Walk): Promise<RenderedSources> {
  const declared = spec.sources?.length ? spec.sources : [spec.source as ApplicationSource];
  const checkouts: Checkout[] = [];
  const sources: TargetSource[] = [];
  const refs: Record<string, { dir: string; commit: string }> = {};
  for (const source of declared) {
    if (source.chart) {
      throw new AppProblem(
        "unsupported",
        `Helm chart repository sources are not supported (chart "${source.chart}" from ${source.repoURL}); vendor the chart into Git`,
      );
    }
    if (!isAllowed(walk, source.repoURL)) {
      throw new AppProblem(
        "source",
        `repository ${redactUrl(source.repoURL)} is not configured or mapped; it is not fetched`,
      );
    }
    const checkout = await readCheckout(walk, source);
    checkouts.push(checkout);
    const entry = targetSourceOf(walk, source, checkout.commit);
    if (source.ref) refs[source.ref] = { dir: checkout.dir, commit: checkout.commit };
    sources.push(entry);
  }
  const outputs: (readonly KubeObject[])[] = [];
  const namespace = spec.destination?.namespace ?? "";
  for (const [index, source] of declared.entries()) {
    // A ref-only source (no path) only lends its files to `$ref` value files.
    if (source.ref && !source.path) continue;
    const checkout = checkouts[index] as Checkout;
    const input: RenderInput = {
      appName,
      destinationNamespace: namespace,
      source,
      checkout,
      refs,
      ...(spec.project ? { project: spec.project } : {}),
    };
    const outcome = await walk.deps.render(input, await cacheKeyOf(walk, input));
    if (!outcome.ok) throw new AppProblem(outcome.problem.kind, outcome.problem.message);
    outputs.push(outcome.objects);
  }
  if (outputs.length === 1) {
    const only = outputs[0] as readonly KubeObject[];
    let split = splitMemo.get(only);
    if (!split) {
      split = splitObjects(only);
      splitMemo.set(only, split);
    }
    return { split, sources };
  }
  return { split: splitObjects(outputs.flat()), sources };
}

/**
 * A target's record of one source at one commit, one object per source object and commit in a
 * resolve (the apps of one ApplicationSet share their template's source): targets share it.
 */
function targetSourceOf(walk: Walk, source: ApplicationSource, commit: string): TargetSource {
  let byCommit = walk.targetSources.get(source);
  if (!byCommit) {
    byCommit = new Map();
    walk.targetSources.set(source, byCommit);
  }
  let entry = byCommit.get(commit);
  if (!entry) {
    entry = {
      repoURL: source.repoURL,
      path: source.path ?? "",
      targetRevision: source.targetRevision || "HEAD",
      commit,
    };
    if (source.ref) entry.ref = source.ref;
    byCommit.set(commit, entry);
  }
  return entry;
}

async function readCheckout(walk: Walk, source: ApplicationSource): Promise<Checkout> {
  try {
    const commit = await resolveRevision(walk, source.repoURL, source.targetRevision);
    const key = `${source.repoURL}\0${commit}`;
    let checkout = walk.checkouts.get(key);
    if (!checkout) {
      checkout = walk.deps.git.checkout(source.repoURL, commit);
      walk.checkouts.set(key, checkout);
    }
    return await checkout;
  } catch (error) {
    throw new AppProblem("source", error instanceof Error ? error.message : String(error));
  }
}

/** What a render cache key needs that is the same for every app rendering one source at one commit. */
type SourceKeyParts = {
  /** `.argocd-source*.yaml` files in the path may depend on the app name: key each app on its own. */
  overrides: boolean;
  /** The whole key, when the source renders the same for every app (a plain directory). */
  shared?: string;
  /** `<repo>|<tree path>@<tree id>`. */
  location: string;
};

/** renderCacheKey, with the app-independent work done once per source and commit in a resolve. */
async function cacheKeyOf(walk: Walk, input: RenderInput): Promise<string> {
  const refCommits = Object.entries(input.refs ?? {}).map(([name, ref]) => `${name}=${ref.commit}`);
  const capabilities = JSON.stringify([input.kubeVersion, input.apiVersions]);
  const memoKey = `${input.checkout.commit}\0${refCommits.join(",")}\0${capabilities}\0${sourceJson(walk, input.source)}`;
  let parts = walk.sourceKeys.get(memoKey);
  if (!parts) {
    parts = readSourceKeyParts(walk.deps.git, input);
    walk.sourceKeys.set(memoKey, parts);
  }
  const found = await parts;
  if (found.overrides) return renderCacheKey(walk.deps.git, input);
  return found.shared ?? composeCacheKey(found.location, input, true);
}

/** JSON.stringify(source), once per source object in a resolve (generated apps share theirs). */
function sourceJson(walk: Walk, source: ApplicationSource): string {
  let json = walk.sourceJson.get(source);
  if (json === undefined) {
    json = JSON.stringify(source);
    walk.sourceJson.set(source, json);
  }
  return json;
}

/**
 * The render cache key: repository, the git tree id of the app's path (of the whole repository
 * when the source can read outside its path, see needsRootKey), and a digest of every option
 * that can change the output: the commit too when the options name `$ARGOCD_APP_REVISION`
 * (needsCommitKey), and the app's name, destination namespace and project unless the source
 * is a plain directory, whose output never depends on them (so an ApplicationSet sending one
 * directory to many clusters renders it once).
 */
export async function renderCacheKey(git: GitSource, input: RenderInput): Promise<string> {
  const parts = await readSourceKeyParts(git, input);
  return parts.shared ?? composeCacheKey(parts.location, input, true);
}

async function readSourceKeyParts(git: GitSource, input: RenderInput): Promise<SourceKeyParts> {
  const path = input.source.path ?? "";
  const treePath = (await needsRootKey(input)) ? "" : path;
  const tree = (await git.treeId(input.source.repoURL, input.checkout.commit, treePath)) ?? "absent";
  const location = `${normalizeRepoUrl(input.source.repoURL)}|${treePath}@${tree}`;
  const files = await listFilesIn(input.checkout.dir, path);
  const overrides = files.some((name) => name.startsWith(".argocd-source"));
  if (overrides || !isPlainDirectory(input.source, files)) return { overrides, location };
  return { overrides, location, shared: composeCacheKey(location, input, false) };
}

function composeCacheKey(location: string, input: RenderInput, perApp: boolean): string {
  const options = digestOf({
    ...(perApp ? { app: input.appName, namespace: input.destinationNamespace, project: input.project } : {}),
    source: input.source,
    refs: Object.fromEntries(Object.entries(input.refs ?? {}).map(([k, v]) => [k, v.commit])),
    kubeVersion: input.kubeVersion,
    apiVersions: input.apiVersions,
    commit: needsCommitKey(input) ? input.checkout.commit : undefined,
  });
  return `${location}|${options}`;
}

/** Names of the files directly in a checkout's path; none when it cannot be read or leaves the checkout. */
async function listFilesIn(checkoutDir: string, path: string): Promise<string[]> {
  const relative = normalizeRepoPath(path);
  if (relative === ".." || relative.startsWith("../") || path.startsWith("/")) return [];
  try {
    const entries = await readdir(join(checkoutDir, relative), { withFileTypes: true });
    return entries.filter((entry) => !entry.isDirectory()).map((entry) => entry.name);
  } catch {
    return [];
  }
}

/** Argo CD's tool detection (render/detect-tool.ts) would pick Directory, and no Jsonnet is involved. */
function isPlainDirectory(source: ApplicationSource, files: readonly string[]): boolean {
  if (source.helm != null || source.kustomize != null || source.plugin != null || source.chart) return false;
  if (source.directory != null) return source.directory.jsonnet == null;
  return !files.some(
    (name) => name.endsWith("Chart.yaml") || (KUSTOMIZATION_FILE_NAMES as readonly string[]).includes(name),
  );
}

/** Argo CD's key of an object; generateName-only objects (hooks) never collide. */
function objectIdentity(obj: KubeObject, index: number): string {
  const name = obj.metadata.name ?? `${obj.metadata.generateName ?? ""}\0${index}`;
  return `${groupOf(obj.apiVersion)}/${obj.kind}/${obj.metadata.namespace ?? ""}/${name}`;
}

function splitObjects(objects: readonly KubeObject[]): SplitObjects {
  const children: KubeObject[] = [];
  const byKey = new Map<string, KubeObject>();
  for (const [index, obj] of objects.entries()) {
    const isChild =
      groupOf(obj.apiVersion) === APP_GROUP && (obj.kind === "Application" || obj.kind === "ApplicationSet");
    if (isChild) children.push(obj);
    else byKey.set(objectIdentity(obj, index), obj);
  }
  const keyed = [...byKey.values()].map((obj) => ({ obj, key: sortKey(obj) }));
  keyed.sort((a, b) => compareStrings(a.key, b.key) || tieBreak(a.obj, b.obj));
  const manifests = keyed.map((entry) => entry.obj);
  return {
    children,
    manifests,
    manifestsDigest: digestOf(manifests),
    crdKinds: collectClusterScopedCrdKinds(manifests),
  };
}

function sortKey(obj: KubeObject): string {
  const name = obj.metadata.name ?? obj.metadata.generateName ?? "";
  return `${groupOf(obj.apiVersion)}\0${obj.kind}\0${obj.metadata.namespace ?? ""}\0${name}`;
}

/** Only hooks sharing a generateName tie; their content orders them, so file order never does. */
function tieBreak(a: KubeObject, b: KubeObject): number {
  return compareStrings(toCanonicalJson(a), toCanonicalJson(b));
}

async function expandApplicationSet(appSet: KubeObject, walk: Walk, into: KubeObject[]): Promise<Problem[]> {
  const git = walk.deps.git;
  const reader = {
    listDirectories: async (repoURL: string, revision: string) =>
      git.listDirectories(repoURL, await resolveRevision(walk, repoURL, revision)),
    listFiles: async (repoURL: string, revision: string) =>
      git.listFiles(repoURL, await resolveRevision(walk, repoURL, revision)),
    readFile: async (repoURL: string, revision: string, path: string) =>
      git.readFile(repoURL, await resolveRevision(walk, repoURL, revision), path),
  };
  const generated = await generateApplications(appSet, {
    clusters: walk.deps.clusters,
    git: reader,
    addImplicitInCluster: false,
  });
  into.push(...generated.applications);
  return generated.problems;
}

function buildTarget(
  walk: Walk,
  app: string,
  spec: ApplicationSpec,
  cluster: Cluster,
  sources: TargetSource[],
  split: SplitObjects,
): Target {
  const namespace = spec.destination?.namespace ?? "";
  const project = spec.project || "default";
  const ignoreDifferences = spec.ignoreDifferences ?? NO_IGNORED_DIFFERENCES;
  const settings = canonicalSettings(walk, project, spec.syncPolicy, spec.ignoreDifferences);
  // Kubernetes names never hold "\n"; settings and the objects digest are JSON and hex.
  const digest = sha256Digest(
    `${TARGET_FORMAT}\n${app}\n${namespace}\n${settings}\n${split.manifestsDigest}`,
  );
  return new LazyTarget(
    cluster.name,
    app,
    project,
    namespace,
    sources,
    spec.syncPolicy,
    ignoreDifferences,
    digest,
    split,
  );
}

/**
 * A Target whose objects are stamped when read: they are a function of (app, namespace,
 * rendered objects), so a million targets of a few renderings hold each rendering once instead
 * of a stamped copy per target (a getter on a plain object would leave V8 a dictionary-mode
 * object three times the size). JSON.stringify writes it as a plain Target, fields in order.
 * Each read of `objects` returns new copies: read it once per use.
 */
class LazyTarget implements Target {
  readonly #split: SplitObjects;

  constructor(
    readonly cluster: string,
    readonly app: string,
    readonly project: string,
    readonly namespace: string,
    readonly sources: TargetSource[],
    readonly syncPolicy: SyncPolicySpec | undefined,
    readonly ignoreDifferences: unknown[],
    readonly digest: string,
    split: SplitObjects,
  ) {
    this.#split = split;
  }

  get objects(): KubeObject[] {
    return stampObjects(this.#split.manifests, this.#split.crdKinds, this.app, this.namespace);
  }

  toJSON(): Record<string, unknown> {
    return {
      cluster: this.cluster,
      app: this.app,
      project: this.project,
      namespace: this.namespace,
      sources: this.sources,
      ...(this.syncPolicy ? { syncPolicy: this.syncPolicy } : {}),
      ignoreDifferences: this.ignoreDifferences,
      objects: this.objects,
      digest: this.digest,
    };
  }
}

/** A target's objects: each rendered object stamped with its tracking id, placed in the namespace. */
function stampObjects(
  manifests: readonly KubeObject[],
  crdKinds: ReadonlySet<string>,
  app: string,
  namespace: string,
): KubeObject[] {
  return manifests.map((obj) => {
    const place = !obj.metadata.namespace && namespace !== "" && !isClusterScoped(obj, crdKinds);
    return stampTracking(obj, app, namespace, place);
  });
}

/**
 * Canonical JSON of a target's settings, computed once per distinct value in a resolve: by
 * identity first (the apps of one ApplicationSet share their template's constant parts), then
 * by the settings as written.
 */
function canonicalSettings(
  walk: Walk,
  project: string,
  syncPolicy: SyncPolicySpec | undefined,
  ignoreDifferences: unknown[] | undefined,
): string {
  const ignoreKey = ignoreDifferences ?? ABSENT;
  const policyKey = syncPolicy ?? ABSENT;
  let byPolicy = walk.settingsByIdentity.get(ignoreKey);
  if (!byPolicy) {
    byPolicy = new WeakMap();
    walk.settingsByIdentity.set(ignoreKey, byPolicy);
  }
  let byProject = byPolicy.get(policyKey);
  if (!byProject) {
    byProject = new Map();
    byPolicy.set(policyKey, byProject);
  }
  let canonical = byProject.get(project);
  if (canonical !== undefined) return canonical;
  const settings = { project, syncPolicy: syncPolicy ?? null, ignoreDifferences: ignoreDifferences ?? [] };
  const written = JSON.stringify(settings);
  canonical = walk.settings.get(written);
  if (canonical === undefined) {
    canonical = toCanonicalJson(settings);
    walk.settings.set(written, canonical);
  }
  byProject.set(project, canonical);
  return canonical;
}

/** The ignoreDifferences of every target without any (shared: never change a target in place). */
const NO_IGNORED_DIFFERENCES: unknown[] = Object.freeze([]) as unknown as unknown[];

/** The identity key of an absent syncPolicy or ignoreDifferences. */
const ABSENT = {};

/** Runs fn(0..count-1) with at most `limit` in flight; results keep the indexes' order. */
async function mapBounded<R>(count: number, limit: number, fn: (index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(count);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, count) }, async () => {
    while (next < count) {
      const index = next++;
      results[index] = await fn(index);
    }
  });
  await Promise.all(workers);
  return results;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A repository URL without user info, for messages. */
function redactUrl(url: string): string {
  return url.replace(/\/\/[^/@]*@/, "//");
}
