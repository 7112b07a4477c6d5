import { randomBytes } from "node:crypto";
import { promises as fsp } from "node:fs";
import { join, resolve } from "node:path";
import git, { type GitAuth } from "isomorphic-git";
import { BoundedCache } from "./bounded-cache.js";
import { createHttpClient } from "./create-http-client.js";
import { createRepoFs } from "./create-repo-fs.js";
import { createRepoLocator, type RepoLocation } from "./create-repo-locator.js";
import { normalizeRepoUrl, redactRepoUrl } from "./normalize-repo-url.js";
import { type ObjectStore, readLinkTargets, readTreeListing, type TreeListing } from "./read-tree-listing.js";
import { resolveLinkTarget } from "./resolve-link-target.js";
import { SourceError } from "./source-error.js";
import { writeCheckout } from "./write-checkout.js";

export { normalizeRepoUrl } from "./normalize-repo-url.js";
export { SourceError, type SourceErrorReason } from "./source-error.js";

/**
 * Credentials for one repository, sent only after the server asks (HTTP 401). `token` is sent
 * as the Basic password with `username` (default `x-access-token`), which GitHub, GitLab, Gitea
 * and Bitbucket accept; otherwise `username` and `password` are sent as they are.
 */
export type RepoCredentials = { username?: string; password?: string; token?: string };

export type SourceConfig = {
  /** Bare clones live in `<cacheDir>/repos/<key>.git`, checkouts in `<cacheDir>/checkouts/<key>/<commit>`. */
  cacheDir: string;
  /**
   * The repositories that may be read, compared normalized (normalizeRepoUrl): http(s) URLs,
   * or local repositories (a path or `file:` URL; a work tree or a bare repository, read in
   * place). User info in a URL counts as its credentials when `credentials` is absent.
   */
  repos: { url: string; credentials?: RepoCredentials }[];
  /**
   * URL (prefix, whole path segments) -> mirror URL or local path; the longest `from` wins and
   * the rest of the URL is appended to `to`. A rewritten URL is allowed. Credentials are those
   * configured for the mirror, never those of the URL that was rewritten.
   */
  rewrites?: { from: string; to: string }[];
  /** Deadline of one fetch, all its requests included; default 60_000. */
  fetchTimeoutMs?: number;
  /** Defaults: 8 MiB per file, 512 MiB and 100_000 files per checkout. */
  limits?: { maxFileBytes?: number; maxCheckoutBytes?: number; maxCheckoutFiles?: number };
};

/**
 * A materialised tree. `dir` is never modified once returned; treat it as read-only.
 * `unsafeLinks`: symlinks not created because their target leaves the tree; `oversized`: files
 * left out for exceeding maxFileBytes (repo-relative paths, sorted).
 */
export type Checkout = { dir: string; commit: string; unsafeLinks: string[]; oversized: string[] };

/** The author of a commit; `timeMs` is the author date in ms since the epoch. */
export type CommitInfo = { sha: string; author: string; email: string; message: string; timeMs: number };

/**
 * Reads the allowed repositories. Every method first checks the URL (SourceError "not-allowed"
 * for any other, before any I/O) and fails only with SourceError. `commit` arguments are full
 * commit shas (resolveRevision's result); paths are repo-relative, "" or "." is the root, `..`
 * may not leave the root.
 */
