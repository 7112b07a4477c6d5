import { readFile } from "node:fs/promises";
import { Environment } from "@marcbachmann/cel-js";
import { parse } from "yaml";
import { groupOf, subject } from "../kube/kube-object.js";
import { assessResourceHealth, type Health, type HealthStatus } from "./assess-health.js";

/**
 * One custom health check, as Flux's `spec.healthCheckExprs[]`: CEL expressions over the object,
 * for the kinds of `apiVersion`'s group (only the group matters) or, with `kind`, for one kind.
 */
export type HealthCheckExpr = {
  apiVersion: string;
  /** Omitted: every kind of the group. A check for a specific kind beats one for its group. */
  kind?: string;
  /** True when the object is ready: Healthy. Required. */
  current: string;
  /** True while the object is still converging: Progressing. */
  inProgress?: string;
  /** True when the object has failed: Degraded. */
  failed?: string;
};

type Outcome = "inProgress" | "failed" | "current";

/** A check whose expressions compiled; made by `compileHealthChecks` or `loadHealthConfig`. */
export type CompiledHealthCheck = {
  group: string;
  kind: string | undefined;
  /** In evaluation order: inProgress, failed, current (Flux's order). */
  expressions: {
    outcome: Outcome;
    source: string;
    evaluate: (context: Record<string, unknown>) => unknown;
  }[];
};

const outcomeHealth: Record<Outcome, HealthStatus> = {
  inProgress: "Progressing",
  failed: "Degraded",
  current: "Healthy",
};

const evaluationOrder: Outcome[] = ["inProgress", "failed", "current"];

// Every variable is dyn: an object has no schema here. `self` is the object; its top-level fields
// (`status`, `spec`, `metadata`, ...) are variables too, as Flux writes them.
const celEnvironment = new Environment({ unlistedVariablesAreDyn: true, enableOptionalTypes: true });

/**
 * Compiles checks, reporting every bad entry at once: an Error whose message lists each as
 * `healthChecks[i].field: cause` (prefixed by `where`, e.g. the config path). An expression whose
 * type is known not to be bool is a compile error too.
 */
export function compileHealthChecks(
  entries: readonly HealthCheckExpr[],
  where = "health config",
): CompiledHealthCheck[] {
  const problems: string[] = [];
  const checks: CompiledHealthCheck[] = [];
  const seen = new Map<string, number>();
  entries.forEach((entry, i) => {
    const at = `healthChecks[${i}]`;
    if (typeof entry.apiVersion !== "string" || entry.apiVersion === "") {
      problems.push(`${at}.apiVersion: is required`);
      return;
    }
    if (entry.kind !== undefined && (typeof entry.kind !== "string" || entry.kind === "")) {
      problems.push(`${at}.kind: must be a non-empty string when set`);
      return;
    }
    if (typeof entry.current !== "string" || entry.current.trim() === "") {
      problems.push(`${at}.current: is required`);
      return;
    }
    const group = groupOf(entry.apiVersion);
    const matchKey = `${group}/${entry.kind ?? "*"}`;
    const previous = seen.get(matchKey);
    if (previous !== undefined) {
      problems.push(`${at}: matches the same ${entry.kind ?? "group"} as healthChecks[${previous}]`);
      return;
    }
    seen.set(matchKey, i);
    const expressions: CompiledHealthCheck["expressions"] = [];
    for (const outcome of evaluationOrder) {
      const source = entry[outcome];
      if (source === undefined) continue;
      if (typeof source !== "string" || source.trim() === "") {
        problems.push(`${at}.${outcome}: must be a non-empty CEL expression`);
        continue;
      }
      try {
        const evaluate = celEnvironment.parse(source);
        const checked = evaluate.check();
        if (!checked.valid) throw checked.error;
        if (checked.type !== "bool" && checked.type !== "dyn") {
          throw new Error(`evaluates to ${checked.type}, not bool`);
        }
        expressions.push({ outcome, source, evaluate });
      } catch (cause) {
        problems.push(`${at}.${outcome}: ${firstLine(cause)}`);
      }
    }
    checks.push({ group, kind: entry.kind, expressions });
  });
  if (problems.length > 0) throw new Error(`${where}: ${problems.join("; ")}`);
  return checks;
}

/**
 * Reads a YAML file `{ healthChecks: HealthCheckExpr[] }` and compiles it. Throws an Error naming
 * the path: unreadable, not YAML, wrong shape, or compile errors by entry index.
 */
