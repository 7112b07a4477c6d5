import type { Command } from "./command.js";
import { useColour } from "./format-table.js";
import { noPositionals, parseHubArgs, withFleetClient } from "./hub-context.js";
import { formatSourceTable } from "./source-commands.js";

// Refresh returns once the new desired state is planned: fetching and rendering a large fleet
// takes longer than an ordinary call's deadline.
const REFRESH_TIMEOUT_MS = 10 * 60_000;

/** `flotilla refresh`: exit 1 when a refreshed source reports an error. */
export const refreshCommand: Command = {
  path: ["refresh"],
  summary: "Fetch sources and resolve now",
  usage:
    "flotilla refresh [--source <name>] [--hard] [--hub <url>] [--token <token>] [--ca <file>]\n\n  --hard also bypasses the render cache.",
  run: async (args, io) => {
    const { values, positionals } = parseHubArgs(args, {
      source: { type: "string" },
      hard: { type: "boolean", default: false },
    });
    noPositionals(positionals);
    return withFleetClient(io, values, async ({ client, callOptions }) => {
      const response = await client.refresh(
        { source: values.source ?? "", hard: values.hard ?? false },
        { ...callOptions, deadlineMs: REFRESH_TIMEOUT_MS },
      );
      if (response.sources.length > 0) io.stdout(formatSourceTable(response.sources, useColour(io)));
      io.stdout(`${response.changedTargets} target(s) changed\n`);
      const failed = response.sources.filter((s) => s.error);
      for (const source of failed) io.stderr(`flotilla: source ${source.name}: ${source.error}\n`);
      return failed.length > 0 ? 1 : 0;
    });
  },
};
