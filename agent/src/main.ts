#!/usr/bin/env -S node --max-semi-space-size=2
import { hideIpServerNameWarning } from "@flotilla/proto/quiet-warnings";
import { agentVersion } from "./cli/agent-version.js";
import { type CommandRun, invokeCommand } from "./cli/invoke-command.js";
import { joinUsage, runJoinCommand } from "./cli/join-command.js";
import { runAgentCommand, runUsage } from "./cli/run-command.js";
import { readProcessEnv } from "./config.js";

hideIpServerNameWarning();

type AgentCommand = { name: string; summary: string; plannedIn?: number; usage?: string; run?: CommandRun };

const agentCommands: readonly AgentCommand[] = [
  {
    name: "join",
    summary:
      "Register this cluster with a hub and keep reconciling what it delivers (--hub, --token, --ca-hash)",
    usage: joinUsage,
    run: runJoinCommand,
  },
  {
    name: "run",
    summary: "Reconcile apps from a directory, or from the hub this agent joined, and the persisted state",
    usage: runUsage,
    run: runAgentCommand,
  },
  { name: "version", summary: "Print the version" },
];

function formatHelp(): string {
  const lines = agentCommands.map((c) => {
    const planned = c.plannedIn ? ` (planned, issue #${c.plannedIn})` : "";
    return `  ${c.name.padEnd(8)}  ${c.summary}${planned}`;
  });
  return `Usage: flotilla-agent <command> [flags]\n\nCommands:\n${lines.join("\n")}\n`;
}

const [name] = process.argv.slice(2);
const command = agentCommands.find((c) => c.name === name);
if (!name || name === "--help" || name === "-h" || name === "help") {
  process.stdout.write(formatHelp());
} else if (!command) {
  process.stderr.write(`flotilla-agent: unknown command '${name}'\n\n${formatHelp()}`);
  process.exitCode = 2;
} else if (command.plannedIn) {
  process.stderr.write(
    `flotilla-agent ${name}: not available in this version; it is planned in issue #${command.plannedIn}\n`,
  );
  process.exitCode = 2;
} else if (command.run && command.usage) {
  const controller = new AbortController();
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => controller.abort());
  const io = {
    stdout: (text: string) => process.stdout.write(text),
    stderr: (text: string) => process.stderr.write(text),
    env: readProcessEnv(),
    signal: controller.signal,
  };
  process.exitCode = await invokeCommand(command.name, command.usage, command.run, process.argv.slice(3), io);
} else {
  process.stdout.write(`flotilla-agent ${agentVersion}\n`);
}
