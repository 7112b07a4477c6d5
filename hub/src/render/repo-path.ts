import { realpath, stat } from "node:fs/promises";
import { isAbsolute, join, posix, relative, sep } from "node:path";
import { RenderProblemError } from "./render-problem.js";

/** True when `path` is `root` or below it (both absolute and already resolved). */
export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

/** Normalises a repository-relative path: "./a//b/" -> "a/b", "" and "." -> "". */
export function normalizeRepoPath(path: string): string {
  const clean = posix.normalize(path.replace(/^\/+/, "")).replace(/\/+$/, "");
  return clean === "." ? "" : clean;
}

/**
 * The directory an app renders from, as Argo CD checks `source.path` (util/app/path Path): not
 * absolute, not outside the root, existing, a directory; and, stricter than Argo CD, its real
 * path (after symlinks) inside the real root. Problems are `invalid`.
 */
export async function resolveAppDir(root: string, path: string): Promise<string> {
  if (isAbsolute(path)) throw new RenderProblemError("invalid", `${path}: app path is absolute`);
  const rel = normalizeRepoPath(path);
  if (rel === ".." || rel.startsWith("../")) {
    throw new RenderProblemError("invalid", `${path}: app path outside repository root`);
  }
  const appDir = join(root, rel);
  let real: string;
  try {
    real = await realpath(appDir);
  } catch {
    throw new RenderProblemError("invalid", `${path || "."}: app path does not exist`);
  }
  if (!isInside(await realpath(root), real)) {
    throw new RenderProblemError("invalid", `${path}: app path resolves outside the repository`);
  }
  if (!(await stat(real)).isDirectory()) {
    throw new RenderProblemError("invalid", `${path}: app path is not a directory`);
  }
  return appDir;
}

/** A file named in the Application (valueFiles, fileParameters, patches) resolved in a repository. */
export type RepoFile = { path: string; exists: boolean };

/**
 * Resolves a file the way Argo CD does (util/io/path ResolveValueFilePathOrUrl): relative to
 * `baseDir`, or, when absolute, relative to `root`; it may climb with `..` as long as it stays
 * inside `root`, and its real path (after every symlink, not only the last one) must too. A
 * path that leaves the root is an `invalid` problem naming `label`.
 */
export async function resolveRepoFile(
  root: string,
  baseDir: string,
  file: string,
  label: string,
): Promise<RepoFile> {
  const path = isAbsolute(file) ? join(root, file) : join(baseDir, file);
  if (!isInside(root, path) || path === root) {
    throw new RenderProblemError("invalid", `${label}: ${file} resolves outside the repository root`);
  }
  let real: string;
  try {
    real = await realpath(path);
  } catch {
    return { path, exists: false };
  }
  if (!isInside(await realpath(root), real)) {
    throw new RenderProblemError("invalid", `${label}: ${file} is a symlink that leaves the repository`);
  }
  return { path, exists: true };
}

/** Go's lexical order for names (bytes, not UTF-16 units), which filepath.Walk visits in. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
