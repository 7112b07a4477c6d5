import type { IgnoreDifference } from "../desired/desired-app.js";
import { groupOf, type KubeObject, type ManagedFieldsEntry } from "../kube/kube-object.js";
import { type JqPath, jqPaths } from "./jq-path.js";

const LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration";
const SERVER_METADATA = [
  "managedFields",
  "resourceVersion",
  "uid",
  "generation",
  "creationTimestamp",
  "selfLink",
];
const MAX_DIFFERENCES = 20;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

function dropNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropNulls);
  if (!isObject(value)) return value;
  const result: Json = {};
  for (const [key, field] of Object.entries(value)) {
    if (field !== null && field !== undefined) result[key] = dropNulls(field);
  }
  return result;
}

/**
 * A copy without the fields that never count as drift: metadata.managedFields, resourceVersion,
 * uid, generation, creationTimestamp, selfLink, the kubectl last-applied-configuration annotation
 * and status. Empty annotations and labels maps are removed, and so are null-valued fields at any
 * depth (elements of lists are kept).
 */
export function normalizeForCompare(obj: KubeObject): KubeObject {
  const copy = dropNulls(obj) as KubeObject;
  copy.metadata ??= {};
  delete copy.status;
  for (const field of SERVER_METADATA) delete copy.metadata[field];
  if (copy.metadata.annotations) delete copy.metadata.annotations[LAST_APPLIED_ANNOTATION];
  for (const map of ["annotations", "labels"] as const) {
    const value = copy.metadata[map];
    if (value && Object.keys(value).length === 0) delete copy.metadata[map];
  }
  return copy;
}

/**
 * gobwas/glob without separators, as Argo CD's glob.Match: `*` any run, `?` one character,
 * `[abc]`/`[!a-z]` classes, `{a,b}` alternatives, `\` escapes. The empty pattern matches only "".
 */
function globToRegExp(pattern: string): RegExp {
  let source = "";
  let braces = 0;
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i] ?? "";
    if (char === "\\" && i + 1 < pattern.length) {
      source += escapeRegExp(pattern[++i] ?? "");
    } else if (char === "*") {
      source += "[\\s\\S]*";
    } else if (char === "?") {
      source += "[\\s\\S]";
    } else if (char === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end < 0) return /$^/;
      const body = pattern.slice(i + 1, end);
      const negated = body.startsWith("!");
      source += `[${negated ? "^" : ""}${(negated ? body.slice(1) : body).replace(/[\\\]^]/g, "\\$&")}]`;
      i = end;
    } else if (char === "{") {
      braces++;
      source += "(?:";
    } else if (char === "}" && braces > 0) {
      braces--;
      source += ")";
    } else if (char === "," && braces > 0) {
      source += "|";
    } else {
      source += escapeRegExp(char);
    }
  }
  if (braces > 0) return /$^/;
  return new RegExp(`^${source}$`, "u");
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}

function globMatch(pattern: string, text: string): boolean {
  try {
    return globToRegExp(pattern).test(text);
  } catch {
    return false;
  }
}

/**
 * The ignores that apply to `obj`, as Argo CD's ignore normalizer matches them: group and kind by
 * glob (`*` matches anything; an empty group means the core group), name and namespace exactly
 * or when empty.
 */
export function matchingIgnores(ignores: readonly IgnoreDifference[], obj: KubeObject): IgnoreDifference[] {
  const group = groupOf(obj.apiVersion);
  return ignores.filter(
    (ignore) =>
      globMatch(ignore.group, group) &&
      globMatch(ignore.kind, obj.kind) &&
      (ignore.name === "" || ignore.name === (obj.metadata.name ?? "")) &&
      (ignore.namespace === "" || ignore.namespace === (obj.metadata.namespace ?? "")),
  );
}

/** RFC 6901: "" is the whole document; "~1" is "/", "~0" is "~". Undefined for a pointer that does not start with "/". */
function parsePointer(pointer: string): string[] | undefined {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) return undefined;
  return pointer
    .slice(1)
    .split("/")
    .map((token) => token.replaceAll("~1", "/").replaceAll("~0", "~"));
}

