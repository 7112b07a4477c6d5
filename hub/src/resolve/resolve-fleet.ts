import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { Labels } from "../fleet/label-selector.js";
import { KUSTOMIZATION_FILE_NAMES } from "../render/detect-tool.js";
import { groupOf, type KubeObject, subject } from "../render/kube-object.js";
import { needsCommitKey, needsRootKey } from "../render/render-cache.js";
import type { RenderInput, RenderOutcome } from "../render/render-source.js";
import { normalizeRepoPath } from "../render/repo-path.js";
import type { ApplicationSource } from "../render/source-spec.js";
import {
  compileAppMatcher,
  isRolloutResource,
  type RolloutAppMatcher,
  type RolloutDraft,
  readAppLabels,
  readRollingSync,
  readRolloutResource,
} from "../rollout/read-rollout.js";
import type { RolloutDeclaration } from "../rollout/rollout-spec.js";
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
  /**
   * The progressive rollouts declared in the app-of-apps tree (RollingSync ApplicationSets and
   * Rollout resources), by name. An invalid one is left out, with a problem on the app that
   * declares it; that app resolves as usual.
   */
  rollouts: RolloutDeclaration[];
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
  /** With a memo: what the next resolve may reuse of this app (set when it may). */
  memo?: AppMemo;
  /** With a memo: this result was taken from the previous resolve (its indexes are the previous order). */
  reused?: boolean;
  /** The render cache key of the app's only source, when it is the same for every app (see AppMemo). */
  reuseKey?: string;
  /** An ApplicationSet of this app read Git (its output may change with any commit). */
  readsGit?: boolean;
  /** With a memo: the memo keys of this app's ApplicationSets, kept for the next resolve with the app. */
  expansionKeys?: string[];
  /** The rollouts its manifests declare (absent: none, nor problems with any). */
  rollouts?: AppRollouts;
};

/**
 * The rollouts one app's manifests declare, in manifest order (its ApplicationSets, then its
 * Rollout resources). Their problems are kept apart from the app's: a bad rollout never makes the
 * app a problem, nor stops the memo from reusing it (the memo keeps this with the app).
 */
type AppRollouts = { found: FoundRollout[]; problems: Problem[] };

/** A valid declaration and where its apps come from: its ApplicationSet's apps, or a matcher over the fleet. */
type FoundRollout = { draft: RolloutDraft } & ({ generated: KubeObject[] } | { matcher: RolloutAppMatcher });

/**
 * What a resolve keeps for the next one, to reuse what did not change. Pass the same memo to
 * every resolve of one fleet (one root, one GitSource, one render function); without one a
 * resolve starts from nothing. A memo assumes a render cache key names one output: make a new
 * memo when renders must run again (a hard refresh). Not for concurrent resolves.
 */
export type ResolveMemo = { readonly kind: "resolve-memo" };

/** Makes an empty memo: the first resolve with it is a cold one. */
export function createResolveMemo(): ResolveMemo {
  const state: MemoState = {
    kind: "resolve-memo",
    generation: 0,
    context: "",
    apps: new WeakMap(),
    expansions: new Map(),
    levels: [],
    targetCount: 0,
    appCount: 0,
  };
  return state;
}

type MemoState = {
  kind: "resolve-memo";
  /** Resolves completed with this memo; an AppMemo of the last one has this generation. */
  generation: number;
  /** Clusters and limits of the last resolve: any change starts afresh. */
  context: string;
  git?: GitSource;
  /** Generated apps by app object (the same objects come back from memoized ApplicationSets and the render cache). */
  apps: WeakMap<KubeObject, AppMemo>;
  /** The root is made anew on every resolve: it is matched by content, its revision aside. */
  root?: { json: string; memo: AppMemo };
  /** ApplicationSets whose generators read nothing from Git: canonical JSON -> what they generated. */
  expansions: Map<string, KubeObject[]>;
  /** Each level's apps in the order they came and the order sortPending gave them, by depth. */
  levels: LevelMemo[];
  targetCount: number;
  appCount: number;
};

