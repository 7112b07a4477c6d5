import type { RenderProblem } from "./render-problem.js";
import { compareNames } from "./repo-path.js";
import type { ApplicationSource } from "./source-spec.js";

export type RenderToolName = "directory" | "kustomize" | "helm";

export type ToolDetection = { ok: true; tool: RenderToolName } | { ok: false; problem: RenderProblem };

/** Kustomization file names, in the order kustomize and Argo CD look for them. */
export const KUSTOMIZATION_FILE_NAMES = ["kustomization.yaml", "kustomization.yml", "Kustomization"] as const;

// Argo CD's ExplicitType order, used in its "multiple application sources defined" message.
const EXPLICIT_BLOCKS = [
  { key: "kustomize", type: "Kustomize" },
  { key: "helm", type: "Helm" },
  { key: "directory", type: "Directory" },
  { key: "plugin", type: "Plugin" },
] as const;

/**
 * Chooses the tool for a source as Argo CD does (GetAppSourceType, discovery.AppType): an
 * explicit `kustomize`, `helm`, `directory` or `plugin` block wins (an empty block counts; more
 * than one is `invalid`; a plugin is `unsupported`). Otherwise `filesInPath`, the names of the
 * non-directory entries directly in the app path, are visited in lexical order and the last
 * match wins: a name ending in `Chart.yaml` means Helm, a kustomization file means Kustomize (so
 * `kustomization.yaml` beats `Chart.yaml`). Neither means a plain directory.
 */
export function detectTool(source: ApplicationSource, filesInPath: readonly string[]): ToolDetection {
  const explicit = EXPLICIT_BLOCKS.filter(
    (block) => source[block.key] !== undefined && source[block.key] !== null,
  );
  if (explicit.length > 1) {
    const types = explicit.map((block) => block.type).join(",");
    return {
      ok: false,
      problem: { kind: "invalid", message: `multiple application sources defined: ${types}` },
    };
  }
  const only = explicit[0];
  if (only?.key === "plugin") {
    const name = source.plugin?.name ? ` ${source.plugin.name}` : "";
    return {
      ok: false,
      problem: {
        kind: "unsupported",
        message: `config management plugin${name}: Flotilla does not run plugins`,
      },
    };
  }
  if (only) return { ok: true, tool: only.key };

  let tool: RenderToolName = "directory";
  for (const name of [...filesInPath].sort(compareNames)) {
    if (name.endsWith("Chart.yaml")) tool = "helm";
    if ((KUSTOMIZATION_FILE_NAMES as readonly string[]).includes(name)) tool = "kustomize";
  }
  return { ok: true, tool };
}
