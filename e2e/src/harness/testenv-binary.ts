import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { isProcessAlive } from "./processes.js";

/** Root of the repository: this file sits at e2e/src/harness (or e2e/dist/harness once built). */
const repoDir = fileURLToPath(new URL("../../../", import.meta.url));
const moduleDir = join(repoDir, "e2e", "testenv");
const binaryName = "flotilla-testenv";
const progressIntervalMs = 15_000;
const lockPollIntervalMs = 500;

export interface EnsureTestenvBinaryOptions {
  /** Receives human-readable progress lines while a build runs (nothing when the binary exists). */
  onProgress?: (line: string) => void;
  /** Packages `go build` compiles at once; default 2, to leave the machine usable. */
  buildParallelism?: number;
}

/**
 * Returns the path of the flotilla-testenv binary (kube-apiserver, etcd, ... in one), building
 * it from e2e/testenv when no binary for the current sources exists yet.
 *
 * The binary lives at `<repo>/.cache/testenv/<hash16>/flotilla-testenv`, where the hash covers
 * go.mod, go.sum, every *.go file of the module and the build flags, so any change rebuilds and
 * an unchanged tree never does. A cold build takes minutes; `onProgress` hears about it every
 * ~15 s. The build writes a temporary file and renames it, so an interrupted build never leaves
 * a half binary, and concurrent callers (parallel test files) wait for one build instead of
 * racing. `FLOTILLA_TESTENV_BIN` names a prebuilt binary to use instead; it is not checked
 * against the sources. Throws with the tail of the Go output when the build fails.
 */
export function ensureTestenvBinary(opts: EnsureTestenvBinaryOptions = {}): Promise<string> {
  // Clusters started in parallel share one build; a failed build is retried by the next caller.
  ensuring ??= resolveTestenvBinary(opts).catch((cause: unknown) => {
    ensuring = undefined;
    throw cause;
  });
  return ensuring;
}

let ensuring: Promise<string> | undefined;

async function resolveTestenvBinary(opts: EnsureTestenvBinaryOptions): Promise<string> {
  const prebuilt = readPrebuiltBinaryPath();
  if (prebuilt) {
    await assertExecutable(prebuilt);
    return prebuilt;
  }
  const ldflags = await composeLdflags();
  const hash = await hashModuleSources(ldflags);
  const binaryDir = join(repoDir, ".cache", "testenv", hash.slice(0, 16));
  const binaryPath = join(binaryDir, binaryName);
  if (await isFile(binaryPath)) return binaryPath;

  await mkdir(binaryDir, { recursive: true });
  const releaseLock = await acquireBuildLock(join(binaryDir, "build.lock"), binaryPath, opts.onProgress);
  try {
    // Another process may have finished the build while we waited for the lock.
    if (await isFile(binaryPath)) return binaryPath;
    await removeLeftoverTempFiles(binaryDir);
    const tempPath = join(binaryDir, `${binaryName}.tmp-${process.pid}`);
    await runGoBuild(tempPath, ldflags, opts);
    await rename(tempPath, binaryPath);
    return binaryPath;
  } finally {
    await releaseLock();
  }
}

// The one place the harness honours an environment override: CI restores a cached binary and
// points here, and a developer can test a binary built elsewhere.
function readPrebuiltBinaryPath(): string | undefined {
  return process.env.FLOTILLA_TESTENV_BIN || undefined;
}

async function assertExecutable(path: string): Promise<void> {
  try {
    const info = await stat(path);
    if (!info.isFile() || (info.mode & 0o111) === 0) throw new Error("not an executable file");
  } catch (cause) {
    throw new Error(`FLOTILLA_TESTENV_BIN=${path}: not usable`, { cause });
  }
}

/**
 * Stamps the Kubernetes version from go.mod into the binary, so /version reports it the way a
 * released kube-apiserver does instead of v0.0.0-master.
 */
async function composeLdflags(): Promise<string> {
  const goMod = await readFile(join(moduleDir, "go.mod"), "utf8");
  const match = /^\s*k8s\.io\/kubernetes\s+v(\d+)\.(\d+)\.(\d+)\S*/m.exec(goMod);
  const flags = ["-s", "-w"];
  if (match) {
    const [, major, minor, patch] = match;
    const pkg = "k8s.io/component-base/version";
    flags.push(
      `-X ${pkg}.gitVersion=v${major}.${minor}.${patch}`,
      `-X ${pkg}.gitMajor=${major}`,
      `-X ${pkg}.gitMinor=${minor}`,
      `-X ${pkg}.gitTreeState=clean`,
    );
  }
  return flags.join(" ");
}

async function hashModuleSources(ldflags: string): Promise<string> {
  const files = ["go.mod", "go.sum", ...(await listGoFiles(moduleDir))].sort();
  const hash = createHash("sha256");
  hash.update(`ldflags ${ldflags}\n`);
  for (const file of files) {
    const content = await readFile(join(moduleDir, file));
    hash.update(`${file.split(sep).join("/")} ${content.length}\n`);
    hash.update(content);
  }
  return hash.digest("hex");
}

