// The `git-fetch` benchmark: the hub's own git source (isomorphic-git, hub/src/source) cloning
// and then fetching one new commit of a repository of 10,000 files and 1,000 commits, served by
// the real git server over smart HTTP (git http-backend), against the git command line doing
// the same from the same URL (`git clone --bare`, then `git fetch` of every branch and tag).
//
// The repository is built once with `git fast-import` (one stream, no work tree): the first
// commit adds every file, each later one changes a few, so the tip has `files` files and the
// history `commits` commits.
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { openGitSource } from "@flotilla/hub/source/git-source";
import { type GitServer, startGitServer } from "../harness/git-server.js";
import { type BenchResult, extraFigure, result } from "./bench-result.js";

export type GitFetchBenchOptions = {
  quick: boolean;
  /** Files at the tip; default 10,000. */
  files?: number;
  /** Commits in the history; default 1,000. */
  commits?: number;
  /** Clones (and incremental fetches) per client; default 5 (quick: 3). */
  runs?: number;
  onProgress: (line: string) => void;
};

const REPO = "bench";
const FILES_PER_DIR = 100;
/** Files each commit after the first changes. */
const CHANGED_PER_COMMIT = 5;
// The fixed identity and clock of the fast-import stream: the same repository every run.
const EPOCH_S = 1_704_067_200;
const IDENTITY = "Flotilla Bench <bench@flotilla.invalid>";

/**
 * Clone and incremental fetch, isomorphic-git (through openGitSource) against the git CLI, each
 * `runs` times into fresh directories. `value` is the clone through the hub's git source in
 * seconds, `limit` the git CLI's clone; the extra row compares the fetch of one new commit.
 */
