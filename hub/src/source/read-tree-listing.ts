import git, { type PromiseFsClient } from "isomorphic-git";
import { SourceError } from "./source-error.js";

/** Where isomorphic-git reads objects: a git directory and the object cache that goes with it. */
export type ObjectStore = { fs: PromiseFsClient; gitdir: string; cache: object };

export type TreeEntryKind = "file" | "executable" | "symlink" | "directory" | "submodule";
export type TreeEntry = { kind: TreeEntryKind; oid: string };

/** Every path of one tree, read once and kept while it is in use. */
export type TreeListing = {
  /** The root tree id. */
  tree: string;
  /** Every path below the root (`a/b.yaml`), directories included. */
  entries: Map<string, TreeEntry>;
  /** Files and symlinks, sorted; submodules are not files. */
  files: string[];
  /** Directories, sorted, the root excluded. */
  directories: string[];
};

const YIELD_EVERY_TREES = 64;

const KIND_BY_MODE: Record<string, TreeEntryKind> = {
  "100644": "file",
  "100755": "executable",
  "120000": "symlink",
  "040000": "directory",
  "160000": "submodule",
};

/**
 * Reads a whole tree, breadth first. Fails with SourceError "invalid" on an entry name that
 * could leave the checkout (`..`, `.`, a `/`, `.git`) or an unknown mode, and with "limit" when
 * the tree holds more than `maxPaths` files or more than `maxPaths` directories: a small
 * repository can reference one subtree many times and expand to millions of paths.
 * `label` starts every message (the repository URL and commit, without credentials).
 */
export async function readTreeListing(
  store: ObjectStore,
  treeOid: string,
  maxPaths: number,
  label: string,
): Promise<TreeListing> {
  const entries = new Map<string, TreeEntry>();
  const files: string[] = [];
  const directories: string[] = [];
  const queue: { path: string; oid: string }[] = [{ path: "", oid: treeOid }];
  for (let index = 0; index < queue.length; index++) {
    const next = queue[index] as { path: string; oid: string };
    // Trees usually come from a pack in memory, without I/O: let the event loop in now and then.
    if (index % YIELD_EVERY_TREES === YIELD_EVERY_TREES - 1) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    const { tree } = await git.readTree({ ...store, oid: next.oid });
    for (const entry of tree) {
      if (!isSafeEntryName(entry.path)) {
        throw new SourceError(
          `${label}: unsafe path ${JSON.stringify(`${next.path}${entry.path}`)} in tree`,
          "invalid",
        );
      }
      const kind = KIND_BY_MODE[entry.mode];
      const path = `${next.path}${entry.path}`;
      if (!kind) throw new SourceError(`${label}: ${path}: unknown tree entry mode ${entry.mode}`, "invalid");
      entries.set(path, { kind, oid: entry.oid });
      if (kind === "directory") {
        directories.push(path);
        queue.push({ path: `${path}/`, oid: entry.oid });
      } else if (kind !== "submodule") {
        files.push(path);
      }
      if (files.length > maxPaths || directories.length > maxPaths) {
        throw new SourceError(`${label}: the tree holds more than ${maxPaths} files or directories`, "limit");
      }
    }
  }
  return { tree: treeOid, entries, files: files.sort(), directories: directories.sort() };
}

function isSafeEntryName(name: string): boolean {
  return (
    name !== "" &&
    name !== "." &&
    name !== ".." &&
    !/[/\\\0]/.test(name) &&
    name.toLowerCase().replace(/[. ]+$/, "") !== ".git"
  );
}

// PATH_MAX: no system follows a longer link.
const MAX_LINK_TARGET_BYTES = 4096;

/**
 * The target of every symlink in a listing, by path. A target longer than 4096 bytes or not
 * valid UTF-8 is left out, so such a link is never followed nor created.
 */
export async function readLinkTargets(
  store: ObjectStore,
  listing: TreeListing,
): Promise<Map<string, string>> {
  const targets = new Map<string, string>();
  const decoder = new TextDecoder("utf-8", { fatal: true });
  for (const [path, entry] of listing.entries) {
    if (entry.kind !== "symlink") continue;
    const { blob } = await git.readBlob({ ...store, oid: entry.oid });
    if (blob.byteLength > MAX_LINK_TARGET_BYTES) continue;
    try {
      targets.set(path, decoder.decode(blob));
    } catch {
      // Not UTF-8: left out like an over-long target.
    }
  }
  return targets;
}
