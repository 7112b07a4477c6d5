// `fanout` and `hub-memory` (DESIGN.md section 6): a real hub process (embedded PGlite, its own
// CA), a fleet repository over real Git HTTP whose ApplicationSet sends one app to every
// cluster, and N simulated agents (real gRPC clients, one TLS connection each) in several worker
// processes. Each run commits a change, POSTs a signed GitHub push webhook and takes, per agent,
// the time from just before the POST until the agent persisted the new desired state; the
// figure is the p99 over agents, the median over runs. The limit is the same upsert written to
// the same number of connections from the same worker processes by a bare grpc-js server with
// no hub logic (bare-fanout-server.ts). Then, with the agents connected and idle, the hub's
// RSS (total and per agent, against the same hub before any agent connected) and its CPU.
import { execFileSync } from "node:child_process";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { HubMessageSchema } from "@flotilla/proto/gen/flotilla/v1/agent_pb";
import { FleetService } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { closeClient, createClient, credentials } from "@flotilla/proto/grpc";
import { stringify } from "yaml";
import { makeTempDir } from "../harness/agent.js";
import { type GitServer, startGitServer } from "../harness/git-server.js";
import { type HubProcess, startHubProcess } from "../harness/hub.js";
import { type BenchResult, extraFigure, quantile, result, summarize } from "./bench-result.js";
import { buildPackages } from "./build-workspace.js";
import {
  type BenchChild,
  type CollectAnswer,
  forkBenchChild,
  type JoinAnswer,
  type JoinArgs,
} from "./fanout-worker.js";

const workerModule = fileURLToPath(new URL("./fanout-worker.ts", import.meta.url));
const bareModule = fileURLToPath(new URL("./bare-fanout-server.ts", import.meta.url));

/** DESIGN.md section 6. */
const FANOUT_TARGET_S = 2;
const HUB_RSS_TARGET_MIB = 1536;
const PER_AGENT_TARGET_KIB = (1536 * 1024) / 10_000;
const IDLE_CPU_TARGET_PERCENT = 5;
/** The hub's default heartbeat interval: idle CPU is measured as shipped. */
const HEARTBEAT = "10s";
const HEARTBEAT_MS = 10_000;

export type FanoutBenchOptions = {
  quick: boolean;
  /** Simulated agents; default 1,000 (quick) or 10,000. */
  agents?: number;
  /** Commits (and bare broadcasts); default 3 (quick) or 5. */
  runs?: number;
  /** Worker processes hosting the agents; default 4 (quick) or 8. */
  workers?: number;
  /** Registrations in flight at once per worker; default 8. */
  joinConcurrency?: number;
  /** Agents report Synced/Healthy after each change, as real ones do after applying; default true. */
  reportStatuses?: boolean;
  /** Idle sampling: this many windows of `idleWindowMs`; default 5 x 2,000 ms. */
  idleWindows?: number;
  idleWindowMs?: number;
  /** Extra environment of the hub process, e.g. NODE_OPTIONS=--cpu-prof to profile it. */
  hubEnv?: Record<string, string>;
  /** More node flags for the hub process (e.g. --cpu-prof). */
  hubNodeArgs?: readonly string[];
  /** How long one run may take before the missing agents are reported; default 120 s. */
  runTimeoutMs?: number;
  onProgress: (line: string) => void;
};