function formatPointer(path: readonly (string | number)[]): string {
  return path.map((token) => `/${String(token).replaceAll("~", "~0").replaceAll("/", "~1")}`).join("");
}

/** Resolves pointer tokens against a document: array tokens become indexes. Undefined when the path is absent. */
function resolvePointer(document: unknown, tokens: readonly string[]): JqPath | undefined {
  const path: JqPath = [];
  let current = document;
  for (const token of tokens) {
    if (Array.isArray(current)) {
      if (!/^(0|[1-9][0-9]*)$/.test(token)) return undefined;
      const index = Number(token);
      if (index >= current.length) return undefined;
      path.push(index);
      current = current[index];
    } else if (isObject(current) && Object.hasOwn(current, token)) {
      path.push(token);
      current = current[token];
    } else {
      return undefined;
    }
  }
  return path;
}

function getPath(document: unknown, path: readonly (string | number)[]): { found: boolean; value: unknown } {
  let current = document;
  for (const key of path) {
    if (typeof key === "number" && Array.isArray(current) && key < current.length) current = current[key];
    else if (typeof key === "string" && isObject(current) && Object.hasOwn(current, key))
      current = current[key];
    else return { found: false, value: undefined };
  }
  return { found: true, value: current };
}

/** Removes the values at `paths` (concrete paths into `document`); later array elements first, so indexes stay valid. */
function removePaths(document: unknown, paths: readonly JqPath[]): void {
  const sorted = [...paths].sort(comparePathsDescending);
  for (const path of sorted) {
    if (path.length === 0) continue;
    const parent = getPath(document, path.slice(0, -1));
    const key = path[path.length - 1];
    if (!parent.found) continue;
    if (Array.isArray(parent.value) && typeof key === "number") parent.value.splice(key, 1);
    else if (isObject(parent.value) && typeof key === "string") delete parent.value[key];
  }
}

function comparePathsDescending(a: JqPath, b: JqPath): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (typeof x === "number" && typeof y === "number") return y - x;
    return String(y) < String(x) ? -1 : 1;
  }
  // Deeper paths first, so a field inside an element goes before the element itself.
  return b.length - a.length;
}

/** The paths each ignore selects in `document`: JSON pointers and jq path expressions. */
function ignoredPaths(document: unknown, ignores: readonly IgnoreDifference[]): JqPath[] {
  const paths: JqPath[] = [];
  for (const ignore of ignores) {
    for (const pointer of ignore.jsonPointers) {
      const tokens = parsePointer(pointer);
      const path = tokens && resolvePointer(document, tokens);
      if (path && path.length > 0) paths.push(path);
    }
    for (const expression of ignore.jqPathExpressions) {
      for (const path of jqPaths(expression, document)) if (path.length > 0) paths.push(path);
    }
  }
  return paths;
}

/**
 * The paths (into `document`) of the fields a managedFields entry owns. In fieldsV1, `f:<name>`
 * is a field, `k:<json>` the list element whose fields equal the json (merge keys), `v:<json>` the
 * set element equal to the json, `i:<n>` element n, and `.` marks the node itself. A leaf counts as
 * owned as a whole; a node that also has children (`.` plus fields) only through its children, so
 * fields another manager set inside it are kept.
 */
function ownedPaths(document: unknown, fields: unknown, base: JqPath, paths: JqPath[]): void {
  if (!isObject(fields)) return;
  for (const [key, children] of Object.entries(fields)) {
    if (key === ".") continue;
    const step = resolveFieldsKey(getPath(document, base).value, key);
    if (step === undefined) continue;
    const path = [...base, step];
    const childKeys = isObject(children) ? Object.keys(children).filter((k) => k !== ".") : [];
    if (childKeys.length === 0) paths.push(path);
    else ownedPaths(document, children, path, paths);
  }
}

