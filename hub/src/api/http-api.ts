/**
 * The FleetService as HTTP JSON under /api/v1/ (routes in docs/api.md). Each route calls the
 * same handler as gRPC with a HandlerContext built from the request: metadata from the headers
 * (so "authorization: Bearer fla_..." works the same), a signal that aborts when the client
 * goes away. Bodies and responses use the protobuf JSON mapping of the request and response
 * messages. Errors are `{"error":{"code":"NOT_FOUND","message":"..."}}` with an HTTP status by
 * gRPC code; unexpected errors are 500 without details. /api/v1/watch is server-sent events:
 * one `data:` line of WatchFleetResponse JSON per change, a `: ping` comment every 15 s.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { create, type DescMessage, type MessageInitShape, toJson } from "@bufbuild/protobuf";
import {
  FleetService,
  GetFleetStatusRequestSchema,
  WatchFleetResponseSchema,
} from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { type GrpcCode, GrpcError, type HandlerContext, type ServiceImpl } from "@flotilla/proto/grpc";
import { authorize, type Principal } from "../auth/api-auth.js";
import { listRolloutViews, requestRolloutAction } from "../rollout/rollout-commands.js";
import type { RolloutView } from "../rollout/rollout-view.js";
import type { HubRuntime, Logger } from "../server/hub-runtime.js";
import { createApiAccess } from "./api-access.js";
import { BadRequestError, parseHttpInput } from "./parse-http-input.js";

const PREFIX = "/api/v1/";
const MAX_BODY_BYTES = 1024 * 1024;
const PING_INTERVAL_MS = 15_000;

type Method = "GET" | "POST" | "PATCH" | "DELETE";
type Rpc = keyof ServiceImpl<typeof FleetService>;
type Route = { method: Method; path: string; rpc: Rpc };
type RolloutRoute = { method: Method; path: string; answer: "list" | "get" | "action" };

/** Path parameters are named after the request field they fill. */
const ROUTES: readonly Route[] = [
  { method: "GET", path: "clusters", rpc: "listClusters" },
  { method: "GET", path: "clusters/{name}", rpc: "getCluster" },
  { method: "DELETE", path: "clusters/{name}", rpc: "removeCluster" },
  { method: "PATCH", path: "clusters/{name}/labels", rpc: "labelCluster" },
  { method: "POST", path: "clusters/{name}/rotate-credential", rpc: "rotateClusterCredential" },
  { method: "POST", path: "tokens", rpc: "createBootstrapToken" },
  { method: "GET", path: "tokens", rpc: "listBootstrapTokens" },
  { method: "DELETE", path: "tokens/{id}", rpc: "revokeBootstrapToken" },
  { method: "GET", path: "sources", rpc: "listSources" },
  { method: "POST", path: "sources", rpc: "addSource" },
  { method: "DELETE", path: "sources/{name}", rpc: "removeSource" },
  { method: "GET", path: "apps", rpc: "listApps" },
  { method: "GET", path: "apps/{name}", rpc: "getApp" },
  { method: "POST", path: "apps/{app}/sync", rpc: "sync" },
  { method: "GET", path: "status", rpc: "getFleetStatus" },
  { method: "POST", path: "refresh", rpc: "refresh" },
  { method: "GET", path: "events", rpc: "listEvents" },
  { method: "GET", path: "watch", rpc: "watchFleet" },
];

/** Answered from the store by createRolloutApi (no FleetService method behind them). */
const ROLLOUT_ROUTES: readonly RolloutRoute[] = [
  { method: "GET", path: "rollouts", answer: "list" },
  { method: "GET", path: "rollouts/{name}", answer: "get" },
  { method: "POST", path: "rollouts/{name}/{action}", answer: "action" },
];
const ROLLOUT_ACTION_WAIT_MS = 10_000;

const HTTP_STATUS: Partial<Record<GrpcCode, number>> = {
  INVALID_ARGUMENT: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  FAILED_PRECONDITION: 412,
  UNIMPLEMENTED: 501,
  UNAVAILABLE: 503,
};

