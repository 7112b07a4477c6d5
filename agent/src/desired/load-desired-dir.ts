import { createHash } from "node:crypto";
import { readdir, readFile, realpath, stat } from "node:fs/promises";
import { join } from "node:path";
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
} from "yaml";
import type { KubeObject } from "../kube/kube-object.js";
import type { DesiredApp, IgnoreDifference, RetryPolicy, SyncPolicy } from "./desired-app.js";

/** A manifest file larger than this is a problem, not read. */
export const MAX_MANIFEST_FILE_BYTES = 16 * 1024 * 1024;
/** Aliases one YAML document may expand before it counts as an alias bomb. */
export const MAX_YAML_ALIAS_COUNT = 100;
/**
 * Levels of collections in collections one YAML document may nest. The yaml package composes
 * recursively and overflows the stack near 800 levels, after which Node 20 can die on its next
 * parse ("FATAL ERROR: RegExpCompiler Allocation failed"); the hub checks the same limit.
 */
export const MAX_YAML_DEPTH = 200;

/** The optional per-app settings file at the root of an app directory. */
export const APP_SETTINGS_FILE = "app.yaml";

export type DirProblem = { app: string; message: string };

// As the hub's decode-manifests: Go's sigs.k8s.io/yaml (YAML 1.1 via go-yaml v2) reads "yes"/"on"
// as booleans and 0777 as octal, but keeps timestamps as strings and has no binary type, so a
// directory decodes here exactly as `kubectl apply -f` would decode it.
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

const manifestExtensions = [".yaml", ".yml", ".json"];

/** Argo CD's retry backoff defaults (`argocd app set --sync-retry-*`). */
const defaultBackoff = { durationMs: 5_000, factor: 2, maxDurationMs: 180_000 };

/**
 * Reads a directory of apps, one per immediate non-hidden subdirectory, named after it. An app's
 * objects come from every `*.yaml`, `*.yml` and `*.json` file below its directory (recursively,
 * hidden entries skipped, ordered by relative path), except `app.yaml` at its root, which holds
 * its settings (namespace, syncPolicy, ignoreDifferences). Without a `syncPolicy` key an app is
 * automated (no prune, no self-heal); an explicit syncPolicy without `automated` is manual.
 *
 * Every app is read in full and each defect reported as a problem naming the file and document.
 * An app with any problem yields no DesiredApp, so a typo never looks like an app emptied of its
 * objects (which would prune them). Throws only when `dir` itself cannot be read.
 */
export async function loadDesiredDir(dir: string): Promise<{ apps: DesiredApp[]; problems: DirProblem[] }> {
  const entries = await readdir(dir, { withFileTypes: true });
  const appNames: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith(".")) continue;
    const isDir =
      entry.isDirectory() || (entry.isSymbolicLink() && (await isDirectory(join(dir, entry.name))));
    if (isDir) appNames.push(entry.name);
  }
  appNames.sort(compareStrings);

  const apps: DesiredApp[] = [];
  const problems: DirProblem[] = [];
  for (const name of appNames) {
    if (name === "__proto__") {
      // The agent keeps apps in objects keyed by name, where this key would replace the prototype.
      problems.push({ app: name, message: "__proto__ cannot be an app name" });
      continue;
    }
    const loaded = await loadApp(name, join(dir, name));
    if (loaded.problems.length > 0)
      problems.push(...loaded.problems.map((message) => ({ app: name, message })));
    else if (loaded.app) apps.push(loaded.app);
  }
  return { apps, problems };
}

/** The app's files, read; `relPath` uses "/" whatever the platform. */
type AppFile = { relPath: string; bytes: Buffer };

