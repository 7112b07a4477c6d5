// Progressive rollouts end to end (issue 10, reliability "end to end"): `flotilla hub serve`, three
// real clusters with workloads (kube-apiserver, controllers, kwok) joined with the printed
// `flotilla-agent join` command, and a fleet in real Git over HTTP with two rollouts:
//
// - `web`: an ApplicationSet with Argo CD's `RollingSync` strategy (staging, then prod one
//   cluster at a time), a 5 s bake, a 90 s progress deadline and rollback on; its Deployment
//   carries the release in an env var VERSION;
// - `settings`: Flotilla's `Rollout` resource over three plain Applications `settings-<cluster>`
//   (a ConfigMap each), steps by cluster label (staging, then prod), a 2 s bake.
//
// The scenarios run in order and build on each other: converge, a good revision that walks the
// steps, a bad revision (pods that can never be scheduled) that fails in staging and is rolled
// back there without reaching prod, and a pause that holds a good revision until it is resumed.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { KubeClient } from "@flotilla/agent/kube/kube-client";
import { toRolloutView } from "@flotilla/hub/api/rollout-messages";
import {
  collectPages,
  connectFleet,
  type FleetConnection,
  resolveHubTarget,
} from "@flotilla/hub/cli/hub-context";
import { toStatusDocument } from "@flotilla/hub/cli/status-command";
import type { RolloutView } from "@flotilla/hub/rollout/rollout-view";
import { stringify } from "yaml";
import { adminKube, makeTempDir, waitFor } from "./harness/agent.js";
import { type Cluster, useClusters } from "./harness/cluster.js";
import { useGitServer } from "./harness/git-server.js";
import {
  type CliResult,
  type HubProcess,
  joinArgs,
  type ManagedProcess,
  runFlotilla,
  type StatusJson,
  startAgentProcess,
  startHubProcess,
} from "./harness/hub.js";

const SOURCE = "fleet";
const FIRST_CONVERGE_MS = 300_000;
const CONVERGE_MS = 180_000;
/** The web rollout's bake time and progress deadline, as annotated on its ApplicationSet. */
const WEB_BAKE_MS = 5_000;
const WEB_PROGRESS_DEADLINE = "90s";
const SETTINGS_BAKE_MS = 2_000;
/** How long a paused rollout is watched for a release that must not happen. */
const PAUSED_HOLD_MS = 10_000;
/** After a rollback, how long the prod clusters are still watched for the bad revision. */
const AFTER_ROLLBACK_WATCH_MS = 5_000;
const WATCH_INTERVAL_MS = 100;
/** A node label no node has: pods that select it stay Pending forever. */
const NOWHERE_SELECTOR = { "flotilla.test/pool": "nowhere" };

const CLUSTERS = [
  { name: "staging-1", env: "staging" },
  { name: "prod-1", env: "prod" },
  { name: "prod-2", env: "prod" },
] as const;
const CLUSTER_NAMES = CLUSTERS.map((c) => c.name);
const PROD = ["prod-1", "prod-2"] as const;
const ROLLOUTS = ["settings", "web"] as const;

/** `web`: RollingSync over the generated apps' `env` label, staging then prod one at a time. */
function webAppSet(repoUrl: string): string {
  return stringify({
    apiVersion: "argoproj.io/v1alpha1",
    kind: "ApplicationSet",
    metadata: {
      name: "web",
      namespace: "argocd",
      annotations: {
        "rollout.flotilla.dev/bake-time": `${WEB_BAKE_MS / 1000}s`,
        "rollout.flotilla.dev/progress-deadline": WEB_PROGRESS_DEADLINE,
        "rollout.flotilla.dev/rollback": "true",
      },
    },
    spec: {
      generators: [{ clusters: {} }],
      strategy: {
        type: "RollingSync",
        rollingSync: {
          steps: [
            { matchExpressions: [{ key: "env", operator: "In", values: ["staging"] }], maxUpdate: 1 },
            { matchExpressions: [{ key: "env", operator: "In", values: ["prod"] }], maxUpdate: 1 },
          ],
        },
      },
      template: {
        metadata: { name: "web-{{name}}", labels: { env: "{{metadata.labels.env}}" } },
        spec: {
          project: "default",
          source: { repoURL: repoUrl, path: "workloads/web", targetRevision: "HEAD" },
          destination: { name: "{{name}}", namespace: "web" },
          syncPolicy: {
            automated: { prune: true, selfHeal: true },
            syncOptions: ["CreateNamespace=true"],
          },
        },
      },
    },
  });
}

/** A plain Application `settings-<cluster>` syncing `settings/` to one cluster. */
function settingsApp(repoUrl: string, cluster: string): string {
  return stringify({
    apiVersion: "argoproj.io/v1alpha1",
    kind: "Application",
    metadata: { name: `settings-${cluster}`, namespace: "argocd" },
    spec: {
      project: "default",
      source: { repoURL: repoUrl, path: "settings", targetRevision: "HEAD" },
      destination: { name: cluster, namespace: "settings" },
      syncPolicy: { automated: { prune: true, selfHeal: true }, syncOptions: ["CreateNamespace=true"] },
    },
  });
}

