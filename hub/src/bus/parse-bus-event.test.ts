import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { BusEvent } from "./bus.js";
import { parseBusEvent } from "./parse-bus-event.js";

const valid: BusEvent[] = [
  { type: "targets-changed", clusterId: "c1", apps: ["web", "db"], seq: "18446744073709551617" },
  {
    type: "status",
    clusterId: "c1",
    app: "web",
    digest: "sha256:ab",
    sync: "Synced",
    health: "Healthy",
    observedAt: "2025-01-01T00:00:00.000Z",
    revision: "",
    message: "",
  },
  {
    type: "cluster",
    clusterId: "c1",
    state: "Disconnected",
    replica: "hub-0",
    at: "2025-01-01T00:00:00.000Z",
  },
  { type: "sync-request", clusterId: "c1", app: "web", requestId: "r-1" },
  { type: "cluster-changed", clusterId: "c1" },
  { type: "refresh", requestId: "r-2", source: "", hard: true },
  { type: "resolved", requestId: "", changedTargets: 3, error: "" },
  { type: "rotate-credential", clusterId: "c1", requestId: "r-3", graceMs: 60_000 },
  { type: "credential-rotated", clusterId: "c1", requestId: "r-3", delivered: false },
];

describe("parseBusEvent", () => {
  it("reads every event type back as it was written", () => {
    for (const event of valid) assert.deepEqual(parseBusEvent(JSON.parse(JSON.stringify(event))), event);
  });

  it("drops fields it does not know, so newer replicas may add some", () => {
    assert.deepEqual(parseBusEvent({ ...valid[3], priority: "high" }), valid[3]);
  });

  it("rejects unknown types, missing or mistyped fields, and non-objects", () => {
    const invalid: unknown[] = [
      null,
      "status",
      [valid[0]],
      { type: "bogus", clusterId: "c1" },
      { type: "toString", clusterId: "c1" },
      { ...valid[0], seq: "-1" },
      { ...valid[0], seq: 1 },
      { ...valid[0], apps: ["web", 3] },
      { ...valid[1], health: undefined },
      { ...valid[2], state: "Stale" },
      { ...valid[3], clusterId: "" },
    ];
    for (const value of invalid) assert.equal(parseBusEvent(value), undefined, JSON.stringify(value));
  });
});
