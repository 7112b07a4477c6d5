import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { dirname, isAbsolute, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { ensureTool, TOOLS } from "./tools.js";

const run = promisify(execFile);
const testdata = join(dirname(fileURLToPath(import.meta.url)), "testdata");

type RenderedObject = {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec: Record<string, unknown>;
  data?: Record<string, string>;
};

function parseObjects(output: string): RenderedObject[] {
  return parseAllDocuments(output)
    .map((doc) => doc.toJS() as RenderedObject | null)
    .filter((obj): obj is RenderedObject => obj !== null);
}

function findObject(objects: RenderedObject[], kind: string): RenderedObject {
  const found = objects.find((obj) => obj.kind === kind);
  assert.ok(found, `no ${kind} in ${objects.map((obj) => obj.kind).join(", ")}`);
  return found;
}

describe("tools", () => {
  it("renders a kustomization with the pinned kustomize", async () => {
    const kustomize = await ensureTool("kustomize");
    assert.ok(isAbsolute(kustomize));
    const { stdout: version } = await run(kustomize, ["version"]);
    assert.match(version, new RegExp(TOOLS.kustomize.version.replace(/\./g, "\\.")));

    const { stdout } = await run(kustomize, ["build", join(testdata, "kustomize-app")]);
    const objects = parseObjects(stdout);
    assert.deepEqual(objects.map((obj) => obj.kind).sort(), ["ConfigMap", "Deployment"]);
    const configMap = findObject(objects, "ConfigMap");
    assert.match(configMap.metadata.name, /^team-settings-[a-z0-9]{10}$/);
    assert.deepEqual(configMap.data, { GREETING: "hello" });
    const deployment = findObject(objects, "Deployment");
    assert.equal(deployment.metadata.name, "team-web");
    assert.equal(deployment.metadata.namespace, "demo");
    assert.equal(deployment.metadata.labels?.["app.kubernetes.io/part-of"], "flotilla-test");
    // The generated ConfigMap's hashed name is substituted into the reference.
    assert.match(JSON.stringify(deployment.spec), new RegExp(`"name":"${configMap.metadata.name}"`));
  });

  it("renders a chart with the pinned helm", async () => {
    const helm = await ensureTool("helm");
    const { stdout } = await run(helm, [
      "template",
      "shop",
      join(testdata, "helm-chart"),
      "--namespace",
      "apps",
      "--set",
      "replicas=3",
      "--set",
      "service.enabled=false",
    ]);
    const objects = parseObjects(stdout);
    assert.deepEqual(
      objects.map((obj) => obj.kind),
      ["Deployment"],
    );
    const deployment = findObject(objects, "Deployment");
    assert.equal(deployment.metadata.name, "shop-demo");
    assert.equal(deployment.metadata.namespace, "apps");
    assert.equal(deployment.spec.replicas, 3);
    assert.match(JSON.stringify(deployment.spec), /"image":"registry\.invalid\/demo:1\.0\.0"/);
  });

  it("builds nats-server at the pinned version", async () => {
    const natsServer = await ensureTool("nats-server");
    const { stdout } = await run(natsServer, ["--version"]);
    assert.match(stdout, new RegExp(TOOLS["nats-server"].version.replace(/^v/, "").replace(/\./g, "\\.")));
  });
});
