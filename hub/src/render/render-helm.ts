import { lstat, readdir, realpath, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { decodeToolOutput } from "./decode-manifests.js";
import { type AppEnv, expandAppEnv } from "./expand-app-env.js";
import type { KubeObject } from "./kube-object.js";
import { compileGlob, isGlobPath } from "./match-glob.js";
import { RenderProblemError } from "./render-problem.js";
import { compareNames, isInside, resolveRepoFile } from "./repo-path.js";
import { runTool } from "./run-tool.js";
import type { HelmOptions } from "./source-spec.js";

/** A chart inside a staged (writable, throw-away) copy of its repository. */
export type HelmRender = {
  helmPath: string;
  /** The checkout: valueFiles and fileParameters are resolved and read in it. */
  repoDir: string;
  /** The app directory in the checkout, base of relative valueFiles. */
  sourceAppDir: string;
  /** The staged copy of the chart, where helm runs. */
  appDir: string;
  /** The staged repository, named "." in problems like the checkout. */
  stagedRepoDir: string;
  /** Repository-relative app path, to name the app in problems. */
  appPath: string;
  options: HelmOptions;
  appName: string;
  destinationNamespace: string;
  /** The destination cluster's version and API versions, used unless the source sets its own. */
  kubeVersion?: string;
  apiVersions?: string[];
  /** Checkouts of the app's other sources by `ref` name, for `$name/...` paths. */
  refs: Record<string, { dir: string }>;
  appEnv: AppEnv;
  toolEnv: Record<string, string>;
  /** Where generated values files go (removed with the render). */
  scratchDir: string;
  timeoutMs: number;
  maxOutputBytes: number;
  /** Objects the output may hold; more is a `limit` problem. */
  maxObjects: number;
};

const MISSING_DEPENDENCY =
  /found in (?:Chart|requirements)\.yaml, but missing in charts\/? directory:\s*([^\n]*)/;

/**
 * Renders a chart with `helm template .` exactly as Argo CD builds the command
 * (util/helm/cmd.go template): release name, namespace, kube version, `--set`/`--set-string`
 * with commas escaped, `--set-file`, valueFiles in order, the values/valuesObject file last,
 * API versions, `--include-crds` unless skipCrds, then skip flags. Dependencies must be
 * vendored in charts/: Flotilla never downloads them.
 */
export async function renderHelm(render: HelmRender): Promise<KubeObject[]> {
  const args = await buildTemplateArgs(render);
  let output: string;
  try {
    output = await runTool({
      label: `helm template ${render.appPath || "."}`,
      executable: render.helmPath,
      args,
      cwd: render.appDir,
      env: render.toolEnv,
      timeoutMs: render.timeoutMs,
      maxOutputBytes: render.maxOutputBytes,
      redact: (text) =>
        text
          .replaceAll(render.stagedRepoDir, ".")
          .replaceAll(render.repoDir, ".")
          .replaceAll(render.scratchDir, "<generated>"),
    });
  } catch (error) {
    const missing = error instanceof RenderProblemError ? MISSING_DEPENDENCY.exec(error.message) : null;
    if (missing) {
      throw new RenderProblemError(
        "render",
        `${render.appPath || "."}: chart dependencies not vendored in charts/: ${missing[1]?.trim()}; Flotilla does not download them (run \`helm dependency build\` and commit charts/)`,
        { cause: error },
      );
    }
    throw error;
  }
  return decodeToolOutput(output, `helm template ${render.appPath || "."}`, render.maxObjects);
}

async function buildTemplateArgs(render: HelmRender): Promise<string[]> {
  const { options } = render;
  const args = ["template", ".", "--name-template", options.releaseName || releaseNameOf(render.appName)];
  const namespace = options.namespace || render.destinationNamespace;
  if (namespace) args.push("--namespace", namespace);
  const kubeVersion = parseKubeVersion(options.kubeVersion || render.kubeVersion || "");
  if (kubeVersion) args.push("--kube-version", kubeVersion);

  const set = new Map<string, string>();
  const setString = new Map<string, string>();
  for (const parameter of options.parameters ?? []) {
    (parameter.forceString ? setString : set).set(parameter.name, parameter.value ?? "");
  }
  for (const [name, value] of set)
    args.push("--set", `${name}=${escapeSetValue(expandAppEnv(value, render.appEnv))}`);
  for (const [name, value] of setString) {
    args.push("--set-string", `${name}=${escapeSetValue(expandAppEnv(value, render.appEnv))}`);
  }
  const setFile = new Map<string, string>();
  for (const parameter of options.fileParameters ?? []) {
    setFile.set(parameter.name, await resolveFileParameter(render, parameter));
  }
  for (const [name, path] of setFile) args.push("--set-file", `${name}=${escapeSetValue(path)}`);

  for (const file of await resolveValueFiles(render)) args.push("--values", file);
  const inlineValues = inlineValuesOf(options);
  if (inlineValues) {
    const path = join(render.scratchDir, "values-from-application.yaml");
    await writeFile(path, inlineValues);
    args.push("--values", path);
  }
  const apiVersions = options.apiVersions?.length ? options.apiVersions : (render.apiVersions ?? []);
  for (const apiVersion of apiVersions) args.push("--api-versions", apiVersion);
  if (!options.skipCrds) args.push("--include-crds");
  if (options.skipSchemaValidation) args.push("--skip-schema-validation");
  if (options.skipTests) args.push("--skip-tests");
  return args;
}

/** Argo CD's release name default: the app name, without a `namespace_` prefix. */
function releaseNameOf(appName: string): string {
  const at = appName.indexOf("_");
  return at < 0 ? appName : appName.slice(at + 1);
}

/**
 * Argo CD's cleanSetParameters: every comma not already escaped is escaped, so helm's `--set`
 * parser keeps the value whole; a value wrapped in `{...}` is helm's list syntax and passes as is.
 * Dots and equals signs in a value are already literal to helm.
 */
export function escapeSetValue(value: string): string {
  if (value.startsWith("{") && value.endsWith("}")) return value;
  let out = "";
  let previous = "";
  for (const char of value) {
    out += char === "," && previous !== "\\" ? "\\," : char;
    previous = char;
  }
  return out;
}

/** values/valuesObject as one YAML document (valuesObject wins), or "" when neither is set. */
function inlineValuesOf(options: HelmOptions): string {
  if (options.valuesObject !== undefined && options.valuesObject !== null)
    return JSON.stringify(options.valuesObject);
  return options.values ?? "";
}

/**
 * Kubernetes' version.ParseGeneric then String(), as Argo CD normalises kubeVersion:
 * "v1.29.3-gke.1" -> "1.29.3". A malformed version is an `invalid` problem.
 */
export function parseKubeVersion(version: string): string {
  if (version === "") return "";
  const match = /^\s*v?([0-9]+(?:\.[0-9]+)*)(.*)$/s.exec(version);
  const components = match?.[1]?.split(".") ?? [];
  if (components.length < 2 || (components[0]?.startsWith("0") && components[0] !== "0")) {
    throw new RenderProblemError("invalid", `could not parse kubernetes version ${version}`);
  }
  return components.map((c) => String(Number.parseInt(c, 10))).join(".");
}

type ResolvedRef = { root: string; rest: string };

/** `$name/path` names a file at the root of the source whose `ref` is `name`. */
function findRef(render: HelmRender, raw: string): ResolvedRef | undefined {
  if (!raw.startsWith("$")) return undefined;
  const slash = raw.indexOf("/");
  const token = slash < 0 ? raw : raw.slice(0, slash);
  const ref = render.refs[token.slice(1)] ?? render.refs[token];
  if (!ref) return undefined;
  return { root: ref.dir, rest: slash < 0 ? "/" : raw.slice(slash) };
}

const URL_SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):/;

