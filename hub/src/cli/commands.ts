import { createRequire } from "node:module";
import { appGetCommand, appListCommand } from "./app-commands.js";
import {
  clusterGetCommand,
  clusterLabelCommand,
  clusterListCommand,
  clusterRemoveCommand,
  clusterRotateCommand,
} from "./cluster-commands.js";
import type { Command } from "./command.js";
import { demoCommand } from "./demo-command.js";
import { diffCommand } from "./diff-command.js";
import { eventsCommand } from "./events-command.js";
import { loginCommand } from "./login-command.js";
import { refreshCommand } from "./refresh-command.js";
import { renderCommand } from "./render-command.js";
import {
  rolloutAbortCommand,
  rolloutPauseCommand,
  rolloutPromoteCommand,
  rolloutResumeCommand,
  rolloutStatusCommand,
} from "./rollout-command.js";
import { serveCommand } from "./serve-command.js";
import { sourceAddCommand, sourceListCommand, sourceRemoveCommand } from "./source-commands.js";
import { statusCommand } from "./status-command.js";
import { syncCommand } from "./sync-command.js";
import { tokenCreateCommand, tokenListCommand, tokenRevokeCommand } from "./token-commands.js";

const packageJson = createRequire(import.meta.url)("../../package.json") as { version: string };

/** Every `flotilla` command, real and planned, in the order help lists them. */
export const commands: readonly Command[] = [
  demoCommand,
  serveCommand,
  loginCommand,
  renderCommand,
  diffCommand,
  tokenCreateCommand,
  tokenListCommand,
  tokenRevokeCommand,
  clusterListCommand,
  clusterGetCommand,
  clusterLabelCommand,
  clusterRemoveCommand,
  clusterRotateCommand,
  sourceAddCommand,
  sourceListCommand,
  sourceRemoveCommand,
  statusCommand,
  appListCommand,
  appGetCommand,
  eventsCommand,
  syncCommand,
  refreshCommand,
  rolloutStatusCommand,
  rolloutPauseCommand,
  rolloutResumeCommand,
  rolloutAbortCommand,
  rolloutPromoteCommand,
  {
    path: ["version"],
    summary: "Print the version",
    run: async (_args, io) => {
      io.stdout(`flotilla ${packageJson.version}\n`);
      return 0;
    },
  },
];
