import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  compileHealthChecks,
  createHealthAssessor,
  type HealthCheckExpr,
  loadHealthConfig,
} from "./custom-health.js";

const tempDirs: string[] = [];
after(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function writeConfig(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "flotilla-health-config-"));
  tempDirs.push(dir);
  const path = join(dir, "health.yaml");
  await writeFile(path, text);
  return path;
}

/** Flux's documented check for Flux's own kinds: Ready decides, Stalled fails. */
const fluxCheck: HealthCheckExpr = {
  apiVersion: "kustomize.toolkit.fluxcd.io/v1",
  kind: "Kustomization",
  current: "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')",
  inProgress: "status.conditions.exists(e, e.type == 'Reconciling' && e.status == 'True')",
  failed: "status.conditions.exists(e, e.type == 'Stalled' && e.status == 'True')",
};

/** cert-manager's Certificate, written against `self`. */
const certificateCheck: HealthCheckExpr = {
  apiVersion: "cert-manager.io/v1",
  kind: "Certificate",
  current: "self.status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')",
  failed:
    "self.status.conditions.exists(c, c.type == 'Ready' && c.status == 'False' && c.reason == 'Failed')",
};

function certificate(ready: { status: string; reason: string; message: string }) {
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: { name: "web-tls", namespace: "shop", generation: 1 },
    spec: {
      secretName: "web-tls",
      dnsNames: ["shop.example.com"],
      issuerRef: { name: "letsencrypt", kind: "ClusterIssuer" },
    },
    status: {
      conditions: [
        { type: "Ready", lastTransitionTime: "2024-05-01T10:00:00Z", observedGeneration: 1, ...ready },
      ],
      notAfter: "2024-07-30T10:00:00Z",
      revision: 1,
    },
  };
}

function kustomization(generation: number, observedGeneration: number, conditions: object[]) {
  return {
    apiVersion: "kustomize.toolkit.fluxcd.io/v1",
    kind: "Kustomization",
    metadata: { name: "apps", namespace: "flux-system", generation },
    spec: {
      interval: "10m",
      path: "./apps",
      prune: true,
      sourceRef: { kind: "GitRepository", name: "flux-system" },
    },
    status: { observedGeneration, lastAppliedRevision: "main@sha1:abc", conditions },
  };
}

describe("createHealthAssessor", () => {
  const assess = createHealthAssessor(compileHealthChecks([fluxCheck, certificateCheck]));

  it("is Healthy for a cert-manager Certificate whose Ready condition is True", () => {
    const cert = certificate({
      status: "True",
      reason: "Ready",
      message: "Certificate is up to date and has not expired",
    });
    assert.deepEqual(assess(cert), { status: "Healthy" });
  });

  it("is Degraded when the failed expression is true", () => {
    const cert = certificate({
      status: "False",
      reason: "Failed",
      message: "The certificate request has failed",
    });
    assert.equal(assess(cert)?.status, "Degraded");
    assert.match(assess(cert)?.message ?? "", /^failed expression is true: self\.status\.conditions/);
  });

  it("is Progressing when no expression is true", () => {
    const cert = certificate({
      status: "False",
      reason: "Issuing",
      message: "Issuing certificate as Secret does not exist",
    });
    assert.deepEqual(assess(cert), { status: "Progressing", message: "No health expression is true yet" });
  });

  it("reads a Flux Kustomization's Ready and Stalled conditions through top-level fields", () => {
    const ready = kustomization(3, 3, [{ type: "Ready", status: "True", reason: "ReconciliationSucceeded" }]);
    assert.deepEqual(assess(ready), { status: "Healthy" });
    const stalled = kustomization(3, 3, [
      { type: "Ready", status: "False", reason: "BuildFailed" },
      { type: "Stalled", status: "True", reason: "BuildFailed" },
    ]);
    assert.equal(assess(stalled)?.status, "Degraded");
    const reconciling = kustomization(3, 3, [
      { type: "Reconciling", status: "True", reason: "Progressing" },
      { type: "Stalled", status: "True", reason: "BuildFailed" },
    ]);
    assert.equal(assess(reconciling)?.status, "Progressing", "inProgress is evaluated before failed");
  });

  it("is Progressing while status.observedGeneration lags metadata.generation, before any expression", () => {
    const lagging = kustomization(4, 3, [
      { type: "Ready", status: "True", reason: "ReconciliationSucceeded" },
    ]);
    assert.deepEqual(assess(lagging), {
      status: "Progressing",
      message: "Waiting for the controller to observe generation 4 (observed 3)",
    });
  });

  it("is Unknown when an expression fails at run time, naming the object and the expression", () => {
    const noStatus = {
      apiVersion: "cert-manager.io/v1",
      kind: "Certificate",
      metadata: { name: "web-tls", namespace: "shop" },
    };
    const health = assess(noStatus);
    assert.equal(health?.status, "Unknown");
    assert.equal(
      health?.message,
      "Certificate/shop/web-tls: health check failed expression `self.status.conditions.exists(c, c.type == 'Ready' && c.status == 'False' && c.reason == 'Failed')`: No such key: status",
    );
  });

  it("is Unknown when an expression does not evaluate to a bool", () => {
    const assessCount = createHealthAssessor(
      compileHealthChecks([{ apiVersion: "example.com/v1", kind: "Widget", current: "status.ready" }]),
    );
    const widget = {
      apiVersion: "example.com/v1",
      kind: "Widget",
      metadata: { name: "w" },
      status: { ready: 1 },
    };
    assert.deepEqual(assessCount(widget), {
      status: "Unknown",
      message: "Widget/w: health check current expression `status.ready`: evaluated to 1 (int), not a bool",
    });
  });

  it("treats JSON integers as CEL ints, so arithmetic and comparisons with literals work", () => {
    const assessPool = createHealthAssessor(
      compileHealthChecks([
        {
          apiVersion: "example.com/v1",
          kind: "Pool",
          current: "status.ready + 1 > spec.size && self.spec.size == 2",
        },
      ]),
    );
    const pool = {
      apiVersion: "example.com/v1",
      kind: "Pool",
      metadata: { name: "p" },
      spec: { size: 2 },
      status: { ready: 2 },
    };
    assert.deepEqual(assessPool(pool), { status: "Healthy" });
  });

  it("prefers a check for the kind over one for the whole group, and falls back to the built-ins", () => {
    const assessGroup = createHealthAssessor(
      compileHealthChecks([
        { apiVersion: "example.com/v1", current: "false", failed: "true" },
        { apiVersion: "example.com/v2", kind: "Gadget", current: "true" },
      ]),
    );
    const of = (apiVersion: string, kind: string) => ({ apiVersion, kind, metadata: { name: "x" } });
    assert.equal(assessGroup(of("example.com/v1alpha1", "Gadget"))?.status, "Healthy");
    assert.equal(assessGroup(of("example.com/v1", "Widget"))?.status, "Degraded");
    assert.equal(
      assessGroup(of("other.com/v1", "Widget")),
      undefined,
      "a kind without any check has no health",
    );
    const service = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "web" },
      spec: { type: "ClusterIP" },
    };
    assert.deepEqual(assessGroup(service), { status: "Healthy" });
    assert.deepEqual(assessGroup(undefined), { status: "Missing" });
  });

  it("reports pending deletion before any custom check, as the built-ins do", () => {
    const cert = certificate({ status: "True", reason: "Ready", message: "ok" });
    const deleting = { ...cert, metadata: { ...cert.metadata, deletionTimestamp: "2024-05-01T10:00:00Z" } };
    assert.deepEqual(assess(deleting), { status: "Progressing", message: "Pending deletion" });
  });
});

