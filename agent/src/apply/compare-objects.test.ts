import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { IgnoreDifference } from "../desired/desired-app.js";
import type { KubeObject } from "../kube/kube-object.js";
import {
  compareWithLive,
  matchingIgnores,
  normalizeForCompare,
  removeIgnoredFields,
  respectIgnoredFields,
} from "./compare-objects.js";

function ignore(fields: Partial<IgnoreDifference>): IgnoreDifference {
  return {
    group: "apps",
    kind: "Deployment",
    name: "",
    namespace: "",
    jsonPointers: [],
    jqPathExpressions: [],
    managedFieldsManagers: [],
    ...fields,
  };
}

function desiredDeployment(): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "guestbook-ui", namespace: "guestbook", labels: { app: "guestbook-ui" } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: "guestbook-ui" } },
      template: {
        metadata: { labels: { app: "guestbook-ui" } },
        spec: { containers: [{ name: "guestbook-ui", image: "gcr.io/heptio-images/ks-guestbook-demo:0.2" }] },
      },
    },
  };
}

/** What the API server returns for the deployment after an HPA scaled it and istio injected a sidecar. */
function liveDeployment(): KubeObject {
  const live = desiredDeployment();
  return {
    ...live,
    metadata: {
      ...live.metadata,
      uid: "0b6f5e2c-1",
      resourceVersion: "1234",
      generation: 3,
      creationTimestamp: "2025-09-09T10:00:00Z",
      annotations: { "deployment.kubernetes.io/revision": "2" },
      managedFields: [
        {
          manager: "argocd-controller",
          operation: "Apply",
          apiVersion: "apps/v1",
          fieldsType: "FieldsV1",
          fieldsV1: {
            "f:metadata": { "f:labels": { "f:app": {} } },
            "f:spec": {
              "f:selector": {},
              "f:template": {
                "f:metadata": { "f:labels": { "f:app": {} } },
                "f:spec": {
                  "f:containers": { 'k:{"name":"guestbook-ui"}': { ".": {}, "f:image": {}, "f:name": {} } },
                },
              },
            },
          },
        },
        {
          manager: "kube-controller-manager",
          operation: "Update",
          apiVersion: "apps/v1",
          fieldsType: "FieldsV1",
          fieldsV1: {
            "f:metadata": { "f:annotations": { ".": {}, "f:deployment.kubernetes.io/revision": {} } },
            "f:status": { "f:replicas": {} },
          },
          subresource: "status",
        },
        {
          manager: "hpa-controller",
          operation: "Update",
          apiVersion: "apps/v1",
          fieldsType: "FieldsV1",
          fieldsV1: { "f:spec": { "f:replicas": {} } },
          subresource: "scale",
        },
        {
          manager: "sidecar-injector",
          operation: "Update",
          apiVersion: "apps/v1",
          fieldsType: "FieldsV1",
          fieldsV1: {
            "f:spec": {
              "f:template": {
                "f:spec": {
                  "f:containers": {
                    'k:{"name":"istio-proxy"}': { ".": {}, "f:image": {}, "f:name": {}, "f:args": {} },
                  },
                  "f:finalizers": { 'v:"istio.io/cleanup"': {} },
                },
              },
            },
          },
        },
      ],
    },
    spec: {
      ...(live.spec as object),
      replicas: 5,
      template: {
        metadata: { labels: { app: "guestbook-ui" } },
        spec: {
          containers: [
            { name: "guestbook-ui", image: "gcr.io/heptio-images/ks-guestbook-demo:0.2" },
            { name: "istio-proxy", image: "docker.io/istio/proxyv2:1.20", args: ["proxy", "sidecar"] },
          ],
          finalizers: ["keep", "istio.io/cleanup"],
        },
      },
    },
    status: { replicas: 5, readyReplicas: 5 },
  };
}

