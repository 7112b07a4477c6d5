import {
  type DocumentOptions,
  type ParseOptions,
  parseAllDocuments,
  type SchemaOptions,
  type Tags,
} from "yaml";
import type { KubeObject } from "./kube-object.js";
import { RenderProblemError } from "./render-problem.js";

/** Aliases a YAML document may expand before it counts as an alias bomb (`limit`). */
export const MAX_YAML_ALIAS_COUNT = 100;

/** One document of a YAML stream, counted from 1 as a reader counts them. */
export type YamlDocument = {
  index: number;
  /** The plain JSON value; null for an empty document. Unset when `error` is. */
  value?: unknown;
  error?: string;
  /** Helm's `# Source: chart/templates/x.yaml` comment above the document, when present. */
  origin?: string;
};

// Go's sigs.k8s.io/yaml (YAML 1.1 via go-yaml v2) reads "yes"/"on" as booleans and 0777 as
// octal, as the yaml-1.1 schema does; but it keeps timestamps and sexagesimal numbers
// ("12:30") as strings and has no binary type, so those tags are dropped.
const GO_YAML_OPTIONS: ParseOptions & DocumentOptions & SchemaOptions = {
  version: "1.1",
  uniqueKeys: false,
  customTags: (tags: Tags): Tags =>
    tags.filter((tag) => {
      if (typeof tag === "string") return true;
      return (
        tag.tag !== "tag:yaml.org,2002:timestamp" &&
        tag.tag !== "tag:yaml.org,2002:binary" &&
        !("format" in tag && tag.format === "TIME")
      );
    }),
};

/**
 * Splits a YAML stream into documents and converts each to plain JSON. A document that expands
 * too many aliases is a `limit` problem naming `where`; a syntax error is kept on its document
 * so callers can apply their own rules.
 */
export function readYamlDocuments(text: string, where: string): YamlDocument[] {
  const documents = parseAllDocuments(text, GO_YAML_OPTIONS);
  const list = Array.isArray(documents) ? documents : [];
  return list.map((doc, i) => {
    const index = i + 1;
    const origin = findOrigin(text, doc.range);
    if (doc.errors.length > 0) {
      const first = doc.errors[0]?.message.split("\n")[0] ?? "syntax error";
      return { index, error: first, ...(origin ? { origin } : {}) };
    }
    try {
      return {
        index,
        value: doc.toJS({ maxAliasCount: MAX_YAML_ALIAS_COUNT }) as unknown,
        ...(origin ? { origin } : {}),
      };
    } catch (cause) {
      if (cause instanceof ReferenceError && /alias/i.test(cause.message)) {
        throw new RenderProblemError(
          "limit",
          `${where}: document ${index}: YAML aliases expand beyond ${MAX_YAML_ALIAS_COUNT} nodes (alias bomb)`,
          { cause },
        );
      }
      return { index, error: cause instanceof Error ? cause.message : String(cause) };
    }
  });
}

function findOrigin(text: string, range: readonly number[]): string | undefined {
  const start = range[0] ?? 0;
  const head = text.slice(start, Math.min(range[2] ?? start, start + 4096));
  return /^#\s*Source:\s*(.+?)\s*$/m.exec(head)?.[1];
}

/** True for a JSON object (not null, not an array). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A value decoded from one document, with where it came from for problem messages. */
export type DecodedValue = { value: Record<string, unknown>; where: string };

/**
 * Tool output (helm template, kustomize build) to objects: every non-empty document must be a
 * mapping, as gitops-engine's SplitYAML requires; Lists are expanded and every object checked.
 */
export function decodeToolOutput(text: string, tool: string): KubeObject[] {
  const values: DecodedValue[] = [];
  for (const doc of readYamlDocuments(text, `${tool} output`)) {
    const where = doc.origin
      ? `${tool} output (${doc.origin}) document ${doc.index}`
      : `${tool} output document ${doc.index}`;
    if (doc.error !== undefined) throw new RenderProblemError("render", `${where}: ${doc.error}`);
    if (doc.value === null || doc.value === undefined) continue;
    if (!isPlainObject(doc.value)) throw new RenderProblemError("invalid", `${where}: not a mapping`);
    values.push({ value: doc.value, where });
  }
  return toKubeObjects(values);
}

/**
 * Argo CD's post-processing (repository.go GenerateManifests): an object whose top-level
 * `items` is an array is a List and is replaced by its items; `items: null` without spec or
 * status is an empty List and dropped. Each resulting object must have a string apiVersion and
 * kind and a metadata mapping, else an `invalid` problem names its file and document.
 */
export function toKubeObjects(values: DecodedValue[]): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const { value, where } of values) {
    if (Array.isArray(value.items)) {
      value.items.forEach((item, i) => {
        if (!isPlainObject(item))
          throw new RenderProblemError("invalid", `${where}: items[${i}] is not an object`);
        objects.push(checkKubeObject(item, `${where} items[${i}]`));
      });
    } else if (value.items === null && !("spec" in value) && !("status" in value)) {
      // An empty List: nothing to apply.
    } else {
      objects.push(checkKubeObject(value, where));
    }
  }
  return objects;
}

function checkKubeObject(value: Record<string, unknown>, where: string): KubeObject {
  const missing = [
    typeof value.apiVersion === "string" && value.apiVersion !== "" ? undefined : "apiVersion",
    typeof value.kind === "string" && value.kind !== "" ? undefined : "kind",
    isPlainObject(value.metadata) ? undefined : "metadata",
  ].filter((field) => field !== undefined);
  if (missing.length > 0) {
    throw new RenderProblemError("invalid", `${where}: object without ${missing.join(", ")}`);
  }
  return value as KubeObject;
}
