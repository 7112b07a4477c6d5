import { mkdir, mkdtemp, readdir, realpath, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { DEFAULT_MAX_RENDER_OBJECTS } from "./decode-manifests.js";
import { detectTool, type RenderToolName } from "./detect-tool.js";
import { type AppEnv, createAppEnv } from "./expand-app-env.js";
import { findKustomizeInputs } from "./find-kustomize-inputs.js";
import type { KubeObject } from "./kube-object.js";
import { mergeSourceOverrides } from "./merge-source-overrides.js";
import { renderDirectory } from "./render-directory.js";
import { renderHelm } from "./render-helm.js";
import { renderKustomize } from "./render-kustomize.js";
import { type RenderProblem, RenderProblemError } from "./render-problem.js";
import { isInside, normalizeRepoPath, resolveAppDir } from "./repo-path.js";
import type { ApplicationSource } from "./source-spec.js";
import { stageWorkTree } from "./stage-work-tree.js";
import { createToolEnv } from "./tool-env.js";

export const DEFAULT_RENDER_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_RENDER_OUTPUT_BYTES = 64 * 1024 * 1024;
/** Files and directories a repository may have before staging it for a tool is a `limit` problem. */
const MAX_STAGED_ENTRIES = 200_000;

/** The external tools and the limits every render runs under. */
export type RenderTools = {
  kustomizePath: string;
  helmPath: string;
  /** Per tool invocation; the process group is killed after it. Default 60 s. */
  timeoutMs: number;
  /** Cap on a tool's stdout and on the manifest bytes a directory app reads. Default 64 MiB. */
  maxOutputBytes: number;
  /**
   * Objects one render may produce; more is a `limit` problem, raised while decoding so the
   * rest is never parsed. Default 10,000 (DEFAULT_MAX_RENDER_OBJECTS), the resolver's per-app limit.
   */
  maxObjects: number;
  /** Throw-away directories are made under it (created if missing) and removed after each render. */
  workDir: string;
  /**
   * Called after every render that reached a tool (detection succeeded), with how long the tool's
   * step took and whether it produced objects; for metrics. Must not throw. Default: nobody.
   */
  onRendered?: (render: { tool: RenderToolName; seconds: number; ok: boolean }) => void;
};

/** RenderTools with the defaults filled in. */
export function createRenderTools(
  tools: Pick<RenderTools, "kustomizePath" | "helmPath" | "workDir"> & Partial<RenderTools>,
): RenderTools {
  return {
    timeoutMs: DEFAULT_RENDER_TIMEOUT_MS,
    maxOutputBytes: DEFAULT_MAX_RENDER_OUTPUT_BYTES,
    maxObjects: DEFAULT_MAX_RENDER_OBJECTS,
    ...tools,
  };
}

/** A repository materialised at one commit (from ../source), read-only to render. */
export type Checkout = {
  dir: string;
  commit: string;
  /** Repository-relative paths of symlinks that leave the repository. */
  unsafeLinks: string[];
  /** Repository-relative paths of files over the source size limit. */
  oversized: string[];
};

export type RenderInput = {
  appName: string;
  destinationNamespace: string;
  project?: string;
  source: ApplicationSource;
  checkout: Checkout;
  /** Multi-source apps: `ref` name -> that source's checkout, for `$name/...` valueFiles. */
  refs?: Record<string, { dir: string; commit: string }>;
  /** The destination cluster's version and API versions (Helm `.Capabilities`). */
  kubeVersion?: string;
  apiVersions?: string[];
};

export type RenderOutcome =
  | { ok: true; tool: RenderToolName; objects: KubeObject[] }
  | { ok: false; problem: RenderProblem };

/**
 * Renders one Application source to Kubernetes objects exactly as Argo CD's repo-server would
 * (shared research notes, argocd-semantics.md §2): `.argocd-source*.yaml` overrides merged,
 * the tool detected, then a directory read or the real kustomize or helm run in a throw-away
 * copy of the repository. Never throws: every failure is a problem value.
 */
export async function renderSource(input: RenderInput, tools: RenderTools): Promise<RenderOutcome> {
  return (await renderSourceForCache(input, tools)).outcome;
}

/** renderSource, also saying whether the outcome may be cached (a timeout may not). */
export async function renderSourceForCache(
  input: RenderInput,
  tools: RenderTools,
): Promise<{ outcome: RenderOutcome; cacheable: boolean }> {
  try {
    return { outcome: { ok: true, ...(await renderOrThrow(input, tools)) }, cacheable: true };
  } catch (error) {
    if (error instanceof RenderProblemError) {
      return {
        outcome: { ok: false, problem: { kind: error.kind, message: error.message } },
        cacheable: error.cacheable,
      };
    }
    const message = error instanceof Error ? error.message : String(error);
    return {
      outcome: { ok: false, problem: { kind: "render", message: `${input.source.path || "."}: ${message}` } },
      cacheable: false,
    };
  }
}

/** One app on its way through a renderer. */
type AppRender = {
  input: RenderInput;
  tools: RenderTools;
  /** The source after `.argocd-source*.yaml` overrides. */
  source: ApplicationSource;
  appPath: string;
  appDir: string;
  appEnv: AppEnv;
};

const RENDERERS: Record<RenderToolName, (app: AppRender) => Promise<KubeObject[]>> = {
  directory: renderDirectoryApp,
  kustomize: renderKustomizeApp,
  helm: renderHelmApp,
};

async function renderOrThrow(
  input: RenderInput,
  tools: RenderTools,
): Promise<{ tool: RenderToolName; objects: KubeObject[] }> {
  const { source, checkout } = input;
  if (source.chart) {
    throw new RenderProblemError(
      "unsupported",
      `chart ${source.chart} from ${source.repoURL}: Helm chart repositories are not supported (Flotilla renders from Git without network)`,
    );
  }
  // Argo CD renders nothing for a ref-only source of a multi-source app.
  if (source.ref && !source.path) return { tool: "directory", objects: [] };

  const appPath = normalizeRepoPath(source.path ?? "");
  checkListedEntries(checkout, appPath);
  const appDir = await resolveAppDir(checkout.dir, source.path ?? "");
  const merged = await mergeSourceOverrides(source, appDir, checkout.dir, input.appName);
  const files = (await readdir(appDir, { withFileTypes: true }))
    .filter((e) => !e.isDirectory())
    .map((e) => e.name);
  const detection = detectTool(merged, files);
  if (!detection.ok) throw new RenderProblemError(detection.problem.kind, detection.problem.message);
  const appEnv = createAppEnv({
    appName: input.appName,
    destinationNamespace: input.destinationNamespace,
    ...(input.project !== undefined ? { project: input.project } : {}),
    commit: checkout.commit,
    repoURL: source.repoURL,
    ...(source.path !== undefined ? { path: source.path } : {}),
    ...(source.targetRevision !== undefined ? { targetRevision: source.targetRevision } : {}),
  });
  const app: AppRender = { input, tools, source: merged, appPath, appDir, appEnv };
  const startedMs = performance.now();
  let ok = false;
  try {
    const objects = await RENDERERS[detection.tool](app);
    ok = true;
    return { tool: detection.tool, objects };
  } finally {
    tools.onRendered?.({ tool: detection.tool, seconds: (performance.now() - startedMs) / 1_000, ok });
  }
}

/** A path (the app's, a kustomize input's) holding or passing through an unsafe link, or holding an oversized file. */
function checkListedEntries(checkout: Checkout, appPath: string): void {
  for (const link of checkout.unsafeLinks.map(normalizeRepoPath)) {
    if (isUnder(appPath, link) || isUnder(link, appPath)) {
      throw new RenderProblemError("render", `${link}: symlink leaves the repository`);
    }
  }
  for (const file of checkout.oversized.map(normalizeRepoPath)) {
    if (isUnder(appPath, file))
      throw new RenderProblemError("limit", `${file}: file exceeds the repository file size limit`);
  }
}

function isUnder(parent: string, child: string): boolean {
  return parent === "" || child === parent || child.startsWith(`${parent}/`);
}

async function renderDirectoryApp(app: AppRender): Promise<KubeObject[]> {
  return renderDirectory({
    repoRoot: await realpath(app.input.checkout.dir),
    appDir: app.appDir,
    appPath: app.appPath,
    options: app.source.directory ?? {},
    maxTotalBytes: app.tools.maxOutputBytes,
    maxObjects: app.tools.maxObjects,
  });
}

/** A writable copy of the directories a tool needs, in a throw-away directory removed afterwards. */
type StagedApp = AppRender & { scratchDir: string; repoDir: string; stagedAppDir: string };

async function withStagedRepo(
  app: AppRender,
  roots: string[],
  render: (staged: StagedApp) => Promise<KubeObject[]>,
): Promise<KubeObject[]> {
  await mkdir(app.tools.workDir, { recursive: true });
  const scratchDir = await mkdtemp(join(app.tools.workDir, "render-"));
  try {
    const repoDir = join(scratchDir, "repo");
    const { droppedLinks } = await stageWorkTree(app.input.checkout.dir, repoDir, roots, MAX_STAGED_ENTRIES);
    const inApp = droppedLinks.find((link) => isUnder(app.appPath, link) || isUnder(link, app.appPath));
    if (inApp !== undefined)
      throw new RenderProblemError("render", `${inApp}: symlink leaves the repository`);
    try {
      return await render({ ...app, scratchDir, repoDir, stagedAppDir: join(repoDir, app.appPath) });
    } catch (error) {
      // A base elsewhere may have been such a link: say so next to the tool's error.
      if (!(error instanceof RenderProblemError) || error.kind !== "render" || droppedLinks.length === 0)
        throw error;
      const links = droppedLinks.slice(0, 5).join(", ");
      throw new RenderProblemError(
        "render",
        `${error.message} (symlinks that leave the repository were left out: ${links})`,
        { cause: error, cacheable: error.cacheable },
      );
    }
  } finally {
    await rm(scratchDir, { recursive: true, force: true, maxRetries: 3 });
  }
}

async function renderKustomizeApp(app: AppRender): Promise<KubeObject[]> {
  const options = app.source.kustomize ?? {};
  for (const patch of options.patches ?? []) {
    if (patch.path && !isInside(app.input.checkout.dir, resolve(app.appDir, patch.path))) {
      throw new RenderProblemError(
        "invalid",
        `kustomize.patches: ${patch.path} resolves outside the repository`,
      );
    }
  }
  const inputs = await findKustomizeInputs(app.input.checkout.dir, app.appDir, options.components ?? []);
  // A base elsewhere in the repository may hold a link the checkout left out: name it, rather
  // than let kustomize report a missing file.
  for (const input of inputs) checkListedEntries(app.input.checkout, normalizeRepoPath(input));
  return withStagedRepo(app, inputs, async (staged) => {
    const extra: Record<string, string> = {};
    for (const [name, value] of Object.entries(app.appEnv)) if (value !== "") extra[name] = value;
    return renderKustomize({
      kustomizePath: app.tools.kustomizePath,
      repoDir: staged.repoDir,
      appDir: staged.stagedAppDir,
      appPath: app.appPath,
      options,
      appEnv: app.appEnv,
      toolEnv: await createToolEnv(staged.scratchDir, extra),
      timeoutMs: app.tools.timeoutMs,
      maxOutputBytes: app.tools.maxOutputBytes,
      maxObjects: app.tools.maxObjects,
    });
  });
}

async function renderHelmApp(app: AppRender): Promise<KubeObject[]> {
  const { input } = app;
  return withStagedRepo(app, [app.appPath], async (staged) =>
    renderHelm({
      helmPath: app.tools.helmPath,
      repoDir: input.checkout.dir,
      sourceAppDir: app.appDir,
      appDir: staged.stagedAppDir,
      stagedRepoDir: staged.repoDir,
      appPath: app.appPath,
      options: app.source.helm ?? {},
      appName: input.appName,
      destinationNamespace: input.destinationNamespace,
      ...(input.kubeVersion !== undefined ? { kubeVersion: input.kubeVersion } : {}),
      ...(input.apiVersions !== undefined ? { apiVersions: input.apiVersions } : {}),
      refs: input.refs ?? {},
      appEnv: app.appEnv,
      toolEnv: await createToolEnv(staged.scratchDir),
      scratchDir: staged.scratchDir,
      timeoutMs: app.tools.timeoutMs,
      maxOutputBytes: app.tools.maxOutputBytes,
      maxObjects: app.tools.maxObjects,
    }),
  );
}
