// The flags `run` and `join` share: where the API server is, where state is kept, health checks,
// reconcile timings and the --once output.
import { parseDuration } from "@flotilla/proto/duration";

export type AgentIo = {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  /** Aborted on SIGINT/SIGTERM; a long-running agent stops cleanly. */
  signal?: AbortSignal;
};

/** A mistake in the command line: exit code 2 with the usage. */
export class UsageError extends Error {}

/** node:util parseArgs options of the shared flags; commands spread their own next to them. */
export const agentFlagOptions = {
  kubeconfig: { type: "string" },
  context: { type: "string" },
  "in-cluster": { type: "boolean", default: false },
  once: { type: "boolean", default: false },
  output: { type: "string", short: "o", default: "text" },
  timeout: { type: "string", default: "2m" },
  "state-file": { type: "string" },
  "state-namespace": { type: "string" },
  "health-config": { type: "string" },
  "resync-interval": { type: "string", default: "3m" },
  "wave-timeout": { type: "string", default: "5m" },
} as const;

/** The usage of the shared flags, after the command's own. */
export const agentFlagsUsage =
  "(--kubeconfig <file> [--context <name>] | --in-cluster) [--once] [-o text|json] [--timeout 2m]\n" +
  "    [--state-file <file> | --state-namespace <ns>] [--health-config <file>] [--resync-interval 3m] [--wave-timeout 5m]";

export type AgentFlags = {
  kubeconfig?: string;
  context?: string;
  inCluster: boolean;
  once: boolean;
  output: "text" | "json";
  /** --once: how long to wait (for health to settle; with a hub, for delivery too). */
  timeoutMs: number;
  stateFile?: string;
  stateNamespace?: string;
  healthConfig?: string;
  resyncIntervalMs: number;
  waveTimeoutMs: number;
};

/** The values parseArgs returns for `agentFlagOptions`. */
type AgentFlagValues = {
  kubeconfig?: string;
  context?: string;
  "in-cluster": boolean;
  once: boolean;
  output: string;
  timeout: string;
  "state-file"?: string;
  "state-namespace"?: string;
  "health-config"?: string;
  "resync-interval": string;
  "wave-timeout": string;
};

/** Checks the shared flags; throws UsageError naming the flag at fault. */
export function readAgentFlags(values: AgentFlagValues, positionals: string[]): AgentFlags {
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  if (Boolean(values.kubeconfig) === values["in-cluster"]) {
    throw new UsageError("give exactly one of --kubeconfig <file> or --in-cluster");
  }
  if (values.output !== "text" && values.output !== "json") {
    throw new UsageError(`-o must be text or json, not '${values.output}'`);
  }
  if (values["state-file"] && values["state-namespace"]) {
    throw new UsageError("give at most one of --state-file or --state-namespace");
  }
  return {
    kubeconfig: values.kubeconfig,
    context: values.context,
    inCluster: values["in-cluster"],
    once: values.once,
    output: values.output,
    timeoutMs: parseDurationFlag("--timeout", values.timeout),
    stateFile: values["state-file"],
    stateNamespace: values["state-namespace"],
    healthConfig: values["health-config"],
    resyncIntervalMs: parseDurationFlag("--resync-interval", values["resync-interval"]),
    waveTimeoutMs: parseDurationFlag("--wave-timeout", values["wave-timeout"]),
  };
}

/** Milliseconds of a duration flag; a UsageError naming `flag` when it is not a duration. */
export function parseDurationFlag(flag: string, text: string): number {
  try {
    return parseDuration(text, flag);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
