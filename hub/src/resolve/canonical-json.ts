import { hash } from "node:crypto";

/**
 * JSON with object keys sorted at every level, so equal values always serialise equally.
 * Otherwise as JSON.stringify on plain JSON data: undefined fields are left out, undefined
 * array items and non-finite numbers become null. Written out directly, without sorted
 * copies, because every target digest goes through it.
 */
export function toCanonicalJson(value: unknown): string {
  return writeValue(value) ?? "null";
}

function writeValue(value: unknown): string | undefined {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      return Number.isFinite(value) ? String(value) : "null";
    case "boolean":
      return value ? "true" : "false";
    case "object":
      if (value === null) return "null";
      return Array.isArray(value) ? writeArray(value) : writeObject(value as Record<string, unknown>);
    case "bigint":
      throw new TypeError("toCanonicalJson: a BigInt is not JSON");
    default:
      return undefined;
  }
}

function writeArray(items: unknown[]): string {
  let out = "[";
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out += ",";
    out += writeValue(items[i]) ?? "null";
  }
  return `${out}]`;
}

function writeObject(object: Record<string, unknown>): string {
  let out = "{";
  let first = true;
  for (const key of Object.keys(object).sort()) {
    const field = writeValue(object[key]);
    if (field === undefined) continue;
    out += `${first ? "" : ","}${JSON.stringify(key)}:${field}`;
    first = false;
  }
  return `${out}}`;
}

/** `sha256:<hex>` of the canonical JSON of value. */
export function digestOf(value: unknown): string {
  return sha256Digest(toCanonicalJson(value));
}

/** `sha256:<hex>` of a string's UTF-8 bytes. */
export function sha256Digest(text: string): string {
  // One-shot hash: no Hash object per digest (a resolve computes one per target).
  return `sha256:${hash("sha256", text, "hex")}`;
}