export async function benchFanout(options: FanoutBenchOptions): Promise<BenchResult[]> {
  const agentCount = options.agents ?? (options.quick ? 1_000 : 10_000);
  // Quick: three commits; the join of 1,000 agents already takes minutes on a busy 2-core machine.
  const runs = options.runs ?? (options.quick ? 3 : 5);
  const workerCount = Math.min(agentCount, options.workers ?? (options.quick ? 4 : 8));
  const reportStatuses = options.reportStatuses ?? true;
  const runTimeoutMs = options.runTimeoutMs ?? 120_000;
  const progress = options.onProgress;
  if (!Number.isSafeInteger(agentCount) || agentCount < 1)
    throw new Error(`fanout bench: agents must be a positive integer, not ${agentCount}`);
  if (!Number.isSafeInteger(runs) || runs < 1)
    throw new Error(`fanout bench: runs must be a positive integer, not ${runs}`);

  const work = await makeTempDir("flotilla-fanout-");
  let git: GitServer | undefined;
  let hub: HubProcess | undefined;
  let bare: BenchChild | undefined;
  const workers: BenchChild[] = [];
  try {
    git = await startGitServer();
    const repoUrl = git.repoUrl("fleet");
    await git.createRepo("fleet", fleetFiles(repoUrl, 0));
    const secret = randomBytes(32).toString("hex");
    const configPath = join(work.path, "hub.yaml");
    await writeFile(
      configPath,
      stringify({
        sources: [
          {
            name: "fleet",
            repoURL: repoUrl,
            path: "apps",
            // Only the webhook makes the hub fetch during the benchmark.
            pollInterval: "1h",
            // biome-ignore lint/suspicious/noTemplateCurlyInString: the hub config reads ${VAR} from its environment, so the secret stays off the disk.
            webhookSecret: "${FLOTILLA_BENCH_WEBHOOK_SECRET}",
          },
        ],
      }),
    );
    progress("fanout: compiling the hub, to measure it as it ships, without tsx");
    buildPackages(["hub"]);
    progress(`fanout: starting the hub (${agentCount.toLocaleString("en")} agents to come)`);
    hub = await startHubProcess({
      compiled: true,
      dataDir: join(work.path, "hub"),
      nodeArgs: options.hubNodeArgs,
      env: {
        FLOTILLA_HUB_CONFIG: configPath,
        FLOTILLA_BENCH_WEBHOOK_SECRET: secret,
        FLOTILLA_HEARTBEAT_INTERVAL: HEARTBEAT,
        FLOTILLA_POLL_INTERVAL: "1h",
        FLOTILLA_LOG_LEVEL: "warn",
        ...options.hubEnv,
      },
      timeoutMs: 180_000,
    });
    const hubPid = hub.child.pid ?? 0;
    const caPem = await readFile(hub.caPath, "utf8");
    const fleet = createClient(
      FleetService,
      new URL(hub.url).host,
      credentials.createSsl(Buffer.from(caPem)),
    );
    const callOptions = { metadata: { authorization: `Bearer ${hub.adminToken}` }, deadlineMs: 60_000 };
    let token: string;
    try {
      token = (
        await fleet.createBootstrapToken(
          // Room for the retries of Registers that timed out (see fanout-worker.ts).
          { maxUses: 2 * agentCount, ttl: { seconds: 3600n }, description: "fanout benchmark" },
          callOptions,
        )
      ).token;
    } finally {
      closeClient(fleet);
    }

    // The same hub before any agent connected: started, source fetched, nothing to deliver. Its
    // RSS falls for a while after start (V8 returns the heap tsx and the first resolve used), so
    // the baseline is the lowest of ten samples a second apart.
    const baselineRss = [];
    for (let i = 0; i < 10; i += 1) {
      await delay(1_000);
      baselineRss.push(await readRssMiB(hubPid));
    }
    const baselineMiB = Math.min(...baselineRss);
    progress(`fanout: hub RSS before agents ${baselineMiB.toFixed(0)} MiB`);

    const names = Array.from({ length: agentCount }, (_, i) => `bench-${String(i).padStart(5, "0")}`);
    const shares = Array.from({ length: workerCount }, (_, w) =>
      names.filter((_, i) => i % workerCount === w),
    );
    for (let w = 0; w < workerCount; w += 1)
      workers.push(forkBenchChild(workerModule, `fanout worker ${w + 1}/${workerCount}`, progress));
    const joinStarted = performance.now();
    const joinAll = async (hubUrl: string, joinToken: string) => {
      const answers = await Promise.all(
        workers.map((worker, w) =>
          worker.call<JoinAnswer>("join", {
            hubUrl,
            caPem,
            token: joinToken,
            names: shares[w] ?? [],
            concurrency: options.joinConcurrency ?? 8,
            reportStatuses,
          } satisfies JoinArgs),
        ),
      );
      return answers.reduce((total, answer) => total + answer.agents, 0);
    };
    progress(
      `fanout: registering and connecting ${agentCount.toLocaleString("en")} agents in ${workerCount} processes`,
    );
    const joined = await joinAll(hub.url, token);
    const joinSeconds = (performance.now() - joinStarted) / 1000;
    progress(`fanout: ${joined} agents registered and connected in ${joinSeconds.toFixed(1)} s`);

    // Every agent holds the initial commit (the resolver re-resolves as clusters join) before run 1.
    const initial = await git.resolveRef("fleet");
    const settled = await collectAll(workers, initial, 300_000);
    if (settled.missingCount > 0)
      throw new Error(
        `fanout bench: ${settled.missingCount} agents never got the initial desired state (e.g. ${settled.missing.join(", ")})`,
      );
    progress(
      `fanout: every agent holds the initial desired state, ${((performance.now() - joinStarted) / 1000).toFixed(1)} s after the first registration`,
    );

    const hubSamples: number[] = [];
    let missedAgents = 0;
    /** Webhook to the first agent (fetch, resolve, store), and from it to the p99 (delivery). */
    const firstSamples: number[] = [];
    const spreadSamples: number[] = [];
    let upsertBytes = 0;
    let upsert: Uint8Array = new Uint8Array();
    for (let run = 1; run <= runs; run += 1) {
      const sha = await git.commit("fleet", fleetFiles(repoUrl, run), { message: `fanout run ${run}` });
      const startedAt = performance.timeOrigin + performance.now();
      const [status, answer] = await Promise.all([
        postPushWebhook(hub.url, caPem, secret, repoUrl, sha),
        collectAll(workers, sha, runTimeoutMs),
      ]);
      if (status !== 202)
        throw new Error(`fanout bench: the hub answered the push webhook with HTTP ${status}`);
      // An agent that never got it counts as the timeout: the p99 shows the miss, and the runs go on.
      if (answer.missingCount > 0) {
        missedAgents += answer.missingCount;
        progress(
          `fanout run ${run}: ${answer.missingCount} of ${agentCount} agents did not get commit ${sha} within ${runTimeoutMs} ms (e.g. ${answer.missing.join(", ")})`,
        );
      }
      const latencies = [
        ...answer.times.map((at) => (at - startedAt) / 1000),
        ...Array.from({ length: answer.missingCount }, () => runTimeoutMs / 1000),
      ];
      const p99 = quantile(latencies, 0.99);
      hubSamples.push(p99);
      const first = Math.min(...latencies);
      firstSamples.push(first);
      spreadSamples.push(p99 - first);
      if (answer.upsert.length > 0) {
        upsert = answer.upsert;
        upsertBytes = answer.upsert.length;
      }
      progress(
        `fanout run ${run}/${runs}: p50 ${quantile(latencies, 0.5).toFixed(3)} s, p99 ${p99.toFixed(3)} s, max ${Math.max(...latencies).toFixed(3)} s`,
      );
    }

    // hub-memory: the agents stay connected and idle; the hub only takes heartbeats.
    progress("hub-memory: agents idle, letting the hub settle");
    await delay(5_000);
    const idleWindows = options.idleWindows ?? 5;
    const idleWindowMs = options.idleWindowMs ?? 2_000;
    const rssSamples: number[] = [];
    const cpuSamples: number[] = [];
    const ticksPerSecond = clockTicksPerSecond();
    for (let i = 0; i < idleWindows; i += 1) {
      const before = readCpuTicks(hubPid);
      const from = performance.now();
      await delay(idleWindowMs);
      const ticks = readCpuTicks(hubPid) - before;
      cpuSamples.push((ticks / ticksPerSecond / ((performance.now() - from) / 1000)) * 100);
      rssSamples.push(await readRssMiB(hubPid));
    }
    progress(
      `hub-memory: RSS ${median(rssSamples).toFixed(0)} MiB with ${joined} agents, idle CPU ${median(cpuSamples).toFixed(1)} %`,
    );

    // The baseline: the same worker processes, the same number of connections, no hub.
    await Promise.all(workers.map((worker) => worker.call("close")));
    const hubHost = new URL(hub.url).hostname;
    await hub.stop();
    hub = undefined;
    bare = forkBenchChild(bareModule, "bare fanout server", progress);
    const hubDir = join(work.path, "hub");
    const { url: bareLocalUrl } = await bare.call<{ url: string }>("listen", {
      certPem: await readFile(join(hubDir, "tls.crt"), "utf8"),
      keyPem: await readFile(join(hubDir, "tls.key"), "utf8"),
      heartbeatIntervalMs: HEARTBEAT_MS,
    });
    // Same host name as the hub, so the certificate is checked the same way.
    const bareUrl = new URL(bareLocalUrl);
    bareUrl.hostname = hubHost;
    progress(`fanout: connecting ${agentCount.toLocaleString("en")} agents to the bare grpc-js server`);
    await joinAll(bareUrl.origin, "bare");
    const bareSamples: number[] = [];
    const template = fromBinary(HubMessageSchema, upsert);
    for (let run = 1; run <= runs; run += 1) {
      const message = create(HubMessageSchema, template);
      if (message.body.case !== "upsert" || !message.body.value.app)
        throw new Error("fanout bench: the hub's message is not an upsert");
      message.body.value.seq = 1_000_000n + BigInt(run);
      // A revision as long as a commit sha, so the bare message is the hub's size.
      const revision = createHash("sha1").update(`bare run ${run}`).digest("hex");
      message.body.value.app.revision = revision;
      const bytes = toBinary(HubMessageSchema, message);
      const startedAt = performance.timeOrigin + performance.now();
      const [, answer] = await Promise.all([
        bare.call("broadcast", { message: bytes }),
        collectAll(workers, revision, runTimeoutMs),
      ]);
      if (answer.missingCount > 0)
        throw new Error(`fanout bench bare run ${run}: ${answer.missingCount} agents got nothing`);
      const latencies = answer.times.map((at) => (at - startedAt) / 1000);
      bareSamples.push(quantile(latencies, 0.99));
      progress(`fanout bare run ${run}/${runs}: p99 ${(bareSamples.at(-1) ?? 0).toFixed(3)} s`);
    }

    const scale = `${joined.toLocaleString("en")} agents in ${workerCount} processes, ${runs} commits, ${upsertBytes} bytes per upsert`;
    const perAgentKiB = rssSamples.map((rss) => ((rss - baselineMiB) * 1024) / joined);
    return [
      result({
        name: "fanout",
        unit: "s",
        target: FANOUT_TARGET_S,
        samples: hubSamples,
        limitSamples: bareSamples,
        extra: [
          extraFigure({ label: "webhook to first agent", unit: "s", samples: firstSamples }),
          extraFigure({ label: "first agent to p99", unit: "s", samples: spreadSamples }),
        ],
        notes: `p99 over agents, webhook POST to persisted; ${scale}; limit: bare grpc-js server, same connections; agents ${reportStatuses ? "report" : "do not report"} status; joined in ${joinSeconds.toFixed(0)} s${missedAgents > 0 ? `; ${missedAgents} deliveries missed the ${runTimeoutMs / 1000} s timeout and count as it` : ""}`,
      }),
      result({
        name: "hub-memory",
        unit: "MiB",
        target: HUB_RSS_TARGET_MIB,
        samples: rssSamples,
        notes: `hub RSS with ${joined.toLocaleString("en")} idle agents connected (${baselineMiB.toFixed(0)} MiB before any), heartbeat ${HEARTBEAT}; ${idleWindows} samples`,
        extra: [
          extraFigure({
            label: "per agent",
            unit: "KiB",
            samples: perAgentKiB,
            target: PER_AGENT_TARGET_KIB,
          }),
          extraFigure({
            label: `idle CPU (${idleWindows} x ${idleWindowMs / 1000} s)`,
            unit: "% of a core",
            samples: cpuSamples,
            target: IDLE_CPU_TARGET_PERCENT,
          }),
        ],
      }),
    ];
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
    await bare?.stop();
    await hub?.stop();
    await git?.stop();
    await work.remove();
  }
}

