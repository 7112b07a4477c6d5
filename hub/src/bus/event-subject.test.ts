import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkSubjectPrefix, encodeSubjectToken, eventSubject } from "./event-subject.js";

describe("eventSubject", () => {
  it("routes each event type to <prefix>.<kind>.<clusterId>", () => {
    assert.equal(
      eventSubject("flotilla", { type: "targets-changed", clusterId: "prod-1", apps: [], seq: "1" }),
      "flotilla.targets.prod-1",
    );
    assert.equal(
      eventSubject("a.b", { type: "sync-request", clusterId: "c_1", app: "web", requestId: "r" }),
      "a.b.sync.c_1",
    );
  });

  it("escapes characters a subject token cannot hold, unambiguously", () => {
    assert.equal(encodeSubjectToken("eu.west"), "eu%2Ewest");
    assert.equal(encodeSubjectToken("a*b>c d"), "a%2Ab%3Ec%20d");
    assert.equal(encodeSubjectToken("50%"), "50%25");
    assert.equal(encodeSubjectToken("ü"), "%C3%BC");
  });

  it("refuses a prefix with wildcards or empty tokens", () => {
    for (const prefix of ["", "a.", "a..b", "a.*", "a.>", "a b"]) {
      assert.throws(() => checkSubjectPrefix(prefix), /subject prefix/, prefix);
    }
    checkSubjectPrefix("flotilla.test-1");
  });
});
