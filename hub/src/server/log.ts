/** JSON-lines logging for the hub: the shared shape (@flotilla/proto/log) with tokens redacted. */
import { createJsonLogger, describeError, parseLogLevel } from "@flotilla/proto/log";
import { redact } from "../auth/tokens.js";
import type { Logger, LogLevel } from "./hub-runtime.js";

export { describeError, parseLogLevel };

/**
 * A Logger writing to `write` (stderr by default). Every string field and the message pass
 * through `redact`, so a token that slipped into an error message never reaches the log.
 */
export function createLogger(options: { level?: LogLevel; write?: (line: string) => void } = {}): Logger {
  return createJsonLogger({ ...options, redact });
}
