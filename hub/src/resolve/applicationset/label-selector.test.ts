import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compileLabelSelector } from "./label-selector.js";

const lenient = { validateValues: false };

describe("compileLabelSelector", () => {
  it("matches everything when empty and requires every matchLabels entry", () => {
    assert.equal(compileLabelSelector({}, lenient)({ a: "1" }), true);
    const match = compileLabelSelector({ matchLabels: { env: "prod", tier: "web" } }, lenient);
    assert.equal(match({ env: "prod", tier: "web", x: "y" }), true);
    assert.equal(match({ env: "prod" }), false);
  });

  it("applies In, NotIn, Exists and DoesNotExist; NotIn and DoesNotExist match a missing key", () => {
    const select = (operator: string, values?: string[]) =>
      compileLabelSelector({ matchExpressions: [{ key: "env", operator, values }] }, lenient);
    assert.deepEqual(
      [
        select("In", ["a", "b"])({ env: "b" }),
        select("In", ["a"])({}),
        select("NotIn", ["a"])({}),
        select("NotIn", ["a"])({ env: "a" }),
      ],
      [true, false, true, false],
    );
    assert.deepEqual(
      [select("Exists")({ env: "" }), select("DoesNotExist")({}), select("DoesNotExist")({ env: "x" })],
      [true, true, false],
    );
  });

  it("rejects bad operators, value sets and keys", () => {
    assert.throws(
      () =>
        compileLabelSelector({ matchExpressions: [{ key: "a", operator: "Gt", values: ["1"] }] }, lenient),
      /not a valid label selector operator/,
    );
    assert.throws(
      () => compileLabelSelector({ matchExpressions: [{ key: "a", operator: "In", values: [] }] }, lenient),
      /can't be empty/,
    );
    assert.throws(
      () =>
        compileLabelSelector(
          { matchExpressions: [{ key: "a", operator: "Exists", values: ["x"] }] },
          lenient,
        ),
      /must be empty/,
    );
    assert.throws(
      () => compileLabelSelector({ matchLabels: { ".bad": "x" } }, lenient),
      /name part must consist/,
    );
  });

  it("checks values as label values only when asked (the clusters generator)", () => {
    const selector = { matchLabels: { server: "https://x" } };
    assert.equal(compileLabelSelector(selector, lenient)({ server: "https://x" }), true);
    assert.throws(() => compileLabelSelector(selector, { validateValues: true }), /a valid label must be/);
  });
});
