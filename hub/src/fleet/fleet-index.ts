/**
 * The in-memory fleet index behind every fleet query: which clusters exist (labels, state, last
 * seen), what each should run and what each reports, kept current by the hub as registrations,
 * resolves and agent statuses arrive. Queries filter, count and page without touching the store,
 * so they stay fast at 10,000 clusters x 20 apps.
 */

export type ClusterState = "Connected" | "Disconnected" | "Pending";
export type SyncCode = "Synced" | "OutOfSync" | "Unknown";
export type HealthCode = "Healthy" | "Progressing" | "Degraded" | "Suspended" | "Missing" | "Unknown";

export type IndexedCluster = {
  id: string;
  name: string;
  labels: Readonly<Record<string, string>>;
  state: ClusterState;
  /** ISO time of the last message from its agent; undefined before the first. */
  lastSeen?: string;
};

/** One app in one cluster: the latest report, or what is known before the first. */
export type IndexedApp = {
  app: string;
  sync: SyncCode;
  health: HealthCode;
  revision: string;
  /** Why it is not Synced and Healthy, or the problem that kept it from resolving; "" when fine. */
  message: string;
  /** The report is older than the cluster's connection (the cluster stopped talking). */
  stale: boolean;
  /** A resolve problem (render error, unknown destination, ...) is attached to the app. */
  problem: boolean;
  /** Digest and commit of what the hub wants there; absent when the app is not targeted (yet). */
  desiredDigest?: string;
  desiredRevision?: string;
  /** The agent acknowledged desiredDigest. */
  delivered?: boolean;
  /** ISO time the agent assessed the status; absent before the first report. */
  observedAt?: string;
};

export type FleetQuery = {
  /** Clusters whose labels match; see ./label-selector.ts (passed in as a predicate). */
  selector?: (labels: Readonly<Record<string, string>>) => boolean;
  /** Only this app (in the clusters and in the counts); with `groupBy`, also every app of this group. */
  app?: string;
  /**
   * Groups apps for `countsByApp` (keyed by group instead of app name) and for the `app` filter:
   * the dashboard's grid columns, where `web-prod-1` in cluster `prod-1` is in group `web`.
   */
  groupBy?: (app: string, cluster: string) => string;
  health?: HealthCode;
  sync?: SyncCode;
  /** Only apps that are not Synced+Healthy, are stale, or have a problem. */
  problems?: boolean;
  /** Clusters by name, starting after this name (from the previous page's `next`). */
  after?: string;
  /** Default 100, at most 1,000. */
  limit?: number;
};

export type StatusCounts = {
  total: number;
  synced: number;
  outOfSync: number;
  syncUnknown: number;
  healthy: number;
  progressing: number;
  degraded: number;
  suspended: number;
  missing: number;
  healthUnknown: number;
};

export type FleetPage = {
  clusters: (IndexedCluster & { apps: IndexedApp[] })[];
  /** Name to pass as `after` for the next page; undefined on the last page. */
  next?: string;
  /** Clusters that match the query (all pages). */
  matchedClusters: number;
  /** Counts over every matching app of every matching cluster (all pages). */
  counts: StatusCounts;
  /** The same counts per app name (per group with `groupBy`). */
  countsByApp: Record<string, StatusCounts>;
};

export type FleetIndex = {
  upsertCluster(cluster: IndexedCluster): void;
  removeCluster(id: string): void;
  setClusterState(id: string, state: ClusterState, lastSeen?: string): void;
  /** Replaces one app's entry in one cluster. */
  upsertApp(clusterId: string, app: IndexedApp): void;
  removeApp(clusterId: string, app: string): void;
  /** Marks every app of a cluster stale (it stopped talking) or fresh again. */
  setStale(clusterId: string, stale: boolean): void;
  query(query: FleetQuery): FleetPage;
  /**
   * Every cluster the selector admits, in name order, with its apps that match `app` and
   * `problems` (sorted by name): one pass, no counting, so a caller that filters and counts
   * itself walks the fleet once however many clusters it skips.
   */
  scan(
    query: Pick<FleetQuery, "selector" | "app" | "problems">,
  ): Generator<IndexedCluster & { apps: IndexedApp[] }>;
  /**
   * Changes whenever a cluster or an app is added or removed or a cluster's labels change, but
   * not when a status changes: what is derived from the shape of the fleet alone (the grid's
   * columns) may be cached until it moves.
   */
  shapeVersion(): number;
  cluster(idOrName: string): (IndexedCluster & { apps: IndexedApp[] }) | undefined;
  size(): { clusters: number; apps: number };
  /** Clusters by state and apps by health and by sync over the whole index, in one pass. */
  counts(): IndexCounts;
};

