import {
  Composer,
  type CST,
  type Document,
  type DocumentOptions,
  isAlias,
  isCollection,
  isPair,
  LineCounter,
  type ParseOptions,
  Parser,
  type SchemaOptions,
  type Tags,
  YAMLParseError,
} from "yaml";
import type { KubeObject } from "./kube-object.js";
import { RenderProblemError } from "./render-problem.js";

/** Aliases a YAML document may expand before it counts as an alias bomb (`limit`). */
export const MAX_YAML_ALIAS_COUNT = 100;

/**
 * Objects one render may produce unless RenderTools say otherwise; the resolver's default
 * per-app limit too. Decoding stops at the first document past it, so a stream of 100,000
 * objects costs the parse of 10,000, not of all of them.
 */
export const DEFAULT_MAX_RENDER_OBJECTS = 10_000;

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
// ("12:30") as strings and has no binary type, so those tags are dropped. Its floats need a
// digit (strconv.ParseFloat), where the yaml-1.1 schema also reads "." as NaN: `path: .`
// must stay the string ".".
const GO_FLOAT = /^[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9_]*[0-9][0-9_]*)$/;
const GO_YAML_OPTIONS: ParseOptions & DocumentOptions & SchemaOptions = {
  version: "1.1",
  uniqueKeys: false,
  customTags: (tags: Tags): Tags =>
    tags
      .filter((tag) => {
        if (typeof tag === "string") return true;
        return (
          tag.tag !== "tag:yaml.org,2002:timestamp" &&
          tag.tag !== "tag:yaml.org,2002:binary" &&
          !("format" in tag && tag.format === "TIME")
        );
      })
      .map((tag) =>
        typeof tag !== "string" && tag.tag === "tag:yaml.org,2002:float" && tag.test?.test(".")
          ? { ...tag, test: GO_FLOAT }
          : tag,
      ),
};

/** How many more objects a render may produce (`remaining`) of the `limit` it may produce in all. */
export type ObjectBudget = { remaining: number; limit: number };

/**
 * Splits a YAML stream into documents and converts each to plain JSON. A document that expands
 * too many aliases is a `limit` problem naming `where`, and so are more non-empty documents
 * than `budget.remaining` (each would be at least one object): found as the stream is read, so
 * the rest is never parsed. A syntax error is kept on its document so callers can apply their
 * own rules.
 */
