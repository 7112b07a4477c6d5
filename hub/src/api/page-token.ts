/**
 * Paging of FleetService lists (see fleet.proto): page_size 0 means 100, at most 1,000; the
 * next_page_token is opaque to callers and only valid with the filters it was issued for.
 * A token is base64url JSON of the method, a digest of the filters and the position of the last
 * item returned; it carries no secret and grants nothing (every call is authorized anew).
 */
import { createHash } from "node:crypto";
import { GrpcError } from "@flotilla/proto/grpc";

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1_000;

type PagePosition = Record<string, string | number>;

/** The effective page size of a request: 0 means the default, larger values are capped. */
export function pageSizeOf(requested: number): number {
  if (requested === 0) return DEFAULT_PAGE_SIZE;
  return Math.min(requested, MAX_PAGE_SIZE);
}

/** A token that resumes `method` after `position`, valid only with the same `filters`. */
export function createPageToken(method: string, filters: unknown, position: PagePosition): string {
  const body = { m: method, f: digestFilters(filters), p: position };
  return Buffer.from(JSON.stringify(body), "utf8").toString("base64url");
}

/**
 * The position a page token resumes after; undefined for an empty token (the first page).
 * Throws INVALID_ARGUMENT when the token is malformed, belongs to another method, or was issued
 * for other filters.
 */
export function readPageToken<P extends PagePosition>(
  method: string,
  filters: unknown,
  token: string,
): P | undefined {
  if (token === "") return undefined;
  let body: { m?: unknown; f?: unknown; p?: unknown };
  try {
    body = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw new GrpcError("INVALID_ARGUMENT", `page_token: not a token from a previous ${method} response`);
  }
  if (
    typeof body !== "object" ||
    body === null ||
    body.m !== method ||
    typeof body.p !== "object" ||
    body.p === null
  ) {
    throw new GrpcError("INVALID_ARGUMENT", `page_token: not a token from a previous ${method} response`);
  }
  if (body.f !== digestFilters(filters)) {
    throw new GrpcError(
      "INVALID_ARGUMENT",
      `page_token: the token was issued for other filters; repeat the filters of the first page or start without a token`,
    );
  }
  return body.p as P;
}

function digestFilters(filters: unknown): string {
  return createHash("sha256").update(JSON.stringify(filters)).digest("base64url").slice(0, 16);
}