describe("normalizeForCompare", () => {
  it("drops server-set metadata, status and last-applied-configuration", () => {
    const live: KubeObject = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: "settings",
        namespace: "guestbook",
        uid: "u",
        resourceVersion: "9",
        generation: 1,
        creationTimestamp: "2025-01-01T00:00:00Z",
        selfLink: "/api/v1/namespaces/guestbook/configmaps/settings",
        managedFields: [{ manager: "kubectl" }],
        annotations: { "kubectl.kubernetes.io/last-applied-configuration": "{}" },
        labels: {},
      },
      data: { mode: "blue" },
      status: { phase: "x" },
    };
    assert.deepEqual(normalizeForCompare(live), {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "settings", namespace: "guestbook" },
      data: { mode: "blue" },
    });
  });

  it("removes null-valued fields at any depth but keeps list elements", () => {
    const obj: KubeObject = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "p", labels: { a: "1" } },
      spec: { nodeName: null, containers: [{ name: "c", resources: { limits: null } }], list: [null, 1] },
    };
    assert.deepEqual(normalizeForCompare(obj).spec, {
      containers: [{ name: "c", resources: {} }],
      list: [null, 1],
    });
    assert.deepEqual(normalizeForCompare(obj).metadata.labels, { a: "1" });
  });

  it("does not change its input", () => {
    const live = liveDeployment();
    const before = structuredClone(live);
    normalizeForCompare(live);
    assert.deepEqual(live, before);
  });
});

describe("matchingIgnores", () => {
  const deployment = desiredDeployment();

  it("matches group and kind exactly", () => {
    assert.equal(matchingIgnores([ignore({})], deployment).length, 1);
    assert.equal(matchingIgnores([ignore({ kind: "StatefulSet" })], deployment).length, 0);
  });

  it("matches group and kind by glob", () => {
    assert.equal(matchingIgnores([ignore({ group: "*", kind: "*" })], deployment).length, 1);
    assert.equal(matchingIgnores([ignore({ group: "app?", kind: "Deploy*" })], deployment).length, 1);
    assert.equal(matchingIgnores([ignore({ group: "{apps,batch}", kind: "[DS]*" })], deployment).length, 1);
  });

  it("treats an empty group as the core group, as Argo CD's glob does", () => {
    assert.equal(matchingIgnores([ignore({ group: "" })], deployment).length, 0);
    const service: KubeObject = { apiVersion: "v1", kind: "Service", metadata: { name: "s" } };
    assert.equal(matchingIgnores([ignore({ group: "", kind: "Service" })], service).length, 1);
  });

  it("matches name and namespace exactly or when empty", () => {
    assert.equal(
      matchingIgnores([ignore({ name: "guestbook-ui", namespace: "guestbook" })], deployment).length,
      1,
    );
    assert.equal(matchingIgnores([ignore({ name: "other" })], deployment).length, 0);
    assert.equal(matchingIgnores([ignore({ namespace: "other" })], deployment).length, 0);
  });
});

