// The fleet's life end to end with real processes (issue 8, "end to end"): `flotilla hub serve`,
// three real clusters with workloads (kube-apiserver, controllers, kwok) joined with the printed
// `flotilla-agent join` command, and the demo's sample fleet over real Git HTTP (an app-of-apps
// root with ApplicationSets by label, Kustomize overlays per env, a Helm chart with per-env
// values) plus two plain apps of this suite: `canary` (env=staging only) and `settings` (every
// cluster, self-heal off). The steps run in order and build on each other: converge, a commit that
// concerns one cluster, a relabel there and back, drift with self-heal on and off, a revert, an app
// deleted from Git, and a broken commit followed by a good one.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { KubeClient } from "@flotilla/agent/kube/kube-client";
import type { KubeObject } from "@flotilla/agent/kube/kube-object";
import {
  collectPages,
  connectFleet,
  type FleetConnection,
  resolveHubTarget,
} from "@flotilla/hub/cli/hub-context";
import { toStatusDocument } from "@flotilla/hub/cli/status-command";
import { parse, stringify } from "yaml";
import { composeSampleFleet, SAMPLE_FLEET_PATH } from "./demo/sample-fleet.js";
import { adminKube, makeTempDir, waitFor } from "./harness/agent.js";
import { type Cluster, useClusters } from "./harness/cluster.js";
import { useGitServer } from "./harness/git-server.js";
import {
  type CliResult,
  fleetStatus,
  type HubProcess,
  joinArgs,
  type ManagedProcess,
  runFlotilla,
  type StatusJson,
  startAgentProcess,
  startHubProcess,
} from "./harness/hub.js";
import { ensureTool } from "./harness/tools.js";

const SOURCE = "fleet";
const FIRST_CONVERGE_MS = 240_000;
const CONVERGE_MS = 150_000;
/** Longer than the agent's first self-heal backoff (2 s) plus its watch debounce (0.5 s). */
const LEFT_ALONE_MS = 5_000;
const TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id";
const FIELD_MANAGER = "flotilla-agent";
const STAGING_OVERLAY = "kustomize/guestbook/overlays/staging/kustomization.yaml";
const NOTE_ANNOTATION = "flotilla.test/note";

const CLUSTERS = [
  { name: "prod-1", env: "prod" },
  { name: "prod-2", env: "prod" },
  { name: "staging-1", env: "staging" },
] as const;

/** The ApplicationSets of the fleet and the `env` labels each targets (undefined: every cluster). */
const APP_SETS: Record<string, string | undefined> = {
  web: "prod",
  guestbook: undefined,
  hello: undefined,
  settings: undefined,
  canary: "staging",
};

/** An ApplicationSet over registered clusters (by `env` when given) syncing one plain-YAML path. */
function plainAppSet(args: {
  name: string;
  repoUrl: string;
  path: string;
  env?: string;
  selfHeal: boolean;
}): string {
  return stringify({
    apiVersion: "argoproj.io/v1alpha1",
    kind: "ApplicationSet",
    metadata: { name: args.name, namespace: "argocd" },
    spec: {
      generators: [{ clusters: args.env ? { selector: { matchLabels: { env: args.env } } } : {} }],
      template: {
        metadata: { name: `${args.name}-{{name}}` },
        spec: {
          project: "default",
          source: { repoURL: args.repoUrl, path: args.path, targetRevision: "HEAD" },
          destination: { name: "{{name}}", namespace: args.name },
          syncPolicy: {
            automated: { prune: true, selfHeal: args.selfHeal },
            syncOptions: ["CreateNamespace=true"],
          },
        },
      },
    },
  });
}

function configMap(name: string, data: Record<string, string>): string {
  return stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name }, data });
}

/** The sample fleet plus this suite's `settings` (self-heal off) and `canary` (staging only) apps. */
function composeFleet(repoUrl: string): Record<string, string> {
  return {
    ...composeSampleFleet(repoUrl),
    "apps/settings.yaml": plainAppSet({ name: "settings", repoUrl, path: "extra/settings", selfHeal: false }),
    "apps/canary.yaml": plainAppSet({
      name: "canary",
      repoUrl,
      path: "extra/canary",
      env: "staging",
      selfHeal: true,
    }),
    "extra/settings/settings.yaml": configMap("settings", { mode: "v1" }),
    "extra/canary/canary.yaml": configMap("canary", { ring: "staging" }),
  };
}

