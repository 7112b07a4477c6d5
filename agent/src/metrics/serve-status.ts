// The agent's status listener: `/healthz` (the process answers), `/readyz` (the agent did its
// first reconcile pass and, when joined, reached the hub) and `/metrics` (Prometheus text), over
// HTTPS by default. Nothing on it changes anything, and it never shows desired state or secrets.
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

export type Readiness = { ready: true } | { ready: false; reason: string };

export type StatusServerOptions = {
  /** `host:port`; port 0 picks a free one. */
  listen: string;
  /** PEM certificate (chain) and key, or "insecure-http" for plain HTTP (sidecars and tests only). */
  tls: { certPem: string; keyPem: string } | "insecure-http";
  registry: Registry;
  readiness(): Readiness;
};

export type StatusServer = {
  /** `https://host:port` (or `http://`), with the port actually bound. */
  url: string;
  port: number;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
};

/**
 * Listens on `options.listen` and answers GET/HEAD of the three paths. Rejects when the address
 * cannot be bound, naming it.
 */
export async function serveStatus(options: StatusServerOptions): Promise<StatusServer> {
  const { host, port } = splitListen(options.listen);
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    answer(req, res, options).catch(() => {
      if (!res.headersSent) sendJson(res, 500, { status: "error", reason: "internal error" });
      else res.destroy();
    });
  };
  const server =
    options.tls === "insecure-http"
      ? createHttpServer(handler)
      : createHttpsServer(
          { cert: options.tls.certPem, key: options.tls.keyPem, minVersion: "TLSv1.2" },
          handler,
        );
  await new Promise<void>((resolve, reject) => {
    const failed = (error: Error) =>
      reject(
        new Error(`status listener ${options.listen}: cannot listen: ${error.message}`, { cause: error }),
      );
    server.once("error", failed);
    server.listen(port, host, () => {
      server.off("error", failed);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  const scheme = options.tls === "insecure-http" ? "http" : "https";
  const shownHost = host === "" || host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  return {
    url: `${scheme}://${shownHost.includes(":") ? `[${shownHost}]` : shownHost}:${bound}`,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function answer(
  req: IncomingMessage,
  res: ServerResponse,
  options: StatusServerOptions,
): Promise<void> {
  const path = (req.url ?? "/").split("?")[0];
  if (path !== "/healthz" && path !== "/readyz" && path !== "/metrics")
    return sendJson(res, 404, { status: "not found", reason: `no route ${path}` });
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("allow", "GET, HEAD");
    return sendJson(res, 405, { status: "method not allowed", reason: `use GET ${path}` });
  }
  if (path === "/healthz") return sendJson(res, 200, { status: "ok" });
  if (path === "/readyz") {
    const readiness = options.readiness();
    return readiness.ready
      ? sendJson(res, 200, { status: "ready" })
      : sendJson(res, 503, { status: "not ready", reason: readiness.reason });
  }
  const text = await options.registry.metrics();
  res.writeHead(200, { "content-type": options.registry.contentType, "cache-control": "no-store" });
  res.end(req.method === "HEAD" ? undefined : text);
}

function sendJson(res: ServerResponse, status: number, body: Record<string, string>): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(`${JSON.stringify(body)}\n`);
}

/** `host:port` or `[v6]:port`; throws naming the address when it is neither. */
export function splitListen(address: string): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]*):(\d+)$/.exec(address);
  const port = Number(match?.[2]);
  if (!match || port > 65_535)
    throw new Error(`status listener "${address}" must be host:port (port 0 picks a free one)`);
  return { host: (match[1] ?? "").replace(/^\[|\]$/g, ""), port };
}
