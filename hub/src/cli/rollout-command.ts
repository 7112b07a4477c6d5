/**
 * `flotilla rollout status|pause|resume|abort|promote` over the FleetService's ListRollouts and
 * UpdateRollout. Status prints rollouts as RolloutView (../rollout/rollout-view.ts), the shape
 * the hub keeps them in, both as a table and as `-o json`.
 */
import { RolloutAction } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { ROLLOUT_ACTION, toRolloutView } from "../api/rollout-messages.js";
import { subject } from "../render/kube-object.js";
import type { RolloutView } from "../rollout/rollout-view.js";
import type { RolloutAction as ActionName } from "../store/store.js";
import { readName } from "./cluster-commands.js";
import { type Command, UsageError } from "./command.js";
import { type Cell, type Colour, formatTable, oneLine, useColour } from "./format-table.js";
import { parseHubArgs, withFleetClient } from "./hub-context.js";
import { readOutput } from "./render-command.js";
import { statusCell } from "./status-command.js";

const HUB_USAGE = "[--hub <url>] [--token <token>] [--ca <file>]";

const PHASE_COLOURS: Record<string, Colour> = {
  Progressing: "yellow",
  Paused: "grey",
  Failed: "red",
  RolledBack: "red",
  Aborted: "red",
  Completed: "green",
};

function phaseCell(phase: string): Cell {
  const colour = PHASE_COLOURS[phase];
  return colour ? { text: phase, colour } : phase;
}

/** "2/3 prod"; "3/3 done" once every step passed. */
export function formatStep(rollout: RolloutView): string {
  if (rollout.step > rollout.stepCount) return `${rollout.stepCount}/${rollout.stepCount} done`;
  return `${rollout.step}/${rollout.stepCount} ${rollout.stepName}`.trimEnd();
}

/** Milliseconds as "0s", "30s", "5m", "1h30m", "1.5s". */
export function formatDurationMs(ms: number): string {
  if (ms < 60_000) return `${Number((ms / 1_000).toFixed(3))}s`;
  const parts: string[] = [];
  let rest = Math.round(ms / 1_000);
  for (const [unit, seconds] of [
    ["h", 3_600],
    ["m", 60],
    ["s", 1],
  ] as const) {
    const count = Math.floor(rest / seconds);
    rest -= count * seconds;
    if (count > 0) parts.push(`${count}${unit}`);
  }
  return parts.join("");
}

/** One line per rollout: NAME PHASE STEP UPDATED UPDATING WAITING FAILED MESSAGE. */
export function formatRolloutTable(
  rollouts: readonly RolloutView[],
  colour: boolean,
  wideMessage = false,
): string {
  const header = ["NAME", "PHASE", "STEP", "UPDATED", "UPDATING", "WAITING", "FAILED", "MESSAGE"];
  const rows = rollouts.map((rollout): Cell[] => [
    rollout.name,
    phaseCell(rollout.phase),
    formatStep(rollout),
    String(rollout.counts.updated),
    String(rollout.counts.updating),
    String(rollout.counts.waiting),
    String(rollout.counts.failed),
    oneLine(rollout.message, wideMessage ? undefined : 80),
  ]);
  return formatTable(header, rows, colour);
}

/** The summary line, then the revision, the steps, the waiting clusters and the failures. */
export function formatRolloutDetails(rollout: RolloutView, colour: boolean): string {
  const time = (iso: string | undefined) => (iso ? iso.replace(/\.\d{3}Z$/, "Z") : "-");
  const { counts } = rollout;
  const fields: [string, string][] = [
    ["Declared by", `${rollout.origin} ${rollout.name} in app ${rollout.declaredBy || "-"}`],
    ["Apps", rollout.apps.join(", ") || "-"],
    ["Revision", `${rollout.generation} (commit ${rollout.commit ? rollout.commit.slice(0, 7) : "-"})`],
    ["Started", time(rollout.startedAt)],
    ["Updated", time(rollout.updatedAt)],
    ["Step started", time(rollout.stepStartedAt)],
  ];
  if (rollout.bakeEndsAt) fields.push(["Bake ends", time(rollout.bakeEndsAt)]);
  if (counts.rolledBack > 0 || counts.skipped > 0)
    fields.push(["Rolled back", `${counts.rolledBack}, skipped ${counts.skipped}`]);
  const width = Math.max(...fields.map(([label]) => label.length)) + 1;
  const sections = [
    formatRolloutTable([rollout], colour, true),
    `${fields.map(([label, value]) => `${`${label}:`.padEnd(width)}  ${value}`).join("\n")}\n`,
  ];
  if (rollout.steps.length > 0) {
    const header = ["STEP", "NAME", "MEMBERS", "STATE", "MAX UNAVAILABLE", "BAKE"];
    const rows = rollout.steps.map((step): Cell[] => [
      String(step.index),
      step.name,
      String(step.members),
      step.state,
      step.maxUnavailable,
      formatDurationMs(step.bakeTimeMs),
    ]);
    sections.push(formatTable(header, rows, colour));
  }
  sections.push(`Waiting clusters: ${rollout.waitingClusters.join(", ") || "none"}\n`);
  if (rollout.failures.length > 0) {
    const lines = ["Failures:"];
    for (const failure of rollout.failures) {
      lines.push(`  ${failure.cluster}/${failure.app}: ${oneLine(failure.message)}`);
      const rows = failure.resources.map((resource): Cell[] => [
        subject({ kind: resource.kind, metadata: { namespace: resource.namespace, name: resource.name } }),
        statusCell(resource.health),
        oneLine(resource.message),
      ]);
      if (rows.length > 0) {
        const table = formatTable(["RESOURCE", "HEALTH", "MESSAGE"], rows, colour);
        lines.push(
          ...table
            .trimEnd()
            .split("\n")
            .map((line) => `    ${line}`),
        );
      }
    }
    sections.push(`${lines.join("\n")}\n`);
  }
  return sections.join("\n");
}

