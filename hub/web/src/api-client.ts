/**
 * The hub's HTTP API from the browser: GET requests with `Authorization: Bearer <token>`,
 * JSON answers, and the API's JSON errors as ApiError. A 401 also tells the shell, which shows
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
    async get<T>(path: string, query: Query = {}, signal?: AbortSignal): Promise<T> {
      const url = new URL(path, location.origin);
      for (const [name, value] of Object.entries(query)) {
        if (value === undefined || value === "" || value === false) continue;
        url.searchParams.set(name, String(value));
      }
      const header = authorization();
      const response = await fetch(url, {
        headers: header
          ? { authorization: header, accept: "application/json" }
          : { accept: "application/json" },
        cache: "no-store",
        ...(signal ? { signal } : {}),
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
    },
  };
}
