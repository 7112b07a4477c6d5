import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsageError } from "./command.js";
import { parseLabelChanges } from "./parse-label-changes.js";

describe("parseLabelChanges", () => {
  it("reads key=value as a label to set and key- as one to remove, kubectl style", () => {
    assert.deepEqual(parseLabelChanges(["a=b", "c-", "example.com/tier=web", "empty="]), {
      set: { a: "b", "example.com/tier": "web", empty: "" },
      remove: ["c"],
    });
  });

  for (const [what, args, message] of [
    ["a bare word", ["c"], /label "c" must look like key=value \(set\) or key- \(remove\)/],
    ["an invalid key", ["-x=1"], /label "-x=1": key "-x": name part must/],
    ["an invalid value", ["a=b c"], /label "a=b c": value "b c"/],
    ["a key set and removed", ["a=1", "a-"], /label key "a" is given twice/],
    ["a removal without a key", ["-"], /label "-": key ""/],
  ] as const) {
    it(`refuses ${what} with a usage error naming the argument`, () => {
      assert.throws(
        () => parseLabelChanges(args),
        (error: Error) => error instanceof UsageError && message.test(error.message),
      );
    });
  }
});
