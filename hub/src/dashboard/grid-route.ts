/**
 * GET /api/v1/grid: the dashboard's fleet grid, one page of clusters with their apps, answered
 * from the fleet index. /api/v1/status pages by (cluster, app) row; the grid needs whole
 * clusters per page (rows) and the names of every column, so it has a route of its own.
 * Same tokens and viewer scope as the rest of /api/v1: a limited viewer never sees, counts or
 * learns the app names of clusters outside its scope.
 *
 * Columns: an Argo CD Application has one destination, so an ApplicationSet over clusters makes
 * one app per cluster, named by its template, by convention `<name>-{{name}}` (`web-prod-1`,
 * `web-prod-2`). A grid keyed by app name would be a diagonal, so the grid groups them: an app
 * whose name ends in `-<its cluster>` (or starts with `<its cluster>-`) falls in the column of
 * the rest of its name (`web`); any other app is its own column. `app` filters by column (or by
 * exact app name).
 *
 * Query: `selector` (label selector), `app`, `health`, `sync` (one value each, short names in
 * any case: `degraded`, `OutOfSync`), `problems` (true/false/1/0/empty), `after` (the previous
 * page's `next`), `limit` (1 to 1,000, default 200). Errors are the API's JSON errors.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { GrpcError, type HandlerContext } from "@flotilla/proto/grpc";
import { type ApiAccess, createApiAccess, parseSelectorArgument } from "../api/api-access.js";
import type { Principal } from "../auth/api-auth.js";
import type { FleetIndex, HealthCode, IndexedApp, SyncCode } from "../fleet/fleet-index.js";
import { columnOf } from "../fleet/grid-column.js";
import type { Labels } from "../fleet/label-selector.js";
import type { HubRuntime, Logger } from "../server/hub-runtime.js";
import type { GridApp, GridResponse } from "./grid-types.js";

export type { GridApp, GridCluster, GridResponse } from "./grid-types.js";

export const GRID_PATH = "/api/v1/grid";
export const DEFAULT_GRID_LIMIT = 200;
export const MAX_GRID_LIMIT = 1_000;

const HEALTH_CODES: readonly HealthCode[] = [
  "Healthy",
  "Progressing",
  "Degraded",
  "Suspended",
  "Missing",
  "Unknown",
];
const SYNC_CODES: readonly SyncCode[] = ["Synced", "OutOfSync", "Unknown"];
const PARAMETERS = ["selector", "app", "health", "sync", "problems", "after", "limit"] as const;

export type GridQuery = {
  selector: string;
  app?: string;
  health?: HealthCode;
  sync?: SyncCode;
  problems: boolean;
  after?: string;
  limit: number;
};

/** A refused request: HTTP status, gRPC code name and a message naming the cause. */
export class GridRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Reads the grid's query parameters; throws GridRequestError 400 naming the bad parameter. */
export function parseGridQuery(params: URLSearchParams): GridQuery {
  for (const name of new Set(params.keys())) {
    if (!(PARAMETERS as readonly string[]).includes(name)) {
      throw badRequest(`unknown query parameter "${name}"; the grid takes ${PARAMETERS.join(", ")}`);
    }
    if (params.getAll(name).length > 1) throw badRequest(`${name}: give one value, not several`);
  }
  const text = (name: (typeof PARAMETERS)[number]) => params.get(name)?.trim() ?? "";
  const query: GridQuery = { selector: text("selector"), problems: false, limit: DEFAULT_GRID_LIMIT };
  if (text("app") !== "") query.app = text("app");
  if (text("after") !== "") query.after = text("after");
  if (text("health") !== "") query.health = oneOf("health", text("health"), HEALTH_CODES);
  if (text("sync") !== "") query.sync = oneOf("sync", text("sync"), SYNC_CODES);
  if (params.has("problems")) {
    const value = text("problems").toLowerCase();
    if (!["", "true", "1", "false", "0"].includes(value)) {
      throw badRequest(`problems: ${JSON.stringify(text("problems"))} is not true, false, 1 or 0`);
    }
    query.problems = value === "" || value === "true" || value === "1";
  }
  if (text("limit") !== "") {
    const value = text("limit");
    const limit = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_GRID_LIMIT) {
      throw badRequest(`limit: ${JSON.stringify(value)} is not a whole number from 1 to ${MAX_GRID_LIMIT}`);
    }
    query.limit = limit;
  }
  return query;
}

function oneOf<T extends string>(name: string, value: string, codes: readonly T[]): T {
  const found = codes.find((code) => code.toLowerCase() === value.toLowerCase());
  if (!found) throw badRequest(`${name}: ${JSON.stringify(value)} is not one of ${codes.join(", ")}`);
  return found;
}

function badRequest(message: string): GridRequestError {
  return new GridRequestError(400, "INVALID_ARGUMENT", message);
}

/**
 * One page of the grid as `principal` may see it (authenticate with ApiAccess.caller first).
 * Throws GrpcError INVALID_ARGUMENT for a bad selector.
 */
