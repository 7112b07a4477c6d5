// The `resolve` benchmark (DESIGN.md section 6: 1,000 apps x 1,000 clusters through
// ApplicationSets, <= 3 s cold, <= 300 ms after a one-file change). A synthetic fleet repository
// (hub/src/resolve/synthetic-fleet.ts) laid out like gitops-bridge add-ons: `apps/app-NNNN/`
// directory apps of three objects each, and per app an ApplicationSet in `appsets/` whose
// clusters generator sends it to every cluster. (One ApplicationSet with a matrix of git directories x clusters would be the other
// common layout, but one generator may yield at most 100,000 param sets.)
//
// Every run is a child process of its own (fresh heap, fresh render cache, fresh git cache):
// it resolves the repository cold, then commits a one-file change (one app's ConfigMap, new
// content each time) and resolves again, `changes` times, passing each resolve the memo of the
// ones before as the hub's resolver loop does. The repository is built once, with
// the git command line, by the parent. This file is also that child's entry point.
import { fork } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve as resolvePath } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { createRenderCache, type RenderCache, renderSourceCached } from "@flotilla/hub/render/render-cache";
import { createRenderTools } from "@flotilla/hub/render/render-source";
import { createFixtureRepo, openFixtureRepo } from "@flotilla/hub/resolve/fixture-repo";
import {
  createResolveMemo,
  type FleetResolution,
  type FleetRoot,
  type ResolveDeps,
  type ResolveMemo,
  resolveFleet,
} from "@flotilla/hub/resolve/resolve-fleet";
import {
  syntheticAppName,
  syntheticClusters,
  syntheticConfigMap,
  syntheticFleetFiles,
} from "@flotilla/hub/resolve/synthetic-fleet";
import { openGitSource } from "@flotilla/hub/source/git-source";
import { type BenchResult, extraFigure, result } from "./bench-result.js";

export type ResolveBenchOptions = {
  quick: boolean;
  /** Default 1,000 (quick: 300). */
  apps?: number;
  /** Default 1,000. */
  clusters?: number;
  /** Cold resolves, each in a fresh process. Default 3. */
  runs?: number;
  /** One-file changes resolved after each cold resolve. Default 3 (quick: 2). */
  changes?: number;
  onProgress: (line: string) => void;
};

/** What one child process measured. */
export type ResolveRun = {
  targets: number;
  objects: number;
  coldMs: number;
  coldRenders: number;
  changeMs: number[];
  changeRenders: number[];
  /** Targets whose digest changed in each change (expected: one per cluster). */
  changedTargets: number[];
  peakRssBytes: number;
};

type RunRequest = {
  run: number;
  repoDir: string;
  workDir: string;
  apps: number;
  clusters: number;
  changes: number;
};
type ChildMessage = { progress: string } | { run: ResolveRun } | { error: string };

const REPO_URL = "https://git.example.com/fleet.git";
const thisFile = fileURLToPath(import.meta.url);
const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
const NODE_ARGS = ["--conditions=source", "--import", "tsx"];

/**
 * Builds the fleet repository once, then runs `runs` child processes that each resolve it cold
 * and after `changes` one-file changes. Results: `resolve` (cold, seconds) with extra rows for
 * the change, peak RSS and renders.
 */