/** One valueFiles/fileParameters entry as a path inside its repository (not yet checked to exist). */
async function resolveEntry(
  render: HelmRender,
  raw: string,
  label: string,
): Promise<{ path: string; root: string; exists: boolean }> {
  const ref = findRef(render, raw);
  if (ref) {
    const file = await resolveRepoFile(ref.root, ref.root, expandAppEnv(ref.rest, render.appEnv), label);
    return { ...file, root: ref.root };
  }
  const expanded = expandAppEnv(raw, render.appEnv);
  const scheme = URL_SCHEME.exec(expanded)?.[1]?.toLowerCase();
  if (scheme === "http" || scheme === "https") {
    throw new RenderProblemError(
      "unsupported",
      `${label}: ${raw}: remote files are not fetched (no network)`,
    );
  }
  if (scheme)
    throw new RenderProblemError("invalid", `${label}: ${raw}: the URL scheme '${scheme}' is not allowed`);
  const file = await resolveRepoFile(render.repoDir, render.sourceAppDir, expanded, label);
  return { ...file, root: render.repoDir };
}

async function resolveFileParameter(
  render: HelmRender,
  parameter: { name: string; path: string },
): Promise<string> {
  const label = `helm.fileParameters ${parameter.name}`;
  const file = await resolveEntry(render, parameter.path, label);
  if (!file.exists)
    throw new RenderProblemError("render", `${label}: ${parameter.path}: no such file in the repository`);
  return file.path;
}