/** Flotilla's Rollout over the `settings-*` Applications: staging, then prod, by cluster label. */
function settingsRollout(): string {
  return stringify({
    apiVersion: "flotilla.dev/v1alpha1",
    kind: "Rollout",
    metadata: { name: "settings" },
    spec: {
      apps: { names: ["settings-*"] },
      steps: [
        {
          name: "staging",
          clusters: { matchLabels: { env: "staging" } },
          bakeTime: `${SETTINGS_BAKE_MS / 1000}s`,
        },
        { name: "prod", clusters: { matchLabels: { env: "prod" } }, bakeTime: `${SETTINGS_BAKE_MS / 1000}s` },
      ],
    },
  });
}

/**
 * The web release `version`: a one-replica Deployment (VERSION in its env, a 15 s progress
 * deadline) and a ConfigMap. `unschedulable` adds a node selector no node matches, so the new
 * pods stay Pending and the deployment controller reports ProgressDeadlineExceeded.
 */
function webFiles(version: string, unschedulable = false): Record<string, string> {
  const podSpec: Record<string, unknown> = {
    containers: [{ name: "web", image: "nginx:1.27", env: [{ name: "VERSION", value: version }] }],
  };
  if (unschedulable) podSpec.nodeSelector = NOWHERE_SELECTOR;
  return {
    "workloads/web/deployment.yaml": stringify({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web", labels: { app: "web" } },
      spec: {
        replicas: 1,
        progressDeadlineSeconds: 15,
        selector: { matchLabels: { app: "web" } },
        template: { metadata: { labels: { app: "web" } }, spec: podSpec },
      },
    }),
    "workloads/web/configmap.yaml": stringify({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "web-version" },
      data: { version },
    }),
  };
}

function settingsFiles(mode: string): Record<string, string> {
  return {
    "settings/settings.yaml": stringify({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "settings" },
      data: { mode },
    }),
  };
}

