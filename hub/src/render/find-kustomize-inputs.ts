import { readFile, realpath, stat } from "node:fs/promises";
import { isAbsolute, join, relative } from "node:path";
import { isPlainObject, readYamlDocuments } from "./decode-manifests.js";
import { KUSTOMIZATION_FILE_NAMES } from "./detect-tool.js";
import { RenderProblemError } from "./render-problem.js";
import { isInside } from "./repo-path.js";

// Fields whose entries may name another kustomization directory (a new kustomize root, which
// kustomize's load restrictor does not confine) or a remote base.
const DIRECTORY_FIELDS = ["resources", "bases", "components", "generators", "transformers", "validators"];
// Fields naming files. Kustomize confines these to the kustomization's own directory, but it
// fetches any http(s) URL among them.
const FILE_LIST_FIELDS = ["patchesStrategicMerge", "crds", "configurations"];
const FILE_ITEM_FIELDS = ["patches", "patchesJson6902", "replacements"];
const GENERATOR_FIELDS = ["configMapGenerator", "secretGenerator"];

const URL_LIKE = /:\/\/|^git@|^git::|^(github|gitlab|bitbucket)\.(com|org)\/|\?ref=/;
const MAX_KUSTOMIZATIONS = 10_000;
const MAX_KUSTOMIZATION_BYTES = 4 * 1024 * 1024;

/**
 * The paths a kustomize build may read, repository-relative: the app directory, `extraDirs`
 * (components the Application adds), every local directory the reachable kustomizations name
 * in resources, bases, components, generators, transformers or validators, and the files they
 * name (kustomize itself refuses files outside a kustomization's directory, and should say so
 * rather than "not found"). Staging these gives the build all it may read and nothing more.
 * Checked on the way, so a build neither leaves the
 * repository nor waits on the network: a reference that leaves `repoRoot` is an `invalid`
 * problem (a `render` problem when a symlink takes it out); a URL or remote base that does not
 * exist locally is a `render` problem (Flotilla renders without network: vendor it). Files that
 * do not parse are left for kustomize to report.
 */
export async function findKustomizeInputs(
  repoRoot: string,
  appDir: string,
  extraDirs: string[],
): Promise<string[]> {
  const realRoot = await realpath(repoRoot);
  const visited = new Set<string>();
  const files = new Set<string>();
  const pending = [appDir];
  // Components the Application adds go into the kustomization as they are written: check them
  // like the kustomization's own references (a missing one is left for kustomize to report).
  for (const dir of extraDirs) pending.push(await checkRef(repoRoot, appDir, dir, "kustomize.components"));
  while (pending.length > 0) {
    const dir = pending.pop() as string;
    if (visited.has(dir)) continue;
    visited.add(dir);
    if (visited.size > MAX_KUSTOMIZATIONS) {
      throw new RenderProblemError("limit", `more than ${MAX_KUSTOMIZATIONS} kustomizations referenced`);
    }
    const real = await realpath(dir).catch(() => undefined);
    if (real === undefined) continue;
    if (!isInside(realRoot, real)) {
      throw new RenderProblemError("render", `${relative(repoRoot, dir)}: symlink leaves the repository`);
    }
    const found = await readKustomization(dir, realRoot);
    if (!found) continue;
    const file = relative(repoRoot, found.path);
    for (const ref of collectRefs(found.content, DIRECTORY_FIELDS)) {
      const target = await checkRef(repoRoot, dir, ref, file);
      if (await isDirectory(target)) pending.push(target);
      else files.add(target);
    }
    for (const ref of collectFileRefs(found.content)) files.add(await checkRef(repoRoot, dir, ref, file));
  }
  return [...visited, ...files].map((path) => relative(repoRoot, path).split("\\").join("/"));
}

/**
 * The kustomization file in `dir` and its content (undefined when absent or not a mapping).
 * With `realRoot`, a kustomization file whose real path is outside it is a `render` problem.
 */
export async function readKustomization(
  dir: string,
  realRoot?: string,
): Promise<{ path: string; content: Record<string, unknown> } | undefined> {
  for (const name of KUSTOMIZATION_FILE_NAMES) {
    const path = join(dir, name);
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) continue;
    if (realRoot !== undefined && !isInside(realRoot, await realpath(path))) {
      throw new RenderProblemError("render", `${name}: symlink leaves the repository`);
    }
    if (info.size > MAX_KUSTOMIZATION_BYTES) {
      throw new RenderProblemError("limit", `${name}: larger than ${MAX_KUSTOMIZATION_BYTES} bytes`);
    }
    const text = await readFile(path, "utf8");
    const first = readYamlDocuments(text, relative(dir, path))[0];
    return isPlainObject(first?.value) ? { path, content: first.value } : undefined;
  }
  return undefined;
}

/**
 * The local path a reference names; a remote or escaping reference is a problem. An absolute
 * path always escapes: kustomize reads it as it is, not below the repository.
 */
async function checkRef(repoDir: string, dir: string, ref: string, file: string): Promise<string> {
  const local = join(dir, ref);
  if (URL_LIKE.test(ref) && !(await exists(local))) {
    throw new RenderProblemError(
      "render",
      `${file}: remote reference ${ref}: Flotilla renders without network access; vendor it into the repository`,
    );
  }
  if (isAbsolute(ref) || !isInside(repoDir, local)) {
    throw new RenderProblemError("invalid", `${file}: ${ref} resolves outside the repository`);
  }
  return local;
}

/**
 * The paths a kustomization names: `directories` may be other kustomizations (or remote bases),
 * `files` are patches, generator inputs and the like. Inline (multi-line) entries are left out.
 */
export function listKustomizationRefs(content: Record<string, unknown>): {
  directories: string[];
  files: string[];
} {
  return { directories: collectRefs(content, DIRECTORY_FIELDS), files: collectFileRefs(content) };
}

function collectRefs(content: Record<string, unknown>, fields: string[]): string[] {
  return fields.flatMap((field) => stringsOf(content[field]));
}

function collectFileRefs(content: Record<string, unknown>): string[] {
  const refs = collectRefs(content, FILE_LIST_FIELDS);
  for (const field of FILE_ITEM_FIELDS) {
    for (const item of listOf(content[field])) if (isPlainObject(item)) refs.push(...stringsOf(item.path));
  }
  for (const field of GENERATOR_FIELDS) {
    for (const item of listOf(content[field])) {
      if (!isPlainObject(item)) continue;
      const files = stringsOf(item.files).map((entry) => entry.slice(entry.indexOf("=") + 1));
      refs.push(...files, ...stringsOf(item.envs), ...stringsOf(item.env));
    }
  }
  if (isPlainObject(content.openapi)) refs.push(...stringsOf(content.openapi.path));
  return refs;
}

function listOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** Path-like strings: inline YAML (a multi-line string) is not a reference. */
function stringsOf(value: unknown): string[] {
  const items = Array.isArray(value) ? value : [value];
  return items.filter(
    (item): item is string => typeof item === "string" && item !== "" && !item.includes("\n"),
  );
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (info) => info.isDirectory(),
    () => false,
  );
}
