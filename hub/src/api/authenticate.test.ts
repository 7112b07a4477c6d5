import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GrpcError } from "@flotilla/proto/grpc";
import { generateToken, parseToken } from "../auth/tokens.js";
import { authenticateApiToken } from "./authenticate.js";
import { useTestRuntime } from "./test-runtime.js";

const hub = useTestRuntime();

function refusal(code: string, pattern: RegExp, secret?: string) {
  return (error: unknown) => {
    assert.ok(error instanceof GrpcError, `expected a GrpcError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.details, pattern);
    if (secret) assert.ok(!error.message.includes(secret), "the message echoes the secret");
    return true;
  };
}

describe("authenticateApiToken", () => {
  it("returns the principal of a live admin token", async () => {
    const token = await hub.createApiToken("admin", { name: "root" });

    assert.deepEqual(await authenticateApiToken(hub.store, `Bearer ${token}`), {
      name: "root",
      role: "admin",
    });
  });

  it("gives a limited viewer the parsed selector of its token", async () => {
    const token = await hub.createApiToken("viewer", { name: "prod-team", selector: "env=prod" });

    const principal = await authenticateApiToken(hub.store, `bearer  ${token}`);

    assert.equal(principal.role, "viewer");
    assert.deepEqual(principal.selector?.requirements, [
      { key: "env", operator: "Equals", values: ["prod"] },
    ]);
  });

  it("refuses a call without a token", async () => {
    await assert.rejects(
      authenticateApiToken(hub.store, undefined),
      refusal("UNAUTHENTICATED", /missing API token/),
    );
    await assert.rejects(
      authenticateApiToken(hub.store, "  "),
      refusal("UNAUTHENTICATED", /missing API token/),
    );
  });

  it("refuses a header that is not Bearer, without echoing it", async () => {
    const token = await hub.createApiToken("admin");
    const secret = parseToken(token)?.secret ?? "";

    await assert.rejects(
      authenticateApiToken(hub.store, `Basic ${token}`),
      refusal("UNAUTHENTICATED", /malformed authorization header/, secret),
    );
  });

  it("refuses a malformed token and a token of another kind", async () => {
    await assert.rejects(
      authenticateApiToken(hub.store, "Bearer fla_short.secret"),
      refusal("UNAUTHENTICATED", /malformed API token/),
    );
    const bootstrap = generateToken("bootstrap");
    await assert.rejects(
      authenticateApiToken(hub.store, `Bearer ${bootstrap}`),
      refusal("UNAUTHENTICATED", /bootstrap token, not an API token/, parseToken(bootstrap)?.secret),
    );
  });

  it("refuses an unknown token and a known id with the wrong secret alike", async () => {
    const unknown = generateToken("api");
    await assert.rejects(
      authenticateApiToken(hub.store, `Bearer ${unknown}`),
      refusal("UNAUTHENTICATED", /is not known to this hub/, parseToken(unknown)?.secret),
    );
    const known = parseToken(await hub.createApiToken("admin"));
    assert.ok(known);
    const wrongSecret = `fla_${known.id}.${"x".repeat(32)}`;
    await assert.rejects(
      authenticateApiToken(hub.store, `Bearer ${wrongSecret}`),
      refusal("UNAUTHENTICATED", new RegExp(`API token ${known.id} is not known`)),
    );
  });

  it("refuses a revoked token", async () => {
    const token = await hub.createApiToken("admin");
    const parsed = parseToken(token);
    assert.ok(parsed);
    assert.equal(await hub.store.apiTokens.revoke(parsed.id), true);

    await assert.rejects(
      authenticateApiToken(hub.store, `Bearer ${token}`),
      refusal("UNAUTHENTICATED", /was revoked/, parsed.secret),
    );
  });

  it("fails closed when a viewer's stored selector does not parse", async () => {
    const token = await hub.createApiToken("viewer", { name: "broken", selector: "env in (" });

    await assert.rejects(
      authenticateApiToken(hub.store, `Bearer ${token}`),
      refusal("PERMISSION_DENIED", /token "broken" has an invalid cluster selector/),
    );
  });
});
