import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { matchGitPathspec, matchGoPath } from "./match-path.js";

describe("matchGoPath", () => {
  it("matches * and ? within one path segment only", () => {
    assert.equal(matchGoPath("apps/*", "apps/web"), true);
    assert.equal(matchGoPath("apps/*", "apps/web/templates"), false);
    assert.equal(matchGoPath("apps/w?b", "apps/web"), true);
    assert.equal(matchGoPath("*", "a/b"), false);
  });

  it("matches classes, ranges, negation and escapes", () => {
    assert.equal(matchGoPath("env-[a-c]", "env-b"), true);
    assert.equal(matchGoPath("env-[^a-c]", "env-b"), false);
    assert.equal(matchGoPath("a\\*b", "a*b"), true);
    assert.equal(matchGoPath("a\\*b", "axb"), false);
  });

  it("matches nothing with a malformed pattern (Go's ErrBadPattern)", () => {
    assert.equal(matchGoPath("apps/[", "apps/["), false);
    assert.equal(matchGoPath("[]a]", "]"), false);
    assert.equal(matchGoPath("a\\", "a"), false);
  });
});

describe("matchGitPathspec", () => {
  it("lets * and ** cross directories, as git ls-files does without :(glob)", () => {
    assert.equal(
      matchGitPathspec("cluster-config/**/config.json", "cluster-config/engineering/dev/config.json"),
      true,
    );
    assert.equal(matchGitPathspec("cluster-config/*.json", "cluster-config/a/b.json"), true);
    assert.equal(matchGitPathspec("cluster-config/**/config.json", "cluster-config/config.json"), false);
  });

  it("matches a literal path exactly or as a leading directory", () => {
    assert.equal(matchGitPathspec("apps/config.yaml", "apps/config.yaml"), true);
    assert.equal(matchGitPathspec("apps", "apps/a/config.yaml"), true);
    assert.equal(matchGitPathspec("app", "apps/config.yaml"), false);
  });

  it("matches classes with ! or ^ negation and a leading ]", () => {
    assert.equal(matchGitPathspec("env-[!a]/*.json", "env-b/x.json"), true);
    assert.equal(matchGitPathspec("env-[]x]", "env-]"), true);
    assert.equal(matchGitPathspec("f[[:digit:]].yaml", "f7.yaml"), true);
  });
});
