/**
 * Who is calling the FleetService or the HTTP API: the "authorization: Bearer fla_<id>.<secret>"
 * header, checked against the store's API tokens. Messages name the token's id (public, the
 * lookup key) at most, never the secret or the header as sent.
 */
import { GrpcError } from "@flotilla/proto/grpc";
import type { Principal } from "../auth/api-auth.js";
import { parseToken } from "../auth/tokens.js";
import { parseLabelSelector } from "../fleet/label-selector.js";
import type { Store } from "../store/store.js";

const BEARER = /^bearer[ \t]+(\S+)[ \t]*$/i;
const SHAPE = 'send "authorization: Bearer fla_<id>.<secret>" (see `flotilla token create`)';

/**
 * The principal of an API token. Throws GrpcError UNAUTHENTICATED when the header is missing or
 * not "Bearer <token>", the token is not an API token, or the store does not know it or has it
 * revoked; PERMISSION_DENIED when a viewer token's stored cluster selector no longer parses
 * (failing closed rather than showing every cluster).
 */
export async function authenticateApiToken(
  store: Store,
  authorization: string | undefined,
): Promise<Principal> {
  if (authorization === undefined || authorization.trim() === "") {
    throw new GrpcError("UNAUTHENTICATED", `missing API token: ${SHAPE}`);
  }
  const bearer = BEARER.exec(authorization.trim());
  if (!bearer) {
    throw new GrpcError("UNAUTHENTICATED", `malformed authorization header: ${SHAPE}`);
  }
  const parsed = parseToken(bearer[1] as string);
  if (!parsed) throw new GrpcError("UNAUTHENTICATED", `malformed API token: ${SHAPE}`);
  if (parsed.kind !== "api") {
    throw new GrpcError(
      "UNAUTHENTICATED",
      `the bearer token is a ${parsed.kind} token, not an API token: ${SHAPE}`,
    );
  }
  const verified = await store.apiTokens.verify(parsed.id, parsed.secret);
  if (!verified.ok) {
    throw new GrpcError(
      "UNAUTHENTICATED",
      verified.reason === "revoked"
        ? `API token ${parsed.id} was revoked`
        : `API token ${parsed.id} is not known to this hub (or its secret is wrong)`,
    );
  }
  const { token } = verified;
  if (token.role === "admin" || !token.clusterSelector) return { name: token.name, role: token.role };
  try {
    return { name: token.name, role: token.role, selector: parseLabelSelector(token.clusterSelector) };
  } catch (error) {
    throw new GrpcError(
      "PERMISSION_DENIED",
      `API token "${token.name}" has an invalid cluster selector: ${(error as Error).message}`,
    );
  }
}
