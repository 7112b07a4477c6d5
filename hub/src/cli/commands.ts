import { createRequire } from "node:module";
import type { Command } from "./command.js";
import { diffCommand } from "./diff-command.js";
import { renderCommand } from "./render-command.js";

const packageJson = createRequire(import.meta.url)("../../package.json") as { version: string };

/** Every `flotilla` command, real and planned, in the order help lists them. */
export const commands: readonly Command[] = [
  {
    path: ["demo"],
    summary: "Start a hub, three local clusters, their agents and a sample fleet repository",
    plannedIn: 6,
  },
  {
    path: ["hub", "serve"],
    summary: "Run the hub (embedded store, bus and CA when unconfigured)",
    plannedIn: 5,
  },
  { path: ["login"], summary: "Save the hub URL, API token and CA to a context file", plannedIn: 5 },
  renderCommand,
  diffCommand,
  {
    path: ["cluster", "token", "create"],
    summary: "Create a bootstrap token and print the join command",
    plannedIn: 5,
  },
  { path: ["cluster", "list"], summary: "List registered clusters", plannedIn: 5 },
  { path: ["cluster", "get"], summary: "Show one cluster, its labels, apps and connection", plannedIn: 5 },
  { path: ["cluster", "label"], summary: "Add, change or remove labels of a cluster", plannedIn: 5 },
  { path: ["cluster", "remove"], summary: "Remove a cluster and revoke its credential", plannedIn: 5 },
  { path: ["cluster", "rotate"], summary: "Rotate a cluster's credential", plannedIn: 5 },
  { path: ["source", "add"], summary: "Point the hub at a repository and root path", plannedIn: 5 },
  { path: ["source", "list"], summary: "List configured sources", plannedIn: 5 },
  { path: ["source", "remove"], summary: "Remove a source", plannedIn: 5 },
  {
    path: ["status"],
    summary: "Fleet status: what runs where, at which revision, and is it healthy",
    plannedIn: 6,
  },
  { path: ["app", "list"], summary: "List apps across the fleet", plannedIn: 6 },
  {
    path: ["app", "get"],
    summary: "Show one app on every cluster, with resources and problems",
    plannedIn: 6,
  },
  { path: ["events"], summary: "Show the event history (who committed what, where it went)", plannedIn: 6 },
  { path: ["sync"], summary: "Ask agents to sync an app now", plannedIn: 6 },
  { path: ["refresh"], summary: "Fetch sources and resolve now", plannedIn: 6 },
  { path: ["rollout", "status"], summary: "Show progressive rollouts", plannedIn: 10 },
  { path: ["rollout", "pause"], summary: "Pause a rollout", plannedIn: 10 },
  { path: ["rollout", "resume"], summary: "Resume a paused rollout", plannedIn: 10 },
  {
    path: ["rollout", "abort"],
    summary: "Abort a rollout and hold clusters on their revision",
    plannedIn: 10,
  },
  { path: ["rollout", "promote"], summary: "Promote a rollout past its current step", plannedIn: 10 },
  {
    path: ["version"],
    summary: "Print the version",
    run: async (_args, io) => {
      io.stdout(`flotilla ${packageJson.version}\n`);
      return 0;
    },
  },
];
