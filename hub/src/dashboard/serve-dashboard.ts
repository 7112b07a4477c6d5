/**
 * The web dashboard, served by the hub itself (no CDN, nothing external): `GET /` and `/ui/`
 * answer index.html, `/ui/assets/<file>` the bundled script and stylesheet, and
 * `/api/v1/grid` the grid's data (grid-route.ts) and `/api/v1/rollouts...` the rollouts
 * (createRolloutApi of ../api/http-api.ts, answered here because this handler is given the
 * runtime they are read from). The assets are generated from hub/web by
 * hub/scripts/build-dashboard.mjs into ./assets, read once on first use and kept in memory.
 *
 * Every answer carries a strict Content-Security-Policy (only this origin; no inline script or
 * style), `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`. index.html is
 * `no-cache`; assets carry an ETag and answer 304 to a matching If-None-Match.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createRolloutApi } from "../api/http-api.js";
import type { HubRuntime, Logger } from "../server/hub-runtime.js";
import { createGridHandler, GRID_PATH } from "./grid-route.js";

const ASSET_PREFIX = "/ui/assets/";
const INDEX_PATHS = new Set(["/", "/ui", "/ui/"]);

/** The files of ./assets by name, with their content types. */
const ASSET_TYPES: Readonly<Record<string, string>> = {
  "index.html": "text/html; charset=utf-8",
  "dashboard.js": "text/javascript; charset=utf-8",
  "dashboard.css": "text/css; charset=utf-8",
};

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

type Asset = { body: Buffer; type: string; etag: string };

export type DashboardOptions = {
  runtime: HubRuntime;
  log: Logger;
  /** Folder holding the generated assets; default ./assets next to this module. */
  assetsUrl?: URL;
};

/**
 * An HTTP handler for the dashboard's paths; resolves false, without answering, for any other
 * path. Never rejects for a request it answered.
 */
export function createDashboardHandler(
  options: DashboardOptions,
): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const { log } = options;
  const assetsUrl = options.assetsUrl ?? new URL("./assets/", import.meta.url);
  const grid = createGridHandler(options.runtime, log);
  const rollouts = createRolloutApi(options.runtime, { log });
  let assets: Promise<Map<string, Asset>> | undefined;

  /** Reads every asset once; a failed read is retried on the next request. */
  const loadAssets = () => {
    assets ??= readAssets(assetsUrl).catch((error: unknown) => {
      assets = undefined;
      throw error;
    });
    return assets;
  };

  return async (req, res) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (path === GRID_PATH) {
      await grid(req, res);
      return true;
    }
    if (await rollouts(req, res)) return true;
    const name = INDEX_PATHS.has(path)
      ? "index.html"
      : path.startsWith(ASSET_PREFIX)
        ? path.slice(ASSET_PREFIX.length)
        : undefined;
    if (name === undefined) return false;
    if (req.method !== "GET" && req.method !== "HEAD") {
      sendText(res, 405, `method ${req.method} is not allowed on ${path}; use GET`, { allow: "GET, HEAD" });
      return true;
    }
    let asset: Asset | undefined;
    try {
      asset = (await loadAssets()).get(name);
    } catch (error) {
      log("error", "dashboard assets cannot be read; run `pnpm generate` (or the hub build)", { error });
      sendText(res, 500, "the dashboard's files are missing on this hub; its log has the details");
      return true;
    }
    if (!asset) {
      sendText(res, 404, `no dashboard file ${JSON.stringify(name)}`);
      return true;
    }
    const headers = {
      ...SECURITY_HEADERS,
      "content-type": asset.type,
      etag: asset.etag,
      // index.html names the assets without a version, so every load revalidates both.
      "cache-control": "no-cache",
    };
    if (req.headers["if-none-match"] === asset.etag) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    res.writeHead(200, { ...headers, "content-length": asset.body.length });
    res.end(req.method === "HEAD" ? undefined : asset.body);
    return true;
  };
}

async function readAssets(folder: URL): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>();
  for (const [name, type] of Object.entries(ASSET_TYPES)) {
    const url = new URL(name, folder);
    let body: Buffer;
    try {
      body = await readFile(url);
    } catch (error) {
      throw new Error(`dashboard asset ${url.pathname}: cannot be read`, { cause: error });
    }
    const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`;
    assets.set(name, { body, type, etag });
  }
  return assets;
}

function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  extra: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    ...extra,
    "content-type": "text/plain; charset=utf-8",
    "cache-control": "no-store",
  });
  res.end(`${text}\n`);
}
