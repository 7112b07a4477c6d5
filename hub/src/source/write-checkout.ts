import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import git from "isomorphic-git";
import type { ObjectStore, TreeListing } from "./read-tree-listing.js";
import { resolveLinkTarget } from "./resolve-link-target.js";
import { SourceError } from "./source-error.js";

export type CheckoutLimits = { maxFileBytes: number; maxCheckoutBytes: number; maxCheckoutFiles: number };

/** Paths a checkout left out, repo-relative and sorted. */
export type CheckoutOmissions = { unsafeLinks: string[]; oversized: string[] };

// Blob reads are asynchronous; a few at a time keep the CPU busy while one waits for a pack file.
const READ_CONCURRENCY = 4;
const YIELD_EVERY_ITEMS = 16;

/**
 * Writes the tree in `listing` into `dir` (existing and empty): directories, files (mode 0644,
 * or 0755 for executables), then the symlinks whose target (from `linkTargets`, see
 * readLinkTargets) resolves inside the tree; other symlinks are left out and listed in
 * `unsafeLinks`. Submodules are skipped; a file larger than `maxFileBytes` is left out and
 * listed in `oversized`. More than `maxCheckoutFiles` files or `maxCheckoutBytes` bytes in total
 * fail with SourceError "limit", leaving `dir` for the caller to remove. `label` starts every
 * message.
 */
export async function writeCheckout(
  store: ObjectStore,
  listing: TreeListing,
  linkTargets: Map<string, string>,
  dir: string,
  limits: CheckoutLimits,
  label: string,
): Promise<CheckoutOmissions> {
  if (listing.files.length > limits.maxCheckoutFiles) {
    throw new SourceError(
      `${label}: ${listing.files.length} files, more than the limit of ${limits.maxCheckoutFiles}`,
      "limit",
    );
  }
  // Writes are synchronous: each blocks for tens of microseconds, and promise-based writes of
  // many small files spend most of their time queued for libuv's thread pool (6x slower here).
  for (const path of listing.directories) mkdirSync(join(dir, path));

  const regular: { path: string; oid: string; mode: number }[] = [];
  const links: string[] = [];
  for (const path of listing.files) {
    const entry = listing.entries.get(path);
    if (entry?.kind === "symlink") links.push(path);
    else if (entry) regular.push({ path, oid: entry.oid, mode: entry.kind === "executable" ? 0o755 : 0o644 });
  }

  const oversized: string[] = [];
  let totalBytes = 0;
  await runPool(regular, async ({ path, oid, mode }) => {
    const { blob } = await git.readBlob({ ...store, oid });
    if (blob.byteLength > limits.maxFileBytes) {
      oversized.push(path);
      return;
    }
    totalBytes += blob.byteLength;
    if (totalBytes > limits.maxCheckoutBytes) {
      throw new SourceError(
        `${label}: the files exceed the limit of ${limits.maxCheckoutBytes} bytes`,
        "limit",
      );
    }
    // "wx" never follows anything already at the path.
    writeFileSync(join(dir, path), blob, { mode, flag: "wx" });
  });

  const unsafeLinks: string[] = [];
  for (const path of links) {
    const target = linkTargets.get(path);
    if (target === undefined || resolveLinkTarget(path, target, (p) => linkTargets.get(p)) === undefined) {
      unsafeLinks.push(path);
      continue;
    }
    symlinkSync(target, join(dir, path));
  }
  return { unsafeLinks, oversized: oversized.sort() };
}

/**
 * Runs `work` over `items`, a few at a time; waits for all to stop, then throws the first
 * failure. Objects usually come from a pack already in memory, so the reads resolve without
 * I/O: every few items each worker yields to the event loop, or a large checkout would hold it.
 */
async function runPool<T>(items: T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  async function drain(): Promise<void> {
    for (let done = 1; !failure && next < items.length; done++) {
      const item = items[next++] as T;
      try {
        await work(item);
      } catch (error) {
        failure ??= { error };
      }
      if (done % YIELD_EVERY_ITEMS === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  }
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, items.length) }, drain));
  if (failure) throw failure.error;
}
