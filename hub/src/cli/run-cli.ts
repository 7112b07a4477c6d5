import { redact } from "../auth/tokens.js";
import type { CliIo, Command } from "./command.js";
import { UsageError } from "./command.js";

/** Finds the command whose path is the longest prefix of argv. */
export function findCommand(table: readonly Command[], argv: readonly string[]): Command | undefined {
  let best: Command | undefined;
  for (const command of table) {
    const matches = command.path.every((word, i) => argv[i] === word);
    if (matches && (!best || command.path.length > best.path.length)) best = command;
  }
  return best;
}

/** Help text listing every command; planned ones say which issue brings them. */
export function formatHelp(program: string, table: readonly Command[]): string {
  const width = Math.max(...table.map((c) => c.path.join(" ").length));
  const lines = table.map((c) => {
    const planned = c.run ? "" : ` (planned, issue #${c.plannedIn})`;
    return `  ${c.path.join(" ").padEnd(width)}  ${c.summary}${planned}`;
  });
  return `Usage: ${program} <command> [flags]\n\nCommands:\n${lines.join("\n")}\n\nRun '${program} <command> --help' for a command's flags.\n`;
}

/** Runs one command line and returns the exit code: 0 ok, 1 failed, 2 usage. */
export async function runCli(
  program: string,
  table: readonly Command[],
  argv: string[],
  io: CliIo,
): Promise<number> {
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
    io.stdout(formatHelp(program, table));
    return 0;
  }
  const command = findCommand(table, argv);
  if (!command) {
    io.stderr(`${program}: unknown command '${argv.join(" ")}'\n\n${formatHelp(program, table)}`);
    return 2;
  }
  const name = `${program} ${command.path.join(" ")}`;
  const rest = argv.slice(command.path.length);
  if (rest.includes("--help") || rest.includes("-h")) {
    io.stdout(`${command.usage ?? name}\n\n${command.summary}\n`);
    return 0;
  }
  if (!command.run) {
    io.stderr(`${name}: not available in this version; it is planned in issue #${command.plannedIn}\n`);
    return 2;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    const parseError = (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    if (error instanceof UsageError || parseError) {
      // A mistyped command line may hold a token (`flotilla status fla_...`): never echo one.
      io.stderr(`${name}: ${redact((error as Error).message)}\nUsage: ${command.usage ?? name}\n`);
      return 2;
    }
    throw error;
  }
}

/** The message and its causes, outermost first: "cannot read X: repo Y: connection refused". */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e !== undefined && parts.length < 5; e = (e as { cause?: unknown }).cause) {
    parts.push(e instanceof Error ? e.message : String(e));
    if (!(e instanceof Error)) break;
  }
  return parts.join(": ");
}
