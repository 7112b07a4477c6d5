import { createHash } from "node:crypto";
import { join } from "node:path";
import type { RepoCredentials, SourceConfig } from "./git-source.js";
import { findLocalRepoPath, normalizeRepoUrl } from "./normalize-repo-url.js";

/**
 * Where a repository URL is read from: a remote served over the network (`url` carries no
 * credentials), or a local repository read in place. `key` names its caches on disk and in
 * memory; URLs that lead to the same place share one key.
 */
export type RepoLocation =
  | { kind: "remote"; key: string; url: string; credentials?: RepoCredentials }
  | { kind: "local"; key: string; path: string };

/** Maps a URL to its location, or undefined when it is neither configured nor rewritten. */
export type RepoLocator = (url: string) => RepoLocation | undefined;

type Rewrite = { from: string; to: string };

/**
 * Builds the allow-list of a source: a URL is allowed when it equals a configured repository
 * (compared normalized) or starts with a rewrite's `from` (whole path segments; the longest
 * `from` wins). A rewrite's target is allowed whatever it is; credentials are those configured
 * for the URL actually read (a repository entry or user info in the target), never those of the
 * URL that was rewritten, so a mirror never receives another host's secret.
 */
export function createRepoLocator(config: Pick<SourceConfig, "repos" | "rewrites">): RepoLocator {
  const repos = new Map<string, { url: string; credentials?: RepoCredentials }>();
  for (const repo of config.repos) repos.set(normalizeRepoUrl(repo.url), repo);
  const rewrites = (config.rewrites ?? [])
    .map((rewrite) => ({ ...rewrite, normalizedFrom: normalizeRepoUrl(rewrite.from) }))
    .sort((a, b) => b.normalizedFrom.length - a.normalizedFrom.length);

  function describeTarget(target: string): RepoLocation {
    const normalized = normalizeRepoUrl(target);
    const key = buildRepoKey(normalized);
    const path = findLocalRepoPath(target);
    if (path !== undefined) return { kind: "local", key, path };
    const configured = repos.get(normalized);
    const { url: withSlash, credentials: inline } = splitCredentials(target);
    const url = withSlash.replace(/\/+$/, "");
    const credentials =
      configured?.credentials ?? splitCredentials(configured?.url ?? "").credentials ?? inline;
    return credentials ? { kind: "remote", key, url, credentials } : { kind: "remote", key, url };
  }

  return (url) => {
    const normalized = normalizeRepoUrl(url);
    const rewrite = rewrites.find(
      (r) => normalized === r.normalizedFrom || normalized.startsWith(`${r.normalizedFrom}/`),
    );
    if (rewrite) {
      const target = rewriteUrl(rewrite, url, normalized.slice(rewrite.normalizedFrom.length));
      return target === undefined ? undefined : describeTarget(target);
    }
    const configured = repos.get(normalized);
    return configured ? describeTarget(configured.url) : undefined;
  };
}

/** The target of a rewrite for a URL whose normalized form continues with `rest` ("" or "/a/b"). */
function rewriteUrl(rewrite: Rewrite, url: string, rest: string): string | undefined {
  if (rest === "") return rewrite.to;
  const segments = rest.slice(1).split("/").map(decodeSegment);
  // The rest comes from the caller: it must not climb out of the rewrite's target, also not
  // with an encoded separator (`..%2F..%2Fetc` decodes to one segment holding `../../etc`).
  if (segments.some((s) => s === undefined || s === "" || s === "." || s === ".." || /[/\\\0]/.test(s))) {
    return undefined;
  }
  const localRoot = findLocalRepoPath(rewrite.to);
  if (localRoot !== undefined) return join(localRoot, ...(segments as string[]));
  const gitSuffix = /\.git\/*$/i.test(url.trim()) ? ".git" : "";
  return `${rewrite.to.replace(/\/+$/, "")}${rest}${gitSuffix}`;
}

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** Splits user info off a URL: credentials belong in onAuth, never in a stored or logged URL. */
function splitCredentials(url: string): { url: string; credentials?: RepoCredentials } {
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    return { url: url.trim() };
  }
  if (!parsed.username && !parsed.password) return { url: url.trim() };
  const credentials = {
    username: decodeSegment(parsed.username) ?? parsed.username,
    password: decodeSegment(parsed.password) ?? parsed.password,
  };
  parsed.username = "";
  parsed.password = "";
  return { url: parsed.href, credentials };
}

/** `<host and path, sanitized>-<hash of the normalized URL>`: readable, unique, safe as a file name. */
function buildRepoKey(normalized: string): string {
  const readable = normalized
    .replace(/^[a-z]+:\/\//, "")
    .replace(/[^A-Za-z0-9._-]+/g, "-")
    .replace(/^[-.]+|[-.]+$/g, "")
    .slice(-60)
    .replace(/^[-.]+/, "");
  const hash = createHash("sha256").update(normalized).digest("hex").slice(0, 12);
  return `${readable || "repo"}-${hash}`;
}
