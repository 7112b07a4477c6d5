/**
 * Which recorded events start a notifiable condition and which end one. The table is the whole
 * contract between the event history and the notifier.
 */
import type { HubEvent } from "../store/store.js";
import type { Trigger } from "./notification-config.js";

/** `raised`: the condition started (or happened again); `cleared`: it recovered. */
export type Signal = { trigger: Trigger; change: "raised" | "cleared" };

const FAILED_PHASES = new Set(["Failed", "Error"]);

const RULES = new Map<string, (data: Record<string, unknown>) => Signal | undefined>([
  [
    "health-changed",
    (data) =>
      data.to === "Degraded"
        ? { trigger: "app-degraded", change: "raised" }
        : data.to === "Healthy"
          ? { trigger: "app-degraded", change: "cleared" }
          : undefined,
  ],
  [
    "operation-finished",
    (data) =>
      typeof data.phase === "string" && FAILED_PHASES.has(data.phase)
        ? { trigger: "sync-failed", change: "raised" }
        : data.phase === "Succeeded"
          ? { trigger: "sync-failed", change: "cleared" }
          : undefined,
  ],
  ["cluster-disconnected", () => ({ trigger: "cluster-disconnected", change: "raised" })],
  ["cluster-connected", () => ({ trigger: "cluster-disconnected", change: "cleared" })],
]);

/** The signal an event carries, or undefined for events notifications ignore. */
export function classifyEvent(event: Pick<HubEvent, "type" | "data">): Signal | undefined {
  return RULES.get(event.type)?.(event.data ?? {});
}
