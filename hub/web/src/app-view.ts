/**
 * One app across the fleet: source, project, problems, the revision with its commit author and
 * message, every targeted cluster with its status, the per-resource status in one picked
 * cluster (`?cluster=`, else the first that is not Synced and Healthy), and the app's events.
 * The API carries no commit author or message on the app, so they come from the newest
 * `desired-changed` event of the app, which records them.
 */

import { columnOf } from "../../src/fleet/grid-column.js";
import { ApiError } from "./api-client.js";
import type {
  AppTargetJson,
  EventJson,
  GetAppJson,
  GridPage,
  ListEventsJson,
  ProblemJson,
  ResourceJson,
  SourceJson,
} from "./api-types.js";
import { detailsList, section } from "./details-list.js";
import { el, listTable, replaceChildren } from "./elements.js";
import { eventsTable } from "./events-table.js";
import { formatAgo, formatTime, shortRevision } from "./format.js";
import type { LiveChange } from "./live-updates.js";
import { appHash, clusterHash, gridHash, type Route } from "./router.js";
import { healthBadge, syncBadge } from "./status-badge.js";
import { healthOf, kebabOf, syncOf } from "./status-names.js";
import { debounce, type View, type ViewContext } from "./view.js";

const EVENT_PAGE = 50;
/** Targets listed on the page; the rest are counted. */
const MAX_TARGET_ROWS = 500;

type Loaded = {
  got: GetAppJson;
  events: EventJson[];
  commit: EventJson | undefined;
  source: SourceJson | undefined;
};

