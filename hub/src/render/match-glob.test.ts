import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compileGlob, isGlobPath, matchGlob } from "./match-glob.js";

describe("matchGlob (gobwas, as Argo CD's directory include/exclude)", () => {
  it("lets * cross directory separators", () => {
    assert.ok(matchGlob("*.yaml", "a/b/c.yaml"));
    assert.ok(matchGlob("exclude/*", "exclude/deep/x.yaml"));
    assert.ok(!matchGlob("*.yaml", "a/b/c.yml"));
  });

  it("matches the whole path, not a part", () => {
    assert.ok(!matchGlob("base", "base.yaml"));
    assert.ok(matchGlob("base*", "base.yaml"));
  });

  it("supports {a,b} alternation with patterns inside, ? and classes", () => {
    assert.ok(matchGlob("{apps/*,base.yaml}", "apps/a/app.yaml"));
    assert.ok(matchGlob("{apps/*,base.yaml}", "base.yaml"));
    assert.ok(!matchGlob("{apps/*,base.yaml}", "other.yaml"));
    assert.ok(matchGlob("v?.yaml", "v1.yaml"));
    assert.ok(matchGlob("[a-c]*.yaml", "b.yaml"));
    assert.ok(!matchGlob("[!a-c]*.yaml", "b.yaml"));
    assert.ok(matchGlob("[!a-c]*.yaml", "d.yaml"));
  });

  it("treats regex characters and escapes literally", () => {
    assert.ok(matchGlob("a+b(1).yaml", "a+b(1).yaml"));
    assert.ok(matchGlob("\\*.yaml", "*.yaml"));
    assert.ok(!matchGlob("\\*.yaml", "x.yaml"));
  });

  it("matches nothing with a malformed pattern", () => {
    assert.ok(!matchGlob("[abc", "a"));
    assert.ok(!matchGlob("{a,b", "a"));
    assert.equal(compileGlob("x\\", "gobwas"), undefined);
  });
});

describe("compileGlob (doublestar, as Helm valueFiles globs)", () => {
  const matches = (pattern: string, path: string) => compileGlob(pattern, "doublestar")?.test(path) ?? false;

  it("stops * at a separator and lets ** span directories, including none", () => {
    assert.ok(matches("values/*.yaml", "values/a.yaml"));
    assert.ok(!matches("values/*.yaml", "values/x/a.yaml"));
    assert.ok(matches("values/**/*.yaml", "values/a.yaml"));
    assert.ok(matches("values/**/*.yaml", "values/x/y/a.yaml"));
    assert.ok(matches("values/**", "values/x/y/a.yaml"));
  });

  it("says which paths are globs as Argo CD does", () => {
    assert.ok(isGlobPath("values/*.yaml"));
    assert.ok(isGlobPath("values-[ab].yaml"));
    assert.ok(!isGlobPath("values/{a,b}.yaml"));
  });
});
