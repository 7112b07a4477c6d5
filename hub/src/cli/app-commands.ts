import { toJson } from "@bufbuild/protobuf";
import { OperationPhase } from "@flotilla/proto/gen/flotilla/v1/app_pb";
import {
  type App,
  AppSchema,
  type AppTarget,
  type GetAppResponse,
  GetAppResponseSchema,
} from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { HEALTH_NAMES, PHASE_NAMES, SYNC_NAMES } from "@flotilla/proto/status-names";
import { readName } from "./cluster-commands.js";
import { type Command, UsageError } from "./command.js";
import { type Cell, formatTable, formatTimestamp, oneLine, useColour } from "./format-table.js";
import { collectPages, noPositionals, parseHubArgs, withFleetClient } from "./hub-context.js";
import { readOutput } from "./render-command.js";
import { statusCell } from "./status-command.js";

const HUB_USAGE = "[--hub <url>] [--token <token>] [--ca <file>]";
const PAGE_SIZE = 500;

/** A count as a cell: red when something is wrong (`bad`), plain otherwise. */
function countCell(count: number, bad: boolean): Cell {
  return bad ? { text: String(count), colour: "red" } : String(count);
}

const revisionOf = (sha: string) => (sha ? sha.slice(0, 7) : "-");

/**
 * One row per app: NAME, PROJECT, CLUSTERS, PROBLEMS, SOURCE; wide adds PARENT, the synced and
 * healthy cluster counts and the first problem's message.
 */
export function formatAppTable(apps: readonly App[], wide: boolean, colour: boolean): string {
  const header = ["NAME", "PROJECT", "CLUSTERS", "PROBLEMS", "SOURCE"];
  if (wide) header.push("PARENT", "SYNCED", "HEALTHY", "FIRST PROBLEM");
  const rows = apps.map((app): Cell[] => {
    const total = app.counts?.total ?? 0;
    const row: Cell[] = [
      app.name,
      app.project || "-",
      String(total),
      countCell(app.problems.length, app.problems.length > 0),
      app.sourceName || "-",
    ];
    if (wide) {
      const synced = app.counts?.synced ?? 0;
      const healthy = app.counts?.healthy ?? 0;
      const first = app.problems[0];
      row.push(
        app.parent || "-",
        countCell(synced, synced < total),
        countCell(healthy, healthy < total),
        first ? oneLine(`${first.reason}: ${first.message}`) : "",
      );
    }
    return row;
  });
  return formatTable(header, rows, colour);
}

/** Why an app is not Synced and Healthy in one cluster: a failed sync, else the health message (as the hub's status rows say it). */
export function targetMessage(target: AppTarget): string {
  const status = target.status;
  if (!status) return "no status reported yet";
  const phase = status.operation?.phase;
  if (phase === OperationPhase.FAILED || phase === OperationPhase.ERROR)
    return status.operation?.message || "sync failed";
  return status.healthMessage;
}

/** The agent acknowledged the desired state the hub holds for this cluster. */
export function isDelivered(target: AppTarget): boolean {
  return target.desiredDigest !== "" && target.ackedDigest === target.desiredDigest;
}

/**
 * `app get`: the app's fields and problems, then one row per cluster: CLUSTER, SYNC, HEALTH,
 * DELIVERED, REVISION (the one synced), MESSAGE; wide adds the desired revision, the last sync's
 * phase and when the agent observed the status.
 */