async function loadApp(name: string, appDir: string): Promise<{ app?: DesiredApp; problems: string[] }> {
  const problems: string[] = [];
  const paths: string[] = [];
  try {
    await collectManifestPaths(appDir, "", new Set([await realpath(appDir)]), paths);
  } catch (cause) {
    return { problems: [`cannot list ${appDir}: ${messageOf(cause)}`] };
  }
  paths.sort(compareStrings);

  const files: AppFile[] = [];
  for (const relPath of paths) {
    const file = await readLimited(join(appDir, relPath), relPath);
    if (typeof file === "string") problems.push(file);
    else files.push(file);
  }

  let settings: AppSettings = {
    namespace: "default",
    syncPolicy: defaultSyncPolicy(),
    ignoreDifferences: [],
  };
  const settingsFile = files.find((f) => f.relPath === APP_SETTINGS_FILE);
  if (settingsFile) {
    const parsed = parseAppSettings(settingsFile.bytes.toString("utf8"));
    if (typeof parsed === "string") problems.push(`${APP_SETTINGS_FILE}: ${parsed}`);
    else settings = parsed;
  }

  const objects: KubeObject[] = [];
  for (const file of files) {
    if (file.relPath === APP_SETTINGS_FILE) continue;
    const decoded = decodeManifestFile(file);
    problems.push(...decoded.problems);
    objects.push(...decoded.objects);
  }
  if (problems.length > 0) return { problems };

  const revision = `dir:${hashFiles(files).slice(0, 12)}`;
  const withoutDigest = { name, revision, ...settings, objects };
  const digest = `sha256:${sha256Hex(toCanonicalJson(withoutDigest))}`;
  return {
    app: {
      name,
      namespace: settings.namespace,
      revision,
      digest,
      syncPolicy: settings.syncPolicy,
      ignoreDifferences: settings.ignoreDifferences,
      objects,
    },
    problems,
  };
}

/**
 * Appends the manifest files below `dir` (relative to the app root) to `out`. Symbolic links are
 * followed (a ConfigMap volume is made of them), each real directory visited once so a link
 * cycle cannot loop.
 */
async function collectManifestPaths(
  dir: string,
  rel: string,
  seen: Set<string>,
  out: string[],
): Promise<void> {
  for (const entry of await readdir(join(dir, rel), { withFileTypes: true })) {
    if (entry.name.startsWith(".")) continue;
    const relPath = rel === "" ? entry.name : `${rel}/${entry.name}`;
    const full = join(dir, relPath);
    let isDir = entry.isDirectory();
    let isFile = entry.isFile();
    if (entry.isSymbolicLink()) {
      const target = await stat(full).catch(() => undefined);
      isDir = target?.isDirectory() ?? false;
      isFile = target?.isFile() ?? false;
    }
    if (isDir) {
      const real = await realpath(full);
      if (seen.has(real)) continue;
      seen.add(real);
      await collectManifestPaths(dir, relPath, seen, out);
    } else if (isFile && manifestExtensions.some((ext) => entry.name.toLowerCase().endsWith(ext))) {
      out.push(relPath);
    }
  }
}

/** The file's bytes, or a problem message when it is too large or unreadable. */
async function readLimited(path: string, relPath: string): Promise<AppFile | string> {
  try {
    const info = await stat(path);
    if (info.size > MAX_MANIFEST_FILE_BYTES) {
      return `${relPath}: ${info.size} bytes is over the ${MAX_MANIFEST_FILE_BYTES}-byte limit for one file`;
    }
    const bytes = await readFile(path);
    // The file may have grown between stat and read.
    if (bytes.length > MAX_MANIFEST_FILE_BYTES) {
      return `${relPath}: ${bytes.length} bytes is over the ${MAX_MANIFEST_FILE_BYTES}-byte limit for one file`;
    }
    return { relPath, bytes };
  } catch (cause) {
    return `${relPath}: cannot read: ${messageOf(cause)}`;
  }
}

