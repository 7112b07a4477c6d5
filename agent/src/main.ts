#!/usr/bin/env node
import { createRequire } from "node:module";
import { runAgentCommand, runUsage, UsageError } from "./cli/run-command.js";
import { readProcessEnv } from "./config.js";

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
    summary: "Reconcile apps from a directory (one subdirectory per app) and the persisted state",
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
} else if (name === "run") {
  const argv = process.argv.slice(3);
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`Usage: ${runUsage}\n`);
  } else {
    const controller = new AbortController();
    for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => controller.abort());
    const io = {
      stdout: (text: string) => process.stdout.write(text),
      stderr: (text: string) => process.stderr.write(text),
      env: readProcessEnv(),
      signal: controller.signal,
    };
    try {
      process.exitCode = await runAgentCommand(argv, io);
    } catch (error) {
      const usage =
        error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
      process.stderr.write(
        `flotilla-agent run: ${(error as Error).message}\n${usage ? `Usage: ${runUsage}\n` : ""}`,
      );
      process.exitCode = usage ? 2 : 1;
    }
  }
} else {
  process.stdout.write(`flotilla-agent ${packageJson.version}\n`);
}
