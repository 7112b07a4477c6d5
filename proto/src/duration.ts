// Shared by hub and agent: durations in flags, config files and environment variables.
const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Milliseconds of a Go-style duration such as "500ms", "30s", "3m", "1h30m" or "7d". A bare number
 * is seconds. Throws an Error naming `what` when the text is not a duration.
 */
export function parseDuration(text: string, what: string): number {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1_000;
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  const consumed = parts.map((p) => p[0]).join("");
  if (parts.length === 0 || consumed !== trimmed) {
    throw new Error(`${what}: "${text}" is not a duration (examples: 500ms, 30s, 3m, 1h, 7d)`);
  }
  return parts.reduce((total, [, value, unit]) => total + Number(value) * (units[unit ?? "s"] ?? 1_000), 0);
}
