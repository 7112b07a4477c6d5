// Issue 8, "hostile repository", at the source layer: repository URLs a hostile Application can
// name. Only configured repositories and rewrites are read; a rewrite's folder of local
// repositories or remote mirror cannot be climbed out of, also not with encoded separators;
// nothing is fetched for a refused URL; configured URLs the hub cannot fetch fail clearly.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createFixtureRepo } from "../resolve/fixture-repo.js";
import { isSourceError } from "./assert-source-error.js";
import { openGitSource } from "./git-source.js";

/** A local HTTP server that answers 401 and counts connections and requests. */
type CountingServer = { url: string; connections(): number; paths(): string[]; stop(): Promise<void> };

async function startCountingServer(): Promise<CountingServer> {
  let connections = 0;
  const paths: string[] = [];
  const server: Server = createServer((req, res) => {
    paths.push(req.url ?? "");
    res.writeHead(401, { "WWW-Authenticate": 'Basic realm="git"' });
    res.end();
  });
  server.on("connection", () => {
    connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => connections,
    paths: () => [...paths],
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Files below `dir` whose content holds `marker`. */
async function findMarkerFiles(dir: string, marker: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isFile() && (await readFile(path)).includes(marker)) found.push(path);
  }
  return found;
}

describe("reliability: hostile repository", () => {
  let dir: string;
  let server: CountingServer;
  const marker = `planted-secret-${randomBytes(12).toString("hex")}`;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "flotilla-hostile-url-"));
    server = await startCountingServer();
    // A folder of mirrored repositories, and beside it a private repository that is not in it.
    await createFixtureRepo(join(dir, "mirrors", "team"), { files: { "cm.yaml": "kind: ConfigMap\n" } });
    await createFixtureRepo(join(dir, "private"), { files: { "secret.yaml": `${marker}\n` } });
  });
  after(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("a rewrite to a folder of local repositories cannot be climbed out of with encoded separators", async (t) => {
    const cacheDir = join(dir, "cache-local");
    const source = openGitSource({
      cacheDir,
      repos: [],
      rewrites: [{ from: "https://git.example.com/mirrored", to: join(dir, "mirrors") }],
    });
    const head = await source.resolveRevision("https://git.example.com/mirrored/team", "HEAD");
    assert.deepEqual(await source.listFiles("https://git.example.com/mirrored/team", head), ["cm.yaml"]);
    const escapes = [
      "https://git.example.com/mirrored/..%2Fprivate",
      "https://git.example.com/mirrored/team%2F..%2F..%2Fprivate",
      "https://git.example.com/mirrored/..%2f..%2f..%2fetc",
      "https://git.example.com/mirrored/team%5C..%5C..%5Cprivate",
      "https://git.example.com/mirrored/%2e%2e%2fprivate",
      "https://git.example.com/mirrored/team%00",
    ];
    let refused = 0;
    for (const url of escapes) {
      assert.equal(source.isAllowed(url), false, url);
      await assert.rejects(source.resolveRevision(url, "HEAD"), isSourceError("not-allowed"), url);
      await assert.rejects(source.checkout(url, head), isSourceError("not-allowed"), url);
      refused += 1;
    }
    // Plain `..` segments are resolved by URL parsing before the rewrite: they stay in the
    // folder, or leave the rewrite's prefix and are not allowed at all.
    await assert.rejects(
      source.resolveRevision("https://git.example.com/mirrored/team/../private", "HEAD"),
      isSourceError("unreachable", /no repository at .*\/mirrors\/private$/),
    );
    assert.equal(source.isAllowed("https://git.example.com/mirrored/team/../../private"), false);
    await source.checkout("https://git.example.com/mirrored/team", head);
    const leaked = await findMarkerFiles(cacheDir, marker);
    assert.deepEqual(leaked, [], "the private repository was checked out");
    t.diagnostic(
      `${escapes.length} URLs with encoded ../, \\ and NUL below a rewrite to a folder of repositories: ${refused} refused as not allowed; the private repository beside the folder is in ${leaked.length} files of the cache; the mirrored repository still resolves and checks out`,
    );
  });

  it("a rewrite to a remote mirror passes no encoded ../ on to it", async (t) => {
    const source = openGitSource({
      cacheDir: join(dir, "cache-remote"),
      repos: [],
      rewrites: [{ from: "https://github.com/org", to: `${server.url}/mirror/org` }],
    });
    const before = server.connections();
    const escapes = [
      "https://github.com/org/x%2F..%2F..%2Fadmin%2Fsecrets",
      "https://github.com/org/..%2Fother-org%2Frepo",
    ];
    for (const url of escapes) {
      assert.equal(source.isAllowed(url), false, url);
      await assert.rejects(source.fetch(url), isSourceError("not-allowed"), url);
    }
    assert.equal(server.connections() - before, 0);
    t.diagnostic(
      `${escapes.length} URLs with encoded ../ below a rewrite to a remote mirror: ${escapes.length} refused, the mirror received ${server.connections() - before} connections`,
    );
  });

  it("local paths, file: URLs and internal hosts that are not configured are refused before any I/O", async (t) => {
    const cacheDir = join(dir, "cache-refused");
    await mkdir(cacheDir, { recursive: true });
    const source = openGitSource({ cacheDir, repos: [{ url: "https://git.example.com/fleet.git" }] });
    const before = server.connections();
    const refused = [
      join(dir, "private"),
      `file://${join(dir, "private")}`,
      "file:///etc",
      "./private",
      "../private",
      "http://169.254.169.254/latest/meta-data/",
      "http://[fd00:ec2::254]/latest/meta-data/",
      `${server.url}/fleet.git`,
      server.url.replace("127.0.0.1", "localhost"),
      `https://git.example.com@${server.url.slice("http://".length)}/fleet.git`,
      "https://git.example.com.evil.example/fleet.git",
      "https://git.example.com/fleet.git/../private",
      `git://${server.url.slice("http://".length)}/fleet.git`,
      `ssh://git@${server.url.slice("http://".length)}/fleet.git`,
      "git@127.0.0.1:fleet.git",
    ];
    let rejected = 0;
    for (const url of refused) {
      assert.equal(source.isAllowed(url), false, url);
      for (const call of [
        () => source.fetch(url),
        () => source.resolveRevision(url, "HEAD"),
        () => source.checkout(url, "a".repeat(40)),
        () => source.listFiles(url, "a".repeat(40)),
        () => source.readFile(url, "a".repeat(40), "secret.yaml"),
      ]) {
        await assert.rejects(
          call(),
          isSourceError("not-allowed", /: not allowed: the repository is neither configured/),
        );
        rejected += 1;
      }
    }
    assert.equal(server.connections() - before, 0, "a refused URL reached the server");
    assert.deepEqual(await readdir(cacheDir), [], "a refused URL wrote to the cache");
    t.diagnostic(
      `${refused.length} unconfigured URLs x 5 calls: ${rejected} refused as not allowed; ${server.connections() - before} connections to the local server, 0 cache entries written`,
    );
  });

  it("configured git:, ssh: and scp-like URLs fail clearly without reaching the network", async (t) => {
    const host = server.url.slice("http://".length);
    const urls = [`git://${host}/fleet.git`, `ssh://git@${host}/fleet.git`, "git@127.0.0.1:fleet.git"];
    const source = openGitSource({
      cacheDir: join(dir, "cache-schemes"),
      repos: urls.map((url) => ({ url })),
    });
    const before = server.connections();
    for (const url of urls) {
      await assert.rejects(
        source.resolveRevision(url, "HEAD"),
        isSourceError("invalid", /cannot fetch: only http\(s\) URLs and local repositories are supported/),
        url,
      );
    }
    assert.equal(server.connections() - before, 0);
    t.diagnostic(
      `${urls.length} configured non-http URLs: each refused with "only http(s) URLs and local repositories are supported"; ${server.connections() - before} connections made`,
    );
  });

  it("credentials of a configured repository appear in no error", async (t) => {
    const token = `TOPSECRET-${randomBytes(8).toString("hex")}`;
    const url = `http://deploy:${token}@${server.url.slice("http://".length)}/private.git`;
    const source = openGitSource({ cacheDir: join(dir, "cache-credentials"), repos: [{ url }] });
    const messages: string[] = [];
    for (const call of [() => source.fetch(url), () => source.resolveRevision(url, "HEAD")]) {
      await assert.rejects(call(), (error: unknown) => {
        assert.ok(error instanceof Error);
        messages.push(error.message, String((error as Error & { cause?: unknown }).cause ?? ""));
        return isSourceError("auth", /the server refused the credentials \(HTTP 401\)/)(error);
      });
    }
    assert.ok(!messages.some((message) => message.includes(token)), messages.join("\n"));
    assert.ok(!server.paths().some((path) => path.includes(token)), "the token went into a request path");
    t.diagnostic(
      `${messages.length / 2} failed fetches with credentials: the token was in 0 of ${messages.length} error messages and causes and in 0 of ${server.paths().length} request paths`,
    );
  });
});
