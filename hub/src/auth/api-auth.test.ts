import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseLabelSelector } from "../fleet/label-selector.js";
import { type Action, authorize, clusterScope, type Principal, type Verb } from "./api-auth.js";

const admin: Principal = { name: "root", role: "admin" };
const viewer: Principal = { name: "dash", role: "viewer" };
const prodViewer: Principal = { name: "prod-team", role: "viewer", selector: parseLabelSelector("env=prod") };
const scopedAdmin: Principal = { name: "ops", role: "admin", selector: parseLabelSelector("env=prod") };

const prod = { labels: { env: "prod" } };
const dev = { labels: { env: "dev" } };

describe("authorize", () => {
  // principal, verb, cluster, allowed
  const matrix: [Principal, Verb, { labels: Record<string, string> } | undefined, boolean][] = [
    [admin, "read", undefined, true],
    [admin, "write", prod, true],
    [admin, "admin", undefined, true],
    [scopedAdmin, "write", dev, true],
    [viewer, "read", undefined, true],
    [viewer, "read", dev, true],
    [viewer, "write", prod, false],
    [viewer, "write", undefined, false],
    [viewer, "admin", undefined, false],
    [prodViewer, "read", prod, true],
    [prodViewer, "read", dev, false],
    [prodViewer, "read", { labels: {} }, false],
    [prodViewer, "read", undefined, true],
    [prodViewer, "write", prod, false],
    [prodViewer, "admin", undefined, false],
  ];
  for (const [principal, verb, cluster, allowed] of matrix) {
    const where = cluster ? ` on a cluster labelled ${JSON.stringify(cluster.labels)}` : "";
    it(`${allowed ? "lets" : "stops"} ${principal.name} (${principal.role}) ${verb}${where}`, () => {
      const action: Action = cluster ? { verb, cluster } : { verb };
      assert.equal(authorize(principal, action).ok, allowed);
    });
  }

  it("says which token may not write and why", () => {
    assert.deepEqual(authorize(viewer, { verb: "write" }), {
      ok: false,
      reason: 'token "dash" is a viewer and may only read, not write',
    });
  });

  it("names the selector that hides a cluster", () => {
    assert.deepEqual(authorize(prodViewer, { verb: "read", cluster: dev }), {
      ok: false,
      reason: 'token "prod-team" may only read clusters matching "env=prod"',
    });
  });
});

describe("clusterScope", () => {
  it("shows a limited viewer only the clusters its selector matches", () => {
    const visible = clusterScope(prodViewer);
    assert.equal(visible(prod.labels), true);
    assert.equal(visible(dev.labels), false);
  });

  it("shows admins and unlimited viewers every cluster", () => {
    for (const principal of [admin, scopedAdmin, viewer]) {
      assert.equal(clusterScope(principal)(dev.labels), true);
    }
  });
});