/** Objects of one manifest file; documents are counted from 1 as a reader counts them. */
function decodeManifestFile(file: AppFile): { objects: KubeObject[]; problems: string[] } {
  const text = file.bytes.toString("utf8");
  const values: { value: unknown; where: string }[] = [];
  const problems: string[] = [];
  if (file.relPath.toLowerCase().endsWith(".json")) {
    try {
      values.push({ value: JSON.parse(text), where: file.relPath });
    } catch (cause) {
      problems.push(`${file.relPath}: invalid JSON: ${messageOf(cause)}`);
    }
  } else {
    const parsed = parseYaml(text);
    if (typeof parsed === "string") problems.push(`${file.relPath}: ${parsed}`);
    else
      parsed.forEach(({ doc, error }, i) => {
        const where = `${file.relPath} document ${i + 1}`;
        if (error !== undefined) {
          problems.push(`${where}: invalid YAML: ${error}`);
          return;
        }
        try {
          values.push({ value: doc.toJS({ maxAliasCount: MAX_YAML_ALIAS_COUNT }), where });
        } catch (cause) {
          const aliasBomb = cause instanceof ReferenceError && /alias/i.test(cause.message);
          problems.push(
            aliasBomb
              ? `${where}: YAML aliases expand beyond ${MAX_YAML_ALIAS_COUNT} nodes (alias bomb)`
              : `${where}: ${messageOf(cause)}`,
          );
        }
      });
  }

  const objects: KubeObject[] = [];
  for (const { value, where } of values) {
    if (value === null || value === undefined) continue;
    if (!isPlainObject(value)) {
      problems.push(`${where}: not a mapping`);
      continue;
    }
    if (typeof value.kind === "string" && value.kind.endsWith("List") && "items" in value) {
      // kubectl's List handling: `items: null` is an empty List.
      if (value.items === null) continue;
      if (!Array.isArray(value.items)) {
        problems.push(`${where}: ${value.kind} items is not a list`);
        continue;
      }
      value.items.forEach((item, i) => {
        const checked = checkObject(item, `${where} items[${i}]`);
        if (typeof checked === "string") problems.push(checked);
        else objects.push(checked);
      });
      continue;
    }
    const checked = checkObject(value, where);
    if (typeof checked === "string") problems.push(checked);
    else objects.push(checked);
  }
  return { objects, problems };
}

function checkObject(value: unknown, where: string): KubeObject | string {
  if (!isPlainObject(value)) return `${where}: not a mapping`;
  const metadata = value.metadata;
  const named =
    isPlainObject(metadata) && (isNonEmptyString(metadata.name) || isNonEmptyString(metadata.generateName));
  const missing = [
    isNonEmptyString(value.apiVersion) ? undefined : "apiVersion",
    isNonEmptyString(value.kind) ? undefined : "kind",
    named ? undefined : "metadata.name (or generateName)",
  ].filter((field) => field !== undefined);
  if (missing.length > 0) return `${where}: object without ${missing.join(", ")}`;
  return value as KubeObject;
}

type AppSettings = Pick<DesiredApp, "namespace" | "syncPolicy" | "ignoreDifferences">;

function defaultSyncPolicy(): SyncPolicy {
  return { automated: { prune: false, selfHeal: false, allowEmpty: false }, syncOptions: [] };
}

/**
 * Parses app.yaml. Unknown keys are rejected rather than ignored: a misspelt `syncPolicy` would
 * otherwise silently turn a manual app into an automated one.
 */
function parseAppSettings(text: string): AppSettings | string {
  const docs = parseYaml(text);
  if (typeof docs === "string") return docs;
  if (docs.length > 1) return "holds more than one YAML document";
  const [parsed] = docs;
  let value: unknown = null;
  if (parsed) {
    const { doc, error } = parsed;
    if (error !== undefined) return `invalid YAML: ${error}`;
    try {
      value = doc.toJS({ maxAliasCount: MAX_YAML_ALIAS_COUNT });
    } catch (cause) {
      return messageOf(cause);
    }
  }
  if (value === null || value === undefined) value = {};
  try {
    const settings = expectFields(value, "", ["namespace", "syncPolicy", "ignoreDifferences"]);
    const namespace =
      settings.namespace === undefined ? "default" : expectString(settings.namespace, "namespace");
    if (namespace === "") throw new Error("namespace: must not be empty");
    const syncPolicy = "syncPolicy" in settings ? parseSyncPolicy(settings.syncPolicy) : defaultSyncPolicy();
    const ignoreDifferences =
      settings.ignoreDifferences === undefined || settings.ignoreDifferences === null
        ? []
        : expectArray(settings.ignoreDifferences, "ignoreDifferences").map((entry, i) =>
            parseIgnoreDifference(entry, `ignoreDifferences[${i}]`),
          );
    return { namespace, syncPolicy, ignoreDifferences };
  } catch (error) {
    return messageOf(error);
  }
}

