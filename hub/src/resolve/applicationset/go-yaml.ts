// YAML as Argo CD reads and writes it: sigs.k8s.io/yaml, i.e. go-yaml v2 (YAML 1.1 scalars such as
// `yes` and `0777`, first document only) converted through JSON, so every number becomes a float64
// and every map key a string.

import { Composer, LineCounter, Parser, stringify, type Tags } from "yaml";
import { checkYamlDepth, findCollectionKey } from "../../render/decode-manifests.js";
import { compareGoStrings, type GoMap, type GoValue, isGoMap, putKey } from "./go-value.js";

/** Aliases one document may expand; a larger count is an alias bomb and fails. */
const MAX_ALIAS_COUNT = 100;

// go-yaml v2 resolves YAML 1.1 booleans, octals and hex, but not sexagesimal numbers or timestamps.
function dropTimeTags(tags: Tags): Tags {
  return tags.filter((tag) => {
    const t = tag as { tag?: string; format?: string };
    return t.tag !== "tag:yaml.org,2002:timestamp" && t.format !== "TIME";
  });
}

/**
 * sigs.k8s.io/yaml.Unmarshal into interface{}: the first document, as JSON would decode it.
 * Throws "yaml: <cause>" for a syntax error, a collection as a map key (Go refuses one too) or
 * nesting beyond decode-manifests' MAX_YAML_DEPTH.
 */
export function parseYamlLikeGo(text: string): GoValue {
  const lines = new LineCounter();
  const composer = new Composer({ version: "1.1", customTags: dropTimeTags, uniqueKeys: false, merge: true });
  const tokens = checkYamlDepth(new Parser(lines.addNewLine).parse(text), "yaml", lines);
  const first = composer.compose(tokens).next();
  if (first.done) return null;
  const doc = first.value;
  const error = doc.errors[0] ?? findCollectionKey(doc);
  if (error !== undefined) {
    const at = error.pos[0] >= 0 ? lines.linePos(error.pos[0]) : undefined;
    throw new Error(
      `yaml: ${error.message.split("\n")[0]}${at ? ` at line ${at.line}, column ${at.col}` : ""}`,
    );
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (cause) {
    // An alias bomb or an alias of an anchor that was never set.
    throw new Error(`yaml: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  return convertToGoValue(value);
}

function convertToGoValue(value: unknown): GoValue {
  if (value === undefined || value === null) return null;
  if (typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`json: unsupported value: ${value}`);
    return value;
  }
  if (typeof value === "bigint") return Number(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (Array.isArray(value)) return value.map(convertToGoValue);
  if (value instanceof Set) {
    const map: GoMap = {};
    for (const key of value) putKey(map, String(key), null);
    return map;
  }
  if (value instanceof Map) {
    const map: GoMap = {};
    for (const [key, item] of value) putKey(map, String(key), convertToGoValue(item));
    return map;
  }
  if (typeof value === "object") {
    const map: GoMap = {};
    for (const [key, item] of Object.entries(value)) putKey(map, key, convertToGoValue(item));
    return map;
  }
  return String(value);
}

/** go-yaml v2's key order: runs of digits compare as numbers, everything else by code point. */
function compareYamlKeys(a: string, b: string): number {
  const pa = a.match(/\d+|\D+/g) ?? [];
  const pb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i] ?? "";
    const y = pb[i] ?? "";
    if (x === y) continue;
    if (/^\d/.test(x) && /^\d/.test(y)) {
      const diff = BigInt(x) - BigInt(y);
      if (diff !== 0n) return diff < 0n ? -1 : 1;
    }
    return compareGoStrings(x, y);
  }
  return pa.length - pb.length;
}

/** sigs.k8s.io/yaml.Marshal without the trailing newline, as Argo's toYaml returns it. */
export function formatYamlLikeGo(value: GoValue): string {
  const plain = convertToPlainJson(value);
  const text = stringify(plain, {
    version: "1.1",
    customTags: dropTimeTags,
    indentSeq: false,
    lineWidth: 0,
    sortMapEntries: (a, b) => compareYamlKeys(String(a.key), String(b.key)),
    aliasDuplicateObjects: false,
  });
  return text.replace(/\n$/, "");
}

function convertToPlainJson(value: GoValue): unknown {
  if (value === undefined) return null;
  if (typeof value === "number" && !Number.isFinite(value))
    throw new Error(`json: unsupported value: ${value}`);
  if (typeof value === "object" && value !== null && "value" in value && typeof value.value === "bigint") {
    return Number(value.value);
  }
  if (Array.isArray(value)) return value.map(convertToPlainJson);
  if (isGoMap(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      Object.defineProperty(out, key, {
        value: convertToPlainJson(value[key]),
        enumerable: true,
        writable: true,
      });
    }
    return out;
  }
  return value;
}
