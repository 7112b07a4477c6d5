// The reconnect storm (issue 8, "faults"): a real hub process (embedded PGlite, its own CA), a
// fleet repository over real Git HTTP, and 50 simulated agents (real gRPC clients over TLS, see
// harness/simulated-agent.ts) joined with a real bootstrap token. 1,000 disconnect/reconnect
// cycles with random timing (random agent, abrupt socket reset or clean close, 0-500 ms down)
// run while 10 commits land; afterwards every agent must hold exactly the latest desired state,
// nothing applied twice or out of order, and the hub must agree.
//
// The run is seeded: FLOTILLA_STORM_SEED=<seed> replays the same schedule and commits.
import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { KubeObject } from "@flotilla/agent/kube/kube-object";
import { HealthStatus, SyncStatus } from "@flotilla/proto/gen/flotilla/v1/app_pb";
import { ConnectionState, FleetService, type FleetStatusRow } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { type CallOptions, closeClient, createClient, credentials } from "@flotilla/proto/grpc";
import { stringify } from "yaml";
import { makeTempDir, waitFor } from "./harness/agent.js";
import { type GitFiles, useGitServer } from "./harness/git-server.js";
import { type HubProcess, startHubProcess } from "./harness/hub.js";
import { joinSimulatedAgent, type SimulatedAgent } from "./harness/simulated-agent.js";

const CLUSTERS = 50;
const CYCLES = 1_000;
const COMMITS = 10;
/** How long an agent stays up between two cuts: 0 to this. */
const MAX_UP_MS = 1_500;
const MAX_DOWN_MS = 500;
/** An abrupt cut leaves the hub's side of the connection silently open for up to this long. */
const MAX_BLACKHOLE_MS = 2_000;
/** The "extra" ApplicationSet (clusters labelled group=even) appears, goes and comes back. */
const EXTRA_ADDED = 3;
const EXTRA_REMOVED = 6;
const EXTRA_READDED = 9;
const CONVERGE_MS = 120_000;
/** The hub's heartbeat interval; it marks a cluster silent for three of them Disconnected. */
const HEARTBEAT_MS = 2_000;
/** The storm itself normally takes 1-2 minutes; past this something is stuck. */
const STORM_DEADLINE_MS = 240_000;

const seed = Number(process.env.FLOTILLA_STORM_SEED ?? randomInt(2 ** 31));
if (!Number.isSafeInteger(seed) || seed < 0) {
  throw new Error(`FLOTILLA_STORM_SEED=${process.env.FLOTILLA_STORM_SEED}: not a non-negative integer`);
}

/** mulberry32: a small seeded PRNG, so a failing storm can be replayed. */
function seededRandom(start: number): () => number {
  let state = start >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function appSet(name: string, repoUrl: string, path: string, selector?: Record<string, string>): string {
  return stringify({
    apiVersion: "argoproj.io/v1alpha1",
    kind: "ApplicationSet",
    metadata: { name, namespace: "argocd" },
    spec: {
      generators: [{ clusters: selector ? { selector: { matchLabels: selector } } : {} }],
      template: {
        metadata: { name: `${name}-{{name}}` },
        spec: {
          project: "default",
          source: { repoURL: repoUrl, path, targetRevision: "HEAD" },
          destination: { name: "{{name}}", namespace: name },
          syncPolicy: { automated: { prune: true }, syncOptions: ["CreateNamespace=true"] },
        },
      },
    },
  });
}

function configMap(data: Record<string, string>): string {
  return stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "config" }, data });
}

/** What every cluster should hold after each commit: app name to the version in its ConfigMap. */
type FleetPlan = {
  initial: GitFiles;
  commits: { files: GitFiles; delete: string[]; message: string }[];
  expected(cluster: string, commit: number): Map<string, number>;
};

/**
 * Three apps per cluster: `shared-<c>` (changes with every commit), `own-<c>` (its own folder,
 * changed in about a third of the commits) and `extra-<c>` on clusters labelled group=even
 * (added at commit 3, removed at 6, added again with new content at 9). Versions only grow, so
 * every upsert an agent applies for an app carries content it never had.
 */
