// The git generator (argo-cd applicationset/generators/git.go): `directories` (one param set per
// matching directory) or `files` (one per YAML/JSON object in each matching file).

import { appendValues, readValues } from "./clusters-generator.js";
import { type GeneratorContext, GeneratorError, wrapError } from "./generator-context.js";
import {
  compareGoStrings,
  formatGoValue,
  type GoMap,
  type GoValue,
  isGoMap,
  isStringSlice,
  putKey,
  tagGoType,
} from "./go-value.js";
import { parseYamlLikeGo } from "./go-yaml.js";
import { matchGitPathspec, matchGoPath } from "./match-path.js";
import { normalizeName } from "./normalize-name.js";
import type { ParamSet } from "./param-set.js";
import { getPathBase, getPathDir } from "./template-functions.js";

type PathItem = { path: string; exclude: boolean };

function readItems(value: unknown, field: string): PathItem[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new GeneratorError(`${field} must be a list`, "invalid");
  return value.map((item, i) => {
    const { path, exclude } = (item ?? {}) as { path?: unknown; exclude?: unknown };
    if (typeof path !== "string") throw new GeneratorError(`${field}[${i}].path must be a string`, "invalid");
    if (exclude !== undefined && exclude !== null && typeof exclude !== "boolean") {
      throw new GeneratorError(`${field}[${i}].exclude must be a boolean`, "invalid");
    }
    return { path, exclude: exclude === true };
  });
}

/** Orders paths as filepath.WalkDir visits them: depth first, each directory's entries by name. */
function compareWalkOrder(a: string, b: string): number {
  const pa = a.split("/");
  const pb = b.split("/");
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const d = compareGoStrings(pa[i] ?? "", pb[i] ?? "");
    if (d !== 0) return d;
  }
  return pa.length - pb.length;
}

function wrapReaderError(error: unknown, context: string): GeneratorError {
  const reason = (error as { reason?: unknown } | null)?.reason;
  const message = error instanceof Error ? error.message : String(error);
  return new GeneratorError(`${context}: ${message}`, reason === "limit" ? "limit" : "source", {
    cause: error,
  });
}

/**
 * Directories: all directories of the repository (root and hidden ones excluded), kept when some
 * non-exclude pattern matches with Go's path.Match and no exclude pattern does. Files: every file
 * matching an include pattern (git pathspec glob) and no exclude pattern, sorted, each parsed as
 * one object or a list of objects.
 */
