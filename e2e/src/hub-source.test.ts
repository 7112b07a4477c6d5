import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { inspect, promisify } from "node:util";
import { isSourceError } from "@flotilla/hub/source/assert-source-error";
import { type GitSource, openGitSource, type SourceConfig } from "@flotilla/hub/source/git-source";
import { useGitServer } from "./harness/git-server.js";

const run = promisify(execFile);
const cacheDirs: string[] = [];
after(async () => {
  await Promise.all(cacheDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function makeCacheDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "flotilla-hub-source-"));
  cacheDirs.push(dir);
  return dir;
}

async function openSource(config: Omit<SourceConfig, "cacheDir">): Promise<GitSource> {
  return openGitSource({ cacheDir: await makeCacheDir(), ...config });
}

/** Every file below `dir`, recursively, as text. */
async function readAllFiles(dir: string): Promise<string> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const texts = await Promise.all(
    entries.filter((e) => e.isFile()).map((e) => readFile(join(e.parentPath, e.name), "latin1")),
  );
  return texts.join("\n");
}

/** An HTTP proxy in front of `target` that counts the ref advertisements (one per fetch). */
async function startCountingProxy(
  target: string,
): Promise<{ url: string; fetches: () => number; stop(): Promise<void> }> {
  let fetches = 0;
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    if (req.url?.includes("/info/refs")) fetches++;
    const forward = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        path: req.url,
        method: req.method,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on("error", () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    fetches: () => fetches,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe("hub source over smart HTTP", () => {
  const server = useGitServer();

  it("clones, checks out, and sees a push after fetch", async () => {
    const first = await server().createRepo("infra", {
      "apps/guestbook/deployment.yaml": "kind: Deployment\n",
      "apps/web/config.yaml": "kind: ConfigMap\n",
    });
    const url = server().repoUrl("infra");
    const source = await openSource({ repos: [{ url }] });
    assert.equal(await source.resolveRevision(url, "main"), first);
    const checkout = await source.checkout(url, first);
    assert.equal(await readFile(join(checkout.dir, "apps/web/config.yaml"), "utf8"), "kind: ConfigMap\n");
    assert.deepEqual(await source.listDirectories(url, first), ["apps", "apps/guestbook", "apps/web"]);

    const second = await server().commit(
      "infra",
      { "apps/web/config.yaml": "kind: Secret\n" },
      { message: "web" },
    );
    // Refs come from the last fetch: a branch moves when the source fetches, not in between.
    assert.equal(await source.resolveRevision(url, "main"), first);
    await source.fetch(url);
    assert.equal(await source.resolveRevision(url, "HEAD"), second);
    const secret = await source.readFile(url, second, "apps/web/config.yaml");
    assert.equal(Buffer.from(secret ?? []).toString(), "kind: Secret\n");
    assert.notEqual(
      await source.treeId(url, first, "apps/web"),
      await source.treeId(url, second, "apps/web"),
    );
    assert.equal(
      await source.treeId(url, first, "apps/guestbook"),
      await source.treeId(url, second, "apps/guestbook"),
    );
  });

  it("follows tags, moved tags and deleted branches, and fetches a missing sha on demand", async () => {
    const first = await server().createRepo("tags", { "a.txt": "1\n" });
    const url = server().repoUrl("tags");
    await server().tag("tags", "v1");
    await server().tag("tags", "v1-annotated", { message: "release 1" });
    const feature = await server().commit(
      "tags",
      { "b.txt": "b\n" },
      { message: "feature", branch: "feature" },
    );
    const source = await openSource({ repos: [{ url }] });
    assert.equal(await source.resolveRevision(url, "v1"), first);
    assert.equal(await source.resolveRevision(url, "v1-annotated"), first);
    assert.equal(await source.resolveRevision(url, "refs/tags/v1-annotated"), first);
    assert.equal(await source.resolveRevision(url, "feature"), feature);

    const second = await server().commit("tags", { "a.txt": "2\n" }, { message: "second" });
    await server().tag("tags", "v1", { ref: second, force: true });
    await run("git", ["branch", "-D", "feature"], { cwd: join(server().root, "tags.git") });
    await source.fetch(url);
    assert.equal(await source.resolveRevision(url, "v1"), second);
    await assert.rejects(
      source.resolveRevision(url, "feature"),
      isSourceError("revision", /"feature" not found/),
    );

    // Never fetched: a short or full sha that is not here yet makes the source fetch once.
    const third = await server().commit("tags", { "a.txt": "3\n" }, { message: "third" });
    assert.equal(await source.resolveRevision(url, third.slice(0, 8)), third);
    const fourth = await server().commit("tags", { "a.txt": "4\n" }, { message: "fourth" });
    const info = await source.commitInfo(url, fourth);
    assert.equal(info.message, "fourth");
  });

  it("runs one fetch at a time and lets concurrent callers share it", async () => {
    await server().createRepo("shared", { "a.txt": "a\n" });
    const proxy = await startCountingProxy(server().url);
    try {
      const url = `${proxy.url}/shared.git`;
      const source = await openSource({ repos: [{ url }] });
      await source.resolveRevision(url);
      const before = proxy.fetches();
      await Promise.all(Array.from({ length: 6 }, () => source.fetch(url)));
      // The first call runs; the five made while it ran share one more, so none misses a push.
      assert.equal(proxy.fetches() - before, 2);
      await source.fetch(url);
      assert.equal(proxy.fetches() - before, 3);
    } finally {
      await proxy.stop();
    }
  });

  it("reads a mirror that an https URL is rewritten to", async () => {
    const sha = await server().createRepo("mirror/infra", { "apps/a.yaml": "kind: ConfigMap\n" });
    const source = await openSource({
      repos: [],
      rewrites: [{ from: "https://github.com/example", to: `${server().url}/mirror` }],
    });
    assert.equal(await source.resolveRevision("https://github.com/example/infra.git", "main"), sha);
    assert.deepEqual(await source.listFiles("https://github.com/example/infra.git", sha), ["apps/a.yaml"]);
    assert.equal(source.isAllowed("https://github.com/other/infra.git"), false);
  });

  it("reports an outage as unreachable within the deadline, serves what it has, and recovers", async (t) => {
    t.diagnostic("reliability: faults");
    const first = await server().createRepo("outage", { "a.txt": "a\n" });
    const url = server().repoUrl("outage");
    const fetchTimeoutMs = 3_000;
    const source = await openSource({ repos: [{ url }], fetchTimeoutMs });
    assert.equal(await source.resolveRevision(url, "main"), first);

    await server().pause("refuse");
    try {
      const startedMs = Date.now();
      await assert.rejects(source.fetch(url), isSourceError("unreachable", /outage\.git: cannot fetch/));
      assert.ok(Date.now() - startedMs < fetchTimeoutMs, `took ${Date.now() - startedMs} ms`);
      // What was fetched before stays readable while the server is away.
      assert.equal(await source.resolveRevision(url, "main"), first);
      assert.equal((await source.checkout(url, first)).commit, first);

      await server().pause("unavailable");
      await assert.rejects(source.fetch(url), isSourceError("unreachable", /HTTP 503/));
    } finally {
      await server().resume();
    }
    const second = await server().commit("outage", { "b.txt": "b\n" }, { message: "after the outage" });
    await source.fetch(url);
    assert.equal(await source.resolveRevision(url, "main"), second);
    t.diagnostic(
      "real Git server refusing connections, then answering 503: both reported unreachable within 3 s, the last fetched commit still served; back up: the new commit fetched",
    );
  });

  it("measures clone, fetch and checkout of a repository with 1,000 files", async (t) => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 1_000; i++) {
      files[`apps/app-${Math.floor(i / 20)}/file-${i}.yaml`] =
        `kind: ConfigMap\nmetadata:\n  name: cm-${i}\n`;
    }
    await server().createRepo("large", files);
    const url = server().repoUrl("large");
    const source = await openSource({ repos: [{ url }] });
    const timings: string[] = [];
    async function time<T>(what: string, step: () => Promise<T>): Promise<T> {
      const startedMs = performance.now();
      const result = await step();
      timings.push(`${what} ${Math.round(performance.now() - startedMs)} ms`);
      return result;
    }
    const first = await time("clone", () => source.resolveRevision(url, "main"));
    await time("fetch (no change)", () => source.fetch(url));
    await server().commit("large", { "apps/app-0/file-0.yaml": "kind: Secret\n" }, { message: "one file" });
    await time("fetch (one file changed)", () => source.fetch(url));
    const second = await source.resolveRevision(url, "main");
    await time("list files", () => source.listFiles(url, first));
    await time("tree id (listing cached)", () => source.treeId(url, first, "apps/app-7"));
    const checkout = await time("checkout", () => source.checkout(url, first));
    await time("checkout (next commit)", () => source.checkout(url, second));
    await time("checkout (cached)", () => source.checkout(url, first));
    t.diagnostic(`1,000 files: ${timings.join(", ")}`);
    assert.equal((await source.listFiles(url, first)).length, 1_000);
    assert.equal(
      await readFile(join(checkout.dir, "apps/app-49/file-999.yaml"), "utf8"),
      files["apps/app-49/file-999.yaml"],
    );
  });
});

