import { toJson } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { parseDuration } from "@flotilla/proto/duration";
import {
  type Cluster,
  ClusterSchema,
  type GetClusterResponse,
  GetClusterResponseSchema,
} from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { type Command, UsageError } from "./command.js";
import { type Cell, formatLabels, formatTable, formatTimestamp, oneLine, useColour } from "./format-table.js";
import { collectPages, noPositionals, parseHubArgs, withFleetClient } from "./hub-context.js";
import { parseLabelChanges } from "./parse-label-changes.js";
import { readOutput } from "./render-command.js";
import { clusterStateName, HEALTH_NAMES, readSelector, SYNC_NAMES, statusCell } from "./status-command.js";

const HUB_USAGE = "[--hub <url>] [--token <token>] [--ca <file>]";

/** The one positional argument a command takes, or a usage error. */
export function readName(positionals: readonly string[], what: string): string {
  const [name, extra] = positionals;
  if (!name) throw new UsageError(`the ${what} is required`);
  if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`);
  return name;
}

/** A duration flag in milliseconds, or a usage error naming the flag. */
export function readDurationMs(text: string, flag: string): number {
  try {
    return parseDuration(text, flag);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export function formatClusterTable(clusters: readonly Cluster[], wide: boolean, colour: boolean): string {
  const header = ["NAME", "STATE", "APPS", "SYNCED", "HEALTHY", "LAST SEEN"];
  if (wide) header.push("LABELS", "AGENT", "KUBERNETES", "SERVER");
  const rows = clusters.map((cluster): Cell[] => {
    const row: Cell[] = [
      cluster.name,
      statusCell(clusterStateName(cluster.connection)),
      String(cluster.apps?.total ?? 0),
      String(cluster.apps?.synced ?? 0),
      String(cluster.apps?.healthy ?? 0),
      formatTimestamp(cluster.lastSeenAt),
    ];
    if (wide) {
      row.push(
        formatLabels(cluster.labels),
        cluster.agentVersion || "-",
        cluster.kubeVersion || "-",
        cluster.serverUrl || "-",
      );
    }
    return row;
  });
  return formatTable(header, rows, colour);
}

/** `cluster get`: the cluster's fields, then one line per app. */
export function formatClusterDetails(response: GetClusterResponse, wide: boolean, colour: boolean): string {
  const cluster = response.cluster;
  if (!cluster) return "";
  const fields: [string, string][] = [
    ["Name", cluster.name],
    ["ID", cluster.id],
    ["State", clusterStateName(cluster.connection)],
    ["Labels", formatLabels(cluster.labels)],
    ["Server", cluster.serverUrl || "-"],
    ["Agent", cluster.agentVersion || "-"],
    ["Kubernetes", cluster.kubeVersion || "-"],
    ["Registered", formatTimestamp(cluster.registeredAt)],
    ["Last seen", formatTimestamp(cluster.lastSeenAt)],
    ["Desired seq", `${cluster.desiredSeq} (acknowledged ${cluster.ackedSeq})`],
    ["Hub replica", cluster.hubReplica || "-"],
    ["Credential rotated", formatTimestamp(cluster.credentialRotatedAt)],
  ];
  const width = Math.max(...fields.map(([label]) => label.length)) + 1;
  const lines = fields.map(([label, value]) => `${`${label}:`.padEnd(width)}  ${value}`);
  if (response.apps.length === 0) return `${lines.join("\n")}\n\nNo apps target this cluster.\n`;
  const header = ["APP", "SYNC", "HEALTH", "REVISION"];
  if (wide) header.push("DESIRED", "DELIVERED", "PROBLEMS");
  header.push("MESSAGE");
  const rows = response.apps.map((row): Cell[] => [
    row.app,
    statusCell(SYNC_NAMES[row.syncStatus] ?? "Unknown"),
    statusCell(HEALTH_NAMES[row.healthStatus] ?? "Unknown"),
    row.revision ? row.revision.slice(0, 7) : "-",
    ...(wide
      ? [
          row.desiredRevision ? row.desiredRevision.slice(0, 7) : "-",
          row.delivered ? "yes" : "no",
          String(row.problemCount),
        ]
      : []),
    oneLine(row.message, wide ? undefined : 80),
  ]);
  return `${lines.join("\n")}\n\n${formatTable(header, rows, colour)}`;
}

export const clusterListCommand: Command = {
  path: ["cluster", "list"],
  summary: "List registered clusters with their connection and app counts",
  usage: `flotilla cluster list [--selector <label selector>] [-o table|wide|json] ${HUB_USAGE}`,
  run: async (args, io) => {
    const { values, positionals } = parseHubArgs(args, {
      selector: { type: "string", short: "l" },
      output: { type: "string", short: "o" },
    });
    noPositionals(positionals);
    const output = readOutput(values.output, ["table", "wide", "json"]);
    const selector = readSelector(values.selector);
    return withFleetClient(io, values, async ({ client, callOptions }) => {
      const clusters = await collectPages("ListClusters", async (pageToken) => {
        const page = await client.listClusters({ selector, pageSize: 500, pageToken }, callOptions);
        return { items: page.clusters, nextPageToken: page.nextPageToken };
      });
      if (output === "json") {
        const document = { clusters: clusters.map((c) => toJson(ClusterSchema, c)) };
        io.stdout(`${JSON.stringify(document, null, 2)}\n`);
      } else if (clusters.length === 0) io.stderr("No clusters.\n");
      else io.stdout(formatClusterTable(clusters, output === "wide", useColour(io)));
      return 0;
    });
  },
};

export const clusterGetCommand: Command = {
  path: ["cluster", "get"],
  summary: "Show one cluster, its labels, apps and connection",
  usage: `flotilla cluster get <name> [-o table|wide|json] ${HUB_USAGE}`,
  run: async (args, io) => {
    const { values, positionals } = parseHubArgs(args, { output: { type: "string", short: "o" } });
    const name = readName(positionals, "cluster name");
    const output = readOutput(values.output, ["table", "wide", "json"]);
    return withFleetClient(io, values, async ({ client, callOptions }) => {
      const response = await client.getCluster({ name }, callOptions);
      if (output === "json")
        io.stdout(`${JSON.stringify(toJson(GetClusterResponseSchema, response), null, 2)}\n`);
      else io.stdout(formatClusterDetails(response, output === "wide", useColour(io)));
      return 0;
    });
  },
};

export const clusterLabelCommand: Command = {
  path: ["cluster", "label"],
  summary: "Add, change or remove labels of a cluster (key=value sets, key- removes)",
  usage: `flotilla cluster label <name> <key>=<value>... <key>-... ${HUB_USAGE}`,
  run: async (args, io) => {
    const { values, positionals } = parseHubArgs(args, {});
    const [name, ...changes] = positionals;
    if (!name) throw new UsageError("the cluster name is required");
    if (changes.length === 0) throw new UsageError("give at least one label change: key=value or key-");
    const { set, remove } = parseLabelChanges(changes);
    return withFleetClient(io, values, async ({ client, callOptions }) => {
      const { cluster } = await client.labelCluster({ name, set, remove }, callOptions);
      io.stdout(`cluster ${name} labeled: ${formatLabels(cluster?.labels ?? {})}\n`);
      return 0;
    });
  },
};

export const clusterRemoveCommand: Command = {
  path: ["cluster", "remove"],
  summary: "Remove a cluster and revoke its credential (objects in the cluster stay)",
  usage: `flotilla cluster remove <name> ${HUB_USAGE}`,
  run: async (args, io) => {
    const { values, positionals } = parseHubArgs(args, {});
    const name = readName(positionals, "cluster name");
    return withFleetClient(io, values, async ({ client, callOptions }) => {
      await client.removeCluster({ name }, callOptions);
      io.stdout(`cluster ${name} removed; its credential is revoked (objects in the cluster stay)\n`);
      return 0;
    });
  },
};

export const clusterRotateCommand: Command = {
  path: ["cluster", "rotate"],
  summary: "Rotate a cluster's credential over its agent's stream",
  usage: `flotilla cluster rotate <name> [--grace <duration, e.g. 10m; 0 revokes the old credential at once>] ${HUB_USAGE}`,
  run: async (args, io) => {
    const { values, positionals } = parseHubArgs(args, { grace: { type: "string" } });
    const name = readName(positionals, "cluster name");
    // Unset leaves the grace period to the hub; 0 is meaningful (revoke at once).
    const grace =
      values.grace === undefined ? undefined : durationFromMs(readDurationMs(values.grace, "--grace"));
    return withFleetClient(io, values, async ({ client, callOptions }) => {
      const response = await client.rotateClusterCredential(
        { name, ...(grace ? { grace } : {}) },
        callOptions,
      );
      // The hub hands the new credential to the agent only; a hub that returns it gets it printed.
      if (response.credential) io.stdout(`${response.credential}\n`);
      io.stderr(
        response.delivered
          ? `cluster ${name}: the connected agent received the new credential`
          : `cluster ${name}: the agent did not confirm receiving the new credential`,
      );
      io.stderr(`; the previous one works until ${formatTimestamp(response.previousExpiresAt)}\n`);
      return 0;
    });
  },
};
