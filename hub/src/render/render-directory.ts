import { lstat, readdir, readFile, realpath, stat } from "node:fs/promises";
import { join, posix } from "node:path";
import {
  type DecodedValue,
  isPlainObject,
  type ObjectBudget,
  readYamlDocuments,
  toKubeObjects,
} from "./decode-manifests.js";
import type { KubeObject } from "./kube-object.js";
import { matchGlob } from "./match-glob.js";
import { RenderProblemError } from "./render-problem.js";
import { compareNames, isInside } from "./repo-path.js";
import type { DirectoryOptions } from "./source-spec.js";

/** Where a directory app is and how much it may read. */
export type DirectoryRender = {
  /** Real path of the repository root: symlinked files must resolve below it. */
  repoRoot: string;
  appDir: string;
  /** Repository-relative app path, used to name files in problems. */
  appPath: string;
  options: DirectoryOptions;
  /** Combined size of the manifest files read; more is a `limit` problem. */
  maxTotalBytes: number;
  /** Objects all files together may hold; more is a `limit` problem. */
  maxObjects: number;
};

const MANIFEST_FILE = /^.*\.(yaml|yml|json|jsonnet)$/;
const SKIP_MARKER = "+argocd:skip-file-rendering";

/**
 * Renders a plain directory the way Argo CD's findManifests does: files in lexical walk order,
 * sub-directories only with `recurse` (symlinked directories never), `.yaml/.yml/.json` files
 * (`.jsonnet` is an `unsupported` problem), `exclude` then `include` globs on the path relative
 * to the app directory, files with the skip marker left out, symlinked files followed only
 * inside the repository.
 */
export async function renderDirectory(render: DirectoryRender): Promise<KubeObject[]> {
  const files = await findManifestFiles(render);
  const values: DecodedValue[] = [];
  for (const file of files) {
    const name = posix.join(render.appPath, file.rel);
    if (file.rel.endsWith(".jsonnet")) {
      throw new RenderProblemError("unsupported", `${name}: Jsonnet is not supported by Flotilla`);
    }
    // Documents in earlier files count against the budget, so many files cannot add up past it.
    const budget = { remaining: render.maxObjects - values.length, limit: render.maxObjects };
    values.push(
      ...(file.rel.endsWith(".json")
        ? decodeJsonFile(file.text, name)
        : decodeYamlFile(file.text, name, budget)),
    );
  }
  return toKubeObjects(values, render.maxObjects);
}

type ManifestFile = { rel: string; text: string };

async function findManifestFiles(render: DirectoryRender): Promise<ManifestFile[]> {
  const { options } = render;
  const found: ManifestFile[] = [];
  let totalBytes = 0;

  const visit = async (rel: string): Promise<void> => {
    const names = (await readdir(join(render.appDir, rel))).sort(compareNames);
    for (const name of names) {
      const childRel = rel === "" ? name : `${rel}/${name}`;
      const path = join(render.appDir, childRel);
      const info = await lstat(path);
      if (info.isDirectory()) {
        if (options.recurse) await visit(childRel);
        continue;
      }
      if (!options.disableExtensionFilter && !MANIFEST_FILE.test(name)) continue;
      let size = info.size;
      if (info.isSymbolicLink()) {
        let real: string;
        try {
          real = await realpath(path);
        } catch {
          continue; // Argo CD skips a symlink whose target is missing.
        }
        if (!isInside(render.repoRoot, real)) {
          throw new RenderProblemError(
            "render",
            `${posix.join(render.appPath, childRel)}: symlink leaves the repository`,
          );
        }
        const target = await stat(real);
        if (!target.isFile()) continue;
        size = target.size;
      } else if (!info.isFile()) continue;
      if (options.exclude && matchGlob(options.exclude, childRel)) continue;
      if (options.include && !matchGlob(options.include, childRel)) continue;
      totalBytes += size;
      if (totalBytes > render.maxTotalBytes) {
        throw new RenderProblemError(
          "limit",
          `${render.appPath || "."}: manifests exceed ${render.maxTotalBytes} bytes in total`,
        );
      }
      const text = (await readFile(path, "utf8")).replace(/^\uFEFF/, "");
      if (text.includes(SKIP_MARKER)) continue;
      found.push({ rel: childRel, text });
    }
  };
  await visit("");
  return found;
}

/**
 * A `.json` file holds exactly one object. Invalid JSON or a non-object is a `render` problem;
 * an object without `kind` is not a manifest and is skipped (Argo CD lets it through its
 * OCI-manifest check instead of failing).
 */
function decodeJsonFile(text: string, name: string): DecodedValue[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new RenderProblemError("render", `${name}: invalid JSON: ${(cause as Error).message}`, { cause });
  }
  if (value === null) return [];
  if (!isPlainObject(value)) throw new RenderProblemError("render", `${name}: not a JSON object`);
  if (typeof value.kind !== "string" || value.kind === "") return [];
  return [{ value, where: name }];
}

/**
 * Argo CD's rule for YAML files: documents are read in order until one fails (a syntax error,
 * a non-mapping, or a mapping without `kind`). After an object that is an error; as the first
 * document it is an error only when the file looks like a manifest (contains `apiVersion:`,
 * `kind:` and `metadata:`), otherwise the file is not a manifest (a values.yaml) and is ignored.
 */
function decodeYamlFile(text: string, name: string, budget: ObjectBudget): DecodedValue[] {
  const values: DecodedValue[] = [];
  for (const doc of readYamlDocuments(text, name, budget)) {
    const where = `${name} document ${doc.index}`;
    const failure =
      doc.error ??
      (doc.value === null || doc.value === undefined
        ? undefined
        : !isPlainObject(doc.value)
          ? "not a mapping"
          : typeof doc.value.kind !== "string" || doc.value.kind === ""
            ? "object has no kind"
            : undefined);
    if (failure !== undefined) {
      const looksLikeManifest =
        text.includes("apiVersion:") && text.includes("kind:") && text.includes("metadata:");
      if (values.length > 0 || looksLikeManifest)
        throw new RenderProblemError("render", `${where}: ${failure}`);
      return [];
    }
    if (isPlainObject(doc.value)) values.push({ value: doc.value, where });
  }
  return values;
}
