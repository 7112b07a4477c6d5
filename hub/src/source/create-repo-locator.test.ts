import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createRepoLocator } from "./create-repo-locator.js";

describe("createRepoLocator", () => {
  it("allows configured repositories, compared normalized, and nothing else", () => {
    const locate = createRepoLocator({ repos: [{ url: "https://github.com/org/infra.git" }] });
    const location = locate("HTTPS://github.com/org/infra/");
    assert.equal(location?.kind, "remote");
    assert.equal(location?.kind === "remote" && location.url, "https://github.com/org/infra.git");
    assert.equal(locate("https://github.com/org/infra2"), undefined);
    assert.equal(locate("https://github.com/org"), undefined);
    assert.equal(locate("file:///etc"), undefined);
  });

  it("takes credentials out of a configured URL", () => {
    const locate = createRepoLocator({ repos: [{ url: "https://bot:s3cret@git.example.com/infra.git" }] });
    const location = locate("https://git.example.com/infra");
    assert.deepEqual(location?.kind === "remote" && [location.url, location.credentials], [
      "https://git.example.com/infra.git",
      { username: "bot", password: "s3cret" },
    ]);
  });

  it("rewrites by the longest matching prefix of whole segments", () => {
    const locate = createRepoLocator({
      repos: [{ url: "https://mirror.internal/gh/org/infra.git", credentials: { token: "mirror-token" } }],
      rewrites: [
        { from: "https://github.com/org", to: "https://mirror.internal/gh/org" },
        { from: "https://github.com/org/special", to: "/srv/mirrors/special.git" },
      ],
    });
    assert.deepEqual(locate("https://github.com/org/infra.git"), {
      kind: "remote",
      key: (locate("https://mirror.internal/gh/org/infra") ?? { key: "" }).key,
      url: "https://mirror.internal/gh/org/infra.git",
      credentials: { token: "mirror-token" },
    });
    assert.equal(locate("https://github.com/org/special")?.kind, "local");
    assert.equal(locate("https://github.com/organization/infra"), undefined);
    assert.equal(locate("https://github.com/org/%2E%2E/other"), undefined);
  });

  it("never sends the rewritten URL's credentials to the mirror", () => {
    const locate = createRepoLocator({
      repos: [{ url: "https://github.com/org/infra", credentials: { token: "github-token" } }],
      rewrites: [{ from: "https://github.com/org/infra", to: "https://mirror.internal/infra.git" }],
    });
    const location = locate("https://github.com/org/infra");
    assert.equal(location?.kind === "remote" && location.credentials, undefined);
  });

  it("maps a prefix rewrite to a folder of local repositories", () => {
    const locate = createRepoLocator({
      repos: [],
      rewrites: [{ from: "https://github.com/org", to: "/srv/git" }],
    });
    const location = locate("https://github.com/org/infra.git");
    assert.equal(location?.kind === "local" && location.path, "/srv/git/infra");
    assert.match(location?.key ?? "", /^srv-git-infra-[0-9a-f]{12}$/);
  });

  it("names caches with a readable, file-name-safe key", () => {
    const locate = createRepoLocator({ repos: [{ url: "https://github.com/Org/My Repo.git" }] });
    assert.match(
      locate("https://github.com/Org/My Repo")?.key ?? "",
      /^github\.com-Org-My-20Repo-[0-9a-f]{12}$/,
    );
  });
});
