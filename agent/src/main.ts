#!/usr/bin/env node
import { createRequire } from "node:module";

const packageJson = createRequire(import.meta.url)("../package.json") as { version: string };

type AgentCommand = { name: string; summary: string; plannedIn?: number };

const agentCommands: readonly AgentCommand[] = [
  {
    name: "join",
    summary: "Register this cluster with a hub and keep reconciling (--hub, --token, --ca-hash)",
    plannedIn: 5,
  },
  {
    name: "run",
    summary: "Reconcile apps from a directory (one subdirectory per app) or from the hub",
    plannedIn: 4,
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
} else {
  process.stdout.write(`flotilla-agent ${packageJson.version}\n`);
}
