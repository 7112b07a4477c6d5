import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseDuration } from "./duration.js";

describe("parseDuration", () => {
  it("reads Go-style units and their sums", () => {
    assert.equal(parseDuration("500ms", "--x"), 500);
    assert.equal(parseDuration("30s", "--x"), 30_000);
    assert.equal(parseDuration("3m", "--x"), 180_000);
    assert.equal(parseDuration("1h30m", "--x"), 5_400_000);
    assert.equal(parseDuration("7d", "--x"), 604_800_000);
  });

  it("reads a bare number as seconds", () => {
    assert.equal(parseDuration("2", "--x"), 2_000);
  });

  it("names the flag and the text when it is not a duration", () => {
    assert.throws(() => parseDuration("soon", "--timeout"), /--timeout: "soon" is not a duration/);
    assert.throws(() => parseDuration("3mx", "--timeout"), /is not a duration/);
  });
});