/** Which apps each cluster should run, given its `env` label and the ApplicationSets still in Git. */
function expectedApps(labels: Record<string, string>, appSets: readonly string[]): Record<string, string[]> {
  const expected: Record<string, string[]> = {};
  for (const [cluster, env] of Object.entries(labels)) {
    expected[cluster] = appSets
      .filter((set) => APP_SETS[set] === undefined || APP_SETS[set] === env)
      .map((set) => `${set}-${cluster}`)
      .sort();
  }
  return expected;
}

type ManagedObject = { app: string; resourceVersion: string; generation: number; managedAt: string };

/** Deployments, Services and ConfigMaps carrying a tracking id, by `Kind/namespace/name`. */
async function listManaged(kube: KubeClient): Promise<Map<string, ManagedObject>> {
  const found = new Map<string, ManagedObject>();
  for (const [apiVersion, kind] of [
    ["apps/v1", "Deployment"],
    ["v1", "Service"],
    ["v1", "ConfigMap"],
  ] as const) {
    const { items } = await kube.list(await kube.resourceFor(apiVersion, kind));
    for (const object of items) {
      const tracking = object.metadata.annotations?.[TRACKING_ANNOTATION];
      if (!tracking) continue;
      const managedAt = (object.metadata.managedFields ?? [])
        .filter((entry) => entry.manager === FIELD_MANAGER)
        .map((entry) => `${entry.operation}@${entry.time}`)
        .join(",");
      found.set(`${kind}/${object.metadata.namespace}/${object.metadata.name}`, {
        app: tracking.split(":")[0] ?? "",
        resourceVersion: object.metadata.resourceVersion ?? "",
        generation: Number(object.metadata.generation ?? 0),
        managedAt,
      });
    }
  }
  return found;
}

