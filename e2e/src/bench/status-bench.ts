// The `status-ingest` benchmark (DESIGN.md section 6: >= 20,000 app-status updates/s on one
// hub). A real hub process (embedded PGlite by default, PostgreSQL with `databaseUrl`) and
// status reporters in child processes (status-bench-worker.ts: real gRPC clients, one TLS
// connection each) that report every app's status round after round as fast as their streams
// take them, with changing content (health flipping Progressing/Healthy, a new revision each
// round). Every app's last report of a run carries a health no earlier report had (Degraded or
// Suspended, alternating between runs), so the run ends when the dashboard's fleet query
// (GET /api/v1/grid?health=...) counts every app with it: updates/s = updates sent / (that
// moment - the first send). The hub's RSS is sampled throughout, to tell whether it falls
// behind without bound.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { type Agent, request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { FleetService } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { closeClient, createClient, credentials } from "@flotilla/proto/grpc";
import { type HubProcess, startHubProcess } from "../harness/hub.js";
import { type BenchResult, extraFigure, result } from "./bench-result.js";
import { buildPackages } from "./build-workspace.js";
import { type BenchChild, forkBenchChild } from "./fanout-worker.js";
import type { FloodAnswer, FloodArgs, ReporterJoinArgs } from "./status-bench-worker.js";

export type StatusBenchOptions = {
  quick: boolean;
  /** Reporter connections (clusters). Default 200 (quick: 100). */
  agents?: number;
  /** Apps per cluster. Default 20. */
  apps?: number;
  /** Reports per app per run. Default 25 (quick: 10). */
  updatesPerApp?: number;
  /** Measured runs. Default 5 (quick: 3). */
  runs?: number;
  /** Worker processes hosting the reporters. Default 1 (the machine has 2 cores; the hub needs one). */
  workers?: number;
  /** A postgres:// URL for the hub's store instead of embedded PGlite; never logged. */
  databaseUrl?: string;
  /** More environment for the hub process, e.g. NODE_OPTIONS=--cpu-prof to profile it. */
  hubEnv?: Record<string, string>;
  /** More node flags for the hub process (e.g. --cpu-prof). */
  hubNodeArgs?: readonly string[];
  onProgress: (line: string) => void;
};

/** What one measured run saw. */
export type StatusRun = {
  updates: number;
  seconds: number;
  updatesPerSecond: number;
  /** From the last report handed to the transport until the hub had indexed it. */
  drainMs: number;
  peakRssMiB: number;
  endRssMiB: number;
};

const workerPath = fileURLToPath(new URL("./status-bench-worker.ts", import.meta.url));
const POLL_MS = 20;
const RSS_SAMPLE_MS = 200;
/** A run that has not been indexed this long after its last send is a failure, not a figure. */
const DRAIN_TIMEOUT_MS = 120_000;
/** Polls of the grid that may fail (connection reset) in one run before the run fails. */
const MAX_FAILED_POLLS = 20;

