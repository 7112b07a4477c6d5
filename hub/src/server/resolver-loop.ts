/**
 * The leader's work: one replica at a time (the holder of the "resolver" lease) polls the
 * sources, resolves, stores and announces desired state, marks silent clusters Disconnected and
 * prunes old events and bundles. Other replicas ask it to resolve now with a "refresh" bus
 * event; it answers each with "resolved". A leader that dies loses the lease after its TTL and
 * another replica takes over, starting with a full poll.
 */
import { join } from "node:path";
import type { Bus, BusSubscription } from "../bus/bus.js";
import type { RenderToolName } from "../render/detect-tool.js";
import { createRenderCache, type RenderCache, renderSourceCached } from "../render/render-cache.js";
import { createRenderTools, type RenderTools } from "../render/render-source.js";
import { createResolveMemo, type ResolveMemo, resolveFleet } from "../resolve/resolve-fleet.js";
import { createRolloutController } from "../rollout/rollout-controller.js";
import { type GitSource, openGitSource } from "../source/git-source.js";
import { redactRepoUrl } from "../source/normalize-repo-url.js";
import type { Source, Store } from "../store/store.js";
import {
  applyResolutions,
  describeSourceFailure,
  type SourceOutcome,
  toResolveCluster,
} from "./desired-state.js";
import type { HubConfig } from "./hub-config.js";
import type { AppSummary, Logger, ProblemRecord } from "./hub-runtime.js";
import { describeError } from "./log.js";

export const RESOLVER_LEASE = "resolver";
const TICK_MS = 1_000;
/** Least time between two "resolver cycle failed" lines while every cycle fails. */
const FAILURE_LOG_INTERVAL_MS = 60_000;
const MAINTENANCE_INTERVAL_MS = 3_600_000;
const BUNDLE_GRACE_MS = 24 * 3_600_000;

export type ResolverLoop = {
  /** Whether this replica held the lease at its last renewal. */
  isLeader(): boolean;
  /** Resolves once the first leadership attempt finished (lease taken or not). */
  ready: Promise<void>;
  stop(): Promise<void>;
};

/** What the resolver reports as it works; hub/src/metrics turns it into Prometheus metrics. */
export type ResolverMetrics = {
  /** A resolve cycle ended: "error" when it failed or a source in it did. */
  resolved(result: "ok" | "error", seconds: number): void;
  /** A git fetch of a source or repository ended, either way. */
  sourceFetched(seconds: number): void;
  /** One app was rendered through a tool (render-cache hits are not renders). */
  rendered(tool: RenderToolName, seconds: number): void;
  /** Resolve problems attached to apps after the latest resolve, over every source. */
  problems(count: number): void;
};

type Deps = {
  store: Store;
  bus: Bus;
  config: HubConfig;
  log: Logger;
  now: () => Date;
  metrics?: ResolverMetrics;
};

type Pending = { requestId: string; source: string; hard: boolean };

