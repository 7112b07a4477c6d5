/**
 * The fleet grid: clusters as rows, apps as columns, each cell coloured by health with a sync
 * marker. Filters and counts come from the hub (/api/v1/grid), which pages by cluster; the
 * table renders only the rows in view (fixed row height, spacer rows above and below) and
 * fetches the next page as the view nears the end of what is loaded, so 10,000 clusters stay
 * smooth. Live changes update loaded cells in place; counts follow, debounced.
 */

import { columnOf } from "../../src/fleet/grid-column.js";
import type { Counts, GridApp, GridCluster, GridPage, StatusRowJson } from "./api-types.js";
import { el, replaceChildren } from "./elements.js";
import { formatAgo, formatLabels, shortRevision } from "./format.js";
import type { LiveChange } from "./live-updates.js";
import { appHash, clusterHash, gridHash, type Route } from "./router.js";
import {
  connectionClass,
  connectionOf,
  HEALTHS,
  type Health,
  healthClass,
  healthOf,
  SYNCS,
  type Sync,
  syncClass,
  syncOf,
} from "./status-names.js";
import { debounce, type View, type ViewContext } from "./view.js";

/** Pixels; must match `.grid tbody tr` in dashboard.css. */
const ROW_HEIGHT = 28;
const PAGE_SIZE = 200;
/** The most one request asks for when the view jumped ahead of what is loaded. */
const MAX_PAGE_SIZE = 600;
/** Rows rendered above and below the visible ones. */
const OVERSCAN = 10;
/** Fetch more when the view comes this close to the last loaded row. */
const PREFETCH_ROWS = 40;
/** Up to this many loaded rows, a live change reloads them all (filters stay exact). */
const SMALL_FLEET = PAGE_SIZE;

type Filters = { selector: string; app: string; health: string; sync: string; problems: boolean };

const HEALTH_LABELS: Record<Health, string> = {
  Healthy: "Healthy",
  Progressing: "Progressing",
  Degraded: "Degraded",
  Suspended: "Suspended",
  Missing: "Missing",
  Unknown: "Unknown",
};

function filtersOf(params: URLSearchParams): Filters {
  const problems = params.get("problems") ?? "";
  // Any case in a hand-written link, the canonical name in the select boxes.
  const canonical = (value: string | null, names: readonly string[]) =>
    names.find((name) => name.toLowerCase() === (value ?? "").toLowerCase()) ?? value ?? "";
  return {
    selector: params.get("selector") ?? "",
    app: params.get("app") ?? "",
    health: canonical(params.get("health"), HEALTHS),
    sync: canonical(params.get("sync"), SYNCS),
    problems: problems === "1" || problems === "true",
  };
}

function sameFilters(a: Filters, b: Filters): boolean {
  return (
    a.selector === b.selector &&
    a.app === b.app &&
    a.health === b.health &&
    a.sync === b.sync &&
    a.problems === b.problems
  );
}

function isFiltered(filters: Filters): boolean {
  return (
    filters.selector.trim() !== "" ||
    filters.app !== "" ||
    filters.health !== "" ||
    filters.sync !== "" ||
    filters.problems
  );
}

