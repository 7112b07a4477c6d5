/** What a command writes to and reads from; injected so tests can capture output. */
export type CliIo = {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Readonly<Record<string, string | undefined>>;
  isTty: boolean;
  /**
   * Aborts when the user asks a long-running command (`events --follow`) to stop. Unset, such a
   * command stops on the process's SIGINT or SIGTERM.
   */
  signal?: AbortSignal;
};

/**
 * One `flotilla` command. `run` returns the exit code. A command without `run` is planned:
 * it is listed in help with the issue that brings it, and refuses to run with a clear message.
 */
export type Command = {
  path: readonly string[];
  summary: string;
  usage?: string;
  plannedIn?: number;
  run?: (args: string[], io: CliIo) => Promise<number>;
};

/** A usage error: the CLI prints the message and the command's usage, and exits 2. */
export class UsageError extends Error {}