function parseSyncPolicy(value: unknown): SyncPolicy {
  // `syncPolicy:` with nothing after it is an explicit, empty policy: manual.
  const fields = expectFields(value ?? {}, "syncPolicy", ["automated", "syncOptions", "retry"]);
  const policy: SyncPolicy = {
    syncOptions:
      fields.syncOptions === undefined || fields.syncOptions === null
        ? []
        : expectArray(fields.syncOptions, "syncPolicy.syncOptions").map((option, i) =>
            expectString(option, `syncPolicy.syncOptions[${i}]`),
          ),
  };
  if ("automated" in fields) {
    // Argo CD reads `automated:` (null) as not automated and `automated: {}` as automated; that
    // difference is too easy to miss in a file, so null is refused.
    if (fields.automated === null) {
      throw new Error(
        "syncPolicy.automated: is null; write `automated: {}` to automate the app, or remove it",
      );
    }
    const automated = expectFields(fields.automated, "syncPolicy.automated", [
      "prune",
      "selfHeal",
      "allowEmpty",
    ]);
    policy.automated = {
      prune: expectOptionalBool(automated.prune, "syncPolicy.automated.prune"),
      selfHeal: expectOptionalBool(automated.selfHeal, "syncPolicy.automated.selfHeal"),
      allowEmpty: expectOptionalBool(automated.allowEmpty, "syncPolicy.automated.allowEmpty"),
    };
  }
  if (fields.retry !== undefined && fields.retry !== null) policy.retry = parseRetry(fields.retry);
  return policy;
}

function parseRetry(value: unknown): RetryPolicy {
  const retry = expectFields(value, "syncPolicy.retry", ["limit", "backoff"]);
  const limit = retry.limit === undefined ? 0 : expectInteger(retry.limit, "syncPolicy.retry.limit");
  const backoff =
    retry.backoff === undefined || retry.backoff === null
      ? {}
      : expectFields(retry.backoff, "syncPolicy.retry.backoff", ["duration", "factor", "maxDuration"]);
  const factor =
    backoff.factor === undefined
      ? defaultBackoff.factor
      : expectInteger(backoff.factor, "syncPolicy.retry.backoff.factor");
  if (factor < 1) throw new Error("syncPolicy.retry.backoff.factor: must be at least 1");
  return {
    limit,
    backoffDurationMs:
      backoff.duration === undefined
        ? defaultBackoff.durationMs
        : parseDurationMs(backoff.duration, "syncPolicy.retry.backoff.duration"),
    backoffFactor: factor,
    backoffMaxDurationMs:
      backoff.maxDuration === undefined
        ? defaultBackoff.maxDurationMs
        : parseDurationMs(backoff.maxDuration, "syncPolicy.retry.backoff.maxDuration"),
  };
}

const durationUnitsMs: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * A Go duration ("5s", "1m30s", "250ms") as Argo CD reads it; a bare integer (number or string)
 * counts as seconds, Argo CD's fallback.
 */
function parseDurationMs(value: unknown, where: string): number {
  if (typeof value === "number" && Number.isInteger(value) && value >= 0) return value * 1_000;
  if (typeof value !== "string") throw new Error(`${where}: must be a duration such as "5s"`);
  if (value === "") throw new Error(`${where}: must not be empty`);
  if (/^\d+$/.test(value)) return Number(value) * 1_000;
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let offset = 0;
  while (offset < value.length) {
    part.lastIndex = offset;
    const match = part.exec(value);
    if (!match)
      throw new Error(`${where}: ${JSON.stringify(value)} is not a duration such as "5s" or "1m30s"`);
    total += Number(match[1]) * (durationUnitsMs[match[2] ?? ""] ?? 0);
    offset = part.lastIndex;
  }
  return Math.round(total);
}

function parseIgnoreDifference(value: unknown, where: string): IgnoreDifference {
  const fields = expectFields(value, where, [
    "group",
    "kind",
    "name",
    "namespace",
    "jsonPointers",
    "jqPathExpressions",
    "managedFieldsManagers",
  ]);
  const optionalString = (key: string) =>
    fields[key] === undefined || fields[key] === null ? "" : expectString(fields[key], `${where}.${key}`);
  const strings = (key: string) =>
    fields[key] === undefined || fields[key] === null
      ? []
      : expectArray(fields[key], `${where}.${key}`).map((item, i) =>
          expectString(item, `${where}.${key}[${i}]`),
        );
  const kind = optionalString("kind");
  if (kind === "") throw new Error(`${where}.kind: is required`);
  return {
    group: optionalString("group"),
    kind,
    name: optionalString("name"),
    namespace: optionalString("namespace"),
    jsonPointers: strings("jsonPointers"),
    jqPathExpressions: strings("jqPathExpressions"),
    managedFieldsManagers: strings("managedFieldsManagers"),
  };
}