export function queryGrid(
  index: FleetIndex,
  access: Pick<ApiAccess, "scope">,
  principal: Principal,
  query: GridQuery,
): GridResponse {
  const scope = access.scope(principal);
  const selected = parseSelectorArgument(query.selector, "selector");
  // One pass over the index: the page, the counts and the counts per column.
  const page = index.query({
    selector: (labels) => scope(labels) && selected(labels),
    groupBy: columnOf,
    ...(query.app !== undefined ? { app: query.app } : {}),
    ...(query.health !== undefined ? { health: query.health } : {}),
    ...(query.sync !== undefined ? { sync: query.sync } : {}),
    ...(query.problems ? { problems: true } : {}),
    ...(query.after !== undefined ? { after: query.after } : {}),
    limit: query.limit,
  });
  const unfiltered =
    query.selector === "" &&
    query.app === undefined &&
    query.health === undefined &&
    query.sync === undefined &&
    !query.problems;
  // Every column in the caller's scope, so a filter does not hide its own choices: a second
  // pass only when the first was filtered.
  const columns = unfiltered ? Object.keys(page.countsByApp) : columnsInScope(index, scope, principal);
  return {
    clusters: page.clusters.map((cluster) => ({
      name: cluster.name,
      labels: { ...cluster.labels },
      connection: cluster.state,
      lastSeen: cluster.lastSeen ?? null,
      apps: cluster.apps.map((app) => toGridApp(app, columnOf(app.app, cluster.name))),
    })),
    apps: columns,
    next: page.next ?? null,
    matchedClusters: page.matchedClusters,
    counts: page.counts,
    countsByApp: page.countsByApp,
  };
}

/**
 * The columns a caller's scope sees, kept per index and scope until the fleet's shape changes
 * (statuses alone do not move them), so a filtered query makes one pass over the fleet, not two.
 */
const columnCache = new WeakMap<FleetIndex, Map<string, { shape: number; columns: string[] }>>();
const COLUMN_CACHE_SCOPES = 100;

function columnsInScope(
  index: FleetIndex,
  scope: (labels: Labels) => boolean,
  principal: Principal,
): string[] {
  const key = principal.role === "admin" ? "" : JSON.stringify(principal.selector ?? null);
  let byScope = columnCache.get(index);
  if (!byScope) {
    byScope = new Map();
    columnCache.set(index, byScope);
  }
  const shape = index.shapeVersion();
  const cached = byScope.get(key);
  if (cached?.shape === shape) return cached.columns;
  const columns = Object.keys(index.query({ selector: scope, groupBy: columnOf, limit: 1 }).countsByApp);
  if (byScope.size >= COLUMN_CACHE_SCOPES) byScope.clear();
  byScope.set(key, { shape, columns });
  return columns;
}

function toGridApp(app: IndexedApp, column: string): GridApp {
  return {
    app: app.app,
    column,
    sync: app.sync,
    health: app.health,
    stale: app.stale,
    problem: app.problem,
    message: app.message,
    revision: app.revision,
    desiredRevision: app.desiredRevision ?? "",
    delivered: app.delivered ?? false,
  };
}

const HTTP_STATUS: Partial<Record<string, number>> = {
  INVALID_ARGUMENT: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
};

/**
 * The HTTP handler of GRID_PATH (the caller routes by path). Answers every request: 200 with a
 * GridResponse, 405 for a method other than GET, or an API error body. Unexpected failures are
 * logged and answered 500 without details.
 */
export function createGridHandler(
  runtime: HubRuntime,
  log: Logger,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const access = createApiAccess(runtime);
  return async (req, res) => {
    try {
      if (req.method !== "GET") {
        res.setHeader("allow", "GET");
        throw new GridRequestError(
          405,
          "UNIMPLEMENTED",
          `method ${req.method} is not allowed on ${GRID_PATH}`,
        );
      }
      const url = new URL(req.url ?? "/", "http://localhost");
      const context = contextOf(req, res);
      // Authenticate before reading the query, so callers without a token learn nothing of it.
      const principal = await access.caller(context, "read");
      const query = parseGridQuery(url.searchParams);
      sendJson(res, 200, queryGrid(runtime.index, access, principal, query));
    } catch (error) {
      const { status, code, message } = describeFailure(error, log);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendJson(res, status, { error: { code, message } });
    }
  };
}

function contextOf(req: IncomingMessage, res: ServerResponse): HandlerContext {
  const controller = new AbortController();
  res.once("close", () => controller.abort(new GrpcError("CANCELLED", "the client went away")));
  const authorization = req.headers.authorization;
  return {
    signal: controller.signal,
    metadata: authorization === undefined ? {} : { authorization },
    peer: `${req.socket.remoteAddress ?? ""}:${req.socket.remotePort ?? ""}`,
  };
}

function describeFailure(error: unknown, log: Logger): { status: number; code: string; message: string } {
  if (error instanceof GridRequestError)
    return { status: error.status, code: error.code, message: error.message };
  if (error instanceof GrpcError) {
    const status = HTTP_STATUS[error.code];
    if (status !== undefined) return { status, code: error.code, message: error.details };
  }
  log("error", "grid request failed", { error });
  return { status: 500, code: "INTERNAL", message: "internal error; the hub log has the details" };
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