function planFleet(names: string[], repoUrl: string, random: () => number): FleetPlan {
  const initial: GitFiles = {
    "apps/own.yaml": appSet("own", repoUrl, "clusters/{{name}}"),
    "apps/shared.yaml": appSet("shared", repoUrl, "shared"),
    "shared/config.yaml": configMap({ version: "0" }),
    "extra/config.yaml": configMap({ version: String(EXTRA_ADDED) }),
  };
  for (const name of names) initial[`clusters/${name}/config.yaml`] = configMap({ version: "0" });
  /** ownVersions[k][i]: version of own-<names[i]> after commit k. */
  const ownVersions: number[][] = [names.map(() => 0)];
  const commits: FleetPlan["commits"] = [];
  for (let k = 1; k <= COMMITS; k += 1) {
    const previous = ownVersions[k - 1] ?? [];
    const files: GitFiles = { "shared/config.yaml": configMap({ version: String(k) }) };
    const own = names.map((name, i) => {
      if (random() >= 0.3) return previous[i] ?? 0;
      files[`clusters/${name}/config.yaml`] = configMap({ version: String(k) });
      return k;
    });
    ownVersions.push(own);
    const remove: string[] = [];
    if (k === EXTRA_ADDED) files["apps/extra.yaml"] = appSet("extra", repoUrl, "extra", { group: "even" });
    if (k === EXTRA_REMOVED) remove.push("apps/extra.yaml");
    if (k === EXTRA_READDED) {
      files["apps/extra.yaml"] = appSet("extra", repoUrl, "extra", { group: "even" });
      files["extra/config.yaml"] = configMap({ version: String(EXTRA_READDED) });
    }
    commits.push({ files, delete: remove, message: `storm commit ${k}` });
  }
  return {
    initial,
    commits,
    expected(cluster, commit) {
      const index = names.indexOf(cluster);
      const apps = new Map<string, number>([
        [`shared-${cluster}`, commit],
        [`own-${cluster}`, ownVersions[commit]?.[index] ?? -1],
      ]);
      if (index % 2 === 0) {
        if (commit >= EXTRA_READDED) apps.set(`extra-${cluster}`, EXTRA_READDED);
        else if (commit >= EXTRA_ADDED && commit < EXTRA_REMOVED) apps.set(`extra-${cluster}`, EXTRA_ADDED);
      }
      return apps;
    },
  };
}

function versionOf(objects: KubeObject[]): number {
  const config = objects.find((object) => object.kind === "ConfigMap" && object.metadata.name === "config");
  const data = config?.data as Record<string, string> | undefined;
  return Number(data?.version ?? Number.NaN);
}

type FleetApi = {
  client: ReturnType<typeof createClient<typeof FleetService>>;
  callOptions: CallOptions;
};