export async function loadHealthConfig(path: string): Promise<CompiledHealthCheck[]> {
  let value: unknown;
  try {
    value = parse(await readFile(path, "utf8"), { maxAliasCount: 100 });
  } catch (cause) {
    throw new Error(`${path}: cannot read health config: ${firstLine(cause)}`, { cause });
  }
  if (value === null || value === undefined) return [];
  if (typeof value !== "object" || Array.isArray(value)) throw new Error(`${path}: must be a mapping`);
  const fields = value as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((key) => key !== "healthChecks");
  if (unknown.length > 0) throw new Error(`${path}: ${unknown[0]}: unknown field (expected healthChecks)`);
  if (fields.healthChecks === undefined || fields.healthChecks === null) return [];
  if (!Array.isArray(fields.healthChecks)) throw new Error(`${path}: healthChecks: must be a list`);
  fields.healthChecks.forEach((entry, i) => {
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      throw new Error(`${path}: healthChecks[${i}]: must be a mapping`);
    }
    const extra = Object.keys(entry).filter(
      (key) => !["apiVersion", "kind", "current", "inProgress", "failed"].includes(key),
    );
    if (extra.length > 0) throw new Error(`${path}: healthChecks[${i}].${extra[0]}: unknown field`);
  });
  return compileHealthChecks(fields.healthChecks as HealthCheckExpr[], path);
}

/**
 * Health of one live object: a custom check when one matches its group and kind (a kind entry
 * before a group entry), else Argo CD's built-in `assessResourceHealth`. As the built-ins, no
 * object is Missing and a set deletionTimestamp is Progressing "Pending deletion" before any
 * custom check.
 *
 * A custom check follows Flux's evaluator: `status.observedGeneration` present and different
 * from `metadata.generation` is Progressing; then inProgress, failed, current, the first that is
 * true wins (Progressing, Degraded, Healthy); none true is Progressing. An evaluation error (a
 * missing field, a non-bool result) is Unknown with a message naming the object and expression.
 */
export function createHealthAssessor(
  checks: readonly CompiledHealthCheck[],
): (obj: Record<string, unknown> | undefined) => Health | undefined {
  const byKind = new Map<string, CompiledHealthCheck>();
  const byGroup = new Map<string, CompiledHealthCheck>();
  for (const check of checks) {
    if (check.kind === undefined) {
      if (!byGroup.has(check.group)) byGroup.set(check.group, check);
    } else if (!byKind.has(`${check.group}/${check.kind}`)) byKind.set(`${check.group}/${check.kind}`, check);
  }
  return (obj) => {
    if (obj === undefined || isSet(asRecord(obj.metadata).deletionTimestamp))
      return assessResourceHealth(obj);
    const group = groupOf(typeof obj.apiVersion === "string" ? obj.apiVersion : "");
    const kind = typeof obj.kind === "string" ? obj.kind : "";
    const check = byKind.get(`${group}/${kind}`) ?? byGroup.get(group);
    return check ? evaluateCheck(check, obj) : assessResourceHealth(obj);
  };
}

function evaluateCheck(check: CompiledHealthCheck, obj: Record<string, unknown>): Health {
  const generation = asRecord(obj.metadata).generation;
  const observedGeneration = asRecord(obj.status).observedGeneration;
  if (isSet(observedGeneration) && observedGeneration !== generation) {
    return {
      status: "Progressing",
      message: `Waiting for the controller to observe generation ${String(generation)} (observed ${String(observedGeneration)})`,
    };
  }
  const self = toCelValue(obj) as Record<string, unknown>;
  const context = { ...self, self };
  for (const { outcome, source, evaluate } of check.expressions) {
    let result: unknown;
    try {
      result = evaluate(context);
    } catch (cause) {
      return unknownHealth(obj, outcome, source, firstLine(cause));
    }
    if (typeof result !== "boolean") {
      return unknownHealth(obj, outcome, source, `evaluated to ${describeValue(result)}, not a bool`);
    }
    if (result) {
      const status = outcomeHealth[outcome];
      return status === "Healthy"
        ? { status }
        : { status, message: `${outcome} expression is true: ${source}` };
    }
  }
  return { status: "Progressing", message: "No health expression is true yet" };
}

function unknownHealth(
  obj: Record<string, unknown>,
  outcome: Outcome,
  source: string,
  cause: string,
): Health {
  const name = subject({ kind: String(obj.kind ?? ""), metadata: asRecord(obj.metadata) });
  return {
    status: "Unknown",
    message: `${name}: health check ${outcome} expression \`${source}\`: ${cause}`,
  };
}

/**
 * JSON to CEL values: integral numbers become BigInt (CEL int, as Go's unstructured int64), so
 * `status.replicas + 1` and `spec.replicas == status.readyReplicas` type-check at run time.
 */
function toCelValue(value: unknown): unknown {
  if (typeof value === "number") return Number.isSafeInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(toCelValue);
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = Object.create(null);
    for (const [key, field] of Object.entries(value)) out[key] = toCelValue(field);
    return out;
  }
  return value;
}

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "bigint") return `${value} (int)`;
  if (typeof value === "string") return JSON.stringify(value);
  return typeof value === "object" ? (Array.isArray(value) ? "a list" : "a map") : String(value);
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function isSet(value: unknown): boolean {
  return value !== undefined && value !== null;
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0] ?? message;
}