export type GitSource = {
  isAllowed(url: string): boolean;
  /**
   * Fetches every branch and tag (pruning deleted ones, following moved tags). One fetch runs
   * per repository at a time; a call made while one runs shares the next one, which starts
   * when the running one ends, so its result includes every push made before the call. A local
   * repository is not fetched: the call only checks that it is still there.
   */
  fetch(url: string): Promise<void>;
  /**
   * "", "HEAD", a branch, a tag (annotated tags peeled), `refs/...`, or a full or short (4+)
   * sha -> full commit sha. Branches win over tags of the same name, as in Argo CD. A remote's
   * refs are those of its last successful fetch (the first call clones), so a branch moves when
   * fetch() runs; a revision that is not found is fetched for once, and not again until the
   * next fetch. A local repository's refs are read as they are on disk.
   */
  resolveRevision(url: string, revision?: string): Promise<string>;
  /**
   * The whole tree at `commit` in a directory of its own, written once (tmp dir + rename) and
   * reused by later calls and later processes. Fails with "limit" past maxCheckoutFiles or
   * maxCheckoutBytes, with "invalid" on an unsafe tree entry.
   */
  checkout(url: string, commit: string): Promise<Checkout>;
  /** The tree (or blob) id at `path`; undefined when absent. */
  treeId(url: string, commit: string, path: string): Promise<string | undefined>;
  /** Every file and symlink path, sorted (submodules excluded). */
  listFiles(url: string, commit: string): Promise<string[]>;
  /** Every directory path, sorted, the root excluded. */
  listDirectories(url: string, commit: string): Promise<string[]>;
  /**
   * A file's content; symlinks inside the tree are followed. Undefined when absent or not a
   * file. Over `maxBytes` (default limits.maxFileBytes): SourceError "limit"; a symlink leaving
   * the tree: "invalid".
   */
  readFile(url: string, commit: string, path: string, maxBytes?: number): Promise<Uint8Array | undefined>;
  commitInfo(url: string, commit: string): Promise<CommitInfo>;
};

const DEFAULT_FETCH_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_FILE_BYTES = 8 * 1024 * 1024;
const DEFAULT_MAX_CHECKOUT_BYTES = 512 * 1024 * 1024;
const DEFAULT_MAX_CHECKOUT_FILES = 100_000;
// Tree listings cost about 250 bytes per path: this keeps them near 125 MiB.
const LISTING_CACHE_PATHS = 500_000;
const CHECKOUT_CACHE_ENTRIES = 1_000;
const MAX_MISSING_REVISIONS = 1_000;
const MAX_TAG_DEPTH = 10;
const FULL_SHA = /^[0-9a-f]{40}$/;
const SHORT_SHA = /^[0-9a-f]{4,39}$/;
const REFS_FILE = "flotilla-refs.json";
const TMP_DIR = "flotilla-tmp";

/** The refs a remote listed at the last successful fetch: `refs/heads/*` and `refs/tags/*` -> object id. */
type RefSnapshot = { head?: string; refs: Record<string, string> };

type Repo = {
  location: RepoLocation;
  /** A local repository's is replaced once its git directory is known. */
  store: ObjectStore;
  /** Makes the store see the repository as it is on disk now (after a fetch, or a miss in a local one). */
  forget: () => void;
  /** Remote only: read by resolveRevision, replaced only after a fetch has stored every object. */
  refs?: RefSnapshot;
  /** Remote only: revisions not found after the latest fetch; cleared by the next fetch. */
  missing: Set<string>;
  /** Successful fetches so far. */
  fetches: number;
  opened?: Promise<void>;
  running?: Promise<void>;
  queued?: Promise<void>;
};

