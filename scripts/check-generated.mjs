#!/usr/bin/env node
// Fails when the committed protobuf code in proto/src/gen is not what proto/flotilla/**.proto
// generates, or when the .proto files break `buf lint`. Compares against the git index, so staged
// generated files count as committed (CI runs on a clean checkout, where index = HEAD).
// Runs `pnpm --filter @flotilla/proto run generate` (which rewrites proto/src/gen), then asks git
// for any modified, deleted or untracked file below proto/src/gen.
// Usage: node scripts/check-generated.mjs   (exit 0: clean, 1: drift or lint failure)
import { spawnSync } from "node:child_process";
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
