// Fuzz tests of every FleetService method: random but well-typed requests built from the proto
// schema (random, empty, unicode and NUL strings, extreme numbers, unknown enum values, missing
// fields, forged page tokens) sent as an admin, a viewer, a viewer limited by a selector and a
// caller without a token, against the test runtime (real PGlite store, bus and fleet index).
// Every call must answer, or fail with a gRPC status other than INTERNAL and UNKNOWN, and leave
// nothing in the hub's error log. fast-check prints the seed of a failing run.
import * as assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { FleetService } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { GrpcError, type HandlerContext } from "@flotilla/proto/grpc";
import { messageArbitraries } from "@flotilla/proto/testing/message-arbitrary";
import fc from "fast-check";
import type { RolloutState } from "../rollout/rollout-state.js";
import { createFleetService, type FleetServiceHandlers } from "./fleet-service.js";
import { contextFor, useTestRuntime } from "./test-runtime.js";

const timeout = 240_000;
/** A call may take this long on a slow, shared machine before it counts as a hang. */
const MAX_CALL_MS = 10_000;

// ---- Random messages from a protobuf schema ----

const hostileString = fc.oneof(
  { arbitrary: fc.string({ maxLength: 16 }), weight: 4 },
  fc.constantFrom(
    "",
    "\u0000",
    "a\u0000b",
    "__proto__",
    "constructor",
    "env=prod",
    "env in (a,b),!x",
    "https://git.example.com/x.git",
    "file:///etc/passwd",
    "1h",
    "-5s",
    "99999999999h",
    "fuzz-a",
    "🚀",
  ),
  fc.constant("x".repeat(5_000)),
);

const arbitraries = messageArbitraries(fc, {
  string: hostileString,
  mapKey: fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom("env", "tier", "a/b", "", "\u0000")),
});

// ---- The service under test ----

const hub = useTestRuntime();
let service: FleetServiceHandlers;
const callers: Record<string, string | undefined> = {};
const clusterIds: string[] = [];

before(async () => {
  // No rollout controller runs here, so rollout actions stay queued: answer "queued" at once.
  service = createFleetService(await hub.opened, { rollouts: { actionWaitMs: 0 } });
  callers.admin = await hub.createApiToken("admin", { name: "fuzz-admin" });
  callers.viewer = await hub.createApiToken("viewer", { name: "fuzz-viewer" });
  callers["limited viewer"] = await hub.createApiToken("viewer", { name: "fuzz-prod", selector: "env=prod" });
  callers["no token"] = undefined;
  clusterIds.push(
    (await hub.addCluster({ name: "fuzz-a", labels: { env: "prod" }, apps: [{ app: "web" }] })).id,
  );
  clusterIds.push(
    (await hub.addCluster({ name: "fuzz-b", labels: { env: "dev" }, apps: [{ app: "web" }, { app: "api" }] }))
      .id,
  );
  // "fuzz-a" is one of the strings requests get, so UpdateRollout also reaches a real rollout.
  await hub.store.rollouts.put("fuzz-a", fuzzRollout("fuzz-a"));
});

/** A rollout of app web in its second step: fuzz-a updated, fuzz-b failed. */
function fuzzRollout(name: string): RolloutState {
  const target = { digest: "d", bundleDigest: "b", desired: {} };
  const at = new Date().toISOString();
  return {
    name,
    declaration: {
      name,
      origin: "Rollout",
      declaredBy: "root",
      steps: [
        {
          name: "prod",
          selector: { clusters: { matchLabels: { env: "prod" } } },
          maxUnavailable: { count: 1 },
          bakeTimeMs: 0,
        },
        { name: "dev", selector: { clusters: {} }, maxUnavailable: { percent: 50 }, bakeTimeMs: 60_000 },
      ],
      progressDeadlineMs: 600_000,
      rollback: false,
      offline: { policy: "wait" },
      apps: ["web"],
    },
    generation: 1,
    commit: "c0ffee",
    phase: "Failed",
    step: 1,
    stepCount: 3,
    stepStartedAt: at,
    message: "fuzz",
    failures: [{ cluster: "fuzz-b", app: "web", message: "Degraded", resources: [] }],
    members: [
      {
        clusterId: clusterIds[0] ?? "",
        cluster: "fuzz-a",
        app: "web",
        step: 0,
        wanted: target,
        releasedAt: at,
        passed: true,
      },
      {
        clusterId: clusterIds[1] ?? "",
        cluster: "fuzz-b",
        app: "web",
        step: 1,
        wanted: target,
        releasedAt: at,
      },
    ],
    startedAt: at,
    updatedAt: at,
  };
}

/**
 * Calls `method` with `request` as `token`. A stream (WatchFleet sends only on changes) is read
 * until its first message or for 200 ms after a status change is announced, then cancelled.
 */
