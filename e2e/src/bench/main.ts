// `pnpm bench [--quick] [--json <file>] [--only <name,...>]`: measures the performance budget of
// DESIGN.md section 6 on this machine and prints one table, each figure the median of several
// runs with min and max, ratios taken within the same run. `--quick` is the shorter version
// (under 15 minutes on 2 cores); `--json` writes {"results": [...]} (see bench-result.ts).
// `--strict` exits 1 when a result misses its target.
import { writeFile } from "node:fs/promises";
import { availableParallelism, cpus, totalmem } from "node:os";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { benchAgent } from "./agent-bench.js";
import { type BenchResult, renderTable, toJson } from "./bench-result.js";
import { benchFanout } from "./fanout-bench.js";
import { benchFleetQuery } from "./fleet-query-bench.js";
import { benchGitFetch } from "./git-fetch-bench.js";
import { benchResolve } from "./resolve-bench.js";
import { benchStatusIngest } from "./status-bench.js";

type Bench = {
  /** The results it produces, for --only. */
  names: string[];
  run: (options: { quick: boolean; onProgress: (line: string) => void }) => Promise<BenchResult[]>;
};

const BENCHES: Bench[] = [
  { names: ["fanout", "hub-memory"], run: (o) => benchFanout(o) },
  { names: ["resolve"], run: (o) => benchResolve(o) },
  { names: ["status-ingest"], run: (o) => benchStatusIngest(o) },
  { names: ["fleet-query"], run: (o) => benchFleetQuery(o) },
  { names: ["agent-noop", "sync-vs-raw-ssa"], run: (o) => benchAgent(o) },
  { names: ["git-fetch"], run: (o) => benchGitFetch(o) },
];
const ALL_NAMES = BENCHES.flatMap((bench) => bench.names);

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    json: { type: "string" },
    only: { type: "string" },
    strict: { type: "boolean", default: false },
  },
  strict: true,
});
const only = values.only?.split(",").map((name) => name.trim());
for (const name of only ?? []) {
  if (!ALL_NAMES.includes(name)) {
    process.stderr.write(`bench: unknown result "${name}" in --only; known: ${ALL_NAMES.join(", ")}\n`);
    process.exit(2);
  }
}

const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)} s`;
const onProgress = (line: string) => process.stderr.write(`[${elapsed()}] ${line}\n`);
const results: BenchResult[] = [];
const failures: string[] = [];
for (const bench of BENCHES) {
  if (only && !bench.names.some((name) => only.includes(name))) continue;
  onProgress(`${bench.names.join(" and ")}: starting`);
  try {
    const produced = await bench.run({ quick: values.quick, onProgress });
    results.push(...produced.filter((r) => !only || only.includes(r.name)));
  } catch (error) {
    // One benchmark failing must not lose the others' figures; the failure is reported and
    // makes the exit code 1.
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    failures.push(`${bench.names.join("/")}: ${message}`);
    onProgress(`${bench.names.join(" and ")}: FAILED: ${message}`);
  }
}

process.stdout.write(`${renderTable(results)}\n`);
const machine = {
  cpus: availableParallelism(),
  cpuModel: cpus()[0]?.model ?? "unknown",
  memoryGiB: Math.round(totalmem() / 1024 ** 3),
  node: process.version,
};
process.stdout.write(
  `\n${values.quick ? "quick" : "full"} run on ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}, in ${elapsed()}\n`,
);
if (values.json) {
  await writeFile(
    values.json,
    toJson(results, {
      mode: values.quick ? "quick" : "full",
      date: new Date().toISOString(),
      machine,
      durationSeconds: Math.round((performance.now() - started) / 1000),
      ...(failures.length > 0 ? { failures } : {}),
    }),
  );
  process.stdout.write(`wrote ${values.json}\n`);
}
for (const failure of failures) process.stderr.write(`bench failed: ${failure}\n`);
const missed = results.filter((r) => !r.ok).map((r) => r.name);
if (missed.length > 0) process.stdout.write(`missed the target: ${missed.join(", ")}\n`);
process.exit(failures.length > 0 || (values.strict && missed.length > 0) ? 1 : 0);
