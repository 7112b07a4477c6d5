/** JSON-lines logging for the hub: one object per line with time, level, msg and fields. */
import { redact } from "../auth/tokens.js";
import type { Logger, LogLevel } from "./hub-runtime.js";

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function parseLogLevel(text: string | undefined, where: string): LogLevel {
  const level = (text ?? "info").toLowerCase();
  if (!Object.hasOwn(LEVELS, level))
    throw new Error(`${where}: log level must be debug, info, warn or error, not "${text}"`);
  return level as LogLevel;
}

/**
 * A Logger writing to `write` (stderr by default). Every string field and the message pass
 * through `redact`, so a token that slipped into an error message never reaches the log.
 */
export function createLogger(options: { level?: LogLevel; write?: (line: string) => void } = {}): Logger {
  const min = LEVELS[options.level ?? "info"];
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  return (level, message, fields = {}) => {
    if (LEVELS[level] < min) return;
    const safe: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(fields)) {
      safe[key] =
        value instanceof Error
          ? redact(describeError(value))
          : typeof value === "string"
            ? redact(value)
            : value;
    }
    write(`${JSON.stringify({ time: new Date().toISOString(), level, msg: redact(message), ...safe })}\n`);
  };
}

/** An error with its causes, one line: `outer: inner: innermost`. */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    if (current instanceof Error) {
      if (!parts.some((part) => part.includes(current instanceof Error ? current.message : "")))
        parts.push(current.message);
      current = current.cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return parts.join(": ");
}
