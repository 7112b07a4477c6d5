// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings hold Argo CD's ${VAR} syntax
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createAppEnv, expandAppEnv } from "./expand-app-env.js";

const env = createAppEnv({
  appName: "guestbook",
  destinationNamespace: "apps",
  project: "default",
  commit: "0123456789abcdef0123456789abcdef01234567",
  repoURL: "https://git.example.com/apps.git",
  path: "guestbook",
  targetRevision: "main",
});

describe("expandAppEnv (Go os.Expand with Argo CD's variables)", () => {
  it("replaces $NAME and ${NAME}", () => {
    assert.equal(expandAppEnv("$ARGOCD_APP_NAME-${ARGOCD_APP_NAMESPACE}", env), "guestbook-apps");
    assert.equal(
      expandAppEnv("${ARGOCD_APP_REVISION_SHORT}/${ARGOCD_APP_REVISION_SHORT_8}", env),
      "0123456/01234567",
    );
  });

  it("turns unknown variables into nothing and $$ into $", () => {
    assert.equal(expandAppEnv("pa$$word", env), "pa$word");
    assert.equal(expandAppEnv("secret$HOME!", env), "secret!");
    assert.equal(expandAppEnv("$1x", env), "x");
  });

  it("keeps a trailing or nameless $ and eats bad brace syntax", () => {
    assert.equal(expandAppEnv("cost: 5$", env), "cost: 5$");
    assert.equal(expandAppEnv("a$.b", env), "a$.b");
    assert.equal(expandAppEnv("a${}b", env), "ab");
    assert.equal(expandAppEnv("a${b", env), "ab");
  });
});
