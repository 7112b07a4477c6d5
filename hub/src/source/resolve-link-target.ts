// Linux gives up after 40 links in one lookup (ELOOP); a tree may not make us do more work.
const MAX_LINK_HOPS = 40;

/**
 * Follows a symlink the way the kernel would inside a checkout of the tree, without touching
 * the filesystem: `linkPath` is the link's repo-relative path, `target` its content and
 * `readLink(path)` the content of another link in the tree (undefined when `path` is not one).
 * Returns the repo-relative path the link leads to ("" is the root), or undefined when the
 * target is absolute, would climb above the root at any step (also through other links, e.g.
 * `d -> .` then `x -> d/../etc`), or loops.
 *
 * Components that do not exist are treated as directories, so a link dangling today cannot
 * escape once something creates the missing part.
 */
export function resolveLinkTarget(
  linkPath: string,
  target: string,
  readLink: (path: string) => string | undefined,
): string | undefined {
  const budget = { hops: MAX_LINK_HOPS };
  const resolved = followLink(parentSegments(linkPath), target, readLink, budget);
  return resolved?.join("/");
}

function followLink(
  from: string[],
  target: string,
  readLink: (path: string) => string | undefined,
  budget: { hops: number },
): string[] | undefined {
  if (target === "" || target.startsWith("/") || target.includes("\0")) return undefined;
  let stack = [...from];
  for (const part of target.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (stack.length === 0) return undefined;
      stack.pop();
      continue;
    }
    stack.push(part);
    const next = readLink(stack.join("/"));
    if (next === undefined) continue;
    if (--budget.hops < 0) return undefined;
    const followed = followLink(stack.slice(0, -1), next, readLink, budget);
    if (!followed) return undefined;
    stack = followed;
  }
  return stack;
}

function parentSegments(path: string): string[] {
  const segments = path.split("/").filter((s) => s !== "");
  segments.pop();
  return segments;
}
