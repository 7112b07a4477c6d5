/**
 * One TLS port for people and agents, as Argo CD serves its API and UI on one port: a client
 * offering HTTP/1.1 in ALPN (browsers, curl, Node's https) gets the HTTP handler; a client
 * offering only h2 (gRPC clients) goes to the gRPC server through a connection injector. A
 * client that offers no ALPN at all speaks HTTP/1.1.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer as createHttpServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { bindServer, type Server, ServerCredentials } from "@flotilla/proto/grpc";

export type TlsMaterial = { certPem: string; keyPem: string };

export type Listener = {
  /** The port actually bound (useful with port 0). */
  port: number;
  host: string;
  /** Replaces the serving certificate for new connections. */
  setCertificate(tls: TlsMaterial): void;
  close(): Promise<void>;
};

export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void;

export function splitHostPort(address: string): { host: string; port: number } {
  const split = address.lastIndexOf(":");
  return { host: address.slice(0, split).replace(/^\[|\]$/g, ""), port: Number(address.slice(split + 1)) };
}

/**
 * Listens on `address` with TLS; HTTP/1.1 connections go to `http`, HTTP/2-only ones to
 * `grpc` (when given; otherwise they are refused in the handshake).
 */
export async function listenTls(
  address: string,
  tls: TlsMaterial,
  handlers: { http: HttpHandler; grpc?: Server },
): Promise<Listener> {
  const http = createHttpServer(
    { keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 30_000 },
    handlers.http,
  );
  const injector = handlers.grpc?.createConnectionInjector(ServerCredentials.createInsecure());
  const sockets = new Set<Socket>();
  const server = createTlsServer(
    {
      cert: tls.certPem,
      key: tls.keyPem,
      minVersion: "TLSv1.2",
      ALPNCallback: ({ protocols }) => {
        if (protocols.includes("http/1.1")) return "http/1.1";
        if (injector && protocols.includes("h2")) return "h2";
        return undefined;
      },
    },
    (socket: TLSSocket) => {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      if (socket.alpnProtocol === "h2" && injector) injector.injectConnection(socket);
      else http.emit("connection", socket);
    },
  );
  // A failed handshake (a client that does not trust the CA, a port scanner) is not the hub's problem.
  server.on("tlsClientError", () => {});
  const { host, port } = splitHostPort(address);
  await new Promise<void>((resolvePromise, reject) => {
    server.once("error", (error) => reject(new Error(`cannot listen on ${address}`, { cause: error })));
    server.listen(port, host, () => resolvePromise());
  });
  return {
    port: (server.address() as AddressInfo).port,
    host,
    setCertificate(next) {
      server.setSecureContext({ cert: next.certPem, key: next.keyPem });
    },
    async close() {
      const closed = new Promise<void>((resolvePromise) => server.close(() => resolvePromise()));
      http.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      injector?.destroy();
      await closed;
    },
  };
}

/** A separate gRPC listener (`--listen-grpc`), TLS with the same certificate. */
export async function listenGrpc(address: string, tls: TlsMaterial, server: Server): Promise<number> {
  const credentials = ServerCredentials.createSsl(null, [
    { cert_chain: Buffer.from(tls.certPem), private_key: Buffer.from(tls.keyPem) },
  ]);
  return bindServer(server, address, credentials);
}