describe("removeIgnoredFields", () => {
  it("removes a JSON pointer, as the /spec/replicas example", () => {
    const result = removeIgnoredFields(liveDeployment(), [ignore({ jsonPointers: ["/spec/replicas"] })]);
    assert.equal((result.spec as { replicas?: number }).replicas, undefined);
  });

  it("decodes ~1 and ~0 in JSON pointers", () => {
    const obj = liveDeployment();
    const result = removeIgnoredFields(obj, [
      ignore({ jsonPointers: ["/metadata/annotations/deployment.kubernetes.io~1revision"] }),
    ]);
    assert.deepEqual(result.metadata.annotations, {});
  });

  it("removes a list element by index pointer and skips pointers that do not resolve", () => {
    const result = removeIgnoredFields(liveDeployment(), [
      ignore({
        jsonPointers: [
          "/spec/template/spec/containers/1",
          "/spec/missing/x",
          "/spec/template/spec/containers/9",
          "bad",
        ],
      }),
    ]);
    const containers = (result.spec as { template: { spec: { containers: unknown[] } } }).template.spec
      .containers;
    assert.equal(containers.length, 1);
  });

  it("removes what a jq path expression selects", () => {
    const result = removeIgnoredFields(liveDeployment(), [
      ignore({ jqPathExpressions: ['.spec.template.spec.containers[] | select(.name == "istio-proxy")'] }),
    ]);
    const containers = (result.spec as { template: { spec: { containers: { name: string }[] } } }).template
      .spec.containers;
    assert.deepEqual(
      containers.map((c) => c.name),
      ["guestbook-ui"],
    );
  });

  it("removes several list elements without shifting the wrong ones", () => {
    const obj: KubeObject = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "c" },
      data: { list: "" },
      items: [1, 2, 3, 4],
    };
    const result = removeIgnoredFields(obj, [
      ignore({ group: "", kind: "ConfigMap", jqPathExpressions: [".items[] | select(. > 1 and . < 4)"] }),
    ]);
    assert.deepEqual(result.items, [1, 4]);
  });

  it("removes fields a named manager owns, by field, list key and set value", () => {
    const result = removeIgnoredFields(liveDeployment(), [
      ignore({ managedFieldsManagers: ["hpa-controller", "sidecar-injector"] }),
    ]);
    const spec = result.spec as {
      replicas?: number;
      template: { spec: { containers: unknown[]; finalizers: string[] } };
    };
    assert.equal(spec.replicas, undefined);
    assert.deepEqual(spec.template.spec.containers, [
      { name: "guestbook-ui", image: "gcr.io/heptio-images/ks-guestbook-demo:0.2" },
      {},
    ]);
    assert.deepEqual(spec.template.spec.finalizers, ["keep"]);
  });

  it("keeps fields of other managers inside a node the named manager also owns", () => {
    const result = removeIgnoredFields(liveDeployment(), [
      ignore({ managedFieldsManagers: ["kube-controller-manager"] }),
    ]);
    assert.deepEqual(result.metadata.annotations, {});
    assert.deepEqual(result.metadata.labels, { app: "guestbook-ui" });
    assert.deepEqual(result.status, { readyReplicas: 5 });
  });

  it("judges managed fields by the live entries passed in", () => {
    const desired = desiredDeployment();
    const result = removeIgnoredFields(
      desired,
      [ignore({ managedFieldsManagers: ["hpa-controller"] })],
      liveDeployment().metadata.managedFields,
    );
    assert.equal((result.spec as { replicas?: number }).replicas, undefined);
  });

  it("returns the object unchanged when no ignore matches", () => {
    const obj = liveDeployment();
    assert.equal(removeIgnoredFields(obj, [ignore({ kind: "StatefulSet", jsonPointers: ["/spec"] })]), obj);
  });

  it("throws for an unsupported jq path expression", () => {
    assert.throws(
      () => removeIgnoredFields(liveDeployment(), [ignore({ jqPathExpressions: [".. | .image"] })]),
      /jq path expression/,
    );
  });
});

describe("compareWithLive", () => {
  it("finds no difference when only server-set fields and status differ", () => {
    const live = liveDeployment();
    const dryRun = structuredClone(live);
    dryRun.metadata.resourceVersion = "1235";
    dryRun.metadata.managedFields = [];
    dryRun.status = { replicas: 1 };
    assert.deepEqual(compareWithLive(dryRun, live, []), { equal: true, differences: [] });
  });

  it("lists the JSON pointers that differ, sorted", () => {
    const live = liveDeployment();
    const dryRun = structuredClone(live);
    (dryRun.spec as { replicas: number }).replicas = 1;
    dryRun.metadata.labels = { app: "guestbook-ui", tier: "web" };
    (dryRun.spec as { template: { spec: { containers: unknown[] } } }).template.spec.containers.pop();
    assert.deepEqual(compareWithLive(dryRun, live, []), {
      equal: false,
      differences: ["/metadata/labels/tier", "/spec/replicas", "/spec/template/spec/containers/1"],
    });
  });

  it("escapes / and ~ in reported pointers", () => {
    const live = liveDeployment();
    const dryRun = structuredClone(live);
    dryRun.metadata.annotations = { "deployment.kubernetes.io/revision": "3", "a~b": "x" };
    assert.deepEqual(compareWithLive(dryRun, live, []).differences, [
      "/metadata/annotations/a~0b",
      "/metadata/annotations/deployment.kubernetes.io~1revision",
    ]);
  });

  it("ignores a difference the HPA makes when /spec/replicas is ignored", () => {
    const live = liveDeployment();
    const dryRun = structuredClone(live);
    (dryRun.spec as { replicas: number }).replicas = 1;
    assert.equal(compareWithLive(dryRun, live, []).equal, false);
    assert.equal(compareWithLive(dryRun, live, [ignore({ jsonPointers: ["/spec/replicas"] })]).equal, true);
  });

  it("ignores a difference in fields a named manager owns in live", () => {
    const live = liveDeployment();
    const dryRun = structuredClone(live);
    (dryRun.spec as { replicas: number }).replicas = 1;
    assert.equal(
      compareWithLive(dryRun, live, [ignore({ managedFieldsManagers: ["hpa-controller"] })]).equal,
      true,
    );
  });

  it("reports at most 20 differences", () => {
    const data = Object.fromEntries(
      Array.from({ length: 30 }, (_, i) => [`k${String(i).padStart(2, "0")}`, String(i)]),
    );
    const live: KubeObject = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" }, data };
    const dryRun: KubeObject = { ...live, data: {} };
    const result = compareWithLive(dryRun, live, []);
    assert.equal(result.equal, false);
    assert.equal(result.differences.length, 20);
    assert.equal(result.differences[0], "/data/k00");
    assert.equal(result.differences[19], "/data/k19");
  });
});

