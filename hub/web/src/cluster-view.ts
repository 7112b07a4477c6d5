/**
 * One cluster: labels, connection, last seen, agent and Kubernetes versions, its apps with
 * sync, health, revision and message, and its recent events. Reloads (debounced) when a live
 * change concerns it.
 */
import type { GetClusterJson, ListEventsJson } from "./api-types.js";
import { detailsList, section } from "./details-list.js";
import { el, listTable, replaceChildren } from "./elements.js";
import { eventsTable } from "./events-table.js";
import { formatAgo, formatTime, shortRevision } from "./format.js";
import type { LiveChange } from "./live-updates.js";
import { appHash, gridHash, type Route } from "./router.js";
import { connectionBadge, healthBadge, syncBadge } from "./status-badge.js";
import { debounce, type View, type ViewContext } from "./view.js";

const EVENT_PAGE = 50;

export function createClusterView(context: ViewContext, route: Route & { view: "cluster" }): View {
  const { api } = context;
  const name = route.name;
  const element = el("section", { class: "page cluster-page", "aria-busy": "true" });
  let generation = 0;
  let destroyed = false;
  context.setTitle(`Cluster ${name}`);
  replaceChildren(element, heading(), el("p", { class: "muted" }, "Loading…"));

  const reloadSoon = debounce(() => void load(), 700);
  void load();

  function heading(extra?: HTMLElement): HTMLElement {
    return el(
      "header",
      { class: "page-head" },
      el(
        "nav",
        { class: "crumbs", "aria-label": "Breadcrumb" },
        el("a", { href: gridHash({}) }, "Fleet"),
        " / cluster",
      ),
      el("h1", {}, name, extra ? " " : "", extra ?? null),
    );
  }

  async function load(): Promise<void> {
    const mine = ++generation;
    try {
      const path = `/api/v1/clusters/${encodeURIComponent(name)}`;
      const [got, events] = await Promise.all([
        api.get<GetClusterJson>(path),
        api.get<ListEventsJson>("/api/v1/events", { cluster: name, pageSize: EVENT_PAGE }),
      ]);
      if (mine !== generation || destroyed) return;
      render(got, events);
    } catch (error) {
      if (mine !== generation || destroyed) return;
      const message = error instanceof Error ? error.message : String(error);
      replaceChildren(element, heading(), el("p", { class: "error", role: "alert" }, message));
    } finally {
      if (mine === generation) element.removeAttribute("aria-busy");
    }
  }

  function render({ cluster, apps }: GetClusterJson, { events }: ListEventsJson): void {
    const labels = Object.entries(cluster.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const delivering = cluster.desiredSeq !== cluster.ackedSeq;
    replaceChildren(
      element,
      heading(connectionBadge(cluster.connection)),
      detailsList([
        [
          "Labels",
          labels.length === 0
            ? ""
            : el(
                "span",
                { class: "label-list" },
                labels.map(([key, value]) =>
                  el(
                    "a",
                    { class: "label", href: gridHash({ selector: `${key}=${value}` }) },
                    `${key}=${value}`,
                  ),
                ),
              ),
        ],
        ["Connection", connectionBadge(cluster.connection)],
        [
          "Last seen",
          cluster.lastSeenAt
            ? el(
                "time",
                { datetime: cluster.lastSeenAt, title: formatTime(cluster.lastSeenAt) },
                formatAgo(cluster.lastSeenAt),
              )
            : "never",
        ],
        ["Registered", formatTime(cluster.registeredAt)],
        ["API server", el("span", { class: "mono" }, cluster.serverUrl)],
        ["Agent version", cluster.agentVersion],
        ["Kubernetes version", cluster.kubeVersion],
        ["Hub replica", cluster.hubReplica],
        [
          "Desired state",
          `seq ${cluster.desiredSeq}, acknowledged ${cluster.ackedSeq}${delivering ? " (delivery in flight)" : ""}`,
        ],
      ]),
      section(
        `Apps (${apps.length})`,
        "cluster-apps",
        apps.length === 0
          ? el("p", { class: "empty" }, "No app targets this cluster.")
          : listTable(
              { class: "list", id: "cluster-apps-table" },
              ["App", "Health", "Sync", "Revision", "Wanted", "Message", "Observed"],
              apps.map((app) =>
                el(
                  "tr",
                  { "data-app": app.app },
                  el("th", { scope: "row" }, el("a", { href: appHash(app.app, name) }, app.app)),
                  el("td", {}, healthBadge(app.healthStatus)),
                  el("td", {}, syncBadge(app.syncStatus)),
                  el("td", { class: "mono", title: app.revision ?? "" }, shortRevision(app.revision)),
                  el(
                    "td",
                    { class: "mono", title: app.desiredRevision ?? "" },
                    shortRevision(app.desiredRevision),
                    app.desiredDigest && !app.delivered
                      ? el("span", { class: "muted" }, " (not delivered)")
                      : null,
                  ),
                  el("td", { class: "message" }, app.message ?? ""),
                  el("td", { class: "nowrap" }, formatAgo(app.observedAt)),
                ),
              ),
            ),
      ),
      section("Recent events", "cluster-events", eventsTable(events, `Events of cluster ${name}`)),
    );
  }

  return {
    element,
    update() {},
    handleChange(change: LiveChange) {
      if (change.kind === "resync") return reloadSoon();
      const { message } = change;
      const about =
        message.statusChanged?.cluster ??
        message.statusRemoved?.cluster ??
        message.clusterChanged?.name ??
        message.clusterRemoved;
      if (about === name || message.dropped !== undefined) reloadSoon();
    },
    destroy() {
      destroyed = true;
      generation += 1;
      reloadSoon.cancel();
    },
  };
}
