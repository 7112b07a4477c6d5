import { toJson } from "@bufbuild/protobuf";
import { durationFromMs, durationMs } from "@bufbuild/protobuf/wkt";
import { type Source, SourceSchema } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { readDurationMs, readName } from "./cluster-commands.js";
import { type Command, UsageError } from "./command.js";
import { type Cell, formatTable, formatTimestamp, oneLine, useColour } from "./format-table.js";
import { noPositionals, parseHubArgs, withFleetClient } from "./hub-context.js";
import { readOutput } from "./render-command.js";

const HUB_USAGE = "[--hub <url>] [--token <token>] [--ca <file>]";

export function formatSourceTable(sources: readonly Source[], colour: boolean): string {
  const rows = sources.map((source): Cell[] => [
    source.name,
    source.repoUrl,
    source.path || ".",
    source.targetRevision || "HEAD",
    source.revision ? source.revision.slice(0, 7) : "-",
    String(source.appCount),
    source.pollInterval ? `${durationMs(source.pollInterval) / 1000}s` : "default",
    formatTimestamp(source.fetchedAt),
    source.error ? { text: oneLine(source.error, 80), colour: "red" } : "",
  ]);
  return formatTable(
    ["NAME", "REPO", "PATH", "REVISION", "COMMIT", "APPS", "POLL", "FETCHED", "ERROR"],
    rows,
    colour,
  );
}

export const sourceAddCommand: Command = {
  path: ["source", "add"],
  summary: "Point the hub at a repository and root path",
  usage: `flotilla source add <name> --repo <url> [--path <root path>] [--revision <branch|tag|commit>] [--poll-interval <duration, e.g. 30s>] ${HUB_USAGE}`,
  run: async (args, io) => {
    const { values, positionals } = parseHubArgs(args, {
      repo: { type: "string" },
      path: { type: "string" },
      revision: { type: "string" },
      "poll-interval": { type: "string" },
    });
    const name = readName(positionals, "source name");
    if (!values.repo) throw new UsageError("--repo is required");
    let pollInterval: ReturnType<typeof durationFromMs> | undefined;
    if (values["poll-interval"] !== undefined) {
      const ms = readDurationMs(values["poll-interval"], "--poll-interval");
      if (ms <= 0) throw new UsageError(`--poll-interval "${values["poll-interval"]}" must be longer than 0`);
      pollInterval = durationFromMs(ms);
    }
    return withFleetClient(io, values, async ({ client, callOptions }) => {
      const { source } = await client.addSource(
        {
          name,
          repoUrl: values.repo,
          path: values.path ?? "",
          targetRevision: values.revision ?? "",
          ...(pollInterval ? { pollInterval } : {}),
        },
        callOptions,
      );
      const where = `${source?.repoUrl ?? values.repo} path ${source?.path || values.path || "."} at ${source?.targetRevision || values.revision || "HEAD"}`;
      io.stdout(`source ${name} added: ${where}\n`);
      return 0;
    });
  },
};

export const sourceListCommand: Command = {
  path: ["source", "list"],
  summary: "List configured sources with their last fetched commit",
  usage: `flotilla source list [-o table|json] ${HUB_USAGE}`,
  run: async (args, io) => {
    const { values, positionals } = parseHubArgs(args, { output: { type: "string", short: "o" } });
    noPositionals(positionals);
    const output = readOutput(values.output, ["table", "json"]);
    return withFleetClient(io, values, async ({ client, callOptions }) => {
      const { sources } = await client.listSources({}, callOptions);
      if (output === "json") {
        io.stdout(`${JSON.stringify({ sources: sources.map((s) => toJson(SourceSchema, s)) }, null, 2)}\n`);
      } else if (sources.length === 0) io.stderr("No sources; add one with `flotilla source add`.\n");
      else io.stdout(formatSourceTable(sources, useColour(io)));
      return 0;
    });
  },
};

export const sourceRemoveCommand: Command = {
  path: ["source", "remove"],
  summary: "Remove a source",
  usage: `flotilla source remove <name> ${HUB_USAGE}`,
  run: async (args, io) => {
    const { values, positionals } = parseHubArgs(args, {});
    const name = readName(positionals, "source name");
    return withFleetClient(io, values, async ({ client, callOptions }) => {
      await client.removeSource({ name }, callOptions);
      io.stdout(`source ${name} removed\n`);
      return 0;
    });
  },
};
