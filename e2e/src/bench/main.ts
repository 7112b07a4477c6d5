// `pnpm bench [--quick] [--apps N] [--clusters N]`: runs the benchmarks that exist so far and
// prints a table. For now `resolve`. The budget is for 1,000 apps x 1,000 clusters, but today's
// resolver needs about 4 KiB of heap per target and runs out of the default heap (about 4 GiB)
// before reaching 1,000,000 targets, so the full run is 100 apps x 1,000 clusters (100,000
// targets) and --quick is 100 x 100; `--apps 1000 --clusters 1000` tries the real thing.
import { parseArgs } from "node:util";
import { benchAgent } from "./agent-bench.js";
import { benchResolve } from "./resolve-bench.js";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    apps: { type: "string" },
    clusters: { type: "string" },
    only: { type: "string" },
  },
  strict: true,
});
const apps = Number(values.apps ?? 100);
const clusters = Number(values.clusters ?? (values.quick ? 100 : 1000));
if (!Number.isInteger(apps) || apps < 1 || !Number.isInteger(clusters) || clusters < 1) {
  process.stderr.write("bench: --apps and --clusters must be positive integers\n");
  process.exit(2);
}

const only = values.only;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const rows = [["benchmark", "value", "target", "notes"]];
if (!only || only === "resolve") {
  const result = await benchResolve({ apps, clusters });
  rows.push(
    [
      "resolve (cold)",
      seconds(result.coldMs),
      "3.00 s",
      `${result.apps} apps x ${result.clusters} clusters = ${result.targets} targets, ${result.objects} objects, ${result.coldRenders} renders`,
    ],
    [
      "resolve (one-file change)",
      seconds(result.changeMs),
      "0.30 s",
      `${result.changedTargets} targets changed, ${result.changeRenders} renders`,
    ],
    ["resolve peak RSS", mib(result.peakRssBytes), "", "both resolutions held, as a hub comparing them does"],
  );
}
if (!only || only === "agent") {
  const agent = await benchAgent({ objects: 500 });
  rows.push(
    [
      "sync-vs-raw-ssa",
      (agent.agentSyncMs / agent.rawSsaMs).toFixed(2),
      "<= 1.50",
      `agent ${seconds(agent.agentSyncMs)} vs client-node SSA ${seconds(agent.rawSsaMs)}, ${agent.objects} ConfigMaps, 8 in flight`,
    ],
    [
      "agent-noop writes",
      String(agent.noopWrites),
      "0",
      `flotilla-agent run --once over ${agent.objects} objects: ${agent.noopDryRuns} unchanged in ${seconds(agent.noopMs)}`,
    ],
    [
      "agent-noop RSS",
      mib(agent.noopRssBytes),
      "100 MiB",
      "peak RSS (VmHWM) of that process (compiled agent/dist)",
    ],
  );
}

const widths = (rows[0] ?? []).map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
for (const row of rows) {
  process.stdout.write(
    `${row
      .map((cell, c) => cell.padEnd(widths[c] ?? 0))
      .join("  ")
      .trimEnd()}\n`,
  );
}
