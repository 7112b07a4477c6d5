#!/usr/bin/env node
// Fails when the committed protobuf code in proto/src/gen is not what proto/flotilla/**.proto
// generates, or when the .proto files break `buf lint`. Compares against the git index, so staged
// generated files count as committed (CI runs on a clean checkout, where index = HEAD).
// Runs `pnpm --filter @flotilla/proto run generate` (which rewrites proto/src/gen), then asks git
// for any modified, deleted or untracked file below proto/src/gen.
// Also fails when the committed dashboard files (hub/src/dashboard/assets) are not what
// hub/scripts/build-dashboard.mjs builds from hub/web: it builds into a temporary folder and
// compares file by file.
// Usage: node scripts/check-generated.mjs   (exit 0: clean, 1: drift or lint failure)
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const corepackEnv = { ...process.env, COREPACK_ENABLE_DOWNLOAD_PROMPT: "0", COREPACK_INTEGRITY_KEYS: "0" };
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const genDir = "proto/src/gen";

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, encoding: "utf8", env: corepackEnv, ...options });
  if (result.error) {
    console.error(`check-generated: cannot run ${command}: ${result.error.message}`);
    process.exit(1);
  }
  return result;
}

const generate = run("corepack", ["pnpm", "--filter", "@flotilla/proto", "run", "generate"], {
  stdio: "inherit",
});
if (generate.status !== 0) {
  console.error("check-generated: `buf generate` failed");
  process.exit(1);
}

const lint = run("corepack", ["pnpm", "--filter", "@flotilla/proto", "exec", "buf", "lint"], {
  stdio: "inherit",
});
if (lint.status !== 0) {
  console.error("check-generated: `buf lint` reported problems in proto/flotilla");
  process.exit(1);
}

const status = run("git", ["status", "--porcelain", "--untracked-files=all", "--", genDir]);
if (status.status !== 0) {
  console.error(`check-generated: git status failed: ${status.stderr.trim()}`);
  process.exit(1);
}
// Porcelain: column 2 is the work tree against the index; "??" is untracked.
const changed = status.stdout
  .split("\n")
  .filter((line) => line.length > 2 && (line[1] !== " " || line.startsWith("??")));
if (changed.length > 0) {
  console.error(`check-generated: ${genDir} differs from what the .proto files generate:`);
  for (const line of changed) console.error(`  ${line}`);
  console.error("Run `pnpm generate` and commit the result.");
  process.exit(1);
}
console.log(`check-generated: ${genDir} is up to date and buf lint passed`);

const assetsDir = "hub/src/dashboard/assets";
const built = mkdtempSync(join(tmpdir(), "flotilla-dashboard-"));
const stale = checkDashboard(built);
rmSync(built, { recursive: true, force: true });
if (stale.length > 0) {
  console.error(`check-generated: ${assetsDir} differs from what hub/web builds:`);
  for (const line of stale) console.error(`  ${line}`);
  console.error("Run `pnpm generate` (or node hub/scripts/build-dashboard.mjs) and commit the result.");
  process.exit(1);
}
console.log(`check-generated: ${assetsDir} is up to date`);

/** Builds the dashboard into `out`; returns one line per committed file that differs. */
function checkDashboard(out) {
  const dashboard = run(process.execPath, ["hub/scripts/build-dashboard.mjs", "--out", out], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  if (dashboard.status !== 0) return ["hub/scripts/build-dashboard.mjs failed (see above)"];
  const committed = new Set(readdirSync(join(root, assetsDir)));
  const stale = [];
  for (const name of readdirSync(out)) {
    if (!committed.has(name)) stale.push(`${assetsDir}/${name} is missing`);
    else if (!readFileSync(join(root, assetsDir, name)).equals(readFileSync(join(out, name))))
      stale.push(`${assetsDir}/${name} is stale (hub/web changed since it was built)`);
    committed.delete(name);
  }
  for (const name of committed)
    stale.push(`${assetsDir}/${name} is not built by hub/scripts/build-dashboard.mjs`);
  return stale;
}
