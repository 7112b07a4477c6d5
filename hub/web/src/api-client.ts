/**
 * The hub's HTTP API from the browser: GET and POST requests with `Authorization: Bearer
 * <token>`, JSON answers, and the API's JSON errors as ApiError. A 401 also tells the shell, which shows
 * the sign-in form with the hub's message.
 */
import { readToken } from "./session.js";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export type Query = Record<string, string | number | boolean | undefined>;

export type ApiClient = {
  /** GETs `path` (below the hub's origin) with `query`; rejects with ApiError. */
  get<T>(path: string, query?: Query, signal?: AbortSignal): Promise<T>;
  /** POSTs `body` as JSON (no body when undefined) to `path`; rejects with ApiError. */
  post<T>(path: string, body?: unknown): Promise<T>;
  /** The Authorization header value, for requests the client does not make (the watch). */
  authorization(): string | undefined;
};

/** `onUnauthenticated` receives the hub's message when a request is answered 401. */
export function createApiClient(onUnauthenticated: (message: string) => void): ApiClient {
  const authorization = () => {
    const token = readToken();
    return token ? `Bearer ${token}` : undefined;
  };
  return {
    authorization,
    get<T>(path: string, query: Query = {}, signal?: AbortSignal): Promise<T> {
      const url = new URL(path, location.origin);
      for (const [name, value] of Object.entries(query)) {
        if (value === undefined || value === "" || value === false) continue;
        url.searchParams.set(name, String(value));
      }
      return send<T>(url, path, { method: "GET", ...(signal ? { signal } : {}) });
    },
    post<T>(path: string, body?: unknown): Promise<T> {
      return send<T>(new URL(path, location.origin), path, {
        method: "POST",
        ...(body === undefined ? {} : { body: JSON.stringify(body), contentType: "application/json" }),
      });
    },
  };

  async function send<T>(
    url: URL,
    path: string,
    options: { method: string; body?: string; contentType?: string; signal?: AbortSignal },
  ): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json" };
    const header = authorization();
    if (header) headers.authorization = header;
    if (options.contentType) headers["content-type"] = options.contentType;
    const response = await fetch(url, {
      method: options.method,
      headers,
      cache: "no-store",
      ...(options.body !== undefined ? { body: options.body } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const text = await response.text();
    let body: unknown;
    try {
      body = text === "" ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!response.ok) {
      const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
      const failure = new ApiError(
        response.status,
        error?.code ?? `HTTP_${response.status}`,
        error?.message ?? `${path}: HTTP ${response.status}`,
      );
      if (response.status === 401) onUnauthenticated(failure.message);
      throw failure;
    }
    return body as T;
  }
}