function resolveFieldsKey(container: unknown, key: string): string | number | undefined {
  const colon = key.indexOf(":");
  if (colon < 0) return undefined;
  const prefix = key.slice(0, colon);
  const rest = key.slice(colon + 1);
  if (prefix === "f") return isObject(container) && Object.hasOwn(container, rest) ? rest : undefined;
  if (!Array.isArray(container)) return undefined;
  if (prefix === "i") {
    const index = Number(rest);
    return Number.isInteger(index) && index >= 0 && index < container.length ? index : undefined;
  }
  let wanted: unknown;
  try {
    wanted = JSON.parse(rest);
  } catch {
    return undefined;
  }
  const index =
    prefix === "k"
      ? container.findIndex(
          (element) => isObject(element) && isObject(wanted) && matchesKeys(element, wanted),
        )
      : prefix === "v"
        ? container.findIndex((element) => deepEqual(element, wanted))
        : -1;
  return index < 0 ? undefined : index;
}

function matchesKeys(element: Json, keys: Json): boolean {
  return Object.entries(keys).every(([name, value]) => deepEqual(element[name], value));
}

function deepEqual(a: unknown, b: unknown): boolean {
  return firstDifferences(a, b, [], 1).length === 0;
}

/** Differences between a and b as JSON pointers, depth first, stopping after `limit`. */
function firstDifferences(a: unknown, b: unknown, path: JqPath, limit: number, out: string[] = []): string[] {
  if (out.length >= limit) return out;
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (i >= a.length || i >= b.length) out.push(formatPointer([...path, i]));
      else firstDifferences(a[i], b[i], [...path, i], limit, out);
      if (out.length >= limit) break;
    }
  } else if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const key of keys) {
      if (!Object.hasOwn(a, key) || !Object.hasOwn(b, key)) out.push(formatPointer([...path, key]));
      else firstDifferences(a[key], b[key], [...path, key], limit, out);
      if (out.length >= limit) break;
    }
  } else if (a !== b) {
    out.push(formatPointer(path));
  }
  return out;
}

/**
 * A copy of `obj` without the fields the ignores that match it select: jsonPointers (RFC 6901),
 * jqPathExpressions (see jqPaths) and, for managedFieldsManagers, the fields those managers own
 * according to `liveManagedFields` (default: `obj`'s own managedFields). Paths that do not exist
 * are skipped. Throws when a jq path expression is outside the supported subset.
 */
export function removeIgnoredFields(
  obj: KubeObject,
  ignores: readonly IgnoreDifference[],
  liveManagedFields?: readonly ManagedFieldsEntry[],
): KubeObject {
  const matched = matchingIgnores(ignores, obj);
  if (matched.length === 0) return obj;
  const copy = clone(obj);
  const paths = ignoredPaths(copy, matched);
  const managers = new Set(matched.flatMap((ignore) => ignore.managedFieldsManagers));
  if (managers.size > 0) {
    for (const entry of liveManagedFields ?? obj.metadata.managedFields ?? []) {
      if (entry.manager !== undefined && managers.has(entry.manager) && entry.fieldsV1) {
        ownedPaths(copy, entry.fieldsV1, [], paths);
      }
    }
  }
  removePaths(copy, dedupe(paths));
  return copy;
}

