import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { findLocalRepoPath, normalizeRepoUrl, redactRepoUrl } from "./normalize-repo-url.js";

describe("normalizeRepoUrl", () => {
  it("lower-cases scheme and host, keeps the path's case, drops a trailing / and .git", () => {
    assert.equal(
      normalizeRepoUrl("HTTPS://GitHub.com/ArgoProj/Argo-CD.git/"),
      "https://github.com/ArgoProj/Argo-CD",
    );
    assert.equal(
      normalizeRepoUrl(" https://github.com/argoproj/argo-cd "),
      "https://github.com/argoproj/argo-cd",
    );
    assert.equal(normalizeRepoUrl("https://git.example.com:443/infra"), "https://git.example.com/infra");
    assert.equal(normalizeRepoUrl("http://127.0.0.1:8080/infra.git"), "http://127.0.0.1:8080/infra");
  });

  it("drops credentials and the fragment", () => {
    assert.equal(
      normalizeRepoUrl("https://x-access-token:ghp_secret@github.com/org/repo.git#main"),
      "https://github.com/org/repo",
    );
  });

  it("writes scp-like and ssh:// URLs alike, without the user", () => {
    assert.equal(normalizeRepoUrl("git@github.com:org/repo.git"), "ssh://github.com/org/repo");
    assert.equal(normalizeRepoUrl("ssh://git@GitHub.com/org/repo"), "ssh://github.com/org/repo");
  });

  it("writes local paths and file: URLs alike", () => {
    assert.equal(normalizeRepoUrl("/srv/repos/infra.git"), "file:///srv/repos/infra");
    assert.equal(normalizeRepoUrl("file:///srv/repos/infra/"), "file:///srv/repos/infra");
    assert.equal(normalizeRepoUrl("/srv/repos/../repos/infra"), "file:///srv/repos/infra");
  });
});

describe("findLocalRepoPath", () => {
  it("recognises paths and file: URLs, nothing else", () => {
    assert.equal(findLocalRepoPath("file:///srv/infra"), "/srv/infra");
    assert.equal(findLocalRepoPath("/srv/infra/"), "/srv/infra");
    assert.equal(findLocalRepoPath("https://github.com/org/repo"), undefined);
    assert.equal(findLocalRepoPath("git@github.com:org/repo"), undefined);
  });
});

describe("redactRepoUrl", () => {
  it("removes user info, query and fragment", () => {
    assert.equal(
      redactRepoUrl("https://user:hunter2@git.example.com/infra.git"),
      "https://git.example.com/infra.git",
    );
    assert.equal(
      redactRepoUrl("https://gitlab.example.com/infra.git?private_token=abc"),
      "https://gitlab.example.com/infra.git",
    );
    assert.equal(redactRepoUrl("https://user:pa ss@bad host/x"), "https://bad host/x");
  });
});