describe("hub source with basic auth", () => {
  const credentials = { username: "flotilla", password: "pa55-w0rd-xyz" };
  const server = useGitServer({ auth: credentials });

  it("fetches with the configured credentials and keeps them off the disk", async () => {
    const sha = await server().createRepo("private", { "a.txt": "a\n" });
    const url = server().repoUrl("private");
    const cacheDir = await makeCacheDir();
    const source = openGitSource({ cacheDir, repos: [{ url, credentials }] });
    assert.equal(await source.resolveRevision(url, "main"), sha);
    await source.checkout(url, sha);
    assert.ok(!(await readAllFiles(cacheDir)).includes(credentials.password));
  });

  it("takes credentials from the user info of a configured URL", async () => {
    const url = server().repoUrl("private");
    const withUserInfo = url.replace("http://", `http://${credentials.username}:${credentials.password}@`);
    const source = await openSource({ repos: [{ url: withUserInfo }] });
    assert.match(await source.resolveRevision(url, "main"), /^[0-9a-f]{40}$/);
  });

  it("reports wrong or missing credentials as auth, without the password", async (t) => {
    t.diagnostic("reliability: security defaults");
    const url = server().repoUrl("private");
    const wrong = await openSource({
      repos: [{ url, credentials: { ...credentials, password: "not-the-password" } }],
    });
    await assert.rejects(wrong.fetch(url), (error: unknown) => {
      isSourceError(
        "auth",
        /private\.git: cannot fetch: the server refused the credentials \(HTTP 401\)/,
      )(error);
      assert.ok(!inspect(error, { depth: 10 }).includes("not-the-password"));
      return true;
    });
    const none = await openSource({ repos: [{ url }] });
    await assert.rejects(none.resolveRevision(url, "main"), isSourceError("auth", /none are configured/));
    t.diagnostic(
      "wrong and missing Git credentials against a real server: both reported as auth, the password in no error",
    );
  });
});

describe("hub source with a token", () => {
  const server = useGitServer({ auth: { token: "tok-456" } });

  it("sends the token as the Basic password", async () => {
    const sha = await server().createRepo("private", { "a.txt": "a\n" });
    const url = server().repoUrl("private");
    const source = await openSource({ repos: [{ url, credentials: { token: "tok-456" } }] });
    assert.equal(await source.resolveRevision(url), sha);
  });
});
