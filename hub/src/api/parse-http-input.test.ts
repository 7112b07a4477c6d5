import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HealthStatus, SyncStatus } from "@flotilla/proto/gen/flotilla/v1/app_pb";
import {
  GetFleetStatusRequestSchema,
  LabelClusterRequestSchema,
  ListEventsRequestSchema,
  RotateClusterCredentialRequestSchema,
} from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { BadRequestError, parseHttpInput } from "./parse-http-input.js";

const none = { params: {}, query: new URLSearchParams(), body: "" };

function badRequest(pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof BadRequestError, `expected a BadRequestError, got ${String(error)}`);
    assert.match(error.message, pattern);
    return true;
  };
}

describe("parseHttpInput", () => {
  it("reads query parameters by JSON or proto name, with short enum names and repeats", () => {
    const query = new URLSearchParams(
      "selector=env%3Dprod&health=Degraded&health=progressing&sync=OutOfSync,SYNC_STATUS_UNKNOWN&problemsOnly&page_size=5",
    );

    const request = parseHttpInput(GetFleetStatusRequestSchema, { ...none, query });

    assert.equal(request.selector, "env=prod");
    assert.deepEqual(request.health, [HealthStatus.DEGRADED, HealthStatus.PROGRESSING]);
    assert.deepEqual(request.sync, [SyncStatus.OUT_OF_SYNC, SyncStatus.UNKNOWN]);
    assert.equal(request.problemsOnly, true);
    assert.equal(request.pageSize, 5);
  });

  it("reads timestamps from the query", () => {
    const query = new URLSearchParams("since=2025-06-01T10:00:00Z");

    assert.equal(parseHttpInput(ListEventsRequestSchema, { ...none, query }).since?.seconds, 1748772000n);
  });

  it("merges the body and the path, refusing a body that contradicts the path", () => {
    const body = JSON.stringify({ set: { env: "prod" }, remove: ["old"] });

    const request = parseHttpInput(LabelClusterRequestSchema, { ...none, params: { name: "edge-1" }, body });

    assert.deepEqual([request.name, request.set, request.remove], ["edge-1", { env: "prod" }, ["old"]]);
    assert.throws(
      () =>
        parseHttpInput(LabelClusterRequestSchema, {
          ...none,
          params: { name: "edge-1" },
          body: '{"name":"edge-2"}',
        }),
      badRequest(/"name" is "edge-2" in the request but "edge-1" in the path/),
    );
  });

  it("reads durations in the protobuf JSON form", () => {
    const request = parseHttpInput(RotateClusterCredentialRequestSchema, {
      ...none,
      body: '{"grace":"90s"}',
    });

    assert.equal(request.grace?.seconds, 90n);
  });

  it("names an unknown field, query parameter or enum value", () => {
    assert.throws(
      () => parseHttpInput(LabelClusterRequestSchema, { ...none, body: '{"labels":{}}' }),
      badRequest(/"labels" is unknown/),
    );
    assert.throws(
      () =>
        parseHttpInput(GetFleetStatusRequestSchema, { ...none, query: new URLSearchParams("colour=red") }),
      badRequest(/query parameter "colour" is not a field/),
    );
    assert.throws(
      () =>
        parseHttpInput(GetFleetStatusRequestSchema, { ...none, query: new URLSearchParams("health=Fine") }),
      badRequest(/"Fine" is not one of HEALTHY, PROGRESSING/),
    );
  });

  it("refuses a body that is not a JSON object", () => {
    assert.throws(
      () => parseHttpInput(LabelClusterRequestSchema, { ...none, body: "{" }),
      badRequest(/not valid JSON/),
    );
    assert.throws(
      () => parseHttpInput(LabelClusterRequestSchema, { ...none, body: "[]" }),
      badRequest(/JSON object/),
    );
  });
});
