import type { SyncResponse } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { readClusterNames } from "./app-commands.js";
import { readName } from "./cluster-commands.js";
import type { Command } from "./command.js";
import { parseHubArgs, withFleetClient } from "./hub-context.js";
import { readSelector } from "./status-command.js";

/**
 * The request id, then one line per cluster: `c1: sent`, or `c2: not sent: <the hub's reason>`
 * (the hub says there whether the request waits for the agent).
 */
export function formatSyncResponse(app: string, response: SyncResponse, options: string[]): string {
  const how = options.length > 0 ? ` (${options.join(", ")})` : "";
  const lines = [`sync of app ${app} requested${how}: request id ${response.requestId}`];
  for (const dispatch of response.dispatches) {
    lines.push(
      dispatch.sent
        ? `${dispatch.cluster}: sent`
        : `${dispatch.cluster}: not sent: ${dispatch.error || "no reason given"}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

export const syncCommand: Command = {
  path: ["sync"],
  summary: "Ask the agents of an app's clusters to sync it now",
  usage:
    "flotilla sync <app> [--cluster <name>]... [--selector <label selector>] [--prune] [--force] [--dry-run] [--hub <url>] [--token <token>] [--ca <file>]",
  run: async (args, io) => {
    const { values, positionals } = parseHubArgs(args, {
      cluster: { type: "string", multiple: true },
      selector: { type: "string", short: "l" },
      prune: { type: "boolean", default: false },
      force: { type: "boolean", default: false },
      "dry-run": { type: "boolean", default: false },
    });
    const app = readName(positionals, "app name");
    const clusters = readClusterNames(values.cluster);
    const selector = readSelector(values.selector);
    const prune = values.prune ?? false;
    const force = values.force ?? false;
    const dryRun = values["dry-run"] ?? false;
    return withFleetClient(io, values, async ({ client, callOptions }) => {
      const response = await client.sync({ app, clusters, selector, prune, force, dryRun }, callOptions);
      const options = [dryRun && "dry run", prune && "prune", force && "force"].filter(
        (option): option is string => typeof option === "string",
      );
      io.stdout(formatSyncResponse(app, response, options));
      // The hub accepted the request: exit 0, whatever each cluster's line says.
      if (response.dispatches.length === 0)
        io.stderr(`No cluster of app ${app} matches; nothing was sent.\n`);
      return 0;
    });
  },
};