async function fleetRows(api: FleetApi): Promise<FleetStatusRow[]> {
  const rows: FleetStatusRow[] = [];
  let pageToken = "";
  do {
    const page = await api.client.getFleetStatus({ pageSize: 1000, pageToken }, api.callOptions);
    rows.push(...page.rows);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return rows;
}

/**
 * Everything that differs between what `agents` hold, what the hub says and what Git says at
 * commit `commit`; empty once the fleet converged. The hub must list every cluster Connected
 * with its acked seq equal to its desired seq, and every (cluster, app) delivered, Synced and
 * Healthy at the desired revision; each agent must hold exactly those apps, with the hub's
 * digests and the content of the commit.
 */
async function findDifferences(
  api: FleetApi,
  agents: SimulatedAgent[],
  plan: FleetPlan,
  commit: number,
): Promise<string[]> {
  const differences: string[] = [];
  const clusters = await api.client.listClusters({ pageSize: 1000 }, api.callOptions);
  const rows = await fleetRows(api);
  for (const agent of agents) {
    const cluster = clusters.clusters.find((c) => c.name === agent.name);
    if (!cluster) {
      differences.push(`${agent.name}: not listed by the hub`);
      continue;
    }
    if (cluster.connection !== ConnectionState.CONNECTED)
      differences.push(`${agent.name}: hub says ${ConnectionState[cluster.connection]}`);
    if (cluster.ackedSeq !== cluster.desiredSeq)
      differences.push(
        `${agent.name}: hub acked seq ${cluster.ackedSeq} != desired seq ${cluster.desiredSeq}`,
      );
    if (agent.lastAppliedSeq !== cluster.desiredSeq)
      differences.push(
        `${agent.name}: agent applied up to seq ${agent.lastAppliedSeq}, hub desires ${cluster.desiredSeq}`,
      );
    const expected = plan.expected(agent.name, commit);
    const hubApps = new Map(rows.filter((row) => row.cluster === agent.name).map((row) => [row.app, row]));
    const held = agent.desired();
    const names = [...expected.keys()].sort().join(",");
    if ([...hubApps.keys()].sort().join(",") !== names)
      differences.push(`${agent.name}: hub targets [${[...hubApps.keys()].sort()}], Git says [${names}]`);
    if ([...held.keys()].sort().join(",") !== names)
      differences.push(`${agent.name}: agent holds [${[...held.keys()].sort()}], Git says [${names}]`);
    for (const [app, version] of expected) {
      const entry = held.get(app);
      const row = hubApps.get(app);
      if (entry && versionOf(entry.objects) !== version)
        differences.push(
          `${agent.name}/${app}: agent holds version ${versionOf(entry.objects)}, Git has ${version}`,
        );
      if (!row) continue;
      if (entry && entry.digest !== row.desiredDigest)
        differences.push(
          `${agent.name}/${app}: agent holds ${entry.digest}, hub desires ${row.desiredDigest}`,
        );
      if (!row.delivered) differences.push(`${agent.name}/${app}: hub has no ack of the desired digest`);
      if (row.syncStatus !== SyncStatus.SYNCED || row.healthStatus !== HealthStatus.HEALTHY)
        differences.push(
          `${agent.name}/${app}: hub shows ${SyncStatus[row.syncStatus]}/${HealthStatus[row.healthStatus]}`,
        );
      if (row.revision !== row.desiredRevision)
        differences.push(
          `${agent.name}/${app}: hub shows revision ${row.revision}, desired ${row.desiredRevision}`,
        );
    }
  }
  return differences;
}

async function waitConverged(
  api: FleetApi,
  agents: SimulatedAgent[],
  plan: FleetPlan,
  commit: number,
  hub: HubProcess,
): Promise<void> {
  let last: string[] = [];
  try {
    await waitFor(
      `${agents.length} agents holding commit ${commit}`,
      async () => {
        last = await findDifferences(api, agents, plan, commit);
        return last.length === 0 ? true : undefined;
      },
      CONVERGE_MS,
    );
  } catch (error) {
    throw new Error(
      `seed ${seed}: ${(error as Error).message}\n${last.length} differences, first 20:\n${last.slice(0, 20).join("\n")}\nhub log tail:\n${hub.output().slice(-3000)}`,
    );
  }
}

/** `promise`, or a failure naming the seed and `what()` once `ms` passed. */
async function withDeadline<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`seed ${seed}: no end after ${ms} ms of ${what()}`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Over every agent's applied changes: a digest (or seq) of an app applied more than once, a seq
 * not above the previous one, content older than content applied before.
 */
function auditApplied(agents: SimulatedAgent[], commitOf: Map<string, number>) {
  const problems: string[] = [];
  let twice = 0;
  let outOfOrder = 0;
  let upserts = 0;
  let removals = 0;
  for (const agent of agents) {
    const byApp = new Map<string, SimulatedAgent["applied"][number][]>();
    for (const record of agent.applied) {
      const list = byApp.get(record.app) ?? [];
      list.push(record);
      byApp.set(record.app, list);
      if (record.kind === "upsert") upserts += 1;
      else removals += 1;
    }
    for (const [app, records] of byApp) {
      const digests = new Set<string>();
      let lastSeq = -1n;
      let lastCommit = -1;
      for (const record of records) {
        if (record.kind === "upsert") {
          if (digests.has(record.digest)) {
            twice += 1;
            problems.push(`${agent.name}/${app}: digest ${record.digest} applied again at seq ${record.seq}`);
          }
          digests.add(record.digest);
          const commit = commitOf.get(record.revision) ?? -1;
          if (commit < lastCommit) {
            outOfOrder += 1;
            problems.push(
              `${agent.name}/${app}: content of commit ${commit} applied after commit ${lastCommit}`,
            );
          }
          lastCommit = commit;
        }
        if (record.seq <= lastSeq) {
          outOfOrder += 1;
          problems.push(`${agent.name}/${app}: seq ${record.seq} applied after seq ${lastSeq}`);
        }
        lastSeq = record.seq;
      }
    }
  }
  return { twice, outOfOrder, upserts, removals, problems };
}

/** Joins `names` with the token, a few at a time. */
async function joinAgents(
  names: string[],
  join: (name: string, index: number) => Promise<SimulatedAgent>,
  offset: number,
): Promise<SimulatedAgent[]> {
  const joined: SimulatedAgent[] = new Array(names.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = next++; i < names.length; i = next++) joined[i] = await join(names[i] ?? "", offset + i);
    }),
  );
  return joined;
}

