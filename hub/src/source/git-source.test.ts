import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { isSourceError } from "./assert-source-error.js";
import { type GitSource, openGitSource, type SourceConfig } from "./git-source.js";

// 2024-01-01T00:00:00Z; every git command advances the clock a second, so shas are the same on every run.
const EPOCH_S = 1_704_067_200;

type TestRepo = {
  dir: string;
  /** Runs git in the work tree with a fixed identity and clock; returns trimmed stdout. */
  git(...args: string[]): Promise<string>;
  /** Writes files (a `{ link: target }` value makes a symlink), commits them all, returns the sha. */
  commit(files: Record<string, string | Uint8Array | { link: string }>, message?: string): Promise<string>;
};

/** Temporary folders for the surrounding suite, removed after it. */
function useTempDirs(): (prefix: string) => Promise<string> {
  const dirs: string[] = [];
  after(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });
  return async (prefix) => {
    const dir = await mkdtemp(join(tmpdir(), `flotilla-source-${prefix}-`));
    dirs.push(dir);
    return dir;
  };
}

async function createTestRepo(dir: string): Promise<TestRepo> {
  let ticks = 0;
  const { GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE, ...inherited } = process.env;
  function git(...args: string[]): Promise<string> {
    const date = `${EPOCH_S + ticks++} +0000`;
    const env = {
      ...inherited,
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
      GIT_AUTHOR_DATE: date,
      GIT_COMMITTER_DATE: date,
    };
    const identity = ["-c", "user.name=Flotilla Test", "-c", "user.email=test@flotilla.invalid"];
    return new Promise((resolve, reject) => {
      execFile("git", [...identity, ...args], { cwd: dir, env }, (error, stdout, stderr) => {
        if (error) reject(new Error(`git ${args.join(" ")}: ${stderr}`, { cause: error }));
        else resolve(stdout.trim());
      });
    });
  }
  async function commit(files: Record<string, string | Uint8Array | { link: string }>, message = "change") {
    for (const [path, content] of Object.entries(files)) {
      const target = join(dir, path);
      await mkdir(dirname(target), { recursive: true });
      await rm(target, { force: true });
      if (typeof content === "object" && "link" in content) {
        await git("update-index", "--add", "--cacheinfo", `120000,${await hashBlob(content.link)},${path}`);
      } else {
        await writeFile(target, content);
        await git("add", "--", path);
      }
    }
    await git("commit", "--quiet", "--allow-empty", "-m", message);
    return git("rev-parse", "HEAD");
  }
  async function hashBlob(content: string): Promise<string> {
    const file = join(dir, ".git", "link-target");
    await writeFile(file, content);
    return git("hash-object", "-w", "--", file);
  }
  await mkdir(dir, { recursive: true });
  await git("init", "--quiet", "-b", "main");
  return { dir, git, commit };
}