export async function benchStatusIngest(options: StatusBenchOptions): Promise<BenchResult[]> {
  const agents = options.agents ?? (options.quick ? 50 : 200);
  const apps = options.apps ?? 20;
  const updatesPerApp = options.updatesPerApp ?? (options.quick ? 10 : 25);
  const runs = options.runs ?? (options.quick ? 3 : 5);
  const workerCount = Math.max(1, Math.min(options.workers ?? 1, agents));
  const store = options.databaseUrl ? "PostgreSQL" : "PGlite";
  const say = (line: string) => options.onProgress(`status-ingest: ${line}`);
  const dir = await mkdtemp(join(tmpdir(), "flotilla-bench-status-"));
  let hub: HubProcess | undefined;
  const workers: BenchChild[] = [];
  try {
    say(`starting a hub (${store})`);
    buildPackages(["hub"]);
    hub = await startHubProcess({
      compiled: true,
      dataDir: join(dir, "hub"),
      nodeArgs: options.hubNodeArgs,
      env: {
        FLOTILLA_LOG_LEVEL: "warn",
        FLOTILLA_HEARTBEAT_INTERVAL: "10s",
        FLOTILLA_POLL_INTERVAL: "10m",
        ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
        ...options.hubEnv,
      },
      timeoutMs: 180_000,
    });
    const hubApi = await connectHubApi(hub);
    const token = await createBootstrapToken(hub, agents);
    for (let w = 0; w < workerCount; w++)
      workers.push(forkBenchChild(workerPath, `status worker ${w + 1}`, say));
    say(`joining ${agents} reporters in ${workerCount} process(es)`);
    await Promise.all(
      workers.map((worker, w) =>
        worker.call("join", {
          hubUrl: hub?.url ?? "",
          caPem: hubApi.caPem,
          token,
          names: Array.from({ length: agents }, (_, i) => `status-${String(i).padStart(5, "0")}`).filter(
            (_, i) => i % workerCount === w,
          ),
          labels: { env: "bench" },
          concurrency: 8,
        } satisfies ReporterJoinArgs),
      ),
    );

    const flood = async (run: number, rounds: number, finalHealth: FloodArgs["finalHealth"]) => {
      const pid = hub?.child.pid ?? 0;
      const rss: number[] = [];
      const sampler = setInterval(() => {
        void readRssMiB(pid).then((mib) => rss.push(mib));
      }, RSS_SAMPLE_MS);
      try {
        const sending = Promise.all(
          workers.map((worker) =>
            worker.call<FloodAnswer>("flood", {
              run,
              apps,
              updatesPerApp: rounds,
              finalHealth,
            } satisfies FloodArgs),
          ),
        );
        const expected = agents * apps;
        const indexedAtMs = await waitIndexed(hubApi, finalHealth, expected, sending);
        const answers = await sending;
        const failures = answers.reduce((sum, a) => sum + a.failures, 0);
        if (failures > 0)
          throw new Error(`status-ingest: ${failures} reporter streams failed during run ${run}`);
        const updates = answers.reduce((sum, a) => sum + a.sent, 0);
        if (updates !== expected * rounds)
          throw new Error(`status-ingest: sent ${updates} updates instead of ${expected * rounds}`);
        const first = Math.min(...answers.map((a) => a.firstSentAtMs));
        const lastSent = Math.max(...answers.map((a) => a.lastSentAtMs));
        rss.push(await readRssMiB(pid));
        const seconds = (indexedAtMs - first) / 1000;
        return {
          updates,
          seconds,
          updatesPerSecond: updates / seconds,
          drainMs: Math.max(0, indexedAtMs - lastSent),
          peakRssMiB: Math.max(...rss),
          endRssMiB: rss.at(-1) ?? 0,
        } satisfies StatusRun;
      } finally {
        clearInterval(sampler);
      }
    };

    say("warm-up run (not counted)");
    await flood(0, 2, "Suspended");
    const measured: StatusRun[] = [];
    for (let run = 1; run <= runs; run++) {
      const one = await flood(run, updatesPerApp, run % 2 === 1 ? "Degraded" : "Suspended");
      say(
        `run ${run}/${runs}: ${one.updates.toLocaleString("en-US")} updates in ${one.seconds.toFixed(2)} s = ${Math.round(one.updatesPerSecond).toLocaleString("en-US")}/s, drained ${Math.round(one.drainMs)} ms after the last send, hub RSS peak ${Math.round(one.peakRssMiB)} MiB`,
      );
      measured.push(one);
    }
    const ingested = await readStatusCounter(hubApi);
    const sentTotal = agents * apps * (2 + runs * updatesPerApp);
    if (ingested !== sentTotal)
      throw new Error(
        `status-ingest: the hub counted ${ingested} status updates, the reporters sent ${sentTotal}`,
      );
    return [toResult(measured, { agents, apps, updatesPerApp, workers: workerCount, store })];
  } finally {
    await Promise.all(workers.map((worker) => worker.call("close").catch(() => undefined)));
    await Promise.all(workers.map((worker) => worker.stop()));
    await hub?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

function toResult(
  runs: StatusRun[],
  scale: { agents: number; apps: number; updatesPerApp: number; workers: number; store: string },
): BenchResult {
  const rssGrowth = runs.length > 1 ? (runs.at(-1)?.endRssMiB ?? 0) - (runs[0]?.endRssMiB ?? 0) : 0;
  return result({
    name: "status-ingest",
    unit: "updates/s",
    target: 20_000,
    comparison: ">=",
    samples: runs.map((run) => run.updatesPerSecond),
    notes: `${scale.agents} reporter connections (real gRPC, ${scale.workers} process(es)) x ${scale.apps} apps x ${scale.updatesPerApp} reports each per run (${(runs[0]?.updates ?? 0).toLocaleString("en-US")} updates), first send to indexed (seen by GET /api/v1/grid); store ${scale.store}; hub RSS ${rssGrowth >= 0 ? "+" : ""}${Math.round(rssGrowth)} MiB from the first run's end to the last's`,
    extra: [
      extraFigure({
        label: "drain after the last send",
        unit: "ms",
        samples: runs.map((run) => run.drainMs),
      }),
      extraFigure({ label: "hub peak RSS", unit: "MiB", samples: runs.map((run) => run.peakRssMiB) }),
    ],
  });
}

/** Resolves with the epoch ms at which the grid counted `expected` apps with `health`. */
async function waitIndexed(
  api: HubApi,
  health: string,
  expected: number,
  sending: Promise<unknown>,
): Promise<number> {
  let sendFailed: unknown;
  let sentAtMs: number | undefined;
  sending.then(
    () => {
      sentAtMs = performance.now();
    },
    (error: unknown) => {
      sendFailed = error ?? new Error("status-ingest: a worker failed");
    },
  );
  let seen = -1;
  let failedPolls = 0;
  for (;;) {
    if (sendFailed !== undefined) throw sendFailed;
    // A poll may meet a keep-alive connection the hub just closed; the next one opens another.
    const grid = await getJson<{ counts: { total: number } }>(
      api,
      `/api/v1/grid?health=${health}&limit=1`,
    ).catch((error: unknown) => {
      failedPolls += 1;
      if (failedPolls > MAX_FAILED_POLLS) throw error;
      return { counts: { total: seen } };
    });
    seen = grid.counts.total;
    if (seen >= expected) return performance.timeOrigin + performance.now();
    if (sentAtMs !== undefined && performance.now() - sentAtMs > DRAIN_TIMEOUT_MS) {
      // Tells a hub still working through its backlog (the counter short of what was sent)
      // from reports lost after they were taken.
      const taken = await readStatusCounter(api).catch(() => Number.NaN);
      throw new Error(
        `status-ingest: ${DRAIN_TIMEOUT_MS} ms after the last send the hub shows ${seen} of ${expected} apps ${health}; it has taken ${taken} reports in all so far`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Where and how to call the hub's HTTP API as its admin. */
export type HubApi = { url: string; caPem: string; token: string; agent?: Agent };

export async function connectHubApi(hub: HubProcess): Promise<HubApi> {
  return { url: hub.url, caPem: await readFile(hub.caPath, "utf8"), token: hub.adminToken };
}

/** GET `path` of the hub's HTTP API as admin, parsed; throws naming the path and the HTTP status. */
export async function getJson<T>(api: HubApi, path: string): Promise<T> {
  const text = await getText(api, path);
  try {
    return JSON.parse(text) as T;
  } catch (cause) {
    throw new Error(`GET ${path}: not JSON`, { cause });
  }
}

/** GET `path` of the hub (HTTPS, its CA, the admin token); the body of a 200, else an error naming the status. */
function getText(api: HubApi, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const headers = { authorization: `Bearer ${api.token}` };
    const req = request(
      new URL(path, api.url),
      { method: "GET", ca: api.caPem, ...(api.agent ? { agent: api.agent } : {}), headers },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () => {
          if (res.statusCode === 200) resolve(text);
          else reject(new Error(`GET ${path}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
        });
      },
    );
    req.on("error", (cause) => reject(new Error(`GET ${path}: ${cause.message}`, { cause })));
    req.end();
  });
}

async function readStatusCounter(api: HubApi): Promise<number> {
  const text = await getText(api, "/metrics");
  const value = /^flotilla_hub_status_updates_total\s+(\d+(?:\.\d+)?(?:e\+\d+)?)/m.exec(text)?.[1];
  if (value === undefined)
    throw new Error("status-ingest: /metrics has no flotilla_hub_status_updates_total");
  return Number(value);
}

/** The resident set of process `pid` in MiB (Linux /proc), 0 when it cannot be read. */
export async function readRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const kib = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? 0);
  return kib / 1024;
}

/** A bootstrap token for `uses` registrations, through FleetService as the admin. */
async function createBootstrapToken(hub: HubProcess, uses: number): Promise<string> {
  const caPem = await readFile(hub.caPath, "utf8");
  const client = createClient(FleetService, new URL(hub.url).host, credentials.createSsl(Buffer.from(caPem)));
  try {
    const created = await client.createBootstrapToken(
      { maxUses: uses, ttl: { seconds: 3600n }, description: "status-ingest bench" },
      { metadata: { authorization: `Bearer ${hub.adminToken}` }, deadlineMs: 30_000 },
    );
    return created.token;
  } finally {
    closeClient(client);
  }
}
