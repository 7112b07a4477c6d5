// Shared by hub and agent: JSON-lines logs, one object per line with time, level, msg and fields,
// so one log pipeline reads both.

export type LogLevel = "debug" | "info" | "warn" | "error";

/** Structured JSON logging; fields must never carry a token or credential. */
export type Logger = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** `text` as a level ("info" when undefined); throws an Error naming `where` when it is not one. */
export function parseLogLevel(text: string | undefined, where: string): LogLevel {
  const level = (text ?? "info").toLowerCase();
  if (!Object.hasOwn(LEVELS, level))
    throw new Error(`${where}: log level must be debug, info, warn or error, not "${text}"`);
  return level as LogLevel;
}

export type JsonLoggerOptions = {
  /** Entries below it are dropped; default "info". */
  level?: LogLevel;
  /** Receives each line, newline included; default stderr. */
  write?: (line: string) => void;
  /** Applied to the message and every string field (errors after describeError); default none. */
  redact?: (text: string) => string;
};

/**
 * A Logger writing `{"time":…,"level":…,"msg":…,...fields}` lines. An Error field is written as
 * its message chain (describeError), so causes are not lost in JSON.
 */
export function createJsonLogger(options: JsonLoggerOptions = {}): Logger {
  const min = LEVELS[options.level ?? "info"];
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const redact = options.redact ?? ((text: string) => text);
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
