// The status listener of a running agent, as its flags ask: none, HTTPS with a self-made
// certificate or the given files, or plain HTTP; and the readiness it reports.
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { hostname } from "node:os";
import { createSelfSignedCert } from "../metrics/create-self-signed-cert.js";
import { type Readiness, type StatusServer, serveStatus, splitListen } from "../metrics/serve-status.js";
import type { Reconciler } from "../reconcile/reconciler.js";
import type { Agent, Log } from "./create-agent.js";
import type { AgentFlags, AgentIo } from "./read-agent-flags.js";

const SELF_SIGNED_VALIDITY_MS = 365 * 24 * 3_600_000;

export type StatusListener = {
  /** The listener's URL; undefined when --status-listen is not set. */
  url?: string;
  /** The first reconcile pass over the apps held at start has finished. */
  markReconciled(): void;
  /** A stream to the hub got its Welcome (connected agents are not ready before). */
  markHubReached(): void;
  close(): Promise<void>;
};

/**
 * Starts the listener `flags.statusListen` names (a no-op handle without one). `hub`: the agent
 * runs joined, so readiness also waits for the hub. Rejects when the certificate files cannot be
 * read or the address cannot be bound.
 */
export async function startStatusListener(
  agent: Pick<Agent, "metrics" | "log">,
  flags: Pick<AgentFlags, "statusListen" | "statusTls">,
  io: Pick<AgentIo, "env">,
  options: { hub: boolean },
): Promise<StatusListener> {
  let reconciled = false;
  let hubReached = !options.hub;
  const readiness = (): Readiness => {
    if (!reconciled) return { ready: false, reason: "the first reconcile pass has not finished" };
    if (!hubReached) return { ready: false, reason: "the hub stream was not established yet" };
    return { ready: true };
  };
  const handle = {
    markReconciled() {
      reconciled = true;
    },
    markHubReached() {
      hubReached = true;
    },
  };
  if (flags.statusListen === undefined) return { ...handle, close: async () => {} };
  const server: StatusServer = await serveStatus({
    listen: flags.statusListen,
    tls: await statusTls(flags.statusListen, flags.statusTls, io.env),
    registry: agent.metrics.registry,
    readiness,
  });
  agent.log("info", "status listener started", {
    url: server.url,
    paths: "/healthz /readyz /metrics",
    tls: flags.statusTls.kind,
  });
  return { ...handle, url: server.url, close: () => server.close() };
}

/**
 * Reconciles every app held now, then tells `status` the first pass finished. Never rejects: a
 * failure is logged and the agent stays not ready.
 */
export async function markFirstPass(
  reconciler: Pick<Reconciler, "reconcileAll">,
  status: Pick<StatusListener, "markReconciled">,
  log: Log,
): Promise<void> {
  try {
    await reconciler.reconcileAll();
    status.markReconciled();
  } catch (error) {
    log("error", "first reconcile pass failed", { error });
  }
}

async function statusTls(
  listen: string,
  tls: AgentFlags["statusTls"],
  env: AgentIo["env"],
): Promise<{ certPem: string; keyPem: string } | "insecure-http"> {
  if (tls.kind === "insecure-http") return "insecure-http";
  if (tls.kind === "files") {
    return {
      certPem: await readPem("--status-cert", tls.certFile),
      keyPem: await readPem("--status-key", tls.keyFile),
    };
  }
  // Names a scraper may use: loopback, the pod's name and IP, the address listened on.
  const hosts = new Set(["localhost", "127.0.0.1"]);
  const name = hostname();
  if (/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(name)) hosts.add(name.toLowerCase());
  if (env.POD_IP && isIP(env.POD_IP)) hosts.add(env.POD_IP);
  const { host } = splitListen(listen);
  if (isIP(host) && host !== "0.0.0.0" && host !== "::") hosts.add(host);
  return createSelfSignedCert({ hosts: [...hosts], validityMs: SELF_SIGNED_VALIDITY_MS });
}

async function readPem(flag: string, file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (cause) {
    const code = (cause as { code?: string }).code ?? "unreadable";
    throw new Error(`${flag} ${file}: cannot read (${code})`, { cause });
  }
}
