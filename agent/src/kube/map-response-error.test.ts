import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mapConnectionError, mapResponseError, mapStatusError } from "./map-response-error.js";

function status(code: number, reason: string, message: string): string {
  return JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", code, reason, message });
}

describe("mapResponseError", () => {
  const cases: [number, string, string][] = [
    [400, "BadRequest", "Invalid"],
    [401, "Unauthorized", "Unauthorized"],
    [403, "Forbidden", "Forbidden"],
    [404, "NotFound", "NotFound"],
    [409, "Conflict", "Conflict"],
    [409, "AlreadyExists", "AlreadyExists"],
    [410, "Expired", "Gone"],
    [422, "Invalid", "Invalid"],
    [429, "TooManyRequests", "Unavailable"],
    [500, "InternalError", "Unavailable"],
    [503, "ServiceUnavailable", "Unavailable"],
    [415, "UnsupportedMediaType", "Unknown"],
  ];
  for (const [code, statusReason, reason] of cases) {
    it(`maps HTTP ${code} ${statusReason} to ${reason}`, () => {
      const error = mapResponseError(
        "ConfigMap/ns/a",
        code,
        status(code, statusReason, "the server says no"),
      );
      assert.equal(error.reason, reason);
      assert.equal(error.statusCode, code);
    });
  }

  it("puts the subject before the server's message", () => {
    const error = mapResponseError("ConfigMap/ns/a", 422, status(422, "Invalid", 'ConfigMap "a" is invalid'));
    assert.equal(error.message, 'ConfigMap/ns/a: ConfigMap "a" is invalid');
  });

  it("falls back to the HTTP code and never quotes a body that is not a Status", () => {
    const error = mapResponseError("ConfigMap/ns/a", 502, "<html>Bearer abc</html>");
    assert.equal(error.message, "ConfigMap/ns/a: HTTP 502");
    assert.equal(error.reason, "Unavailable");
  });
});

describe("mapStatusError", () => {
  it("maps a watch ERROR event with code 410 to Gone", () => {
    const error = mapStatusError("Pod/*", {
      code: 410,
      reason: "Expired",
      message: "too old resource version",
    });
    assert.equal(error.reason, "Gone");
    assert.equal(error.message, "Pod/*: too old resource version");
  });
});

describe("mapConnectionError", () => {
  it("names the server and the error code", () => {
    const cause = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    const error = mapConnectionError("Pod/ns/a", "https://10.0.0.1:6443", cause);
    assert.equal(error.message, "Pod/ns/a: API server https://10.0.0.1:6443 unreachable (ECONNREFUSED)");
    assert.equal(error.reason, "Unavailable");
    assert.equal(error.cause, cause);
  });
});