describe("respectIgnoredFields", () => {
  it("takes the live value of an ignored JSON pointer", () => {
    const result = respectIgnoredFields(desiredDeployment(), liveDeployment(), [
      ignore({ jsonPointers: ["/spec/replicas"] }),
    ]);
    assert.equal((result.spec as { replicas: number }).replicas, 5);
  });

  it("removes an ignored path that live lacks", () => {
    const live = liveDeployment();
    delete (live.spec as { replicas?: number }).replicas;
    const result = respectIgnoredFields(desiredDeployment(), live, [
      ignore({ jsonPointers: ["/spec/replicas"] }),
    ]);
    assert.equal((result.spec as { replicas?: number }).replicas, undefined);
  });

  it("creates missing parents to carry a live value", () => {
    const result = respectIgnoredFields(desiredDeployment(), liveDeployment(), [
      ignore({ jqPathExpressions: ['.metadata.annotations["deployment.kubernetes.io/revision"]'] }),
    ]);
    assert.deepEqual(result.metadata.annotations, { "deployment.kubernetes.io/revision": "2" });
  });

  it("carries a live list element selected by jq into desired, matched by name", () => {
    const result = respectIgnoredFields(desiredDeployment(), liveDeployment(), [
      ignore({ jqPathExpressions: ['.spec.template.spec.containers[] | select(.name == "istio-proxy")'] }),
    ]);
    const containers = (result.spec as { template: { spec: { containers: { name: string }[] } } }).template
      .spec.containers;
    assert.deepEqual(
      containers.map((c) => c.name),
      ["guestbook-ui", "istio-proxy"],
    );
  });

  it("takes a field of a list element from the live element with the same name", () => {
    const desired = desiredDeployment();
    const containers = (desired.spec as { template: { spec: { containers: object[] } } }).template.spec
      .containers;
    containers.unshift({ name: "istio-proxy", image: "mine" });
    const result = respectIgnoredFields(desired, liveDeployment(), [
      ignore({
        jqPathExpressions: ['.spec.template.spec.containers[] | select(.name == "istio-proxy") | .image'],
      }),
    ]);
    const after = (result.spec as { template: { spec: { containers: { name: string; image: string }[] } } })
      .template.spec.containers;
    assert.deepEqual(after[0], { name: "istio-proxy", image: "docker.io/istio/proxyv2:1.20" });
    assert.equal(after[1]?.image, "gcr.io/heptio-images/ks-guestbook-demo:0.2");
  });

  it("keeps fields a named manager owns at their live value", () => {
    const result = respectIgnoredFields(desiredDeployment(), liveDeployment(), [
      ignore({ managedFieldsManagers: ["hpa-controller"] }),
    ]);
    assert.equal((result.spec as { replicas: number }).replicas, 5);
  });

  it("returns desired unchanged without live or without a matching ignore", () => {
    const desired = desiredDeployment();
    assert.equal(
      respectIgnoredFields(desired, undefined, [ignore({ jsonPointers: ["/spec/replicas"] })]),
      desired,
    );
    assert.equal(respectIgnoredFields(desired, liveDeployment(), [ignore({ kind: "StatefulSet" })]), desired);
  });

  it("does not carry status or server-set metadata into desired", () => {
    const result = respectIgnoredFields(desiredDeployment(), liveDeployment(), [
      ignore({ jsonPointers: ["/status"] }),
    ]);
    assert.equal(result.status, undefined);
  });
});
