import { lstat, readFile, realpath } from "node:fs/promises";
import { join } from "node:path";
import { isPlainObject, readYamlDocuments } from "./decode-manifests.js";
import { RenderProblemError } from "./render-problem.js";
import { isInside } from "./repo-path.js";
import { type ApplicationSource, checkSourceOptions } from "./source-spec.js";

const MAX_OVERRIDE_BYTES = 1024 * 1024;

/**
 * Argo CD's parameter-override files (repository.go mergeSourceParameters): `.argocd-source.yaml`
 * and then `.argocd-source-<appName>.yaml` in the app directory are merged onto the source as
 * JSON merge patches; repoURL, path, targetRevision and chart always keep their Application
 * values. As in Argo CD, where the patch is decoded back into Go structs, a `null` removes
 * nothing except inside `helm.valuesObject`. A malformed file, and a merged source whose fields
 * have the wrong types (checkSourceOptions), is an `invalid` problem.
 */
export async function mergeSourceOverrides(
  source: ApplicationSource,
  appDir: string,
  repoRoot: string,
  appName: string,
): Promise<ApplicationSource> {
  const names = [".argocd-source.yaml", ...(appName ? [`.argocd-source-${appName}.yaml`] : [])];
  let merged: Record<string, unknown> = structuredClone(source) as Record<string, unknown>;
  const applied: string[] = [];
  for (const name of names) {
    const patch = await readOverrideFile(join(appDir, name), repoRoot, name);
    if (patch === undefined) continue;
    merged = mergePatch(merged, patch, []) as Record<string, unknown>;
    applied.push(name);
  }
  const result = merged as ApplicationSource;
  result.repoURL = source.repoURL;
  setOrDelete(result, "path", source.path);
  setOrDelete(result, "targetRevision", source.targetRevision);
  setOrDelete(result, "chart", source.chart);
  const problem = checkSourceOptions(result);
  if (problem) {
    const after = applied.length > 0 ? ` (after merging ${applied.join(" and ")})` : "";
    throw new RenderProblemError("invalid", `source: ${problem}${after}`);
  }
  return result;
}

function setOrDelete<K extends "path" | "targetRevision" | "chart">(
  target: ApplicationSource,
  key: K,
  value: ApplicationSource[K],
): void {
  if (value === undefined) delete target[key];
  else target[key] = value;
}

async function readOverrideFile(
  path: string,
  repoRoot: string,
  name: string,
): Promise<Record<string, unknown> | undefined> {
  let real: string;
  try {
    real = await realpath(path);
  } catch {
    return undefined;
  }
  const info = await lstat(real);
  if (info.isDirectory()) return undefined;
  if (!isInside(await realpath(repoRoot), real)) {
    throw new RenderProblemError("render", `${name}: symlink leaves the repository`);
  }
  if (info.size > MAX_OVERRIDE_BYTES) {
    throw new RenderProblemError("limit", `${name}: larger than ${MAX_OVERRIDE_BYTES} bytes`);
  }
  const docs = readYamlDocuments(await readFile(real, "utf8"), name);
  const first = docs[0];
  if (first?.error !== undefined) throw new RenderProblemError("invalid", `${name}: ${first.error}`);
  if (first === undefined || first.value === null || first.value === undefined) return undefined;
  if (!isPlainObject(first.value)) throw new RenderProblemError("invalid", `${name}: not a mapping`);
  return first.value;
}

/** RFC 7386 merge patch, except that `null` deletes only inside helm.valuesObject (see above). */
function mergePatch(target: unknown, patch: unknown, path: string[]): unknown {
  if (!isPlainObject(patch)) return patch;
  const out: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  const insideValuesObject = path.length >= 2 && path[0] === "helm" && path[1] === "valuesObject";
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      if (insideValuesObject) delete out[key];
      continue;
    }
    out[key] = mergePatch(out[key], value, [...path, key]);
  }
  return out;
}