export function openGitSource(config: SourceConfig): GitSource {
  const locate = createRepoLocator(config);
  const cacheDir = resolve(config.cacheDir);
  const fetchTimeoutMs = config.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  const limits = {
    maxFileBytes: config.limits?.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES,
    maxCheckoutBytes: config.limits?.maxCheckoutBytes ?? DEFAULT_MAX_CHECKOUT_BYTES,
    maxCheckoutFiles: config.limits?.maxCheckoutFiles ?? DEFAULT_MAX_CHECKOUT_FILES,
  };
  const repos = new Map<string, Repo>();
  const listings = new BoundedCache<string, TreeListing>(LISTING_CACHE_PATHS);
  const listingsInFlight = new Map<string, Promise<TreeListing>>();
  const linkTargets = new WeakMap<TreeListing, Promise<Map<string, string>>>();
  const checkouts = new BoundedCache<string, Checkout>(CHECKOUT_CACHE_ENTRIES);
  const checkoutsInFlight = new Map<string, Promise<Checkout>>();
  const checkoutRoots = new Map<string, Promise<string>>();

  function findRepo(url: string): { repo: Repo; label: string } {
    const location = locate(url);
    if (!location) {
      throw new SourceError(
        `${redactRepoUrl(url)}: not allowed: the repository is neither configured nor reached through a rewrite`,
        "not-allowed",
      );
    }
    let repo = repos.get(location.key);
    if (!repo) {
      const gitdir =
        location.kind === "local" ? location.path : join(cacheDir, "repos", `${location.key}.git`);
      // Only our bare clones may keep listings: someone else writes a local repository any time.
      const repoFs =
        location.kind === "local"
          ? createRepoFs(gitdir, { cacheListings: false })
          : createRepoFs(gitdir, { cacheListings: true, tmpDir: join(gitdir, TMP_DIR) });
      repo = {
        location,
        store: { fs: repoFs.fs, gitdir, cache: {} },
        forget: repoFs.forget,
        missing: new Set(),
        fetches: 0,
      };
      repos.set(location.key, repo);
    }
    return { repo, label: describeRepo(url, location) };
  }

  function openRepo(repo: Repo, label: string): Promise<void> {
    repo.opened ??= (async () => {
      if (repo.location.kind === "local") {
        useLocalGitdir(repo, await findLocalGitdir(repo.location.path, label));
        return;
      }
      const { gitdir } = repo.store;
      // Leftovers of a write interrupted by a crash.
      await fsp.rm(join(gitdir, TMP_DIR), { recursive: true, force: true });
      await fsp.mkdir(join(gitdir, TMP_DIR), { recursive: true });
      await git.init({ fs: repo.store.fs, gitdir, bare: true, defaultBranch: "main" });
      await git.addRemote({
        fs: repo.store.fs,
        gitdir,
        remote: "origin",
        url: repo.location.url,
        force: true,
      });
      repo.refs = await loadRefSnapshot(join(gitdir, REFS_FILE));
    })().catch((error: unknown) => {
      repo.opened = undefined;
      throw asSourceError(error, label, "cannot open the repository");
    });
    return repo.opened;
  }

  function fetchRepo(repo: Repo, label: string): Promise<void> {
    if (!repo.running) {
      repo.running = runFetch(repo, label).finally(() => {
        repo.running = undefined;
      });
      return repo.running;
    }
    repo.queued ??= repo.running
      .catch(() => {})
      .then(() => {
        repo.queued = undefined;
        return fetchRepo(repo, label);
      });
    return repo.queued;
  }

  async function runFetch(repo: Repo, label: string): Promise<void> {
    await openRepo(repo, label);
    const { location, store } = repo;
    if (location.kind === "local") {
      useLocalGitdir(repo, await findLocalGitdir(location.path, label));
      return;
    }
    if (!/^https?:\/\//i.test(location.url)) {
      throw new SourceError(
        `${label}: cannot fetch: only http(s) URLs and local repositories are supported (rewrite it to one)`,
        "invalid",
      );
    }
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), fetchTimeoutMs);
    const credentials = location.credentials;
    const onAuth = credentials ? () => toGitAuth(credentials) : undefined;
    try {
      const result = await git.fetch({
        ...store,
        http: createHttpClient(controller.signal),
        url: location.url,
        onAuth,
        remote: "origin",
        singleBranch: false,
        tags: true,
        prune: true,
        // Drops every local tag and writes the server's: a moved tag follows, as with `git fetch --tags --force`.
        pruneTags: true,
      });
      const head = result.fetchHead ?? undefined;
      // isomorphic-git writes refs before the pack arrives: publish them only now that it is stored.
      const refs = await readRefSnapshot(store, head);
      await store.fs.promises.writeFile(join(store.gitdir, REFS_FILE), JSON.stringify(refs));
      repo.forget();
      repo.refs = refs;
      repo.missing.clear();
      repo.fetches++;
    } catch (error) {
      throw classifyFetchError(
        error,
        label,
        controller.signal.aborted,
        fetchTimeoutMs,
        credentials !== undefined,
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /** Opens the repository and, for a remote never fetched, waits for the running fetch or starts one. */
  async function ensureFetched(repo: Repo, label: string): Promise<void> {
    await openRepo(repo, label);
    if (repo.location.kind === "local" || repo.refs) return;
    await (repo.running ?? fetchRepo(repo, label));
  }

  async function resolveIn(repo: Repo, revision: string, label: string): Promise<string> {
    const fetchesBefore = repo.fetches;
    await ensureFetched(repo, label);
    const wanted = revision.trim();
    const found = await lookupRevision(repo, wanted, label);
    if (found) return found;
    const notFound = new SourceError(
      `${label}: revision ${JSON.stringify(wanted || "HEAD")} not found`,
      "revision",
    );
    if (repo.location.kind === "local") {
      // Refreshing a local repository costs no network: look again whenever something is missing.
      await fetchRepo(repo, label);
      const refreshed = await lookupRevision(repo, wanted, label);
      if (refreshed) return refreshed;
      throw notFound;
    }
    // A remote is fetched for a missing revision once, unless this call just cloned it, and not
    // again for the same revision until the next fetch.
    if (repo.fetches === fetchesBefore && !repo.missing.has(wanted)) {
      await fetchRepo(repo, label);
      const fetched = await lookupRevision(repo, wanted, label);
      if (fetched) return fetched;
    }
    if (repo.missing.size >= MAX_MISSING_REVISIONS) repo.missing.clear();
    repo.missing.add(wanted);
    throw notFound;
  }

  async function lookupRevision(repo: Repo, revision: string, label: string): Promise<string | undefined> {
    const name = revision === "" ? "HEAD" : revision;
    if (!isValidRevision(name)) {
      throw new SourceError(`${label}: invalid revision ${JSON.stringify(name)}`, "invalid");
    }
    try {
      const sha = name.toLowerCase();
      const oid = FULL_SHA.test(sha)
        ? sha
        : ((await lookupRef(repo, name)) ??
          (SHORT_SHA.test(sha) ? await expandShortSha(repo, sha, label) : undefined));
      return oid === undefined ? undefined : await peelToCommit(repo.store, oid, name, label);
    } catch (error) {
      throw asSourceError(error, label, `cannot resolve ${JSON.stringify(name)}`);
    }
  }

  async function lookupRef(repo: Repo, name: string): Promise<string | undefined> {
    if (repo.refs) {
      const { head, refs } = repo.refs;
      if (name === "HEAD") return head;
      if (name.startsWith("refs/")) return refs[name];
      return refs[`refs/heads/${name}`] ?? refs[`refs/tags/${name}`];
    }
    const candidates =
      name === "HEAD" || name.startsWith("refs/")
        ? [name]
        : [`refs/heads/${name}`, `refs/tags/${name}`, `refs/remotes/origin/${name}`];
    for (const ref of candidates) {
      try {
        return await git.resolveRef({ fs: repo.store.fs, gitdir: repo.store.gitdir, ref });
      } catch (error) {
        if (!isGitError(error, "NotFoundError")) throw error;
      }
    }
    return undefined;
  }

  async function expandShortSha(repo: Repo, sha: string, label: string): Promise<string | undefined> {
    try {
      return await git.expandOid({ ...repo.store, oid: sha });
    } catch (error) {
      if (isGitError(error, "NotFoundError")) return undefined;
      if (isGitError(error, "AmbiguousError")) {
        throw new SourceError(`${label}: short sha ${sha} is ambiguous`, "revision", { cause: error });
      }
      throw error;
    }
  }

  /** A full sha that must name a commit of the repository (fetched once when it is missing). */
  async function requireCommit(repo: Repo, commit: string, label: string): Promise<void> {
    if (!FULL_SHA.test(commit)) {
      throw new SourceError(`${label}: ${JSON.stringify(commit)} is not a full commit sha`, "invalid");
    }
    const resolved = await resolveIn(repo, commit, label);
    if (resolved !== commit) throw new SourceError(`${label}: ${commit} is not a commit`, "invalid");
  }

  function readListing(repo: Repo, commit: string, label: string): Promise<TreeListing> {
    const key = `${repo.location.key}/${commit}`;
    const cached = listings.get(key);
    if (cached) return Promise.resolve(cached);
    let pending = listingsInFlight.get(key);
    if (!pending) {
      pending = (async () => {
        await requireCommit(repo, commit, label);
        try {
          const { commit: parsed } = await git.readCommit({ ...repo.store, oid: commit });
          const listing = await readTreeListing(
            repo.store,
            parsed.tree,
            limits.maxCheckoutFiles,
            `${label}@${commit}`,
          );
          listings.set(key, listing, listing.entries.size + 1);
          return listing;
        } catch (error) {
          throw asSourceError(error, `${label}@${commit}`, "cannot read the tree");
        }
      })().finally(() => listingsInFlight.delete(key));
      listingsInFlight.set(key, pending);
    }
    return pending;
  }

  function readListingLinks(repo: Repo, listing: TreeListing): Promise<Map<string, string>> {
    let targets = linkTargets.get(listing);
    if (!targets) {
      targets = readLinkTargets(repo.store, listing);
      linkTargets.set(listing, targets);
      targets.catch(() => linkTargets.delete(listing));
    }
    return targets;
  }

  async function buildCheckout(repo: Repo, commit: string, label: string): Promise<Checkout> {
    if (!FULL_SHA.test(commit)) {
      throw new SourceError(`${label}: ${JSON.stringify(commit)} is not a full commit sha`, "invalid");
    }
    const context = `${label}@${commit}`;
    try {
      const root = await prepareCheckoutRoot(repo.location.key);
      const dir = join(root, commit);
      const metaPath = join(root, `${commit}.json`);
      const done = await loadCheckoutOmissions(metaPath, dir);
      if (done) return { dir, commit, ...done };

      const listing = await readListing(repo, commit, label);
      const targets = await readListingLinks(repo, listing);
      const tmp = await fsp.mkdtemp(join(root, `.tmp-${commit}-`));
      try {
        const omissions = await writeCheckout(repo.store, listing, targets, tmp, limits, context);
        // The omissions go beside the tree, never into it, and before it: a complete dir always has them.
        const metaTmp = join(root, `.tmp-meta-${commit}-${randomBytes(6).toString("hex")}`);
        await fsp.writeFile(metaTmp, JSON.stringify(omissions));
        await fsp.rename(metaTmp, metaPath);
        try {
          await fsp.rename(tmp, dir);
        } catch (error) {
          // Another process completed the same checkout first; its content is the same.
          const code = (error as NodeJS.ErrnoException).code;
          if (code !== "EEXIST" && code !== "ENOTEMPTY") throw error;
        }
        return { dir, commit, ...omissions };
      } finally {
        await fsp.rm(tmp, { recursive: true, force: true });
      }
    } catch (error) {
      throw asSourceError(error, context, "cannot check out");
    }
  }

  /** `<cacheDir>/checkouts/<key>`, emptied of unfinished checkouts the first time it is used. */
  function prepareCheckoutRoot(key: string): Promise<string> {
    let prepared = checkoutRoots.get(key);
    if (!prepared) {
      prepared = (async () => {
        const root = join(cacheDir, "checkouts", key);
        await fsp.mkdir(root, { recursive: true });
        for (const name of await fsp.readdir(root)) {
          if (name.startsWith(".tmp-")) await fsp.rm(join(root, name), { recursive: true, force: true });
        }
        return root;
      })();
      checkoutRoots.set(key, prepared);
      prepared.catch(() => checkoutRoots.delete(key));
    }
    return prepared;
  }

  return {
    isAllowed: (url) => locate(url) !== undefined,

    async fetch(url) {
      const { repo, label } = findRepo(url);
      await fetchRepo(repo, label);
    },

    async resolveRevision(url, revision = "") {
      const { repo, label } = findRepo(url);
      // Git's ancestry suffixes, as in `flotilla diff --from HEAD~1`: `~N` follows first parents,
      // `^N` picks the Nth parent (`^` = `^1`).
      const suffix = /(?:[~^]\d*)+$/.exec(revision);
      if (!suffix || suffix.index === 0) return resolveIn(repo, revision, label);
      let commit = await resolveIn(repo, revision.slice(0, suffix.index), label);
      for (const [, op, digits] of suffix[0].matchAll(/([~^])(\d*)/g)) {
        const count = digits === "" ? 1 : Number(digits);
        const steps = op === "~" ? count : 1;
        const parentIndex = op === "~" ? 0 : count - 1;
        if (op === "^" && count === 0) continue;
        for (let step = 0; step < steps; step++) {
          const { commit: parsed } = await git.readCommit({ ...repo.store, oid: commit });
          const parent = parsed.parent[step === steps - 1 ? parentIndex : 0];
          if (!parent)
            throw new SourceError(`${label}: revision "${revision}" goes past the first commit`, "revision");
          commit = parent;
        }
      }
      return commit;
    },

    async checkout(url, commit) {
      const { repo, label } = findRepo(url);
      const key = `${repo.location.key}/${commit}`;
      let checkout = checkouts.get(key);
      if (!checkout) {
        let pending = checkoutsInFlight.get(key);
        if (!pending) {
          pending = buildCheckout(repo, commit, label).finally(() => checkoutsInFlight.delete(key));
          checkoutsInFlight.set(key, pending);
        }
        checkout = await pending;
        checkouts.set(key, checkout);
      }
      // Copies: a caller sorting or filtering the lists must not change the cached ones.
      return { ...checkout, unsafeLinks: [...checkout.unsafeLinks], oversized: [...checkout.oversized] };
    },

    async treeId(url, commit, path) {
      const { repo, label } = findRepo(url);
      const relative = normalizeRepoPath(path, label);
      const listing = await readListing(repo, commit, label);
      return relative === "" ? listing.tree : listing.entries.get(relative)?.oid;
    },

    async listFiles(url, commit) {
      const { repo, label } = findRepo(url);
      return [...(await readListing(repo, commit, label)).files];
    },

    async listDirectories(url, commit) {
      const { repo, label } = findRepo(url);
      return [...(await readListing(repo, commit, label)).directories];
    },

    async readFile(url, commit, path, maxBytes = limits.maxFileBytes) {
      const { repo, label } = findRepo(url);
      let relative = normalizeRepoPath(path, label);
      const listing = await readListing(repo, commit, label);
      let entry = listing.entries.get(relative);
      if (entry?.kind === "symlink") {
        const targets = await readListingLinks(repo, listing);
        const target = targets.get(relative);
        const resolved =
          target === undefined ? undefined : resolveLinkTarget(relative, target, (p) => targets.get(p));
        if (resolved === undefined) {
          throw new SourceError(
            `${label}@${commit}: ${relative} is a symlink that leaves the repository`,
            "invalid",
          );
        }
        relative = resolved;
        entry = listing.entries.get(relative);
      }
      if (entry?.kind !== "file" && entry?.kind !== "executable") return undefined;
      let blob: Uint8Array;
      try {
        ({ blob } = await git.readBlob({ ...repo.store, oid: entry.oid }));
      } catch (error) {
        throw asSourceError(error, `${label}@${commit}`, `cannot read ${relative}`);
      }
      if (blob.byteLength > maxBytes) {
        throw new SourceError(
          `${label}@${commit}: ${relative} has ${blob.byteLength} bytes, more than the limit of ${maxBytes}`,
          "limit",
        );
      }
      return blob;
    },

    async commitInfo(url, commit) {
      const { repo, label } = findRepo(url);
      await requireCommit(repo, commit, label);
      try {
        const { commit: parsed } = await git.readCommit({ ...repo.store, oid: commit });
        return {
          sha: commit,
          author: parsed.author.name,
          email: parsed.author.email,
          message: parsed.message.trimEnd(),
          timeMs: parsed.author.timestamp * 1000,
        };
      } catch (error) {
        throw asSourceError(error, `${label}@${commit}`, "cannot read the commit");
      }
    },
  };
}

/**
 * Points a local repository's store at its git directory. The object cache stays while the
 * directory does: new packs are found as they appear, and dropping it would make isomorphic-git
 * load and checksum every pack again.
 */
function useLocalGitdir(repo: Repo, gitdir: string): void {
  if (repo.store.gitdir === gitdir) return;
  const repoFs = createRepoFs(gitdir, { cacheListings: false });
  repo.store = { fs: repoFs.fs, gitdir, cache: {} };
  repo.forget = repoFs.forget;
}

/** The URL as given (redacted) and, when a rewrite or configuration sends it elsewhere, where to. */
function describeRepo(url: string, location: RepoLocation): string {
  const shown = redactRepoUrl(url);
  const target = location.kind === "local" ? location.path : location.url;
  return normalizeRepoUrl(target) === normalizeRepoUrl(url)
    ? shown
    : `${shown} (via ${redactRepoUrl(target)})`;
}

/** The git directory of a local repository: `<path>/.git` (a directory, or a `gitdir:` file) or `<path>` when bare. */
async function findLocalGitdir(path: string, label: string): Promise<string> {
  for (const candidate of [path, `${path}.git`]) {
    const stat = await fsp.stat(candidate).catch(() => undefined);
    if (!stat?.isDirectory()) continue;
    const dotGit = join(candidate, ".git");
    const dotGitStat = await fsp.stat(dotGit).catch(() => undefined);
    if (dotGitStat?.isDirectory()) return dotGit;
    if (dotGitStat?.isFile()) {
      const pointer = /^gitdir:\s*(.+?)\s*$/m.exec(await fsp.readFile(dotGit, "utf8"));
      if (pointer?.[1]) return resolve(candidate, pointer[1]);
    }
    const head = await fsp.stat(join(candidate, "HEAD")).catch(() => undefined);
    const objects = await fsp.stat(join(candidate, "objects")).catch(() => undefined);
    if (head?.isFile() && objects?.isDirectory()) return candidate;
    throw new SourceError(`${label}: ${candidate} is not a git repository`, "invalid");
  }
  throw new SourceError(`${label}: no repository at ${path}`, "unreachable");
}

async function readRefSnapshot(store: ObjectStore, head: string | undefined): Promise<RefSnapshot> {
  const refs: Record<string, string> = {};
  for (const name of await git.listRefs({ ...store, filepath: "refs/remotes/origin" })) {
    if (name === "HEAD") continue;
    refs[`refs/heads/${name}`] = await git.resolveRef({ ...store, ref: `refs/remotes/origin/${name}` });
  }
  for (const name of await git.listRefs({ ...store, filepath: "refs/tags" })) {
    refs[`refs/tags/${name}`] = await git.resolveRef({ ...store, ref: `refs/tags/${name}` });
  }
  return head === undefined ? { refs } : { head, refs };
}

/** The snapshot of the last successful fetch, or undefined (never fetched, or unreadable: fetch again). */
async function loadRefSnapshot(path: string): Promise<RefSnapshot | undefined> {
  try {
    const parsed = JSON.parse(await fsp.readFile(path, "utf8")) as RefSnapshot;
    const valid =
      typeof parsed.refs === "object" &&
      parsed.refs !== null &&
      Object.values(parsed.refs).every((oid) => typeof oid === "string" && FULL_SHA.test(oid)) &&
      (parsed.head === undefined || FULL_SHA.test(parsed.head));
    return valid ? parsed : undefined;
  } catch {
    return undefined;
  }
}

async function loadCheckoutOmissions(
  metaPath: string,
  dir: string,
): Promise<{ unsafeLinks: string[]; oversized: string[] } | undefined> {
  try {
    const [meta] = await Promise.all([fsp.readFile(metaPath, "utf8"), fsp.stat(dir)]);
    const { unsafeLinks, oversized } = JSON.parse(meta) as { unsafeLinks: string[]; oversized: string[] };
    return Array.isArray(unsafeLinks) && Array.isArray(oversized) ? { unsafeLinks, oversized } : undefined;
  } catch {
    return undefined;
  }
}

function toGitAuth(credentials: RepoCredentials): GitAuth {
  if (credentials.token !== undefined) {
    return { username: credentials.username || "x-access-token", password: credentials.token };
  }
  return { username: credentials.username ?? "", password: credentials.password ?? "" };
}

/** A repo-relative path: "" for the root; `/` and `.` segments dropped; `..` may not climb above the root. */
function normalizeRepoPath(path: string, label: string): string {
  const segments: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment !== "..") segments.push(segment);
    else if (segments.pop() === undefined) {
      throw new SourceError(`${label}: path ${JSON.stringify(path)} leaves the repository`, "invalid");
    }
  }
  return segments.join("/");
}

