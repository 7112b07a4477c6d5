import { parseArgs } from "node:util";
import type { DesiredApp } from "../desired/desired-app.js";
import { loadDesiredDir } from "../desired/load-desired-dir.js";
import type { Reconciler } from "../reconcile/reconciler.js";
import { type AgentPlatform, createAgent, kubePlatform, type Log } from "./create-agent.js";
import { exitCodeOf, formatStatuses } from "./format-statuses.js";
import {
  type AgentFlags,
  type AgentIo,
  agentFlagOptions,
  agentFlagsHelp,
  agentFlagsUsage,
  parseDurationFlag,
  readAgentFlags,
  UsageError,
} from "./read-agent-flags.js";
import { runConnected } from "./run-connected.js";
import { markFirstPass, type StatusListener, startStatusListener } from "./start-status-listener.js";

export const runUsage =
  `flotilla-agent run [--desired-dir <dir> [--dir-poll-interval 10s]]\n    ${agentFlagsUsage}\n\n` +
  "A joined agent (flotilla-agent join) gets its apps from the hub and takes no --desired-dir.\n" +
  agentFlagsHelp;

type RunFlags = AgentFlags & { desiredDir?: string; dirPollIntervalMs: number };

function parseRunFlags(argv: string[], env: AgentIo["env"]): RunFlags {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...agentFlagOptions,
      "desired-dir": { type: "string" },
      "dir-poll-interval": { type: "string", default: "10s" },
    },
  });
  return {
    ...readAgentFlags(values, positionals, env),
    desiredDir: values["desired-dir"],
    dirPollIntervalMs: parseDurationFlag("--dir-poll-interval", values["dir-poll-interval"]),
  };
}

/**
 * `flotilla-agent run`: reconciles into one cluster the apps of --desired-dir and whatever state
 * it persisted before. An agent that joined a hub (an identity in the state store) connects to it
 * instead, as `join` does; --desired-dir is then refused. With --once: one pass, a bounded wait
 * for health to settle, the result printed, exit 0 when every app is Synced and Healthy, else 1.
 */
export async function runAgentCommand(
  argv: string[],
  io: AgentIo,
  platform: AgentPlatform = kubePlatform,
): Promise<number> {
  const flags = parseRunFlags(argv, io.env);
  const agent = await createAgent(flags, io, platform);
  const { identity } = await agent.store.read();
  if (identity !== undefined) {
    if (flags.desiredDir) {
      throw new UsageError(
        `${agent.store.location} holds the identity of cluster ${identity.clusterName} joined to hub ${identity.hubUrl}: ` +
          "its apps come from the hub, so --desired-dir cannot be used (one source of desired state at a time)",
      );
    }
    return runConnected(agent, identity, flags, io);
  }

  const { reconciler, log } = agent;
  await reconciler.start();
  let firstPass: Promise<void> = Promise.resolve();
  let status: StatusListener | undefined;
  try {
    status = await startStatusListener(agent, flags, io, { hub: false });
    if (flags.desiredDir) await loadDirectory(reconciler, flags.desiredDir, log);
    if (flags.once) {
      await reconciler.reconcileAll();
      status.markReconciled();
      const statuses = await reconciler.settle(flags.timeoutMs);
      io.stdout(formatStatuses(statuses, flags.output));
      return exitCodeOf(statuses);
    }
    log("info", "agent running", {
      server: agent.kube.server,
      state: agent.store.location,
      apps: reconciler.apps().length,
    });
    firstPass = markFirstPass(reconciler, status, log);
    await runUntilAborted(reconciler, flags, io, log);
    return 0;
  } finally {
    await status?.close();
    await reconciler.stop();
    await firstPass;
  }
}

/**
 * Loads the directory and hands it to the reconciler. An app whose files are broken keeps its
 * last good desired state (so nothing of it is pruned); the problem is logged.
 */
async function loadDirectory(reconciler: Reconciler, dir: string, log: Log): Promise<void> {
  const { apps, problems } = await loadDesiredDir(dir);
  const broken = new Set(problems.map((p) => p.app));
  for (const problem of problems)
    log("error", "app not loaded", { app: problem.app, error: problem.message });
  const kept: DesiredApp[] = reconciler.apps().filter((app) => broken.has(app.name));
  await reconciler.setDesired([...apps, ...kept]);
}

async function runUntilAborted(
  reconciler: Reconciler,
  flags: RunFlags,
  io: AgentIo,
  log: Log,
): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = flags.desiredDir
      ? setInterval(() => {
          loadDirectory(reconciler, flags.desiredDir ?? "", log).catch((error: unknown) =>
            log("error", "desired directory unreadable", { error: (error as Error).message }),
          );
        }, flags.dirPollIntervalMs)
      : undefined;
    const finish = () => {
      if (timer) clearInterval(timer);
      resolve();
    };
    if (io.signal?.aborted) finish();
    io.signal?.addEventListener("abort", finish, { once: true });
  });
}
