/**
 * Status names as the dashboard shows them. The grid route sends short names ("Degraded"); the
 * protobuf JSON routes send enum names ("HEALTH_STATUS_DEGRADED"); both end up short here, with
 * one CSS class per value.
 */

export type Health = "Healthy" | "Progressing" | "Degraded" | "Suspended" | "Missing" | "Unknown";
export type Sync = "Synced" | "OutOfSync" | "Unknown";
export type Connection = "Connected" | "Stale" | "Disconnected" | "Pending" | "Unknown";

export const HEALTHS: readonly Health[] = [
  "Healthy",
  "Progressing",
  "Degraded",
  "Suspended",
  "Missing",
  "Unknown",
];
export const SYNCS: readonly Sync[] = ["Synced", "OutOfSync", "Unknown"];

/** "HEALTH_STATUS_OUT_OF_SYNC" -> "OutOfSync" style: drop the prefix, camel-case the rest. */
function shortName(value: string, prefix: string): string {
  const rest = value.startsWith(prefix) ? value.slice(prefix.length) : value;
  if (!rest.includes("_") && rest !== rest.toUpperCase()) return rest;
  return rest
    .toLowerCase()
    .split("_")
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join("");
}

export function healthOf(value: string | undefined): Health {
  const name = shortName(value ?? "", "HEALTH_STATUS_");
  return (HEALTHS as readonly string[]).includes(name) ? (name as Health) : "Unknown";
}

export function syncOf(value: string | undefined): Sync {
  const name = shortName(value ?? "", "SYNC_STATUS_");
  return (SYNCS as readonly string[]).includes(name) ? (name as Sync) : "Unknown";
}

export function connectionOf(value: string | undefined): Connection {
  const name = shortName(value ?? "", "CONNECTION_STATE_");
  return ["Connected", "Stale", "Disconnected", "Pending"].includes(name) ? (name as Connection) : "Unknown";
}

/** "EVENT_KIND_HEALTH_CHANGED" -> "health-changed"; "OPERATION_PHASE_FAILED" -> "failed". */
export function kebabOf(value: string | undefined, prefix: string): string {
  const rest = (value ?? "").startsWith(prefix) ? (value ?? "").slice(prefix.length) : (value ?? "");
  return rest.toLowerCase().replaceAll("_", "-");
}

export function healthClass(health: Health): string {
  return `health-${health.toLowerCase()}`;
}

export function syncClass(sync: Sync): string {
  return `sync-${sync.toLowerCase()}`;
}

export function connectionClass(connection: Connection): string {
  return `conn-${connection.toLowerCase()}`;
}