export function createAppView(context: ViewContext, route: Route & { view: "app" }): View {
  const { api } = context;
  const name = route.name;
  let picked = route.params.get("cluster") ?? "";
  let loaded: Loaded | undefined;
  let generation = 0;
  let destroyed = false;
  const element = el("section", { class: "page app-page", "aria-busy": "true" });
  context.setTitle(`App ${name}`);
  replaceChildren(element, heading(), el("p", { class: "muted" }, "Loading…"));

  const reloadSoon = debounce(() => void load(), 700);
  void load();

  function heading(): HTMLElement {
    return el(
      "header",
      { class: "page-head" },
      el(
        "nav",
        { class: "crumbs", "aria-label": "Breadcrumb" },
        el("a", { href: gridHash({}) }, "Fleet"),
        " / app",
      ),
      el("h1", {}, name),
    );
  }

  async function load(): Promise<void> {
    const mine = ++generation;
    try {
      const [got, history, commits, sources] = await Promise.all([
        api.get<GetAppJson>(`/api/v1/apps/${encodeURIComponent(name)}`),
        api.get<ListEventsJson>("/api/v1/events", { app: name, pageSize: EVENT_PAGE }),
        api.get<ListEventsJson>("/api/v1/events", { app: name, kinds: "desired_changed", pageSize: 10 }),
        api.get<{ sources: SourceJson[] }>("/api/v1/sources").catch(() => ({ sources: [] as SourceJson[] })),
      ]);
      if (mine !== generation || destroyed) return;
      loaded = {
        got,
        events: history.events,
        commit: commits.events.find((event) => typeof event.details?.commitMessage === "string"),
        source: sources.sources.find((source) => source.name === got.app.sourceName),
      };
      render();
    } catch (error) {
      if (mine !== generation || destroyed) return;
      if (error instanceof ApiError && error.status === 404 && (await showColumn(mine))) return;
      const message = error instanceof Error ? error.message : String(error);
      replaceChildren(element, heading(), el("p", { class: "error", role: "alert" }, message));
    } finally {
      if (mine === generation) element.removeAttribute("aria-busy");
    }
  }

  /**
   * No app has this name, but it may be a grid column: an ApplicationSet's apps, one per
   * cluster (`web-prod-1`, `web-prod-2`). Lists them; false when there are none.
   */
  async function showColumn(mine: number): Promise<boolean> {
    let page: GridPage;
    try {
      page = await api.get<GridPage>("/api/v1/grid", { app: name, limit: MAX_TARGET_ROWS });
    } catch {
      return false;
    }
    if (mine !== generation || destroyed || page.matchedClusters === 0) return false;
    loaded = undefined;
    const members = page.clusters.flatMap((cluster) => cluster.apps.map((app) => ({ cluster, app })));
    replaceChildren(
      element,
      heading(),
      el(
        "p",
        { class: "muted" },
        `"${name}" is a column of the fleet grid: ${page.counts.total} app(s), one per cluster, `,
        "named after it. Pick one for its resources, revision and events.",
      ),
      section(
        `Apps in column ${name} (${page.counts.total})`,
        "column-apps",
        listTable(
          { class: "list", id: "column-apps-table" },
          ["App", "Cluster", "Health", "Sync", "Message"],
          members.map(({ cluster, app }) =>
            el(
              "tr",
              { "data-app": app.app },
              el("th", { scope: "row" }, el("a", { href: appHash(app.app, cluster.name) }, app.app)),
              el("td", {}, el("a", { href: clusterHash(cluster.name) }, cluster.name)),
              el("td", {}, healthBadge(app.health)),
              el("td", {}, syncBadge(app.sync)),
              el("td", { class: "message" }, app.message),
            ),
          ),
        ),
        page.next !== null
          ? el("p", { class: "muted" }, el("a", { href: gridHash({ app: name }) }, "All of them in the grid"))
          : null,
      ),
    );
    return true;
  }

  function render(): void {
    if (!loaded) return;
    const { got, events, commit, source } = loaded;
    const { app, targets } = got;
    const chosen = pickTarget(targets, picked);
    replaceChildren(
      element,
      heading(),
      detailsList([
        ["Project", app.project],
        [
          "Source",
          app.source?.repoUrl
            ? el(
                "span",
                { class: "mono" },
                `${app.source.repoUrl} ${app.source.chart || app.source.path} @ ${app.source.targetRevision || "HEAD"}`,
              )
            : source
              ? el(
                  "span",
                  {},
                  `declared in source ${source.name}: `,
                  el(
                    "span",
                    { class: "mono" },
                    `${source.repoUrl} ${source.path} @ ${source.targetRevision || "HEAD"}`,
                  ),
                )
              : app.sourceName,
        ],
        ["Declared by", app.parent ? el("a", { href: appHash(app.parent) }, app.parent) : "(root)"],
        [
          "Clusters",
          `${app.counts.total}: ${app.counts.healthy} Healthy, ${app.counts.synced} Synced` +
            (app.counts.total - app.counts.healthy > 0
              ? `, ${app.counts.total - app.counts.healthy} not Healthy`
              : ""),
        ],
      ]),
      revisionPanel(targets, commit),
      app.problems.length > 0 ? problemsPanel(app.problems) : null,
      targetsPanel(targets, chosen),
      chosen ? resourcesPanel(chosen) : null,
      section("Event history", "app-events", eventsTable(events, `Events of app ${name}`)),
    );
  }

  function revisionPanel(targets: AppTargetJson[], commit: EventJson | undefined): HTMLElement {
    const wanted = new Map<string, number>();
    for (const target of targets) {
      if (target.desiredRevision)
        wanted.set(target.desiredRevision, (wanted.get(target.desiredRevision) ?? 0) + 1);
    }
    const revision = [...wanted.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? commit?.revision ?? "";
    const fromCommit = commit && commit.revision === revision ? commit : undefined;
    const message =
      typeof fromCommit?.details?.commitMessage === "string" ? fromCommit.details.commitMessage : "";
    return section(
      "Revision",
      "app-revision",
      detailsList([
        [
          "Commit",
          el("span", { class: "mono", id: "app-commit", title: revision }, shortRevision(revision) || "—"),
        ],
        ["Author", fromCommit?.actor ?? ""],
        [
          "Message",
          message ? el("pre", { class: "commit-message", id: "app-commit-message" }, message.trim()) : "",
        ],
        ["Changed", fromCommit ? formatTime(fromCommit.at) : ""],
        [
          "Other revisions",
          wanted.size > 1
            ? [...wanted.entries()]
                .filter(([other]) => other !== revision)
                .map(([other, count]) => `${shortRevision(other)} in ${count} cluster(s)`)
                .join(", ")
            : "",
        ],
      ]),
    );
  }

  function problemsPanel(problems: ProblemJson[]): HTMLElement {
    return section(
      `Problems (${problems.length})`,
      "app-problems",
      listTable(
        { class: "list problems" },
        ["Reason", "Cluster", "Message", "Path", "Seen"],
        problems.map((problem) =>
          el(
            "tr",
            {},
            el("td", {}, el("span", { class: "badge health-degraded" }, problem.reason)),
            el(
              "td",
              {},
              problem.cluster ? el("a", { href: clusterHash(problem.cluster) }, problem.cluster) : "all",
            ),
            el("td", { class: "message" }, problem.message),
            el("td", { class: "mono" }, problem.path),
            el("td", { class: "nowrap" }, formatAgo(problem.observedAt)),
          ),
        ),
      ),
    );
  }

  function targetsPanel(targets: AppTargetJson[], chosen: AppTargetJson | undefined): HTMLElement {
    const shown = targets.slice(0, MAX_TARGET_ROWS);
    return section(
      `Clusters (${targets.length})`,
      "app-targets",
      targets.length === 0
        ? el("p", { class: "empty" }, "This app targets no cluster.")
        : listTable(
            { class: "list", id: "app-targets-table" },
            ["Cluster", "Health", "Sync", "Revision", "Wanted", "Message", "Observed"],
            shown.map((target) => {
              const status = target.status;
              const delivered = target.desiredDigest !== "" && target.ackedDigest === target.desiredDigest;
              const isChosen = target === chosen;
              return el(
                "tr",
                { "data-cluster": target.cluster, class: isChosen ? "chosen" : undefined },
                el(
                  "th",
                  { scope: "row" },
                  el(
                    "a",
                    {
                      href: appHash(name, target.cluster),
                      "aria-current": isChosen ? "true" : undefined,
                      title: `Show the resources of ${name} on ${target.cluster}`,
                    },
                    target.cluster,
                  ),
                  " ",
                  el("a", { class: "muted small", href: clusterHash(target.cluster) }, "cluster"),
                ),
                el(
                  "td",
                  {},
                  status ? healthBadge(status.healthStatus) : el("span", { class: "muted" }, "no report"),
                ),
                el("td", {}, status ? syncBadge(status.syncStatus) : ""),
                el("td", { class: "mono", title: status?.revision ?? "" }, shortRevision(status?.revision)),
                el(
                  "td",
                  { class: "mono", title: target.desiredRevision },
                  shortRevision(target.desiredRevision),
                  target.desiredDigest && !delivered
                    ? el("span", { class: "muted" }, " (not delivered)")
                    : null,
                ),
                el("td", { class: "message" }, statusMessage(status)),
                el("td", { class: "nowrap" }, formatAgo(status?.observedAt)),
              );
            }),
          ),
      targets.length > shown.length
        ? el("p", { class: "muted" }, `Showing ${shown.length} of ${targets.length} clusters.`)
        : null,
    );
  }

  function resourcesPanel(target: AppTargetJson): HTMLElement {
    const status = target.status;
    const resources: ResourceJson[] = status?.resources ?? [];
    const conditions = status?.conditions ?? [];
    return section(
      `Resources on ${target.cluster}`,
      "app-resources",
      status?.operation
        ? el(
            "p",
            { class: "operation" },
            `Last sync: ${kebabOf(status.operation.phase, "OPERATION_PHASE_")}`,
            status.operation.message ? ` — ${status.operation.message}` : "",
            status.operation.finishedAt ? ` (${formatAgo(status.operation.finishedAt)})` : "",
          )
        : null,
      conditions.length > 0
        ? el(
            "ul",
            { class: "conditions" },
            conditions.map((condition) =>
              el("li", {}, el("strong", {}, condition.type), ": ", condition.message),
            ),
          )
        : null,
      resources.length === 0
        ? el(
            "p",
            { class: "empty" },
            status ? "The agent reported no resources." : "No report from this cluster yet.",
          )
        : listTable(
            { class: "list", id: "app-resources-table" },
            ["Kind", "Namespace", "Name", "Sync", "Health", "Message"],
            resources.map((resource) =>
              el(
                "tr",
                {
                  "data-kind": resource.kind,
                  "data-name": resource.name,
                  class: needsAttention(resource) ? "attention" : undefined,
                },
                el(
                  "td",
                  { title: resource.group ? `${resource.group}/${resource.version}` : resource.version },
                  resource.kind,
                  resource.hook ? el("span", { class: "tag" }, "hook") : null,
                  resource.requiresPruning ? el("span", { class: "tag" }, "prune") : null,
                ),
                el("td", {}, resource.namespace),
                el("td", { class: "mono" }, resource.name),
                el("td", {}, syncBadge(resource.syncStatus)),
                el(
                  "td",
                  {},
                  hasHealth(resource)
                    ? healthBadge(resource.healthStatus)
                    : el("span", { class: "muted" }, "—"),
                ),
                el("td", { class: "message" }, resource.message),
              ),
            ),
          ),
    );
  }

  return {
    element,
    update(changed) {
      const wanted = changed.params.get("cluster") ?? "";
      if (wanted === picked) return;
      picked = wanted;
      render();
    },
    handleChange(change: LiveChange) {
      if (change.kind === "resync") return reloadSoon();
      const { message } = change;
      const about = message.statusChanged ?? message.statusRemoved;
      const concerns =
        about !== undefined && (about.app === name || columnOf(about.app, about.cluster) === name);
      if (concerns || message.dropped !== undefined || message.clusterRemoved !== undefined) reloadSoon();
    },
    destroy() {
      destroyed = true;
      generation += 1;
      reloadSoon.cancel();
    },
  };
}

/** The named cluster's target, else the first that is not Synced and Healthy, else the first. */
function pickTarget(targets: AppTargetJson[], cluster: string): AppTargetJson | undefined {
  if (cluster !== "") {
    const named = targets.find((target) => target.cluster === cluster);
    if (named) return named;
  }
  const troubled = targets.find(
    (target) =>
      target.status !== undefined &&
      (healthOf(target.status.healthStatus) !== "Healthy" || syncOf(target.status.syncStatus) !== "Synced"),
  );
  return troubled ?? targets[0];
}

/** Kinds without a health check (ConfigMap, Secret, ...) report none. */
function hasHealth(resource: ResourceJson): boolean {
  return resource.healthStatus !== "" && resource.healthStatus !== "HEALTH_STATUS_UNSPECIFIED";
}

function needsAttention(resource: ResourceJson): boolean {
  if (syncOf(resource.syncStatus) !== "Synced") return true;
  return hasHealth(resource) && healthOf(resource.healthStatus) !== "Healthy";
}

/** Why a target is not fine: its health message, else a sync that did not succeed. */
function statusMessage(status: AppTargetJson["status"]): string {
  if (!status) return "";
  if (status.healthMessage) return status.healthMessage;
  const phase = kebabOf(status.operation?.phase, "OPERATION_PHASE_");
  return phase === "failed" || phase === "error" || phase === "running"
    ? (status.operation?.message ?? "")
    : "";
}
