// `flotilla-agent run --once` as a real process: flags, exit codes, JSON on stdout, and custom
// health from a CEL config file against a custom resource in a real cluster.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { type AgentJson, adminKube, makeTempDir, writeDesiredDir } from "./harness/agent.js";
import { useClusters } from "./harness/cluster.js";

const agentMain = fileURLToPath(new URL("../../agent/src/main.ts", import.meta.url));

function runAgent(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--conditions=source", "--import", "tsx", agentMain, ...args],
      { timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const gadgetCrd = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "gadgets.example.com" },
  spec: {
    group: "example.com",
    scope: "Namespaced",
    names: { plural: "gadgets", singular: "gadget", kind: "Gadget", listKind: "GadgetList" },
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
      },
    ],
  },
};

describe("flotilla-agent run as a process", () => {
  const clusters = useClusters(1);
  let work: { path: string; remove(): Promise<void> };

  before(async () => {
    work = await makeTempDir("flotilla-agent-cli-");
  });
  after(async () => {
    await work?.remove();
  });

  it("refuses a command line without --kubeconfig or --in-cluster with exit code 2 and the usage", async () => {
    const run = await runAgent(["run", "--once"]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /exactly one of --kubeconfig <file> or --in-cluster/);
    assert.match(run.stderr, /Usage: flotilla-agent run/);
  });

  it("assesses a custom resource with a CEL health check: Progressing (exit 1) until its status says ready", async () => {
    const cluster = clusters()[0];
    assert.ok(cluster);
    const desiredDir = join(work.path, "desired");
    await writeDesiredDir(desiredDir, {
      gadgets: {
        "app.yaml": {
          namespace: "gadgets",
          syncPolicy: { automated: {}, syncOptions: ["CreateNamespace=true"] },
        },
        "crd.yaml": gadgetCrd,
        "gadget.yaml": {
          apiVersion: "example.com/v1",
          kind: "Gadget",
          metadata: { name: "g1" },
          spec: { size: 1 },
        },
      },
    });
    const healthConfig = join(work.path, "health.yaml");
    await writeFile(
      healthConfig,
      stringify({
        healthChecks: [
          {
            apiVersion: "example.com/v1",
            kind: "Gadget",
            current: "has(self.status) && has(self.status.ready) && self.status.ready == true",
            failed: "has(self.status) && has(self.status.error)",
          },
        ],
      }),
    );
    const args = [
      "run",
      "--kubeconfig",
      cluster.kubeconfigPath,
      "--desired-dir",
      desiredDir,
      "--state-file",
      join(work.path, "state.json"),
      "--health-config",
      healthConfig,
      "--timeout",
      "2s",
      "--once",
      "-o",
      "json",
    ];
    const first = await runAgent(args);
    assert.equal(first.code, 1, first.stderr);
    const progressing = JSON.parse(first.stdout) as AgentJson;
    const gadgets = progressing.apps[0];
    assert.equal(gadgets?.sync, "Synced");
    assert.equal(gadgets?.health, "Progressing");
    assert.equal(gadgets?.resources.find((r) => r.kind === "Gadget")?.result, "created");

    // Another manager (the gadget's controller) reports it ready.
    await adminKube(cluster).apply(
      {
        apiVersion: "example.com/v1",
        kind: "Gadget",
        metadata: { name: "g1", namespace: "gadgets" },
        status: { ready: true },
      },
      { fieldManager: "gadget-controller", force: true },
    );
    const second = await runAgent(args);
    assert.equal(second.code, 0, second.stdout + second.stderr);
    const healthy = JSON.parse(second.stdout) as AgentJson;
    assert.equal(healthy.apps[0]?.health, "Healthy");
    assert.deepEqual(
      healthy.apps[0]?.resources.map((r) => [r.kind, r.result, r.health]),
      [
        ["CustomResourceDefinition", "unchanged", "Healthy"],
        ["Gadget", "unchanged", "Healthy"],
      ],
    );
  });
});