export type HttpApiOptions = {
  /** Where unexpected failures are logged (without request bodies or headers). */
  log?: Logger;
  /** Default 1 MiB; larger bodies get 413. */
  maxBodyBytes?: number;
  /** Interval of `: ping` comments on /api/v1/watch; default 15 s. */
  pingIntervalMs?: number;
};

type HandlerFn = (request: unknown, context: HandlerContext) => unknown;

/**
 * An HTTP handler for /api/v1/ over `service`; resolves false, without answering, for any other
 * path so the caller can route it. Never rejects for a request it answered.
 */
export function createHttpApi(
  service: ServiceImpl<typeof FleetService>,
  options: HttpApiOptions = {},
): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
  const pingIntervalMs = options.pingIntervalMs ?? PING_INTERVAL_MS;
  const handlers = service as unknown as Record<Rpc, HandlerFn>;

  return async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname !== PREFIX.slice(0, -1) && !url.pathname.startsWith(PREFIX)) return false;
    try {
      const match = routeOrThrow(ROUTES, req, res, url.pathname);
      const body =
        req.method === "GET" || req.method === "DELETE" ? "" : await readBody(req, res, maxBodyBytes);
      const method = FleetService.method[match.route.rpc];
      const request = parseHttpInput(method.input, { params: match.params, query: url.searchParams, body });
      const context = createContext(req, res);
      const handler = handlers[match.route.rpc];
      if (method.methodKind === "server_streaming") {
        await streamEvents(req, res, { service, request, context, pingIntervalMs });
        return true;
      }
      const response = await handler(request, context);
      sendJson(
        res,
        200,
        toJson(method.output, create(method.output, response as MessageInitShape<DescMessage>), {
          alwaysEmitImplicit: true,
        }),
      );
    } catch (error) {
      sendError(res, error, options.log);
    }
    return true;
  };
}

export type RolloutApiOptions = {
  /** Where unexpected failures are logged (without request bodies or headers). */
  log?: Logger;
  /** Default 1 MiB; larger bodies get 413. */
  maxBodyBytes?: number;
  /**
   * How long an action waits for the resolving replica to carry it out before answering
   * `applied: false` (the command stays queued); default 10 s.
   */
  actionWaitMs?: number;
};

/**
 * The rollout routes of /api/v1 (docs/rollouts.md), answered from the store so every replica
 * answers the same, with the tokens of the rest of the API:
 *
 *   GET  /api/v1/rollouts                  viewer  {"rollouts": RolloutView[], "canControl": boolean}
 *   GET  /api/v1/rollouts/{name}           viewer  RolloutView
 *   POST /api/v1/rollouts/{name}/{action}  admin   {"applied": boolean, "rollout": RolloutView}
 *
 * `canControl` tells the dashboard whether the token may act. `action` is pause, resume, abort or
 * promote; the body is empty or `{"all": true}` (promote only: release every step). `applied`
 * is false when the resolving replica did not carry the command out within `actionWaitMs`: it
 * stays queued (also when the client goes away first). A viewer limited to some clusters sees
 * only the members, waiting clusters and failures of its clusters, and a rollout with none of
 * them not at all (404, as for an unknown one), as ListRollouts narrows them. Unknown rollout 404, bad action or body 400, a viewer acting 403. Resolves false,
 * without answering, for any other path; never rejects for a request it answered.
 */
