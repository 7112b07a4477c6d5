// The flags `run` and `join` share: where the API server is, where state is kept, health checks,
// reconcile timings, the --once output, the log level and the status listener.
import { parseDuration } from "@flotilla/proto/duration";
import { type LogLevel, parseLogLevel } from "@flotilla/proto/log";
import { splitListen } from "../metrics/serve-status.js";

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
  "log-level": { type: "string" },
  "status-listen": { type: "string" },
  "status-cert": { type: "string" },
  "status-key": { type: "string" },
  "status-insecure-http": { type: "boolean", default: false },
} as const;

/** The usage of the shared flags, after the command's own. */
export const agentFlagsUsage =
  "(--kubeconfig <file> [--context <name>] | --in-cluster) [--once] [-o text|json] [--timeout 2m]\n" +
  "    [--state-file <file> | --state-namespace <ns>] [--health-config <file>] [--resync-interval 3m] [--wave-timeout 5m]\n" +
  "    [--log-level debug|info|warn|error] [--status-listen host:port [--status-cert <file> --status-key <file> | --status-insecure-http]]";

/** What the log and status-listener flags do; commands print it after their own notes. */
export const agentFlagsHelp =
  "Logs are JSON lines on stderr; --log-level (or FLOTILLA_LOG_LEVEL) drops lines below it (default info).\n" +
  "--status-listen (or FLOTILLA_AGENT_STATUS_LISTEN; off by default, the Helm chart sets 0.0.0.0:8443) serves\n" +
  "/healthz, /readyz (200 once the first reconcile pass finished and, when joined, the hub was reached) and\n" +
  "/metrics (Prometheus) over HTTPS with a self-signed certificate made at start, or --status-cert/--status-key.\n" +
  "--status-insecure-http serves plain HTTP instead: for sidecars and tests only.";

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
  logLevel: LogLevel;
  /** The status listener's address; undefined: no listener. */
  statusListen?: string;
  /** How the status listener serves: a self-made certificate, the given files, or plain HTTP. */
  statusTls:
    | { kind: "self-signed" }
    | { kind: "files"; certFile: string; keyFile: string }
    | { kind: "insecure-http" };
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
  "log-level"?: string;
  "status-listen"?: string;
  "status-cert"?: string;
  "status-key"?: string;
  "status-insecure-http": boolean;
};

/**
 * Checks the shared flags; throws UsageError naming the flag at fault. `env` supplies
 * FLOTILLA_LOG_LEVEL and FLOTILLA_AGENT_STATUS_LISTEN when the flags are not given.
 */
export function readAgentFlags(
  values: AgentFlagValues,
  positionals: string[],
  env: AgentIo["env"] = {},
): AgentFlags {
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
  const statusListen = values["status-listen"] || env.FLOTILLA_AGENT_STATUS_LISTEN || undefined;
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
    logLevel: readLogLevel(values["log-level"], env.FLOTILLA_LOG_LEVEL),
    statusListen: statusListen === undefined ? undefined : checkStatusListen(statusListen),
    statusTls: readStatusTls(values, statusListen !== undefined),
  };
}

function readLogLevel(flag: string | undefined, fromEnv: string | undefined): LogLevel {
  try {
    return parseLogLevel(
      flag ?? (fromEnv || undefined),
      flag === undefined ? "FLOTILLA_LOG_LEVEL" : "--log-level",
    );
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function checkStatusListen(address: string): string {
  try {
    splitListen(address);
    return address;
  } catch (error) {
    throw new UsageError(`--status-listen: ${(error as Error).message}`);
  }
}

function readStatusTls(values: AgentFlagValues, listening: boolean): AgentFlags["statusTls"] {
  const certFile = values["status-cert"];
  const keyFile = values["status-key"];
  const insecure = values["status-insecure-http"];
  if ((certFile || keyFile || insecure) && !listening)
    throw new UsageError("--status-cert, --status-key and --status-insecure-http need --status-listen");
  if (Boolean(certFile) !== Boolean(keyFile))
    throw new UsageError("give both --status-cert and --status-key, or neither (a self-signed certificate)");
  if (insecure && certFile)
    throw new UsageError("give --status-insecure-http or --status-cert/--status-key, not both");
  if (insecure) return { kind: "insecure-http" };
  if (certFile && keyFile) return { kind: "files", certFile, keyFile };
  return { kind: "self-signed" };
}

/** Milliseconds of a duration flag; a UsageError naming `flag` when it is not a duration. */
export function parseDurationFlag(flag: string, text: string): number {
  try {
    return parseDuration(text, flag);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