export function startResolverLoop(deps: Deps): ResolverLoop {
  const { store, bus, config, log, now, metrics } = deps;
  const tools: RenderTools = createRenderTools({
    kustomizePath: config.render.kustomizePath,
    helmPath: config.render.helmPath,
    workDir: join(config.render.cacheDir, "render"),
    timeoutMs: config.render.renderTimeoutMs,
    ...(metrics ? { onRendered: ({ tool, seconds }) => metrics.rendered(tool, seconds) } : {}),
  });
  /** A git fetch, timed for metrics. */
  async function fetchRepo(gitSource: GitSource, url: string): Promise<void> {
    const startedMs = performance.now();
    try {
      await gitSource.fetch(url);
    } finally {
      metrics?.sourceFetched((performance.now() - startedMs) / 1_000);
    }
  }
  /** Progressive rollouts (docs/rollouts.md): gated in every resolve, advanced every tick. */
  const rollouts = createRolloutController({ store, bus, log, now });
  let cache: RenderCache = createRenderCache({ maxEntries: 10_000 });
  /** Per source: what its last resolve can lend the next (see ResolveMemo); emptied with the render cache. */
  const memos = new Map<string, ResolveMemo>();
  let git: { key: string; source: GitSource } | undefined;
  const lastFetch = new Map<string, number>();
  let pending: Pending[] = [];
  let clustersChanged = true;
  /**
   * A resolve asked for only by clusters changing waits until then (performance.now() ms): twice
   * as long after the previous resolve as that one took. Agents joining one after another would
   * otherwise keep the resolver re-resolving back to back (each resolve writes every cluster's
   * targets), holding the store their Register and Connect calls wait for; this way it takes at
   * most a third of the time, and a new cluster gets its apps within three resolve times.
   */
  let clusterResolveNotBeforeMs = 0;
  let lastSilentCheckMs = 0;
  let leader = false;
  let leaseValidUntil = 0;
  let lastMaintenance = 0;
  let stopped = false;
  let wake: () => void = () => {};
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });

  const subscription: BusSubscription = bus.subscribe(
    (event) => {
      if (event.type === "refresh")
        pending.push({ requestId: event.requestId, source: event.source, hard: event.hard });
      else if (event.type === "cluster-changed") clustersChanged = true;
      else return;
      wake();
    },
    { onError: (error) => log("warn", "resolver: bus handler failed", { error }) },
  );

  async function renewLease(): Promise<void> {
    const startedAt = Date.now();
    try {
      const held = await bus.tryLease(RESOLVER_LEASE, config.replica, config.leaseTtlMs);
      if (held && !leader) {
        log("info", "resolver lease acquired; this replica polls and resolves", { replica: config.replica });
        lastFetch.clear(); // A new leader polls everything once.
        clustersChanged = true;
      }
      if (!held && leader) log("warn", "resolver lease lost to another replica", { replica: config.replica });
      leader = held;
      leaseValidUntil = held ? startedAt + config.leaseTtlMs : 0;
    } catch (error) {
      if (leader) log("warn", "resolver lease cannot be renewed; stepping down", { error });
      leader = false;
      leaseValidUntil = 0;
    }
  }

  function gitFor(sources: readonly Source[]): GitSource {
    const urls = [
      ...new Set([...sources.map((s) => s.repoUrl), ...config.repositories.map((r) => r.url)]),
    ].sort();
    const key = urls.join("\n");
    if (git?.key !== key) {
      git = {
        key,
        source: openGitSource({
          cacheDir: join(config.render.cacheDir, "git"),
          repos: [
            ...config.repositories,
            ...sources
              .filter((source) => !config.repositories.some((r) => r.url === source.repoUrl))
              .map((source) => ({ url: source.repoUrl })),
          ],
        }),
      };
    }
    return git.source;
  }

  async function resolveOnce(requests: Pending[]): Promise<{ changedTargets: number; error: string }> {
    const sources = await store.sources.list();
    const clusters = await store.clusters.list();
    if (requests.some((request) => request.hard)) {
      cache = createRenderCache({ maxEntries: 10_000 });
      memos.clear();
    }
    for (const id of memos.keys()) if (!sources.some((source) => source.id === id)) memos.delete(id);
    const gitSource = gitFor(sources);
    const requested = new Set(requests.map((request) => request.source));
    const nowMs = Date.now();
    const previous = new Map((await store.sources.listResolutions()).map((r) => [r.sourceId, r]));
    const outcomes: SourceOutcome[] = [];
    const fetchedAt = new Map<string, Date>();
    // Repositories child Applications use are fetched with every poll, so a push to them is seen.
    const sourceUrls = new Set(sources.map((source) => source.repoUrl));
    for (const repository of config.repositories) {
      if (sourceUrls.has(repository.url)) continue;
      await fetchRepo(gitSource, repository.url).catch((error: unknown) => {
        log("warn", "repository fetch failed; its apps use the last fetched commits", {
          repository: redactRepoUrl(repository.url),
          error,
        });
      });
    }
    for (const source of sources) {
      const local = !/^https?:\/\//i.test(source.repoUrl);
      if (local && !config.allowLocalRepositories) {
        outcomes.push({
          source,
          ok: false,
          error: `source ${source.id}: ${redactRepoUrl(source.repoUrl)} is a local path; only http(s) repositories are allowed (set allowLocalRepositories for tests and demos)`,
        });
        continue;
      }
      const due =
        requested.has("") ||
        requested.has(source.id) ||
        nowMs - (lastFetch.get(source.id) ?? 0) >= source.pollIntervalMs;
      try {
        if (due) {
          await fetchRepo(gitSource, source.repoUrl);
          lastFetch.set(source.id, nowMs);
          fetchedAt.set(source.id, now());
        }
        const commit = await gitSource.resolveRevision(source.repoUrl, source.targetRevision);
        let memo = memos.get(source.id);
        if (!memo) {
          memo = createResolveMemo();
          memos.set(source.id, memo);
        }
        const resolution = await resolveFleet(
          {
            name: source.id,
            source: { repoURL: source.repoUrl, path: source.path || ".", targetRevision: commit },
            followRootRevision: true,
          },
          {
            git: gitSource,
            clusters: clusters.map(toResolveCluster),
            render: (input, key) => renderSourceCached(input, tools, cache, key),
          },
          memo,
        );
        const info = await gitSource.commitInfo(source.repoUrl, commit).catch(() => undefined);
        outcomes.push({
          source,
          ok: true,
          resolution,
          commit: { author: info?.author ?? "", message: info?.message ?? "" },
        });
      } catch (error) {
        if (due) lastFetch.set(source.id, nowMs); // Retry at the next poll, not in a tight loop.
        outcomes.push({ source, ok: false, error: describeSourceFailure(source, error) });
      }
    }
    const previousApps = new Map<string, AppSummary[]>(
      [...previous].map(([id, resolution]) => [id, resolution.apps as AppSummary[]]),
    );
    const applied = await applyResolutions(
      { store, bus, log, now, rollouts },
      clusters,
      outcomes,
      previousApps,
    );
    let problems = 0;
    for (const apps of applied.summaries.values()) for (const app of apps) problems += app.problems.length;
    metrics?.problems(problems);
    const errors: string[] = [];
    for (const outcome of outcomes) {
      const id = outcome.source.id;
      const before = previous.get(id);
      const apps = applied.summaries.get(id) ?? [];
      if (!outcome.ok) {
        errors.push(outcome.error);
        log("error", "source not resolved; its apps keep their desired state", {
          source: id,
          error: outcome.error,
        });
      }
      await recordProblemChanges(store, (before?.apps ?? []) as AppSummary[], apps);
      await store.sources.putResolution({
        sourceId: id,
        revision: outcome.ok ? outcome.resolution.revision : (before?.revision ?? ""),
        fetchedAt: fetchedAt.get(id) ?? before?.fetchedAt ?? null,
        error: outcome.ok ? "" : outcome.error,
        apps,
      });
    }
    return { changedTargets: applied.changedTargets, error: errors.join("; ") };
  }

  async function leaderWork(): Promise<void> {
    const nowMs = Date.now();
    const sources = await store.sources.list();
    const due = sources.some((source) => nowMs - (lastFetch.get(source.id) ?? 0) >= source.pollIntervalMs);
    const clusterResolveDue = clustersChanged && performance.now() >= clusterResolveNotBeforeMs;
    if (due || clusterResolveDue || pending.length > 0) {
      const requests = pending;
      pending = [];
      clustersChanged = false;
      let result: { changedTargets: number; error: string };
      const startedMs = performance.now();
      try {
        result = await resolveOnce(requests);
      } catch (error) {
        log("error", "resolve failed; desired state left as it was", { error });
        result = { changedTargets: 0, error: describeError(error) };
      }
      const tookMs = performance.now() - startedMs;
      clusterResolveNotBeforeMs = performance.now() + 2 * tookMs;
      metrics?.resolved(result.error ? "error" : "ok", tookMs / 1_000);
      const answered = requests.length > 0 ? requests : [{ requestId: "", source: "", hard: false }];
      for (const request of answered) {
        await bus.publish({ type: "resolved", requestId: request.requestId, ...result });
      }
    }
    // Every bus event the resolver cares about wakes it; the silence check reads every cluster, so once a tick is enough.
    if (nowMs - lastSilentCheckMs >= TICK_MS) {
      lastSilentCheckMs = nowMs;
      await markSilentClusters();
      await rollouts.advance();
    }
    if (nowMs - lastMaintenance >= MAINTENANCE_INTERVAL_MS) {
      lastMaintenance = nowMs;
      const pruned = await store.events.prune({
        olderThan: new Date(nowMs - config.eventRetention.maxAgeMs),
        maxRows: config.eventRetention.maxRows,
      });
      const bundles = await store.bundles.pruneUnreferenced(new Date(nowMs - BUNDLE_GRACE_MS));
      if (pruned > 0 || bundles > 0)
        log("info", "retention", { eventsPruned: pruned, bundlesPruned: bundles });
    }
  }

  /** Clusters whose outage has a `cluster-disconnected` event, by the lastSeen it was about. */
  const reportedOutages = new Map<string, number>();

  /**
   * A Connected cluster silent for three heartbeat intervals turns Disconnected, its statuses
   * stale. Either way (silent, or its agent's stream ended) an outage longer than three heartbeat
   * intervals gets one `cluster-disconnected` event, which notifications act on; a reconnect
   * within that time (a hub restart, a network blip) records none.
   */
  async function markSilentClusters(): Promise<void> {
    const cutoff = Date.now() - 3 * config.heartbeatIntervalMs;
    for (const cluster of await store.clusters.list()) {
      const lastSeenMs = cluster.lastSeenAt?.getTime() ?? 0;
      if (cluster.state === "Pending" || lastSeenMs >= cutoff) continue;
      if (cluster.state === "Disconnected") {
        await reportEndedStream(cluster, lastSeenMs);
        continue;
      }
      if (!(await store.clusters.markDisconnectedIfSilent(cluster.id, new Date(cutoff)))) continue;
      await store.statuses.markStale(cluster.id);
      const lastSeen = cluster.lastSeenAt?.toISOString() ?? "never";
      await store.events.append({
        clusterId: cluster.id,
        type: "cluster-disconnected",
        message: `cluster ${cluster.name} silent for three heartbeat intervals; last seen ${lastSeen}`,
        data: { lastSeen },
      });
      reportedOutages.set(cluster.id, lastSeenMs);
      await bus.publish({
        type: "cluster",
        clusterId: cluster.id,
        state: "Disconnected",
        replica: config.replica,
        at: cluster.lastSeenAt?.toISOString() ?? now().toISOString(),
      });
      log("warn", "cluster silent; marked Disconnected", { cluster: cluster.name, lastSeen });
    }
  }

  /** One event per outage of a cluster whose agent's stream ended, checked against the store once. */
  async function reportEndedStream(
    cluster: { id: string; name: string; lastSeenAt: Date | null },
    lastSeenMs: number,
  ) {
    if (!cluster.lastSeenAt || reportedOutages.get(cluster.id) === lastSeenMs) return;
    const recorded = await store.events.list({
      clusterId: cluster.id,
      type: "cluster-disconnected",
      since: cluster.lastSeenAt,
      limit: 1,
    });
    if (recorded.events.length === 0) {
      const lastSeen = cluster.lastSeenAt.toISOString();
      await store.events.append({
        clusterId: cluster.id,
        type: "cluster-disconnected",
        message: `cluster ${cluster.name}'s agent disconnected and has not come back for three heartbeat intervals; last seen ${lastSeen}`,
        data: { lastSeen },
      });
      log("warn", "cluster disconnected", { cluster: cluster.name, lastSeen });
    }
    reportedOutages.set(cluster.id, lastSeenMs);
  }

  let failedCycles = 0;
  let lastFailureLog = 0;
  const done = (async () => {
    await subscription.ready;
    while (!stopped) {
      await renewLease();
      markReady();
      if (leader && Date.now() < leaseValidUntil) {
        try {
          await leaderWork();
          if (failedCycles > 0) log("info", "resolver cycles succeed again", { failedCycles });
          failedCycles = 0;
        } catch (error) {
          // A store outage fails every tick: log the first failure, then one line a minute.
          failedCycles++;
          if (failedCycles === 1 || Date.now() - lastFailureLog >= FAILURE_LOG_INTERVAL_MS) {
            lastFailureLog = Date.now();
            log("error", "resolver cycle failed", { error, failedCycles });
          }
        }
      }
      if (stopped) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, TICK_MS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = () => {};
    }
  })();

  return {
    isLeader: () => leader,
    ready,
    async stop() {
      stopped = true;
      wake();
      await done;
      subscription.unsubscribe();
      if (leader) await bus.releaseLease(RESOLVER_LEASE, config.replica).catch(() => {});
      leader = false;
    },
  };
}

/** problem-raised / problem-resolved events between two resolves of one source. */
async function recordProblemChanges(store: Store, before: AppSummary[], after: AppSummary[]): Promise<void> {
  const key = (p: ProblemRecord) => `${p.app}\u0000${p.reason}\u0000${p.message}`;
  const old = new Map(before.flatMap((app) => app.problems.map((p) => [key(p), p] as const)));
  const now = new Map(after.flatMap((app) => app.problems.map((p) => [key(p), p] as const)));
  for (const [k, problem] of now) {
    if (old.has(k)) continue;
    await store.events.append({
      app: problem.app,
      type: "problem-raised",
      message: `${problem.reason}: ${problem.message}`,
      data: { reason: problem.reason },
    });
  }
  for (const [k, problem] of old) {
    if (now.has(k)) continue;
    await store.events.append({
      app: problem.app,
      type: "problem-resolved",
      message: `${problem.reason} resolved: ${problem.message}`,
      data: { reason: problem.reason },
    });
  }
}