async function listGoFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith(".go")) {
      found.push(relative(moduleDir, join(entry.parentPath, entry.name)));
    }
  }
  return found;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function removeLeftoverTempFiles(binaryDir: string): Promise<void> {
  for (const name of await readdir(binaryDir)) {
    if (name.startsWith(`${binaryName}.tmp-`)) await rm(join(binaryDir, name), { force: true });
  }
}

/**
 * Takes an exclusive lock file holding our pid. A lock whose owner is gone (a killed build) is
 * taken over; a live owner is waited for until it releases the lock or the binary appears.
 */
async function acquireBuildLock(
  lockPath: string,
  binaryPath: string,
  onProgress: ((line: string) => void) | undefined,
): Promise<() => Promise<void>> {
  let announced = false;
  let sawEmptyLock = false;
  for (;;) {
    try {
      const handle = await open(lockPath, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY);
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => rm(lockPath, { force: true });
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== "EEXIST") {
        throw new Error(`testenv build lock ${lockPath}: cannot create`, { cause });
      }
    }
    const owner = await readLockOwner(lockPath);
    if (owner === undefined && !sawEmptyLock) {
      // The owner may be between creating the file and writing its pid.
      sawEmptyLock = true;
      await waitMs(lockPollIntervalMs);
      continue;
    }
    if (owner === undefined || !isProcessAlive(owner)) {
      if ((await readLockOwner(lockPath)) === owner) await rm(lockPath, { force: true });
      sawEmptyLock = false;
      continue;
    }
    if (!announced) {
      onProgress?.(`waiting for process ${owner}, which is building ${binaryName}`);
      announced = true;
    }
    if (await isFile(binaryPath)) return async () => {};
    await waitMs(lockPollIntervalMs);
  }
}

async function readLockOwner(lockPath: string): Promise<number | undefined> {
  const pid = Number.parseInt(await readFile(lockPath, "utf8").catch(() => ""), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function waitMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function runGoBuild(outPath: string, ldflags: string, opts: EnsureTestenvBinaryOptions): Promise<void> {
  const onProgress = opts.onProgress ?? (() => {});
  const parallelism = opts.buildParallelism ?? 2;
  const args = [
    "build",
    `-p=${parallelism}`,
    "-v",
    "-trimpath",
    "-buildvcs=false",
    `-ldflags=${ldflags}`,
    "-o",
    outPath,
    ".",
  ];
  const startedAt = Date.now();
  onProgress(
    `building ${binaryName} from ${relative(repoDir, moduleDir)} (go ${args.slice(0, 4).join(" ")} ...); ` +
      "a cold build takes 10+ minutes, later ones reuse the Go build cache",
  );

  const child = spawn("go", args, {
    cwd: moduleDir,
    env: { ...process.env, GOFLAGS: "-mod=readonly", CGO_ENABLED: "0", GOTOOLCHAIN: "local" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const tail: string[] = [];
  let compiled = 0;
  let compiledAtLastReport = 0;
  let latest = "";
  let partial = "";
  const readLines = (chunk: Buffer) => {
    const lines = (partial + chunk.toString("utf8")).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      if (line.trim() === "") continue;
      tail.push(line);
      if (tail.length > 60) tail.shift();
      // `go build -v` prints the import path of each package as it compiles it.
      if (/^[\w.-]+(\/[\w.~+-]+)*$/.test(line)) {
        compiled += 1;
        latest = line;
      }
    }
  };
  child.stdout.on("data", readLines);
  child.stderr.on("data", readLines);

  const timer = setInterval(() => {
    const elapsed = formatDuration(Date.now() - startedAt);
    const recent = compiled - compiledAtLastReport;
    compiledAtLastReport = compiled;
    const stage =
      latest === "flotilla.dev/e2e/testenv"
        ? "linking"
        : compiled === 0
          ? "checking the build cache or linking"
          : `${compiled} packages compiled (+${recent}), latest ${latest}`;
    onProgress(`building ${binaryName}: ${elapsed} elapsed, ${stage}`);
  }, progressIntervalMs);
  timer.unref();

  let exit: { code: number | null; signal: NodeJS.Signals | null };
  try {
    exit = await new Promise((resolve, reject) => {
      child.once("error", reject);
      child.once("close", (code, signal) => resolve({ code, signal }));
    });
  } catch (cause) {
    throw new Error(`${binaryName}: cannot run go (is Go 1.26+ on PATH?)`, { cause });
  } finally {
    clearInterval(timer);
  }
  if (partial.trim() !== "") tail.push(partial);
  if (exit.code !== 0) {
    await rm(outPath, { force: true });
    const status = exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
    throw new Error(
      `${binaryName}: go build in ${moduleDir} failed (${status}):\n${tail.slice(-30).join("\n")}`,
    );
  }
  onProgress(
    `built ${binaryName} in ${formatDuration(Date.now() - startedAt)} (${compiled} packages compiled)`,
  );
}

/** Renders a duration as `1m05s` or `7s`. */
export function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  const minutes = Math.floor(seconds / 60);
  return minutes > 0 ? `${minutes}m${String(seconds % 60).padStart(2, "0")}s` : `${seconds}s`;
}