export function readYamlDocuments(text: string, where: string, budget?: ObjectBudget): YamlDocument[] {
  const lines = new LineCounter();
  const composer = new Composer(GO_YAML_OPTIONS);
  const documents: YamlDocument[] = [];
  let nonEmpty = 0;
  const tokens = checkYamlDepth(new Parser(lines.addNewLine).parse(text), where, lines);
  for (const doc of composer.compose(tokens)) {
    const index = documents.length + 1;
    if (budget && doc.contents !== null && ++nonEmpty > budget.remaining)
      throw tooManyObjects(where, budget.limit);
    const origin = findOrigin(text, doc.range);
    const error = doc.errors[0] ?? findCollectionKey(doc);
    if (error !== undefined) {
      const at = error.pos[0] >= 0 ? lines.linePos(error.pos[0]) : undefined;
      const message = at ? `${error.message} at line ${at.line}, column ${at.col}` : error.message;
      documents.push({
        index,
        error: message.split("\n")[0] ?? "syntax error",
        ...(origin ? { origin } : {}),
      });
      continue;
    }
    try {
      documents.push({
        index,
        value: doc.toJS({ maxAliasCount: MAX_YAML_ALIAS_COUNT }) as unknown,
        ...(origin ? { origin } : {}),
      });
    } catch (cause) {
      if (cause instanceof ReferenceError && /alias/i.test(cause.message)) {
        throw new RenderProblemError(
          "limit",
          `${where}: document ${index}: YAML aliases expand beyond ${MAX_YAML_ALIAS_COUNT} nodes (alias bomb)`,
          { cause },
        );
      }
      documents.push({ index, error: cause instanceof Error ? cause.message : String(cause) });
    }
  }
  return documents;
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
 * More than `maxObjects` objects is a `limit` problem.
 */
export function decodeToolOutput(
  text: string,
  tool: string,
  maxObjects = DEFAULT_MAX_RENDER_OBJECTS,
): KubeObject[] {
  const values: DecodedValue[] = [];
  const budget = { remaining: maxObjects, limit: maxObjects };
  for (const doc of readYamlDocuments(text, `${tool} output`, budget)) {
    const where = doc.origin
      ? `${tool} output (${doc.origin}) document ${doc.index}`
      : `${tool} output document ${doc.index}`;
    if (doc.error !== undefined) throw new RenderProblemError("render", `${where}: ${doc.error}`);
    if (doc.value === null || doc.value === undefined) continue;
    if (!isPlainObject(doc.value)) throw new RenderProblemError("invalid", `${where}: not a mapping`);
    values.push({ value: doc.value, where });
  }
  return toKubeObjects(values, maxObjects);
}

/**
 * Argo CD's post-processing (repository.go GenerateManifests): an object whose top-level
 * `items` is an array is a List and is replaced by its items; `items: null` without spec or
 * status is an empty List and dropped. Each resulting object must have a string apiVersion and
 * kind, a metadata mapping with a string name (or generateName), and string namespace, labels
 * and annotations where it has them (what the API server would refuse at apply), else an
 * `invalid` problem names its file and document. More than `maxObjects` is a `limit` problem.
 */
export function toKubeObjects(values: DecodedValue[], maxObjects = Number.POSITIVE_INFINITY): KubeObject[] {
  const objects: KubeObject[] = [];
  const add = (value: Record<string, unknown>, where: string) => {
    if (objects.length >= maxObjects) throw tooManyObjects(where, maxObjects);
    objects.push(checkKubeObject(value, where));
  };
  for (const { value, where } of values) {
    if (Array.isArray(value.items)) {
      value.items.forEach((item, i) => {
        if (!isPlainObject(item))
          throw new RenderProblemError("invalid", `${where}: items[${i}] is not an object`);
        add(item, `${where} items[${i}]`);
      });
    } else if (value.items === null && !("spec" in value) && !("status" in value)) {
      // An empty List: nothing to apply.
    } else {
      add(value, where);
    }
  }
  return objects;
}

function tooManyObjects(where: string, limit: number): RenderProblemError {
  return new RenderProblemError(
    "limit",
    `${where}: more than ${limit} objects; a render may produce at most ${limit}`,
  );
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
  const problem = checkMetadata(value.metadata as Record<string, unknown>);
  if (problem) throw new RenderProblemError("invalid", `${where}: ${value.kind} ${problem}`);
  return value as KubeObject;
}

/** Why the API server would refuse this metadata, or undefined. */
function checkMetadata(metadata: Record<string, unknown>): string | undefined {
  for (const field of ["name", "generateName", "namespace"]) {
    if (metadata[field] != null && typeof metadata[field] !== "string")
      return `has a metadata.${field} that is not a string`;
  }
  if (!metadata.name && !metadata.generateName) return "has no metadata.name";
  for (const field of ["labels", "annotations"]) {
    const map = metadata[field];
    if (map == null) continue;
    if (!isPlainObject(map) || Object.values(map).some((v) => v != null && typeof v !== "string"))
      return `has metadata.${field} that are not a map of strings`;
  }
  return undefined;
}

/**
 * Levels of collections in collections a YAML document may nest; deeper is a `limit` problem.
 * Kubernetes objects rarely nest 30. The yaml package composes a document recursively and
 * overflows the stack near 800 levels, after which Node 20 can die on its next parse ("FATAL
 * ERROR: RegExpCompiler Allocation failed"), so the depth is checked before composing.
 */
export const MAX_YAML_DEPTH = 200;

/**
 * Passes a yaml Parser's tokens on, throwing a `limit` RenderProblemError naming `where`, the
 * document and its line as soon as a document nests deeper than MAX_YAML_DEPTH.
 */
export function* checkYamlDepth(
  tokens: Iterable<CST.Token>,
  where: string,
  lines: LineCounter,
): Generator<CST.Token> {
  let index = 0;
  for (const token of tokens) {
    if (token.type === "document") {
      index += 1;
      const deep = findDeepToken(token);
      if (deep !== undefined) {
        const { line } = lines.linePos(deep.offset);
        throw new RenderProblemError(
          "limit",
          `${where}: document ${index}: YAML nests deeper than ${MAX_YAML_DEPTH} levels (line ${line})`,
        );
      }
    }
    yield token;
  }
}

/** The first token nested deeper than MAX_YAML_DEPTH, walked without recursion. */
function findDeepToken(document: CST.Document): CST.Token | undefined {
  const pending: [CST.Token | null | undefined, number][] = [[document.value, 1]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [token, depth] = next;
    if (!token) continue;
    if (depth > MAX_YAML_DEPTH) return token;
    if (token.type === "block-map" || token.type === "block-seq" || token.type === "flow-collection") {
      for (const item of token.items) pending.push([item.key, depth + 1], [item.value, depth + 1]);
    }
  }
  return undefined;
}

/**
 * An error for a mapping key that is a mapping or a sequence (or an alias of one), which Go's
 * YAML decoder refuses ("invalid map key"). Converted to JSON, yaml would print each such key,
 * in time that grows much faster than the document. Call on a document whose depth is checked.
 */
export function findCollectionKey(doc: Document.Parsed): YAMLParseError | undefined {
  const pending: unknown[] = [doc.contents];
  while (pending.length > 0) {
    const node = pending.pop();
    if (!isCollection(node)) continue;
    for (const item of node.items as unknown[]) {
      if (!isPair(item)) {
        pending.push(item);
        continue;
      }
      const key = isAlias(item.key) ? item.key.resolve(doc) : item.key;
      if (isCollection(key)) {
        const range = (isAlias(item.key) ? item.key.range : key.range) ?? [-1, -1];
        return new YAMLParseError(
          [range[0], range[1]],
          "BAD_COLLECTION_TYPE",
          "invalid map key: a mapping or a sequence cannot be a key",
        );
      }
      pending.push(item.value);
    }
  }
  return undefined;
}