/** The fleet: one ApplicationSet sending app `bench-<cluster>` (a ConfigMap at `version`) to every cluster. */
function fleetFiles(repoUrl: string, version: number): Record<string, string> {
  return {
    "apps/bench.yaml": stringify({
      apiVersion: "argoproj.io/v1alpha1",
      kind: "ApplicationSet",
      metadata: { name: "bench", namespace: "argocd" },
      spec: {
        generators: [{ clusters: {} }],
        template: {
          metadata: { name: "bench-{{name}}" },
          spec: {
            project: "default",
            source: { repoURL: repoUrl, path: "app", targetRevision: "HEAD" },
            destination: { name: "{{name}}", namespace: "bench" },
            syncPolicy: { automated: { prune: true } },
          },
        },
      },
    }),
    "app/config.yaml": stringify({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "bench" },
      data: { version: String(version), note: "fanout benchmark" },
    }),
  };
}

/** Asks every worker when its agents persisted `revision`, and merges the answers. */
async function collectAll(
  workers: BenchChild[],
  revision: string,
  timeoutMs: number,
): Promise<CollectAnswer> {
  const answers = await Promise.all(
    workers.map((worker) => worker.call<CollectAnswer>("collect", { revision, timeoutMs })),
  );
  return {
    times: answers.flatMap((answer) => answer.times),
    missing: answers.flatMap((answer) => answer.missing).slice(0, 10),
    missingCount: answers.reduce((total, answer) => total + answer.missingCount, 0),
    upsert: answers.find((answer) => answer.upsert.length > 0)?.upsert ?? new Uint8Array(),
  };
}