/** A loopback TCP server that counts connections and never answers. */
async function startSilentServer(): Promise<{
  url: string;
  connections: () => number;
  stop: () => Promise<void>;
}> {
  let count = 0;
  const sockets = new Set<import("node:net").Socket>();
  const server: Server = createServer((socket) => {
    count++;
    sockets.add(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => count,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("git source over a local repository", () => {
  const makeDir = useTempDirs();
  let repo: TestRepo;
  let source: GitSource;
  let config: SourceConfig;
  const shas: Record<string, string> = {};

  before(async () => {
    repo = await createTestRepo(await makeDir("repo"));
    shas.first = await repo.commit(
      {
        "README.md": "# infra\n",
        "apps/guestbook/deployment.yaml": "kind: Deployment\n",
        "apps/guestbook/service.yaml": "kind: Service\n",
        "apps/web/kustomization.yaml": "resources: []\n",
        "bin/run.sh": "#!/bin/sh\n",
      },
      "first",
    );
    await repo.git("update-index", "--chmod=+x", "bin/run.sh");
    shas.second = await repo.commit(
      { "apps/web/kustomization.yaml": "resources: [a.yaml]\n" },
      "second\n\nbody",
    );
    await repo.git("tag", "v1", shas.first as string);
    await repo.git("tag", "-a", "-m", "release 2", "v2", shas.second as string);
    await repo.git("branch", "feature", shas.first as string);
    config = { cacheDir: await makeDir("cache"), repos: [{ url: repo.dir }] };
    source = openGitSource(config);
  });

  it("resolves HEAD, branches, tags, annotated tags and shas to the commit", async () => {
    const { first, second } = shas as { first: string; second: string };
    assert.equal(await source.resolveRevision(repo.dir), second);
    assert.equal(await source.resolveRevision(repo.dir, "HEAD"), second);
    assert.equal(await source.resolveRevision(repo.dir, "main"), second);
    assert.equal(await source.resolveRevision(repo.dir, "feature"), first);
    assert.equal(await source.resolveRevision(repo.dir, "refs/heads/feature"), first);
    assert.equal(await source.resolveRevision(repo.dir, "v1"), first);
    assert.equal(await source.resolveRevision(repo.dir, "v2"), second);
    assert.equal(await source.resolveRevision(repo.dir, first.slice(0, 7)), first);
    assert.equal(await source.resolveRevision(repo.dir, first.toUpperCase()), first);
    assert.equal(await source.resolveRevision(`file://${repo.dir}/`, second), second);
  });

  it("follows git's ancestry suffixes ~N and ^N", async () => {
    const { first, second } = shas as { first: string; second: string };
    assert.equal(await source.resolveRevision(repo.dir, "HEAD~1"), first);
    assert.equal(await source.resolveRevision(repo.dir, "main^"), first);
    assert.equal(await source.resolveRevision(repo.dir, "v2~0"), second);
    await assert.rejects(
      source.resolveRevision(repo.dir, "HEAD~2"),
      isSourceError("revision", /past the first commit/),
    );
  });

  it("reports an unknown revision, and refuses a malformed one", async () => {
    await assert.rejects(source.resolveRevision(repo.dir, "no-such-branch"), isSourceError("revision"));
    await assert.rejects(source.resolveRevision(repo.dir, "a".repeat(40)), isSourceError("revision"));
    await assert.rejects(
      source.resolveRevision(repo.dir, "main/../../../../etc/passwd"),
      isSourceError("invalid"),
    );
  });

  it("reports the author, message and time of a commit", async () => {
    const info = await source.commitInfo(repo.dir, shas.second as string);
    assert.deepEqual(info, {
      sha: shas.second,
      author: "Flotilla Test",
      email: "test@flotilla.invalid",
      message: "second\n\nbody",
      timeMs: info.timeMs,
    });
    assert.ok(info.timeMs > EPOCH_S * 1000 && info.timeMs < (EPOCH_S + 100) * 1000);
  });

  it("checks out the whole tree, with executable bits, once per commit", async () => {
    const checkout = await source.checkout(repo.dir, shas.second as string);
    assert.equal(checkout.commit, shas.second);
    assert.equal(dirname(dirname(checkout.dir)), join(config.cacheDir, "checkouts"));
    assert.equal(basename(checkout.dir), shas.second);
    assert.deepEqual(checkout.unsafeLinks, []);
    assert.deepEqual(checkout.oversized, []);
    assert.equal(
      await readFile(join(checkout.dir, "apps/web/kustomization.yaml"), "utf8"),
      "resources: [a.yaml]\n",
    );
    assert.equal(await readFile(join(checkout.dir, "README.md"), "utf8"), "# infra\n");
    assert.equal((await stat(join(checkout.dir, "bin/run.sh"))).mode & 0o111, 0o111);
    assert.equal((await stat(join(checkout.dir, "README.md"))).mode & 0o111, 0);
    await assert.rejects(stat(join(checkout.dir, ".git")), { code: "ENOENT" });

    const [again, concurrent] = await Promise.all([
      source.checkout(repo.dir, shas.second as string),
      source.checkout(repo.dir, shas.second as string),
    ]);
    assert.deepEqual(again, checkout);
    assert.deepEqual(concurrent, checkout);
    const fresh = await openGitSource(config).checkout(repo.dir, shas.second as string);
    assert.deepEqual(fresh, checkout);
  });

  it("lists files and directories, sorted", async () => {
    assert.deepEqual(await source.listFiles(repo.dir, shas.second as string), [
      "README.md",
      "apps/guestbook/deployment.yaml",
      "apps/guestbook/service.yaml",
      "apps/web/kustomization.yaml",
      "bin/run.sh",
    ]);
    assert.deepEqual(await source.listDirectories(repo.dir, shas.second as string), [
      "apps",
      "apps/guestbook",
      "apps/web",
      "bin",
    ]);
  });

  it("changes a tree id only when something below that path changes", async () => {
    const { first, second } = shas as { first: string; second: string };
    const ids = async (commit: string) => ({
      root: await source.treeId(repo.dir, commit, ""),
      dot: await source.treeId(repo.dir, commit, "."),
      web: await source.treeId(repo.dir, commit, "apps/web"),
      guestbook: await source.treeId(repo.dir, commit, "/apps/guestbook/"),
      readme: await source.treeId(repo.dir, commit, "README.md"),
      absent: await source.treeId(repo.dir, commit, "apps/none"),
    });
    const before = await ids(first);
    const after = await ids(second);
    assert.notEqual(before.root, after.root);
    assert.equal(before.root, before.dot);
    assert.notEqual(before.web, after.web);
    assert.equal(before.guestbook, after.guestbook);
    assert.equal(before.readme, after.readme);
    assert.match(before.guestbook ?? "", /^[0-9a-f]{40}$/);
    assert.equal(before.absent, undefined);
    await assert.rejects(source.treeId(repo.dir, first, "apps/../../etc"), isSourceError("invalid"));
  });

  it("reads a file without a checkout, within a size limit", async () => {
    const commit = shas.second as string;
    const content = await source.readFile(repo.dir, commit, "apps/guestbook/service.yaml");
    assert.equal(Buffer.from(content ?? []).toString(), "kind: Service\n");
    assert.equal(await source.readFile(repo.dir, commit, "apps/nothing.yaml"), undefined);
    assert.equal(await source.readFile(repo.dir, commit, "apps"), undefined);
    await assert.rejects(
      source.readFile(repo.dir, commit, "README.md", 3),
      isSourceError("limit", /README\.md/),
    );
  });

  it("sees a new commit after fetch", async () => {
    const third = await repo.commit({ "apps/new/app.yaml": "kind: ConfigMap\n" }, "third");
    await source.fetch(repo.dir);
    assert.equal(await source.resolveRevision(repo.dir, "main"), third);
    assert.ok((await source.listFiles(repo.dir, third)).includes("apps/new/app.yaml"));
  });

  it("refuses a commit argument that is not a full sha", async () => {
    await assert.rejects(source.checkout(repo.dir, "main"), isSourceError("invalid"));
    await assert.rejects(
      source.listFiles(repo.dir, (shas.first as string).slice(0, 10)),
      isSourceError("invalid"),
    );
  });
});

describe("git source checkout safety", () => {
  const makeDir = useTempDirs();
  let repo: TestRepo;
  let source: GitSource;

  before(async () => {
    repo = await createTestRepo(await makeDir("hostile"));
    source = openGitSource({
      cacheDir: await makeDir("cache"),
      repos: [{ url: repo.dir }],
      limits: { maxFileBytes: 1024, maxCheckoutFiles: 20 },
    });
  });

  it("creates symlinks inside the tree and reports the ones that leave it", async () => {
    const commit = await repo.commit({
      "base/config.yaml": "kind: ConfigMap\n",
      "overlay/config.yaml": { link: "../base/config.yaml" },
      "overlay/base": { link: "../base" },
      "escape/passwd": { link: "../../etc/passwd" },
      "escape/absolute": { link: "/etc/passwd" },
      "escape/self": { link: "." },
      // Lexically base/config.yaml, but self is escape itself, so the second .. leaves the tree.
      "escape/through-link": { link: "self/../../base/config.yaml" },
      "escape/root": { link: ".." },
      "escape/parent-of-root": { link: "root/.." },
    });
    const checkout = await source.checkout(repo.dir, commit);
    assert.deepEqual(checkout.unsafeLinks, [
      "escape/absolute",
      "escape/parent-of-root",
      "escape/passwd",
      "escape/through-link",
    ]);
    assert.equal(await readFile(join(checkout.dir, "overlay/config.yaml"), "utf8"), "kind: ConfigMap\n");
    assert.equal(await readlink(join(checkout.dir, "overlay/base")), "../base");
    assert.equal(await readFile(join(checkout.dir, "overlay/base/config.yaml"), "utf8"), "kind: ConfigMap\n");
    for (const path of checkout.unsafeLinks) {
      await assert.rejects(lstat(join(checkout.dir, path)), { code: "ENOENT" });
    }
    const viaLink = await source.readFile(repo.dir, commit, "overlay/config.yaml");
    assert.equal(Buffer.from(viaLink ?? []).toString(), "kind: ConfigMap\n");
    await assert.rejects(source.readFile(repo.dir, commit, "escape/passwd"), isSourceError("invalid"));
    await repo.git("rm", "-r", "--quiet", "--cached", "escape", "overlay");
  });

  it("leaves out and reports files over the size limit", async () => {
    const commit = await repo.commit({ "big.bin": Buffer.alloc(2048, 1), "small.txt": "ok\n" });
    const checkout = await source.checkout(repo.dir, commit);
    assert.deepEqual(checkout.oversized, ["big.bin"]);
    await assert.rejects(stat(join(checkout.dir, "big.bin")), { code: "ENOENT" });
    assert.equal(await readFile(join(checkout.dir, "small.txt"), "utf8"), "ok\n");
    await assert.rejects(source.readFile(repo.dir, commit, "big.bin"), isSourceError("limit"));
    await repo.git("rm", "--quiet", "--cached", "big.bin");
  });

  it("skips submodules", async () => {
    const commit = await repo.git("rev-parse", "HEAD");
    await repo.git("update-index", "--add", "--cacheinfo", `160000,${commit},vendor/lib`);
    const withSubmodule = await repo.commit({}, "submodule");
    assert.ok(!(await source.listFiles(repo.dir, withSubmodule)).includes("vendor/lib"));
    const checkout = await source.checkout(repo.dir, withSubmodule);
    await assert.rejects(lstat(join(checkout.dir, "vendor/lib")), { code: "ENOENT" });
    await repo.git("rm", "--quiet", "--cached", "vendor/lib");
  });

  it("refuses a tree with more files than the limit", async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 25; i++) files[`many/${i}.txt`] = `${i}\n`;
    const commit = await repo.commit(files);
    await assert.rejects(source.checkout(repo.dir, commit), isSourceError("limit"));
    await assert.rejects(source.listFiles(repo.dir, commit), isSourceError("limit"));
    await repo.git("rm", "-r", "--quiet", "--cached", "many");
  });

  it("refuses a tree whose entries climb out with ..", async () => {
    const blob = await repo.git("hash-object", "-w", "--", join(repo.dir, "small.txt"));
    // git itself refuses to build such a tree; write its bytes directly.
    const entry = Buffer.concat([Buffer.from("100644 ..\0"), Buffer.from(blob, "hex")]);
    const treeFile = join(repo.dir, ".git", "evil-tree");
    await writeFile(treeFile, entry);
    const tree = await repo.git("hash-object", "-w", "-t", "tree", "--literally", "--", treeFile);
    const commit = await repo.git("commit-tree", "-m", "evil", tree);
    await repo.git("update-ref", "refs/heads/evil", commit);
    assert.equal(await source.resolveRevision(repo.dir, "evil"), commit);
    await assert.rejects(source.checkout(repo.dir, commit), isSourceError("invalid"));
    await assert.rejects(source.treeId(repo.dir, commit, ""), isSourceError("invalid"));
  });
});

describe("git source allow-list", () => {
  const makeDir = useTempDirs();
  let repo: TestRepo;
  let parent: string;
  let silent: Awaited<ReturnType<typeof startSilentServer>>;

  before(async () => {
    parent = await makeDir("mirrors");
    repo = await createTestRepo(join(parent, "infra"));
    await repo.commit({ "apps/a.yaml": "kind: ConfigMap\n" });
    silent = await startSilentServer();
  });
  after(async () => {
    await silent.stop();
  });

  it("refuses unconfigured URLs without touching the network or the disk", async () => {
    const cacheDir = await makeDir("cache");
    const source = openGitSource({ cacheDir, repos: [{ url: "https://git.example.com/org/infra.git" }] });
    const refused = [
      `${silent.url}/org/infra.git`,
      "https://user:hunter2@git.example.com/org/other.git",
      `file://${repo.dir}`,
      repo.dir,
      "http://169.254.169.254/latest/meta-data",
      "https://git.example.com/org/infra/../secrets",
    ];
    for (const url of refused) {
      assert.equal(source.isAllowed(url), false, url);
      await assert.rejects(source.fetch(url), isSourceError("not-allowed"));
      await assert.rejects(source.resolveRevision(url, "main"), isSourceError("not-allowed"));
      await assert.rejects(source.checkout(url, "a".repeat(40)), isSourceError("not-allowed"));
      await assert.rejects(source.readFile(url, "a".repeat(40), "x"), isSourceError("not-allowed"));
    }
    await assert.rejects(
      source.fetch("https://user:hunter2@git.example.com/org/other.git"),
      (error: Error) => !error.message.includes("hunter2"),
    );
    assert.equal(source.isAllowed("https://GIT.example.com/org/infra/"), true);
    assert.equal(silent.connections(), 0);
    await assert.rejects(stat(join(cacheDir, "repos")), { code: "ENOENT" });
  });

  it("reads a local repository an https URL is rewritten to", async () => {
    const source = openGitSource({
      cacheDir: await makeDir("cache"),
      repos: [],
      rewrites: [
        { from: "https://github.com/example/infra", to: repo.dir },
        { from: "https://github.com/mirrored", to: parent },
      ],
    });
    const head = await repo.git("rev-parse", "HEAD");
    assert.equal(await source.resolveRevision("https://github.com/example/infra.git", "main"), head);
    assert.equal(await source.resolveRevision("https://github.com/mirrored/infra", "main"), head);
    assert.equal(await source.resolveRevision("https://github.com/mirrored/infra.git", "HEAD"), head);
    const files = await source.listFiles("https://github.com/example/infra.git", head);
    assert.deepEqual(files, ["apps/a.yaml"]);
    assert.equal(source.isAllowed("https://github.com/example/infra-other"), false);
    assert.equal(source.isAllowed("https://github.com/mirrored/%2e%2e/etc"), false);
    await assert.rejects(
      source.resolveRevision("https://github.com/mirrored/absent", "main"),
      isSourceError("unreachable", /github\.com\/mirrored\/absent \(via .*absent\)/),
    );
  });

  it("gives up on a server that never answers when the fetch deadline passes", async () => {
    const url = `${silent.url}/org/infra.git`;
    const source = openGitSource({ cacheDir: await makeDir("cache"), repos: [{ url }], fetchTimeoutMs: 300 });
    const startedMs = Date.now();
    await assert.rejects(
      source.resolveRevision(url, "main"),
      isSourceError("unreachable", /no answer within 300 ms/),
    );
    const elapsedMs = Date.now() - startedMs;
    assert.ok(elapsedMs >= 250 && elapsedMs < 5_000, `gave up after ${elapsedMs} ms`);
    assert.ok(silent.connections() > 0);
  });
});
