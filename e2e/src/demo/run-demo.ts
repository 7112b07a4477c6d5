/**
 * What `flotilla demo` does once its flags are checked (hub/src/cli/demo-command.ts loads this
 * module from the source checkout). Progress goes to stderr; stdout holds only the fleet table,
 * the access lines, or with `--once -o json` exactly what `flotilla status -o json` prints.
 *
 * Interactive: start, converge, print the fleet, the dashboard URL and the CLI environment, offer
 * the web v2 change on Enter (or roll it with --change), run until Ctrl-C, stop everything.
 * `--once`: start, converge (exit 0) or time out (exit 1, naming what is missing), stop.
 */
import { createInterface } from "node:readline";
import type { CliIo } from "@flotilla/hub/cli/command";
import type { DemoRunOptions } from "@flotilla/hub/cli/demo-command";
import { useColour } from "@flotilla/hub/cli/format-table";
import { describeError } from "@flotilla/hub/cli/run-cli";
import { formatStatusTable, type StatusDocument } from "@flotilla/hub/cli/status-command";
import { formatDuration } from "../harness/testenv-binary.js";
import { type Demo, startDemo } from "./start-demo.js";

/** Exit code after SIGINT (128 + 2), as a shell reports it. */
const INTERRUPTED = 130;

export async function runDemo(options: DemoRunOptions, io: CliIo): Promise<number> {
  const say = (line: string) => io.stderr(`demo: ${line}\n`);
  const interrupt = watchInterrupt(io.signal, say);
  let demo: Demo | undefined;
  try {
    const startedAt = Date.now();
    demo = await startDemo({
      ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
      ...(options.port === undefined ? {} : { port: options.port }),
      onProgress: say,
      signal: interrupt.signal,
    });
    say(`waiting until every app is Synced and Healthy (timeout ${formatDuration(options.timeoutMs)})`);
    let status = await demo.waitConverged({ timeoutMs: options.timeoutMs, onProgress: say });
    say(`fleet converged ${formatDuration(Date.now() - startedAt)} after the start`);

    if (options.once) {
      if (options.change) {
        if (options.output === "table") printFleet(io, status);
        status = (await rollAndReport(demo, options, say)).status;
      }
      if (options.output === "json") io.stdout(`${JSON.stringify(status, null, 2)}\n`);
      else printFleet(io, status);
      return 0;
    }

    printFleet(io, status);
    printAccess(io, demo);
    if (options.change) {
      printFleet(io, (await rollAndReport(demo, options, say)).status);
    } else if (process.stdin.isTTY) {
      io.stdout("\nPress Enter to roll web v2 to the prod clusters, Ctrl-C to stop\n");
      if (await waitForEnter(interrupt.signal))
        printFleet(io, (await rollAndReport(demo, options, say)).status);
    }
    say("running; press Ctrl-C to stop");
    await interrupt.interrupted;
    // Ctrl-C is how the interactive demo ends: not a failure.
    return 0;
  } catch (error) {
    if (interrupt.signal.aborted) return INTERRUPTED;
    io.stderr(`flotilla demo: ${describeError(error)}\n`);
    if (options.dataDir === undefined)
      say("run again with --data-dir <dir> to keep the hub's and the agents' logs for a look");
    return 1;
  } finally {
    if (demo) {
      say("stopping agents, hub, git server and clusters");
      await demo.stop();
    }
    interrupt.dispose();
    say("stopped");
  }
}

async function rollAndReport(
  demo: Demo,
  options: DemoRunOptions,
  say: (line: string) => void,
): Promise<{ status: StatusDocument }> {
  const startedAt = Date.now();
  say("rolling web v2 (nginx:1.28, version v2) to the prod clusters");
  const rolled = await demo.rollNewVersion({ timeoutMs: options.timeoutMs, onProgress: say });
  say(
    `web v2 is live on the prod clusters: revision ${rolled.previousRevision.slice(0, 7)} -> ${rolled.revision.slice(0, 7)} in ${formatDuration(Date.now() - startedAt)}`,
  );
  return rolled;
}

function printFleet(io: CliIo, status: StatusDocument): void {
  io.stdout(`\n${formatStatusTable(status, false, useColour(io))}`);
}

/** The dashboard link and the CLI environment hold the admin token: printed for the person only. */
function printAccess(io: CliIo, demo: Demo): void {
  const { FLOTILLA_HUB, FLOTILLA_TOKEN, FLOTILLA_CA } = demo.cliEnv;
  io.stdout(
    [
      "",
      `Dashboard: ${demo.dashboardUrl}`,
      `CA certificate: ${demo.caCertPath} (your browser will warn about the self-made certificate)`,
      "Use the CLI against the demo (from the repository):",
      `  export FLOTILLA_HUB=${FLOTILLA_HUB} FLOTILLA_TOKEN=${FLOTILLA_TOKEN} FLOTILLA_CA=${FLOTILLA_CA}`,
      "  pnpm -s flotilla status -o wide",
      `Clusters (kubeconfig): ${demo.clusters.map((c) => `${c.name} ${c.kubeconfigPath}`).join(", ")}`,
      "",
    ].join("\n"),
  );
}

/** True when a line arrives on stdin, false when `signal` aborts first. */
function waitForEnter(signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  // terminal: false leaves Ctrl-C to the terminal, which sends SIGINT as usual.
  const lines = createInterface({ input: process.stdin, terminal: false });
  return new Promise<boolean>((resolveEnter) => {
    let done = false;
    const finish = (entered: boolean) => {
      // lines.close() below emits "close" at once: the first outcome wins.
      if (done) return;
      done = true;
      resolveEnter(entered);
      signal.removeEventListener("abort", onAbort);
      lines.close();
      process.stdin.pause();
    };
    const onAbort = () => finish(false);
    signal.addEventListener("abort", onAbort, { once: true });
    lines.once("line", () => finish(true));
    lines.once("close", () => finish(false));
  });
}

type Interrupt = {
  signal: AbortSignal;
  /** Resolves at the first SIGINT or SIGTERM (or when the caller's signal aborts). */
  interrupted: Promise<void>;
  dispose(): void;
};

/**
 * Turns the first SIGINT or SIGTERM (or an abort of `external`) into an abort, so everything
 * started is stopped in order; a second signal exits at once (the cluster processes die with
 * this process).
 */
function watchInterrupt(external: AbortSignal | undefined, say: (line: string) => void): Interrupt {
  const controller = new AbortController();
  let received = 0;
  const onSignal = (name: NodeJS.Signals) => {
    received += 1;
    if (received > 1) process.exit(INTERRUPTED);
    say(`${name}: stopping (again to quit at once)`);
    controller.abort();
  };
  const onExternal = () => controller.abort();
  external?.addEventListener("abort", onExternal, { once: true });
  if (external?.aborted) controller.abort();
  if (!external) {
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  }
  const interrupted = new Promise<void>((resolveInterrupt) => {
    if (controller.signal.aborted) resolveInterrupt();
    controller.signal.addEventListener("abort", () => resolveInterrupt(), { once: true });
  });
  return {
    signal: controller.signal,
    interrupted,
    dispose: () => {
      external?.removeEventListener("abort", onExternal);
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}
