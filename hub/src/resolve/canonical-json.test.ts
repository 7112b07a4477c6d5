import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { digestOf, toCanonicalJson } from "./canonical-json.js";

/** A copy of value with every object's keys inserted in reverse order. */
function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value)
      .reverse()
      .map(([k, v]) => [k, reverseKeys(v)]),
  );
}

describe("toCanonicalJson", () => {
  it("writes JSON that parses back to the value", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        assert.deepEqual(JSON.parse(toCanonicalJson(value)), JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 500 },
    );
  });

  it("sorts keys as strings at every level, integer-like ones too", () => {
    assert.equal(
      toCanonicalJson({ b: { "10": 1, "2": 2, a: 3 }, a: [{ z: 1, y: 2 }] }),
      '{"a":[{"y":2,"z":1}],"b":{"10":1,"2":2,"a":3}}',
    );
  });

  it("does not depend on the order keys were inserted in", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        assert.equal(toCanonicalJson(reverseKeys(value)), toCanonicalJson(value));
      }),
      { numRuns: 300 },
    );
  });

  it("leaves out undefined fields and writes null for undefined items and non-finite numbers", () => {
    assert.equal(
      toCanonicalJson({ b: [undefined, Number.NaN, -0], a: undefined, c: "x\n" }),
      '{"b":[null,null,0],"c":"x\\n"}',
    );
  });

  it("gives sha256 digests", () => {
    assert.equal(digestOf({}), "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
  });
});