/** Rejects what git's check-ref-format rejects, so a revision never names a file outside refs/. */
function isValidRevision(name: string): boolean {
  return (
    name.length <= 1024 &&
    !/[\0-\x20\x7f~^:?*[\\]/.test(name) &&
    !name.includes("..") &&
    !name.includes("//") &&
    !name.includes("@{") &&
    !name.startsWith("/") &&
    !name.startsWith("-") &&
    !name.endsWith("/") &&
    !name.endsWith(".") &&
    !name.endsWith(".lock") &&
    !name.split("/").some((part) => part.startsWith("."))
  );
}

async function peelToCommit(
  store: ObjectStore,
  oid: string,
  name: string,
  label: string,
): Promise<string | undefined> {
  for (let depth = 0; depth < MAX_TAG_DEPTH; depth++) {
    let object: Awaited<ReturnType<typeof git.readObject>>;
    try {
      object = await git.readObject({ ...store, oid, format: "parsed" });
    } catch (error) {
      if (isGitError(error, "NotFoundError")) return undefined;
      throw error;
    }
    if (object.type === "commit") return oid;
    if (object.type !== "tag" || object.format !== "parsed") {
      throw new SourceError(`${label}: ${name} names a ${object.type}, not a commit`, "revision");
    }
    oid = object.object.object;
  }
  throw new SourceError(`${label}: ${name}: more than ${MAX_TAG_DEPTH} nested tags`, "revision");
}

function isGitError(error: unknown, code: string): boolean {
  return (error as { code?: unknown } | undefined)?.code === code;
}

const NETWORK_ERRORS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ENOTFOUND: "unknown host",
  EAI_AGAIN: "host name lookup failed",
  ETIMEDOUT: "connection timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  EPIPE: "connection closed",
};