export type IndexCounts = {
  clusters: Record<ClusterState, number>;
  health: Record<HealthCode, number>;
  sync: Record<SyncCode, number>;
};

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1_000;

export function emptyCounts(): StatusCounts {
  return {
    total: 0,
    synced: 0,
    outOfSync: 0,
    syncUnknown: 0,
    healthy: 0,
    progressing: 0,
    degraded: 0,
    suspended: 0,
    missing: 0,
    healthUnknown: 0,
  };
}

const syncField: Record<SyncCode, keyof StatusCounts> = {
  Synced: "synced",
  OutOfSync: "outOfSync",
  Unknown: "syncUnknown",
};
const healthField: Record<HealthCode, keyof StatusCounts> = {
  Healthy: "healthy",
  Progressing: "progressing",
  Degraded: "degraded",
  Suspended: "suspended",
  Missing: "missing",
  Unknown: "healthUnknown",
};

function count(counts: StatusCounts, app: IndexedApp): void {
  counts.total += 1;
  counts[syncField[app.sync]] += 1;
  counts[healthField[app.health]] += 1;
}

/** An app counts as a problem when it is not Synced and Healthy, is stale, or failed to resolve. */
export function isProblem(app: IndexedApp): boolean {
  return app.problem || app.stale || app.sync !== "Synced" || app.health !== "Healthy";
}

type Entry = {
  cluster: IndexedCluster;
  apps: Map<string, IndexedApp>;
  /** groupBy(app, cluster) per app, for the last groupBy function used (a pure function of the names). */
  groups?: { groupBy: (app: string, cluster: string) => string; byApp: Map<string, string> };
};

/** The group of `app` in `entry`, computed once per app name and groupBy function. */
function groupOf(entry: Entry, app: string, groupBy: (app: string, cluster: string) => string): string {
  if (entry.groups?.groupBy !== groupBy) entry.groups = { groupBy, byApp: new Map() };
  let group = entry.groups.byApp.get(app);
  if (group === undefined) {
    group = groupBy(app, entry.cluster.name);
    entry.groups.byApp.set(app, group);
  }
  return group;
}

const byAppName = (a: IndexedApp, b: IndexedApp) => (a.app < b.app ? -1 : a.app > b.app ? 1 : 0);

