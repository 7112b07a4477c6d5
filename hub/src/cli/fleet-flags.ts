import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse } from "yaml";
import { loadRenderConfig } from "../config.js";
import { createRenderCache, renderSourceCached } from "../render/render-cache.js";
import { createRenderTools } from "../render/render-source.js";
import type { Cluster } from "../resolve/cluster.js";
import type { FleetRoot, ResolveDeps } from "../resolve/resolve-fleet.js";
import { openGitSource } from "../source/git-source.js";
import { UsageError } from "./command.js";

/** The flags `render` and `diff` share: which repository, root path and clusters to resolve. */
export type FleetFlags = {
  repo: string;
  path: string;
  clustersFile: string;
  repoMaps: { from: string; to: string }[];
};

/** parseArgs options of the flags `render` and `diff` share. */
export const FLEET_FLAG_OPTIONS = {
  repo: { type: "string" },
  path: { type: "string" },
  clusters: { type: "string" },
  "repo-map": { type: "string", multiple: true },
  output: { type: "string", short: "o" },
} as const;

export function readFleetFlags(values: {
  repo?: string;
  path?: string;
  clusters?: string;
  "repo-map"?: string[];
}): FleetFlags {
  if (!values.repo) throw new UsageError("--repo is required");
  if (values.path === undefined) throw new UsageError("--path is required");
  if (!values.clusters) throw new UsageError("--clusters is required");
  const repoMaps = (values["repo-map"] ?? []).map((entry) => {
    const split = entry.indexOf("=", entry.indexOf("://") + 3);
    if (split <= 0 || split === entry.length - 1) {
      throw new UsageError(`--repo-map "${entry}" must look like <url>=<dir|url>`);
    }
    return { from: entry.slice(0, split), to: resolveLocal(entry.slice(split + 1)) };
  });
  return { repo: resolveLocal(values.repo), path: values.path, clustersFile: values.clusters, repoMaps };
}

/** A local directory as an absolute path; URLs unchanged. */
function resolveLocal(location: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(location) ? location : resolve(location);
}

/** Reads `clusters: [{name, server, labels}]`, with an error naming the file and the entry. */
export function readClustersFile(path: string): Cluster[] {
  if (!existsSync(path) || !statSync(path).isFile()) throw new Error(`${path}: no such file`);
  let document: unknown;
  try {
    // `merge`: YAML 1.1 merge keys (`<<: *defaults`), which cluster lists often use for shared labels.
    document = parse(readFileSync(path, "utf8"), { maxAliasCount: 100, merge: true });
  } catch (error) {
    throw new Error(`${path}: not valid YAML: ${error instanceof Error ? error.message : String(error)}`);
  }
  const list = (document as { clusters?: unknown } | null)?.clusters;
  if (!Array.isArray(list)) throw new Error(`${path}: expected a top-level "clusters:" list`);
  const names = new Set<string>();
  return list.map((entry: unknown, index) => {
    const where = `${path}: clusters[${index}]`;
    const item = entry as {
      name?: unknown;
      server?: unknown;
      labels?: unknown;
      annotations?: unknown;
    } | null;
    if (typeof item?.name !== "string" || item.name === "")
      throw new Error(`${where}: "name" must be a non-empty string`);
    if (typeof item.server !== "string" || item.server === "")
      throw new Error(`${where} (${item.name}): "server" must be a non-empty string`);
    if (names.has(item.name)) throw new Error(`${where}: cluster name "${item.name}" appears twice`);
    names.add(item.name);
    return {
      name: item.name,
      server: item.server,
      labels: readStringMap(item.labels, `${where} (${item.name}) labels`),
      annotations: readStringMap(item.annotations, `${where} (${item.name}) annotations`),
    };
  });
}

function readStringMap(value: unknown, where: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value))
    throw new Error(`${where}: must be a map of strings`);
  const map: Record<string, string> = {};
  for (const [key, field] of Object.entries(value)) {
    if (typeof field === "object" && field !== null) throw new Error(`${where}: "${key}" must be a string`);
    map[key] = String(field);
  }
  return map;
}

/**
 * The implied root app: the repository path rendered like an Application with no destination.
 * Child apps and generators that follow HEAD of the same repository read `revision` too, so
 * `render --revision` and `diff --from/--to` preview the repository as of that revision.
 */
export function rootOf(flags: FleetFlags, revision: string | undefined): FleetRoot {
  return {
    name: "root",
    source: { repoURL: flags.repo, path: flags.path, ...(revision ? { targetRevision: revision } : {}) },
    followRootRevision: true,
  };
}

/** Git, renderers and clusters for resolving from the command line; only --repo and the mapped repositories are read. */
export function openResolveDeps(
  flags: FleetFlags,
  env: Readonly<Record<string, string | undefined>>,
): ResolveDeps {
  const config = loadRenderConfig(env);
  const clusters = readClustersFile(flags.clustersFile);
  const git = openGitSource({
    cacheDir: join(config.cacheDir, "git"),
    repos: [{ url: flags.repo }, ...flags.repoMaps.map((m) => ({ url: m.to }))],
    rewrites: flags.repoMaps,
  });
  const tools = createRenderTools({
    kustomizePath: config.kustomizePath,
    helmPath: config.helmPath,
    workDir: join(config.cacheDir, "render"),
    timeoutMs: config.renderTimeoutMs,
  });
  const cache = createRenderCache({ maxEntries: 10_000 });
  return { git, clusters, render: (input, key) => renderSourceCached(input, tools, cache, key) };
}

/**
 * The root repository's commit for `revision` (default HEAD). Unlike a child app's repository,
 * an unreadable root is an error of the command, not a problem in its output.
 */
export async function resolveRootRevision(
  deps: ResolveDeps,
  flags: FleetFlags,
  revision: string | undefined,
): Promise<string> {
  try {
    return await deps.git.resolveRevision(flags.repo, revision);
  } catch (error) {
    throw new Error(`cannot read ${flags.repo} at ${revision ?? "HEAD"}`, { cause: error });
  }
}
