import { toJson } from "@bufbuild/protobuf";
import { durationFromMs, timestampDate } from "@bufbuild/protobuf/wkt";
import { type BootstrapToken, BootstrapTokenSchema } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { readDurationMs, readName } from "./cluster-commands.js";
import { type Command, UsageError } from "./command.js";
import { type Cell, formatLabels, formatTable, formatTimestamp, oneLine, useColour } from "./format-table.js";
import { noPositionals, parseHubArgs, withFleetClient } from "./hub-context.js";
import { parseLabelChanges } from "./parse-label-changes.js";
import { readOutput } from "./render-command.js";

const HUB_USAGE = "[--hub <url>] [--token <token>] [--ca <file>]";

/** "active", or why a token no longer admits clusters: revoked, expired, used up. */
export function tokenState(token: BootstrapToken, now: Date): string {
  if (token.revoked) return "revoked";
  if (token.expiresAt && timestampDate(token.expiresAt).getTime() <= now.getTime()) return "expired";
  if (token.maxUses > 0 && token.uses >= token.maxUses) return "used up";
  return "active";
}

export function formatTokenTable(tokens: readonly BootstrapToken[], now: Date, colour: boolean): string {
  const rows = tokens.map((token): Cell[] => {
    const state = tokenState(token, now);
    return [
      token.id,
      { text: state, colour: state === "active" ? "green" : "grey" },
      `${token.uses}/${token.maxUses === 0 ? "unlimited" : token.maxUses}`,
      formatTimestamp(token.expiresAt),
      formatLabels(token.labels),
      token.createdBy || "-",
      oneLine(token.description, 60) || "-",
    ];
  });
  return formatTable(["ID", "STATE", "USES", "EXPIRES", "LABELS", "CREATED BY", "DESCRIPTION"], rows, colour);
}

export const tokenCreateCommand: Command = {
  path: ["cluster", "token", "create"],
  summary: "Create a bootstrap token and print the join command",
  usage: `flotilla cluster token create [--ttl <duration, e.g. 30m, 1h, 7d; default 1h>] [--uses <n; 0 = unlimited>] [--label <key>=<value>]... [--description <text>] ${HUB_USAGE}

  Prints the \`flotilla-agent join\` command line on stdout (it holds the token, shown only here),
  and the token id and expiry on stderr.`,
  run: async (args, io) => {
    const { values, positionals } = parseHubArgs(args, {
      ttl: { type: "string" },
      uses: { type: "string" },
      label: { type: "string", multiple: true },
      description: { type: "string" },
    });
    noPositionals(positionals);
    let ttl: ReturnType<typeof durationFromMs> | undefined;
    if (values.ttl !== undefined) {
      const ttlMs = readDurationMs(values.ttl, "--ttl");
      // The hub reads 0 as its default of one hour, which is not what "--ttl 0" asks for.
      if (ttlMs <= 0) throw new UsageError(`--ttl "${values.ttl}" must be longer than 0`);
      ttl = durationFromMs(ttlMs);
    }
    if (values.uses !== undefined && !/^\d+$/.test(values.uses)) {
      throw new UsageError(`--uses "${values.uses}" must be a whole number (0 = unlimited)`);
    }
    const maxUses = Number(values.uses ?? "0");
    if (maxUses > 0xffffffff) throw new UsageError(`--uses "${values.uses}" is too large`);
    const { set: labels, remove } = parseLabelChanges(values.label ?? [], "--label");
    if (remove.length > 0) throw new UsageError(`--label "${remove[0]}-" must look like key=value`);

    return withFleetClient(io, values, async ({ client, callOptions }) => {
      const response = await client.createBootstrapToken(
        { ...(ttl ? { ttl } : {}), maxUses, labels, description: values.description ?? "" },
        callOptions,
      );
      io.stdout(`${response.joinCommand}\n`);
      const info = response.info;
      const uses = info?.maxUses ? `${info.maxUses} use(s)` : "unlimited uses";
      io.stderr(`bootstrap token ${info?.id ?? "?"} expires ${formatTimestamp(info?.expiresAt)} (${uses})\n`);
      return 0;
    });
  },
};

export const tokenListCommand: Command = {
  path: ["cluster", "token", "list"],
  summary: "List bootstrap tokens (without their secrets)",
  usage: `flotilla cluster token list [--all] [-o table|json] ${HUB_USAGE}

  --all also lists expired, revoked and used-up tokens.`,
  run: async (args, io) => {
    const { values, positionals } = parseHubArgs(args, {
      all: { type: "boolean", default: false },
      output: { type: "string", short: "o" },
    });
    noPositionals(positionals);
    const output = readOutput(values.output, ["table", "json"]);
    return withFleetClient(io, values, async ({ client, callOptions }) => {
      const { tokens } = await client.listBootstrapTokens(
        { includeInactive: values.all ?? false },
        callOptions,
      );
      if (output === "json") {
        const document = { tokens: tokens.map((t) => toJson(BootstrapTokenSchema, t)) };
        io.stdout(`${JSON.stringify(document, null, 2)}\n`);
      } else if (tokens.length === 0)
        io.stderr(values.all ? "No bootstrap tokens.\n" : "No active bootstrap tokens.\n");
      else io.stdout(formatTokenTable(tokens, new Date(), useColour(io)));
      return 0;
    });
  },
};

export const tokenRevokeCommand: Command = {
  path: ["cluster", "token", "revoke"],
  summary: "Revoke a bootstrap token so no more clusters join with it",
  usage: `flotilla cluster token revoke <id> ${HUB_USAGE}`,
  run: async (args, io) => {
    const { values, positionals } = parseHubArgs(args, {});
    if (positionals.length > 1) throw new UsageError("pass one token id");
    const id = readName(positionals, "token id");
    // Someone pasted the whole token: refuse without echoing it.
    if (id.includes("."))
      throw new UsageError("pass the token id (the part before the dot), not the whole token");
    return withFleetClient(io, values, async ({ client, callOptions }) => {
      await client.revokeBootstrapToken({ id }, callOptions);
      io.stdout(`bootstrap token ${id} revoked\n`);
      return 0;
    });
  },
};