export async function benchGitFetch(options: GitFetchBenchOptions): Promise<BenchResult[]> {
  const files = options.files ?? 10_000;
  const commits = options.commits ?? 1_000;
  const runs = options.runs ?? (options.quick ? 3 : 5);
  const server = await startGitServer();
  const dir = await mkdtemp(join(tmpdir(), "flotilla-bench-git-fetch-"));
  try {
    options.onProgress(`git-fetch: building a repository of ${files} files and ${commits} commits`);
    const built = performance.now();
    await buildRepository(server, files, commits);
    options.onProgress(`git-fetch: built in ${((performance.now() - built) / 1000).toFixed(1)} s`);
    const url = server.repoUrl(REPO);
    const samples = {
      isoClone: [] as number[],
      cliClone: [] as number[],
      isoFetch: [] as number[],
      cliFetch: [] as number[],
    };
    let extraCommits = 0;
    for (let run = 0; run < runs; run++) {
      const runDir = join(dir, `run-${run}`);
      const source = openGitSource({ cacheDir: join(runDir, "hub"), repos: [{ url }] });
      const cliDir = join(runDir, "cli.git");
      // Alternate who goes first, so neither always meets a warmer server.
      const isoFirst = run % 2 === 0;
      await mkdir(runDir, { recursive: true });
      const [isoClone, cliClone] = await inTurn(
        isoFirst,
        () => timed(() => source.fetch(url)),
        () => timed(() => runGit(["clone", "--quiet", "--bare", url, cliDir], runDir)),
      );
      samples.isoClone.push(isoClone);
      samples.cliClone.push(cliClone);

      const tip = await appendCommit(server, ++extraCommits);
      const [isoFetch, cliFetch] = await inTurn(
        isoFirst,
        () => timed(() => source.fetch(url)),
        () =>
          timed(() =>
            runGit(
              [
                "fetch",
                "--quiet",
                "--prune",
                "origin",
                "+refs/heads/*:refs/heads/*",
                "+refs/tags/*:refs/tags/*",
              ],
              cliDir,
            ),
          ),
      );
      samples.isoFetch.push(isoFetch);
      samples.cliFetch.push(cliFetch);
      await checkFetched(source, url, cliDir, tip);
      options.onProgress(
        `git-fetch: run ${run + 1}/${runs}: clone ${isoClone.toFixed(2)} s (git ${cliClone.toFixed(2)} s), fetch of one commit ${isoFetch.toFixed(2)} s (git ${cliFetch.toFixed(2)} s)`,
      );
      await rm(runDir, { recursive: true, force: true });
    }
    return [
      result({
        name: "git-fetch",
        unit: "s",
        // DESIGN.md sets no budget: the figure is the ratio to the git CLI. The target is the
        // hub's default fetch deadline (SourceConfig.fetchTimeoutMs), which a clone must meet.
        target: 60,
        samples: samples.isoClone,
        limitSamples: samples.cliClone,
        notes: `clone of ${files.toLocaleString("en-US")} files, ${commits.toLocaleString("en-US")} commits over smart HTTP (git http-backend on 127.0.0.1): hub git source (isomorphic-git) vs git clone --bare; limit = git CLI`,
        extra: [
          extraFigure({ label: "fetch of one new commit", unit: "s", samples: samples.isoFetch }),
          extraFigure({ label: "fetch of one new commit, git CLI", unit: "s", samples: samples.cliFetch }),
          extraFigure({
            label: "fetch of one new commit, ratio",
            unit: "x",
            samples: samples.isoFetch.map((iso, i) => iso / (samples.cliFetch[i] ?? Number.NaN)),
          }),
        ],
      }),
    ];
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return (performance.now() - start) / 1000;
}

/** Both in turn, `firstA` deciding who goes first; returns [a, b]. */
async function inTurn(
  firstA: boolean,
  a: () => Promise<number>,
  b: () => Promise<number>,
): Promise<[number, number]> {
  if (firstA) {
    const first = await a();
    return [first, await b()];
  }
  const first = await b();
  return [await a(), first];
}

/** Both clients must hold the new commit, or the timing measured nothing. */
async function checkFetched(
  source: ReturnType<typeof openGitSource>,
  url: string,
  cliDir: string,
  tip: string,
): Promise<void> {
  const iso = await source.resolveRevision(url, "HEAD");
  const cli = (await runGit(["rev-parse", "HEAD"], cliDir)).trim();
  if (iso !== tip || cli !== tip) {
    throw new Error(
      `git-fetch bench: expected both clients at ${tip}, hub git source has ${iso}, git CLI ${cli}`,
    );
  }
}

/** Creates the bare repository on the server and fills it with one fast-import stream. */
async function buildRepository(server: GitServer, files: number, commits: number): Promise<void> {
  if (commits < 2) throw new Error("git-fetch bench: the repository needs at least 2 commits");
  // The first commit (the README) is createRepo's; the stream adds the other commits - 1.
  await server.createRepo(REPO, { "README.md": "# bench\n" });
  const lines: string[] = [];
  const path = (i: number) =>
    `apps/dir-${String(Math.floor(i / FILES_PER_DIR)).padStart(4, "0")}/file-${i}.yaml`;
  const content = (i: number, version: number) =>
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: file-${i}\ndata:\n  version: "${version}"\n  payload: ${"x".repeat(64 + (i % 64))}\n`;
  const blob = (text: string) => `data ${Buffer.byteLength(text)}\n${text}`;
  for (let c = 1; c < commits; c++) {
    const message = `commit ${c}`;
    lines.push(
      "commit refs/heads/main",
      `author ${IDENTITY} ${EPOCH_S + c} +0000`,
      `committer ${IDENTITY} ${EPOCH_S + c} +0000`,
      blob(message),
    );
    if (c === 1) lines.push("from refs/heads/main^0");
    if (c === 1) {
      for (let i = 0; i < files; i++) lines.push(`M 100644 inline ${path(i)}`, blob(content(i, 0)));
    } else {
      for (let k = 0; k < CHANGED_PER_COMMIT; k++) {
        const i = (c * 7919 + k * 104_729) % files;
        lines.push(`M 100644 inline ${path(i)}`, blob(content(i, c)));
      }
    }
    lines.push("");
  }
  await runGit(["fast-import", "--quiet"], join(server.root, `${REPO}.git`), `${lines.join("\n")}\n`);
}

/** One more commit on main (one file changed), written straight into the server's repository. */
async function appendCommit(server: GitServer, n: number): Promise<string> {
  const text = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  n: "${n}"\n`;
  const message = `extra commit ${n}`;
  const stream = [
    "commit refs/heads/main",
    `author ${IDENTITY} ${EPOCH_S + 1_000_000 + n} +0000`,
    `committer ${IDENTITY} ${EPOCH_S + 1_000_000 + n} +0000`,
    `data ${Buffer.byteLength(message)}`,
    message,
    "from refs/heads/main^0",
    "M 100644 inline extra.yaml",
    `data ${Buffer.byteLength(text)}`,
    text,
  ].join("\n");
  await runGit(["fast-import", "--quiet"], join(server.root, `${REPO}.git`), `${stream}\n`);
  return server.resolveRef(REPO, "refs/heads/main");
}

/** The git CLI without the user's configuration; rejects with stderr on failure. */
function runGit(args: string[], cwd: string, input?: string): Promise<string> {
  const { GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE, ...inherited } = process.env;
  return new Promise((resolve, reject) => {
    const child = spawn("git", args, {
      cwd,
      env: {
        ...inherited,
        GIT_CONFIG_NOSYSTEM: "1",
        GIT_CONFIG_GLOBAL: "/dev/null",
        GIT_TERMINAL_PROMPT: "0",
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`git ${args[0]} failed (exit ${code}): ${stderr.trim()}`));
    });
    // A command that reads no input may exit before the write: EPIPE then, and its exit code
    // tells whether it worked.
    child.stdin.on("error", () => {});
    child.stdin.end(input ?? "");
  });
}