/** The keys whose resourceVersion, generation or managedFields entry differ, or that appeared or vanished. */
function changedObjects(before: Map<string, ManagedObject>, after: Map<string, ManagedObject>): string[] {
  const changed: string[] = [];
  for (const key of new Set([...before.keys(), ...after.keys()])) {
    if (JSON.stringify(before.get(key)) !== JSON.stringify(after.get(key))) changed.push(key);
  }
  return changed.sort();
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function converged(
  status: StatusJson,
  expected: Record<string, string[]>,
  revisions: Record<string, string>,
): boolean {
  return Object.entries(expected).every(([name, apps]) => {
    const cluster = status.clusters.find((c) => c.name === name);
    if (cluster?.state !== "Connected") return false;
    const names = cluster.apps.map((app) => app.name).sort();
    if (JSON.stringify(names) !== JSON.stringify(apps)) return false;
    return cluster.apps.every(
      (app) =>
        app.sync === "Synced" &&
        app.health === "Healthy" &&
        (revisions[app.name] === undefined || app.revision === revisions[app.name]),
    );
  });
}

describe("reliability: end to end", () => {
  const clusters = useClusters(CLUSTERS.length, { workloads: true });
  const git = useGitServer();
  let work: { path: string; remove(): Promise<void> };
  let hub: HubProcess;
  /**
   * FleetService in this process, for polling: a CLI process per poll would keep a core busy on
   * a 2-core machine. What the steps check for is asked through the CLI.
   */
  let fleet: FleetConnection;
  const agents: ManagedProcess[] = [];
  const kubes = new Map<string, KubeClient>();
  let repoUrl = "";
  let joinCommand = "";
  let original: Record<string, string> = {};
  let labels: Record<string, string> = Object.fromEntries(CLUSTERS.map((c) => [c.name, c.env]));
  let appSets = Object.keys(APP_SETS);
  /** The commit of step 2, and guestbook-staging-1's desired digest before it (the revert restores it). */
  let overlayCommit = "";
  let overlayDigestBefore = "";

  const kube = (name: string): KubeClient => {
    const found = kubes.get(name);
    if (!found) throw new Error(`cluster ${name} is not known to the suite`);
    return found;
  };

  function failureContext(last: unknown): string {
    const agentTails = CLUSTERS.map(
      (c, i) => `--- agent ${c.name}:\n${agents[i]?.output().slice(-1500) ?? "(not started)"}`,
    ).join("\n");
    return `\nlast status: ${JSON.stringify(last, null, 1)}\n--- hub:\n${hub.output().slice(-3000)}\n${agentTails}`;
  }

  /**
   * Waits until every cluster runs exactly its expected apps (from `labels` and `appSets`), all
   * Synced and Healthy, those named in `revisions` at that commit; returns the status and the wait.
   */
  async function waitConverged(revisions: Record<string, string> = {}, timeoutMs = CONVERGE_MS) {
    const expected = expectedApps(labels, appSets);
    const startedAt = Date.now();
    let last: StatusJson | undefined;
    try {
      const status = await waitFor(
        "every app Synced and Healthy where targeted, and nowhere else",
        async () => {
          last = await readStatus();
          return converged(last, expected, revisions) ? last : undefined;
        },
        timeoutMs,
      );
      return { status, expected, ms: Date.now() - startedAt };
    } catch (error) {
      throw new Error(`${(error as Error).message}${failureContext(last)}`);
    }
  }

  async function flotilla(args: string[]): Promise<CliResult> {
    const result = await runFlotilla(args, hub.cliEnv);
    assert.equal(result.code, 0, `flotilla ${args.join(" ")}: ${result.stderr}`);
    return result;
  }

  /** `flotilla refresh` after a commit; returns the number of targets the hub said changed. */
  async function refresh(): Promise<number> {
    const result = await flotilla(["refresh", "--source", SOURCE]);
    const changed = /(\d+) target\(s\) changed/.exec(result.stdout)?.[1];
    assert.ok(changed !== undefined, `refresh output: ${result.stdout}`);
    return Number(changed);
  }

  async function listClusters() {
    return collectPages("ListClusters", async (pageToken) => {
      const page = await fleet.client.listClusters({ pageSize: 500, pageToken }, fleet.callOptions);
      return { items: page.clusters, nextPageToken: page.nextPageToken };
    });
  }

  /** What `flotilla status -o json` prints, read over the suite's own connection. */
  async function readStatus(): Promise<StatusJson> {
    const rows = await collectPages("GetFleetStatus", async (pageToken) => {
      const page = await fleet.client.getFleetStatus({ pageSize: 500, pageToken }, fleet.callOptions);
      return { items: page.rows, nextPageToken: page.nextPageToken };
    });
    return toStatusDocument(await listClusters(), rows, false);
  }

  /** The hub's desired seq of every cluster: it moves whenever the cluster's desired state does. */
  async function desiredSeqs(): Promise<Record<string, string>> {
    return Object.fromEntries((await listClusters()).map((c) => [c.name, String(c.desiredSeq)]));
  }

  type AppJson = {
    app: { name: string; problems?: { reason: string; message: string }[] };
    targets: { cluster: string; desiredDigest?: string; desiredRevision?: string }[];
  };

  async function getApp(name: string): Promise<AppJson> {
    const result = await flotilla(["app", "get", name, "-o", "json"]);
    return JSON.parse(result.stdout) as AppJson;
  }

  async function listAppNames(): Promise<string[]> {
    const result = await flotilla(["app", "list", "-o", "json"]);
    return (JSON.parse(result.stdout) as { apps: { name: string }[] }).apps.map((app) => app.name).sort();
  }

  async function getObject(
    cluster: string,
    apiVersion: string,
    kind: string,
    namespace: string,
    name: string,
  ) {
    const group = apiVersion.includes("/") ? (apiVersion.split("/")[0] ?? "") : "";
    return kube(cluster).get(apiVersion, { group, kind, namespace, name });
  }
  /** A ConfigMap's data; undefined when the ConfigMap does not exist. */
  async function configMapData(cluster: string, namespace: string, name: string) {
    const object = await getObject(cluster, "v1", "ConfigMap", namespace, name);
    return object ? ((object.data ?? {}) as Record<string, string>) : undefined;
  }

  /** A Deployment's replicas and its first container's first env value; undefined when absent. */
  async function deploymentOf(cluster: string, namespace: string, name: string) {
    const object = await getObject(cluster, "apps/v1", "Deployment", namespace, name);
    if (!object) return undefined;
    const spec = object.spec as {
      replicas?: number;
      template: { spec: { containers: { env?: { value: string }[] }[] } };
    };
    return {
      replicas: spec.replicas,
      labels: object.metadata.labels ?? {},
      annotations: object.metadata.annotations ?? {},
      firstEnv: spec.template.spec.containers[0]?.env?.[0]?.value,
    };
  }

  /** Replaces a live object as a person with kubectl would, under another field manager. */
  async function editByHand(cluster: string, object: KubeObject, edit: (o: KubeObject) => KubeObject) {
    await kube(cluster).replace(edit(structuredClone(object)), { fieldManager: "kubectl-edit" });
  }

  before(async () => {
    work = await makeTempDir("flotilla-fleet-lifecycle-");
    const [kustomizePath, helmPath] = await Promise.all([ensureTool("kustomize"), ensureTool("helm")]);
    repoUrl = git().repoUrl(SOURCE);
    original = composeFleet(repoUrl);
    await git().createRepo(SOURCE, original, { message: "fleet: web, guestbook, hello, settings, canary" });
    hub = await startHubProcess({
      dataDir: join(work.path, "hub"),
      env: {
        FLOTILLA_KUSTOMIZE: kustomizePath,
        FLOTILLA_HELM: helmPath,
        FLOTILLA_CACHE_DIR: join(work.path, "cache"),
      },
    });
    // Only `flotilla refresh` picks up commits, so each step sees exactly its own commit's changes.
    await flotilla([
      "source",
      "add",
      SOURCE,
      "--repo",
      repoUrl,
      "--path",
      SAMPLE_FLEET_PATH,
      "--poll-interval",
      "1h",
    ]);
    const created = await flotilla(["cluster", "token", "create", "--uses", "3", "--ttl", "30m"]);
    joinCommand = created.stdout.trim();
    fleet = await connectFleet(await resolveHubTarget({}, hub.cliEnv));
    for (const [i, cluster] of clusters().entries()) {
      const name = CLUSTERS[i]?.name ?? "";
      kubes.set(name, adminKube(cluster));
    }
  });

  after(async () => {
    for (const agent of agents) await agent.stop();
    fleet?.close();
    await hub?.stop();
    await work?.remove();
  });

  it("three clusters joined with the printed command converge: each app Synced and Healthy where its labels target it, nowhere else", async (t) => {
    assert.match(joinCommand, /^flotilla-agent join --hub https:\/\/\S+ --token flb_\S+ --ca-hash sha256:/);
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
    const { expected } = await waitConverged({}, FIRST_CONVERGE_MS);
    const joinedMs = Date.now() - startedAt;

    // What runs in each cluster is exactly what its labels select: the apps named in the tracking
    // ids of the live objects are the expected ones.
    let objects = 0;
    for (const { name } of CLUSTERS) {
      const managed = await listManaged(kube(name));
      objects += managed.size;
      const apps = [...new Set([...managed.values()].map((o) => o.app))].sort();
      assert.deepEqual(apps, expected[name], `apps with objects in ${name}`);
    }
    for (const { name, env } of CLUSTERS) {
      const web = await configMapData(name, "web", "web-config");
      assert.equal(web?.version, env === "prod" ? "v1" : undefined, `web-config in ${name}`);
      const canary = await configMapData(name, "canary", "canary");
      assert.equal(canary?.ring, env === "staging" ? "staging" : undefined, `canary in ${name}`);
      const guestbook = await deploymentOf(name, "guestbook", "guestbook");
      assert.equal(guestbook?.replicas, env === "prod" ? 3 : 1, `guestbook replicas (Kustomize ${env})`);
      assert.equal(guestbook?.labels.env, env);
      const hello = await deploymentOf(name, "hello", "hello");
      assert.equal(hello?.firstEnv, `hello from ${env}`, `hello values (Helm values-${env}.yaml) in ${name}`);
    }
    // The CLI tells the same story.
    assert.ok(converged(await fleetStatus(hub), expected, {}), "`flotilla status` shows the fleet converged");
    const apps = Object.values(expected).flat();
    assert.equal(apps.length, 12);
    t.diagnostic(
      `3 clusters (2 env=prod, 1 env=staging) joined with one printed 3-use join command; ${apps.length} apps (plain YAML, Kustomize overlays, Helm values) and ${objects} objects Synced and Healthy ${seconds(joinedMs)} after the agents started; every cluster holds objects of exactly its targeted apps`,
    );
  });

  it("a commit that changes only the staging overlay updates the staging cluster and leaves the prod clusters' objects and desired seqs alone", async (t) => {
    const before = new Map(
      await Promise.all(["prod-1", "prod-2"].map(async (n) => [n, await listManaged(kube(n))] as const)),
    );
    const seqsBefore = await desiredSeqs();
    overlayDigestBefore = (await getApp("guestbook-staging-1")).targets[0]?.desiredDigest ?? "";
    assert.ok(overlayDigestBefore);

    const overlay = parse(original[STAGING_OVERLAY] ?? "") as Record<string, unknown>;
    const changedOverlay = stringify({
      ...overlay,
      replicas: [{ name: "guestbook", count: 2 }],
      commonAnnotations: { [NOTE_ANNOTATION]: "staging v2" },
    });
    const startedAt = Date.now();
    overlayCommit = await git().commit(
      SOURCE,
      { [STAGING_OVERLAY]: changedOverlay },
      { message: "guestbook: two replicas and a note in staging" },
    );
    assert.equal(await refresh(), 1, "one target changed: guestbook on staging-1");
    const { ms } = await waitConverged({ "guestbook-staging-1": overlayCommit });
    const commitToConvergedMs = Date.now() - startedAt;
    const deployment = await deploymentOf("staging-1", "guestbook", "guestbook");
    assert.equal(deployment?.replicas, 2);
    assert.equal(deployment?.annotations[NOTE_ANNOTATION], "staging v2");
    const service = await getObject("staging-1", "v1", "Service", "guestbook", "guestbook");
    assert.equal(service?.metadata.annotations?.[NOTE_ANNOTATION], "staging v2");

    let compared = 0;
    for (const [name, objects] of before) {
      const now = await listManaged(kube(name));
      assert.deepEqual(changedObjects(objects, now), [], `objects that moved in ${name}`);
      compared += objects.size;
    }
    const seqsAfter = await desiredSeqs();
    assert.equal(seqsAfter["prod-1"], seqsBefore["prod-1"]);
    assert.equal(seqsAfter["prod-2"], seqsBefore["prod-2"]);
    assert.ok(
      Number(seqsAfter["staging-1"]) > Number(seqsBefore["staging-1"]),
      "staging-1's desired seq moved",
    );
    t.diagnostic(
      `commit ${overlayCommit.slice(0, 7)} to the staging overlay: refresh changed 1 target; staging-1 converged ${seconds(commitToConvergedMs)} after the commit (${seconds(ms)} after refresh); 2 prod clusters: ${compared} objects with the same resourceVersion, generation and managedFields time, desired seqs unchanged (${seqsBefore["prod-1"]}, ${seqsBefore["prod-2"]}); staging-1 seq ${seqsBefore["staging-1"]} -> ${seqsAfter["staging-1"]}`,
    );
  });

  it("relabeling a cluster moves apps onto it and prunes the apps only its old label selected, and back", async (t) => {
    const startedAt = Date.now();
    const moved = await flotilla(["cluster", "label", "prod-2", "env=staging"]);
    assert.match(moved.stdout, /env=staging/);
    labels = { ...labels, "prod-2": "staging" };
    const there = await waitConverged();
    const thereMs = Date.now() - startedAt;
    assert.deepEqual(there.status.clusters.find((c) => c.name === "prod-2")?.labels, { env: "staging" });
    assert.equal((await configMapData("prod-2", "canary", "canary"))?.ring, "staging");
    for (const [apiVersion, kind, name] of [
      ["apps/v1", "Deployment", "web"],
      ["v1", "Service", "web"],
      ["v1", "ConfigMap", "web-config"],
    ] as const) {
      assert.equal(
        await getObject("prod-2", apiVersion, kind, "web", name),
        undefined,
        `${kind}/web/${name} pruned`,
      );
    }
    const guestbook = await deploymentOf("prod-2", "guestbook", "guestbook");
    assert.equal(guestbook?.labels.env, "staging", "guestbook now renders the staging overlay");
    assert.equal(guestbook?.replicas, 2);
    assert.equal((await deploymentOf("prod-2", "hello", "hello"))?.firstEnv, "hello from staging");
    const webApps = (await listAppNames()).filter((name) => name.startsWith("web-"));
    assert.deepEqual(webApps, ["web-prod-1"]);

    const backAt = Date.now();
    await flotilla(["cluster", "label", "prod-2", "env=prod"]);
    labels = { ...labels, "prod-2": "prod" };
    await waitConverged();
    const backMs = Date.now() - backAt;
    assert.equal(await configMapData("prod-2", "canary", "canary"), undefined, "canary pruned");
    assert.equal((await configMapData("prod-2", "web", "web-config"))?.version, "v1");
    const back = await deploymentOf("prod-2", "guestbook", "guestbook");
    assert.equal(back?.labels.env, "prod");
    assert.equal(back?.replicas, 3);
    assert.equal((await deploymentOf("prod-2", "hello", "hello"))?.firstEnv, "hello from prod");
    t.diagnostic(
      `prod-2 relabeled env=staging: canary-prod-2 applied, web-prod-2's 3 objects pruned, guestbook and hello re-rendered for staging, converged in ${seconds(thereMs)}; relabeled env=prod: canary pruned, web back, converged in ${seconds(backMs)}`,
    );
  });

  it("drift is reverted in an app with self-heal on, and reported OutOfSync and left alone with self-heal off until `flotilla sync`", async (t) => {
    const web = await getObject("prod-1", "v1", "ConfigMap", "web", "web-config");
    assert.ok(web);
    const healStartedAt = Date.now();
    await editByHand("prod-1", web, (o) => ({
      ...o,
      data: { ...(o.data as Record<string, string>), version: "edited-by-hand" },
    }));
    await waitFor(
      "web-config on prod-1 reverted by self-heal",
      async () => ((await configMapData("prod-1", "web", "web-config"))?.version === "v1" ? true : undefined),
      60_000,
    );
    const healMs = Date.now() - healStartedAt;

    const settings = await getObject("prod-1", "v1", "ConfigMap", "settings", "settings");
    assert.ok(settings);
    await editByHand("prod-1", settings, (o) => ({ ...o, data: { mode: "edited-by-hand" } }));
    const reportedAt = Date.now();
    let last: StatusJson | undefined;
    await waitFor(
      "settings-prod-1 reported OutOfSync",
      async () => {
        last = await readStatus();
        const row = last.clusters
          .find((c) => c.name === "prod-1")
          ?.apps.find((app) => app.name === "settings-prod-1");
        return row?.sync === "OutOfSync" ? row : undefined;
      },
      60_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}${failureContext(last)}`);
    });
    const reportMs = Date.now() - reportedAt;
    // The agent saw the drift (it reported it); give a self-heal every chance to happen.
    await new Promise((resolve) => setTimeout(resolve, LEFT_ALONE_MS));
    const untouched = await configMapData("prod-1", "settings", "settings");
    assert.equal(untouched?.mode, "edited-by-hand", "self-heal off: the hand edit stays");
    const stillOut = await fleetStatus(hub, ["--app", "settings-prod-1"]);
    assert.equal(stillOut.clusters.find((c) => c.name === "prod-1")?.apps[0]?.sync, "OutOfSync");

    const syncAt = Date.now();
    const synced = await flotilla(["sync", "settings-prod-1"]);
    assert.match(synced.stdout, /prod-1: sent/);
    await waitFor(
      "settings on prod-1 restored by the requested sync",
      async () => ((await configMapData("prod-1", "settings", "settings"))?.mode === "v1" ? true : undefined),
      60_000,
    );
    await waitConverged();
    const syncMs = Date.now() - syncAt;
    t.diagnostic(
      `self-heal on (web-prod-1): hand edit reverted in ${seconds(healMs)}; self-heal off (settings-prod-1): reported OutOfSync in ${seconds(reportMs)}, edit still in place ${seconds(LEFT_ALONE_MS)} later; \`flotilla sync settings-prod-1\` restored it and the fleet converged in ${seconds(syncMs)}`,
    );
  });

  it("reverting the staging overlay commit returns the staging cluster to the previous content", async (t) => {
    assert.ok(overlayCommit, "step 2 made the commit to revert");
    const startedAt = Date.now();
    const revert = await git().commit(
      SOURCE,
      { [STAGING_OVERLAY]: original[STAGING_OVERLAY] ?? "" },
      {
        message: `Revert "guestbook: two replicas and a note in staging"\n\nThis reverts commit ${overlayCommit}.`,
      },
    );
    assert.equal(await refresh(), 1, "one target changed: guestbook on staging-1");
    await waitConverged({ "guestbook-staging-1": revert });
    const ms = Date.now() - startedAt;
    const deployment = await deploymentOf("staging-1", "guestbook", "guestbook");
    assert.equal(deployment?.replicas, 1);
    assert.equal(deployment?.annotations[NOTE_ANNOTATION], undefined);
    const service = await getObject("staging-1", "v1", "Service", "guestbook", "guestbook");
    assert.equal(service?.metadata.annotations?.[NOTE_ANNOTATION], undefined);
    const target = (await getApp("guestbook-staging-1")).targets[0];
    assert.equal(
      target?.desiredDigest,
      overlayDigestBefore,
      "the desired state is the one before the commit",
    );
    assert.equal(target?.desiredRevision, revert);
    t.diagnostic(
      `revert commit ${revert.slice(0, 7)} of ${overlayCommit.slice(0, 7)}: staging-1 back to 1 replica without the note annotation, desired digest equal to the one before the commit, in ${seconds(ms)}`,
    );
  });

  it("an app deleted from Git is pruned from every cluster it ran on and no longer listed", async (t) => {
    const startedAt = Date.now();
    await git().commit(SOURCE, {}, { message: "remove hello", delete: ["apps/hello.yaml", "charts/hello"] });
    assert.equal(await refresh(), 3, "hello removed from 3 clusters");
    appSets = appSets.filter((set) => set !== "hello");
    await waitConverged();
    let pruned = 0;
    for (const { name } of CLUSTERS) {
      await waitFor(
        `hello's objects gone from ${name}`,
        async () => {
          const deployment = await getObject(name, "apps/v1", "Deployment", "hello", "hello");
          const service = await getObject(name, "v1", "Service", "hello", "hello");
          return deployment === undefined && service === undefined ? true : undefined;
        },
        60_000,
      );
      pruned += 2;
      const managed = await listManaged(kube(name));
      assert.ok(
        ![...managed.values()].some((o) => o.app.startsWith("hello-")),
        `no hello object left in ${name}`,
      );
    }
    const ms = Date.now() - startedAt;
    const listed = await listAppNames();
    assert.deepEqual(
      listed.filter((name) => name.startsWith("hello")),
      [],
    );
    const missing = await runFlotilla(["app", "get", "hello-prod-1"], hub.cliEnv);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /app "hello-prod-1" does not exist/);
    t.diagnostic(
      `hello (Helm) deleted from Git: refresh removed 3 targets; ${pruned} objects (Deployment, Service) pruned from 3/3 clusters and the hub lists ${listed.length} apps without it, in ${seconds(ms)}`,
    );
  });

  it("a broken commit leaves running apps untouched and names the app and file; the next good commit is applied", async (t) => {
    const before = new Map(
      await Promise.all(CLUSTERS.map(async (c) => [c.name, await listManaged(kube(c.name))] as const)),
    );
    const seqsBefore = await desiredSeqs();
    const broken = await git().commit(
      SOURCE,
      {
        // Invalid YAML in one app's manifests.
        "workloads/web/configmap.yaml":
          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  version: [v2\n",
        // A Kustomize overlay naming a file that is not there.
        [STAGING_OVERLAY]: stringify({
          ...(parse(original[STAGING_OVERLAY] ?? "") as Record<string, unknown>),
          resources: ["../../base", "extra-service.yaml"],
        }),
        // An ApplicationSet whose template calls a function that does not exist.
        "apps/settings.yaml": stringify({
          apiVersion: "argoproj.io/v1alpha1",
          kind: "ApplicationSet",
          metadata: { name: "settings", namespace: "argocd" },
          spec: {
            goTemplate: true,
            generators: [{ clusters: {} }],
            template: {
              metadata: { name: "settings-{{ .name | noSuchFunction }}" },
              spec: {
                project: "default",
                source: { repoURL: repoUrl, path: "extra/settings", targetRevision: "HEAD" },
                destination: { name: "{{ .name }}", namespace: "settings" },
                syncPolicy: { automated: { prune: true, selfHeal: false } },
              },
            },
          },
        }),
      },
      { message: "broken: bad YAML in web, a missing file in the staging overlay, a bad settings template" },
    );
    assert.equal(await refresh(), 0, "no target changed");

    const problems = async (app: string) => (await getApp(app)).app.problems ?? [];
    /** The message of `app`'s problem that contains every one of `needles`, from `flotilla app get`. */
    const problemNaming = async (app: string, needles: string[]) => {
      const found = await problems(app);
      const problem = found.find((p) => needles.every((needle) => p.message.includes(needle)));
      assert.ok(problem, `${app} has a problem naming ${needles.join(" and ")}: ${JSON.stringify(found)}`);
      return problem.message;
    };
    const reported = [
      await problemNaming("web-prod-1", ["workloads/web/configmap.yaml"]),
      await problemNaming("web-prod-2", ["workloads/web/configmap.yaml"]),
      await problemNaming("guestbook-staging-1", ["extra-service.yaml"]),
      // The ApplicationSet is no app of its own: the app that declares it (the root) carries its problem.
      await problemNaming(SOURCE, ["ApplicationSet/argocd/settings", "noSuchFunction"]),
    ];
    const problemList = await flotilla(["app", "list", "--problems", "-o", "json"]);
    assert.deepEqual(
      (JSON.parse(problemList.stdout) as { apps: AppJson["app"][] }).apps.map((app) => app.name).sort(),
      [SOURCE, "guestbook-staging-1", "web-prod-1", "web-prod-2"],
      "`app list --problems` lists exactly the broken apps",
    );
    const events = await flotilla(["events", "--kind", "problem-raised", "--limit", "0", "-o", "json"]);
    for (const needle of ["workloads/web/configmap.yaml", "extra-service.yaml", "noSuchFunction"])
      assert.ok(events.stdout.includes(needle), `a problem-raised event mentions ${needle}`);

    // Running apps stay as they were: still converged at their old revisions, no object touched.
    await new Promise((resolve) => setTimeout(resolve, LEFT_ALONE_MS));
    await waitConverged();
    let compared = 0;
    for (const [name, objects] of before) {
      assert.deepEqual(
        changedObjects(objects, await listManaged(kube(name))),
        [],
        `objects that moved in ${name}`,
      );
      compared += objects.size;
    }
    assert.deepEqual(await desiredSeqs(), seqsBefore, "no cluster's desired seq moved");

    const startedAt = Date.now();
    const good = await git().commit(
      SOURCE,
      {
        "workloads/web/configmap.yaml": stringify({
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: "web-config" },
          data: { version: "v1", greeting: "fixed after a broken commit" },
        }),
        [STAGING_OVERLAY]: original[STAGING_OVERLAY] ?? "",
        "apps/settings.yaml": original["apps/settings.yaml"] ?? "",
      },
      { message: "fix the broken commit" },
    );
    assert.equal(await refresh(), 2, "web changed on the two prod clusters");
    await waitConverged({ "web-prod-1": good, "web-prod-2": good });
    for (const name of ["prod-1", "prod-2"]) {
      const web = await configMapData(name, "web", "web-config");
      assert.equal(web?.greeting, "fixed after a broken commit", name);
    }
    for (const app of ["web-prod-1", "guestbook-staging-1"]) assert.deepEqual(await problems(app), [], app);
    const ms = Date.now() - startedAt;
    t.diagnostic(
      `broken commit ${broken.slice(0, 7)} (invalid YAML, a Kustomize overlay naming a missing file, an ApplicationSet template with an unknown function): 0 targets changed, ${compared} objects on 3 clusters unchanged, desired seqs unchanged; ${reported.length} problems in app get, app list --problems and problem-raised events; the fix ${good.slice(0, 7)} converged in ${seconds(ms)}`,
    );
    for (const message of new Set(reported))
      t.diagnostic(`reported: ${message.replace(/\s+/g, " ").slice(0, 240)}`);
  });
});
