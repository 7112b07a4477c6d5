import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatUnifiedDiff } from "./unified-diff.js";

describe("formatUnifiedDiff", () => {
  it("is empty for equal texts", () => {
    assert.equal(formatUnifiedDiff("a\nb\n", "a\nb\n"), "");
  });

  it("shows a changed line with its context", () => {
    const before = "kind: Deployment\nspec:\n  replicas: 1\n  paused: false\n";
    const after = "kind: Deployment\nspec:\n  replicas: 3\n  paused: false\n";
    assert.equal(
      formatUnifiedDiff(before, after),
      "@@ -1,4 +1,4 @@\n kind: Deployment\n spec:\n-  replicas: 1\n+  replicas: 3\n   paused: false\n",
    );
  });

  it("splits distant changes into separate hunks", () => {
    const lines = Array.from({ length: 30 }, (_, i) => `line ${i}`);
    const changed = [...lines];
    changed[2] = "changed 2";
    changed[25] = "changed 25";
    const diff = formatUnifiedDiff(`${lines.join("\n")}\n`, `${changed.join("\n")}\n`, 2);
    assert.equal(diff.match(/^@@/gm)?.length, 2);
    assert.match(diff, /^-line 2\n\+changed 2$/m);
    assert.match(diff, /^-line 25\n\+changed 25$/m);
  });

  it("handles additions at the end and removals at the start", () => {
    assert.equal(formatUnifiedDiff("a\nb\n", "b\nc\n", 1), "@@ -1,2 +1,2 @@\n-a\n b\n+c\n");
  });
});
