import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { detectTool } from "./detect-tool.js";
import type { ApplicationSource } from "./source-spec.js";

const source = (extra: Partial<ApplicationSource> = {}): ApplicationSource => ({
  repoURL: "https://git.example.com/apps.git",
  path: "app",
  ...extra,
});

describe("detectTool", () => {
  it("uses an explicit block, even an empty one, whatever the files say", () => {
    assert.deepEqual(detectTool(source({ helm: {} }), ["kustomization.yaml"]), { ok: true, tool: "helm" });
    assert.deepEqual(detectTool(source({ kustomize: {} }), []), { ok: true, tool: "kustomize" });
    assert.deepEqual(detectTool(source({ directory: { recurse: true } }), ["Chart.yaml"]), {
      ok: true,
      tool: "directory",
    });
  });

  it("reports more than one explicit block in Argo CD's words", () => {
    assert.deepEqual(detectTool(source({ helm: {}, kustomize: {}, plugin: {} }), []), {
      ok: false,
      problem: { kind: "invalid", message: "multiple application sources defined: Kustomize,Helm,Plugin" },
    });
  });

  it("reports a plugin as unsupported", () => {
    const detection = detectTool(source({ plugin: { name: "kustomized-helm" } }), [
      "Chart.yaml",
      "kustomization.yaml",
    ]);
    assert.equal(detection.ok, false);
    assert.equal(!detection.ok && detection.problem.kind, "unsupported");
  });

  it("prefers kustomization.yaml, kustomization.yml or Kustomization over Chart.yaml", () => {
    for (const name of ["kustomization.yaml", "kustomization.yml", "Kustomization"]) {
      assert.deepEqual(detectTool(source(), ["Chart.yaml", name, "values.yaml"]), {
        ok: true,
        tool: "kustomize",
      });
    }
  });

  it("detects Helm from any name ending in Chart.yaml", () => {
    assert.deepEqual(detectTool(source(), ["values.yaml", "Chart.yaml"]), { ok: true, tool: "helm" });
    assert.deepEqual(detectTool(source(), ["MyChart.yaml"]), { ok: true, tool: "helm" });
  });

  it("lets the lexically last match win, as Argo CD's walk does", () => {
    // "myChart.yaml" sorts after "Kustomization" (uppercase first), so Helm wins here.
    assert.deepEqual(detectTool(source(), ["myChart.yaml", "Kustomization"]), { ok: true, tool: "helm" });
  });

  it("falls back to a plain directory", () => {
    assert.deepEqual(detectTool(source(), ["deployment.yaml", "kustomization.json"]), {
      ok: true,
      tool: "directory",
    });
  });

  it("treats null blocks (as YAML may write them) as absent", () => {
    assert.deepEqual(detectTool(source({ helm: null as never }), ["kustomization.yaml"]), {
      ok: true,
      tool: "kustomize",
    });
  });
});
