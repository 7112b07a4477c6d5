/**
 * The hub, its CLI and agents as real processes (`flotilla hub serve`, `flotilla ...`,
 * `flotilla-agent join`), for end-to-end suites: start, stop, kill, restart on the same port.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { connect, createServer, type Socket } from "node:net";
import { fileURLToPath } from "node:url";

const hubMain = fileURLToPath(new URL("../../../hub/src/cli/main.ts", import.meta.url));
/** The compiled hub, as it ships (built by `tsc -b`, which `pnpm typecheck` runs). */
const hubDistMain = fileURLToPath(new URL("../../../hub/dist/cli/main.js", import.meta.url));
const agentMain = fileURLToPath(new URL("../../../agent/src/main.ts", import.meta.url));
const NODE_ARGS = ["--conditions=source", "--import", "tsx"];

/** A free TCP port on 127.0.0.1 (so a restarted hub can come back at the same address). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export type ManagedProcess = {
  child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (or the signal) once the process ended. */
  exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  kill(): Promise<void>;
};

export function startProcess(
  args: string[],
  env: Record<string, string>,
  nodeArgs: readonly string[] = NODE_ARGS,
): ManagedProcess {
  const child = spawn(process.execPath, [...nodeArgs, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let text = "";
  const append = (chunk: Buffer) => {
    text += chunk.toString("utf8");
    if (text.length > 4_000_000) text = text.slice(-2_000_000);
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  const exited = new Promise<number | string>((resolve) => {
    child.once("exit", (code, signal) => resolve(code ?? signal ?? -1));
  });
  const stop = async (graceMs = 10_000) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return {
    child,
    output: () => text,
    exited,
    stop,
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGKILL");
      await exited;
    },
  };
}

export type HubProcess = ManagedProcess & {
  url: string;
  port: number;
  dataDir: string;
  caPath: string;
  adminToken: string;
  /** Environment for the CLI: FLOTILLA_HUB, FLOTILLA_TOKEN, FLOTILLA_CA. */
  cliEnv: Record<string, string>;
};

export type HubOptions = {
  dataDir: string;
  /** Default: a free port. */
  port?: number;
  env?: Record<string, string>;
  /** Wait this long for "serving at"; default 60 s. */
  timeoutMs?: number;
  /** Run hub/dist (compiled, without tsx in the process), for measuring memory as shipped; default false. */
  compiled?: boolean;
  /** More node flags for the hub process, e.g. `--cpu-prof` to profile it (NODE_OPTIONS refuses those). */
  nodeArgs?: readonly string[];
};

/** Starts `flotilla hub serve` and waits until it prints its URL. */
export async function startHubProcess(options: HubOptions): Promise<HubProcess> {
  const port = options.port ?? (await freePort());
  const managed = startProcess(
    [
      options.compiled ? hubDistMain : hubMain,
      "hub",
      "serve",
      "--data-dir",
      options.dataDir,
      "--listen-http",
      `127.0.0.1:${port}`,
    ],
    {
      FLOTILLA_HEARTBEAT_INTERVAL: "2s",
      FLOTILLA_POLL_INTERVAL: "3s",
      ...options.env,
    },
    [...(options.compiled ? [] : NODE_ARGS), ...(options.nodeArgs ?? [])],
  );
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let url: string | undefined;
  while (!url) {
    url = /serving at (https:\/\/\S+)/.exec(managed.output())?.[1];
    if (url) break;
    if (managed.child.exitCode !== null || Date.now() > deadline) {
      await managed.kill();
      throw new Error(
        `hub did not start (exit ${managed.child.exitCode}):\n${managed.output().slice(-4000)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const caPath = /CA certificate: (\S+)/.exec(managed.output())?.[1] ?? `${options.dataDir}/ca.crt`;
  const adminToken = (await readFile(`${options.dataDir}/admin.token`, "utf8").catch(() => "")).trim();
  return {
    ...managed,
    url,
    port,
    dataDir: options.dataDir,
    caPath,
    adminToken,
    cliEnv: { FLOTILLA_HUB: url, FLOTILLA_TOKEN: adminToken, FLOTILLA_CA: caPath },
  };
}

export type CliResult = { code: number; stdout: string; stderr: string };

/** Runs `flotilla <args>` as a process. */
export function runFlotilla(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 120_000,
): Promise<CliResult> {
  return runNode([hubMain, ...args], env, timeoutMs);
}

/** Runs `flotilla-agent <args>` to completion (for refusals and --once). */
export function runAgentProcess(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 120_000,
): Promise<CliResult> {
  return runNode([agentMain, ...args], env, timeoutMs);
}

function runNode(args: string[], env: Record<string, string>, timeoutMs: number): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...NODE_ARGS, ...args],
      { timeout: timeoutMs, env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The arguments after `flotilla-agent` in a printed join command. */
export function joinArgs(joinCommand: string): string[] {
  const words = joinCommand.trim().split(/\s+/);
  const start = words.indexOf("join");
  if (start < 0) throw new Error(`not a join command: ${joinCommand}`);
  return words.slice(start);
}

/** Starts a long-running `flotilla-agent <args>` (join or run). */
export function startAgentProcess(args: string[], env: Record<string, string> = {}): ManagedProcess {
  return startProcess([agentMain, ...args], env);
}

export type StatusJson = {
  clusters: {
    name: string;
    labels: Record<string, string>;
    state: string;
    lastSeen: string | null;
    apps: { name: string; sync: string; health: string; revision: string; message: string }[];
  }[];
};

/** `flotilla status -o json` against the hub. */
export async function fleetStatus(hub: Pick<HubProcess, "cliEnv">, args: string[] = []): Promise<StatusJson> {
  const result = await runFlotilla(["status", "-o", "json", ...args], hub.cliEnv);
  if (result.code !== 0) throw new Error(`flotilla status failed (${result.code}): ${result.stderr}`);
  return JSON.parse(result.stdout) as StatusJson;
}

export type Balancer = {
  port: number;
  /** Connections handed to each backend port so far. */
  counts: Map<number, number>;
  /**
   * Cuts the network between clients and backends: every open connection is destroyed and, until
   * `restore`, every new one is closed as soon as it is accepted (counted in `refused`).
   */
  cut(): void;
  /** Ends a cut: new connections reach the backends again. */
  restore(): void;
  /** Connections closed unanswered because of a cut, so far. */
  refused(): number;
  stop(): Promise<void>;
};

/**
 * A TCP load balancer on 127.0.0.1, as a Kubernetes Service in front of hub replicas: each new
 * connection goes to the next backend that accepts it (round robin, skipping dead ones).
 */
export async function startBalancer(backends: number[]): Promise<Balancer> {
  const counts = new Map<number, number>();
  const sockets = new Set<Socket>();
  let next = 0;
  let isCut = false;
  let refused = 0;
  const server = createServer((client) => {
    if (isCut) {
      refused += 1;
      client.destroy();
      return;
    }
    sockets.add(client);
    client.once("close", () => sockets.delete(client));
    client.pause();
    const tryBackend = (attempt: number) => {
      if (attempt >= backends.length) {
        client.destroy();
        return;
      }
      const port = backends[next++ % backends.length] ?? 0;
      const upstream = connect(port, "127.0.0.1");
      let connected = false;
      upstream.once("connect", () => {
        // The client went away (or a cut destroyed it) while the backend was being dialled.
        if (client.destroyed) {
          upstream.destroy();
          return;
        }
        connected = true;
        counts.set(port, (counts.get(port) ?? 0) + 1);
        sockets.add(upstream);
        upstream.once("close", () => {
          sockets.delete(upstream);
          client.destroy();
        });
        client.once("close", () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
      upstream.on("error", () => {
        if (connected) client.destroy();
        else tryBackend(attempt + 1);
      });
    };
    client.on("error", () => client.destroy());
    tryBackend(0);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    counts,
    cut: () => {
      isCut = true;
      for (const socket of sockets) socket.destroy();
    },
    restore: () => {
      isCut = false;
    },
    refused: () => refused,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
