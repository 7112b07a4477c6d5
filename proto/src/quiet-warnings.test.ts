import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hideIpServerNameWarning } from "./quiet-warnings.js";

describe("hideIpServerNameWarning", () => {
  it("drops DEP0123 and passes every other warning on", async () => {
    const seen: string[] = [];
    const listener = (warning: Error & { code?: string }) => seen.push(warning.code ?? warning.message);
    process.on("warning", listener);
    const original = process.emitWarning;
    try {
      hideIpServerNameWarning();
      process.emitWarning("ServerName to an IP address", "DeprecationWarning", "DEP0123");
      process.emitWarning("something else", { type: "DeprecationWarning", code: "DEP9999" });
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(seen, ["DEP9999"]);
    } finally {
      process.emitWarning = original;
      process.off("warning", listener);
    }
  });
});