function composeFleet(repoUrl: string): Record<string, string> {
  const files: Record<string, string> = {
    "apps/web.yaml": webAppSet(repoUrl),
    "apps/settings-rollout.yaml": settingsRollout(),
    ...webFiles("v1"),
    ...settingsFiles("v1"),
  };
  for (const name of CLUSTER_NAMES) files[`apps/settings-${name}.yaml`] = settingsApp(repoUrl, name);
  return files;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** What a cluster runs of the two rollouts, read from the live objects. */
type LiveRelease = {
  /** VERSION of the web Deployment's container; undefined when there is no Deployment. */
  web?: string;
  /** The web Deployment's pod node selector, if any. */
  nodeSelector?: Record<string, string>;
  /** `mode` of the settings ConfigMap. */
  settings?: string;
};

/** One poll of every cluster: its reads started at `startMs` and had all answered at `atMs`. */
type LiveSample = { startMs: number; atMs: number; clusters: Record<string, LiveRelease> };

/**
 * Polls the live objects of every cluster until stopped, every WATCH_INTERVAL_MS: the rollout's
 * effects as the clusters see them. A change happened after `notYetAt` and before `seenBy`, so
 * `seenBy(b) - notYetAt(a)` is a lower bound of the time between changes a and b, however slow
 * the polls are.
 */
type LiveWatch = {
  samples: LiveSample[];
  /** The end of the first poll that saw `cluster` with web (or settings) at `value`; undefined if none. */
  seenBy(cluster: string, field: "web" | "settings", value: string): number | undefined;
  /** The start of the last poll before that one, which did not see it yet; undefined if none. */
  notYetAt(cluster: string, field: "web" | "settings", value: string): number | undefined;
  /** Whether any sample shows `cluster` with web (or settings) at `value`. */
  everSeen(cluster: string, field: "web" | "settings", value: string): boolean;
  stop(): Promise<LiveSample[]>;
};

type RolloutSample = { atMs: number; view: RolloutView };

/** Phases in the order a list of samples went through them, repeats collapsed. */
function phasesOf(samples: readonly RolloutSample[]): string[] {
  const phases: string[] = [];
  for (const { view } of samples) if (phases.at(-1) !== view.phase) phases.push(view.phase);
  return phases;
}

describe("reliability: end to end", () => {
  const clusters = useClusters(CLUSTERS.length, { workloads: true });
  const git = useGitServer();
  let work: { path: string; remove(): Promise<void> };
  let hub: HubProcess;
  /** FleetService in this process, for polling app status without a CLI process per poll. */
  let fleet: FleetConnection;
  const agents: ManagedProcess[] = [];
  const kubes = new Map<string, KubeClient>();
  let repoUrl = "";
  let joinCommand = "";
  /** The commit every cluster's web runs after the good revision (the rollback target). */
  let goodCommit = "";

  const kube = (name: string): KubeClient => {
    const found = kubes.get(name);
    if (!found) throw new Error(`cluster ${name} is not known to the suite`);
    return found;
  };

  async function flotilla(args: string[]): Promise<CliResult> {
    const result = await runFlotilla(args, hub.cliEnv);
    assert.equal(result.code, 0, `flotilla ${args.join(" ")}: ${result.stderr}${result.stdout}`);
    return result;
  }

  async function refresh(): Promise<void> {
    const result = await flotilla(["refresh", "--source", SOURCE]);
    assert.match(result.stdout, /target\(s\) changed/, `refresh output: ${result.stdout}`);
  }

  /** What `flotilla rollout status [NAME] -o json` prints: `{ rollouts: RolloutView[] }`. */
  async function rolloutStatus(name?: string): Promise<RolloutView[]> {
    const result = await flotilla(["rollout", "status", ...(name ? [name] : []), "-o", "json"]);
    return (JSON.parse(result.stdout) as { rollouts: RolloutView[] }).rollouts;
  }

  /** Rollout `name` as `flotilla rollout status NAME -o json` shows it. */
  async function rolloutStatusOf(name: string): Promise<RolloutView> {
    const view = (await rolloutStatus(name)).find((v) => v.name === name);
    assert.ok(view, `flotilla rollout status ${name} shows rollout ${name}`);
    return view;
  }

  /** Rollout `name` over the suite's own connection (ListRollouts), for polling. */
  async function readRollout(name: string): Promise<RolloutView> {
    const { rollouts } = await fleet.client.listRollouts({ name }, fleet.callOptions);
    const found = rollouts.find((r) => r.name === name);
    if (!found) throw new Error(`ListRollouts has no rollout ${name}`);
    return toRolloutView(found);
  }

  /** The hub's output tail, `flotilla rollout status` and the last fleet status, for failure messages. */
  async function failureContext(last?: unknown): Promise<string> {
    const status = await runFlotilla(["rollout", "status", "-o", "json"], hub.cliEnv, 30_000).catch(
      (error: Error) => ({ code: -1, stdout: "", stderr: error.message }),
    );
    const agentTails = CLUSTERS.map(
      (c, i) => `--- agent ${c.name}:\n${agents[i]?.output().slice(-1500) ?? "(not started)"}`,
    ).join("\n");
    return [
      "",
      last === undefined ? "" : `last seen: ${JSON.stringify(last, null, 1).slice(0, 6000)}`,
      `--- flotilla rollout status -o json (exit ${status.code}):\n${status.stdout.slice(0, 8000)}${status.stderr}`,
      `--- hub:\n${hub.output().slice(-4000)}`,
      agentTails,
    ].join("\n");
  }

  /** Runs a scenario; any failure carries the hub's output tail and the rollout status. */
  async function explained<T>(scenario: () => Promise<T>, last?: () => unknown): Promise<T> {
    try {
      return await scenario();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(`${message}${await failureContext(last?.())}`, { cause: error });
    }
  }

  async function listClusters() {
    return collectPages("ListClusters", async (pageToken) => {
      const page = await fleet.client.listClusters({ pageSize: 500, pageToken }, fleet.callOptions);
      return { items: page.clusters, nextPageToken: page.nextPageToken };
    });
  }

  async function readStatus(): Promise<StatusJson> {
    const rows = await collectPages("GetFleetStatus", async (pageToken) => {
      const page = await fleet.client.getFleetStatus({ pageSize: 500, pageToken }, fleet.callOptions);
      return { items: page.rows, nextPageToken: page.nextPageToken };
    });
    return toStatusDocument(await listClusters(), rows, false);
  }

  /** Every cluster Connected with exactly web-<c> and settings-<c>, Synced and Healthy (at `revisions` where given). */
  function appsHealthy(status: StatusJson, revisions: Record<string, string>): boolean {
    return CLUSTER_NAMES.every((name) => {
      const cluster = status.clusters.find((c) => c.name === name);
      if (cluster?.state !== "Connected") return false;
      const names = cluster.apps.map((app) => app.name).sort();
      if (JSON.stringify(names) !== JSON.stringify([`settings-${name}`, `web-${name}`])) return false;
      return cluster.apps.every(
        (app) =>
          app.sync === "Synced" &&
          app.health === "Healthy" &&
          (revisions[app.name] === undefined || app.revision === revisions[app.name]),
      );
    });
  }

  let lastStatus: StatusJson | undefined;
  async function waitAppsHealthy(revisions: Record<string, string> = {}, timeoutMs = CONVERGE_MS) {
    return waitFor(
      "every app Synced and Healthy",
      async () => {
        lastStatus = await readStatus();
        return appsHealthy(lastStatus, revisions) ? lastStatus : undefined;
      },
      timeoutMs,
    );
  }

  /** The last rollout views a wait saw, for failure messages. */
  let lastViews: RolloutView[] = [];
  /** Waits for rollout `name` at a generation above `afterGeneration` in `phase`. */
  async function waitRollout(
    name: string,
    phase: string,
    afterGeneration: number,
    timeoutMs = CONVERGE_MS,
  ): Promise<RolloutView> {
    return waitFor(
      `rollout ${name} ${phase} at a generation above ${afterGeneration}`,
      async () => {
        const view = await readRollout(name);
        lastViews = [view];
        return view.generation > afterGeneration && view.phase === phase ? view : undefined;
      },
      timeoutMs,
    );
  }

  async function liveRelease(cluster: string): Promise<LiveRelease> {
    const deployment = await kube(cluster).get("apps/v1", {
      group: "apps",
      kind: "Deployment",
      namespace: "web",
      name: "web",
    });
    const settings = await kube(cluster).get("v1", {
      group: "",
      kind: "ConfigMap",
      namespace: "settings",
      name: "settings",
    });
    const pod = (
      deployment?.spec as
        | {
            template: {
              spec: {
                nodeSelector?: Record<string, string>;
                containers: { env?: { name: string; value: string }[] }[];
              };
            };
          }
        | undefined
    )?.template.spec;
    const release: LiveRelease = {};
    const web = pod?.containers[0]?.env?.find((e) => e.name === "VERSION")?.value;
    if (web !== undefined) release.web = web;
    if (pod?.nodeSelector) release.nodeSelector = pod.nodeSelector;
    const mode = (settings?.data as Record<string, string> | undefined)?.mode;
    if (mode !== undefined) release.settings = mode;
    return release;
  }

  async function liveReleases(): Promise<Record<string, LiveRelease>> {
    const entries = await Promise.all(
      CLUSTER_NAMES.map(async (name) => [name, await liveRelease(name)] as const),
    );
    return Object.fromEntries(entries);
  }

  function watchLive(): LiveWatch {
    const samples: LiveSample[] = [];
    let running = true;
    const loop = (async () => {
      while (running) {
        try {
          const startMs = Date.now();
          samples.push({ startMs, clusters: await liveReleases(), atMs: Date.now() });
        } catch {
          // A failed read (an API server busy for a moment) only loses one sample.
        }
        await new Promise((resolve) => setTimeout(resolve, WATCH_INTERVAL_MS));
      }
    })();
    const firstIndex = (cluster: string, field: "web" | "settings", value: string) =>
      samples.findIndex((s) => s.clusters[cluster]?.[field] === value);
    return {
      samples,
      seenBy: (cluster, field, value) => samples[firstIndex(cluster, field, value)]?.atMs,
      notYetAt: (cluster, field, value) => {
        const index = firstIndex(cluster, field, value);
        return index > 0 ? samples[index - 1]?.startMs : undefined;
      },
      everSeen: (cluster, field, value) => firstIndex(cluster, field, value) >= 0,
      stop: async () => {
        running = false;
        await loop;
        return samples;
      },
    };
  }

  /** Polls rollout `name` (ListRollouts) until stopped, keeping every answer with its time. */
  function watchRollout(name: string): { samples: RolloutSample[]; stop(): Promise<RolloutSample[]> } {
    const samples: RolloutSample[] = [];
    let running = true;
    const loop = (async () => {
      while (running) {
        try {
          const view = await readRollout(name);
          samples.push({ atMs: Date.now(), view });
        } catch {
          // One lost sample; the assertions name what they needed to see.
        }
        await new Promise((resolve) => setTimeout(resolve, WATCH_INTERVAL_MS * 2));
      }
    })();
    return {
      samples,
      stop: async () => {
        running = false;
        await loop;
        return samples;
      },
    };
  }

  /** A transition of a rollout, as `flotilla events --kind rollout -o json` shows it. */
  type RolloutEvent = { atMs: number; message: string; phase: string; step: number; generation: number };

  /** Rollout `name`'s events from `flotilla events --kind rollout -o json`, oldest first. */
  async function rolloutEvents(name: string): Promise<RolloutEvent[]> {
    const result = await flotilla(["events", "--kind", "rollout", "--limit", "0", "-o", "json"]);
    const events: RolloutEvent[] = [];
    for (const line of result.stdout.split("\n")) {
      if (line.trim() === "") continue;
      const event = JSON.parse(line) as {
        at?: string;
        kind?: string;
        message?: string;
        details?: Record<string, unknown>;
      };
      const details = event.details ?? {};
      assert.equal(event.kind, "EVENT_KIND_ROLLOUT", `--kind rollout listed ${line}`);
      if (details.rollout !== name) continue;
      events.push({
        atMs: Date.parse(event.at ?? ""),
        message: event.message ?? "",
        phase: String(details.phase ?? ""),
        step: Number(details.step ?? 0),
        generation: Number(details.generation ?? 0),
      });
    }
    return events.sort((a, b) => a.atMs - b.atMs);
  }

  /**
   * The index in `events` of each pattern, matched in order (each after the previous one);
   * asserts every pattern matched.
   */
  function inOrder(events: readonly RolloutEvent[], patterns: readonly RegExp[]): RolloutEvent[] {
    const found: RolloutEvent[] = [];
    let from = 0;
    for (const pattern of patterns) {
      const index = events.findIndex((event, i) => i >= from && pattern.test(event.message));
      assert.ok(
        index >= 0,
        `an event matching ${pattern} after ${JSON.stringify(found.at(-1)?.message ?? "the start")}; events: ${JSON.stringify(
          events.map((e) => `${e.phase}: ${e.message}`),
          null,
          1,
        )}`,
      );
      found.push(events[index] as RolloutEvent);
      from = index + 1;
    }
    return found;
  }

  before(async () => {
    work = await makeTempDir("flotilla-rollout-");
    repoUrl = git().repoUrl(SOURCE);
    await git().createRepo(SOURCE, composeFleet(repoUrl), {
      message: "fleet: web (RollingSync) and settings (Rollout)",
    });
    hub = await startHubProcess({
      dataDir: join(work.path, "hub"),
      env: { FLOTILLA_CACHE_DIR: join(work.path, "cache") },
    });
    // Only `flotilla refresh` picks up commits, so each scenario sees exactly its own commit.
    await flotilla(["source", "add", SOURCE, "--repo", repoUrl, "--path", "apps", "--poll-interval", "1h"]);
    const created = await flotilla(["cluster", "token", "create", "--uses", "3", "--ttl", "30m"]);
    joinCommand = created.stdout.trim();
    fleet = await connectFleet(await resolveHubTarget({}, hub.cliEnv));
    for (const [i, cluster] of clusters().entries()) kubes.set(CLUSTERS[i]?.name ?? "", adminKube(cluster));
  });

  after(async () => {
    for (const agent of agents) await agent.stop();
    fleet?.close();
    await hub?.stop();
    await work?.remove();
  });

  it("three clusters joined to a fleet with a RollingSync ApplicationSet and a Rollout converge, both rollouts Completed", async (t) => {
    const startedAt = Date.now();
    for (const [i, cluster] of clusters().entries()) {
      const { name, env } = CLUSTERS[i] ?? { name: "", env: "" };
      agents.push(
        startAgentProcess([
          ...joinArgs(joinCommand),
          "--kubeconfig",
          (cluster as Cluster).kubeconfigPath,
          "--name",
          name,
          "--label",
          `env=${env}`,
          "--state-file",
          join(work.path, `agent-${name}.json`),
        ]),
      );
    }
    await explained(
      async () => {
        await waitAppsHealthy({}, FIRST_CONVERGE_MS);
        const healthyMs = Date.now() - startedAt;
        for (const name of ROLLOUTS) await waitRollout(name, "Completed", 0);
        const views = await rolloutStatus();
        const completedMs = Date.now() - startedAt;
        assert.deepEqual(
          views.map((v) => [v.name, v.phase]).sort(),
          ROLLOUTS.map((name) => [name, "Completed"]),
          "`flotilla rollout status -o json` lists both rollouts Completed",
        );
        const web = views.find((v) => v.name === "web");
        const settings = views.find((v) => v.name === "settings");
        assert.equal(web?.origin, "ApplicationSet");
        assert.equal(settings?.origin, "Rollout");
        // One member per cluster: staging-1 in step 1, the prod clusters in step 2.
        for (const view of [web, settings]) {
          const steps = Object.fromEntries((view?.members ?? []).map((m) => [m.cluster, m.step]));
          assert.deepEqual(
            steps,
            { "staging-1": 1, "prod-1": 2, "prod-2": 2 },
            `${view?.name}'s members by step`,
          );
          assert.equal(view?.stepCount, 2, `${view?.name}: 2 steps, every member selected by one`);
          assert.equal(view?.counts.updated, 3, `${view?.name}: 3 members updated`);
        }
        assert.deepEqual(web?.apps, ["web-prod-1", "web-prod-2", "web-staging-1"]);
        assert.deepEqual(settings?.apps, ["settings-prod-1", "settings-prod-2", "settings-staging-1"]);
        const live = await liveReleases();
        for (const name of CLUSTER_NAMES) {
          assert.equal(live[name]?.web, "v1", `web on ${name}`);
          assert.equal(live[name]?.settings, "v1", `settings on ${name}`);
        }
        t.diagnostic(
          `3 clusters (1 env=staging, 2 env=prod) joined; 6 apps (web-* from a RollingSync ApplicationSet, settings-* under a Rollout) Synced and Healthy ${seconds(healthyMs)} after the agents started; \`flotilla rollout status -o json\` listed web and settings Completed (2 steps, 3 members each) at ${seconds(completedMs)}`,
        );
      },
      () => lastStatus ?? lastViews,
    );
  });

  it("a good revision reaches staging first, prod only after staging's bake, one prod cluster at a time, and completes", async (t) => {
    await explained(
      async () => {
        const before = {
          web: (await readRollout("web")).generation,
          settings: (await readRollout("settings")).generation,
        };
        const live = watchLive();
        const statusWatch = watchRollout("web");
        const committedAt = Date.now();
        let completedMs = 0;
        try {
          goodCommit = await git().commit(
            SOURCE,
            { ...webFiles("v2"), ...settingsFiles("v2") },
            { message: "web v2, settings v2" },
          );
          await refresh();
          await Promise.all([
            waitRollout("web", "Completed", before.web),
            waitRollout("settings", "Completed", before.settings),
          ]);
          completedMs = Date.now() - committedAt;
          await waitAppsHealthy(
            Object.fromEntries(
              CLUSTER_NAMES.flatMap((c) => [`web-${c}`, `settings-${c}`]).map((app) => [app, goodCommit]),
            ),
          );
          await waitFor(
            "the live watch saw every cluster at v2",
            async () =>
              CLUSTER_NAMES.every((c) => live.everSeen(c, "web", "v2") && live.everSeen(c, "settings", "v2"))
                ? true
                : undefined,
            30_000,
          );
        } finally {
          await Promise.all([live.stop(), statusWatch.stop()]);
        }

        // Step 1 alone: staging-1 on v2 while both prod clusters still ran v1.
        const stepOneSamples = live.samples.filter(
          (s) => s.clusters["staging-1"]?.web === "v2" && PROD.every((c) => s.clusters[c]?.web === "v1"),
        ).length;
        assert.ok(stepOneSamples > 0, "a moment with staging-1 on v2 and both prod clusters on v1");
        const stagingAt = live.seenBy("staging-1", "web", "v2") ?? Number.NaN;
        const stagingAfter = live.notYetAt("staging-1", "web", "v2") ?? Number.NaN;
        const [firstProdAt, secondProdAt] = PROD.map((c) => live.seenBy(c, "web", "v2") ?? Number.NaN).sort(
          (a, b) => a - b,
        ) as [number, number];
        const gateMs = firstProdAt - stagingAfter;
        assert.ok(
          gateMs >= WEB_BAKE_MS,
          `prod got v2 at most ${gateMs} ms after staging-1, sooner than the ${WEB_BAKE_MS} ms bake allows`,
        );
        // maxUpdate 1 in prod: one prod cluster is released, the other once the first is done.
        const web = await rolloutStatusOf("web");
        const released = web.members
          .filter((m) => m.cluster !== "staging-1")
          .map((m) => ({ cluster: m.cluster, at: Date.parse(m.releasedAt ?? "") }))
          .sort((a, b) => a.at - b.at);
        const [earlier, later] = released as [(typeof released)[number], (typeof released)[number]];
        assert.ok(
          later.at > earlier.at,
          `the hub released the prod clusters one after the other: ${JSON.stringify(web.members)}`,
        );
        assert.ok(
          (live.seenBy(later.cluster, "web", "v2") ?? Number.NaN) >=
            (live.seenBy(earlier.cluster, "web", "v2") ?? 0),
          `${later.cluster}, released second, was not seen at v2 before ${earlier.cluster}`,
        );
        // Meanwhile the rollout said step 1, staging-1 released and the prod clusters waiting.
        const stepOne = statusWatch.samples.find(
          ({ view }) =>
            view.generation > before.web &&
            view.phase === "Progressing" &&
            view.step === 1 &&
            view.members.some((m) => m.cluster === "staging-1" && m.state !== "waiting"),
        );
        assert.ok(
          stepOne,
          `ListRollouts showed step 1 with staging-1 released; phases seen: ${phasesOf(statusWatch.samples).join(" -> ")}`,
        );
        assert.deepEqual(stepOne.view.waitingClusters, ["prod-1", "prod-2"]);

        const settingsGapMs =
          Math.min(...PROD.map((c) => live.seenBy(c, "settings", "v2") ?? Number.NaN)) -
          (live.notYetAt("staging-1", "settings", "v2") ?? Number.NaN);
        assert.ok(
          settingsGapMs >= SETTINGS_BAKE_MS,
          `settings reached prod at most ${settingsGapMs} ms after staging-1, sooner than its ${SETTINGS_BAKE_MS} ms bake allows`,
        );

        const views = await rolloutStatus();
        for (const name of ROLLOUTS) {
          const view = views.find((v) => v.name === name);
          assert.equal(view?.phase, "Completed", `${name} in \`flotilla rollout status\``);
          assert.equal(view?.commit, goodCommit, `${name}'s revision is the commit`);
          assert.equal(view?.counts.updated, 3);
          assert.deepEqual(view?.failures, []);
        }
        const final = await liveReleases();
        for (const name of CLUSTER_NAMES) {
          assert.equal(final[name]?.web, "v2", `web on ${name}`);
          assert.equal(final[name]?.settings, "v2", `settings on ${name}`);
        }

        const events = (await rolloutEvents("web")).filter((e) => e.generation === web.generation);
        const [stepOnePassed, stepTwoPassed, completed] = inOrder(events, [
          /^rollout web: step 1\/2 .*passed/,
          /^rollout web: step 2\/2 .*passed/,
          /^rollout web: revision \w+ completed/,
        ]) as [RolloutEvent, RolloutEvent, RolloutEvent];
        t.diagnostic(
          `web v2 over RollingSync (staging then prod, maxUpdate 1 each, bake ${seconds(WEB_BAKE_MS)}), from the commit: staging-1 at v2 after ${seconds(stagingAt - committedAt)}, step 1 passed (event) at ${seconds(stepOnePassed.atMs - committedAt)}; first prod cluster at v2 ${seconds(firstProdAt - stagingAt)} after staging-1, second ${seconds(secondProdAt - firstProdAt)} after the first (released ${seconds(later.at - earlier.at)} apart); step 2 passed at ${seconds(stepTwoPassed.atMs - committedAt)}, Completed at ${seconds(completed.atMs - committedAt)} (seen ${seconds(completedMs)})`,
        );
        t.diagnostic(
          `${live.samples.length} polls of 3 clusters' live Deployments: ${stepOneSamples} showed staging-1 on v2 with both prod clusters on v1; prod changed at least ${seconds(gateMs)} after staging-1 (bake ${seconds(WEB_BAKE_MS)}); ListRollouts polled ${statusWatch.samples.length} times (${phasesOf(statusWatch.samples).join(" -> ")}); settings (Rollout, bake ${seconds(SETTINGS_BAKE_MS)}) reached prod at least ${seconds(settingsGapMs)} after staging-1; ${events.length} rollout events for web's revision ${web.generation}`,
        );
      },
      () => lastStatus ?? lastViews,
    );
  });

  it("a revision that never becomes Available fails in staging, is rolled back there, and never reaches prod", async (t) => {
    await explained(
      async () => {
        assert.ok(goodCommit, "the good revision ran first");
        const before = (await readRollout("web")).generation;
        const live = watchLive();
        const statusWatch = watchRollout("web");
        const committedAt = Date.now();
        let badCommit = "";
        let rolledBackMs = 0;
        let healthyAgainMs = 0;
        try {
          badCommit = await git().commit(SOURCE, webFiles("v3", true), {
            message: "web v3: pods select a node pool that does not exist",
          });
          await refresh();
          await waitRollout("web", "RolledBack", before);
          rolledBackMs = Date.now() - committedAt;
          await waitFor(
            "staging-1's Deployment back on v2 without the node selector",
            async () => {
              const release = await liveRelease("staging-1");
              return release.web === "v2" && release.nodeSelector === undefined ? true : undefined;
            },
            CONVERGE_MS,
          );
          await waitAppsHealthy(Object.fromEntries(CLUSTER_NAMES.map((c) => [`web-${c}`, goodCommit])));
          healthyAgainMs = Date.now() - committedAt;
          // The prod clusters stay watched a while after the rollback, for a late release.
          await new Promise((resolve) => setTimeout(resolve, AFTER_ROLLBACK_WATCH_MS));
        } finally {
          await Promise.all([live.stop(), statusWatch.stop()]);
        }

        assert.ok(
          live.everSeen("staging-1", "web", "v3"),
          "staging-1 ran v3: the bad revision was released there",
        );
        for (const name of PROD) {
          assert.equal(live.everSeen(name, "web", "v3"), false, `${name} never ran v3`);
          const now = await liveRelease(name);
          assert.equal(now.web, "v2", `${name} still on v2`);
          assert.equal(now.nodeSelector, undefined);
        }
        const staging = await liveRelease("staging-1");
        assert.equal(staging.web, "v2");
        assert.equal(
          staging.nodeSelector,
          undefined,
          "staging-1's Deployment spec has no node selector again",
        );

        const rolledBack = await rolloutStatusOf("web");
        assert.equal(rolledBack.phase, "RolledBack");
        assert.equal(rolledBack.commit, badCommit);
        assert.deepEqual(
          rolledBack.failures.map((f) => [f.cluster, f.app]),
          [["staging-1", "web-staging-1"]],
          "only staging-1 failed: prod was never released",
        );
        const failure = rolledBack.failures[0] as RolloutView["failures"][number];
        const resource = failure.resources.find((r) => r.kind === "Deployment" && r.name === "web");
        assert.ok(resource, `the failure names Deployment web: ${JSON.stringify(failure)}`);
        assert.equal(resource.namespace, "web");
        assert.notEqual(resource.health, "Healthy");
        // The agent re-assesses health between syncs: the message is the deadline, not the
        // "waiting for rollout" it saw when it applied the revision.
        assert.match(resource.message, /progress deadline/, JSON.stringify(failure));
        const members = Object.fromEntries(rolledBack.members.map((m) => [m.cluster, m.state]));
        assert.deepEqual(
          members,
          { "staging-1": "rolledBack", "prod-1": "waiting", "prod-2": "waiting" },
          "members after the rollback",
        );
        // The hub still holds the good revision as the prod clusters' desired state.
        for (const name of PROD) {
          const app = JSON.parse((await flotilla(["app", "get", `web-${name}`, "-o", "json"])).stdout) as {
            targets: { cluster: string; desiredRevision?: string }[];
          };
          assert.equal(app.targets[0]?.desiredRevision, goodCommit, `web-${name}'s desired revision`);
        }

        // Failed, then RolledBack, in the rollout's events for this revision.
        const events = (await rolloutEvents("web")).filter((e) => e.generation === rolledBack.generation);
        const [failed, back] = inOrder(events, [
          /^rollout web: failed at step 1\/2 .*staging-1/,
          /^rollout web: rolled back 1 member\(s\) of step 1\/2/,
        ]) as [RolloutEvent, RolloutEvent];
        assert.equal(failed.phase, "Failed");
        assert.equal(back.phase, "RolledBack");

        t.diagnostic(
          `web v3 (pods select a node pool no node has; progressDeadlineSeconds 15): released to staging-1 only; Failed at ${seconds(failed.atMs - committedAt)} and RolledBack at ${seconds(back.atMs - committedAt)} after the commit (seen ${seconds(rolledBackMs)}); staging-1 back on v2 and every app Healthy at ${seconds(healthyAgainMs)}; failure: ${failure.message.replace(/\s+/g, " ").slice(0, 160)}; ${resource.kind}/${resource.namespace}/${resource.name} ${resource.health} (${resource.message.replace(/\s+/g, " ").slice(0, 120)})`,
        );
        t.diagnostic(
          `${live.samples.length} polls of the live Deployments over ${seconds(healthyAgainMs + AFTER_ROLLBACK_WATCH_MS)}: prod-1 and prod-2 at v3 in 0 of them, their desired revision still ${goodCommit.slice(0, 7)}; ListRollouts phases ${phasesOf(statusWatch.samples.filter((s) => s.view.generation > before)).join(" -> ")}`,
        );
      },
      () => lastStatus ?? lastViews,
    );
  });

  it("a paused rollout releases a new revision nowhere until it is resumed, then completes", async (t) => {
    await explained(
      async () => {
        const pausedFrom = (await readRollout("web")).generation;
        const pauseAt = Date.now();
        await flotilla(["rollout", "pause", "web"]);
        await waitFor(
          "rollout web Paused",
          async () => ((await readRollout("web")).phase === "Paused" ? true : undefined),
          30_000,
        );
        const v4 = await git().commit(SOURCE, webFiles("v4"), { message: "web v4" });
        const live = watchLive();
        let held: RolloutView;
        try {
          await refresh();
          await new Promise((resolve) => setTimeout(resolve, PAUSED_HOLD_MS));
          held = await rolloutStatusOf("web");
        } finally {
          await live.stop();
        }
        for (const name of CLUSTER_NAMES)
          assert.equal(
            live.everSeen(name, "web", "v4"),
            false,
            `${name} got v4 while the rollout was paused`,
          );
        assert.ok(live.samples.length > 0);
        assert.equal(
          held.phase,
          "Paused",
          "`flotilla rollout status web` still says Paused after the commit",
        );
        assert.equal(held.commit, v4, "the paused rollout holds the new revision");
        assert.ok(held.generation > pausedFrom);
        for (const name of CLUSTER_NAMES) assert.equal((await liveRelease(name)).web, "v2", `${name} on v2`);

        const resumedAt = Date.now();
        const resumeWatch = watchLive();
        try {
          await flotilla(["rollout", "resume", "web"]);
          await waitRollout("web", "Completed", pausedFrom);
          await waitAppsHealthy(Object.fromEntries(CLUSTER_NAMES.map((c) => [`web-${c}`, v4])));
        } finally {
          await resumeWatch.stop();
        }
        const completedMs = Date.now() - resumedAt;
        const completed = await rolloutStatusOf("web");
        assert.equal(completed.phase, "Completed");
        assert.equal(completed.commit, v4);
        assert.deepEqual(completed.failures, []);
        for (const name of CLUSTER_NAMES) {
          const release = await liveRelease(name);
          assert.equal(release.web, "v4", `web on ${name}`);
          assert.equal(release.nodeSelector, undefined);
        }
        const stagingAt = resumeWatch.seenBy("staging-1", "web", "v4") ?? Number.NaN;
        const prodAt = Math.min(...PROD.map((c) => resumeWatch.seenBy(c, "web", "v4") ?? Number.NaN));
        const gateMs = prodAt - (resumeWatch.notYetAt("staging-1", "web", "v4") ?? Number.NaN);
        assert.ok(
          gateMs >= WEB_BAKE_MS,
          `after the resume prod got v4 at most ${gateMs} ms after staging-1, sooner than the bake allows`,
        );
        const events = (await rolloutEvents("web")).filter((e) => e.atMs >= pauseAt - 1000);
        inOrder(events, [
          /^rollout web: paused/,
          /^rollout web: resumed/,
          /^rollout web: revision \w+ completed/,
        ]);
        t.diagnostic(
          `\`flotilla rollout pause web\`, then commit ${v4.slice(0, 7)} (v4) and refresh: ${live.samples.length} polls of 3 clusters over ${seconds(PAUSED_HOLD_MS)}, v4 in 0 of them, status Paused at generation ${held.generation}; \`flotilla rollout resume web\`: staging-1 at v4 ${seconds(stagingAt - resumedAt)} later, prod at least ${seconds(gateMs)} after staging-1, Completed with 3 clusters on v4 ${seconds(completedMs)} after the resume`,
        );
      },
      () => lastStatus ?? lastViews,
    );
  });
});
