// The `fleet-query` benchmark (DESIGN.md section 6: fleet query over 10,000 clusters x 20 apps,
// filter + count + first page, p99 <= 50 ms). The fleet is written with the hub's own store API
// (hub/src/store) into the data directory of a hub that is then started on it, so the hub loads
// it as after a restart: clusters labelled env/region/tier, 20 apps each with varied health and
// sync. Then the dashboard's query (GET /api/v1/grid: label selector, health/sync/problems
// filters, counts over every match, a page of 50 clusters, later pages through `next`) is
// timed from the client, over one keep-alive HTTPS connection, `queries` times per run with
// varied filters; the figure is each run's p99. GetFleetStatus (GET /api/v1/status, what
// `flotilla status` calls: rows, counts and a page of 50 rows) is timed the same way as an extra.
import { mkdtemp, rm } from "node:fs/promises";
import { Agent } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { openStore } from "@flotilla/hub/store/open-store";
import type { AppStatusInput } from "@flotilla/hub/store/store";
import { type HubProcess, startHubProcess } from "../harness/hub.js";
import { type BenchResult, extraFigure, quantile, result } from "./bench-result.js";
import { buildPackages } from "./build-workspace.js";
import { connectHubApi, getJson, type HubApi, readRssMiB } from "./status-bench.js";

export type FleetQueryBenchOptions = {
  quick: boolean;
  /** Default 10,000 (quick: 2,000). */
  clusters?: number;
  /** Apps per cluster; default 20. */
  apps?: number;
  /** Timed queries per run and API; default 300. */
  queries?: number;
  /** Default 5 (quick: 3). */
  runs?: number;
  /** More environment for the hub process, e.g. NODE_OPTIONS to profile it. */
  hubEnv?: Record<string, string>;
  /** More node flags for the hub process (e.g. --cpu-prof). */
  hubNodeArgs?: readonly string[];
  onProgress: (line: string) => void;
};

type GridPage = {
  matchedClusters: number;
  counts: { total: number };
  clusters: unknown[];
  next: string | null;
};
type StatusPage = {
  rows?: unknown[];
  clusterCount?: number;
  counts?: { total?: number };
  nextPageToken?: string;
};

const PAGE = 50;
const HEALTHS = ["Healthy", "Progressing", "Degraded", "Missing", "Unknown"] as const;
const ENVS = ["prod", "staging", "dev"] as const;
/** The filters a user combines on the grid: [selector, health, sync, problems]. */
const FILTERS: readonly (readonly [string, string, string, boolean])[] = [
  ["env=prod", "Degraded", "", false],
  ["env=prod", "", "OutOfSync", false],
  ["env=prod,region=region-3", "", "", false],
  ["env in (staging,dev)", "Progressing", "", false],
  ["tier=edge", "", "", true],
  ["", "Degraded", "", false],
  ["region!=region-0", "Missing", "", false],
  ["", "", "", true],
  ["env=prod,tier!=edge", "Healthy", "Synced", false],
  ["", "", "", false],
];