export function createRolloutApi(
  runtime: HubRuntime,
  options: RolloutApiOptions = {},
): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
  const actionWaitMs = options.actionWaitMs ?? ROLLOUT_ACTION_WAIT_MS;
  const access = createApiAccess(runtime);
  const { store } = runtime;

  /** Every rollout (or the one named) as `principal` may see it. */
  async function visibleViews(principal: Principal, name?: string): Promise<RolloutView[]> {
    let clusterVisible: ((cluster: string) => boolean) | undefined;
    if (access.isLimited(principal)) {
      const scope = access.scope(principal);
      const visible = new Set(
        (await store.clusters.list())
          .filter((cluster) => scope(cluster.labels))
          .map((cluster) => cluster.name),
      );
      clusterVisible = (cluster) => visible.has(cluster);
    }
    return listRolloutViews(store, {
      ...(name !== undefined ? { name } : {}),
      ...(clusterVisible ? { clusterVisible } : {}),
    });
  }

  return async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname;
    if (path !== `${PREFIX}rollouts` && !path.startsWith(`${PREFIX}rollouts/`)) return false;
    try {
      const { route, params } = routeOrThrow(ROLLOUT_ROUTES, req, res, path);
      const context = createContext(req, res);
      // Acting on a rollout needs an admin token, as UpdateRollout does.
      const principal = await access.caller(context, route.answer === "action" ? "admin" : "read");
      const name = params.name ?? "";
      if (route.answer === "list") {
        sendJson(res, 200, {
          rollouts: await visibleViews(principal),
          canControl: authorize(principal, { verb: "admin" }).ok,
        });
        return true;
      }
      if (route.answer === "get") {
        const [view] = await visibleViews(principal, name);
        if (!view) throw new HttpError(404, "NOT_FOUND", `rollout ${name} does not exist`);
        sendJson(res, 200, view);
        return true;
      }
      const all = parseActionBody(name, await readBody(req, res, maxBodyBytes));
      const outcome = await requestRolloutAction(
        store,
        { name, action: params.action ?? "", all, actor: principal.name },
        actionWaitMs,
        context.signal,
      );
      if (!outcome.ok)
        throw new HttpError(
          outcome.reason === "not-found" ? 404 : 400,
          outcome.reason === "not-found" ? "NOT_FOUND" : "INVALID_ARGUMENT",
          outcome.message,
        );
      sendJson(res, 200, { applied: outcome.applied, rollout: outcome.rollout });
    } catch (error) {
      sendError(res, error, options.log);
    }
    return true;
  };
}

/** `all` from an action's body: empty, or a JSON object with at most a boolean `all`. */
function parseActionBody(rollout: string, body: string): boolean {
  if (body.trim() === "") return false;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new HttpError(400, "INVALID_ARGUMENT", `rollout ${rollout}: the body is not JSON`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json))
    throw new HttpError(400, "INVALID_ARGUMENT", `rollout ${rollout}: the body must be a JSON object`);
  for (const [key, value] of Object.entries(json)) {
    if (key !== "all")
      throw new HttpError(
        400,
        "INVALID_ARGUMENT",
        `rollout ${rollout}: body field ${JSON.stringify(key)} is unknown; only "all" is allowed`,
      );
    if (typeof value !== "boolean")
      throw new HttpError(400, "INVALID_ARGUMENT", `rollout ${rollout}: "all" must be true or false`);
  }
  return (json as { all?: boolean }).all ?? false;
}

type Match<R> =
  | { kind: "route"; route: R; params: Record<string, string> }
  | { kind: "method"; allowed: Method[] }
  | { kind: "none" };

/** The route of `pathname` in `routes` with its parameters; HttpError 404 or 405 (with `allow`) otherwise. */
function routeOrThrow<R extends { method: Method; path: string }>(
  routes: readonly R[],
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
): { route: R; params: Record<string, string> } {
  const match = matchRoute(routes, req.method ?? "GET", pathname.slice(PREFIX.length));
  if (match.kind === "none") throw new HttpError(404, "NOT_FOUND", `no route ${req.method} ${pathname}`);
  if (match.kind === "method") {
    res.setHeader("allow", match.allowed.join(", "));
    throw new HttpError(
      405,
      "UNIMPLEMENTED",
      `method ${req.method} is not allowed on ${pathname}; use ${match.allowed.join(" or ")}`,
    );
  }
  return match;
}

function matchRoute<R extends { method: Method; path: string }>(
  routes: readonly R[],
  method: string,
  path: string,
): Match<R> {
  const segments = path.split("/");
  if (segments.at(-1) === "") segments.pop();
  const allowed: Method[] = [];
  for (const route of routes) {
    const params = matchPath(route.path.split("/"), segments);
    if (!params) continue;
    if (route.method === method) return { kind: "route", route, params };
    allowed.push(route.method);
  }
  return allowed.length > 0 ? { kind: "method", allowed } : { kind: "none" };
}

