import { constants } from "node:fs";
import { copyFile, link, lstat, mkdir, readdir, readlink, realpath, stat, symlink } from "node:fs/promises";
import { dirname, isAbsolute, join, posix } from "node:path";
import { RenderProblemError } from "./render-problem.js";
import { isInside } from "./repo-path.js";

/** What `stageWorkTree` left out of the copy, as repository-relative paths. */
export type StagedTree = { droppedLinks: string[] };

const KUSTOMIZATION_NAMES = new Set(["kustomization.yaml", "kustomization.yml", "Kustomization"]);

/**
 * Lays a writable copy of the parts of a read-only checkout a tool needs at `destDir`, at the
 * same repository-relative paths: each of `roots` (files or directories, copied whole) and,
 * transitively, the targets of the symlinks inside them, so only what was asked for is visible
 * to the tool. Regular files are hard links (a copy where linking fails, e.g. across file
 * systems); kustomization files are always real copies because `kustomize edit` rewrites them
 * in place. Symlinks that are absolute or climb out of the checkout (Argo CD's out-of-bounds
 * rule) are left out and reported, so no tool reads through them; in-bounds links are kept as
 * links. `.git`, sockets, FIFOs and devices are skipped. More than `maxEntries` entries is a
 * `limit` problem.
 */
export async function stageWorkTree(
  sourceDir: string,
  destDir: string,
  roots: readonly string[],
  maxEntries: number,
): Promise<StagedTree> {
  const droppedLinks: string[] = [];
  const staged = new Set<string>();
  const pending = roots.map((root) => posix.normalize(root === "" ? "." : root));
  const realSource = await realpath(sourceDir);
  let entries = 0;

  const count = () => {
    entries += 1;
    if (entries > maxEntries) {
      throw new RenderProblemError("limit", `a render needs more than ${maxEntries} files and directories`);
    }
  };
  const isStaged = (rel: string) => {
    for (let at = rel; ; at = posix.dirname(at)) {
      if (staged.has(at)) return true;
      if (at === "." || at === "/") return false;
    }
  };
  /** Places one entry; a link queues its target, a directory its whole content. */
  const place = async (rel: string): Promise<void> => {
    count();
    const from = join(sourceDir, rel);
    const to = join(destDir, rel);
    const info = await lstat(from);
    if (info.isSymbolicLink()) {
      const target = await readlink(from);
      if (!isLinkInBounds(rel, target)) {
        droppedLinks.push(rel);
        return;
      }
      if (KUSTOMIZATION_NAMES.has(posix.basename(rel))) {
        // `kustomize edit` would write through a linked kustomization into a hard-linked
        // file of the checkout: stage a real copy of what it points to instead.
        const real = await realpath(from).catch(() => undefined);
        if (real !== undefined && isInside(realSource, real) && (await stat(real)).isFile()) {
          await ignoreExisting(copyFile(real, to, constants.COPYFILE_EXCL));
        }
        return;
      }
      await ignoreExisting(symlink(target, to));
      pending.push(posix.join(posix.dirname(rel), target));
    } else if (info.isDirectory()) {
      staged.add(rel);
      await mkdir(to, { recursive: true });
      for (const name of await readdir(from)) {
        const child = rel === "." ? name : `${rel}/${name}`;
        if (child === ".git") continue;
        await place(child);
      }
    } else if (info.isFile()) {
      await ignoreExisting(placeFile(from, to, KUSTOMIZATION_NAMES.has(posix.basename(rel))));
    }
  };
  /** Creates the parents of `rel` as they are in the checkout, following in-bounds links. */
  const placeParents = async (rel: string): Promise<string | undefined> => {
    const parts = rel.split("/");
    let at = ".";
    for (const [i, part] of parts.slice(0, -1).entries()) {
      at = at === "." ? part : `${at}/${part}`;
      const info = await lstat(join(sourceDir, at));
      if (info.isSymbolicLink()) {
        const target = await readlink(join(sourceDir, at));
        if (!isLinkInBounds(at, target)) {
          droppedLinks.push(at);
          return undefined;
        }
        await mkdir(dirname(join(destDir, at)), { recursive: true });
        await ignoreExisting(symlink(target, join(destDir, at)));
        return posix.join(posix.dirname(at), target, ...parts.slice(i + 1));
      }
      await mkdir(join(destDir, at), { recursive: true });
    }
    return rel;
  };

  await mkdir(destDir, { recursive: true });
  while (pending.length > 0) {
    let rel: string | undefined = pending.pop() as string;
    if (rel === ".." || rel.startsWith("../")) continue;
    // Walk through linked parents until the path is spelled with real directories.
    for (let hops = 0; rel !== undefined && rel !== "." && hops < 40; hops += 1) {
      const next: string | undefined = await placeParents(rel);
      if (next === rel) break;
      rel = next === undefined ? undefined : posix.normalize(next);
    }
    if (rel === undefined || isStaged(rel)) continue;
    const exists = await lstat(join(sourceDir, rel)).then(
      () => true,
      () => false,
    );
    if (exists) await place(rel);
  }
  return { droppedLinks };
}

async function placeFile(from: string, to: string, mustCopy: boolean): Promise<void> {
  if (!mustCopy) {
    try {
      await link(from, to);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") throw error;
      // Different file systems or no link permission: fall back to a copy.
    }
  }
  // EXCL: never write through an existing entry, which may be a hard link into the checkout.
  await copyFile(from, to, constants.COPYFILE_EXCL);
}

async function ignoreExisting(operation: Promise<void>): Promise<void> {
  try {
    await operation;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
}

/**
 * Argo CD's rule (util/app/path CheckOutOfBoundsSymlinks): a link is out of bounds when its
 * target is absolute or when any step of its relative target leaves the repository root.
 */
export function isLinkInBounds(linkRel: string, target: string): boolean {
  if (isAbsolute(target) || target.startsWith("/")) return false;
  let current = posix.dirname(linkRel);
  for (const part of target.split("/")) {
    current = posix.join(current, part);
    if (current === ".." || current.startsWith("../")) return false;
  }
  return true;
}