export function formatAppDetails(response: GetAppResponse, wide: boolean, colour: boolean): string {
  const app = response.app;
  if (!app) return "";
  const source = app.source;
  const where = source?.repoUrl
    ? ` (${[source.repoUrl, source.chart || source.path].filter(Boolean).join(" ")} @ ${source.targetRevision || "HEAD"})`
    : "";
  const counts = app.counts;
  const fields: [string, string][] = [
    ["Name", app.name],
    ["Project", app.project || "-"],
    ["Source", `${app.sourceName || "-"}${where}`],
    ["Parent", app.parent || "-"],
    ["Clusters", `${counts?.total ?? 0} (${counts?.synced ?? 0} synced, ${counts?.healthy ?? 0} healthy)`],
    ["Problems", app.problems.length === 0 ? "none" : String(app.problems.length)],
  ];
  const width = Math.max(...fields.map(([label]) => label.length)) + 1;
  const lines = fields.map(([label, value]) => `${`${label}:`.padEnd(width)}  ${value}`);
  for (const problem of app.problems) {
    const scope = [problem.cluster, problem.path].filter(Boolean).join(", ");
    lines.push(`  ${problem.reason}${scope ? ` (${scope})` : ""}: ${oneLine(problem.message)}`);
  }
  if (response.targets.length === 0) return `${lines.join("\n")}\n\nNo clusters to show.\n`;
  const header = ["CLUSTER", "SYNC", "HEALTH", "DELIVERED", "REVISION"];
  if (wide) header.push("DESIRED", "LAST SYNC", "OBSERVED");
  header.push("MESSAGE");
  const rows = response.targets.map((target): Cell[] => {
    const status = target.status;
    const delivered = isDelivered(target);
    const row: Cell[] = [
      target.cluster,
      statusCell((status && SYNC_NAMES[status.syncStatus]) ?? "Unknown"),
      statusCell((status && HEALTH_NAMES[status.healthStatus]) ?? "Unknown"),
      delivered ? "yes" : { text: "no", colour: "yellow" },
      revisionOf(status?.revision ?? ""),
    ];
    if (wide) {
      row.push(
        revisionOf(target.desiredRevision),
        (status?.operation && PHASE_NAMES[status.operation.phase]) ?? "-",
        formatTimestamp(status?.observedAt),
      );
    }
    row.push(oneLine(targetMessage(target), wide ? undefined : 80));
    return row;
  });
  return `${lines.join("\n")}\n\n${formatTable(header, rows, colour)}`;
}

/** Repeated and comma-separated `--cluster` values, without empties and duplicates. */
export function readClusterNames(values: readonly string[] | undefined): string[] {
  const names = (values ?? []).flatMap((value) => value.split(",")).map((name) => name.trim());
  if (names.some((name) => name === "")) throw new UsageError("--cluster needs a cluster name");
  return [...new Set(names)];
}

export const appListCommand: Command = {
  path: ["app", "list"],
  summary: "List apps across the fleet with their cluster and problem counts",
  usage: `flotilla app list [--problems] [--project <project>] [-o table|wide|json] ${HUB_USAGE}`,
  run: async (args, io) => {
    const { values, positionals } = parseHubArgs(args, {
      problems: { type: "boolean", default: false },
      project: { type: "string" },
      output: { type: "string", short: "o" },
    });
    noPositionals(positionals);
    const output = readOutput(values.output, ["table", "wide", "json"]);
    const project = values.project ?? "";
    const problemsOnly = values.problems ?? false;
    return withFleetClient(io, values, async ({ client, callOptions }) => {
      const apps = await collectPages("ListApps", async (pageToken) => {
        const page = await client.listApps(
          { project, problemsOnly, pageSize: PAGE_SIZE, pageToken },
          callOptions,
        );
        return { items: page.apps, nextPageToken: page.nextPageToken };
      });
      if (output === "json") {
        const document = { apps: apps.map((app) => toJson(AppSchema, app)) };
        io.stdout(`${JSON.stringify(document, null, 2)}\n`);
      } else if (apps.length === 0) {
        io.stderr(project || problemsOnly ? "No apps match.\n" : "No apps.\n");
      } else io.stdout(formatAppTable(apps, output === "wide", useColour(io)));
      return 0;
    });
  },
};

export const appGetCommand: Command = {
  path: ["app", "get"],
  summary: "Show one app: its source, problems and status in each cluster",
  usage: `flotilla app get <name> [--cluster <name>]... [-o table|wide|json] ${HUB_USAGE}`,
  run: async (args, io) => {
    const { values, positionals } = parseHubArgs(args, {
      cluster: { type: "string", multiple: true },
      output: { type: "string", short: "o" },
    });
    const name = readName(positionals, "app name");
    const output = readOutput(values.output, ["table", "wide", "json"]);
    const clusters = readClusterNames(values.cluster);
    return withFleetClient(io, values, async ({ client, callOptions }) => {
      const response = await client.getApp({ name, clusters }, callOptions);
      if (output === "json") {
        io.stdout(`${JSON.stringify(toJson(GetAppResponseSchema, response), null, 2)}\n`);
      } else io.stdout(formatAppDetails(response, output === "wide", useColour(io)));
      return 0;
    });
  },
};