/**
 * An app resolved without a problem from one source whose render cache key is shared by every
 * app (a plain directory, see readSourceKeyParts): while that key stays the same its output does,
 * and only the commit its target names changes.
 */
type AppMemo = {
  generation: number;
  isRoot: boolean;
  key: string;
  node: AppNode;
  children: KubeObject[];
  target?: LazyTarget;
  /** Its ApplicationSets' memo keys and apps: a reused app does not generate them, yet keeps them known. */
  expansions: [string, KubeObject[]][];
  /** The rollouts it declares: a reused app is not read again. */
  rollouts?: AppRollouts;
  /** Places in the last resolve's sorted targets and apps (-1: none). */
  targetIndex: number;
  appIndex: number;
};

type LevelMemo = { apps: KubeObject[]; chains: string[][]; order: number[] };

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
  /** With a memo. */
  memo?: MemoState;
  /** This resolve's: the memo's next generation, and what it will hold. */
  generation: number;
  nextExpansions: Map<string, KubeObject[]>;
  nextLevels: LevelMemo[];
  /** Source object -> its shared render key and commit now (undefined: not shared, or failing). */
  reuseKeys: Map<ApplicationSource, Promise<{ key: string; commit: string } | undefined>>;
  /** A TargetSource -> the one-source list reused targets share. */
  sourceLists: WeakMap<TargetSource, TargetSource[]>;
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
 * With a `memo` (see ResolveMemo) the resolution is the same, made from the last one where an
 * app's render key is unchanged: after a one-file change only the apps of that file's path render
 * and build their targets again.
 */
