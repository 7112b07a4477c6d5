import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import type { Bus, BusEvent } from "../bus/bus.js";
import { createLocalBus } from "../bus/create-local-bus.js";
import type { FleetResolution, Target } from "../resolve/resolve-fleet.js";
import { openStore } from "../store/open-store.js";
import type { Cluster, Source, Store } from "../store/store.js";
import { type ApplyOutcome, applyResolutions, type SourceOutcome, toSyncPolicy } from "./desired-state.js";
import type { AppSummary } from "./hub-runtime.js";

let dir: string;
let store: Store;
let bus: Bus;
const events: BusEvent[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "flotilla-desired-state-"));
  store = await openStore({ kind: "pglite", dataDir: dir });
  bus = createLocalBus();
  const subscription = bus.subscribe((event) => {
    events.push(event);
  });
  await subscription.ready;
});

after(async () => {
  await bus.close();
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

const source: Source = {
  id: "fleet",
  repoUrl: "https://git.example/fleet.git",
  path: "apps",
  targetRevision: "HEAD",
  pollIntervalMs: 30_000,
  hasWebhookSecret: false,
  createdAt: new Date(),
};

function target(cluster: string, app: string, value: string, prune = false): Target {
  return {
    cluster,
    app,
    project: "default",
    namespace: app,
    sources: [{ repoURL: source.repoUrl, path: app, targetRevision: "HEAD", commit: "c0ffee" }],
    syncPolicy: { automated: { prune } },
    ignoreDifferences: [],
    objects: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: app }, data: { value } }],
    digest: `sha256:${app}-${cluster}-${value}`,
  };
}

function resolution(
  targets: Target[],
  apps: FleetResolution["apps"],
  problems: FleetResolution["problems"] = [],
): SourceOutcome {
  return {
    source,
    ok: true,
    resolution: { revision: "c0ffee", targets, apps, problems, rollouts: [] },
    commit: { author: "Ada", message: "change things" },
  };
}

const node = (name: string, parent: string | undefined, state: "ok" | "problem" = "ok") => ({
  name,
  ...(parent ? { parent } : {}),
  children: [],
  state,
});

async function newCluster(name: string): Promise<Cluster> {
  const created = await store.clusters.create({ id: randomUUID(), name, clusterUid: `uid-${name}` });
  assert.ok(created.ok);
  return created.cluster;
}

const deps = () => ({ store, bus, log: () => {}, now: () => new Date() });

async function apply(
  clusters: Cluster[],
  outcome: SourceOutcome,
  previous: AppSummary[] = [],
): Promise<ApplyOutcome> {
  return applyResolutions(deps(), clusters, [outcome], new Map([["fleet", previous]]));
}

