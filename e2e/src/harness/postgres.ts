import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chown, mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { isExecutable, useService } from "./processes.js";

export type PostgresOptions = {
  /** The database created at start; default `flotilla`. */
  database?: string;
  /** How long to wait for the server to accept connections; default 60 s. */
  readyTimeoutMs?: number;
};

export type Postgres = {
  /** `postgres://flotilla:<password>@127.0.0.1:PORT/<database>`; holds a secret, never log it. */
  url: string;
  port: number;
  /** PostgreSQL major version of the server binaries, e.g. `15`. */
  version: string;
  /** Creates another empty database on the same server and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /**
   * Stops the server (fast shutdown: open connections are ended) and keeps its data folder, so
   * clients see connection refused until `resume`, as when the database goes down. Does nothing
   * when already paused.
   */
  pause(): Promise<void>;
  /**
   * Starts a paused server again on the same port and data, and resolves once it accepts
   * connections; throws with the tail of the server log when it does not come back.
   */
  resume(): Promise<void>;
  /** Stops exactly this server (fast shutdown) and removes its data folder. */
  stop(): Promise<void>;
};

type RunAs = { uid: number; gid: number; user: string };

const SUPERUSER = "flotilla";
const DATABASE_NAME = /^[a-z_][a-z0-9_]*$/;
const STOP_TIMEOUT_MS = 10_000;
const POLL_MS = 100;
const START_ATTEMPTS = 3;

/**
 * Starts a throwaway PostgreSQL server from the system's server binaries (the highest version
 * under /usr/lib/postgresql/<major>/bin, or the folder named by FLOTILLA_PG_BIN): a fresh
 * cluster in a temporary folder, listening on 127.0.0.1 only, fsync off, a generated password
 * for TCP clients, and an empty database. When running as root the server runs as the
 * `postgres` system user (or `nobody`), because PostgreSQL refuses to run as root.
 * Throws, naming the package to install, when the binaries are missing.
 */
export async function startPostgres(opts: PostgresOptions = {}): Promise<Postgres> {
  const database = checkDatabaseName(opts.database ?? "flotilla");
  const readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
  const { binDir, version } = await findPostgresBin();
  const runAs = process.getuid?.() === 0 ? await findUnprivilegedUser() : undefined;
  const password = randomBytes(18).toString("base64url");

  const dir = await mkdtemp(join(tmpdir(), "flotilla-pg-"));
  const dataDir = join(dir, "data");
  const socketDir = join(dir, "run");
  const logPath = join(dir, "postgres.log");
  let server: ChildProcess | undefined;
  const killOnExit = () => server?.kill("SIGQUIT");
  try {
    await mkdir(socketDir);
    const passwordFile = join(dir, "password");
    await writeFile(passwordFile, password, { mode: 0o600 });
    if (runAs) await chownTree(dir, runAs);
    await runCommand(
      join(binDir, "initdb"),
      [
        `--pgdata=${dataDir}`,
        `--username=${SUPERUSER}`,
        `--pwfile=${passwordFile}`,
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "--encoding=UTF8",
        "--locale=C",
        "--no-sync",
      ],
      runAs,
    );
    await rm(passwordFile);

    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await findFreePort();
      server = await spawnServer(binDir, dataDir, socketDir, port, logPath, runAs);
      process.once("exit", killOnExit);
      const adminUrl = buildUrl(password, port, "postgres");
      const outcome = await waitForServer(server, adminUrl, readyTimeoutMs);
      if (outcome === "ready") break;
      process.off("exit", killOnExit);
      const log = await readLogTail(logPath);
      // Another process may have taken the port between probing and binding it.
      if (attempt < START_ATTEMPTS && /could not (bind|create listen socket)/.test(log)) continue;
      throw new Error(
        `postgres ${outcome === "exited" ? "exited during start" : "not ready in time"}:\n${log}`,
      );
    }
    const adminUrl = buildUrl(password, port, "postgres");
    await createDatabaseAt(adminUrl, database);

    let serverProcess = server;
    let paused = false;
    return {
      url: buildUrl(password, port, database),
      port,
      version,
      createDatabase: async (name) => {
        await createDatabaseAt(adminUrl, checkDatabaseName(name));
        return buildUrl(password, port, name);
      },
      pause: async () => {
        if (paused) return;
        paused = true;
        await stopProcess(serverProcess);
      },
      resume: async () => {
        if (!paused) return;
        serverProcess = await spawnServer(binDir, dataDir, socketDir, port, logPath, runAs);
        server = serverProcess;
        const outcome = await waitForServer(serverProcess, adminUrl, readyTimeoutMs);
        if (outcome !== "ready") {
          throw new Error(
            `postgres on port ${port} ${outcome === "exited" ? "exited during restart" : "not ready in time after restart"}:\n${await readLogTail(logPath)}`,
          );
        }
        paused = false;
      },
      stop: async () => {
        process.off("exit", killOnExit);
        await stopProcess(serverProcess);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (cause) {
    process.off("exit", killOnExit);
    if (server) await stopProcess(server);
    await rm(dir, { recursive: true, force: true });
    throw new Error(`start postgres ${version} from ${binDir}`, { cause });
  }
}

/** Starts a PostgreSQL server before the surrounding node:test suite and stops it after; see useService. */
export function usePostgres(opts: PostgresOptions = {}): () => Postgres {
  return useService("usePostgres", () => startPostgres(opts));
}

/** The folder holding `initdb` and `postgres`, and the server's major version. */
export async function findPostgresBin(): Promise<{ binDir: string; version: string }> {
  const override = process.env.FLOTILLA_PG_BIN;
  const candidates: string[] = [];
  if (override) {
    candidates.push(override);
  } else {
    const versions = await readdir("/usr/lib/postgresql").catch(() => [] as string[]);
    versions
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a))
      .forEach((v) => void candidates.push(join("/usr/lib/postgresql", v, "bin")));
  }
  for (const binDir of candidates) {
    if ((await isExecutable(join(binDir, "initdb"))) && (await isExecutable(join(binDir, "postgres")))) {
      const output = await runCommand(join(binDir, "postgres"), ["--version"], undefined);
      const version = /(\d+)(\.\d+)?/.exec(output)?.[1] ?? "unknown";
      return { binDir, version };
    }
  }
  const looked = override ? `FLOTILLA_PG_BIN=${override}` : "/usr/lib/postgresql/<version>/bin";
  throw new Error(
    `PostgreSQL server binaries (initdb, postgres) not found in ${looked}: install them ` +
      "(Debian/Ubuntu: apt-get install postgresql) or set FLOTILLA_PG_BIN to the folder holding them",
  );
}

