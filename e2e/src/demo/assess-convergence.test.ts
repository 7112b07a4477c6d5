import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  assessConvergence,
  type ConvergenceInput,
  type ReportedApp,
  summarizeConvergence,
} from "./assess-convergence.js";

const SHA1 = "1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SHA2 = "2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

function row(cluster: string, app: string, overrides: Partial<ReportedApp> = {}): ReportedApp {
  return {
    cluster,
    app,
    sync: "Synced",
    health: "Healthy",
    message: "",
    revision: SHA1,
    delivered: true,
    ...overrides,
  };
}

/** Two clusters, `web` on a only, `base` on both, everything reported fine. */
function fleet(overrides: Partial<ConvergenceInput> = {}): ConvergenceInput {
  return {
    clusters: ["a", "b"],
    states: new Map([
      ["a", "Connected"],
      ["b", "Connected"],
    ]),
    sources: [{ id: "fleet", revision: SHA1, error: "" }],
    apps: [
      { name: "base-a", parent: "base", clusters: ["a"], problems: [] },
      { name: "base-b", parent: "base", clusters: ["b"], problems: [] },
      { name: "web-a", parent: "web", clusters: ["a"], problems: [] },
    ],
    rows: [row("a", "base-a"), row("b", "base-b"), row("a", "web-a")],
    ...overrides,
  };
}

describe("assessConvergence", () => {
  it("converges when every targeted app is delivered, Synced and Healthy in Connected clusters", () => {
    assert.deepEqual(assessConvergence(fleet()), { converged: true, ready: 3, total: 3, waiting: [] });
  });

  it("names each app that is not there yet, with its status and message", () => {
    const result = assessConvergence(
      fleet({
        rows: [
          row("a", "base-a", { sync: "OutOfSync", health: "Progressing", message: "waiting for rollout" }),
          row("b", "base-b", { delivered: false }),
        ],
      }),
    );
    assert.equal(result.converged, false);
    assert.equal(result.ready, 0);
    assert.equal(result.total, 3);
    assert.deepEqual(result.waiting, [
      "a base-a: OutOfSync Progressing: waiting for rollout",
      "a web-a: not reported yet",
      "b base-b: not delivered yet",
    ]);
    assert.equal(
      summarizeConvergence(result),
      "0/3 apps Synced+Healthy (a base-a: OutOfSync Progressing: waiting for rollout, +2 more)",
    );
  });

  it("is not done before the source was fetched, or while a cluster is missing, disconnected or without apps", () => {
    assert.deepEqual(
      assessConvergence(fleet({ sources: [{ id: "fleet", revision: "", error: "" }] })).waiting,
      ["source fleet: not fetched yet"],
    );
    const missing = assessConvergence(fleet({ states: new Map([["a", "Connected"]]) }));
    assert.equal(missing.converged, false);
    assert.ok(missing.waiting.includes("b: not joined yet"), missing.waiting.join("\n"));
    const down = assessConvergence(
      fleet({
        states: new Map([
          ["a", "Connected"],
          ["b", "Disconnected"],
        ]),
      }),
    );
    assert.deepEqual(down.waiting, ["b: Disconnected"]);
    // A resolve from before b joined: b has no targets yet, though everything resolved is fine.
    const early = assessConvergence(
      fleet({
        apps: [{ name: "base-a", parent: "base", clusters: ["a"], problems: [] }],
        rows: [row("a", "base-a")],
      }),
    );
    assert.deepEqual(early.waiting, ["b: no apps resolved for it yet"]);
  });

  it("reports source errors, app problems and apps still reported where they are no longer targeted", () => {
    const result = assessConvergence(
      fleet({
        sources: [{ id: "fleet", revision: SHA1, error: "fetch failed: 503" }],
        apps: [
          {
            name: "base-a",
            parent: "base",
            clusters: ["a"],
            problems: [{ cluster: "a", reason: "render", message: "kustomize build failed" }],
          },
          { name: "base-b", parent: "base", clusters: ["b"], problems: [] },
        ],
      }),
    );
    assert.deepEqual(result.waiting, [
      "source fleet: fetch failed: 503",
      "a base-a: render: kustomize build failed",
      "a web-a: reported, but no longer targeted",
    ]);
  });

  it("waits for the required commit on the matching apps only", () => {
    const revision = { matches: (app: { parent: string }) => app.parent === "web", revision: SHA2 };
    const before = assessConvergence(fleet({ revision }));
    assert.deepEqual(before.waiting, ["a web-a: at 1111111, not yet at 2222222"]);
    const after = assessConvergence(
      fleet({
        revision,
        rows: [row("a", "base-a"), row("b", "base-b"), row("a", "web-a", { revision: SHA2 })],
      }),
    );
    assert.equal(after.converged, true);
  });

  it("never converges on an empty fleet", () => {
    const result = assessConvergence(fleet({ clusters: [], states: new Map(), apps: [], rows: [] }));
    assert.equal(result.converged, false);
    assert.equal(result.total, 0);
  });
});