function expectFields(value: unknown, where: string, allowed: string[]): Record<string, unknown> {
  if (!isPlainObject(value)) throw new Error(`${where || "app.yaml"}: must be a mapping`);
  const unknown = Object.keys(value).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) {
    const prefix = where ? `${where}.` : "";
    throw new Error(
      `${prefix}${unknown[0]}: unknown field (expected one of ${allowed.map((k) => prefix + k).join(", ")})`,
    );
  }
  return value;
}

function expectString(value: unknown, where: string): string {
  if (typeof value !== "string") throw new Error(`${where}: must be a string`);
  return value;
}

function expectArray(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) throw new Error(`${where}: must be a list`);
  return value;
}

function expectOptionalBool(value: unknown, where: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== "boolean") throw new Error(`${where}: must be true or false`);
  return value;
}

function expectInteger(value: unknown, where: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value))
    throw new Error(`${where}: must be an integer`);
  return value;
}

/**
 * The documents of a YAML stream, each with its first error ("<cause> at line L, column C"), or
 * why the stream is refused: a document nested deeper than MAX_YAML_DEPTH, checked before it is
 * composed. A mapping or sequence used as a key (or an alias of one) is an error, as in Go's
 * decoder: converted to JSON, yaml would print each such key, in time growing much faster than
 * the document.
 */
function parseYaml(text: string): { doc: Document.Parsed; error?: string }[] | string {
  const lines = new LineCounter();
  const tokens = Array.from(new Parser(lines.addNewLine).parse(text));
  let index = 0;
  for (const token of tokens) {
    if (token.type !== "document") continue;
    index += 1;
    const deep = findDeepToken(token);
    if (deep !== undefined) {
      return `document ${index}: YAML nests deeper than ${MAX_YAML_DEPTH} levels (line ${lines.linePos(deep.offset).line})`;
    }
  }
  return Array.from(new Composer(GO_YAML_OPTIONS).compose(tokens), (doc) => {
    const first = doc.errors[0];
    const key = first === undefined ? findCollectionKey(doc) : undefined;
    const at = first?.pos[0] ?? key?.[0] ?? -1;
    const message =
      first?.message.split("\n")[0] ??
      (key ? "invalid map key: a mapping or a sequence cannot be a key" : undefined);
    if (message === undefined) return { doc };
    if (at < 0) return { doc, error: message };
    const { line, col } = lines.linePos(at);
    return { doc, error: `${message} at line ${line}, column ${col}` };
  });
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

/** The range of a key that is a collection or an alias of one; the depth is already bounded. */
function findCollectionKey(doc: Document.Parsed): readonly number[] | undefined {
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
      if (isCollection(key)) return (isAlias(item.key) ? item.key.range : key.range) ?? [-1];
      pending.push(item.value);
    }
  }
  return undefined;
}

/** sha256 over every file's path and bytes, in order, length-prefixed so no two listings collide. */
function hashFiles(files: AppFile[]): string {
  const hash = createHash("sha256");
  for (const file of files) {
    hash.update(`${file.relPath.length}:${file.relPath}\0${file.bytes.length}:`);
    hash.update(file.bytes);
  }
  return hash.digest("hex");
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** JSON with object keys sorted (code-unit order) at every level; undefined fields left out. */
function toCanonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => toCanonicalJson(item ?? null)).join(",")}]`;
  if (isPlainObject(value)) {
    const fields = Object.keys(value)
      .filter((key) => value[key] !== undefined)
      .sort(compareStrings)
      .map((key) => `${JSON.stringify(key)}:${toCanonicalJson(value[key])}`);
    return `{${fields.join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === "string" && value !== "";
}

/** Code-unit order, independent of locale. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
