import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  encodeGoJson,
  formatFloat,
  formatGoValue,
  GoInt,
  quoteGoString,
  sliceUtf8,
  tagGoType,
} from "./go-value.js";

describe("formatFloat", () => {
  it("prints %v like Go: shortest digits, exponent from 1e+06 and below 1e-04", () => {
    const cases: [number, string][] = [
      [0, "0"],
      [-0, "-0"],
      [1, "1"],
      [0.1, "0.1"],
      [123456, "123456"],
      [1e6, "1e+06"],
      [12345678, "1.2345678e+07"],
      [0.0001, "0.0001"],
      [0.00001, "1e-05"],
      [1e21, "1e+21"],
      [5e-324, "5e-324"],
      [Number.POSITIVE_INFINITY, "+Inf"],
      [Number.NaN, "NaN"],
    ];
    for (const [value, expected] of cases) assert.equal(formatFloat(value, "g", -1), expected, String(value));
  });

  it("formats with a precision, rounding half to even on the exact binary value", () => {
    assert.equal(formatFloat(2.5, "f", 0), "2");
    assert.equal(formatFloat(0.125, "f", 2), "0.12");
    assert.equal(formatFloat(1.005, "f", 2), "1.00");
    assert.equal(formatFloat(123.456, "e", 2), "1.23e+02");
    assert.equal(formatFloat(123.456, "g", 4), "123.5");
    assert.equal(formatFloat(0.000012345, "g", 3), "1.23e-05");
  });

  it("prints every finite double so that it reads back as the same double", () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (value) => {
        assert.ok(Object.is(Number(formatFloat(value, "g", -1)), value));
      }),
    );
  });
});

describe("Go values", () => {
  it("prints values with %v: slices with spaces, maps with sorted keys, nil as <nil>", () => {
    assert.equal(formatGoValue([1, "a", null, [new GoInt(2n)]]), "[1 a <nil> [2]]");
    assert.equal(formatGoValue({ b: 1, a: { c: true }, "10": 0, "9": 0 }), "map[10:0 9:0 a:map[c:true] b:1]");
  });

  it("encodes JSON as encoding/json does: sorted keys, HTML escaped, U+2028 escaped", () => {
    assert.equal(
      encodeGoJson({ b: "<&>", a: [1, 1.5, new GoInt(3n)], "10": "\u2028" }, { escapeHTML: true }),
      '{"10":"\\u2028","a":[1,1.5,3],"b":"\\u003c\\u0026\\u003e"}',
    );
    assert.throws(() => encodeGoJson(Number.NaN, { escapeHTML: true }), /unsupported value: NaN/);
  });

  it("quotes like strconv.Quote and slices strings by UTF-8 bytes", () => {
    assert.equal(quoteGoString('a"\n\x01é\u00a0'), '"a\\"\\n\\x01é\\u00a0"');
    assert.equal(sliceUtf8("héllo", 0, 3), "hé");
    assert.equal(sliceUtf8("héllo", 0, 2), "h\ufffd");
  });

  it("keeps container types through tagging", () => {
    const labels = tagGoType({ a: "b" }, "map[string]string");
    assert.equal(formatGoValue(labels), "map[a:b]");
  });
});
