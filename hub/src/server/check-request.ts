// What every request a hub service receives must satisfy before a handler reads it, beyond what
// protobuf decoding guarantees: values the store and JavaScript dates can hold.
import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import { GrpcError } from "@flotilla/proto/grpc";

/** Seconds of the first and the last instant a google.protobuf.Timestamp may hold (years 1 to 9999). */
const TIMESTAMP_SECONDS = { min: -62_135_596_800n, max: 253_402_300_799n };
/** The largest google.protobuf.Duration, about 10,000 years, in seconds. */
const DURATION_SECONDS = 315_576_000_000n;

/**
 * Refuses, with INVALID_ARGUMENT naming the field (`what.field[index].field`), a message with a
 * NUL character in any string or map key (PostgreSQL stores none in text or JSON, so it would
 * fail deep in the store), or with a google.protobuf.Timestamp or Duration outside the range the
 * protobuf documentation gives it (such a time has no Date and no JSON form).
 */
export function checkRequest(message: object, what: string): void {
  const pending: [unknown, string][] = [[message, what]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [value, path] = next;
    if (typeof value === "string") {
      if (value.includes("\u0000"))
        throw new GrpcError("INVALID_ARGUMENT", `${path} contains a NUL character`);
    } else if (Array.isArray(value)) {
      for (const [index, item] of value.entries()) pending.push([item, `${path}[${index}]`]);
    } else if (typeof value === "object" && value !== null && !(value instanceof Uint8Array)) {
      const problem = timeProblem(value);
      if (problem) throw new GrpcError("INVALID_ARGUMENT", `${path} ${problem}`);
      for (const [key, item] of Object.entries(value)) {
        if (key.includes("\u0000"))
          throw new GrpcError("INVALID_ARGUMENT", `${path} has a key with a NUL character`);
        if (key !== "$typeName") pending.push([item, `${path}.${key}`]);
      }
    }
  }
}

/** Why a Timestamp or Duration message is out of its range, or undefined (also for other messages). */
function timeProblem(value: object): string | undefined {
  const typeName = (value as { $typeName?: unknown }).$typeName;
  if (typeName === "google.protobuf.Timestamp") {
    const { seconds, nanos } = value as Timestamp;
    const valid =
      seconds >= TIMESTAMP_SECONDS.min &&
      seconds <= TIMESTAMP_SECONDS.max &&
      nanos >= 0 &&
      nanos <= 999_999_999;
    return valid ? undefined : `(${seconds} s, ${nanos} ns) is not a valid timestamp`;
  }
  if (typeName === "google.protobuf.Duration") {
    const { seconds, nanos } = value as Duration;
    const valid =
      seconds >= -DURATION_SECONDS &&
      seconds <= DURATION_SECONDS &&
      nanos >= -999_999_999 &&
      nanos <= 999_999_999 &&
      (seconds === 0n || nanos === 0 || seconds < 0n === nanos < 0);
    return valid ? undefined : `(${seconds} s, ${nanos} ns) is not a valid duration`;
  }
  return undefined;
}
