// A joined agent: desired state comes from the hub's Connect stream, statuses go back on it.
// `join` (after Register, or when already joined) and `run` (with a stored identity) end here.
import { hostname } from "node:os";
import type { HubIdentity } from "../desired/state-store.js";
import { createReconcilerSink } from "../hub/create-reconciler-sink.js";
import { connectToHub } from "../hub/hub-connection.js";
import type { AppStatus } from "../reconcile/app-status.js";
import { agentVersion } from "./agent-version.js";
import type { Agent } from "./create-agent.js";
import { exitCodeOf, formatStatuses } from "./format-statuses.js";
import type { AgentFlags, AgentIo } from "./read-agent-flags.js";
import { markFirstPass, type StatusListener, startStatusListener } from "./start-status-listener.js";

/**
 * Starts `agent`'s reconciler and connects it to the hub of `identity` until `io.signal` aborts
 * (then returns 0). Rejects when the hub refuses the credential or the cluster name: an operator
 * has to create a new token and join again.
 *
 * With `flags.once`: waits until the hub's Welcome and its backlog were received and persisted,
 * reconciles every app held, waits for health to settle, prints the statuses and returns 0 when
 * all are Synced and Healthy, else 1. Delivery and settling share one `flags.timeoutMs`; a hub
 * that delivers nothing in time is an error. Statuses not yet reported go to the hub (within 2 s)
 * before it returns.
 */
export async function runConnected(
  agent: Agent,
  identity: HubIdentity,
  flags: AgentFlags,
  io: AgentIo,
): Promise<number> {
  const { reconciler, log, metrics } = agent;
  await reconciler.start();
  let status: StatusListener;
  try {
    status = await startStatusListener(agent, flags, io, { hub: true });
  } catch (error) {
    await reconciler.stop();
    throw error;
  }
  const controller = new AbortController();
  const stop = () => controller.abort();
  if (io.signal?.aborted) stop();
  io.signal?.addEventListener("abort", stop, { once: true });
  let markCaughtUp = () => {};
  const caughtUp = new Promise<void>((resolve) => {
    markCaughtUp = resolve;
  });
  // Shown by the hub per cluster; a server that will not say is no reason not to connect.
  const kubeVersion = (await agent.kube.serverVersion?.().catch(() => "")) ?? "";
  const connection = connectToHub({
    identity,
    kubeVersion,
    sink: createReconcilerSink(reconciler, agent.store, agent.feed),
    signal: controller.signal,
    log,
    agentVersion,
    instanceId: hostname(),
    onCaughtUp: () => markCaughtUp(),
    observer: {
      ...metrics.hub,
      connected(connected) {
        metrics.hub.connected?.(connected);
        if (connected) status.markHubReached();
      },
    },
  });
  let firstPass: Promise<void> = Promise.resolve();
  try {
    if (!flags.once) {
      log("info", "agent running", {
        server: agent.kube.server,
        state: agent.store.location,
        hub: identity.hubUrl,
        cluster: identity.clusterName,
        apps: reconciler.apps().length,
      });
      firstPass = markFirstPass(reconciler, status, log);
      await connection;
      return 0;
    }
    const statuses = await reconcileDelivered(agent, identity, flags.timeoutMs, caughtUp, connection);
    status.markReconciled();
    io.stdout(formatStatuses(statuses, flags.output));
    return exitCodeOf(statuses);
  } finally {
    io.signal?.removeEventListener("abort", stop);
    controller.abort();
    // Resolves once the pending status reports went out; a refusal was already reported above.
    await connection.catch(() => {});
    await status.close();
    await reconciler.stop();
    await firstPass;
  }
}

/** --once: what the hub delivered, reconciled and settled within `timeoutMs`. */
async function reconcileDelivered(
  agent: Agent,
  identity: HubIdentity,
  timeoutMs: number,
  caughtUp: Promise<void>,
  connection: Promise<void>,
): Promise<AppStatus[]> {
  const deadline = Date.now() + timeoutMs;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<"expired">((resolve) => {
    timer = setTimeout(() => resolve("expired"), timeoutMs);
  });
  let outcome: "delivered" | "stopped" | "expired";
  try {
    // A refusal rejects `connection`, and with it the race.
    outcome = await Promise.race([
      caughtUp.then(() => "delivered" as const),
      connection.then(() => "stopped" as const),
      expired,
    ]);
  } finally {
    clearTimeout(timer);
  }
  if (outcome === "stopped")
    throw new Error(`hub ${identity.hubUrl}: stopped before the desired state arrived`);
  if (outcome === "expired") {
    throw new Error(
      `hub ${identity.hubUrl}: the desired state did not arrive within ${timeoutMs} ms (see the log for why; --timeout sets the wait)`,
    );
  }
  await agent.reconciler.reconcileAll();
  return agent.reconciler.settle(Math.max(0, deadline - Date.now()));
}
