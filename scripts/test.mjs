#!/usr/bin/env node
// The whole test suite, as CI runs it: static checks (Biome, TypeScript, generated-code drift),
// the unit tests of proto, hub and agent on this Node and on Node 24, then the end-to-end
// suites against real kube-apiservers, git over HTTP, PostgreSQL and NATS. Every phase runs even
// when an earlier one failed; the last line totals the tests and the exit code says if all passed.
//
// Usage: node scripts/test.mjs [--unit] [--e2e] [--no-static]
// Expects `node scripts/setup.mjs --for test` to have run (the root `test` script does that).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const only = { unit: args.includes("--unit"), e2e: args.includes("--e2e") };
const wantUnit = only.unit || !only.e2e;
const wantE2e = only.e2e || !only.unit;
const wantStatic = !args.includes("--no-static") && !only.unit && !only.e2e;
const node24 = join(root, ".cache", "node24", "node_modules", "node", "bin", "node");
const countsDir = mkdtempSync(join(tmpdir(), "flotilla-test-counts-"));
// Each test phase also writes its reliability scenarios here; rendered at the end.
const reliabilityDir = join(countsDir, "reliability");
mkdirSync(reliabilityDir);
const corepackEnv = { ...process.env, COREPACK_ENABLE_DOWNLOAD_PROMPT: "0", COREPACK_INTEGRITY_KEYS: "0" };

const phases = [];
if (wantStatic) {
  phases.push({ name: "lint (biome)", command: ["corepack", "pnpm", "-s", "lint"] });
  phases.push({ name: "typecheck (tsc)", command: ["corepack", "pnpm", "-s", "typecheck"] });
  phases.push({
    name: "generated code is up to date",
    command: [process.execPath, "scripts/check-generated.mjs"],
  });
}
if (wantUnit) {
  for (const pkg of ["proto", "hub", "agent"]) {
    phases.push({ name: `unit ${pkg} (Node ${process.versions.node})`, cwd: pkg, tests: true });
  }
  if (existsSync(node24)) {
    for (const pkg of ["proto", "hub", "agent"]) {
      phases.push({ name: `unit ${pkg} (Node 24)`, cwd: pkg, tests: true, node: node24 });
    }
  } else {
    console.error(`test: Node 24 not found at ${node24}; run node scripts/setup.mjs --for test`);
    phases.push({ name: "Node 24 binary present", failNow: true });
  }
}
if (wantE2e)
  phases.push({ name: `e2e (Node ${process.versions.node})`, cwd: "e2e", tests: true, serial: true });

const totals = { passed: 0, failed: 0, skipped: 0 };
const failedPhases = [];
for (const [index, phase] of phases.entries()) {
  console.log(`\n=== ${phase.name}`);
  if (phase.failNow) {
    failedPhases.push(phase.name);
    continue;
  }
  const countsFile = join(countsDir, `${index}.json`);
  const command = phase.tests
    ? [process.execPath, join(root, "scripts", "node-test.mjs"), "src", ...(phase.serial ? ["--serial"] : [])]
    : phase.command;
  const env = { ...corepackEnv, FLOTILLA_TEST_COUNTS: countsFile };
  if (phase.tests) env.FLOTILLA_RELIABILITY_OUT = join(reliabilityDir, `${index}.jsonl`);
  if (phase.node) env.FLOTILLA_TEST_NODE = phase.node;
  const result = spawnSync(command[0], command.slice(1), {
    cwd: join(root, phase.cwd ?? "."),
    env,
    stdio: "inherit",
  });
  if (phase.tests && existsSync(countsFile)) {
    const counts = JSON.parse(readFileSync(countsFile, "utf8").trim().split("\n").pop() ?? "{}");
    totals.passed += counts.passed ?? 0;
    totals.failed += counts.failed ?? 0;
    totals.skipped += counts.skipped ?? 0;
  }
  if (result.status !== 0) failedPhases.push(phase.name);
}
// The reliability report of this run (docs/reliability.md is `pnpm reliability`'s).
spawnSync(
  process.execPath,
  [
    join(root, "scripts", "reliability.mjs"),
    "--render",
    reliabilityDir,
    join(root, "e2e", "artifacts", "reliability.md"),
  ],
  { stdio: "inherit" },
);
rmSync(countsDir, { recursive: true, force: true });

console.log("");
if (failedPhases.length > 0) console.log(`failed phases: ${failedPhases.join("; ")}`);
console.log(`tests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(failedPhases.length > 0 ? 1 : 0);