async function spawnServer(
  binDir: string,
  dataDir: string,
  socketDir: string,
  port: number,
  logPath: string,
  runAs: RunAs | undefined,
): Promise<ChildProcess> {
  const args = [
    "-D",
    dataDir,
    "-p",
    String(port),
    "-c",
    "listen_addresses=127.0.0.1",
    "-c",
    `unix_socket_directories=${socketDir}`,
    // A throwaway server: durability is not worth the test time.
    "-c",
    "fsync=off",
    "-c",
    "synchronous_commit=off",
    "-c",
    "full_page_writes=off",
    "-c",
    "max_connections=200",
  ];
  const log = await open(logPath, "a");
  try {
    const [command, commandArgs] = wrapCommand(join(binDir, "postgres"), args, runAs);
    // The server's output goes to a file we opened, so the unprivileged user needs no access to it.
    return spawn(command, commandArgs, { stdio: ["ignore", log.fd, log.fd] });
  } finally {
    await log.close();
  }
}

async function waitForServer(
  server: ChildProcess,
  url: string,
  timeoutMs: number,
): Promise<"ready" | "exited" | "timeout"> {
  const deadlineMs = Date.now() + timeoutMs;
  while (Date.now() < deadlineMs) {
    if (server.exitCode !== null || server.signalCode !== null) return "exited";
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
    try {
      await client.connect();
      await client.query("select 1");
      return "ready";
    } catch {
      // Not accepting connections yet ("the database system is starting up" or refused).
    } finally {
      await client.end().catch(() => {});
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return "timeout";
}

async function createDatabaseAt(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  try {
    await client.connect();
    await client.query(`create database ${pg.escapeIdentifier(name)}`);
  } catch (cause) {
    throw new Error(`create database ${name}`, { cause });
  } finally {
    await client.end().catch(() => {});
  }
}

/** Fast shutdown (SIGINT), then SIGKILL after STOP_TIMEOUT_MS. */
async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGINT");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

function buildUrl(password: string, port: number, database: string): string {
  return `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
}

function checkDatabaseName(name: string): string {
  if (!DATABASE_NAME.test(name)) throw new Error(`invalid database name ${JSON.stringify(name)}`);
  return name;
}

/** The `postgres` system user when it exists, else `nobody`. */
async function findUnprivilegedUser(): Promise<RunAs> {
  for (const user of ["postgres", "nobody"]) {
    const entry = await runCommand("getent", ["passwd", user], undefined).catch(() => "");
    const [, , uid, gid] = entry.split(":");
    if (uid && gid) return { user, uid: Number(uid), gid: Number(gid) };
  }
  throw new Error(
    "running as root, but neither the `postgres` nor the `nobody` user exists to run PostgreSQL",
  );
}

function wrapCommand(command: string, args: string[], runAs: RunAs | undefined): [string, string[]] {
  if (!runAs) return [command, args];
  // setpriv execs the command, so the child's pid is the server's pid; SIGQUIT (immediate
  // shutdown) reaches the server if this process dies without stopping it.
  const ids = [`--reuid=${runAs.uid}`, `--regid=${runAs.gid}`, "--init-groups"];
  return ["setpriv", ["--pdeathsig", "SIGQUIT", ...ids, "--", command, ...args]];
}

function runCommand(command: string, args: string[], runAs: RunAs | undefined): Promise<string> {
  const [file, fileArgs] = wrapCommand(command, args, runAs);
  return new Promise((resolvePromise, reject) => {
    execFile(file, fileArgs, { cwd: "/", maxBuffer: 4 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command}: ${stderr.trim() || error.message}`, { cause: error }));
      else resolvePromise(stdout);
    });
  });
}

async function chownTree(dir: string, runAs: RunAs): Promise<void> {
  await chown(dir, runAs.uid, runAs.gid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(path, runAs);
    else await chown(path, runAs.uid, runAs.gid);
  }
}

async function readLogTail(logPath: string): Promise<string> {
  const log = await readFile(logPath, "utf8").catch(() => "");
  return log.trim().split("\n").slice(-20).join("\n");
}

function findFreePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => resolvePromise(port));
    });
  });
}
