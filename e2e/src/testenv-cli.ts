// Entry point of `pnpm -s testenv`: builds the flotilla-testenv binary and runs throwaway
// Kubernetes control planes (etcd + kube-apiserver on loopback) for development and CI.
import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type Cluster, startClusters } from "./harness/cluster.js";
import { ensureHadolint } from "./harness/hadolint.js";
import { ensureTestenvBinary, formatDuration } from "./harness/testenv-binary.js";
import { ensureTools, REPO_ROOT } from "./harness/tools.js";

const usage = `Usage: pnpm -s testenv <command> [options]

Commands:
  prepare                            Build (or find cached) every test binary: flotilla-testenv,
                                     kustomize, helm, nats-server, hadolint; record their paths in
                                     .cache/tools.json for the test runner.
  build                              Build flotilla-testenv if needed; print its path.
  run [--clusters N] -- <command...> Start N clusters, run the command with
                                     FLOTILLA_KUBECONFIGS=<kubeconfig>:<kubeconfig>:...,
                                     stop the clusters, exit with the command's status.
  start [--clusters N]               Start N clusters and keep them until Ctrl-C.

Options:
  --clusters N   Number of clusters, default 1.
  --workloads    Also run kube-controller-manager, kube-scheduler and kwok with a fake
                 Node, so Deployments really roll out and become Available.
  -h, --help     Show this help.

Environment:
  FLOTILLA_TESTENV_BIN   Use this prebuilt flotilla-testenv binary instead of building one.
`;

const logProgress = (line: string) => process.stderr.write(`testenv: ${line}\n`);

async function main(argv: string[]): Promise<number> {
  const separator = argv.indexOf("--");
  const own = separator >= 0 ? argv.slice(0, separator) : argv;
  const command = separator >= 0 ? argv.slice(separator + 1) : [];
  const { values, positionals } = parseArgs({
    args: own,
    allowPositionals: true,
    options: {
      clusters: { type: "string", default: "1" },
      workloads: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  const subcommand = positionals[0];
  if (values.help || subcommand === undefined || subcommand === "help") {
    process.stdout.write(usage);
    return values.help || subcommand === "help" ? 0 : 2;
  }
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${positionals[1]}`);
  const count = Number(values.clusters);
  if (!Number.isInteger(count) || count < 1) throw new UsageError(`--clusters must be a positive integer`);
  const request: ClusterRequest = { count, workloads: values.workloads };

  switch (subcommand) {
    case "prepare": {
      const tools = {
        testenv: await ensureTestenvBinary({ onProgress: logProgress }),
        ...(await ensureTools({ onProgress: logProgress })),
        hadolint: await ensureHadolint(logProgress),
      };
      await mkdir(join(REPO_ROOT, ".cache"), { recursive: true });
      await writeFile(join(REPO_ROOT, ".cache", "tools.json"), `${JSON.stringify(tools, null, 2)}\n`);
      for (const [name, path] of Object.entries(tools)) logProgress(`${name}: ${path}`);
      return 0;
    }
    case "build": {
      process.stdout.write(`${await ensureTestenvBinary({ onProgress: logProgress })}\n`);
      return 0;
    }
    case "run": {
      if (command.length === 0) throw new UsageError("run needs a command after --");
      return await runWithClusters(request, command);
    }
    case "start": {
      return await holdClusters(request);
    }
    default:
      throw new UsageError(`unknown command ${subcommand}`);
  }
}

class UsageError extends Error {}

interface ClusterRequest {
  count: number;
  workloads: boolean;
}

/** Starts clusters, unless a SIGINT or SIGTERM arrives first: then they are stopped again. */
async function startClustersInterruptibly(
  { count, workloads }: ClusterRequest,
  interrupted: Promise<NodeJS.Signals>,
): Promise<{ clusters: Cluster[] } | { signal: NodeJS.Signals }> {
  const startedAt = Date.now();
  const starting = startClusters(count, { workloads, onProgress: logProgress });
  const first = await Promise.race([starting, interrupted]);
  if (typeof first === "string") {
    logProgress(`${first}: stopping clusters`);
    // startClusters either yields all clusters or stops what it started itself.
    const clusters = await starting.catch(() => [] as Cluster[]);
    await stopAll(clusters);
    return { signal: first };
  }
  logProgress(`${count} cluster(s) ready in ${formatDuration(Date.now() - startedAt)}`);
  return { clusters: first };
}

async function runWithClusters(request: ClusterRequest, command: string[]): Promise<number> {
  const interrupted = waitForSignal();
  const started = await startClustersInterruptibly(request, interrupted);
  if ("signal" in started) return exitCodeOf(started.signal);
  const { clusters } = started;
  try {
    const [file, ...args] = command as [string, ...string[]];
    const child = spawn(file, args, {
      stdio: "inherit",
      env: { ...process.env, FLOTILLA_KUBECONFIGS: clusters.map((c) => c.kubeconfigPath).join(":") },
    });
    // Ctrl-C reaches the child through the terminal; a SIGTERM sent to us alone is passed on.
    void interrupted.then((signal) => {
      if (signal === "SIGTERM") child.kill("SIGTERM");
    });
    return await new Promise<number>((resolve) => {
      child.once("error", (error) => {
        logProgress(`cannot run ${file}: ${error.message}`);
        resolve(127);
      });
      child.once("close", (code, signal) => resolve(code ?? (signal ? exitCodeOf(signal) : 1)));
    });
  } finally {
    await stopAll(clusters);
  }
}

async function holdClusters(request: ClusterRequest): Promise<number> {
  const interrupted = waitForSignal();
  const started = await startClustersInterruptibly(request, interrupted);
  if ("signal" in started) return exitCodeOf(started.signal);
  const { clusters } = started;
  for (const cluster of clusters)
    process.stdout.write(`${cluster.name}\t${cluster.server}\t${cluster.kubeconfigPath}\n`);
  process.stdout.write(
    `export FLOTILLA_KUBECONFIGS=${clusters.map((c) => c.kubeconfigPath).join(":")}\n` +
      `export KUBECONFIG=${clusters.map((c) => c.kubeconfigPath).join(":")}\n`,
  );
  logProgress("clusters running; press Ctrl-C to stop them");
  const signal = await interrupted;
  logProgress(`${signal}: stopping clusters`);
  await stopAll(clusters);
  return 0;
}

async function stopAll(clusters: Cluster[]): Promise<void> {
  const startedAt = Date.now();
  await Promise.all(clusters.map((c) => c.stop()));
  if (clusters.length > 0)
    logProgress(`stopped ${clusters.length} cluster(s) in ${formatDuration(Date.now() - startedAt)}`);
}

/**
 * Resolves with the first SIGINT or SIGTERM, so clusters can be stopped in order. A second one
 * exits at once; the cluster module's exit handler then SIGKILLs what still runs.
 */
function waitForSignal(): Promise<NodeJS.Signals> {
  let received = 0;
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      received += 1;
      if (received > 1) process.exit(exitCodeOf(signal));
      resolve(signal);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}

function exitCodeOf(signal: NodeJS.Signals): number {
  return 128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`testenv: ${error.message}\n\n${usage}`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`testenv: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
