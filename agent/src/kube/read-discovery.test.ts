import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readDiscovery } from "./read-discovery.js";

describe("readDiscovery", () => {
  it("reads an aggregated APIGroupDiscoveryList, skipping nothing but subresources", () => {
    const doc = readDiscovery({
      kind: "APIGroupDiscoveryList",
      items: [
        {
          metadata: { name: "apps" },
          versions: [
            {
              version: "v1",
              resources: [
                {
                  resource: "deployments",
                  responseKind: { group: "", version: "", kind: "Deployment" },
                  scope: "Namespaced",
                  subresources: [{ subresource: "scale", responseKind: { kind: "Scale" } }],
                },
              ],
            },
          ],
        },
        {
          metadata: {},
          versions: [
            {
              version: "v1",
              resources: [{ resource: "nodes", responseKind: { kind: "Node" }, scope: "Cluster" }],
            },
          ],
        },
      ],
    });
    assert.deepEqual(doc, {
      resources: [
        { group: "apps", version: "v1", kind: "Deployment", plural: "deployments", namespaced: true },
        { group: "", version: "v1", kind: "Node", plural: "nodes", namespaced: false },
      ],
      groupVersions: [],
    });
  });

  it("lists the group versions of legacy APIVersions and APIGroupList", () => {
    assert.deepEqual(readDiscovery({ kind: "APIVersions", versions: ["v1"] }).groupVersions, ["v1"]);
    const groups = readDiscovery({
      kind: "APIGroupList",
      groups: [{ name: "apps", versions: [{ groupVersion: "apps/v1", version: "v1" }] }],
    });
    assert.deepEqual(groups, { resources: [], groupVersions: ["apps/v1"] });
  });

  it("reads a legacy APIResourceList without subresources", () => {
    const doc = readDiscovery({
      kind: "APIResourceList",
      groupVersion: "v1",
      resources: [
        { name: "pods", kind: "Pod", namespaced: true },
        { name: "pods/log", kind: "Pod", namespaced: true },
        { name: "namespaces", kind: "Namespace", namespaced: false },
      ],
    });
    assert.deepEqual(doc.resources, [
      { group: "", version: "v1", kind: "Pod", plural: "pods", namespaced: true },
      { group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false },
    ]);
  });

  it("reads anything else as empty", () => {
    assert.deepEqual(readDiscovery("nonsense"), { resources: [], groupVersions: [] });
  });
});
