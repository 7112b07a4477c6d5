// Real git repositories for the resolver's tests, the CLI's tests and the resolve benchmark: a
// fixture folder (or a map of files) committed with the git command line, with a fixed identity
// and clock so commit shas are the same on every run.
import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import { after, before } from "node:test";
import { fileURLToPath } from "node:url";
import { createRenderCache, type RenderCache, renderSourceCached } from "../render/render-cache.js";
import { createRenderTools, type RenderInput, type RenderOutcome } from "../render/render-source.js";
import { type GitSource, openGitSource } from "../source/git-source.js";

/** `hub/src/resolve/testdata/repos`: one folder per fixture repository. */
export const FIXTURE_REPOS_DIR = fileURLToPath(new URL("./testdata/repos", import.meta.url));

/** Files of a fixture folder that describe the test, not the repository; never committed. */
const FIXTURE_META_FILES = ["clusters.yaml", "expected.json"];

// 2024-01-01T00:00:00Z; every git command advances the clock a second.
const EPOCH_S = 1_704_067_200;

export type FixtureRepo = {
  /** The work tree; its `.git` is what a GitSource reads. */
  dir: string;
  /** Runs git in the work tree with the fixed identity and clock; returns trimmed stdout. */
  git(...args: string[]): Promise<string>;
  /** Writes files (`null` deletes one), commits everything, returns the new commit sha. */
  commit(files: Record<string, string | null>, message?: string): Promise<string>;
};

export type FixtureRepoOptions = {
  /** A fixture folder name under FIXTURE_REPOS_DIR, or an absolute folder, copied in first. */
  fixture?: string;
  /** Files written after the fixture is copied (repository-relative paths). */
  files?: Record<string, string>;
  /** Default `main`. */
  branch?: string;
};

/** Creates a git repository in `dir` (created if missing) with one commit of the fixture and files. */
export async function createFixtureRepo(dir: string, options: FixtureRepoOptions = {}): Promise<FixtureRepo> {
  const repo = openFixtureRepo(dir);
  await mkdir(dir, { recursive: true });
  if (options.fixture !== undefined) {
    const from = isAbsolute(options.fixture) ? options.fixture : join(FIXTURE_REPOS_DIR, options.fixture);
    await cp(from, dir, {
      recursive: true,
      filter: (source) => !FIXTURE_META_FILES.some((name) => source === join(from, name)),
    });
  }
  await repo.git("init", "--quiet", "-b", options.branch ?? "main");
  await repo.commit(options.files ?? {}, "initial");
  return repo;
}

/**
 * A FixtureRepo over an existing work tree (one createFixtureRepo made, possibly in another
 * process). Its clock starts again at the fixed epoch.
 */
export function openFixtureRepo(dir: string): FixtureRepo {
  let ticks = 0;
  const { GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE, ...inherited } = process.env;
  const git = (...args: string[]): Promise<string> => {
    const date = `${EPOCH_S + ticks++} +0000`;
    const env = {
      ...inherited,
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
      GIT_AUTHOR_NAME: "Flotilla Test",
      GIT_AUTHOR_EMAIL: "test@flotilla.invalid",
      GIT_COMMITTER_NAME: "Flotilla Test",
      GIT_COMMITTER_EMAIL: "test@flotilla.invalid",
      GIT_AUTHOR_DATE: date,
      GIT_COMMITTER_DATE: date,
    };
    return new Promise((resolve, reject) => {
      execFile("git", args, { cwd: dir, env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
        if (error) reject(new Error(`git ${args.join(" ")}: ${stderr}`, { cause: error }));
        else resolve(stdout.trim());
      });
    });
  };
  const write = async (files: Record<string, string | null>) => {
    for (const [path, content] of Object.entries(files)) {
      const target = join(dir, path);
      if (content === null) {
        await rm(target, { force: true });
        continue;
      }
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, content);
    }
  };
  const commit = async (files: Record<string, string | null>, message = "change") => {
    await write(files);
    await git("add", "--all");
    await git("commit", "--quiet", "--allow-empty", "--no-verify", "-m", message);
    return git("rev-parse", "HEAD");
  };

  return { dir, git, commit };
}

/** A temporary directory per call, all removed after the surrounding suite. */
export function useTempDirs(prefix = "flotilla-test"): () => Promise<string> {
  const dirs: string[] = [];
  after(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });
  return async () => {
    const dir = await mkdtemp(join(tmpdir(), `${prefix}-`));
    dirs.push(dir);
    return dir;
  };
}

/** A fixture repository created before the surrounding suite and removed after it. */
export function useFixtureRepo(options: FixtureRepoOptions): () => FixtureRepo {
  let repo: FixtureRepo | undefined;
  let root = "";
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "flotilla-fixture-"));
    repo = await createFixtureRepo(join(root, "repo"), options);
  });
  after(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });
  return () => {
    if (!repo) throw new Error("useFixtureRepo: used outside a test");
    return repo;
  };
}

/** What a test resolves a fixture repository with (see openFixtureResolver). */
export type FixtureResolver = {
  git: GitSource;
  cache: RenderCache;
  render: (input: RenderInput, cacheKey: string) => Promise<RenderOutcome>;
};

/**
 * A real GitSource reading `repo` under each of `urls`, the kustomize and helm binaries named by
 * FLOTILLA_KUSTOMIZE and FLOTILLA_HELM, and a render cache of `maxEntries`; all kept under `dir`.
 */
export function openFixtureResolver(
  repo: FixtureRepo,
  dir: string,
  urls: readonly string[],
  maxEntries = 1000,
): FixtureResolver {
  const kustomizePath = process.env.FLOTILLA_KUSTOMIZE;
  const helmPath = process.env.FLOTILLA_HELM;
  if (!kustomizePath || !helmPath) {
    throw new Error(
      "FLOTILLA_KUSTOMIZE and FLOTILLA_HELM must name the test binaries (see .cache/tools.json)",
    );
  }
  const git = openGitSource({
    cacheDir: join(dir, "git"),
    repos: [{ url: repo.dir }],
    rewrites: urls.map((from) => ({ from, to: repo.dir })),
  });
  const tools = createRenderTools({ kustomizePath, helmPath, workDir: join(dir, "render") });
  const cache = createRenderCache({ maxEntries });
  return { git, cache, render: (input, key) => renderSourceCached(input, tools, cache, key) };
}