async function call(
  method: (typeof FleetService.methods)[number],
  request: unknown,
  token: string | undefined,
) {
  const controller = new AbortController();
  const handler = (
    service as unknown as Record<string, (input: unknown, context: HandlerContext) => unknown>
  )[method.localName];
  assert.ok(handler, `no handler for ${method.name}`);
  const context = contextFor(token, controller.signal);
  if (method.methodKind !== "server_streaming") return await handler(request, context);
  const stream = handler(request, context) as AsyncGenerator<unknown>;
  const first = stream.next();
  const runtime = hub.runtime;
  const timer = setTimeout(() => controller.abort(), 200);
  try {
    await runtime.bus.publish({
      type: "status",
      clusterId: clusterIds[0] ?? "",
      app: "web",
      digest: "",
      sync: "Synced",
      health: "Degraded",
      observedAt: new Date().toISOString(),
      revision: "r",
      message: "fuzz",
    });
    return (await first).value;
  } finally {
    clearTimeout(timer);
    controller.abort();
    await stream.return?.(undefined);
  }
}

describe("reliability: fuzz", () => {
  for (const method of FleetService.methods) {
    it(`random ${method.name} requests from an admin, a viewer and no token get an answer or a clear status, never INTERNAL`, {
      timeout,
    }, async (t) => {
      const codes = new Map<string, number>();
      let answered = 0;
      const errorsBefore = hub.logs.filter((entry) => entry.level === "error").length;
      await fc.assert(
        fc.asyncProperty(
          arbitraries.message(method.input),
          fc.constantFrom(...Object.keys(callers)),
          async (init, who) => {
            const request = create(method.input, init);
            const started = performance.now();
            try {
              await call(method, request, callers[who]);
              answered += 1;
            } catch (error) {
              assert.ok(
                error instanceof GrpcError,
                `${method.name} threw a non-gRPC error: ${String(error)}`,
              );
              assert.ok(
                error.code !== "INTERNAL" && error.code !== "UNKNOWN",
                `${method.name} as ${who} broke: ${error.code}: ${error.details}`,
              );
              assert.notEqual(error.details, "");
              // Malformed values are refused before the caller is looked up.
              if (who === "no token")
                assert.ok(["UNAUTHENTICATED", "INVALID_ARGUMENT"].includes(error.code), error.code);
              codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
            }
            const ms = performance.now() - started;
            assert.ok(ms < MAX_CALL_MS, `${method.name} took ${Math.round(ms)} ms`);
          },
        ),
        { numRuns: method.methodKind === "server_streaming" ? 40 : 60 },
      );
      const errors = hub.logs.filter((entry) => entry.level === "error").slice(errorsBefore);
      assert.deepEqual(errors, [], "the hub logged a failure");
      const refused = [...codes.entries()].map(([code, n]) => `${n} ${code}`).join(", ");
      t.diagnostic(
        `${answered + [...codes.values()].reduce((a, b) => a + b, 0)} random ${method.name} requests as admin, viewer, limited viewer and no token: ${answered} answered${refused ? `, refused: ${refused}` : ""}; 0 INTERNAL`,
      );
    });
  }

  it("random pause, resume, abort and promote requests on an existing rollout are queued as the admin asked, or refused", {
    timeout,
  }, async (t) => {
    const method = FleetService.method.updateRollout;
    const actions = ["pause", "resume", "abort", "promote"];
    let queued = 0;
    let refused = 0;
    let onRollout = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          name: fc.oneof({ arbitrary: fc.constant("fuzz-a"), weight: 3 }, hostileString),
          action: fc.oneof({ arbitrary: fc.integer({ min: 0, max: 4 }), weight: 4 }, fc.integer()),
          all: fc.boolean(),
        }),
        fc.constantFrom(...Object.keys(callers)),
        async (init, who) => {
          if (init.name === "fuzz-a") onRollout += 1;
          const before = await hub.store.rollouts.listCommands();
          try {
            await call(method, create(method.input, init), callers[who]);
          } catch (error) {
            assert.ok(error instanceof GrpcError, `UpdateRollout threw a non-gRPC error: ${String(error)}`);
            assert.ok(
              ["INVALID_ARGUMENT", "NOT_FOUND", "PERMISSION_DENIED", "UNAUTHENTICATED"].includes(error.code),
              `UpdateRollout as ${who} broke: ${error.code}: ${error.details}`,
            );
            assert.equal(
              (await hub.store.rollouts.listCommands()).length,
              before.length,
              "a refused action was queued",
            );
            refused += 1;
            return;
          }
          const added = (await hub.store.rollouts.listCommands()).filter(
            (command) => !before.some((old) => old.id === command.id),
          );
          assert.equal(who, "admin");
          assert.deepEqual(
            added.map((command) => [command.rollout, command.action, command.all, command.actor]),
            [["fuzz-a", actions[init.action - 1], init.all, "fuzz-admin"]],
          );
          queued += 1;
        },
      ),
      { numRuns: 200 },
    );
    assert.ok(queued > 0, "no request reached the rollout");
    t.diagnostic(
      `200 random UpdateRollout requests (${onRollout} naming rollout fuzz-a): ${queued} queued exactly as asked by the admin, ${refused} refused with a clear status, 0 queued by a refused request`,
    );
  });
});
