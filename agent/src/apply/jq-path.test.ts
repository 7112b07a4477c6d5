import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkJqPathExpression, jqPaths } from "./jq-path.js";

const deployment = {
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: {
    name: "guestbook-ui",
    annotations: { "kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z", "team-name": "web" },
    labels: { app: "guestbook-ui" },
  },
  spec: {
    replicas: 3,
    template: {
      spec: {
        initContainers: [
          { name: "wait-db", image: "busybox" },
          { name: "injected-init-container", image: "istio/proxyv2" },
        ],
        containers: [
          {
            name: "guestbook-ui",
            image: "gcr.io/heptio-images/ks-guestbook-demo:0.2",
            env: [{ name: "A", value: "1" }],
          },
          { name: "istio-proxy", image: "docker.io/istio/proxyv2:1.20", ports: [{ containerPort: 15090 }] },
        ],
      },
    },
  },
};

const webhook = {
  apiVersion: "admissionregistration.k8s.io/v1",
  kind: "MutatingWebhookConfiguration",
  metadata: { name: "istio-sidecar-injector" },
  webhooks: [
    { name: "a.sidecar-injector.istio.io", clientConfig: { caBundle: "Q0E=" } },
    { name: "b.sidecar-injector.istio.io", clientConfig: { service: { name: "istiod" } } },
  ],
};