export function createGridView(context: ViewContext, route: Route): View {
  const { api } = context;
  let filters = filtersOf(route.params);

  // What is loaded: rows in cluster-name order, the cursor for more, and the server's totals.
  let rows: GridCluster[] = [];
  let rowIndex = new Map<string, number>();
  let next: string | null = null;
  let matchedClusters = 0;
  let allApps: string[] = [];
  let counts: Counts | undefined;
  let countsByApp: Record<string, Counts> = {};
  let columns: string[] = [];
  /** Bumped on every reload; answers for an older generation are dropped. */
  let generation = 0;
  let loadingMore = false;
  let rendered = { first: -1, last: -1 };
  let destroyed = false;

  const selectorInput = el("input", {
    id: "filter-selector",
    type: "search",
    name: "selector",
    placeholder: "env=prod,tier!=edge",
    autocomplete: "off",
    spellcheck: "false",
    "aria-describedby": "filter-error",
  });
  const appSelect = el("select", { id: "filter-app", name: "app" });
  const healthSelect = el(
    "select",
    { id: "filter-health", name: "health" },
    el("option", { value: "" }, "Any health"),
    HEALTHS.map((health) => el("option", { value: health }, health)),
  );
  const syncSelect = el(
    "select",
    { id: "filter-sync", name: "sync" },
    el("option", { value: "" }, "Any sync"),
    SYNCS.map((sync) => el("option", { value: sync }, sync)),
  );
  const problemsBox = el("input", { id: "filter-problems", type: "checkbox", name: "problems" });
  const clearButton = el("button", { type: "button", class: "secondary" }, "Clear");
  const form = el(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter the fleet" },
    el("label", { class: "field grow" }, el("span", {}, "Label selector"), selectorInput),
    el("label", { class: "field" }, el("span", {}, "App"), appSelect),
    el("label", { class: "field" }, el("span", {}, "Health"), healthSelect),
    el("label", { class: "field" }, el("span", {}, "Sync"), syncSelect),
    el("label", { class: "check" }, problemsBox, el("span", {}, "Problems only")),
    clearButton,
  );
  const errorLine = el("p", { id: "filter-error", class: "error", role: "alert", hidden: true });
  const summary = el("div", { class: "summary", "aria-live": "polite", id: "grid-summary" });
  const thead = el("thead");
  const tbody = el("tbody");
  const table = el(
    "table",
    { class: "grid", id: "fleet-grid", "aria-label": "Clusters by apps" },
    thead,
    tbody,
  );
  const scroller = el("div", { class: "grid-scroll", tabindex: 0 }, table);
  const empty = el("p", { class: "empty", hidden: true });
  const element = el("section", { class: "grid-view" }, form, errorLine, summary, scroller, empty);

  context.setTitle("Fleet");
  writeInputs();

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    applyInputs();
  });
  const typed = debounce(applyInputs, 350);
  selectorInput.addEventListener("input", typed);
  for (const control of [appSelect, healthSelect, syncSelect, problemsBox]) {
    control.addEventListener("change", applyInputs);
  }
  clearButton.addEventListener("click", () => {
    selectorInput.value = "";
    appSelect.value = "";
    healthSelect.value = "";
    syncSelect.value = "";
    problemsBox.checked = false;
    applyInputs();
  });

  let frame = 0;
  scroller.addEventListener("scroll", () => {
    if (frame !== 0) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      renderRows(false);
    });
  });
  const resized = new ResizeObserver(() => renderRows(false));
  resized.observe(scroller);

  const refreshSoon = debounce(() => void refresh(), 500);
  void reload(true);

  function writeInputs(): void {
    selectorInput.value = filters.selector;
    fillAppOptions();
    healthSelect.value = filters.health;
    syncSelect.value = filters.sync;
    problemsBox.checked = filters.problems;
  }

  function fillAppOptions(): void {
    const names = filters.app !== "" && !allApps.includes(filters.app) ? [...allApps, filters.app] : allApps;
    replaceChildren(
      appSelect,
      el("option", { value: "" }, "Any app"),
      names.map((name) => el("option", { value: name }, name)),
    );
    appSelect.value = filters.app;
  }

  function applyInputs(): void {
    typed.cancel();
    const wanted: Filters = {
      selector: selectorInput.value.trim(),
      app: appSelect.value,
      health: healthSelect.value,
      sync: syncSelect.value,
      problems: problemsBox.checked,
    };
    if (sameFilters(wanted, filters)) return;
    filters = wanted;
    // In place: a filtered view is linkable without a history entry per keystroke.
    history.replaceState(null, "", gridHash({ ...filters }));
    void reload(true);
  }

  function query(after: string | null, limit: number) {
    return {
      selector: filters.selector,
      app: filters.app,
      health: filters.health,
      sync: filters.sync,
      problems: filters.problems ? "true" : undefined,
      after: after ?? undefined,
      limit,
    };
  }

  /** Loads the first page again; `toTop` scrolls back up (new filters), else the view stays. */
  async function reload(toTop: boolean): Promise<void> {
    const mine = ++generation;
    loadingMore = false;
    const wanted = toTop ? PAGE_SIZE : Math.min(MAX_PAGE_SIZE, Math.max(PAGE_SIZE, rows.length));
    element.setAttribute("aria-busy", "true");
    try {
      const page = await api.get<GridPage>("/api/v1/grid", query(null, wanted));
      if (mine !== generation || destroyed) return;
      errorLine.hidden = true;
      rows = page.clusters;
      rowIndex = new Map(rows.map((row, at) => [row.name, at]));
      next = page.next;
      takeTotals(page);
      if (toTop) scroller.scrollTop = 0;
      renderAll();
    } catch (error) {
      if (mine !== generation || destroyed) return;
      showError(error);
    } finally {
      if (mine === generation) element.removeAttribute("aria-busy");
    }
  }

  /** Loads pages after the last loaded row until row `upTo` is loaded. */
  async function loadMore(upTo: number): Promise<void> {
    if (loadingMore || next === null) return;
    loadingMore = true;
    const mine = generation;
    try {
      const limit = Math.min(MAX_PAGE_SIZE, Math.max(PAGE_SIZE, upTo - rows.length + PREFETCH_ROWS));
      const page = await api.get<GridPage>("/api/v1/grid", query(next, limit));
      if (mine !== generation || destroyed) return;
      for (const cluster of page.clusters) {
        if (rowIndex.has(cluster.name)) continue;
        rowIndex.set(cluster.name, rows.length);
        rows.push(cluster);
      }
      next = page.next;
      takeTotals(page);
      renderAll();
    } catch (error) {
      if (mine === generation && !destroyed) showError(error);
    } finally {
      if (mine === generation) loadingMore = false;
    }
  }

  /** After live changes: exact reload for a small fleet, counts only for a large one. */
  async function refresh(): Promise<void> {
    if (rows.length <= SMALL_FLEET && next === null) return reload(false);
    const mine = generation;
    try {
      const page = await api.get<GridPage>("/api/v1/grid", query(null, 1));
      if (mine !== generation || destroyed) return;
      takeTotals(page);
      renderAll();
    } catch (error) {
      if (mine === generation && !destroyed) showError(error);
    }
  }

  function takeTotals(page: GridPage): void {
    matchedClusters = page.matchedClusters;
    counts = page.counts;
    countsByApp = page.countsByApp;
    if (page.apps.join("\n") !== allApps.join("\n")) {
      allApps = page.apps;
      fillAppOptions();
    }
  }

  function showError(error: unknown): void {
    errorLine.textContent = error instanceof Error ? error.message : String(error);
    errorLine.hidden = false;
  }

  function chooseColumns(): string[] {
    if (filters.app !== "") return [filters.app];
    if (!isFiltered(filters)) return allApps;
    return allApps.filter((app) => countsByApp[app] !== undefined);
  }

  function totalRows(): number {
    return next === null ? rows.length : Math.max(matchedClusters, rows.length);
  }

  function renderAll(): void {
    renderSummary();
    const wanted = chooseColumns();
    if (wanted.join("\n") !== columns.join("\n") || thead.childElementCount === 0) {
      columns = wanted;
      renderHead();
    }
    table.setAttribute("aria-rowcount", String(totalRows() + 1));
    table.setAttribute("aria-colcount", String(columns.length + 2));
    const none = totalRows() === 0;
    empty.hidden = !none;
    empty.textContent = isFiltered(filters) ? "No cluster matches these filters." : "No clusters yet.";
    renderRows(true);
  }

  function renderSummary(): void {
    if (!counts) return;
    const c = counts;
    const chip = (label: string, value: number, className: string, filter?: Partial<Filters>) => {
      const content = [el("span", { class: "chip-count" }, value.toLocaleString()), ` ${label}`];
      if (!filter) return el("span", { class: `chip ${className}` }, content);
      const button = el(
        "button",
        {
          type: "button",
          class: `chip ${className}${value === 0 ? " zero" : ""}`,
          title: `Show only ${label}`,
        },
        content,
      );
      button.addEventListener("click", () => {
        if (filter.health !== undefined) healthSelect.value = filter.health;
        if (filter.sync !== undefined) syncSelect.value = filter.sync;
        applyInputs();
      });
      return button;
    };
    replaceChildren(
      summary,
      el(
        "span",
        { class: "chip total", id: "matched-clusters" },
        el("span", { class: "chip-count" }, matchedClusters.toLocaleString()),
        matchedClusters === 1 ? " cluster" : " clusters",
      ),
      el(
        "span",
        { class: "chip total" },
        el("span", { class: "chip-count" }, c.total.toLocaleString()),
        " apps",
      ),
      el(
        "span",
        { class: "chip-group", role: "group", "aria-label": "Apps by health" },
        chip("Healthy", c.healthy, "health-healthy", { health: "Healthy" }),
        chip("Progressing", c.progressing, "health-progressing", { health: "Progressing" }),
        chip("Degraded", c.degraded, "health-degraded", { health: "Degraded" }),
        chip("Suspended", c.suspended, "health-suspended", { health: "Suspended" }),
        chip("Missing", c.missing, "health-missing", { health: "Missing" }),
        chip("Unknown", c.healthUnknown, "health-unknown", { health: "Unknown" }),
      ),
      el(
        "span",
        { class: "chip-group", role: "group", "aria-label": "Apps by sync" },
        chip("Synced", c.synced, "sync-synced", { sync: "Synced" }),
        chip("OutOfSync", c.outOfSync, "sync-outofsync", { sync: "OutOfSync" }),
        chip("Unknown", c.syncUnknown, "sync-unknown", { sync: "Unknown" }),
      ),
    );
  }

  function renderHead(): void {
    replaceChildren(
      thead,
      el(
        "tr",
        { "aria-rowindex": 1 },
        el("th", { scope: "col", class: "corner" }, "Cluster"),
        el("th", { scope: "col", class: "labels" }, "Labels"),
        columns.map((app) => {
          const appCounts = countsByApp[app];
          const unhealthy = appCounts ? appCounts.total - appCounts.healthy : 0;
          return el(
            "th",
            { scope: "col", class: "app", title: app },
            el("a", { href: appHash(app) }, app),
            unhealthy > 0
              ? el("span", { class: "col-bad", title: `${unhealthy} not Healthy` }, String(unhealthy))
              : null,
          );
        }),
      ),
    );
  }

  /** Renders the rows in view; `force` re-renders even when the range did not change. */
  function renderRows(force: boolean): void {
    if (destroyed) return;
    const total = totalRows();
    const headHeight = thead.offsetHeight;
    const top = Math.max(0, scroller.scrollTop - headHeight);
    const height = scroller.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(total, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
    if (last > rows.length - PREFETCH_ROWS && next !== null) void loadMore(last);
    if (!force && first === rendered.first && last === rendered.last) return;
    rendered = { first, last };
    const span = columns.length + 2;
    const spacer = (rowsHidden: number) => {
      const cell = el("td", { colspan: span });
      const row = el("tr", { class: "spacer", "aria-hidden": "true" }, cell);
      row.style.height = `${rowsHidden * ROW_HEIGHT}px`;
      if (rowsHidden === 0) row.hidden = true;
      return row;
    };
    const built: HTMLTableRowElement[] = [spacer(first)];
    for (let at = first; at < last; at++) built.push(buildRow(at));
    built.push(spacer(total - last));
    tbody.replaceChildren(...built);
  }

  function buildRow(at: number): HTMLTableRowElement {
    const cluster = rows[at];
    if (!cluster) {
      return el(
        "tr",
        { class: "loading", "aria-rowindex": at + 2 },
        el("th", { scope: "row", class: "name" }, "…"),
        el("td", { colspan: columns.length + 1 }, "loading"),
      );
    }
    const connection = connectionOf(cluster.connection);
    const apps = new Map<string, GridApp>();
    // An app named like its column wins over one that only falls into it.
    for (const app of cluster.apps)
      if (!apps.has(app.column) || app.app === app.column) apps.set(app.column, app);
    return el(
      "tr",
      { "aria-rowindex": at + 2, "data-cluster": cluster.name },
      el(
        "th",
        { scope: "row", class: "name" },
        el("span", {
          class: `conn ${connectionClass(connection)}`,
          role: "img",
          "aria-label": connection,
          title: `${connection}; last seen ${formatAgo(cluster.lastSeen)}`,
        }),
        el("a", { href: clusterHash(cluster.name), title: cluster.name }, cluster.name),
      ),
      el("td", { class: "labels", title: formatLabels(cluster.labels) }, formatLabels(cluster.labels)),
      columns.map((app) => buildCell(cluster.name, app, apps.get(app))),
    );
  }

  function buildCell(cluster: string, column: string, app: GridApp | undefined): HTMLTableCellElement {
    if (!app) {
      return el("td", {
        class: "cell none",
        "data-app": column,
        "aria-label": `${column} on ${cluster}: not targeted`,
      });
    }
    const health = healthOf(app.health);
    const sync = syncOf(app.sync);
    const label = cellLabel(cluster, app, health, sync);
    const details = [
      label,
      app.app !== app.column ? `app ${app.app}` : "",
      app.message,
      app.revision ? `revision ${shortRevision(app.revision)}` : "",
      app.desiredRevision && app.desiredRevision !== app.revision
        ? `wanted ${shortRevision(app.desiredRevision)}${app.delivered ? "" : " (not delivered yet)"}`
        : "",
    ].filter((line) => line !== "");
    const classes = ["cell", healthClass(health), syncClass(sync)];
    if (app.stale) classes.push("stale");
    if (app.problem) classes.push("problem");
    return el(
      "td",
      { class: classes.join(" "), "data-app": column, "aria-label": label, title: details.join("\n") },
      el("a", { href: appHash(app.app, cluster), tabindex: -1 }, HEALTH_LABELS[health]),
    );
  }

  /** Applies one live change to a loaded row and redraws it if it is in view. */
  function applyStatus(row: StatusRowJson, removed: boolean): void {
    const at = rowIndex.get(row.cluster);
    const cluster = at === undefined ? undefined : rows[at];
    if (at === undefined || !cluster) return;
    const apps = cluster.apps.filter((app) => app.app !== row.app);
    const previous = cluster.apps.find((app) => app.app === row.app);
    if (!removed) {
      const connection = row.connection ? connectionOf(row.connection) : undefined;
      apps.push({
        app: row.app,
        column: columnOf(row.app, row.cluster),
        sync: syncOf(row.syncStatus),
        health: healthOf(row.healthStatus),
        stale: connection === undefined ? (previous?.stale ?? false) : connection !== "Connected",
        problem: (row.problemCount ?? 0) > 0,
        message: row.message ?? "",
        revision: row.revision ?? "",
        desiredRevision: row.desiredRevision ?? "",
        delivered: row.delivered ?? false,
      });
      apps.sort((a, b) => (a.app < b.app ? -1 : a.app > b.app ? 1 : 0));
    }
    cluster.apps = apps;
    redrawRow(at, columnOf(row.app, row.cluster));
  }

  function redrawRow(at: number, changedApp?: string): void {
    if (at < rendered.first || at >= rendered.last) return;
    const current = tbody.querySelector(`tr[aria-rowindex="${at + 2}"]`);
    if (!current) return;
    const fresh = buildRow(at);
    if (changedApp !== undefined) {
      for (const cell of fresh.querySelectorAll<HTMLElement>("td.cell")) {
        if (cell.dataset.app === changedApp) cell.classList.add("changed");
      }
    }
    current.replaceWith(fresh);
  }

  return {
    element,
    update(changed) {
      const wanted = filtersOf(changed.params);
      if (sameFilters(wanted, filters)) return;
      filters = wanted;
      writeInputs();
      void reload(true);
    },
    handleChange(change: LiveChange) {
      if (change.kind === "resync") {
        void reload(false);
        return;
      }
      const { message } = change;
      if (message.statusChanged) applyStatus(message.statusChanged, false);
      else if (message.statusRemoved) applyStatus(message.statusRemoved, true);
      else if (message.clusterChanged) {
        const changed = message.clusterChanged;
        const at = rowIndex.get(changed.name);
        const cluster = at === undefined ? undefined : rows[at];
        if (at !== undefined && cluster) {
          if (changed.connection) cluster.connection = connectionOf(changed.connection);
          if (changed.labels) cluster.labels = changed.labels;
          if (changed.lastSeenAt) cluster.lastSeen = changed.lastSeenAt;
          redrawRow(at);
        }
      } else if (message.dropped !== undefined) {
        void reload(false);
        return;
      }
      refreshSoon();
    },
    destroy() {
      destroyed = true;
      generation += 1;
      typed.cancel();
      refreshSoon.cancel();
      resized.disconnect();
      if (frame !== 0) cancelAnimationFrame(frame);
    },
  };
}

/** "web on prod-1: Healthy, Synced" (by column), plus ", stale" and ", problem" when they apply. */
function cellLabel(cluster: string, app: GridApp, health: Health, sync: Sync): string {
  return `${app.column} on ${cluster}: ${health}, ${sync}${app.stale ? ", stale" : ""}${app.problem ? ", problem" : ""}`;
}
