import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildQuery, buildResourcePath } from "./build-resource-path.js";
import type { ResourceInfo } from "./kube-client.js";

const deployments: ResourceInfo = {
  group: "apps",
  version: "v1",
  kind: "Deployment",
  plural: "deployments",
  namespaced: true,
};
const namespaces: ResourceInfo = {
  group: "",
  version: "v1",
  kind: "Namespace",
  plural: "namespaces",
  namespaced: false,
};

describe("buildResourcePath", () => {
  it("builds a namespaced object path under /apis", () => {
    assert.equal(
      buildResourcePath(deployments, "web", "api"),
      "/apis/apps/v1/namespaces/web/deployments/api",
    );
  });

  it("builds a collection across namespaces when no namespace is given", () => {
    assert.equal(buildResourcePath(deployments), "/apis/apps/v1/deployments");
    assert.equal(buildResourcePath(deployments, ""), "/apis/apps/v1/deployments");
  });

  it("leaves the namespace out for a cluster-scoped core kind", () => {
    assert.equal(buildResourcePath(namespaces, "ignored", "web"), "/api/v1/namespaces/web");
  });

  it("escapes names", () => {
    assert.equal(buildResourcePath(namespaces, undefined, "a/b"), "/api/v1/namespaces/a%2Fb");
  });
});

describe("buildQuery", () => {
  it("keeps defined values only", () => {
    assert.equal(
      buildQuery({ fieldManager: "flotilla agent", force: true, dryRun: undefined }),
      "?fieldManager=flotilla+agent&force=true",
    );
    assert.equal(buildQuery({ dryRun: undefined }), "");
  });
});
