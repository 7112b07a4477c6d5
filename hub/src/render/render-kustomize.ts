import { readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { stringify } from "yaml";
import { decodeToolOutput, isPlainObject, readYamlDocuments } from "./decode-manifests.js";
import { KUSTOMIZATION_FILE_NAMES } from "./detect-tool.js";
import { type AppEnv, expandAppEnv } from "./expand-app-env.js";
import type { KubeObject } from "./kube-object.js";
import { RenderProblemError } from "./render-problem.js";
import { isInside } from "./repo-path.js";
import { runTool } from "./run-tool.js";
import type { KustomizeOptions } from "./source-spec.js";

/** A kustomize app inside a staged (writable, throw-away) copy of its repository. */
export type KustomizeRender = {
  kustomizePath: string;
  repoDir: string;
  appDir: string;
  /** Repository-relative app path, to name the app in problems. */
  appPath: string;
  options: KustomizeOptions;
  appEnv: AppEnv;
  toolEnv: Record<string, string>;
  timeoutMs: number;
  maxOutputBytes: number;
  /** Objects the output may hold; more is a `limit` problem. */
  maxObjects: number;
};

type KustomizeEdit = { name: string; args: (options: KustomizeOptions, env: AppEnv) => string[] | undefined };

/**
 * The `kustomize edit` commands Argo CD runs before building, in its order
 * (util/kustomize/kustomize.go Build); a step runs only when its field is set.
 */
const KUSTOMIZE_EDITS: readonly KustomizeEdit[] = [
  { name: "namePrefix", args: (o) => (o.namePrefix ? ["set", "nameprefix", "--", o.namePrefix] : undefined) },
  { name: "nameSuffix", args: (o) => (o.nameSuffix ? ["set", "namesuffix", "--", o.nameSuffix] : undefined) },
  {
    name: "images",
    args: (o, env) =>
      o.images?.length ? ["set", "image", ...o.images.map((i) => expandAppEnv(i, env))] : undefined,
  },
  {
    name: "replicas",
    args: (o) => (o.replicas?.length ? ["set", "replicas", ...o.replicas.map(formatReplica)] : undefined),
  },
  {
    name: "commonLabels",
    args: (o, env) =>
      hasEntries(o.commonLabels)
        ? [
            "add",
            "label",
            ...(o.forceCommonLabels ? ["--force"] : []),
            ...(o.labelWithoutSelector ? ["--without-selector"] : []),
            ...(o.labelIncludeTemplates ? ["--include-templates"] : []),
            ...Object.entries(o.commonLabels).map(([k, v]) => `${k}:${expandAppEnv(String(v), env)}`),
          ]
        : undefined,
  },
  {
    name: "commonAnnotations",
    args: (o, env) =>
      hasEntries(o.commonAnnotations)
        ? [
            "add",
            "annotation",
            ...(o.forceCommonAnnotations ? ["--force"] : []),
            ...Object.entries(o.commonAnnotations).map(
              ([k, v]) => `${k}:${o.commonAnnotationsEnvsubst ? expandAppEnv(String(v), env) : String(v)}`,
            ),
          ]
        : undefined,
  },
  { name: "namespace", args: (o) => (o.namespace ? ["set", "namespace", "--", o.namespace] : undefined) },
];

function hasEntries(map: Record<string, string> | undefined): map is Record<string, string> {
  return map !== undefined && map !== null && Object.keys(map).length > 0;
}

/** Argo CD's KustomizeReplica.GetIntCount: a number, or a string holding an integer. */
function formatReplica(replica: { name: string; count: number | string }): string {
  const count = typeof replica.count === "string" ? replica.count.trim() : replica.count;
  const valid = typeof count === "number" ? Number.isInteger(count) : /^[+-]?\d+$/.test(count);
  if (!valid) {
    throw new RenderProblemError(
      "invalid",
      `kustomize.replicas ${replica.name}: expected integer value for count. Received: ${replica.count}`,
    );
  }
  return `${replica.name}=${Number(count)}`;
}

/**
 * Renders a kustomize app as Argo CD does: the Application's options are applied with
 * `kustomize edit` in the app directory (patches appended to the kustomization file, components
 * added last), then `kustomize build <appDir>` runs from the repository root. The staged
 * repository must hold what findKustomizeInputs found, which also checked every reference.
 */
export async function renderKustomize(render: KustomizeRender): Promise<KubeObject[]> {
  const { options } = render;
  const where = render.appPath || ".";
  for (const edit of KUSTOMIZE_EDITS) {
    const args = edit.args(options, render.appEnv);
    if (args)
      await runKustomize(
        render,
        `kustomize edit (${edit.name}) in ${where}`,
        ["edit", ...args],
        render.appDir,
      );
  }
  if (options.patches?.length) await appendPatches(render.appDir, options.patches);
  if (options.components?.length) {
    const components = options.ignoreMissingComponents
      ? await filterExisting(render.repoDir, render.appDir, options.components)
      : options.components;
    if (components.length > 0) {
      const args = ["edit", "add", "component", ...components];
      await runKustomize(render, `kustomize edit (components) in ${where}`, args, render.appDir);
    }
  }
  const output = await runKustomize(
    render,
    `kustomize build ${where}`,
    ["build", render.appDir],
    render.repoDir,
  );
  return decodeToolOutput(output, `kustomize build ${where}`, render.maxObjects);
}

function runKustomize(render: KustomizeRender, label: string, args: string[], cwd: string): Promise<string> {
  return runTool({
    label,
    executable: render.kustomizePath,
    args,
    cwd,
    env: render.toolEnv,
    timeoutMs: render.timeoutMs,
    maxOutputBytes: render.maxOutputBytes,
    redact: (text) => text.replaceAll(render.repoDir, "."),
  });
}

type KustomizePatch = NonNullable<KustomizeOptions["patches"]>[number];

/** Argo CD has no `kustomize edit` for patches: it appends them to the kustomization file. */
async function appendPatches(appDir: string, patches: KustomizePatch[]): Promise<void> {
  const path = await findKustomizationFile(appDir);
  const name = path.slice(appDir.length + 1);
  const doc = readYamlDocuments(await readFile(path, "utf8"), name)[0];
  if (doc?.error !== undefined) throw new RenderProblemError("render", `${name}: ${doc.error}`);
  const kustomization = doc?.value;
  if (!isPlainObject(kustomization)) {
    throw new RenderProblemError("render", `${name}: expected a mapping to append kustomize.patches to`);
  }
  const existing = kustomization.patches ?? [];
  if (!Array.isArray(existing)) throw new RenderProblemError("render", `${name}: 'patches' is not a list`);
  kustomization.patches = [...existing, ...patches.map(toPatchEntry)];
  // Replace the file rather than write through it: it may share its inode with the checkout.
  await rm(path);
  // YAML 1.1 output quotes strings such as "yes" that kustomize's YAML 1.1 reader would turn into booleans.
  await writeFile(path, stringify(kustomization, { version: "1.1" }));
}

/** The patch as Argo CD's typed KustomizePatch serialises it (empty fields omitted). */
function toPatchEntry(patch: KustomizePatch): Record<string, unknown> {
  const entry: Record<string, unknown> = {};
  if (patch.path) entry.path = patch.path;
  if (patch.patch) entry.patch = patch.patch;
  if (patch.target && Object.keys(patch.target).length > 0) {
    const target: Record<string, unknown> = {};
    for (const key of [
      "group",
      "version",
      "kind",
      "name",
      "namespace",
      "annotationSelector",
      "labelSelector",
    ]) {
      const value = patch.target[key];
      if (typeof value === "string" && value !== "") target[key] = value;
    }
    entry.target = target;
  }
  if (patch.options && Object.keys(patch.options).length > 0) entry.options = patch.options;
  return entry;
}

async function findKustomizationFile(appDir: string): Promise<string> {
  for (const name of KUSTOMIZATION_FILE_NAMES) {
    const path = join(appDir, name);
    if (
      await stat(path).then(
        (info) => info.isFile(),
        () => false,
      )
    )
      return path;
  }
  throw new RenderProblemError("render", "kustomization file not found in the path");
}

/** ignoreMissingComponents: keep the components that exist inside the repository. */
async function filterExisting(repoDir: string, appDir: string, components: string[]): Promise<string[]> {
  const kept: string[] = [];
  for (const component of components) {
    const path = join(appDir, component);
    if (!isInside(repoDir, path)) continue;
    if (
      await stat(path).then(
        () => true,
        () => false,
      )
    )
      kept.push(component);
  }
  return kept;
}