export function createFleetIndex(): FleetIndex {
  const byId = new Map<string, Entry>();
  const byName = new Map<string, Entry>();
  /** Cluster names in order, rebuilt lazily after a name is added or removed. */
  let sortedNames: string[] | undefined;
  let shape = 0;

  const names = () => {
    sortedNames ??= [...byName.keys()].sort();
    return sortedNames;
  };

  function appMatches(app: IndexedApp, group: string, query: FleetQuery): boolean {
    if (query.app !== undefined && app.app !== query.app && group !== query.app) return false;
    if (query.health !== undefined && app.health !== query.health) return false;
    if (query.sync !== undefined && app.sync !== query.sync) return false;
    if (query.problems && !isProblem(app)) return false;
    return true;
  }

  /** App filters narrow clusters too: a cluster is listed when one of its apps matches. */
  const filtersApps = (query: FleetQuery) =>
    query.app !== undefined ||
    query.health !== undefined ||
    query.sync !== undefined ||
    query.problems === true;

  return {
    upsertCluster(cluster) {
      const existing = byId.get(cluster.id);
      if (existing) {
        if (existing.cluster.name !== cluster.name) {
          byName.delete(existing.cluster.name);
          byName.set(cluster.name, existing);
          sortedNames = undefined;
          existing.groups = undefined;
          shape += 1;
        } else if (!sameLabels(existing.cluster.labels, cluster.labels)) shape += 1;
        existing.cluster = { ...cluster };
        return;
      }
      const entry: Entry = { cluster: { ...cluster }, apps: new Map() };
      byId.set(cluster.id, entry);
      byName.set(cluster.name, entry);
      sortedNames = undefined;
      shape += 1;
    },

    removeCluster(id) {
      const entry = byId.get(id);
      if (!entry) return;
      byId.delete(id);
      byName.delete(entry.cluster.name);
      sortedNames = undefined;
      shape += 1;
    },

    setClusterState(id, state, lastSeen) {
      const entry = byId.get(id);
      if (!entry) return;
      entry.cluster = { ...entry.cluster, state, ...(lastSeen ? { lastSeen } : {}) };
    },

    upsertApp(clusterId, app) {
      const entry = byId.get(clusterId);
      if (!entry) return;
      if (!entry.apps.has(app.app)) shape += 1;
      entry.apps.set(app.app, { ...app });
    },

    removeApp(clusterId, app) {
      if (byId.get(clusterId)?.apps.delete(app)) shape += 1;
    },

    setStale(clusterId, stale) {
      const entry = byId.get(clusterId);
      if (!entry) return;
      for (const [name, app] of entry.apps) if (app.stale !== stale) entry.apps.set(name, { ...app, stale });
    },

    query(query) {
      const limit = Math.min(Math.max(1, query.limit ?? DEFAULT_LIMIT), MAX_LIMIT);
      const counts = emptyCounts();
      const byApp = new Map<string, StatusCounts>();
      const page: FleetPage["clusters"] = [];
      let matchedClusters = 0;
      let next: string | undefined;
      const narrowByApps = filtersApps(query);
      for (const name of names()) {
        const entry = byName.get(name);
        if (!entry) continue;
        if (query.selector && !query.selector(entry.cluster.labels)) continue;
        // Only clusters that can still go on this page collect their apps; the rest only count.
        const onPage = page.length < limit && (query.after === undefined || name > query.after);
        const apps: IndexedApp[] = [];
        let matchedApps = 0;
        for (const app of entry.apps.values()) {
          const group = query.groupBy ? groupOf(entry, app.app, query.groupBy) : app.app;
          if (!appMatches(app, group, query)) continue;
          matchedApps += 1;
          if (onPage) apps.push(app);
          count(counts, app);
          let appCounts = byApp.get(group);
          if (!appCounts) {
            appCounts = emptyCounts();
            byApp.set(group, appCounts);
          }
          count(appCounts, app);
        }
        if (narrowByApps && matchedApps === 0) continue;
        matchedClusters += 1;
        if (onPage) {
          apps.sort(byAppName);
          page.push({ ...entry.cluster, apps });
        } else if (
          next === undefined &&
          page.length === limit &&
          (query.after === undefined || name > query.after)
        ) {
          next = page.at(-1)?.name;
        }
      }
      const countsByApp = Object.fromEntries(
        [...byApp.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      );
      return {
        clusters: page,
        ...(next !== undefined ? { next } : {}),
        matchedClusters,
        counts,
        countsByApp,
      };
    },

    *scan(query) {
      for (const name of names()) {
        const entry = byName.get(name);
        if (!entry) continue;
        if (query.selector && !query.selector(entry.cluster.labels)) continue;
        const apps: IndexedApp[] = [];
        for (const app of entry.apps.values()) {
          if (query.app !== undefined && app.app !== query.app) continue;
          if (query.problems && !isProblem(app)) continue;
          apps.push(app);
        }
        if ((query.app !== undefined || query.problems) && apps.length === 0) continue;
        apps.sort(byAppName);
        yield { ...entry.cluster, apps };
      }
    },

    shapeVersion: () => shape,

    cluster(idOrName) {
      const entry = byId.get(idOrName) ?? byName.get(idOrName);
      if (!entry) return undefined;
      const apps = [...entry.apps.values()].sort((a, b) => (a.app < b.app ? -1 : a.app > b.app ? 1 : 0));
      return { ...entry.cluster, apps };
    },

    size() {
      let apps = 0;
      for (const entry of byId.values()) apps += entry.apps.size;
      return { clusters: byId.size, apps };
    },

    counts() {
      const counts: IndexCounts = {
        clusters: { Connected: 0, Disconnected: 0, Pending: 0 },
        health: { Healthy: 0, Progressing: 0, Degraded: 0, Suspended: 0, Missing: 0, Unknown: 0 },
        sync: { Synced: 0, OutOfSync: 0, Unknown: 0 },
      };
      for (const entry of byId.values()) {
        counts.clusters[entry.cluster.state] += 1;
        for (const app of entry.apps.values()) {
          counts.health[app.health] += 1;
          counts.sync[app.sync] += 1;
        }
      }
      return counts;
    },
  };
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const key of keys) if (a[key] !== b[key]) return false;
  return true;
}