export async function benchFleetQuery(options: FleetQueryBenchOptions): Promise<BenchResult[]> {
  const clusters = options.clusters ?? (options.quick ? 2_000 : 10_000);
  const apps = options.apps ?? 20;
  const queries = options.queries ?? 300;
  const runs = options.runs ?? (options.quick ? 3 : 5);
  const say = (line: string) => options.onProgress(`fleet-query: ${line}`);
  const dir = await mkdtemp(join(tmpdir(), "flotilla-bench-fleet-"));
  const dataDir = join(dir, "hub");
  let hub: HubProcess | undefined;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    say(`writing ${clusters.toLocaleString("en-US")} clusters x ${apps} apps with the store API`);
    const populateStarted = performance.now();
    const counts = await populateFleet(join(dataDir, "db"), clusters, apps, say);
    say(
      `populated in ${((performance.now() - populateStarted) / 1000).toFixed(1)} s; starting the hub on it`,
    );
    const startStarted = performance.now();
    buildPackages(["hub"]);
    hub = await startHubProcess({
      compiled: true,
      dataDir,
      nodeArgs: options.hubNodeArgs,
      env: { FLOTILLA_LOG_LEVEL: "warn", FLOTILLA_POLL_INTERVAL: "10m", ...options.hubEnv },
      timeoutMs: 600_000,
    });
    const api = { ...(await connectHubApi(hub)), agent };
    const all = await getJson<GridPage>(api, "/api/v1/grid?limit=1");
    if (all.matchedClusters !== clusters || all.counts.total !== clusters * apps)
      throw new Error(
        `fleet-query: the hub lists ${all.matchedClusters} clusters and ${all.counts.total} apps, not ${clusters} and ${clusters * apps}`,
      );
    const degraded = await getJson<GridPage>(api, "/api/v1/grid?health=Degraded&limit=1");
    if (degraded.counts.total !== counts.Degraded)
      throw new Error(
        `fleet-query: the hub counts ${degraded.counts.total} Degraded apps, the store holds ${counts.Degraded}`,
      );
    const startSeconds = (performance.now() - startStarted) / 1000;
    const rssMiB = await readRssMiB(hub.child.pid ?? 0);
    say(`hub up with the fleet loaded in ${startSeconds.toFixed(1)} s, RSS ${Math.round(rssMiB)} MiB`);

    const grid: number[][] = [];
    const status: number[][] = [];
    for (let run = 1; run <= runs; run++) {
      grid.push(await timeQueries(api, queries, run, gridPath));
      status.push(await timeQueries(api, queries, run, statusPath));
      say(
        `run ${run}/${runs}: grid p99 ${quantile(grid.at(-1) ?? [], 0.99).toFixed(1)} ms (p50 ${quantile(grid.at(-1) ?? [], 0.5).toFixed(1)}), status p99 ${quantile(status.at(-1) ?? [], 0.99).toFixed(1)} ms`,
      );
    }
    return [
      result({
        name: "fleet-query",
        unit: "ms",
        target: 50,
        samples: grid.map((ms) => quantile(ms, 0.99)),
        notes: `p99 of ${queries} GET /api/v1/grid per run (label selector + health/sync/problems filters, counts over all matches, page of ${PAGE} clusters; every 4th query a later page), ${clusters.toLocaleString("en-US")} clusters x ${apps} apps${options.quick && options.clusters === undefined ? " (quick: 2,000 clusters, full: 10,000)" : ""}, written with the store API and loaded by the hub at start (PGlite), client-timed over keep-alive HTTPS`,
        extra: [
          extraFigure({ label: "grid p50", unit: "ms", samples: grid.map((ms) => quantile(ms, 0.5)) }),
          extraFigure({
            label: `GetFleetStatus p99 (page of ${PAGE} rows)`,
            unit: "ms",
            target: 50,
            samples: status.map((ms) => quantile(ms, 0.99)),
          }),
          extraFigure({ label: "hub start with the fleet", unit: "s", samples: [startSeconds] }),
          extraFigure({ label: "hub RSS with the fleet", unit: "MiB", samples: [rssMiB] }),
        ],
      }),
    ];
  } finally {
    agent.destroy();
    await hub?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Query with filters `i` (in turn), after `next` when given. */
function gridPath(i: number, next: string | null): string {
  const [selector, health, sync, problems] = FILTERS[i % FILTERS.length] ?? ["", "", "", false];
  const params = new URLSearchParams({ limit: String(PAGE) });
  if (selector) params.set("selector", selector);
  if (health) params.set("health", health);
  if (sync) params.set("sync", sync);
  if (problems) params.set("problems", "true");
  if (next) params.set("after", next);
  return `/api/v1/grid?${params}`;
}

function statusPath(i: number, next: string | null): string {
  const [selector, health, sync, problems] = FILTERS[i % FILTERS.length] ?? ["", "", "", false];
  const params = new URLSearchParams({ pageSize: String(PAGE) });
  if (selector) params.set("selector", selector);
  if (health) params.set("health", health);
  if (sync) params.set("sync", sync);
  if (problems) params.set("problemsOnly", "true");
  if (next) params.set("pageToken", next);
  return `/api/v1/status?${params}`;
}

/** Milliseconds of each of `count` queries, one at a time. */
async function timeQueries(
  api: HubApi,
  count: number,
  run: number,
  pathOf: (i: number, next: string | null) => string,
): Promise<number[]> {
  const times: number[] = [];
  let next: string | null = null;
  let previous = 0;
  for (let i = 0; i < count; i++) {
    // A later page repeats the filters of the page before it, as a page token requires.
    const later = i % 4 === 3 && next !== null;
    const filters = later ? previous : i + run;
    previous = filters;
    const path = pathOf(filters, later ? next : null);
    const started = performance.now();
    const page = await getJson<GridPage & StatusPage>(api, path);
    times.push(performance.now() - started);
    const total = page.counts?.total ?? 0;
    const listed = Array.isArray(page.clusters) ? page.clusters.length : (page.rows?.length ?? 0);
    if (listed > PAGE || (total > 0 && listed === 0 && !later))
      throw new Error(`fleet-query: GET ${path} listed ${listed} of ${total}`);
    next = page.next ?? (page.nextPageToken || null);
  }
  return times;
}

/**
 * Writes the fleet into a PGlite store at `dbDir`: clusters with labels and `apps` statuses
 * each, health and sync varied by a fixed spread. Returns the number of apps per health.
 */
async function populateFleet(
  dbDir: string,
  clusters: number,
  apps: number,
  say: (line: string) => void,
): Promise<Record<string, number>> {
  const store = await openStore({ kind: "pglite", dataDir: dbDir });
  const counts: Record<string, number> = {};
  /** A fixed spread in [0, 1) of (cluster, app, salt), so every run populates the same fleet. */
  const spread = (c: number, a: number, salt: number) =>
    ((c * 7_919 + a * 104_729 + salt * 15_485_863) % 1_000) / 1_000;
  try {
    let batch: AppStatusInput[] = [];
    const observedAt = new Date();
    for (let c = 0; c < clusters; c++) {
      const name = `cluster-${String(c).padStart(5, "0")}`;
      const created = await store.clusters.create({
        id: `00000000-0000-4000-8000-${String(c).padStart(12, "0")}`,
        name,
        clusterUid: `uid-${c}`,
        labels: {
          env: ENVS[c % 10 < 6 ? 0 : c % 10 < 9 ? 1 : 2] ?? "prod",
          region: `region-${c % 8}`,
          tier: c % 5 === 0 ? "edge" : "core",
        },
      });
      if (!created.ok) throw new Error(`fleet-query: cluster ${name}: ${created.reason}`);
      for (let a = 0; a < apps; a++) {
        const roll = spread(c, a, 1);
        const health =
          roll < 0.85
            ? HEALTHS[0]
            : roll < 0.91
              ? HEALTHS[1]
              : roll < 0.96
                ? HEALTHS[2]
                : roll < 0.98
                  ? HEALTHS[3]
                  : HEALTHS[4];
        const syncRoll = spread(c, a, 2);
        const sync =
          health === "Healthy"
            ? syncRoll < 0.95
              ? "Synced"
              : "OutOfSync"
            : syncRoll < 0.8
              ? "OutOfSync"
              : "Unknown";
        counts[health] = (counts[health] ?? 0) + 1;
        const app = `app-${String(a).padStart(2, "0")}-${name}`;
        batch.push({
          clusterId: created.cluster.id,
          app,
          digest: `sha256:${c}-${a}`,
          revision: "0123456789abcdef0123456789abcdef01234567",
          sync,
          health,
          healthMessage: health === "Healthy" ? "" : `Deployment/${app}: 1/2 ready`,
          resources: [
            { kind: "Deployment", name: app, health },
            { kind: "Service", name: app },
          ],
          observedAt,
        });
      }
      if (batch.length >= 5_000 || c === clusters - 1) {
        await store.statuses.upsertMany(batch);
        batch = [];
        if ((c + 1) % 1_000 === 0 || c === clusters - 1)
          say(`${(c + 1).toLocaleString("en-US")} clusters written`);
      }
    }
    return counts;
  } finally {
    await store.close();
  }
}
