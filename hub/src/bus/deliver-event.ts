import type { BusEvent, BusHandler, BusStats } from "./bus.js";

/** Names an event in errors: `status c1/web`, `targets-changed c1`. */
export function describeEvent(event: BusEvent): string {
  if ("app" in event) return `${event.type} ${event.clusterId}/${event.app}`;
  if ("clusterId" in event) return `${event.type} ${event.clusterId}`;
  return `${event.type} ${event.requestId}`;
}

/**
 * Runs one handler on one event and never throws: a failure is counted and handed to
 * `onError`, so one bad event cannot stop a subscription.
 */
export async function deliverEvent(
  handler: BusHandler,
  event: BusEvent,
  stats: BusStats,
  onError: ((error: Error) => void) | undefined,
): Promise<void> {
  stats.delivered++;
  try {
    await handler(event);
  } catch (cause) {
    stats.handlerErrors++;
    onError?.(new Error(`bus: handler failed on ${describeEvent(event)}`, { cause }));
  }
}
