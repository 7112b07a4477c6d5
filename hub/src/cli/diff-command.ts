import { parseArgs } from "node:util";
import { diffResolutions, type FleetDiff } from "../plan/diff-resolutions.js";
import { resolveFleet } from "../resolve/resolve-fleet.js";
import type { Command } from "./command.js";
import { UsageError } from "./command.js";
import {
  FLEET_FLAG_OPTIONS,
  openResolveDeps,
  readFleetFlags,
  resolveRootRevision,
  rootOf,
} from "./fleet-flags.js";
import { readOutput } from "./render-command.js";

const SIGNS = { added: "+", changed: "~", removed: "-" } as const;

export function formatDiffText(
  from: string,
  to: string,
  diff: FleetDiff,
  problems: { app: string; kind: string; message: string }[],
): string {
  const lines = [`diff ${from.slice(0, 12)}..${to.slice(0, 12)}`];
  const clusters = Object.entries(diff.clusters);
  if (clusters.length === 0) lines.push("no changes");
  for (const [cluster, { apps }] of clusters) {
    lines.push(`cluster ${cluster}`);
    for (const [app, change] of Object.entries(apps)) {
      lines.push(
        `  ${SIGNS[change.change]} app ${app} (${change.change}, ${change.objects.length} object(s))`,
      );
      if (change.settingsDiff) lines.push(...indent(change.settingsDiff, "      "));
      for (const obj of change.objects) {
        const where = obj.namespace ? `${obj.kind}/${obj.namespace}/${obj.name}` : `${obj.kind}/${obj.name}`;
        lines.push(`    ${SIGNS[obj.change]} ${where}`);
        if (obj.diff) lines.push(...indent(obj.diff, "      "));
      }
    }
  }
  if (problems.length)
    lines.push(
      "problems at the new revision:",
      ...problems.map((p) => `  ${p.app}: ${p.kind}: ${p.message}`),
    );
  return `${lines.join("\n")}\n`;
}

function indent(text: string, prefix: string): string[] {
  return text
    .trimEnd()
    .split("\n")
    .map((line) => `${prefix}${line}`);
}

export const diffCommand: Command = {
  path: ["diff"],
  summary: "Show per cluster which objects a change adds, changes or removes",
  usage:
    "flotilla diff --repo <dir|url> --path <root path> --clusters <clusters.yaml> --from <rev> --to <rev> [--repo-map <url>=<dir|url>]... [--exit-code] [-o text|json]",
  run: async (args, io) => {
    const { values } = parseArgs({
      args,
      options: {
        ...FLEET_FLAG_OPTIONS,
        from: { type: "string" },
        to: { type: "string" },
        "exit-code": { type: "boolean", default: false },
      },
      strict: true,
    });
    const output = readOutput(values.output, ["text", "json"]);
    if (!values.from || !values.to) throw new UsageError("--from and --to are required");
    const flags = readFleetFlags(values);
    const deps = openResolveDeps(flags, io.env);
    const fromCommit = await resolveRootRevision(deps, flags, values.from);
    const toCommit = await resolveRootRevision(deps, flags, values.to);
    const before = await resolveFleet(rootOf(flags, fromCommit), deps);
    const after = await resolveFleet(rootOf(flags, toCommit), deps);
    const diff = diffResolutions(before, after);
    if (output === "json") {
      const document = {
        from: fromCommit,
        to: toCommit,
        ...diff,
        problems: { from: before.problems, to: after.problems },
      };
      io.stdout(`${JSON.stringify(document, null, 2)}\n`);
    } else {
      io.stdout(formatDiffText(fromCommit, toCommit, diff, after.problems));
    }
    // Like `git diff --exit-code`: 1 when something changes, for CI gates.
    return values["exit-code"] && Object.keys(diff.clusters).length > 0 ? 1 : 0;
  },
};