export async function benchResolve(options: ResolveBenchOptions): Promise<BenchResult[]> {
  const apps = options.apps ?? (options.quick ? 200 : 1000);
  const clusters = options.clusters ?? 1000;
  const runs = options.runs ?? 3;
  const changes = options.changes ?? (options.quick ? 2 : 3);
  const dir = await mkdtemp(join(tmpdir(), "flotilla-bench-resolve-"));
  try {
    options.onProgress(`resolve: building a repository of ${apps} apps (${apps * 4} files)`);
    const repo = await createFixtureRepo(join(dir, "repo"), { files: syntheticFleetFiles(apps, REPO_URL) });
    const measured: ResolveRun[] = [];
    for (let run = 0; run < runs; run++) {
      const label = `resolve: run ${run + 1}/${runs} (${apps} apps x ${clusters} clusters)`;
      const request = { run, repoDir: repo.dir, workDir: join(dir, `run-${run}`), apps, clusters, changes };
      const one = await runChild(request, (line) => options.onProgress(`${label}: ${line}`));
      checkRun(one, apps, clusters, changes);
      options.onProgress(
        `${label}: cold ${(one.coldMs / 1000).toFixed(2)} s, changes ${one.changeMs.map((ms) => (ms / 1000).toFixed(2)).join(", ")} s, peak RSS ${Math.round(one.peakRssBytes / 2 ** 20)} MiB`,
      );
      measured.push(one);
    }
    return [toResult(measured, { apps, clusters, changes })];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function toResult(
  runs: ResolveRun[],
  scale: { apps: number; clusters: number; changes: number },
): BenchResult {
  const targets = runs[0]?.targets ?? 0;
  const objects = runs[0]?.objects ?? 0;
  return result({
    name: "resolve",
    unit: "s",
    target: 3,
    samples: runs.map((run) => run.coldMs / 1000),
    notes: `${scale.apps.toLocaleString("en-US")} apps x ${scale.clusters.toLocaleString("en-US")} clusters (${targets.toLocaleString("en-US")} targets, ${objects.toLocaleString("en-US")} objects) through ${scale.apps} ApplicationSets; cold = fresh process and render cache, repository on local disk; ${scale.changes} one-file changes per run`,
    extra: [
      extraFigure({
        label: "after a one-file change",
        unit: "s",
        target: 0.3,
        samples: runs.flatMap((run) => run.changeMs.map((ms) => ms / 1000)),
      }),
      extraFigure({ label: "peak RSS", unit: "MiB", samples: runs.map((run) => run.peakRssBytes / 2 ** 20) }),
      extraFigure({ label: "renders (cold)", unit: "renders", samples: runs.map((run) => run.coldRenders) }),
      extraFigure({
        label: "renders (after a change)",
        unit: "renders",
        samples: runs.flatMap((run) => run.changeRenders),
      }),
    ],
  });
}

/** A run that resolved something else than the fleet is a bench failure, not a figure. */
function checkRun(run: ResolveRun, apps: number, clusters: number, changes: number): void {
  const wrong: string[] = [];
  if (run.targets !== apps * clusters) wrong.push(`${run.targets} targets instead of ${apps * clusters}`);
  if (run.objects !== run.targets * 3) wrong.push(`${run.objects} objects instead of ${run.targets * 3}`);
  if (run.changeMs.length !== changes) wrong.push(`${run.changeMs.length} changes instead of ${changes}`);
  for (const changed of run.changedTargets) {
    if (changed !== clusters) wrong.push(`a change changed ${changed} targets instead of ${clusters}`);
  }
  if (wrong.length > 0) throw new Error(`resolve bench: ${wrong.join("; ")}`);
}

function runChild(request: RunRequest, onProgress: (line: string) => void): Promise<ResolveRun> {
  return new Promise((resolve, reject) => {
    const child = fork(thisFile, ["--resolve-bench-child"], {
      cwd: repoRoot,
      execArgv: NODE_ARGS,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    let outcome: ResolveRun | undefined;
    let failure: string | undefined;
    child.on("message", (message: ChildMessage) => {
      if ("progress" in message) onProgress(message.progress);
      else if ("run" in message) outcome = message.run;
      else failure = message.error;
    });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (outcome) resolve(outcome);
      else
        reject(
          new Error(`resolve bench: the run process ended (${signal ?? code}): ${failure ?? "no result"}`),
        );
    });
    child.send(request);
  });
}

/** In the child: resolve cold, then after each one-file change; reports through IPC. */
async function measureRun(request: RunRequest, onProgress: (line: string) => void): Promise<ResolveRun> {
  const repo = openFixtureRepo(request.repoDir);
  const cache = createRenderCache({ maxEntries: 100_000 });
  const deps: ResolveDeps = {
    git: openGitSource({
      cacheDir: join(request.workDir, "cache"),
      repos: [{ url: repo.dir }],
      rewrites: [{ from: REPO_URL, to: repo.dir }],
    }),
    clusters: syntheticClusters(request.clusters),
    // Directory apps only: no tool runs, so the binaries need not exist.
    render: (input, key) => renderSourceCached(input, tools, cache, key),
    limits: { maxApps: request.apps * request.clusters + request.apps + 10 },
  };
  const tools = createRenderTools({
    kustomizePath: "kustomize",
    helmPath: "helm",
    workDir: join(request.workDir, "render"),
  });
  const fleet: FleetRoot = { name: "root", source: { repoURL: REPO_URL, path: "appsets" } };

  onProgress("cold resolve");
  const memo = createResolveMemo();
  const cold = await resolveCold(fleet, deps, cache, memo);
  const out = cold.run;
  let previous = cold.digests;
  for (let change = 1; change <= request.changes; change++) {
    // One file of one app, new content each time, across runs too (content seen before would
    // hit the render cache).
    const mode = `run-${request.run}-change-${change}`;
    const app = syntheticAppName(0);
    await repo.commit({ [`apps/${app}/configmap.yaml`]: syntheticConfigMap(app, mode) });
    onProgress(`change ${change}/${request.changes}`);
    const next = await resolveOnce(fleet, deps, cache, memo);
    out.changeMs.push(next.ms);
    out.changeRenders.push(next.renders);
    checkProblems(next.resolution);
    out.changedTargets.push(countChanged(previous, next.resolution));
    previous = next.resolution.targets.map((target) => target.digest);
  }
  out.peakRssBytes = process.resourceUsage().maxRSS * 1024;
  return out;
}

/**
 * The cold resolve, of which only the figures and the digests are kept (as the hub keeps only
 * what it stored): a resolution held while the next is made would double the heap.
 */
async function resolveCold(
  fleet: FleetRoot,
  deps: ResolveDeps,
  cache: RenderCache,
  memo: ResolveMemo,
): Promise<{ run: ResolveRun; digests: string[] }> {
  const { resolution, ms, renders } = await resolveOnce(fleet, deps, cache, memo);
  checkProblems(resolution);
  const run: ResolveRun = {
    targets: resolution.targets.length,
    objects: countObjects(resolution),
    coldMs: ms,
    coldRenders: renders,
    changeMs: [],
    changeRenders: [],
    changedTargets: [],
    peakRssBytes: 0,
  };
  return { run, digests: resolution.targets.map((target) => target.digest) };
}

/** One timed resolve: milliseconds, and renders it ran (render cache misses). */
async function resolveOnce(
  fleet: FleetRoot,
  deps: ResolveDeps,
  cache: RenderCache,
  memo: ResolveMemo,
): Promise<{ resolution: FleetResolution; ms: number; renders: number }> {
  const misses = cache.misses;
  const start = performance.now();
  const resolution = await resolveFleet(fleet, deps, memo);
  return { resolution, ms: performance.now() - start, renders: cache.misses - misses };
}

function checkProblems(resolution: FleetResolution): void {
  const first = resolution.problems[0];
  if (first) {
    throw new Error(
      `resolve bench: ${resolution.problems.length} problems (first: ${first.app}: ${first.kind}: ${first.message})`,
    );
  }
}

function countObjects(resolution: FleetResolution): number {
  let count = 0;
  for (const target of resolution.targets) count += target.objects.length;
  return count;
}

/**
 * Targets whose digest differs from the one at the same place before (targets are listed by
 * cluster, then app, and a change of one file keeps the list): a different list counts all.
 */
function countChanged(before: readonly string[], after: FleetResolution): number {
  if (before.length !== after.targets.length) return after.targets.length;
  let changed = 0;
  for (const [index, target] of after.targets.entries()) if (before[index] !== target.digest) changed++;
  return changed;
}

if (process.argv.includes("--resolve-bench-child") && resolvePath(process.argv[1] ?? "") === thisFile) {
  process.once("message", (request: RunRequest) => {
    const send = (message: ChildMessage) => process.send?.(message);
    measureRun(request, (line) => send({ progress: line }))
      .then((run) => send({ run }))
      .catch((error: unknown) =>
        send({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
      )
      .finally(() => process.disconnect?.());
  });
}
