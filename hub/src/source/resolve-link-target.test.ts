import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveLinkTarget } from "./resolve-link-target.js";

function resolveIn(links: Record<string, string>, path: string): string | undefined {
  return resolveLinkTarget(path, links[path] ?? "", (p) => links[p]);
}

describe("resolveLinkTarget", () => {
  it("resolves relative targets inside the tree", () => {
    const links = { "overlay/base": "../base", "a/b/c": "./d/e", top: "apps/../apps/x", up: ".." };
    assert.equal(resolveIn(links, "overlay/base"), "base");
    assert.equal(resolveIn(links, "a/b/c"), "a/b/d/e");
    assert.equal(resolveIn(links, "top"), "apps/x");
    assert.equal(resolveIn({ "a/up": ".." }, "a/up"), "");
  });

  it("refuses absolute targets and targets that climb above the root", () => {
    assert.equal(resolveIn({ passwd: "/etc/passwd" }, "passwd"), undefined);
    assert.equal(resolveIn({ "a/passwd": "../../etc/passwd" }, "a/passwd"), undefined);
    assert.equal(resolveIn({ "a/x": "../b/../../c" }, "a/x"), undefined);
    assert.equal(resolveIn({ empty: "" }, "empty"), undefined);
  });

  it("follows other links, so a link to . cannot smuggle a .. past the root", () => {
    const links = { "d/self": ".", "d/sneaky": "self/../../etc", root: ".", r2: "root/../x" };
    // Lexically d/self/../../etc is etc, inside; d/self is d, so it really is d/../../etc.
    assert.equal(resolveIn(links, "d/sneaky"), undefined);
    assert.equal(resolveIn(links, "r2"), undefined);
    assert.equal(resolveIn({ "a/b": "../c/d", c: "a/e", "a/x": "b/f" }, "a/x"), "a/e/d/f");
  });

  it("gives up on loops", () => {
    assert.equal(resolveIn({ a: "b", b: "a" }, "a"), undefined);
    assert.equal(resolveIn({ a: "a/x" }, "a"), undefined);
  });

  it("treats missing parts as folders that might appear later", () => {
    assert.equal(resolveIn({ "a/x": "missing/../../y" }, "a/x"), "y");
    assert.equal(resolveIn({ x: "missing/../../y" }, "x"), undefined);
  });
});