export async function generateGitParams(
  spec: Record<string, unknown>,
  context: GeneratorContext,
): Promise<ParamSet[]> {
  const repoURL = typeof spec.repoURL === "string" ? spec.repoURL : "";
  const revision = typeof spec.revision === "string" ? spec.revision : "";
  if (spec.pathParamPrefix !== undefined && typeof spec.pathParamPrefix !== "string") {
    throw new GeneratorError("pathParamPrefix must be a string", "invalid");
  }
  const prefix = (spec.pathParamPrefix as string | undefined) ?? "";
  const values = readValues(spec);
  const directories = readItems(spec.directories, "directories");
  const files = readItems(spec.files, "files");
  const where = `${repoURL}@${revision || "HEAD"}`;
  if (directories.length > 0) {
    let all: string[];
    try {
      all = await context.git.listDirectories(repoURL, revision);
    } catch (error) {
      throw wrapReaderError(error, `error getting directories from repo ${where}`);
    }
    const visible = all
      .map((path) => path.replace(/^\.\//, "").replace(/\/+$/, ""))
      .filter((path) => path !== "" && path !== "." && !path.split("/").some((part) => part.startsWith(".")))
      .sort(compareWalkOrder);
    const chosen = visible.filter((path) => {
      const matching = directories.filter((item) => matchGoPath(item.path, path));
      return matching.some((item) => !item.exclude) && !matching.some((item) => item.exclude);
    });
    return chosen.map((path) => {
      const params = buildDirectoryParams(path, prefix, context.engine.goTemplate);
      appendValues(params, values, context);
      return params;
    });
  }
  if (files.length > 0) return generateFileParams(repoURL, revision, files, prefix, values, context);
  throw new GeneratorError(
    "ApplicationSet is empty: the git generator needs directories or files",
    "invalid",
  );
}

function buildDirectoryParams(path: string, prefix: string, goTemplate: boolean): ParamSet {
  const params: ParamSet = {};
  if (goTemplate) {
    const entry = buildPathParams(path, undefined);
    putKey(params, prefix || "path", prefix ? { path: entry } : entry);
  } else {
    addFlatPathParams(params, prefix, path, undefined);
  }
  return params;
}

function addFlatPathParams(params: ParamSet, prefix: string, dir: string, file: string | undefined): void {
  const name = prefix ? `${prefix}.path` : "path";
  const basename = getPathBase(dir);
  putKey(params, name, dir);
  putKey(params, `${name}.basename`, basename);
  if (file !== undefined) putKey(params, `${name}.filename`, file);
  putKey(params, `${name}.basenameNormalized`, normalizeName(basename));
  if (file !== undefined) putKey(params, `${name}.filenameNormalized`, normalizeName(file));
  dir.split("/").forEach((segment, i) => {
    if (segment !== "") putKey(params, `${name}[${i}]`, segment);
  });
}

async function generateFileParams(
  repoURL: string,
  revision: string,
  items: PathItem[],
  prefix: string,
  values: Record<string, string>,
  context: GeneratorContext,
): Promise<ParamSet[]> {
  const where = `${repoURL}@${revision || "HEAD"}`;
  let all: string[];
  try {
    all = await context.git.listFiles(repoURL, revision);
  } catch (error) {
    throw wrapReaderError(error, `error listing files of repo ${where}`);
  }
  const includes = items.filter((item) => !item.exclude);
  const excludes = items.filter((item) => item.exclude);
  const chosen = [...new Set(all)]
    .filter((path) => includes.some((item) => matchGitPathspec(item.path, path)))
    .filter((path) => !excludes.some((item) => matchGitPathspec(item.path, path)))
    .sort(compareGoStrings);
  const result: ParamSet[] = [];
  for (const path of chosen) {
    let content: Uint8Array | string | undefined;
    try {
      content = await context.git.readFile(repoURL, revision, path);
    } catch (error) {
      throw wrapReaderError(error, `unable to read file '${path}' from repository '${repoURL}'`);
    }
    if (content === undefined) {
      throw new GeneratorError(
        `unable to read file '${path}' from repository '${repoURL}': it does not exist`,
        "source",
      );
    }
    const text = typeof content === "string" ? content : new TextDecoder().decode(content);
    const size = typeof content === "string" ? Buffer.byteLength(content) : content.byteLength;
    if (size > context.limits.maxParamFileBytes) {
      throw new GeneratorError(
        `file '${path}' from repository '${repoURL}' is ${size} bytes, over the limit of ${context.limits.maxParamFileBytes}`,
        "limit",
      );
    }
    try {
      result.push(...buildFileParams(path, text, prefix, values, context));
    } catch (error) {
      throw wrapError(`unable to process file '${path}' from repository '${repoURL}'`, error);
    }
  }
  return result;
}

function buildFileParams(
  path: string,
  text: string,
  prefix: string,
  values: Record<string, string>,
  context: GeneratorContext,
): ParamSet[] {
  let parsed: GoValue;
  try {
    parsed = parseYamlLikeGo(text);
  } catch (error) {
    throw new GeneratorError(`unable to parse file: ${(error as Error).message}`, "invalid");
  }
  let objects: (GoValue | null)[];
  if (parsed === null) objects = [{}];
  else if (isGoMap(parsed)) objects = [parsed];
  else if (Array.isArray(parsed) && parsed.every((item) => item === null || isGoMap(item))) objects = parsed;
  else {
    throw new GeneratorError(
      "unable to parse file: it is neither an object nor a list of objects",
      "invalid",
    );
  }
  const dir = getPathDir(path);
  return objects.map((object) => {
    const params: ParamSet = {};
    if (context.engine.goTemplate) {
      if (isGoMap(object)) for (const key of Object.keys(object)) putKey(params, key, object[key]);
      const entry = buildPathParams(dir, getPathBase(path));
      putKey(params, prefix || "path", prefix ? { path: entry } : entry);
    } else {
      if (isGoMap(object)) flattenInto(params, object, "");
      addFlatPathParams(params, prefix, dir, getPathBase(path));
    }
    appendValues(params, values, context);
    return params;
  });
}

/** jeremywohl/flatten with dots, values printed with %v. */
function flattenInto(params: ParamSet, value: GoValue, key: string): void {
  if (isGoMap(value)) {
    for (const sub of Object.keys(value)) flattenInto(params, value[sub], key ? `${key}.${sub}` : sub);
  } else if (Array.isArray(value) && !isStringSlice(value)) {
    value.forEach((item, i) => {
      flattenInto(params, item, key ? `${key}.${i}` : String(i));
    });
  } else if (key !== "") {
    putKey(params, key, formatGoValue(value));
  }
}

/** The goTemplate `path` param: {path, basename, basenameNormalized, segments}, plus filename and filenameNormalized for a file. */
function buildPathParams(dir: string, file: string | undefined): GoMap {
  const basename = getPathBase(dir);
  const params: GoMap = { path: dir, basename };
  if (file !== undefined) params.filename = file;
  params.basenameNormalized = normalizeName(basename);
  if (file !== undefined) params.filenameNormalized = normalizeName(file);
  params.segments = tagGoType(dir.split("/"), "[]string");
  return params;
}
