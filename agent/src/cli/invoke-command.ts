import { type AgentIo, UsageError } from "./read-agent-flags.js";

/** A command's implementation: resolves with the exit code, throws on failure. */
export type CommandRun = (argv: string[], io: AgentIo) => Promise<number>;

/**
 * Runs `flotilla-agent <name> <argv>` and returns its exit code: `--help`/`-h` prints the usage
 * (0); a UsageError or a flag the parser rejects prints the message and the usage (2); any other
 * error prints its message (1). Messages go to stderr, prefixed with the command.
 */
export async function invokeCommand(
  name: string,
  usage: string,
  run: CommandRun,
  argv: string[],
  io: AgentIo,
): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout(`Usage: ${usage}\n`);
    return 0;
  }
  try {
    return await run(argv, io);
  } catch (error) {
    const usageError =
      error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    io.stderr(
      `flotilla-agent ${name}: ${(error as Error).message}\n${usageError ? `Usage: ${usage}\n` : ""}`,
    );
    return usageError ? 2 : 1;
  }
}
