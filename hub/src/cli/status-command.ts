import { timestampDate } from "@bufbuild/protobuf/wkt";
import { type Cluster, ConnectionState, type FleetStatusRow } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { HEALTH_NAMES, SYNC_NAMES } from "@flotilla/proto/status-names";
import { parseLabelSelector } from "../fleet/label-selector.js";
import { type Command, UsageError } from "./command.js";
import { type Cell, type Colour, formatLabels, formatTable, oneLine, useColour } from "./format-table.js";
import { collectPages, noPositionals, parseHubArgs, withFleetClient } from "./hub-context.js";
import { readOutput } from "./render-command.js";

export type ClusterState = "Connected" | "Disconnected" | "Pending";

/** The `status -o json` document (the contract e2e tests and scripts read). */
export type StatusDocument = {
  clusters: {
    name: string;
    labels: Record<string, string>;
    state: ClusterState;
    /** ISO time of the agent's last message; null before its first. */
    lastSeen: string | null;
    apps: { name: string; sync: string; health: string; revision: string; message: string }[];
  }[];
};

export { HEALTH_NAMES, SYNC_NAMES };

// A stale stream counts as disconnected: nothing arrives from the agent either way.
const STATE_NAMES: Record<ConnectionState, ClusterState> = {
  [ConnectionState.UNSPECIFIED]: "Disconnected",
  [ConnectionState.PENDING]: "Pending",
  [ConnectionState.CONNECTED]: "Connected",
  [ConnectionState.STALE]: "Disconnected",
  [ConnectionState.DISCONNECTED]: "Disconnected",
};

export function clusterStateName(state: ConnectionState): ClusterState {
  return STATE_NAMES[state] ?? "Disconnected";
}

export const COLOURS: Record<string, Colour> = {
  Connected: "green",
  Disconnected: "red",
  Pending: "yellow",
  Synced: "green",
  OutOfSync: "yellow",
  Healthy: "green",
  Progressing: "yellow",
  Degraded: "red",
  Missing: "red",
  Suspended: "grey",
  Unknown: "grey",
};

/** A status name as a cell coloured by what it means. */
export function statusCell(name: string): Cell {
  const colour = COLOURS[name];
  return colour ? { text: name, colour } : name;
}

/**
 * The status document: every listed cluster with its rows, both sorted by name. With
 * `onlyWithApps` (an app filter was given) clusters without a matching row are left out. A row
 * of a cluster the list missed (registered between the two calls) still shows, with what the
 * row knows.
 */
export function toStatusDocument(
  clusters: readonly Cluster[],
  rows: readonly FleetStatusRow[],
  onlyWithApps: boolean,
): StatusDocument {
  const byName = new Map<string, StatusDocument["clusters"][number]>();
  for (const cluster of clusters) {
    byName.set(cluster.name, {
      name: cluster.name,
      labels: { ...cluster.labels },
      state: clusterStateName(cluster.connection),
      lastSeen: cluster.lastSeenAt ? timestampDate(cluster.lastSeenAt).toISOString() : null,
      apps: [],
    });
  }
  for (const row of rows) {
    let entry = byName.get(row.cluster);
    if (!entry) {
      entry = {
        name: row.cluster,
        labels: {},
        state: clusterStateName(row.connection),
        lastSeen: null,
        apps: [],
      };
      byName.set(row.cluster, entry);
    }
    entry.apps.push({
      name: row.app,
      sync: SYNC_NAMES[row.syncStatus] ?? "Unknown",
      health: HEALTH_NAMES[row.healthStatus] ?? "Unknown",
      revision: row.revision,
      message: row.message,
    });
  }
  const byText = (a: { name: string }, b: { name: string }) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  const list = [...byName.values()].filter((c) => !onlyWithApps || c.apps.length > 0).sort(byText);
  for (const cluster of list) cluster.apps.sort(byText);
  return { clusters: list };
}