/** POSTs a GitHub push event for `sha` on main, signed with `secret`; resolves with the HTTP status. */
function postPushWebhook(
  hubUrl: string,
  caPem: string,
  secret: string,
  repoUrl: string,
  sha: string,
): Promise<number> {
  const body = Buffer.from(
    JSON.stringify({
      ref: "refs/heads/main",
      after: sha,
      repository: { html_url: repoUrl, clone_url: repoUrl },
    }),
  );
  const signature = `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
  return new Promise((resolve, reject) => {
    const req = request(
      new URL("/webhooks/github", hubUrl),
      {
        method: "POST",
        ca: caPem,
        headers: {
          "content-type": "application/json",
          "content-length": body.length,
          "x-github-event": "push",
          "x-hub-signature-256": signature,
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", (cause) =>
      reject(new Error(`fanout bench: POST /webhooks/github: ${cause.message}`, { cause })),
    );
    req.end(body);
  });
}

/** VmRSS of a process, in MiB. */
async function readRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kib = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)?.[1];
  if (kib === undefined) throw new Error(`process ${pid}: no VmRSS in /proc/${pid}/status`);
  return Number(kib) / 1024;
}

/** utime + stime of a process, in clock ticks. */
function readCpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces; fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

function clockTicksPerSecond(): number {
  const ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
  return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
}

function median(values: readonly number[]): number {
  return summarize(values).value;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
