import { type IncomingHttpHeaders, type IncomingMessage, request as requestHttp } from "node:http";
import { request as requestHttps } from "node:https";
import { pipeline, type Readable } from "node:stream";
import { createGunzip, createInflate } from "node:zlib";
import type { GitHttpRequest, GitHttpResponse, HttpClient } from "isomorphic-git";

const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * An isomorphic-git HTTP client that ends with `signal`: when it aborts, the request in flight
 * and any response body still being read fail, so a fetch past its deadline fails instead of
 * hanging (the stock client drops a stream error that arrives between two reads). Every request
 * opens its own connection, so a server that went away and came back never meets a stale
 * kept-alive socket. GET redirects are followed (at most 5); the Authorization header is sent
 * only to the origin that was asked.
 */
export function createHttpClient(signal: AbortSignal): HttpClient {
  return { request: (request) => sendRequest(request, signal, 0) };
}

async function sendRequest(
  request: GitHttpRequest,
  signal: AbortSignal,
  redirects: number,
): Promise<GitHttpResponse> {
  signal.throwIfAborted();
  const method = (request.method ?? "GET").toUpperCase();
  const target = new URL(request.url);
  const send =
    target.protocol === "https:" ? requestHttps : target.protocol === "http:" ? requestHttp : undefined;
  if (!send) throw new Error(`unsupported protocol ${target.protocol}`);
  const body = request.body ? await collectBody(request.body) : undefined;
  const headers: Record<string, string> = {
    "user-agent": "git/isomorphic-git (flotilla)",
    ...request.headers,
  };
  if (body) headers["content-length"] = String(body.byteLength);

  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const outgoing = send(target, { method, headers, agent: false, signal }, resolve);
    outgoing.on("error", reject);
    outgoing.end(body);
  });

  const location = response.headers.location;
  if (
    location &&
    REDIRECT_STATUSES.has(response.statusCode ?? 0) &&
    (method === "GET" || method === "HEAD")
  ) {
    response.resume();
    if (redirects >= MAX_REDIRECTS) throw new Error(`${target.origin}: more than ${MAX_REDIRECTS} redirects`);
    const next = new URL(location, target);
    const nextHeaders = { ...request.headers };
    if (next.origin !== target.origin) {
      for (const name of Object.keys(nextHeaders)) {
        if (/^(authorization|cookie)$/i.test(name)) delete nextHeaders[name];
      }
    }
    return sendRequest({ ...request, url: next.href, headers: nextHeaders }, signal, redirects + 1);
  }

  return {
    url: target.href,
    method,
    statusCode: response.statusCode ?? 0,
    statusMessage: response.statusMessage ?? "",
    headers: flattenHeaders(response.headers),
    body: readBody(decodeBody(response)),
  };
}

async function collectBody(body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function decodeBody(response: IncomingMessage): Readable {
  const encoding = response.headers["content-encoding"]?.toLowerCase();
  const decoder =
    encoding === "gzip" || encoding === "x-gzip"
      ? createGunzip()
      : encoding === "deflate"
        ? createInflate()
        : undefined;
  if (!decoder) return response;
  // pipeline (unlike pipe) carries an abort of the response on into the decoder.
  return pipeline(response, decoder, () => {});
}

// A native async iterator rejects on any stream error or premature close, whenever it happens.
async function* readBody(stream: Readable): AsyncGenerator<Uint8Array> {
  for await (const chunk of stream) yield chunk as Uint8Array;
}

function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return flat;
}