export async function resolveFleet(
  root: FleetRoot,
  deps: ResolveDeps,
  memo?: ResolveMemo,
): Promise<FleetResolution> {
  const limits = { ...DEFAULT_LIMITS, ...deps.limits };
  const rootApp = "application" in root ? root.application : impliedRootApplication(root);
  const state = memo ? openMemo(memo as MemoState, deps, limits) : undefined;
  const walk: Walk = {
    ...(state ? { memo: state } : {}),
    generation: (state?.generation ?? 0) + 1,
    nextExpansions: new Map(),
    nextLevels: [],
    reuseKeys: new Map(),
    sourceLists: new WeakMap(),
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
  // With a memo: every result and admission node, to order them by the previous resolve's order.
  const kept: AppResult[] = [];
  // Every app's Application labels, for the Rollout resources that select apps by label.
  const labels = new Map<string, Labels>();
  const declared: AppRollouts[] = [];

  for (let depth = 0; level.length > 0; depth++) {
    const accepted: (PendingApp | undefined)[] = [];
    for (const pending of sortLevel(walk, depth, level)) {
      const name = pending.app.metadata.name ?? "";
      const parent = pending.chain.at(-1);
      const admission = admitApp(name, pending.chain, seen, depth, limits);
      if (admission) {
        problems.push({ app: name || `(unnamed child of ${parent})`, ...admission });
        if (admission.kind === "limit") {
          // Still declared in Git: a node in state "problem" keeps what it had (never pruned).
          seen.set(name, parent ?? "");
          labels.set(name, readAppLabels(pending.app));
          const node: AppNode = { name, ...(parent ? { parent } : {}), children: [], state: "problem" };
          if (state) kept.push({ node, children: [], problems: [] });
          else apps.push(node);
        }
        continue;
      }
      seen.set(name, parent ?? "");
      labels.set(name, readAppLabels(pending.app));
      accepted.push(pending);
    }
    level = [];
    const chains = accepted.map((pending) => pending?.chain ?? []);
    const appObjects = state ? accepted.map((pending) => pending?.app) : [];
    const results: (AppResult | undefined)[] = state ? await reuseApps(accepted, walk, depth === 0) : [];
    const fresh: number[] = [];
    for (let index = 0; index < accepted.length; index++) {
      if (results[index]) accepted[index] = undefined;
      else fresh.push(index);
    }
    const resolved = await mapBounded(fresh.length, limits.renderConcurrency, (at) => {
      const index = fresh[at] as number;
      const pending = accepted[index] as PendingApp;
      // An ApplicationSet can make a level of many thousand apps: let each go once it is resolved.
      accepted[index] = undefined;
      return resolveApp(pending, walk, depth === 0);
    });
    for (const [at, result] of resolved.entries()) results[fresh[at] as number] = result;
    const next: PendingApp[] = [];
    for (const [index, result] of results.entries()) {
      if (!result) continue;
      if (depth === 0 && result.commit) revision = result.commit;
      if (state) {
        rememberApp(walk, state, result, appObjects[index] as KubeObject, depth === 0);
        kept.push(result);
      } else {
        apps.push(result.node);
        if (result.target) targets.push(result.target);
      }
      if (result.problems.length > 0) problems.push(...result.problems);
      if (result.rollouts) {
        declared.push(result.rollouts);
        problems.push(...result.rollouts.problems);
      }
      if (result.children.length === 0) continue;
      const chain = [...(chains[index] ?? []), result.node.name];
      for (const child of result.children) next.push({ app: child, chain });
    }
    level = next;
  }
  if (state) {
    orderByMemo(walk, state, kept, targets, apps);
  } else {
    targets.sort(compareTargets);
    apps.sort(compareApps);
  }
  const rollouts = collectRollouts(declared, apps, labels, problems);
  problems.sort(
    (a, b) =>
      compareStrings(a.app, b.app) || compareStrings(a.kind, b.kind) || compareStrings(a.message, b.message),
  );
  return { revision, targets, problems, apps, rollouts };
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
function sortPending(level: PendingApp[]): number[] {
  const keyed = level.map((pending, index) => ({
    index,
    key: `${pending.app.metadata.name ?? ""}\0${pending.chain.join("/")}`,
  }));
  keyed.sort(
    (a, b) =>
      compareStrings(a.key, b.key) ||
      compareStrings(
        toCanonicalJson((level[a.index] as PendingApp).app),
        toCanonicalJson((level[b.index] as PendingApp).app),
      ),
  );
  return keyed.map((entry) => entry.index);
}

/** A level in sortPending's order; with a memo, a level of the same apps as last time takes the same order. */
function sortLevel(walk: Walk, depth: number, level: PendingApp[]): PendingApp[] {
  const before = walk.memo?.levels[depth];
  const order = before && isSameLevel(before, level) ? before.order : sortPending(level);
  if (walk.memo) {
    walk.nextLevels[depth] = {
      apps: level.map((pending) => pending.app),
      chains: level.map((pending) => pending.chain),
      order,
    };
  }
  return order.map((index) => level[index] as PendingApp);
}

function isSameLevel(before: LevelMemo, level: PendingApp[]): boolean {
  if (before.apps.length !== level.length) return false;
  for (const [index, pending] of level.entries()) {
    if (before.apps[index] !== pending.app) return false;
    const chain = before.chains[index] as string[];
    if (chain === pending.chain) continue;
    if (chain.length !== pending.chain.length) return false;
    for (const [at, name] of chain.entries()) if (pending.chain[at] !== name) return false;
  }
  return true;
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
    let readsGit = false;
    const expansionKeys: string[] = [];
    const rollouts: AppRollouts = { found: [], problems: [] };
    // Each Rollout is matched against every app of the fleet: bound them as objects are bounded.
    if (rendered.split.rollouts.length > walk.limits.maxObjectsPerApp) {
      throw new AppProblem(
        "limit",
        `declares ${rendered.split.rollouts.length} Rollouts; the limit is ${walk.limits.maxObjectsPerApp}`,
      );
    }
    for (const child of children) {
      if (child.kind === "Application") {
        childApps.push(child);
        continue;
      }
      // A failed ApplicationSet leaves the apps it generated unknown, not deleted: this app (the
      // ApplicationSet is no app of its own) carries the problem and the "problem" state that
      // keeps their earlier targets, so a broken template never prunes them.
      const first = childApps.length;
      const expanded = await expandApplicationSet(child, walk, childApps);
      const failures = expanded.problems;
      if (expanded.readsGit) readsGit = true;
      if (expanded.memoKey !== undefined) expansionKeys.push(expanded.memoKey);
      if (failures.length > 0) node.state = "problem";
      for (const failure of failures)
        problems.push({ ...failure, app: name, message: `${subject(child)}: ${failure.message}` });
      const reading = readRollingSync(child, name);
      addRolloutProblems(rollouts, name, reading.problems);
      // Its apps are unknown when it failed: no declaration rather than one of too few apps.
      if (reading.declaration && failures.length === 0)
        rollouts.found.push({ draft: reading.declaration, generated: childApps.slice(first) });
    }
    for (const obj of rendered.split.rollouts) {
      const reading = readRolloutResource(obj, name);
      addRolloutProblems(rollouts, name, reading.problems);
      if (reading.declaration && reading.apps)
        rollouts.found.push({ draft: reading.declaration, matcher: reading.apps });
    }
    node.children = childApps.map((c) => c.metadata.name ?? "").sort(compareStrings);
    const result: AppResult = {
      node,
      children: childApps,
      problems,
      commit: rendered.sources[0]?.commit ?? "",
      ...(rendered.reuseKey !== undefined ? { reuseKey: rendered.reuseKey } : {}),
      ...(readsGit ? { readsGit } : {}),
      ...(expansionKeys.length > 0 ? { expansionKeys } : {}),
      ...(rollouts.found.length > 0 || rollouts.problems.length > 0 ? { rollouts } : {}),
    };
    // An app of apps (or of ApplicationSets, even ones that generate nothing, or of Rollouts)
    // needs no destination.
    const declaresOnly = children.length > 0 || rendered.split.rollouts.length > 0;
    if (manifests.length === 0 && (declaresOnly || (isRoot && !spec.destination))) return result;
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

function addRolloutProblems(rollouts: AppRollouts, app: string, messages: readonly string[]): void {
  for (const message of messages) rollouts.problems.push({ app, kind: "invalid", message });
}

/**
 * The fleet's rollouts, by name, from every app's declarations: a RollingSync takes the apps its
 * ApplicationSet generated, a Rollout resource the apps of the whole fleet it matches. Taken in
 * the order of the declaring apps' names, then of their manifests: a declaration whose name is
 * already taken, or that would take an app already in a rollout, is left out with a problem on
 * its app (the first one is kept). `apps` is sorted by name.
 */
function collectRollouts(
  declared: readonly AppRollouts[],
  apps: readonly AppNode[],
  labels: ReadonlyMap<string, Labels>,
  problems: Problem[],
): RolloutDeclaration[] {
  const found = declared.flatMap((rollouts) => rollouts.found);
  if (found.length === 0) return [];
  // Stable: one app's declarations keep their manifest order.
  found.sort((a, b) => compareStrings(a.draft.declaredBy, b.draft.declaredBy));
  const byName = new Map<string, RolloutDeclaration>();
  const rolloutOf = new Map<string, string>();
  for (const entry of found) {
    const { draft } = entry;
    const what = `${draft.origin} ${draft.name}`;
    const reject = (message: string) =>
      problems.push({
        app: draft.declaredBy,
        kind: "invalid",
        message: `${what}: ${message}; it is ignored`,
      });
    const first = byName.get(draft.name);
    if (first) {
      reject(
        `a rollout named "${draft.name}" is already declared by app "${first.declaredBy}" (${first.origin})`,
      );
      continue;
    }
    const appLabels: Record<string, Labels> = {};
    if ("generated" in entry) {
      for (const app of entry.generated) {
        const name = app.metadata.name;
        if (typeof name === "string" && name !== "") appLabels[name] = readAppLabels(app);
      }
    } else {
      const matches = compileAppMatcher(entry.matcher);
      for (const { name } of apps) {
        const own = labels.get(name) ?? {};
        if (matches(name, own)) appLabels[name] = own;
      }
    }
    const members = Object.keys(appLabels).sort(compareStrings);
    const taken = members.filter((app) => rolloutOf.has(app));
    if (taken.length > 0) {
      const [app] = taken as [string];
      const more = taken.length > 1 ? ` (and ${taken.length - 1} more)` : "";
      reject(`app "${app}"${more} is already in rollout "${rolloutOf.get(app)}"`);
      continue;
    }
    for (const app of members) rolloutOf.set(app, draft.name);
    const sortedLabels: Record<string, Record<string, string>> = {};
    for (const app of members) sortedLabels[app] = { ...appLabels[app] };
    byName.set(draft.name, { ...draft, apps: members, appLabels: sortedLabels });
  }
  return [...byName.values()].sort((a, b) => compareStrings(a.name, b.name));
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
  /** Flotilla's Rollout resources: read by the hub, never sent to a cluster. */
  rollouts: KubeObject[];
  manifests: KubeObject[];
  manifestsDigest: string;
  crdKinds: Set<string>;
};

type RenderedSources = {
  split: SplitObjects;
  sources: TargetSource[];
  /** The key of the only source when it is shared by every app (see AppMemo). */
  reuseKey?: string;
};

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
  let reuseKey: string | undefined;
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
    const key = await cacheKeyOf(walk, input);
    if (walk.memo && key.shared && declared.length === 1 && !source.ref) reuseKey = key.key;
    const outcome = await walk.deps.render(input, key.key);
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
    return { split, sources, ...(reuseKey !== undefined ? { reuseKey } : {}) };
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

/**
 * renderCacheKey, with the app-independent work done once per source and commit in a resolve;
 * `shared`: the key is the same for every app rendering this source (not one per app).
 */
async function cacheKeyOf(walk: Walk, input: RenderInput): Promise<{ key: string; shared: boolean }> {
  const refCommits = Object.entries(input.refs ?? {}).map(([name, ref]) => `${name}=${ref.commit}`);
  const capabilities = JSON.stringify([input.kubeVersion, input.apiVersions]);
  const memoKey = `${input.checkout.commit}\0${refCommits.join(",")}\0${capabilities}\0${sourceJson(walk, input.source)}`;
  let parts = walk.sourceKeys.get(memoKey);
  if (!parts) {
    parts = readSourceKeyParts(walk.deps.git, input);
    walk.sourceKeys.set(memoKey, parts);
  }
  const found = await parts;
  if (found.overrides) return { key: await renderCacheKey(walk.deps.git, input), shared: false };
  if (found.shared !== undefined) return { key: found.shared, shared: true };
  return { key: composeCacheKey(found.location, input, true), shared: false };
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
  const rollouts: KubeObject[] = [];
  const byKey = new Map<string, KubeObject>();
  for (const [index, obj] of objects.entries()) {
    const isChild =
      groupOf(obj.apiVersion) === APP_GROUP && (obj.kind === "Application" || obj.kind === "ApplicationSet");
    if (isChild) children.push(obj);
    else if (isRolloutResource(obj)) rollouts.push(obj);
    else byKey.set(objectIdentity(obj, index), obj);
  }
  const keyed = [...byKey.values()].map((obj) => ({ obj, key: sortKey(obj) }));
  keyed.sort((a, b) => compareStrings(a.key, b.key) || tieBreak(a.obj, b.obj));
  const manifests = keyed.map((entry) => entry.obj);
  return {
    children,
    rollouts,
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

/**
 * Generates an ApplicationSet's apps into `into`. With a memo, one whose generators read nothing
 * from Git (the clusters and list generators) is generated once for as long as its content and
 * the clusters stay the same, and gives the same app objects, which the memo knows.
 */
async function expandApplicationSet(
  appSet: KubeObject,
  walk: Walk,
  into: KubeObject[],
): Promise<{ problems: Problem[]; readsGit: boolean; memoKey?: string }> {
  const memoKey = walk.memo ? toCanonicalJson(appSet) : undefined;
  const known = memoKey === undefined ? undefined : walk.memo?.expansions.get(memoKey);
  if (memoKey !== undefined && known) {
    walk.nextExpansions.set(memoKey, known);
    into.push(...known);
    return { problems: [], readsGit: false, memoKey };
  }
  const git = walk.deps.git;
  let readsGit = false;
  const reader = {
    listDirectories: async (repoURL: string, revision: string) => {
      readsGit = true;
      return git.listDirectories(repoURL, await resolveRevision(walk, repoURL, revision));
    },
    listFiles: async (repoURL: string, revision: string) => {
      readsGit = true;
      return git.listFiles(repoURL, await resolveRevision(walk, repoURL, revision));
    },
    readFile: async (repoURL: string, revision: string, path: string) => {
      readsGit = true;
      return git.readFile(repoURL, await resolveRevision(walk, repoURL, revision), path);
    },
  };
  const generated = await generateApplications(appSet, {
    clusters: walk.deps.clusters,
    git: reader,
    addImplicitInCluster: false,
  });
  into.push(...generated.applications);
  if (memoKey !== undefined && !readsGit && generated.problems.length === 0) {
    walk.nextExpansions.set(memoKey, generated.applications);
    return { problems: generated.problems, readsGit, memoKey };
  }
  return { problems: generated.problems, readsGit };
}

function buildTarget(
  walk: Walk,
  app: string,
  spec: ApplicationSpec,
  cluster: Cluster,
  sources: TargetSource[],
  split: SplitObjects,
): LazyTarget {
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

  /** This target as of another commit of its sources (same objects, same digest). */
  withSources(sources: TargetSource[]): LazyTarget {
    return new LazyTarget(
      this.cluster,
      this.app,
      this.project,
      this.namespace,
      sources,
      this.syncPolicy,
      this.ignoreDifferences,
      this.digest,
      this.#split,
    );
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

/** The problems of every reused app (shared: never add to them). */
const NO_PROBLEMS: Problem[] = Object.freeze([]) as unknown as Problem[];

/** The ignoreDifferences of every target without any (shared: never change a target in place). */
const NO_IGNORED_DIFFERENCES: unknown[] = Object.freeze([]) as unknown as unknown[];

/** The identity key of an absent syncPolicy or ignoreDifferences. */
const ABSENT = {};

function compareTargets(a: Target, b: Target): number {
  return compareStrings(a.cluster, b.cluster) || compareStrings(a.app, b.app);
}

function compareApps(a: AppNode, b: AppNode): number {
  return compareStrings(a.name, b.name);
}

/** The memo ready for this resolve: emptied when the clusters, limits or GitSource changed. */
function openMemo(state: MemoState, deps: ResolveDeps, limits: ResolveLimits): MemoState {
  const context = JSON.stringify([deps.clusters, limits]);
  if (state.context !== context || state.git !== deps.git) {
    state.context = context;
    state.git = deps.git;
    state.apps = new WeakMap();
    state.root = undefined;
    state.expansions = new Map();
    state.levels = [];
    state.targetCount = 0;
    state.appCount = 0;
  }
  return state;
}

/**
 * The results of a level's apps that the memo has from the last resolve and whose render key
 * is still the same (undefined for the others): the same nodes and children, the same target
 * with its sources at their commit now. Keys are computed once per source object, and the apps
 * of one ApplicationSet share theirs.
 */
async function reuseApps(
  accepted: readonly (PendingApp | undefined)[],
  walk: Walk,
  isRoot: boolean,
): Promise<(AppResult | undefined)[]> {
  const memo = walk.memo as MemoState;
  const found: (AppMemo | undefined)[] = new Array(accepted.length);
  const sources: (ApplicationSource | undefined)[] = new Array(accepted.length);
  const asked: { name: string; spec: ApplicationSpec; source: ApplicationSource }[] = [];
  for (const [index, pending] of accepted.entries()) {
    if (!pending) continue;
    const known = isRoot
      ? memo.root?.json === toCanonicalJson(pending.app)
        ? memo.root.memo
        : undefined
      : memo.apps.get(pending.app);
    if (!known || known.generation !== memo.generation || known.isRoot !== isRoot) continue;
    if (known.node.parent !== pending.chain.at(-1)) continue;
    const spec = pending.app.spec as ApplicationSpec;
    const source = spec.sources?.length ? spec.sources[0] : spec.source;
    if (!source) continue;
    found[index] = known;
    sources[index] = source;
    if (!walk.reuseKeys.has(source)) {
      walk.reuseKeys.set(source, Promise.resolve(undefined));
      asked.push({ name: known.node.name, spec, source });
    }
  }
  await mapBounded(asked.length, walk.limits.renderConcurrency, async (index) => {
    const { name, spec, source } = asked[index] as (typeof asked)[number];
    const key = currentSharedKey(walk, name, spec, source);
    walk.reuseKeys.set(source, key);
    await key;
  });
  // Per source: its key and commit now, and the one-source list its targets share (null: not reusable).
  const current = new Map<ApplicationSource, { key: string; commit: string; list: TargetSource[] } | null>();
  for (const source of sources) {
    if (!source || current.has(source)) continue;
    const now = await walk.reuseKeys.get(source);
    if (!now) {
      current.set(source, null);
      continue;
    }
    const entry = targetSourceOf(walk, source, now.commit);
    let list = walk.sourceLists.get(entry);
    if (!list) {
      list = [entry];
      walk.sourceLists.set(entry, list);
    }
    current.set(source, { ...now, list });
  }
  const results: (AppResult | undefined)[] = new Array(accepted.length);
  // The apps of one ApplicationSet come one after the other: look their shared source up once.
  let lastSource: ApplicationSource | undefined;
  let now: { key: string; commit: string; list: TargetSource[] } | null | undefined;
  for (let index = 0; index < found.length; index++) {
    const known = found[index];
    if (!known) continue;
    const source = sources[index] as ApplicationSource;
    if (source !== lastSource) {
      lastSource = source;
      now = current.get(source);
    }
    if (!now || now.key !== known.key) continue;
    const result: AppResult = {
      node: known.node,
      children: known.children,
      problems: NO_PROBLEMS,
      commit: now.commit,
      memo: known,
      reused: true,
      ...(known.rollouts ? { rollouts: known.rollouts } : {}),
    };
    if (known.target) result.target = known.target.withSources(now.list);
    results[index] = result;
  }
  return results;
}

/** The render key of an app's only source now, with its commit, when it is shared by every app; else undefined. */
async function currentSharedKey(
  walk: Walk,
  appName: string,
  spec: ApplicationSpec,
  source: ApplicationSource,
): Promise<{ key: string; commit: string } | undefined> {
  try {
    if (source.chart || source.ref || !isAllowed(walk, source.repoURL)) return undefined;
    const checkout = await readCheckout(walk, source);
    const input: RenderInput = {
      appName,
      destinationNamespace: spec.destination?.namespace ?? "",
      source,
      checkout,
      refs: {},
      ...(spec.project ? { project: spec.project } : {}),
    };
    const key = await cacheKeyOf(walk, input);
    return key.shared ? { key: key.key, commit: checkout.commit } : undefined;
  } catch {
    // The app is resolved again, and reports what fails.
    return undefined;
  }
}

/** Records in the memo what the next resolve may reuse of one app's result. */
function rememberApp(
  walk: Walk,
  state: MemoState,
  result: AppResult,
  app: KubeObject,
  isRoot: boolean,
): void {
  if (result.reused && result.memo) {
    result.memo.generation = walk.generation;
    if (result.target) result.memo.target = result.target as LazyTarget;
    for (const [key, apps] of result.memo.expansions) walk.nextExpansions.set(key, apps);
    return;
  }
  const key = result.reuseKey;
  if (key === undefined || result.readsGit || result.problems.length > 0 || result.node.state !== "ok")
    return;
  const memo: AppMemo = {
    generation: walk.generation,
    isRoot,
    key,
    node: result.node,
    children: result.children,
    ...(result.target ? { target: result.target as LazyTarget } : {}),
    expansions: (result.expansionKeys ?? []).map((expansion) => [
      expansion,
      walk.nextExpansions.get(expansion) ?? [],
    ]),
    ...(result.rollouts ? { rollouts: result.rollouts } : {}),
    targetIndex: -1,
    appIndex: -1,
  };
  result.memo = memo;
  if (isRoot) state.root = { json: toCanonicalJson(app), memo };
  else state.apps.set(app, memo);
}

/**
 * Fills `targets` and `apps` in the order a cold resolve sorts them, starting from the last
 * resolve's order of what was reused (still in order: its keys did not change), then merging in
 * the rest, and records the new places and the memo's new generation.
 */
function orderByMemo(
  walk: Walk,
  state: MemoState,
  kept: AppResult[],
  targets: Target[],
  apps: AppNode[],
): void {
  const withTarget = kept.filter((result) => result.target);
  const byTarget = placeInOrder(
    withTarget,
    (result) => (result.reused && result.memo ? result.memo.targetIndex : -1),
    state.targetCount,
    (a, b) => compareTargets(a.target as Target, b.target as Target),
  );
  for (const [index, result] of byTarget.entries()) {
    targets.push(result.target as Target);
    if (result.memo) result.memo.targetIndex = index;
  }
  const byName = placeInOrder(
    kept,
    (result) => (result.reused && result.memo ? result.memo.appIndex : -1),
    state.appCount,
    (a, b) => compareApps(a.node, b.node),
  );
  for (const [index, result] of byName.entries()) {
    apps.push(result.node);
    if (result.memo) result.memo.appIndex = index;
  }
  state.generation = walk.generation;
  state.targetCount = targets.length;
  state.appCount = apps.length;
  state.expansions = walk.nextExpansions;
  state.levels = walk.nextLevels;
}

/**
 * Items sorted by `compare` (unique keys), given the place each had in the last sorted list
 * (-1: none): those with a place keep their relative order, the others are sorted and merged in.
 */
function placeInOrder<T>(
  items: readonly T[],
  previousIndex: (item: T) => number,
  previousCount: number,
  compare: (a: T, b: T) => number,
): T[] {
  const placed: T[] = new Array(previousCount);
  const fresh: T[] = [];
  for (const item of items) {
    const index = previousIndex(item);
    if (index >= 0 && index < previousCount && placed[index] === undefined) placed[index] = item;
    else fresh.push(item);
  }
  // filter skips the holes: the places of what is gone.
  const ordered = placed.filter(() => true);
  if (fresh.length === 0) return ordered;
  fresh.sort(compare);
  const merged: T[] = [];
  let from = 0;
  for (const item of fresh) {
    let low = from;
    let high = ordered.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compare(ordered[middle] as T, item) < 0) low = middle + 1;
      else high = middle;
    }
    for (let index = from; index < low; index++) merged.push(ordered[index] as T);
    merged.push(item);
    from = low;
  }
  for (let index = from; index < ordered.length; index++) merged.push(ordered[index] as T);
  return merged;
}

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