describe("reconnect storm: simulated agents against a hub process", () => {
  const git = useGitServer();
  const names = Array.from({ length: CLUSTERS }, (_, i) => `sim-${String(i).padStart(2, "0")}`);
  const random = seededRandom(seed);
  let work: { path: string; remove(): Promise<void> };
  let hub: HubProcess;
  let api: FleetApi;
  let plan: FleetPlan;
  let caPem = "";
  let token = "";
  /** Commit sha to its index in the plan (0: the initial commit). */
  const commitOf = new Map<string, number>();
  const agents: SimulatedAgent[] = [];

  let caHash = "";
  /** The first agent fetches the CA itself and pins it by hash, as `flotilla-agent join` does. */
  const joinAgent = (name: string, index: number) =>
    joinSimulatedAgent({
      hubUrl: hub.url,
      ...(index === 0 ? { caHash } : { caPem }),
      token,
      name,
      labels: { group: index % 2 === 0 ? "even" : "odd" },
      cuttable: true,
      backoff: { initialMs: 100, maxMs: 2_000 },
      random: seededRandom(seed + index + 1),
    });

  before(async () => {
    work = await makeTempDir("flotilla-storm-");
    const repoUrl = git().repoUrl("fleet");
    plan = planFleet(names, repoUrl, random);
    commitOf.set(await git().createRepo("fleet", plan.initial), 0);
    hub = await startHubProcess({
      dataDir: join(work.path, "hub"),
      // Only Refresh after each commit makes the hub resolve; the poll would only add noise.
      env: {
        FLOTILLA_POLL_INTERVAL: "10m",
        FLOTILLA_HEARTBEAT_INTERVAL: `${HEARTBEAT_MS}ms`,
        FLOTILLA_LOG_LEVEL: "warn",
      },
      timeoutMs: 180_000,
    });
    caPem = await readFile(hub.caPath, "utf8");
    const address = new URL(hub.url).host;
    api = {
      client: createClient(FleetService, address, credentials.createSsl(Buffer.from(caPem))),
      callOptions: { metadata: { authorization: `Bearer ${hub.adminToken}` }, deadlineMs: 60_000 },
    };
    await api.client.addSource({ name: "fleet", repoUrl, path: "apps" }, api.callOptions);
    const created = await api.client.createBootstrapToken(
      { maxUses: CLUSTERS, ttl: { seconds: 3600n }, description: "reconnect storm" },
      api.callOptions,
    );
    token = created.token;
    caHash = created.caHash;
    assert.match(caHash, /^sha256:[0-9a-f]{64}$/);
  });

  after(async () => {
    await Promise.all(agents.map((agent) => agent.close()));
    if (api) closeClient(api.client);
    await hub?.stop();
    await work?.remove();
  });

  describe("simulated agent", () => {
    it("joins over TLS with a bootstrap token, holds what the hub resolved, is cut three ways and resumes without re-applying", async () => {
      agents.push(...(await joinAgents(names.slice(0, 3), joinAgent, 0)));
      await Promise.all(agents.map((agent) => agent.connect()));
      await waitConverged(api, agents, plan, 0, hub);
      const appliedBefore = agents.map((agent) => agent.applied.length);
      assert.deepEqual(appliedBefore, [2, 2, 2], "shared-* and own-* applied once each");

      const [clean, abrupt, silent] = agents;
      assert.ok(clean && abrupt && silent);
      await clean.disconnect();
      await abrupt.disconnect({ abrupt: true });
      // The silent agent's socket stays open on the hub's side: only the watchdog notices.
      const silentCutAt = performance.now();
      await silent.disconnect({ abrupt: true, blackholeMs: 120_000 });
      const connection = async (name: string) =>
        (await api.client.listClusters({}, api.callOptions)).clusters.find((c) => c.name === name)
          ?.connection;
      await waitFor("the hub to see the clean and the reset agent go", async () =>
        (await connection(clean.name)) === ConnectionState.DISCONNECTED &&
        (await connection(abrupt.name)) === ConnectionState.DISCONNECTED
          ? true
          : undefined,
      );
      const silentNoticedMs = await waitFor("the hub to notice the silent agent", async () =>
        (await connection(silent.name)) !== ConnectionState.CONNECTED
          ? performance.now() - silentCutAt
          : undefined,
      );
      // Three heartbeat intervals of silence, less the one that may have passed before the cut.
      assert.ok(
        silentNoticedMs >= 2 * HEARTBEAT_MS,
        `the hub noticed the silent cut after ${Math.round(silentNoticedMs)} ms, so its socket did not stay open`,
      );
      await Promise.all(agents.map((agent) => agent.connect()));
      await waitConverged(api, agents, plan, 0, hub);
      assert.deepEqual(
        agents.map((agent) => agent.applied.length),
        appliedBefore,
        "a resume with nothing new applies nothing",
      );
      assert.deepEqual(
        agents.map((agent) => agent.stats.resends),
        [0, 0, 0],
        "Hello listed every app, so the hub resent nothing",
      );
      assert.deepEqual(
        agents.map((agent) => agent.stats.welcomes),
        [2, 2, 2],
      );
    });
  });

  describe("reliability: faults", () => {
    it("1,000 random disconnects and reconnects of 50 agents during 10 commits lose no update and apply none twice", {
      timeout: 600_000,
    }, async (t) => {
      t.diagnostic(`seed ${seed} (replay with FLOTILLA_STORM_SEED=${seed})`);
      agents.push(...(await joinAgents(names.slice(agents.length), joinAgent, agents.length)));
      assert.equal(agents.length, CLUSTERS);
      await Promise.all(agents.map((agent) => agent.connect()));
      await waitConverged(api, agents, plan, 0, hub);

      // Each cycle: the agent stays up upMs (from its previous reconnect), goes down (abrupt or
      // clean), stays down downMs, reconnects. An agent runs its cycles one after another; the
      // agents run theirs at the same time.
      const schedule = Array.from({ length: CYCLES }, () => {
        const agent = Math.floor(random() * CLUSTERS);
        const upMs = Math.floor(random() * (MAX_UP_MS + 1));
        const abrupt = random() < 0.5;
        const downMs = Math.floor(random() * (MAX_DOWN_MS + 1));
        const blackholeMs = abrupt ? Math.floor(random() * (MAX_BLACKHOLE_MS + 1)) : 0;
        return { agent, upMs, abrupt, downMs, blackholeMs };
      });
      const abruptCount = schedule.filter((cycle) => cycle.abrupt).length;
      const appliedBefore = agents.reduce((total, agent) => total + agent.applied.length, 0);
      const statsBefore = agents.map((agent) => ({ ...agent.stats }));
      /** What the agents' counters grew by since the storm started. */
      const grown = (field: keyof SimulatedAgent["stats"]) =>
        agents.reduce((total, agent, i) => total + agent.stats[field] - (statsBefore[i]?.[field] ?? 0), 0);

      const started = performance.now();
      let cyclesDone = 0;
      const progress: { cycles: number; reached(): void }[] = [];
      const cyclesReached = (cycles: number) =>
        new Promise<void>((resolve) => {
          if (cyclesDone >= cycles) resolve();
          else progress.push({ cycles, reached: resolve });
        });
      // The last twelfth of the cycles waits for the last commit, so every commit meets the storm.
      const tailCycles = CYCLES - Math.floor(CYCLES / (COMMITS + 2));
      let cyclesStarted = 0;
      let committed: () => void = () => {};
      const allCommitted = new Promise<void>((resolve) => {
        committed = resolve;
      });
      /** Where each agent's runner is, for the message when the storm overruns. */
      const phases = agents.map(() => "up");
      const runCycles = async (agent: SimulatedAgent, index: number) => {
        for (const cycle of schedule) {
          if (cycle.agent !== index) continue;
          phases[index] = "waiting for the last commit";
          if (cyclesStarted >= tailCycles) await allCommitted;
          cyclesStarted += 1;
          phases[index] = "up";
          await sleep(cycle.upMs);
          phases[index] = cycle.abrupt ? "disconnecting abruptly" : "disconnecting";
          await agent.disconnect({ abrupt: cycle.abrupt, blackholeMs: cycle.blackholeMs });
          phases[index] = "down";
          await sleep(cycle.downMs);
          // Not awaited: the next cut may well come before the agent caught up.
          agent.connect().catch(() => {});
          cyclesDone += 1;
          for (const waiter of progress.filter((w) => w.cycles <= cyclesDone)) waiter.reached();
        }
        phases[index] = "done";
      };
      // Commits land as the storm progresses: commit k once k/12 of the cycles are done (or as
      // soon as the hub resolved the one before), however fast this machine runs.
      let commitsMidStorm = 0;
      const refreshMs: number[] = [];
      const landCommits = async () => {
        for (const [i, commit] of plan.commits.entries()) {
          await cyclesReached(Math.floor(((i + 1) * CYCLES) / (COMMITS + 2)));
          const sha = await git().commit("fleet", commit.files, {
            message: commit.message,
            delete: commit.delete,
          });
          commitOf.set(sha, i + 1);
          const asked = performance.now();
          await api.client.refresh({ source: "fleet" }, api.callOptions);
          refreshMs.push(performance.now() - asked);
          if (cyclesDone < CYCLES) commitsMidStorm += 1;
        }
        committed();
      };
      await withDeadline(Promise.all([...agents.map(runCycles), landCommits()]), STORM_DEADLINE_MS, () => {
        const busy = agents
          .map((agent, i) => `${agent.name} ${phases[i]}`)
          .filter((line) => !line.endsWith(" done"));
        return `the storm: ${cyclesDone}/${CYCLES} cycles done, ${refreshMs.length}/${COMMITS} commits resolved; not done: ${busy.slice(0, 10).join(", ")}`;
      });
      const stormMs = performance.now() - started;
      const stormStats = {
        streams: grown("streams"),
        welcomes: grown("welcomes"),
        caughtUp: grown("caughtUp"),
        welcomeWaitMs: grown("welcomeWaitMs"),
      };
      const appliedInStorm = agents.reduce((total, agent) => total + agent.applied.length, 0) - appliedBefore;
      assert.equal(cyclesDone, CYCLES);
      assert.equal(commitsMidStorm, COMMITS, "every commit was resolved while agents were still cycling");

      await withDeadline(Promise.all(agents.map((agent) => agent.connect())), CONVERGE_MS, () => {
        const behind = agents.filter((agent) => !agent.connected).map((agent) => agent.name);
        return `every agent reconnected and caught up; not connected: ${behind.join(", ") || "none"}`;
      });
      await waitConverged(api, agents, plan, COMMITS, hub);
      const quietMs = performance.now() - started - stormMs;
      const audit = auditApplied(agents, commitOf);
      const differences = await findDifferences(api, agents, plan, COMMITS);
      const holding = agents.filter(
        (agent) => !differences.some((d) => d.startsWith(`${agent.name}:`) || d.startsWith(`${agent.name}/`)),
      ).length;
      const refreshAverageS = refreshMs.reduce((total, ms) => total + ms, 0) / refreshMs.length / 1000;
      t.diagnostic(
        `${CYCLES.toLocaleString("en")} cycles over ${CLUSTERS} agents (${abruptCount} abrupt: socket reset, hub side silent 0-${MAX_BLACKHOLE_MS} ms; ${CYCLES - abruptCount} clean), up 0-${MAX_UP_MS} ms, down 0-${MAX_DOWN_MS} ms, ${COMMITS} commits, in ${(stormMs / 1000).toFixed(1)} s: ${holding}/${CLUSTERS} hold the latest, ${agents.length - holding} lost, ${audit.twice} applied twice, ${audit.outOfOrder} out of order, ${grown("resends")} resends`,
      );
      t.diagnostic(
        `during the storm: ${stormStats.streams} streams opened, ${stormStats.welcomes} welcomed (after ${Math.round(stormStats.welcomeWaitMs / Math.max(1, stormStats.welcomes))} ms on average), ${stormStats.caughtUp} caught up before the next cut, ${grown("streamFailures")} broken by the hub unasked; ${appliedInStorm} changes applied, ${commitsMidStorm}/${COMMITS} commits resolved by the hub (Refresh took ${refreshAverageS.toFixed(1)} s on average)`,
      );
      t.diagnostic(
        `after it: every agent reconnected once and the fleet was quiet ${(quietMs / 1000).toFixed(1)} s later; ${audit.upserts} upserts and ${audit.removals} removals applied in all; the hub lists every cluster Connected with acked seq = desired seq and every app delivered, Synced and Healthy at the desired revision`,
      );
      assert.deepEqual(audit.problems, [], `seed ${seed}`);
      assert.equal(audit.twice, 0);
      assert.equal(audit.outOfOrder, 0);
      assert.equal(holding, CLUSTERS);
    });
  });
});
