import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import git from "isomorphic-git";
import http from "isomorphic-git/http/node";
import { useGitServer } from "./git-server.js";

const run = promisify(execFile);
const workDirs: string[] = [];
after(async () => {
  await Promise.all(workDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function makeWorkDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "flotilla-git-test-"));
  workDirs.push(dir);
  return dir;
}

function connectTo(url: string): Promise<void> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.end();
      resolve();
    });
    socket.on("error", reject);
  });
}

function statusCodeOf(error: unknown): number | undefined {
  return (error as { data?: { statusCode?: number } }).data?.statusCode;
}

describe("git server", () => {
  const server = useGitServer();

  it("serves a clone over smart HTTP and a later commit on fetch", async () => {
    const first = await server().createRepo("apps", { "apps/demo.yaml": "kind: Application\n" });
    const dir = await makeWorkDir();
    await git.clone({ fs, http, dir, url: server().repoUrl("apps"), singleBranch: true });
    assert.equal(await git.resolveRef({ fs, dir, ref: "HEAD" }), first);
    assert.equal(await readFile(join(dir, "apps/demo.yaml"), "utf8"), "kind: Application\n");

    const second = await server().commit(
      "apps",
      { "apps/other.yaml": "kind: Other\n" },
      { message: "replace demo", delete: ["apps/demo.yaml"] },
    );
    assert.notEqual(second, first);
    const fetched = await git.fetch({ fs, http, dir, singleBranch: true, ref: "main" });
    assert.equal(fetched.fetchHead, second);
    const files = await git.listFiles({ fs, dir, ref: second });
    assert.deepEqual(files, ["apps/other.yaml"]);
  });

  it("accepts a push and resolves tags", async () => {
    await server().createRepo("pushed", { "README.md": "hello\n" }, { branch: "trunk" });
    const dir = await makeWorkDir();
    await git.clone({ fs, http, dir, url: server().repoUrl("pushed") });
    assert.equal(await git.currentBranch({ fs, dir }), "trunk");
    await writeFile(join(dir, "README.md"), "pushed\n");
    await git.add({ fs, dir, filepath: "README.md" });
    const sha = await git.commit({
      fs,
      dir,
      message: "push over http",
      author: { name: "Test", email: "test@flotilla.invalid", timestamp: 1_704_067_200, timezoneOffset: 0 },
    });
    const pushed = await git.push({ fs, http, dir, remote: "origin", ref: "trunk" });
    assert.equal(pushed.ok, true);
    assert.equal(await server().resolveRef("pushed"), sha);

    assert.equal(await server().tag("pushed", "v1.0.0", { message: "release" }), sha);
    const refs = await git.listServerRefs({ http, url: server().repoUrl("pushed"), prefix: "refs/tags/" });
    assert.ok(refs.some((ref) => ref.ref === "refs/tags/v1.0.0"));
  });

  it("serves the git CLI (protocol v2) for clone, fetch and push", async () => {
    await server().createRepo("cli", { "a.txt": "a\n" });
    const dir = await makeWorkDir();
    const env = { ...process.env, GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" };
    const gitCli = (...args: string[]) =>
      run("git", ["-c", "protocol.version=2", ...args], { cwd: dir, env });
    await gitCli("clone", "--quiet", server().repoUrl("cli"), ".");
    const second = await server().commit("cli", { "b.txt": "b\n" }, { message: "second" });
    await gitCli("fetch", "--quiet", "origin");
    assert.equal((await gitCli("rev-parse", "origin/main")).stdout.trim(), second);

    await gitCli("merge", "--quiet", "--ff-only", "origin/main");
    await writeFile(join(dir, "c.txt"), "c\n");
    await gitCli("add", "c.txt");
    await gitCli("-c", "user.name=Test", "-c", "user.email=test@flotilla.invalid", "commit", "-qm", "third");
    await gitCli("push", "--quiet", "origin", "main");
    assert.equal(await server().resolveRef("cli"), (await gitCli("rev-parse", "HEAD")).stdout.trim());
  });

  it("accepts a gzip-encoded upload-pack request", async () => {
    const sha = await server().createRepo("gzipped", { "a.txt": "a\n" });
    const pktLine = (line: string) => `${(line.length + 4).toString(16).padStart(4, "0")}${line}`;
    const body = gzipSync(`${pktLine(`want ${sha}\n`)}0000${pktLine("done\n")}`);
    const response = await fetch(`${server().repoUrl("gzipped")}/git-upload-pack`, {
      method: "POST",
      headers: { "Content-Type": "application/x-git-upload-pack-request", "Content-Encoding": "gzip" },
      body,
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "application/x-git-upload-pack-result");
    const result = Buffer.from(await response.arrayBuffer());
    assert.equal(result.subarray(0, 8).toString(), "0008NAK\n");
    assert.equal(result.subarray(8, 12).toString(), "PACK");
  });

  it("keeps every commit when commits to one repository overlap", async () => {
    await server().createRepo("busy", { "0.txt": "0\n" });
    const shas = await Promise.all(
      [1, 2, 3].map((n) => server().commit("busy", { [`${n}.txt`]: `${n}\n` }, { message: `commit ${n}` })),
    );
    assert.equal(new Set(shas).size, 3);
    const dir = await makeWorkDir();
    await git.clone({ fs, http, dir, url: server().repoUrl("busy") });
    const files = await git.listFiles({ fs, dir, ref: "HEAD" });
    assert.deepEqual(files, ["0.txt", "1.txt", "2.txt", "3.txt"]);
  });

  it("fails requests while paused and serves them again after resume", async () => {
    await server().createRepo("flaky", { "a.txt": "a\n" });
    const url = server().repoUrl("flaky");
    await server().pause("unavailable");
    await assert.rejects(git.getRemoteInfo({ http, url }), (error) => statusCodeOf(error) === 503);
    await server().pause("reset");
    await assert.rejects(git.getRemoteInfo({ http, url }), /socket hang up|ECONNRESET/);
    await server().pause("refuse");
    await assert.rejects(connectTo(server().url), { code: "ECONNREFUSED" });
    await assert.rejects(git.getRemoteInfo({ http, url }));
    await server().resume();
    const info = await git.getRemoteInfo({ http, url });
    assert.equal(info.HEAD, "refs/heads/main");
  });
});

describe("git server with basic auth", () => {
  const credentials = { username: "flotilla", password: "s3cret" };
  const server = useGitServer({ auth: credentials });

  it("refuses a clone without credentials with 401", async () => {
    await server().createRepo("private", { "a.txt": "a\n" });
    const dir = await makeWorkDir();
    await assert.rejects(
      git.clone({ fs, http, dir, url: server().repoUrl("private") }),
      (error) => statusCodeOf(error) === 401,
    );
  });

  it("refuses wrong credentials and serves the right ones", async () => {
    const url = server().repoUrl("private");
    await assert.rejects(
      git.getRemoteInfo({ http, url, onAuth: () => ({ ...credentials, password: "wrong" }) }),
      (error) => statusCodeOf(error) === 401,
    );
    const dir = await makeWorkDir();
    await git.clone({ fs, http, dir, url, onAuth: () => credentials });
    assert.equal(await readFile(join(dir, "a.txt"), "utf8"), "a\n");
  });
});

describe("git server with a token", () => {
  const server = useGitServer({ auth: { token: "tok-123" } });

  it("accepts the token as a bearer header and refuses requests without it", async () => {
    await server().createRepo("private", { "a.txt": "a\n" });
    const url = server().repoUrl("private");
    await assert.rejects(git.getRemoteInfo({ http, url }), (error) => statusCodeOf(error) === 401);
    const info = await git.getRemoteInfo({ http, url, headers: { Authorization: "Bearer tok-123" } });
    assert.equal(info.HEAD, "refs/heads/main");
  });
});