/** Decides what a failed fetch means; the message never carries credentials (none are in URLs). */
function classifyFetchError(
  error: unknown,
  label: string,
  timedOut: boolean,
  timeoutMs: number,
  hasCredentials: boolean,
): SourceError {
  if (error instanceof SourceError) return error;
  const options = { cause: error };
  if (timedOut)
    return new SourceError(
      `${label}: cannot fetch: no answer within ${timeoutMs} ms`,
      "unreachable",
      options,
    );
  if (isGitError(error, "HttpError")) {
    const status = (error as { data?: { statusCode?: number } }).data?.statusCode;
    if (status === 401 || status === 403) {
      const cause = hasCredentials
        ? "the server refused the credentials"
        : "the server asks for credentials and none are configured";
      return new SourceError(`${label}: cannot fetch: ${cause} (HTTP ${status})`, "auth", options);
    }
    if (status === 404)
      return new SourceError(
        `${label}: cannot fetch: repository not found (HTTP 404)`,
        "unreachable",
        options,
      );
    return new SourceError(`${label}: cannot fetch: HTTP ${status}`, "unreachable", options);
  }
  if (isGitError(error, "NotFoundError") && (error as { data?: { what?: string } }).data?.what === "HEAD") {
    // isomorphic-git needs the remote's HEAD even when fetching every branch.
    return new SourceError(
      `${label}: cannot fetch: the remote HEAD names a branch that does not exist`,
      "invalid",
      options,
    );
  }
  if (isGitError(error, "UserCanceledError")) {
    return new SourceError(`${label}: cannot fetch: the server refused the credentials`, "auth", options);
  }
  if (isGitError(error, "SmartHttpError")) {
    return new SourceError(`${label}: cannot fetch: not a git smart-HTTP server`, "unreachable", options);
  }
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === "string" && code in NETWORK_ERRORS) {
    return new SourceError(`${label}: cannot fetch: ${NETWORK_ERRORS[code]}`, "unreachable", options);
  }
  // System and TLS errors (ENETDOWN, CERT_HAS_EXPIRED, ...) say enough by their code.
  if (typeof code === "string" && /^[A-Z][A-Z0-9_]+$/.test(code)) {
    return new SourceError(`${label}: cannot fetch: ${code}`, "unreachable", options);
  }
  // isomorphic-git's own errors (a malformed answer, a damaged pack) describe the server's answer.
  const detail = error instanceof Error && typeof code === "string" ? `: ${error.message}` : "";
  return new SourceError(`${label}: cannot fetch${detail}`, "unreachable", options);
}

/** Wraps what reading a repository threw; a SourceError passes through unchanged. */
function asSourceError(error: unknown, label: string, action: string): SourceError {
  if (error instanceof SourceError) return error;
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code === "UnsafeFilepathError") {
    return new SourceError(`${label}: ${action}: ${(error as Error).message}`, "invalid", { cause: error });
  }
  // System errors: the repository or the cache directory cannot be read or written.
  if (typeof code === "string" && /^E[A-Z]+$/.test(code)) {
    return new SourceError(`${label}: ${action}: ${code}`, "unreachable", { cause: error });
  }
  return new SourceError(`${label}: ${action}: the repository is damaged or unreadable`, "invalid", {
    cause: error,
  });
}
