#!/usr/bin/env node
// Runs node:test over every *.test.ts below the given folder, through tsx, with the "source"
// export condition so workspace packages resolve to their TypeScript sources.
// Usage: node scripts/node-test.mjs <dir> [--serial] [--match <substring>] [--containing <text>]
// --containing keeps only test files whose source contains <text> (`pnpm reliability` runs the
// files with "reliability: " in them). FLOTILLA_TEST_NODE picks another node binary (CI runs the
// unit tests on Node 24 too). FLOTILLA_RELIABILITY_OUT names a file that receives the scenarios
// of the reliability report (scripts/reliability-reporter.mjs).
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

const args = process.argv.slice(2);
const dir = args.find((a) => !a.startsWith("--")) ?? "src";
const serial = args.includes("--serial");
const matchIndex = args.indexOf("--match");
const match = matchIndex >= 0 ? args[matchIndex + 1] : (process.env.FLOTILLA_TEST_MATCH ?? "");
const containingIndex = args.indexOf("--containing");
const containing = containingIndex >= 0 ? args[containingIndex + 1] : undefined;

function findTests(folder) {
  const found = [];
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name === "testdata" || entry.name === "gen") continue;
    const path = join(folder, entry.name);
    if (entry.isDirectory()) found.push(...findTests(path));
    else if (entry.name.endsWith(".test.ts")) found.push(path);
  }
  return found;
}

const files = findTests(dir)
  .filter((f) => f.includes(match))
  .filter((f) => containing === undefined || readFileSync(f, "utf8").includes(containing))
  .sort();
if (files.length === 0) {
  // Loud, not fatal: a package may have no tests yet (the agent before its reconciler lands).
  console.error(`node-test: NO TESTS: no *.test.ts files under ${relative(process.cwd(), dir) || "."}`);
  process.exit(0);
}
const node = process.env.FLOTILLA_TEST_NODE || process.execPath;
const flags = ["--conditions=source", "--import", "tsx", "--test"];
flags.push("--test-reporter=spec", "--test-reporter-destination=stdout");
// FLOTILLA_TEST_COUNTS names a file that receives {passed, failed, skipped} for this run.
if (process.env.FLOTILLA_TEST_COUNTS) {
  const reporter = new URL("./count-reporter.mjs", import.meta.url).href;
  flags.push(
    `--test-reporter=${reporter}`,
    `--test-reporter-destination=${process.env.FLOTILLA_TEST_COUNTS}`,
  );
}
if (process.env.FLOTILLA_RELIABILITY_OUT) {
  const reporter = new URL("./reliability-reporter.mjs", import.meta.url).href;
  flags.push(
    `--test-reporter=${reporter}`,
    `--test-reporter-destination=${process.env.FLOTILLA_RELIABILITY_OUT}`,
  );
}
if (serial) flags.push("--test-concurrency=1");
// `pnpm -s testenv prepare` records the test binaries it built; tests find the real kustomize,
// helm and nats-server through these variables (an explicit setting wins).
const env = { ...process.env };
const toolsFile = new URL("../.cache/tools.json", import.meta.url);
if (existsSync(toolsFile)) {
  const tools = JSON.parse(readFileSync(toolsFile, "utf8"));
  env.FLOTILLA_KUSTOMIZE ??= tools.kustomize;
  env.FLOTILLA_HELM ??= tools.helm;
  env.FLOTILLA_NATS_SERVER ??= tools["nats-server"];
  env.FLOTILLA_TESTENV_BIN ??= tools.testenv;
}
const run = spawnSync(node, [...flags, ...files], { stdio: "inherit", env });
process.exit(run.status ?? 1);
