import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HealthStatus, OperationPhase, SyncStatus } from "./gen/flotilla/v1/app_pb.js";
import { HEALTH_NAMES, HEALTH_STATUS, PHASE_NAMES, SYNC_NAMES, SYNC_STATUS } from "./status-names.js";

describe("status names", () => {
  it("round-trips every name and names UNSPECIFIED", () => {
    for (const [name, value] of Object.entries(SYNC_STATUS)) assert.equal(SYNC_NAMES[value], name);
    for (const [name, value] of Object.entries(HEALTH_STATUS)) assert.equal(HEALTH_NAMES[value], name);
    assert.equal(SYNC_NAMES[SyncStatus.UNSPECIFIED], "Unknown");
    assert.equal(HEALTH_NAMES[HealthStatus.UNSPECIFIED], "Unknown");
    assert.equal(HEALTH_NAMES[HealthStatus.DEGRADED], "Degraded");
    assert.equal(PHASE_NAMES[OperationPhase.FAILED], "Failed");
  });
});
