/**
 * FleetService bootstrap-token methods (admin only). The token text appears once, in the
 * CreateBootstrapToken response and its join command; the store keeps only a hash of the secret.
 * The store has no description column, so a token's description rides on its
 * "bootstrap-token-created" event and is shown while that event is kept.
 */
import { durationMs } from "@bufbuild/protobuf/wkt";
import type { FleetService } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { GrpcError, type ServiceImpl } from "@flotilla/proto/grpc";
import { formatJoinCommand } from "../auth/join-command.js";
import { generateToken, parseToken, TOKEN_PREFIX } from "../auth/tokens.js";
import type { HubRuntime } from "../server/hub-runtime.js";
import { type ApiAccess, checkLabels, requireArgument } from "./api-access.js";
import { isActiveToken, toBootstrapTokenMessage } from "./fleet-messages.js";

const DEFAULT_TTL_MS = 60 * 60 * 1000;
/** Ten years: a later expiry would not fit the store's timestamps for long. */
const MAX_TTL_MS = 10 * 365 * 24 * 60 * 60 * 1000;
/** The store keeps max_uses as a 32-bit integer. */
const MAX_USES = 2_147_483_647;
const CREATED = "bootstrap-token-created";
const DESCRIPTION_EVENTS = 1_000;

type TokenMethods = "createBootstrapToken" | "listBootstrapTokens" | "revokeBootstrapToken";

export function createTokenHandlers(
  runtime: HubRuntime,
  access: ApiAccess,
): Pick<ServiceImpl<typeof FleetService>, TokenMethods> {
  const { store } = runtime;

  return {
    async createBootstrapToken(request, context) {
      const principal = await access.caller(context, "admin");
      const ttlMs = request.ttl ? durationMs(request.ttl) : 0;
      if (ttlMs < 0) throw new GrpcError("INVALID_ARGUMENT", "ttl: must not be negative");
      if (ttlMs > MAX_TTL_MS)
        throw new GrpcError("INVALID_ARGUMENT", "ttl: must be at most 87600h (10 years)");
      if (request.maxUses > MAX_USES)
        throw new GrpcError("INVALID_ARGUMENT", `max_uses: must be at most ${MAX_USES}`);
      checkLabels(request.labels, "labels");
      const text = generateToken("bootstrap");
      const parsed = parseToken(text);
      if (!parsed) throw new Error("a generated bootstrap token does not parse");
      let joinCommand: string;
      try {
        joinCommand = formatJoinCommand({ hubUrl: runtime.publicUrl, token: text, caHash: runtime.caHash });
      } catch (error) {
        // Checked before the token is stored, so a misconfigured hub creates no unusable token.
        throw new GrpcError(
          "FAILED_PRECONDITION",
          `cannot make a join command (set the hub's public URL): ${(error as Error).message}`,
        );
      }
      const expiresAt = new Date(runtime.now().getTime() + (ttlMs === 0 ? DEFAULT_TTL_MS : ttlMs));
      const token = await store.bootstrapTokens.create({
        id: parsed.id,
        secret: parsed.secret,
        labels: { ...request.labels },
        expiresAt,
        maxUses: request.maxUses === 0 ? null : request.maxUses,
        createdBy: principal.name,
      });
      await store.events.append({
        type: CREATED,
        message: `bootstrap token ${token.id} created by ${principal.name}, expires ${expiresAt.toISOString()}`,
        data: { actor: principal.name, tokenId: token.id, description: request.description },
      });
      return {
        info: toBootstrapTokenMessage(token, request.description),
        token: text,
        joinCommand,
        caHash: runtime.caHash,
      };
    },

    async listBootstrapTokens(request, context) {
      await access.caller(context, "admin");
      const now = runtime.now();
      const [tokens, created] = await Promise.all([
        store.bootstrapTokens.list(),
        store.events.list({ type: CREATED, limit: DESCRIPTION_EVENTS }),
      ]);
      const descriptions = new Map<string, string>();
      for (const event of created.events) {
        const { tokenId, description } = event.data as { tokenId?: unknown; description?: unknown };
        if (typeof tokenId === "string" && typeof description === "string")
          descriptions.set(tokenId, description);
      }
      return {
        tokens: tokens
          .filter((token) => request.includeInactive || isActiveToken(token, now))
          .map((token) => toBootstrapTokenMessage(token, descriptions.get(token.id))),
      };
    },

    async revokeBootstrapToken(request, context) {
      const principal = await access.caller(context, "admin");
      requireArgument(request.id, "id", "the bootstrap token id");
      if (request.id.includes(".")) {
        // Someone pasted the whole token: do not echo it back.
        throw new GrpcError(
          "INVALID_ARGUMENT",
          "id: pass the token id (the part before the dot), not the token",
        );
      }
      const id = request.id.startsWith(`${TOKEN_PREFIX.bootstrap}_`)
        ? request.id.slice(TOKEN_PREFIX.bootstrap.length + 1)
        : request.id;
      const token = await store.bootstrapTokens.get(id);
      if (!token) throw new GrpcError("NOT_FOUND", `bootstrap token "${id}" does not exist`);
      // Revoking twice is not an error: the token is revoked either way.
      if (await store.bootstrapTokens.revoke(id)) {
        await store.events.append({
          type: "bootstrap-token-revoked",
          message: `bootstrap token ${id} revoked by ${principal.name}`,
          data: { actor: principal.name, tokenId: id },
        });
      }
      return {};
    },
  };
}
