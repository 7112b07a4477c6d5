import { spawn } from "node:child_process";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isExecutable, isProcessAlive } from "./processes.js";

export type ToolName = "kustomize" | "helm" | "nats-server";

type ToolSpec = {
  /** Go package path handed to `go install <package>@<version>`. */
  goPackage: string;
  version: string;
  /** Extra `-X` linker flags, e.g. to stamp the version the way the project's release build does. */
  ldflags?: string;
  /** Environment variable naming a prebuilt binary that replaces the built one. */
  overrideEnv: string;
};

// Helm 3, the major Argo CD 3.x bundles, so charts render as they would there.
const HELM_VERSION = "v3.22.0";

/**
 * The pinned tool versions: the newest stable releases whose go.mod builds with Go 1.26
 * (kustomize v5.8.3 needs Go 1.27, hence v5.8.2).
 */
export const TOOLS = {
  kustomize: {
    goPackage: "sigs.k8s.io/kustomize/kustomize/v5",
    version: "v5.8.2",
    overrideEnv: "FLOTILLA_KUSTOMIZE",
  },
  helm: {
    goPackage: "helm.sh/helm/v3/cmd/helm",
    version: HELM_VERSION,
    // Without it `helm version` and `.Capabilities.HelmVersion` say "v3.22".
    ldflags: `-X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}`,
    overrideEnv: "FLOTILLA_HELM",
  },
  "nats-server": {
    goPackage: "github.com/nats-io/nats-server/v2",
    version: "v2.15.3",
    overrideEnv: "FLOTILLA_NATS_SERVER",
  },
} as const satisfies Record<ToolName, ToolSpec>;

export const TOOL_NAMES = Object.keys(TOOLS) as ToolName[];

export type EnsureToolOptions = {
  /** Receives one line per progress step; defaults to writing to stderr. */
  onProgress?: (line: string) => void;
};

const PROGRESS_INTERVAL_MS = 15_000;
const LOCK_WAIT_MS = 60 * 60_000;
const LOCK_POLL_MS = 500;

/** The repository root: this file sits at e2e/src/harness (or e2e/dist/harness when built). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const BIN_CACHE_DIR = join(REPO_ROOT, ".cache", "bin");

const pending = new Map<ToolName, Promise<string>>();

/**
 * Returns the absolute path of the pinned `name` binary, building it with `go install` into
 * `<repo>/.cache/bin/<name>-<version>/<name>` when it is missing (a cold build takes minutes).
 * The override variable (FLOTILLA_KUSTOMIZE, FLOTILLA_HELM, FLOTILLA_NATS_SERVER) names a
 * prebuilt binary instead; it must exist and be executable. Concurrent callers, in this
 * process or others, share one build. Throws when Go is missing or the build fails.
 */
export function ensureTool(name: ToolName, opts: EnsureToolOptions = {}): Promise<string> {
  let path = pending.get(name);
  if (!path) {
    path = resolveTool(name, opts.onProgress ?? writeProgress);
    pending.set(name, path);
    // A failed build may be retried by a later call.
    path.catch(() => pending.delete(name));
  }
  return path;
}

/** Ensures every pinned tool, one build at a time (each build already uses both cores). */
export async function ensureTools(opts: EnsureToolOptions = {}): Promise<Record<ToolName, string>> {
  const paths: Partial<Record<ToolName, string>> = {};
  for (const name of TOOL_NAMES) paths[name] = await ensureTool(name, opts);
  return paths as Record<ToolName, string>;
}

/** Where the pinned build of `name` lives, whether or not it has been built. */
export function findToolPath(name: ToolName): string {
  return join(BIN_CACHE_DIR, `${name}-${TOOLS[name].version}`, name);
}

async function resolveTool(name: ToolName, onProgress: (line: string) => void): Promise<string> {
  const spec: ToolSpec = TOOLS[name];
  const override = process.env[spec.overrideEnv];
  if (override) {
    const path = resolve(override);
    if (!(await isExecutable(path))) {
      throw new Error(`${spec.overrideEnv}=${override}: not an executable file`);
    }
    return path;
  }
  const path = findToolPath(name);
  if (await isExecutable(path)) return path;
  await withInstallLock(`${path}.lock`, path, async () => {
    if (await isExecutable(path)) return;
    await installTool(name, path, onProgress);
  });
  return path;
}

