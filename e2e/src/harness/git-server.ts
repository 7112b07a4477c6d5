import { type ChildProcess, execFile, spawn } from "node:child_process";
import { timingSafeEqual } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { useService } from "./processes.js";

/** Basic auth with exactly these credentials, or a token sent as `Bearer <token>` or as a Basic password. */
export type GitServerAuth = { username: string; password: string } | { token: string };

export type GitServerOptions = {
  /** Require credentials on every request; without it the server is anonymous, pushes included. */
  auth?: GitServerAuth;
};

/**
 * How an unavailable server fails: `unavailable` answers 503, `reset` drops each connection
 * without a response, `refuse` stops listening and closes open connections, so new connections
 * are refused (a client reusing a kept-alive connection may see a reset first).
 */
export type GitServerOutage = "unavailable" | "reset" | "refuse";

/** File path (relative, `/`-separated) to content. */
export type GitFiles = Record<string, string | Uint8Array>;

export type CreateRepoOptions = {
  /** The branch HEAD points at; default `main`. */
  branch?: string;
  /** Default `initial commit`. */
  message?: string;
};

export type CommitOptions = {
  message: string;
  /** Paths to remove (files, or folders recursively). */
  delete?: string[];
  /** Default: the branch HEAD points at. A branch that does not exist yet starts from HEAD. */
  branch?: string;
};

export type TagOptions = {
  /** What to tag; default HEAD. */
  ref?: string;
  /** Makes an annotated tag; without it the tag is lightweight. */
  message?: string;
  /** Move an existing tag. */
  force?: boolean;
};

export type GitServer = {
  /** `http://127.0.0.1:PORT`, without credentials. */
  url: string;
  /** The folder holding the bare repositories (`<name>.git`). */
  root: string;
  /** `<url>/<name>.git`, the clone URL of a repository. */
  repoUrl(name: string): string;
  /** Creates bare repository `<name>.git` with one commit holding `files`; returns the commit sha. */
  createRepo(name: string, files: GitFiles, opts?: CreateRepoOptions): Promise<string>;
  /** Writes `files` (and removes `opts.delete`) in one new commit on a branch; returns its sha. */
  commit(name: string, files: GitFiles, opts: CommitOptions): Promise<string>;
  /** Creates (or with `force`, moves) a tag; returns the sha of the tagged commit. */
  tag(name: string, tagName: string, opts?: TagOptions): Promise<string>;
  /** The commit sha a ref (default HEAD) of a repository points at. */
  resolveRef(name: string, ref?: string): Promise<string>;
  /** Makes the server fail every request in the given way (default `unavailable`). */
  pause(outage?: GitServerOutage): Promise<void>;
  /** Ends an outage; with `refuse` the server listens again on the same port. */
  resume(): Promise<void>;
  /** Stops the server, ends running git processes and removes the repositories. */
  stop(): Promise<void>;
};

const REPO_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;
const BRANCH_NAME = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;
const AUTH_REALM = "flotilla-test";
// 2024-01-01T00:00:00Z; each git command advances the clock one second, so shas depend only on
// what a test does.
const EPOCH_S = 1_704_067_200;

/**
 * Starts a smart-HTTP git server on 127.0.0.1 (a free port): a node:http server running
 * `git http-backend` as CGI over repositories in a fresh temporary folder. Fetch and push both
 * work. Needs the git CLI (Debian package `git`).
 */
