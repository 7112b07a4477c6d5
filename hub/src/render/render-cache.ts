import { lstat, readdir, readlink, realpath } from "node:fs/promises";
import { isAbsolute, join, posix } from "node:path";
import { KUSTOMIZATION_FILE_NAMES } from "./detect-tool.js";
import { listKustomizationRefs, readKustomization } from "./find-kustomize-inputs.js";
import { mergeSourceOverrides } from "./merge-source-overrides.js";
import {
  type RenderInput,
  type RenderOutcome,
  type RenderTools,
  renderSourceForCache,
} from "./render-source.js";
import { normalizeRepoPath } from "./repo-path.js";
import type { ApplicationSource } from "./source-spec.js";

/**
 * Rendered outcomes (objects or problem) by a caller-supplied key, least recently used evicted
 * first. Concurrent renders of one key share a single run.
 */
export type RenderCache = {
  readonly maxEntries: number;
  readonly entries: Map<string, Promise<RenderOutcome>>;
  hits: number;
  misses: number;
};

export function createRenderCache(options: { maxEntries: number }): RenderCache {
  return { maxEntries: Math.max(1, options.maxEntries), entries: new Map(), hits: 0, misses: 0 };
}

/**
 * renderSource through a cache. The key must change whenever the output can: use the repository
 * URL, the tree id of the app path (of the repository root when `needsRootKey` says so, plus the
 * commits of any `refs`; plus the commit itself when `needsCommitKey` says so) and a digest of
 * the source options, destination namespace, app name, project and cluster capabilities. Outcomes that may differ next time (timeouts, tool failures
 * to start) are not kept. Cached objects are shared between callers and deeply frozen: copy an
 * object before changing it.
 */
export async function renderSourceCached(
  input: RenderInput,
  tools: RenderTools,
  cache: RenderCache,
  key: string,
): Promise<RenderOutcome> {
  const hit = cache.entries.get(key);
  if (hit !== undefined) {
    cache.hits += 1;
    cache.entries.delete(key);
    cache.entries.set(key, hit);
    return hit;
  }
  cache.misses += 1;
  const pending = renderSourceForCache(input, tools).then(({ outcome, cacheable }) => {
    if (!cacheable && cache.entries.get(key) === pending) cache.entries.delete(key);
    return deepFreeze(outcome);
  });
  cache.entries.set(key, pending);
  for (const oldest of cache.entries.keys()) {
    if (cache.entries.size <= cache.maxEntries) break;
    cache.entries.delete(oldest);
  }
  return pending;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * True when the source's options name `$ARGOCD_APP_REVISION` (or its short forms), which Argo CD
 * substitutes with the commit: the output then changes with every commit, even when no file of
 * the app does, so the cache key must include the commit.
 */
export function needsCommitKey(input: RenderInput): boolean {
  const { helm, kustomize, directory } = input.source;
  return JSON.stringify({ helm, kustomize, directory }).includes("ARGOCD_APP_REVISION");
}

const MAX_SCANNED_ENTRIES = 10_000;

/**
 * True when an app's output can depend on files outside its path, so its cache key must use
 * the tree id of the repository root instead of the path's: `$ref` or climbing (`..`, absolute)
 * Helm valueFiles or fileParameters, Kustomize components or patches that climb, a
 * kustomization below the path naming anything outside it, or a symlink below the path
 * pointing outside it. `.argocd-source*.yaml` overrides are taken into account. When the path
 * leaves the repository or cannot be read the answer is true (safe).
 */
export async function needsRootKey(input: RenderInput): Promise<boolean> {
  const { source, checkout } = input;
  if (source.chart || (source.ref && !source.path)) return false;
  const appPath = normalizeRepoPath(source.path ?? "");
  if (appPath === "") return false;
  // A path that leaves the repository fails to render; never look at what is out there.
  if (appPath === ".." || appPath.startsWith("../")) return true;
  const appDir = join(checkout.dir, appPath);
  try {
    const merged = await mergeSourceOverrides(source, appDir, checkout.dir, input.appName);
    if (optionsClimb(merged)) return true;
    return await treeReachesOut(appDir, await realpath(checkout.dir));
  } catch {
    return true;
  }
}

function climbs(path: string): boolean {
  return path.startsWith("$") || isAbsolute(path) || path.split("/").includes("..");
}

function optionsClimb(source: ApplicationSource): boolean {
  const helm = source.helm;
  const kustomize = source.kustomize;
  const paths = [
    ...(helm?.valueFiles ?? []),
    ...(helm?.fileParameters ?? []).map((p) => p.path),
    ...(kustomize?.components ?? []),
    ...(kustomize?.patches ?? []).flatMap((p) => (p.path ? [p.path] : [])),
  ];
  return paths.some(climbs);
}

/** A symlink or kustomization below `appDir` that names something outside it. */
async function treeReachesOut(appDir: string, realRoot: string): Promise<boolean> {
  let scanned = 0;
  const leaves = (fromRel: string, ref: string) => {
    const target = posix.normalize(posix.join(posix.dirname(fromRel), ref));
    return isAbsolute(ref) || target === ".." || target.startsWith("../");
  };
  const visit = async (rel: string): Promise<boolean> => {
    const dir = join(appDir, rel);
    const found = await readKustomization(dir, realRoot);
    if (found) {
      const refs = listKustomizationRefs(found.content);
      const self = posix.join(rel, KUSTOMIZATION_FILE_NAMES[0]);
      if ([...refs.directories, ...refs.files].some((ref) => /:\/\//.test(ref) || leaves(self, ref)))
        return true;
    }
    for (const name of await readdir(dir)) {
      scanned += 1;
      if (scanned > MAX_SCANNED_ENTRIES) return true;
      const childRel = rel === "" ? name : `${rel}/${name}`;
      const info = await lstat(join(appDir, childRel));
      if (info.isSymbolicLink() && leaves(childRel, await readlink(join(appDir, childRel)))) return true;
      if (info.isDirectory() && (await visit(childRel))) return true;
    }
    return false;
  };
  return visit("");
}