function dedupe(paths: readonly JqPath[]): JqPath[] {
  const seen = new Set<string>();
  return paths.filter((path) => {
    const key = JSON.stringify(path);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Compares a server-side dry-run result (what live would become) with live: both normalised
 * (normalizeForCompare) and with ignored fields removed, managed-fields ignores judged by live's
 * managedFields. `differences` lists up to 20 JSON pointers that differ, sorted.
 */
export function compareWithLive(
  dryRun: KubeObject,
  live: KubeObject,
  ignores: readonly IgnoreDifference[],
): { equal: boolean; differences: string[] } {
  const managedFields = live.metadata.managedFields ?? [];
  const a = removeIgnoredFields(normalizeForCompare(dryRun), ignores, managedFields);
  const b = removeIgnoredFields(normalizeForCompare(live), ignores, managedFields);
  const differences = firstDifferences(a, b, [], Number.POSITIVE_INFINITY).sort();
  return { equal: differences.length === 0, differences: differences.slice(0, MAX_DIFFERENCES) };
}

/** Common Kubernetes merge keys, used to find the desired list element that a live element corresponds to. */
const MERGE_KEYS = ["name", "mountPath", "devicePath", "containerPort", "port", "ip", "type", "topologyKey"];

/**
 * Maps a path in live to the same place in desired: an array index follows the element with the
 * same merge key (name, mountPath, ...), else keeps its index. Undefined when a parent is missing
 * in desired; the last step may point at a missing field or one past the end of a list.
 */
function translatePath(path: JqPath, live: unknown, desired: unknown): JqPath | undefined {
  const result: JqPath = [];
  let liveAt = live;
  let desiredAt = desired;
  for (let i = 0; i < path.length; i++) {
    const key = path[i] as string | number;
    const last = i === path.length - 1;
    if (typeof key === "string") {
      // A missing object on the way is created by setPath.
      if (desiredAt !== undefined && !isObject(desiredAt)) return undefined;
      result.push(key);
      liveAt = isObject(liveAt) ? liveAt[key] : undefined;
      desiredAt = desiredAt?.[key];
    } else {
      if (!Array.isArray(desiredAt)) return undefined;
      const liveElement = Array.isArray(liveAt) ? liveAt[key] : undefined;
      const mergeKey = isObject(liveElement)
        ? MERGE_KEYS.find((k) => liveElement[k] !== undefined)
        : undefined;
      let index = key;
      if (mergeKey && isObject(liveElement)) {
        const found = desiredAt.findIndex(
          (e) => isObject(e) && deepEqual(e[mergeKey], liveElement[mergeKey]),
        );
        index = found >= 0 ? found : desiredAt.length;
      }
      if (index >= desiredAt.length && !last) return undefined;
      result.push(Math.min(index, desiredAt.length));
      liveAt = liveElement;
      desiredAt = desiredAt[index];
    }
  }
  return result;
}

/** Sets the value at `path`, creating missing objects on the way; an index at the end of a list appends. */
function setPath(document: unknown, path: JqPath, value: unknown): void {
  let parent = document;
  for (const [i, key] of path.entries()) {
    const last = i === path.length - 1;
    if (Array.isArray(parent) && typeof key === "number") {
      if (last) {
        if (key < parent.length) parent[key] = value;
        else parent.push(value);
        return;
      }
      parent = parent[key];
    } else if (isObject(parent) && typeof key === "string") {
      if (last) {
        parent[key] = value;
        return;
      }
      parent[key] ??= {};
      parent = parent[key];
    } else {
      return;
    }
  }
}

/**
 * For RespectIgnoreDifferences=true: a copy of `desired` where every ignored path takes the live
 * value, or is removed when live lacks it, so an apply does not overwrite it. Paths are those the
 * matching ignores select in live and in desired (managed-fields ignores by live's managedFields);
 * list elements are matched to live by merge key (name, mountPath, ...). Without live, `desired`
 * is returned unchanged, as Argo CD does for objects that do not exist yet.
 */
export function respectIgnoredFields(
  desired: KubeObject,
  live: KubeObject | undefined,
  ignores: readonly IgnoreDifference[],
): KubeObject {
  if (!live) return desired;
  const matched = matchingIgnores(ignores, desired);
  if (matched.length === 0) return desired;
  const copy = clone(desired);
  const liveCopy = normalizeForCompare(live);
  const managers = new Set(matched.flatMap((ignore) => ignore.managedFieldsManagers));
  const livePaths = ignoredPaths(liveCopy, matched);
  const desiredPaths = ignoredPaths(copy, matched);
  for (const entry of live.metadata.managedFields ?? []) {
    if (entry.manager !== undefined && managers.has(entry.manager) && entry.fieldsV1) {
      ownedPaths(liveCopy, entry.fieldsV1, [], livePaths);
      ownedPaths(copy, entry.fieldsV1, [], desiredPaths);
    }
  }
  removePaths(copy, dedupe(desiredPaths));
  const ascending = dedupe(livePaths).sort((a, b) => comparePathsDescending(b, a));
  for (const path of ascending) {
    const target = translatePath(path, liveCopy, copy);
    if (target) setPath(copy, target, clone(getPath(liveCopy, path).value));
  }
  return copy;
}