/**
 * valueFiles as Argo CD resolves them (repository.go getResolvedValueFiles): in order, each
 * once; globs expand in lexical walk order, an explicitly listed file keeping its own position;
 * a missing file or an empty glob is a problem unless ignoreMissingValueFiles.
 */
async function resolveValueFiles(render: HelmRender): Promise<string[]> {
  const { options } = render;
  const rawFiles = options.valueFiles ?? [];
  const label = "helm.valueFiles";
  const explicit = new Set<string>();
  for (const raw of rawFiles) {
    const entry = await resolveEntry(render, raw, label).catch(() => undefined);
    if (entry && !isGlobPath(entry.path)) explicit.add(entry.path);
  }
  const resolved: string[] = [];
  const add = (path: string) => {
    if (!resolved.includes(path)) resolved.push(path);
  };
  for (const raw of rawFiles) {
    const entry = await resolveEntry(render, raw, label);
    if (isGlobPath(entry.path)) {
      const matches = await expandGlob(entry.root, entry.path, `${label}: ${raw}`);
      if (matches.length === 0) {
        if (options.ignoreMissingValueFiles) continue;
        throw new RenderProblemError("render", `${label}: values file glob "${raw}" matched no files`);
      }
      for (const match of matches) if (!explicit.has(match)) add(match);
      continue;
    }
    if (!entry.exists) {
      if (options.ignoreMissingValueFiles) continue;
      throw new RenderProblemError("render", `${label}: ${raw}: no such file in the repository`);
    }
    add(entry.path);
  }
  return resolved;
}

const MAX_GLOB_ENTRIES = 100_000;

/** doublestar.FilepathGlob over `root`: files (and links to files inside root) in walk order. */
async function expandGlob(root: string, pattern: string, label: string): Promise<string[]> {
  const relPattern = relative(root, pattern).split("\\").join("/");
  const regex = compileGlob(relPattern, "doublestar");
  if (!regex) throw new RenderProblemError("invalid", `${label}: malformed glob`);
  const segments = relPattern.split("/");
  const firstGlob = segments.findIndex((segment) => /[*?[{\\]/.test(segment));
  const base = join(root, ...segments.slice(0, firstGlob < 0 ? segments.length : firstGlob));
  const realRoot = await realpath(root);
  const matches: string[] = [];
  let seen = 0;
  const visit = async (dir: string): Promise<void> => {
    let names: string[];
    try {
      names = (await readdir(dir)).sort(compareNames);
    } catch {
      return;
    }
    for (const name of names) {
      seen += 1;
      if (seen > MAX_GLOB_ENTRIES)
        throw new RenderProblemError("limit", `${label}: glob walks too many files`);
      const path = join(dir, name);
      const info = await lstat(path);
      if (info.isDirectory()) {
        await visit(path);
        continue;
      }
      if (!regex.test(relative(root, path).split("\\").join("/"))) continue;
      const real = await realpath(path).catch(() => undefined);
      if (real === undefined) continue;
      if (!isInside(realRoot, real)) {
        throw new RenderProblemError(
          "invalid",
          `${label}: glob match ${relative(root, path)} resolved to outside repository root`,
        );
      }
      matches.push(path);
    }
  };
  await visit(base);
  return matches;
}