function matchPath(pattern: string[], segments: string[]): Record<string, string> | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (const [at, part] of pattern.entries()) {
    const segment = segments[at] as string;
    if (part.startsWith("{")) {
      if (segment === "") return undefined;
      try {
        params[part.slice(1, -1)] = decodeURIComponent(segment);
      } catch {
        throw new HttpError(
          400,
          "INVALID_ARGUMENT",
          `path segment ${JSON.stringify(segment)} is not valid URL encoding`,
        );
      }
    } else if (part !== segment) {
      return undefined;
    }
  }
  return params;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function readBody(req: IncomingMessage, res: ServerResponse, maxBytes: number): Promise<string> {
  const tooLarge = () => {
    // Answer at once and close the connection after the answer; the rest of the body is discarded.
    res.setHeader("connection", "close");
    return new HttpError(413, "RESOURCE_EXHAUSTED", `request body is larger than ${maxBytes} bytes`);
  };
  if (Number(req.headers["content-length"] ?? 0) > maxBytes) {
    req.resume();
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on("data", (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > maxBytes) {
        refused = true;
        reject(tooLarge());
      } else {
        chunks.push(chunk);
      }
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function createContext(req: IncomingMessage, res: ServerResponse): HandlerContext {
  const controller = new AbortController();
  // "close" comes when the response finished or the client went away; either ends the call.
  res.once("close", () => controller.abort(new GrpcError("CANCELLED", "the client went away")));
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(req.headers)) {
    if (typeof value === "string") metadata[key] = value;
  }
  return {
    signal: controller.signal,
    metadata,
    peer: `${req.socket.remoteAddress ?? ""}:${req.socket.remotePort ?? ""}`,
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
  });
  res.end(text);
}

/** The JSON error body and HTTP status of a failure; internals never reach the client. */
function describeFailure(
  error: unknown,
  log: Logger | undefined,
): { status: number; code: string; message: string } {
  if (error instanceof HttpError) return { status: error.status, code: error.code, message: error.message };
  if (error instanceof BadRequestError)
    return { status: 400, code: "INVALID_ARGUMENT", message: error.message };
  if (error instanceof GrpcError) {
    const status = HTTP_STATUS[error.code];
    if (status !== undefined) return { status, code: error.code, message: error.details };
    if (error.code === "INTERNAL") return { status: 500, code: "INTERNAL", message: error.details };
  }
  log?.("error", "HTTP API request failed", { error });
  return { status: 500, code: "INTERNAL", message: "internal error; the hub log has the details" };
}

function sendError(res: ServerResponse, error: unknown, log: Logger | undefined): void {
  const { status, code, message } = describeFailure(error, log);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, { error: { code, message } });
}

/**
 * /api/v1/watch: runs GetFleetStatus with the same filters first, so authentication and bad
 * filters fail with a status code and error JSON before the event stream starts; a failure
 * after that arrives as an `event: error` message and ends the stream.
 */
async function streamEvents(
  req: IncomingMessage,
  res: ServerResponse,
  call: {
    service: ServiceImpl<typeof FleetService>;
    request: unknown;
    context: HandlerContext;
    pingIntervalMs: number;
  },
): Promise<void> {
  const { service, context } = call;
  const request = call.request as Parameters<ServiceImpl<typeof FleetService>["watchFleet"]>[0];
  await service.getFleetStatus(
    create(GetFleetStatusRequestSchema, {
      selector: request.selector,
      app: request.app,
      clusterPrefix: request.clusterPrefix,
      pageSize: 1,
    }),
    context,
  );
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-store",
    connection: "keep-alive",
    "x-accel-buffering": "no",
  });
  res.write(": watching\n\n");
  const ping = setInterval(() => res.write(": ping\n\n"), call.pingIntervalMs);
  try {
    for await (const message of service.watchFleet(request, context)) {
      const json = toJson(WatchFleetResponseSchema, create(WatchFleetResponseSchema, message));
      if (!res.write(`data: ${JSON.stringify(json)}\n\n`)) await drained(res);
      if (context.signal.aborted) break;
    }
  } catch (error) {
    if (!context.signal.aborted) {
      const { code, message } = describeFailure(error, undefined);
      res.write(`event: error\ndata: ${JSON.stringify({ error: { code, message } })}\n\n`);
    }
  } finally {
    clearInterval(ping);
    if (!req.destroyed) res.end();
  }
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}