export async function startGitServer(opts: GitServerOptions = {}): Promise<GitServer> {
  const root = await mkdtemp(join(tmpdir(), "flotilla-git-"));
  const children = new Set<ChildProcess>();
  let outage: GitServerOutage | undefined;
  let clockTicks = 0;
  const repoQueues = new Map<string, Promise<unknown>>();

  const server = createServer((req, res) => {
    if (outage === "reset") {
      req.socket.destroy();
      return;
    }
    if (outage === "unavailable") {
      res.writeHead(503, { "Content-Type": "text/plain", "Retry-After": "1" }).end("paused by the test\n");
      return;
    }
    const user = authenticate(req, opts.auth);
    if (user === undefined) {
      res.writeHead(401, { "WWW-Authenticate": `Basic realm="${AUTH_REALM}"`, "Content-Type": "text/plain" });
      res.end("authentication required\n");
      return;
    }
    serveGit(req, res, root, user, children);
  });
  const port = await listen(server, 0);
  const url = `http://127.0.0.1:${port}`;

  // Every git command runs with a fixed identity and clock and without the user's config.
  function gitEnv(): NodeJS.ProcessEnv {
    const date = `${EPOCH_S + clockTicks++} +0000`;
    // A repository named by the caller's environment (as in a git hook) would capture every command.
    const { GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE, ...inherited } = process.env;
    return {
      ...inherited,
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
      GIT_AUTHOR_NAME: "Flotilla Test",
      GIT_AUTHOR_EMAIL: "test@flotilla.invalid",
      GIT_AUTHOR_DATE: date,
      GIT_COMMITTER_NAME: "Flotilla Test",
      GIT_COMMITTER_EMAIL: "test@flotilla.invalid",
      GIT_COMMITTER_DATE: date,
    };
  }

  function git(args: string[], cwd: string): Promise<string> {
    return runGit(args, cwd, gitEnv());
  }

  function findRepoDir(name: string): string {
    if (!REPO_NAME.test(name) || name.endsWith(".git")) {
      throw new Error(`invalid repository name ${JSON.stringify(name)}`);
    }
    return join(root, `${name}.git`);
  }

  // Commits to one repository run one after another, so concurrent callers never race a push.
  function serializePerRepo<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const result = (repoQueues.get(name) ?? Promise.resolve()).then(fn, fn);
    repoQueues.set(
      name,
      result.catch(() => {}),
    );
    return result;
  }

  async function withWorkTree<T>(fn: (dir: string) => Promise<T>): Promise<T> {
    const dir = await mkdtemp(join(tmpdir(), "flotilla-git-work-"));
    try {
      return await fn(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async function createRepo(
    name: string,
    files: GitFiles,
    createOpts: CreateRepoOptions = {},
  ): Promise<string> {
    const repoDir = findRepoDir(name);
    const branch = checkBranch(createOpts.branch ?? "main");
    try {
      await mkdir(dirname(repoDir), { recursive: true });
      // HEAD of the bare repository names `branch`, which the push below creates.
      await git(["init", "--quiet", "--bare", `--initial-branch=${branch}`, repoDir], root);
      return await withWorkTree(async (work) => {
        await git(["init", "--quiet", `--initial-branch=${branch}`, work], work);
        await writeFiles(work, files);
        await git(["add", "--all"], work);
        await git(["commit", "--quiet", "--allow-empty", "-m", createOpts.message ?? "initial commit"], work);
        await git(["push", "--quiet", repoDir, `HEAD:refs/heads/${branch}`], work);
        return await git(["rev-parse", "HEAD"], work);
      });
    } catch (cause) {
      throw new Error(`git server: create repository ${name}`, { cause });
    }
  }

  async function commit(name: string, files: GitFiles, commitOpts: CommitOptions): Promise<string> {
    const repoDir = findRepoDir(name);
    try {
      return await serializePerRepo(name, () =>
        withWorkTree(async (work) => {
          await git(["clone", "--quiet", repoDir, work], root);
          const branch = checkBranch(
            commitOpts.branch ?? (await git(["symbolic-ref", "--short", "HEAD"], work)),
          );
          const exists = (await git(["branch", "--remotes", "--list", `origin/${branch}`], work)) !== "";
          await git(exists ? ["checkout", "--quiet", branch] : ["checkout", "--quiet", "-b", branch], work);
          for (const path of commitOpts.delete ?? []) {
            await git(["rm", "-r", "--quiet", "--ignore-unmatch", "--", checkPath(path)], work);
          }
          await writeFiles(work, files);
          await git(["add", "--all"], work);
          await git(["commit", "--quiet", "--allow-empty", "-m", commitOpts.message], work);
          await git(["push", "--quiet", "origin", `HEAD:refs/heads/${branch}`], work);
          return await git(["rev-parse", "HEAD"], work);
        }),
      );
    } catch (cause) {
      throw new Error(`git server: commit to ${name}`, { cause });
    }
  }

  async function tag(name: string, tagName: string, tagOpts: TagOptions = {}): Promise<string> {
    const repoDir = findRepoDir(name);
    const args = ["tag"];
    if (tagOpts.force) args.push("--force");
    if (tagOpts.message !== undefined) args.push("--annotate", "-m", tagOpts.message);
    args.push("--", checkBranch(tagName), tagOpts.ref ?? "HEAD");
    try {
      await git(args, repoDir);
      return await git(["rev-parse", `refs/tags/${tagName}^{commit}`], repoDir);
    } catch (cause) {
      throw new Error(`git server: tag ${name} ${tagName}`, { cause });
    }
  }

  async function resolveRef(name: string, ref = "HEAD"): Promise<string> {
    try {
      return await git(["rev-parse", "--verify", "--end-of-options", `${ref}^{commit}`], findRepoDir(name));
    } catch (cause) {
      throw new Error(`git server: resolve ${ref} in ${name}`, { cause });
    }
  }

  async function pause(kind: GitServerOutage = "unavailable"): Promise<void> {
    if (outage === "refuse") await resume();
    outage = kind;
    if (kind === "refuse") await closeServer(server);
  }

  async function resume(): Promise<void> {
    if (outage === "refuse") await listen(server, port);
    outage = undefined;
  }

  async function stop(): Promise<void> {
    for (const child of children) child.kill("SIGKILL");
    if (outage !== "refuse") await closeServer(server);
    await rm(root, { recursive: true, force: true });
  }

  return {
    url,
    root,
    repoUrl: (name) => `${url}/${name}.git`,
    createRepo,
    commit,
    tag,
    resolveRef,
    pause,
    resume,
    stop,
  };
}

/** Starts a git server before the surrounding node:test suite and stops it after; see useService. */
export function useGitServer(opts: GitServerOptions = {}): () => GitServer {
  return useService("useGitServer", () => startGitServer(opts));
}

/** Returns the CGI REMOTE_USER ("" when the server is anonymous), or undefined when refused. */
function authenticate(req: IncomingMessage, auth: GitServerAuth | undefined): string | undefined {
  if (!auth) return "";
  const header = req.headers.authorization ?? "";
  const [scheme = "", value = ""] = header.split(" ", 2);
  if ("token" in auth) {
    if (scheme.toLowerCase() === "bearer" && equalSecrets(value, auth.token)) return "token";
    if (scheme.toLowerCase() === "basic") {
      const { username, password } = decodeBasic(value);
      if (equalSecrets(password, auth.token)) return username || "token";
    }
    return undefined;
  }
  if (scheme.toLowerCase() !== "basic") return undefined;
  const { username, password } = decodeBasic(value);
  return equalSecrets(username, auth.username) && equalSecrets(password, auth.password)
    ? username
    : undefined;
}

function decodeBasic(value: string): { username: string; password: string } {
  const decoded = Buffer.from(value, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return { username: decoded, password: "" };
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function equalSecrets(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Runs `git http-backend` for one request: CGI environment in, CGI header block and body out. */
function serveGit(
  req: IncomingMessage,
  res: ServerResponse,
  root: string,
  user: string,
  children: Set<ChildProcess>,
): void {
  const requestUrl = new URL(req.url ?? "/", "http://127.0.0.1");
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: "1",
    // Pushes are allowed whether or not the server asks for credentials.
    GIT_CONFIG_COUNT: "1",
    GIT_CONFIG_KEY_0: "http.receivepack",
    GIT_CONFIG_VALUE_0: "true",
    GATEWAY_INTERFACE: "CGI/1.1",
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
    REQUEST_METHOD: req.method ?? "GET",
    PATH_INFO: decodeURIComponent(requestUrl.pathname),
    QUERY_STRING: requestUrl.search.slice(1),
    REMOTE_ADDR: req.socket.remoteAddress ?? "127.0.0.1",
  };
  if (req.headers["content-type"]) env.CONTENT_TYPE = req.headers["content-type"];
  if (req.headers["content-length"]) env.CONTENT_LENGTH = req.headers["content-length"];
  if (req.headers["content-encoding"]) env.HTTP_CONTENT_ENCODING = req.headers["content-encoding"];
  const protocol = req.headers["git-protocol"];
  if (typeof protocol === "string") env.GIT_PROTOCOL = protocol;
  if (user) {
    env.REMOTE_USER = user;
    env.AUTH_TYPE = "Basic";
  }

  const child = spawn("git", ["http-backend"], { env, stdio: ["pipe", "pipe", "pipe"] });
  children.add(child);
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-2000);
  });
  // The backend may exit before reading the whole body (e.g. on a bad request).
  child.stdin.on("error", () => {});
  req.pipe(child.stdin);
  req.on("error", () => child.kill("SIGKILL"));

  let head = Buffer.alloc(0);
  let headersSent = false;
  child.stdout.on("data", (chunk: Buffer) => {
    if (headersSent) {
      if (!res.write(chunk)) {
        child.stdout.pause();
        res.once("drain", () => child.stdout.resume());
      }
      return;
    }
    head = Buffer.concat([head, chunk]);
    const block = findHeaderEnd(head);
    if (!block) return;
    headersSent = true;
    const { status, headers } = parseCgiHeaders(head.subarray(0, block.start).toString("latin1"));
    res.writeHead(status, headers);
    res.write(head.subarray(block.end));
  });
  child.on("error", (error) => {
    children.delete(child);
    if (!res.headersSent) res.writeHead(500, { "Content-Type": "text/plain" });
    res.end(`git http-backend: ${error.message}\n`);
  });
  child.on("close", (code) => {
    children.delete(child);
    if (headersSent) {
      res.end();
      return;
    }
    if (res.headersSent) return;
    res.writeHead(500, { "Content-Type": "text/plain" });
    res.end(`git http-backend exited with ${code} before its headers: ${stderr.trim()}\n`);
  });
  res.on("close", () => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
}

function findHeaderEnd(buffer: Buffer): { start: number; end: number } | undefined {
  const crlf = buffer.indexOf("\r\n\r\n");
  const lf = buffer.indexOf("\n\n");
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { start: crlf, end: crlf + 4 };
  if (lf >= 0) return { start: lf, end: lf + 2 };
  return undefined;
}

function parseCgiHeaders(block: string): { status: number; headers: Record<string, string> } {
  let status = 200;
  const headers: Record<string, string> = {};
  for (const line of block.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === "status") status = Number.parseInt(value, 10) || 500;
    else headers[name] = value;
  }
  return { status, headers };
}

async function writeFiles(dir: string, files: GitFiles): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    const target = join(dir, checkPath(path));
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, content);
  }
}

function checkPath(path: string): string {
  const parts = path.split("/");
  if (path.startsWith("/") || parts.some((p) => p === "" || p === "." || p === ".." || p === ".git")) {
    throw new Error(`invalid file path ${JSON.stringify(path)} (relative, no . or .. segments)`);
  }
  return path;
}

function checkBranch(name: string): string {
  if (!BRANCH_NAME.test(name) || name.includes("..")) {
    throw new Error(`invalid ref name ${JSON.stringify(name)}`);
  }
  return name;
}

function runGit(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile("git", args, { cwd, env, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`git ${args[0]}: ${stderr.trim() || error.message}`, { cause: error }));
      else resolvePromise(stdout.trim());
    });
  });
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolvePromise((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolvePromise) => {
    server.close(() => resolvePromise());
    server.closeAllConnections();
  });
}