export const rolloutStatusCommand: Command = {
  path: ["rollout", "status"],
  summary: "Show progressive rollouts: phase, step, members by state, failures",
  usage: `flotilla rollout status [<name>] [-o table|json] ${HUB_USAGE}`,
  run: async (args, io) => {
    const { values, positionals } = parseHubArgs(args, { output: { type: "string", short: "o" } });
    const name = positionals.length > 0 ? readName(positionals, "rollout name") : "";
    const output = readOutput(values.output, ["table", "json"]);
    return withFleetClient(io, values, async ({ client, callOptions }) => {
      const response = await client.listRollouts({ name }, callOptions);
      const rollouts = response.rollouts.map(toRolloutView);
      if (name !== "" && rollouts.length === 0) {
        io.stderr(`flotilla: rollout ${name} does not exist\n`);
        return 1;
      }
      if (output === "json") io.stdout(`${JSON.stringify({ rollouts }, null, 2)}\n`);
      else if (rollouts.length === 0) io.stderr("No rollouts.\n");
      else if (name !== "" && rollouts[0]) io.stdout(formatRolloutDetails(rollouts[0], useColour(io)));
      else io.stdout(formatRolloutTable(rollouts, useColour(io)));
      return 0;
    });
  },
};

const DONE: Record<ActionName, string> = {
  pause: "paused",
  resume: "resumed",
  abort: "aborted",
  promote: "promoted",
};

/** `flotilla rollout <action> <name>`: what happened, or that the action is queued. */
function rolloutActionCommand(action: ActionName, summary: string, help: string): Command {
  const promote = action === "promote";
  return {
    path: ["rollout", action],
    summary,
    usage: `flotilla rollout ${action} <name>${promote ? " [--all]" : ""} ${HUB_USAGE}\n\n  ${help}`,
    run: async (args, io) => {
      const { values, positionals } = parseHubArgs(args, { all: { type: "boolean", default: false } });
      const name = readName(positionals, "rollout name");
      const all = values.all ?? false;
      if (all && !promote) throw new UsageError("--all goes with promote only");
      return withFleetClient(io, values, async ({ client, callOptions }) => {
        const response = await client.updateRollout(
          { name, action: ROLLOUT_ACTION[action] ?? RolloutAction.UNSPECIFIED, all },
          callOptions,
        );
        const what = `${action}${all ? " --all" : ""}`;
        if (!response.applied) {
          io.stdout(
            `queued: ${what} of rollout ${name}; the hub carries it out when its rollout controller next runs\n`,
          );
          return 0;
        }
        const rollout = response.rollout ? toRolloutView(response.rollout) : undefined;
        const where = rollout ? ` (${rollout.phase}, step ${formatStep(rollout)})` : "";
        io.stdout(`rollout ${name} ${DONE[action]}${all ? " past every step" : ""}${where}\n`);
        return 0;
      });
    },
  };
}

export const rolloutPauseCommand = rolloutActionCommand(
  "pause",
  "Pause a rollout: no more releases; released members keep what they have",
  "Needs an admin token.",
);
export const rolloutResumeCommand = rolloutActionCommand(
  "resume",
  "Resume a rollout; after a failure or a rollback, retry the current step",
  "Needs an admin token.",
);
export const rolloutAbortCommand = rolloutActionCommand(
  "abort",
  "Abort a rollout: roll every released member back to its last good state and stop",
  "Needs an admin token.",
);
export const rolloutPromoteCommand = rolloutActionCommand(
  "promote",
  "Pass a rollout's current step now (--all: release every step)",
  "--all releases every step at once. Needs an admin token.",
);
