import type { BusEvent, BusEventType } from "./bus.js";

/** The subject token per event type: `<prefix>.<kind>.<clusterId>`. */
export const SUBJECT_KINDS = {
  "targets-changed": "targets",
  status: "status",
  cluster: "cluster",
  "sync-request": "sync",
  "cluster-changed": "registration",
  refresh: "refresh",
  resolved: "resolved",
  "rotate-credential": "rotate",
  "credential-rotated": "rotated",
} as const satisfies Record<BusEventType, string>;

const UTF8 = new TextEncoder();
const SUBJECT_PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

export function checkSubjectPrefix(prefix: string): void {
  if (!SUBJECT_PREFIX.test(prefix)) {
    throw new Error(
      `bus: subject prefix ${JSON.stringify(prefix)} must be dot-separated tokens of [A-Za-z0-9_-]`,
    );
  }
}

/**
 * `flotilla.status.prod-eu`. A cluster id may hold characters a subject token cannot (`.`,
 * `*`, `>`, spaces), so every byte outside `[A-Za-z0-9_-]` is written `%XX`, as in a URL:
 * `eu.west` becomes `eu%2Ewest`. The subject only routes; the payload carries the real id.
 */
export function eventSubject(prefix: string, event: BusEvent): string {
  const key = "clusterId" in event ? event.clusterId : "hub";
  return `${prefix}.${SUBJECT_KINDS[event.type]}.${encodeSubjectToken(key)}`;
}

export function encodeSubjectToken(text: string): string {
  let token = "";
  for (const char of text) {
    if (/^[A-Za-z0-9_-]$/.test(char)) {
      token += char;
      continue;
    }
    for (const byte of UTF8.encode(char)) {
      token += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
    }
  }
  return token;
}