describe("applyResolutions", () => {
  it("stores one gzip bundle per distinct object set and announces only clusters that changed", async () => {
    const a = await newCluster("a1");
    const b = await newCluster("b1");
    const first = await apply(
      [a, b],
      resolution(
        [target("a1", "web", "1"), target("b1", "web", "1")],
        [node("root", undefined), node("web", "root")],
      ),
    );
    assert.equal(first.changedTargets, 2);
    const [stored] = await store.targets.list(a.id);
    assert.ok(stored);
    const bundle = await store.bundles.get(stored.bundleDigest);
    assert.equal(bundle?.encoding, "gzip+json");
    assert.deepEqual(JSON.parse(gunzipSync(bundle?.bytes ?? new Uint8Array()).toString()), [
      { apiVersion: "v1", data: { value: "1" }, kind: "ConfigMap", metadata: { name: "web" } },
    ]);
    assert.equal(
      (await store.targets.list(b.id))[0]?.bundleDigest,
      stored.bundleDigest,
      "the same objects share a bundle",
    );
    assert.deepEqual(stored.desired.syncPolicy, {
      syncOptions: [],
      automated: { prune: false, selfHeal: false, allowEmpty: false },
    });

    events.length = 0;
    const second = await apply(
      [a, b],
      resolution(
        [target("a1", "web", "2"), target("b1", "web", "1")],
        [node("root", undefined), node("web", "root")],
      ),
    );
    assert.equal(second.changedTargets, 1);
    const announced = events.filter((event) => event.type === "targets-changed");
    assert.deepEqual(
      announced.map((event) => ("clusterId" in event ? event.clusterId : "")),
      [a.id],
    );
    const history = await store.events.list({ type: "desired-changed" });
    assert.match(history.events[0]?.message ?? "", /1 cluster\(s\) \(a1\) at c0ffee by Ada: change things/);
  });

  it("keeps the targets of an app that fails to resolve, and of the apps below it", async () => {
    const c = await newCluster("c1");
    const apps = [
      node("root", undefined),
      node("parent", "root"),
      node("child", "parent"),
      node("other", "root"),
    ];
    const healthy = await apply(
      [c],
      resolution([target("c1", "parent", "1"), target("c1", "child", "1"), target("c1", "other", "1")], apps),
    );
    const previous = healthy.summaries.get("fleet") ?? [];
    assert.deepEqual(
      previous.map((app) => [app.name, app.parent]),
      [
        ["child", "parent"],
        ["other", "root"],
        ["parent", "root"],
        ["root", ""],
      ],
    );
    assert.deepEqual(
      previous.find((app) => app.name === "child")?.appSource,
      { repoUrl: source.repoUrl, path: "child", targetRevision: "HEAD", chart: "" },
      "where an app's objects come from is kept for the API",
    );
    assert.equal(previous.find((app) => app.name === "root")?.appSource, undefined, "root has no targets");
    // A broken commit: parent fails to render, so child is not even seen; other was deleted from Git.
    const broken = await apply(
      [c],
      resolution(
        [],
        [node("root", undefined), node("parent", "root", "problem")],
        [{ app: "parent", kind: "render", message: "kustomize: bad patch" }],
      ),
      previous,
    );
    assert.equal(broken.changedTargets, 1, "only the app really deleted from Git is removed");
    const live = (await store.targets.list(c.id)).filter((t) => !t.removed).map((t) => t.app);
    assert.deepEqual(live.sort(), ["child", "parent"]);
    const summary = broken.summaries.get("fleet")?.find((app) => app.name === "parent");
    assert.equal(summary?.problems[0]?.message, "kustomize: bad patch");
  });

  it("keeps every target of a source that cannot be read at all", async () => {
    const d = await newCluster("d1");
    await apply([d], resolution([target("d1", "web", "1")], [node("root", undefined), node("web", "root")]));
    const failed = await applyResolutions(
      deps(),
      [d],
      [{ source, ok: false, error: "source fleet: connection refused" }],
      new Map([["fleet", []]]),
    );
    assert.equal(failed.changedTargets, 0);
    assert.deepEqual(
      (await store.targets.list(d.id)).map((t) => [t.app, t.removed]),
      [["web", false]],
    );
  });
});

describe("toSyncPolicy", () => {
  it("maps Argo CD's policy, retry durations included, and treats enabled: false as manual", () => {
    assert.deepEqual(
      toSyncPolicy(
        {
          automated: { prune: true, selfHeal: true },
          syncOptions: ["CreateNamespace=true"],
          retry: { limit: 3, backoff: { duration: "10s", factor: 3, maxDuration: "5m" } },
        },
        "web",
      ),
      {
        syncOptions: ["CreateNamespace=true"],
        automated: { prune: true, selfHeal: true, allowEmpty: false },
        retry: { limit: 3, backoffDurationMs: 10_000, backoffFactor: 3, backoffMaxDurationMs: 300_000 },
      },
    );
    assert.deepEqual(toSyncPolicy({ automated: { enabled: false } }, "web"), { syncOptions: [] });
  });
});