describe("compileHealthChecks", () => {
  it("reports every compile error at once, naming the entry index and field", () => {
    assert.throws(
      () =>
        compileHealthChecks(
          [
            fluxCheck,
            {
              apiVersion: "example.com/v1",
              kind: "Widget",
              current: "status.conditions.exists(c, c.type ==",
            },
            { apiVersion: "example.com/v1", kind: "Gadget", current: "true", failed: "'a string'" },
          ],
          "health.yaml",
        ),
      (error: Error) => {
        assert.match(error.message, /^health\.yaml: healthChecks\[1\]\.current: Unexpected token: EOF; /);
        assert.match(error.message, /healthChecks\[2\]\.failed: evaluates to string, not bool$/);
        return true;
      },
    );
  });

  it("refuses two entries for the same kind", () => {
    assert.throws(
      () =>
        compileHealthChecks([
          { apiVersion: "example.com/v1", kind: "Widget", current: "true" },
          { apiVersion: "example.com/v2", kind: "Widget", current: "false" },
        ]),
      /healthChecks\[1\]: matches the same Widget as healthChecks\[0\]/,
    );
  });
});

describe("loadHealthConfig", () => {
  it("loads and compiles healthChecks from YAML", async () => {
    const path = await writeConfig(
      [
        "healthChecks:",
        "  - apiVersion: cert-manager.io/v1",
        "    kind: Certificate",
        "    current: status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')",
      ].join("\n"),
    );
    const checks = await loadHealthConfig(path);
    assert.equal(checks.length, 1);
    assert.deepEqual(
      createHealthAssessor(checks)(certificate({ status: "True", reason: "Ready", message: "ok" })),
      { status: "Healthy" },
    );
  });

  it("names the path and entry index of a compile error", async () => {
    const path = await writeConfig(
      "healthChecks:\n  - apiVersion: example.com/v1\n    current: 'status.('\n",
    );
    await assert.rejects(loadHealthConfig(path), (error: Error) => {
      assert.ok(error.message.startsWith(`${path}: healthChecks[0].current: `), error.message);
      return true;
    });
  });

  it("rejects unknown fields and a missing current expression", async () => {
    await assert.rejects(
      loadHealthConfig(
        await writeConfig("healthChecks:\n  - apiVersion: example.com/v1\n    currnet: 'true'\n"),
      ),
      /healthChecks\[0\]\.currnet: unknown field/,
    );
    await assert.rejects(
      loadHealthConfig(await writeConfig("healthChecks:\n  - apiVersion: example.com/v1\n")),
      /healthChecks\[0\]\.current: is required/,
    );
  });
});