describe("jqPaths", () => {
  it("selects the injected init container from the Argo CD docs example", () => {
    const expression = '.spec.template.spec.initContainers[] | select(.name == "injected-init-container")';
    assert.deepEqual(jqPaths(expression, deployment), [["spec", "template", "spec", "initContainers", 1]]);
  });

  it("selects every webhook caBundle with .webhooks[]?.clientConfig.caBundle, skipping absent ones", () => {
    assert.deepEqual(jqPaths(".webhooks[]?.clientConfig.caBundle", webhook), [
      ["webhooks", 0, "clientConfig", "caBundle"],
    ]);
  });

  it("selects nothing with .webhooks[]? when webhooks is absent", () => {
    assert.deepEqual(jqPaths(".webhooks[]?.clientConfig.caBundle", { metadata: {} }), []);
  });

  it("reads an annotation with a quoted key after a dot", () => {
    assert.deepEqual(jqPaths('.metadata.annotations."kubectl.kubernetes.io/restartedAt"', deployment), [
      ["metadata", "annotations", "kubectl.kubernetes.io/restartedAt"],
    ]);
  });

  it("reads an annotation with a bracketed string key", () => {
    assert.deepEqual(jqPaths('.metadata.annotations["kubectl.kubernetes.io/restartedAt"]', deployment), [
      ["metadata", "annotations", "kubectl.kubernetes.io/restartedAt"],
    ]);
    assert.deepEqual(jqPaths('.["metadata"].labels', deployment), [["metadata", "labels"]]);
  });

  it("reads a field with a dash in quotes", () => {
    assert.deepEqual(jqPaths('.metadata.annotations."team-name"', deployment), [
      ["metadata", "annotations", "team-name"],
    ]);
  });

  it("selects nothing for an absent field", () => {
    assert.deepEqual(jqPaths(".spec.paused", deployment), []);
    assert.deepEqual(jqPaths(".status.replicas", deployment), []);
  });

  it("reads an index and a negative index", () => {
    assert.deepEqual(jqPaths(".spec.template.spec.containers[1].image", deployment), [
      ["spec", "template", "spec", "containers", 1, "image"],
    ]);
    assert.deepEqual(jqPaths(".spec.template.spec.containers[-1].name", deployment), [
      ["spec", "template", "spec", "containers", 1, "name"],
    ]);
    assert.deepEqual(jqPaths(".spec.template.spec.containers[5]", deployment), []);
  });

  it("iterates arrays and objects with []", () => {
    assert.deepEqual(jqPaths(".spec.template.spec.containers[].name", deployment), [
      ["spec", "template", "spec", "containers", 0, "name"],
      ["spec", "template", "spec", "containers", 1, "name"],
    ]);
    assert.deepEqual(jqPaths(".metadata.labels[]", deployment), [["metadata", "labels", "app"]]);
  });

  it("selects nothing when iteration hits null without ?", () => {
    assert.deepEqual(jqPaths(".spec.volumes[].name", deployment), []);
  });

  it("supports pipes into further paths", () => {
    const expression = '.spec.template.spec.containers[] | select(.name == "istio-proxy") | .image';
    assert.deepEqual(jqPaths(expression, deployment), [
      ["spec", "template", "spec", "containers", 1, "image"],
    ]);
  });

  it("supports commas and parentheses", () => {
    assert.deepEqual(jqPaths("(.metadata.labels, .spec.replicas)", deployment), [
      ["metadata", "labels"],
      ["spec", "replicas"],
    ]);
  });

  it("supports != and not", () => {
    const containers = ".spec.template.spec.containers[]";
    assert.deepEqual(jqPaths(`${containers} | select(.name != "istio-proxy") | .name`, deployment), [
      ["spec", "template", "spec", "containers", 0, "name"],
    ]);
    assert.deepEqual(jqPaths(`${containers} | select(.name == "istio-proxy" | not) | .name`, deployment), [
      ["spec", "template", "spec", "containers", 0, "name"],
    ]);
  });

  it("supports and, or and parentheses in conditions", () => {
    const expression =
      '.spec.template.spec.initContainers[] | select((.name == "wait-db" or .name == "x") and (.image == "busybox"))';
    assert.deepEqual(jqPaths(expression, deployment), [["spec", "template", "spec", "initContainers", 0]]);
  });

  it("supports < and > with numbers", () => {
    const expression =
      ".spec.template.spec.containers[].ports[]? | select(.containerPort > 15000 and .containerPort < 16000)";
    assert.deepEqual(jqPaths(expression, deployment), [
      ["spec", "template", "spec", "containers", 1, "ports", 0],
    ]);
  });

  it("supports startswith, endswith, test, has and contains on strings", () => {
    const containers = ".spec.template.spec.containers[]";
    const second = [["spec", "template", "spec", "containers", 1]];
    assert.deepEqual(
      jqPaths(`${containers} | select(.image | startswith("docker.io/istio/"))`, deployment),
      second,
    );
    assert.deepEqual(jqPaths(`${containers} | select(.name | endswith("-proxy"))`, deployment), second);
    assert.deepEqual(
      jqPaths(`${containers} | select(.image | test("proxyv2:1\\\\.[0-9]+$"))`, deployment),
      second,
    );
    assert.deepEqual(jqPaths(`${containers} | select(.name | test("ISTIO"; "i"))`, deployment), second);
    assert.deepEqual(jqPaths(`${containers} | select(has("ports"))`, deployment), second);
    assert.deepEqual(jqPaths(`${containers} | select(.image | contains("istio"))`, deployment), second);
  });

  it("compares with null, booleans and numbers as jq does", () => {
    const items = { items: [{ a: null }, { a: false }, { a: 0 }, { a: "x" }, {}] };
    assert.deepEqual(jqPaths(".items[] | select(.a == null)", items), [
      ["items", 0],
      ["items", 4],
    ]);
    assert.deepEqual(jqPaths(".items[] | select(.a == false)", items), [["items", 1]]);
    assert.deepEqual(jqPaths(".items[] | select(.a > true)", items), [
      ["items", 2],
      ["items", 3],
    ]);
  });

  it("selects the root path with a bare select", () => {
    assert.deepEqual(jqPaths('select(.kind == "Deployment")', deployment), [[]]);
    assert.deepEqual(jqPaths('select(.kind == "Service")', deployment), []);
    assert.deepEqual(jqPaths('select(.kind == "Deployment") | .spec.replicas', deployment), [
      ["spec", "replicas"],
    ]);
  });

  it("selects nothing when a condition raises an error that ? does not catch", () => {
    assert.deepEqual(
      jqPaths('.spec.template.spec.containers[] | select(.env[].name == "A")', deployment),
      [],
    );
    assert.deepEqual(jqPaths('.spec.template.spec.containers[] | select(.env[]?.name == "A")', deployment), [
      ["spec", "template", "spec", "containers", 0],
    ]);
  });

  it("lists a path once even when a condition is true several times", () => {
    const data = { list: [{ tags: ["a", "a"] }] };
    assert.deepEqual(jqPaths('.list[] | select(.tags[] == "a")', data), [["list", 0]]);
  });

  it("rejects unsupported syntax with the column", () => {
    assert.throws(() => jqPaths("..|.image", deployment), {
      message: 'jq path expression "..|.image": recursive descent (..) is not supported at column 1',
    });
    assert.throws(() => jqPaths(".spec | map(.x)", deployment), {
      message: 'jq path expression ".spec | map(.x)": function map is not supported at column 9',
    });
    assert.throws(
      () => jqPaths(".a // .b", deployment),
      /alternative operator \(\/\/\) is not supported at column 4/,
    );
    assert.throws(() => jqPaths(".a[1:2]", deployment), /unexpected character ":" at column 5/);
    assert.throws(
      () => jqPaths(".a[.b]", deployment),
      /only a string or integer literal is supported inside \[ \] at column 4/,
    );
    assert.throws(
      () => jqPaths('.a | select(.b == "\\(.c)")', deployment),
      /string interpolation is not supported/,
    );
    assert.throws(() => jqPaths(".a | $x", deployment), /unexpected character "\$" at column 6/);
  });

  it("rejects expressions that do not produce paths", () => {
    assert.throws(
      () => jqPaths('.metadata.name == "x"', deployment),
      /only paths and select\(\) can be used as a path expression/,
    );
    assert.throws(() => jqPaths(".spec | length", deployment), /only paths and select\(\) .* at column 9/);
  });

  it("rejects malformed expressions", () => {
    assert.throws(() => jqPaths(".spec.", deployment), /at column/);
    assert.throws(
      () => jqPaths("select(.a", deployment),
      /expected "\)" but found end of expression at column 10/,
    );
    assert.throws(
      () => jqPaths('.a | select(startswith("a"; "b"))', deployment),
      /startswith takes 1 argument/,
    );
  });
});

describe("checkJqPathExpression", () => {
  it("accepts a supported expression without a document", () => {
    checkJqPathExpression(
      '.spec.template.spec.initContainers[] | select(.name == "injected-init-container")',
    );
  });

  it("throws for an unsupported expression", () => {
    assert.throws(() => checkJqPathExpression("del(.a)"), /function del is not supported at column 1/);
  });
});
