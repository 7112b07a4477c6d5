import { type AppStatus, formatAppStatusJson } from "../reconcile/app-status.js";

/** The output of `--once`: JSON (`{"apps": [...]}`) or one block of lines per app. */
export function formatStatuses(statuses: AppStatus[], output: "text" | "json"): string {
  return output === "json" ? formatJson(statuses) : formatText(statuses);
}

/** The exit code of `--once`: 0 when every app is Synced and Healthy, else 1. */
export function exitCodeOf(statuses: AppStatus[]): number {
  return statuses.every((s) => s.sync === "Synced" && s.health === "Healthy") ? 0 : 1;
}

function formatJson(statuses: AppStatus[]): string {
  return `${JSON.stringify({ apps: statuses.map(formatAppStatusJson) }, null, 2)}\n`;
}

function formatText(statuses: AppStatus[]): string {
  const lines: string[] = [];
  for (const status of statuses) {
    lines.push(
      `app ${status.name}: ${status.sync}, ${status.health}${status.healthMessage ? ` (${status.healthMessage})` : ""}`,
    );
    if (status.operation) lines.push(`  sync ${status.operation.phase}: ${status.operation.message}`);
    for (const condition of status.conditions) lines.push(`  ${condition.type}: ${condition.message}`);
    for (const r of status.resources) {
      const name = r.namespace ? `${r.kind}/${r.namespace}/${r.name}` : `${r.kind}/${r.name}`;
      const detail = r.message ? `  ${r.message}` : "";
      lines.push(
        `  ${r.result.padEnd(10)} ${r.sync.padEnd(9)} ${(r.health ?? "-").padEnd(11)} ${name}${detail}`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}
