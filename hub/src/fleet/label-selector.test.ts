import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatLabelSelector, matchesSelector, parseLabelSelector } from "./label-selector.js";

const matches = (selector: string, labels: Record<string, string>) =>
  matchesSelector(parseLabelSelector(selector), labels);

describe("parseLabelSelector", () => {
  it("parses every operator into metav1 operator names", () => {
    const selector = parseLabelSelector(
      "a=1, b==2, c!=3, d in (x, y), e notin (z), f, !g, h>4, i<-5, example.com/team=core",
    );
    assert.deepEqual(selector.requirements, [
      { key: "a", operator: "Equals", values: ["1"] },
      { key: "b", operator: "Equals", values: ["2"] },
      { key: "c", operator: "NotEquals", values: ["3"] },
      { key: "d", operator: "In", values: ["x", "y"] },
      { key: "e", operator: "NotIn", values: ["z"] },
      { key: "f", operator: "Exists", values: [] },
      { key: "g", operator: "DoesNotExist", values: [] },
      { key: "h", operator: "GreaterThan", values: ["4"] },
      { key: "i", operator: "LessThan", values: ["-5"] },
      { key: "example.com/team", operator: "Equals", values: ["core"] },
    ]);
  });

  it("reads the empty and the blank selector as no requirements", () => {
    assert.deepEqual(parseLabelSelector("").requirements, []);
    assert.deepEqual(parseLabelSelector("   ").requirements, []);
  });

  it("reads `a=` as the empty value, as labels.Parse does", () => {
    assert.deepEqual(parseLabelSelector("a=,b=x").requirements, [
      { key: "a", operator: "Equals", values: [""] },
      { key: "b", operator: "Equals", values: ["x"] },
    ]);
  });

  it("takes `in` and `notin` as keys where a key is expected", () => {
    assert.deepEqual(parseLabelSelector("in=x,notin").requirements, [
      { key: "in", operator: "Equals", values: ["x"] },
      { key: "notin", operator: "Exists", values: [] },
    ]);
  });

  const errors: [string, RegExp][] = [
    ["env in (a", /at column 10: expected "," or "\)", found the end/],
    ["env in a", /at column 8: expected "\(" after in, found "a"/],
    ["env in ()", /at column 9: expected a value, found "\)"/],
    ["env in (a,)", /at column 11: expected a value, found "\)"/],
    ["env=prod,", /at column 10: expected a label key, found the end/],
    [",env", /at column 1: expected a label key, found ","/],
    ["env prod", /at column 5: expected an operator .* found "prod"/],
    ["env=prod tier=web", /at column 10: expected "," or the end, found "tier"/],
    ["env=a b", /at column 7: expected "," or the end/],
    ["-bad=x", /at column 1: key "-bad": name part/],
    ["Example.com/x=y", /at column 1: key "Example.com\/x": prefix part/],
    ["a/b/c", /at column 1: key "a\/b\/c": a qualified name/],
    ["env=-prod", /at column 5: value "-prod": a valid label/],
    [`env=${"x".repeat(64)}`, /at column 5: value "x+": a valid label/],
    ["count>many", /at column 7: "many" is not an integer/],
    ["!", /at column 2: expected a label key, found the end/],
    ["a!b", /at column 2: expected an operator .* found "!"/],
  ];
  for (const [text, message] of errors) {
    it(`refuses ${JSON.stringify(text)}, naming the column`, () => {
      assert.throws(
        () => parseLabelSelector(text),
        (error: Error) => {
          assert.match(error.message, new RegExp(`^label selector ${escapeRegExp(JSON.stringify(text))} `));
          assert.match(error.message, message);
          return true;
        },
      );
    });
  }
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

describe("matchesSelector", () => {
  const prod = { env: "prod", tier: "web", replicas: "3" };

  it("matches everything with no requirements", () => {
    assert.equal(matches("", {}), true);
    assert.equal(matches("", prod), true);
  });

  it("ANDs the requirements", () => {
    assert.equal(matches("env=prod,tier=web", prod), true);
    assert.equal(matches("env=prod,tier=db", prod), false);
  });

  it("requires the key for = and in", () => {
    assert.equal(matches("region=eu", prod), false);
    assert.equal(matches("region in (eu,us)", prod), false);
    assert.equal(matches("tier in (db,web)", prod), true);
  });

  it("holds != and notin when the key is absent, as Kubernetes does", () => {
    assert.equal(matches("region!=eu", prod), true);
    assert.equal(matches("region notin (eu)", prod), true);
    assert.equal(matches("env!=prod", prod), false);
    assert.equal(matches("env notin (dev,prod)", prod), false);
  });

  it("tests presence with a bare key and absence with !", () => {
    assert.equal(matches("env", prod), true);
    assert.equal(matches("!env", prod), false);
    assert.equal(matches("!region", prod), true);
  });

  it("tells an empty value from a missing key", () => {
    assert.equal(matches("edge=", { edge: "" }), true);
    assert.equal(matches("edge=", {}), false);
    assert.equal(matches("edge", { edge: "" }), true);
  });

  it("compares integers with > and <, and never matches a non-integer value", () => {
    assert.equal(matches("replicas>2", prod), true);
    assert.equal(matches("replicas>3", prod), false);
    assert.equal(matches("replicas<10", prod), true);
    assert.equal(matches("env>1", prod), false);
    assert.equal(matches("missing<1", prod), false);
  });

  it("does not see inherited properties as labels", () => {
    assert.equal(matches("constructor", {}), false);
    assert.equal(matches("toString notin (x)", {}), true);
  });
});

describe("formatLabelSelector", () => {
  it("renders a selector that parses back to the same requirements", () => {
    const text = "a=1,b!=2,c in (x,y),d notin (z),e,!f,g>1,h<2,i=";
    const selector = parseLabelSelector(text);
    assert.equal(formatLabelSelector(selector), text);
    assert.deepEqual(parseLabelSelector(formatLabelSelector(selector)), selector);
  });
});
