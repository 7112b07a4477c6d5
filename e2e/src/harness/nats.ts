import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, open, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { useService } from "./processes.js";
import { type EnsureToolOptions, ensureTool } from "./tools.js";

export type NatsOptions = EnsureToolOptions & {
  /** How long to wait for the server (and JetStream) to become healthy; default 30 s. */
  readyTimeoutMs?: number;
};

export type Nats = {
  /** `nats://127.0.0.1:PORT`; the same across restarts. */
  url: string;
  /** `http://127.0.0.1:PORT` of the monitoring endpoint (`/healthz`, `/varz`, `/jsz`). */
  monitorUrl: string;
  /** Stops the server and starts it again on the same ports and JetStream store; streams survive. */
  restart(): Promise<void>;
  /** Stops exactly this server and removes its store. */
  stop(): Promise<void>;
};

const STOP_TIMEOUT_MS = 10_000;
const POLL_MS = 50;

/**
 * Starts the pinned nats-server (built by `ensureTool`, so the first call may take minutes)
 * with JetStream on, listening on 127.0.0.1 only, ports picked by the server itself, and a
 * store in a temporary folder. Resolves once `/healthz` reports JetStream ready.
 */
export async function startNats(opts: NatsOptions = {}): Promise<Nats> {
  const binary = await ensureTool("nats-server", opts);
  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  const dir = await mkdtemp(join(tmpdir(), "flotilla-nats-"));
  const storeDir = join(dir, "jetstream");
  const portsDir = join(dir, "ports");
  const logPath = join(dir, "nats-server.log");
  let ports = { client: -1, monitor: -1 };
  let server: ChildProcess | undefined;
  const killOnExit = () => server?.kill("SIGKILL");
  process.once("exit", killOnExit);

  async function launch(): Promise<void> {
    await rm(portsDir, { recursive: true, force: true });
    await mkdir(portsDir);
    const args = [
      "--addr",
      "127.0.0.1",
      "--port",
      String(ports.client),
      "--http_port",
      String(ports.monitor),
      "--jetstream",
      "--store_dir",
      storeDir,
      "--ports_file_dir",
      portsDir,
    ];
    const log = await open(logPath, "a");
    try {
      server = spawn(binary, args, { stdio: ["ignore", log.fd, log.fd] });
    } finally {
      await log.close();
    }
    ports = await waitForReady(server, portsDir, readyTimeoutMs).catch(async (cause) => {
      const tail = (await readFile(logPath, "utf8").catch(() => "")).trim().split("\n").slice(-20);
      throw new Error(`nats-server did not become ready:\n${tail.join("\n")}`, { cause });
    });
  }

  try {
    await launch();
  } catch (cause) {
    process.off("exit", killOnExit);
    if (server) await stopProcess(server);
    await rm(dir, { recursive: true, force: true });
    throw new Error(`start nats-server ${binary}`, { cause });
  }

  return {
    url: `nats://127.0.0.1:${ports.client}`,
    monitorUrl: `http://127.0.0.1:${ports.monitor}`,
    restart: async () => {
      if (server) await stopProcess(server);
      try {
        await launch();
      } catch (cause) {
        throw new Error("restart nats-server", { cause });
      }
    },
    stop: async () => {
      process.off("exit", killOnExit);
      if (server) await stopProcess(server);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Starts a NATS server before the surrounding node:test suite and stops it after; see useService. */
export function useNats(opts: NatsOptions = {}): () => Nats {
  return useService("useNats", () => startNats(opts));
}

/**
 * Waits for the ports file the server writes once it listens, then for `/healthz` (which
 * includes JetStream) to answer 200. Returns the ports the server chose.
 */
async function waitForReady(
  server: ChildProcess,
  portsDir: string,
  timeoutMs: number,
): Promise<{ client: number; monitor: number }> {
  const deadlineMs = Date.now() + timeoutMs;
  let ports: { client: number; monitor: number } | undefined;
  while (Date.now() < deadlineMs) {
    if (server.exitCode !== null || server.signalCode !== null) {
      throw new Error(`nats-server exited with ${server.signalCode ?? server.exitCode}`);
    }
    ports ??= await readPortsFile(portsDir);
    if (ports) {
      const healthy = await fetch(`http://127.0.0.1:${ports.monitor}/healthz`).then(
        (response) => response.ok,
        () => false,
      );
      if (healthy) return ports;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new Error(`nats-server not healthy within ${timeoutMs} ms`);
}

/** Reads `<portsDir>/nats-server_<pid>.ports`: `{"nats":["nats://127.0.0.1:P"],"monitoring":["http://..."]}`. */
async function readPortsFile(portsDir: string): Promise<{ client: number; monitor: number } | undefined> {
  const name = (await readdir(portsDir)).find((entry) => entry.endsWith(".ports"));
  if (!name) return undefined;
  try {
    const parsed = JSON.parse(await readFile(join(portsDir, name), "utf8")) as {
      nats?: string[];
      monitoring?: string[];
    };
    const client = Number(new URL(parsed.nats?.[0] ?? "").port);
    const monitor = Number(new URL(parsed.monitoring?.[0] ?? "").port);
    return client > 0 && monitor > 0 ? { client, monitor } : undefined;
  } catch {
    // Written but not complete yet.
    return undefined;
  }
}

/** SIGTERM (the server shuts down cleanly), then SIGKILL after STOP_TIMEOUT_MS. */
async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}