async function installTool(name: ToolName, path: string, onProgress: (line: string) => void): Promise<void> {
  const spec: ToolSpec = TOOLS[name];
  const target = `${spec.goPackage}@${spec.version}`;
  // The temporary GOBIN sits beside the destination so the final rename stays on one file system.
  const tmpBin = join(BIN_CACHE_DIR, `.tmp-${name}-${process.pid}-${Date.now()}`);
  await mkdir(tmpBin, { recursive: true });
  const startedMs = Date.now();
  onProgress(`building ${name} ${spec.version} (go install ${target}); a cold build takes minutes`);
  try {
    await runGoInstall(target, spec.ldflags, tmpBin, (downloads) => {
      const seconds = Math.round((Date.now() - startedMs) / 1000);
      onProgress(`building ${name} ${spec.version}: ${seconds} s elapsed, ${downloads} modules downloaded`);
    });
    await mkdir(dirname(path), { recursive: true });
    await rename(join(tmpBin, name), path);
  } catch (cause) {
    throw new Error(`build ${name} ${spec.version} (go install ${target})`, { cause });
  } finally {
    await rm(tmpBin, { recursive: true, force: true });
  }
  onProgress(`built ${name} ${spec.version} in ${Math.round((Date.now() - startedMs) / 1000)} s`);
}

function runGoInstall(
  target: string,
  ldflags: string | undefined,
  gobin: string,
  onTick: (downloads: number) => void,
): Promise<void> {
  const args = ["install", "-p", "2", "-trimpath", `-ldflags=-s -w${ldflags ? ` ${ldflags}` : ""}`, target];
  const env = { ...process.env, CGO_ENABLED: "0", GOTOOLCHAIN: "local", GOBIN: gobin, GOWORK: "off" };
  return new Promise((resolvePromise, reject) => {
    // cwd outside any Go module, so `pkg@version` is resolved on its own.
    const child = spawn("go", args, { cwd: gobin, env, stdio: ["ignore", "ignore", "pipe"] });
    let stderrTail = "";
    let downloads = 0;
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      downloads += chunk.split("go: downloading ").length - 1;
      stderrTail = (stderrTail + chunk).slice(-4000);
    });
    const timer = setInterval(() => onTick(downloads), PROGRESS_INTERVAL_MS);
    child.on("error", (error) => {
      clearInterval(timer);
      const missing = (error as NodeJS.ErrnoException).code === "ENOENT";
      reject(missing ? new Error("`go` is not on PATH: install Go 1.26 or newer", { cause: error }) : error);
    });
    child.on("close", (code, signal) => {
      clearInterval(timer);
      if (code === 0) resolvePromise();
      else reject(new Error(`go ${args.join(" ")} exited with ${signal ?? code}:\n${stderrTail.trim()}`));
    });
  });
}

/**
 * Runs `fn` while holding a lock directory that records the owner's pid, so only one process
 * builds a tool. A waiter returns as soon as `donePath` exists; a lock whose owner died is taken over.
 */
async function withInstallLock(lockDir: string, donePath: string, fn: () => Promise<void>): Promise<void> {
  const deadlineMs = Date.now() + LOCK_WAIT_MS;
  await mkdir(dirname(lockDir), { recursive: true });
  for (;;) {
    try {
      await mkdir(lockDir);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    if (await isExecutable(donePath)) return;
    const owner = Number(await readFile(join(lockDir, "pid"), "utf8").catch(() => "NaN"));
    if (Number.isInteger(owner) && !isProcessAlive(owner)) {
      await rm(lockDir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadlineMs) throw new Error(`timed out waiting for ${lockDir} (held by pid ${owner})`);
    await new Promise((r) => setTimeout(r, LOCK_POLL_MS));
  }
  try {
    await writeFile(join(lockDir, "pid"), String(process.pid));
    await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

function writeProgress(line: string): void {
  process.stderr.write(`tools: ${line}\n`);
}