/** One row per cluster and app (a cluster without apps gets one row with app "-"); wide adds labels and last seen. */
export function formatStatusTable(document: StatusDocument, wide: boolean, colour: boolean): string {
  const header = ["CLUSTER", "STATE", "APP", "SYNC", "HEALTH", "REVISION"];
  if (wide) header.push("LABELS", "LAST SEEN");
  header.push("MESSAGE");
  const rows: Cell[][] = [];
  for (const cluster of document.clusters) {
    const extra = wide
      ? [formatLabels(cluster.labels), cluster.lastSeen?.replace(/\.\d{3}Z$/, "Z") ?? "-"]
      : [];
    if (cluster.apps.length === 0) {
      rows.push([cluster.name, statusCell(cluster.state), "-", "", "", "", ...extra, ""]);
    }
    for (const app of cluster.apps) {
      rows.push([
        cluster.name,
        statusCell(cluster.state),
        app.name,
        statusCell(app.sync),
        statusCell(app.health),
        app.revision ? app.revision.slice(0, 7) : "-",
        ...extra,
        oneLine(app.message, wide ? undefined : 80),
      ]);
    }
  }
  return formatTable(header, rows, colour);
}

/**
 * Reads `--health`/`--sync` values: names as shown (Healthy, OutOfSync), in any case, with or
 * without dashes, repeated or comma-separated.
 */
export function readStatusFilter<T extends number>(
  values: readonly string[] | undefined,
  names: Record<T, string>,
  flag: string,
): T[] {
  const known = new Map<string, T>();
  for (const [value, name] of Object.entries(names) as [string, string][]) {
    const key = name.toLowerCase();
    if (!known.has(key) || Number(value) !== 0) known.set(key, Number(value) as T);
  }
  const picked = new Set<T>();
  for (const value of (values ?? []).flatMap((v) => v.split(","))) {
    const found = known.get(value.trim().toLowerCase().replace(/[-_ ]/g, ""));
    if (found === undefined) {
      const allowed = (Object.entries(names) as [string, string][])
        .filter(([value]) => Number(value) !== 0)
        .map(([, name]) => name)
        .join(", ");
      throw new UsageError(`${flag} "${value}" is not one of ${allowed}`);
    }
    picked.add(found);
  }
  return [...picked];
}

/** Checks a label selector before it goes to the hub, so a typo is a usage error. */
export function readSelector(text: string | undefined): string {
  if (!text) return "";
  try {
    parseLabelSelector(text);
  } catch (error) {
    throw new UsageError(`--selector: ${(error as Error).message}`);
  }
  return text;
}

const PAGE_SIZE = 500;

export const statusCommand: Command = {
  path: ["status"],
  summary: "Fleet status: what runs where, at which revision, and is it healthy",
  usage:
    "flotilla status [--selector <label selector>] [--app <name>] [--health <h>[,<h>]] [--sync <s>[,<s>]] [--problems] [-o table|wide|json] [--hub <url>] [--token <token>] [--ca <file>]",
  run: async (args, io) => {
    const { values, positionals } = parseHubArgs(args, {
      selector: { type: "string", short: "l" },
      app: { type: "string" },
      health: { type: "string", multiple: true },
      sync: { type: "string", multiple: true },
      problems: { type: "boolean", default: false },
      output: { type: "string", short: "o" },
    });
    noPositionals(positionals);
    const output = readOutput(values.output, ["table", "wide", "json"]);
    const selector = readSelector(values.selector);
    const health = readStatusFilter(values.health, HEALTH_NAMES, "--health");
    const sync = readStatusFilter(values.sync, SYNC_NAMES, "--sync");
    const app = values.app ?? "";
    const problemsOnly = values.problems ?? false;
    const filtered = app !== "" || health.length > 0 || sync.length > 0 || problemsOnly;

    return withFleetClient(io, values, async ({ client, callOptions }) => {
      const clusters = await collectPages("ListClusters", async (pageToken) => {
        const page = await client.listClusters({ selector, pageSize: PAGE_SIZE, pageToken }, callOptions);
        return { items: page.clusters, nextPageToken: page.nextPageToken };
      });
      const rows = await collectPages("GetFleetStatus", async (pageToken) => {
        const page = await client.getFleetStatus(
          { selector, app, health, sync, problemsOnly, pageSize: PAGE_SIZE, pageToken },
          callOptions,
        );
        return { items: page.rows, nextPageToken: page.nextPageToken };
      });
      const document = toStatusDocument(clusters, rows, filtered);
      if (output === "json") io.stdout(`${JSON.stringify(document, null, 2)}\n`);
      else if (document.clusters.length === 0) io.stderr(filtered ? "No apps match.\n" : "No clusters.\n");
      else io.stdout(formatStatusTable(document, output === "wide", useColour(io)));
      return 0;
    });
  },
};
