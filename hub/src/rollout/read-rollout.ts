// Reads the progressive rollouts declared in Git (docs/rollouts.md): an ApplicationSet's
// `strategy: RollingSync` with Flotilla's annotations, and Flotilla's own `Rollout` resource.
// Pure functions over rendered objects: the resolver finds the objects and decides which apps
// each rollout takes; these check every field and say which one is wrong.
import { parseDuration } from "@flotilla/proto/duration";
import {
  type Labels,
  labelValueProblem,
  matchesSelector as matchesRequirements,
  qualifiedNameProblem,
  type Requirement,
} from "../fleet/label-selector.js";
import { groupOf, type KubeObject } from "../render/kube-object.js";
import { compileGlob, type GlobMatcher } from "../render/match-glob.js";
import {
  DEFAULT_PROGRESS_DEADLINE_MS,
  type LabelSelectorSpec,
  type MaxUnavailable,
  type OfflinePolicy,
  ROLLOUT_ANNOTATIONS,
  ROLLOUT_API_VERSION,
  ROLLOUT_KIND,
  type RolloutDeclaration,
  type RolloutStep,
} from "./rollout-spec.js";

/** A declaration as one object states it; the resolver adds the apps it rolls out. */
export type RolloutDraft = Omit<RolloutDeclaration, "apps" | "appLabels">;

/**
 * What one object declares: a declaration when every field is valid, else none and a problem
 * per bad field, each starting with the object (`ApplicationSet web: spec.strategy…`).
 */
export type RolloutReading = { declaration?: RolloutDraft; problems: string[] };

/**
 * Which apps of the fleet a Rollout resource takes: an app whose name matches one of `names`
 * (globs, as Argo CD's) when given, and whose Application labels match `selector` when given
 * (both must hold when both are written).
 */
export type RolloutAppMatcher = { names?: string[]; selector?: LabelSelectorSpec };

const OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist"] as const;
const ALL: MaxUnavailable = { percent: 100 };
const NO_LABELS: Labels = Object.freeze({});

/** True for Flotilla's Rollout resource (any version of the flotilla.dev group): read by the hub, never sent to a cluster. */
export function isRolloutResource(obj: Pick<KubeObject, "apiVersion" | "kind">): boolean {
  return obj.kind === ROLLOUT_KIND && groupOf(obj.apiVersion) === groupOf(ROLLOUT_API_VERSION);
}

/**
 * The rollout an ApplicationSet declares with `spec.strategy.type: RollingSync`: one step per
 * `rollingSync.steps[]`, selecting the generated apps by their labels, with bake time, progress
 * deadline, rollback and offline policy from the `rollout.flotilla.dev/*` annotations. No
 * strategy, or `AllAtOnce`, declares nothing; any other type is a problem.
 */
export function readRollingSync(appSet: KubeObject, declaredBy: string): RolloutReading {
  const spec = appSet.spec;
  const strategy = isRecord(spec) ? spec.strategy : undefined;
  if (strategy === undefined || strategy === null) return { problems: [] };
  const problems: string[] = [];
  const what = `ApplicationSet ${nameOf(appSet)}`;
  const report = (message: string) => problems.push(`${what}: ${message}`);
  if (!isRecord(strategy)) {
    report("spec.strategy: must be a mapping");
    return { problems };
  }
  const type = strategy.type;
  if (type === undefined || type === null || type === "" || type === "AllAtOnce") return { problems };
  if (type !== "RollingSync") {
    report(`spec.strategy.type: ${JSON.stringify(type)} is not supported (RollingSync or AllAtOnce)`);
    return { problems };
  }
  const name = readName(appSet, report);
  const annotations = isRecord(appSet.metadata.annotations) ? appSet.metadata.annotations : {};
  const annotation = (key: string) => `metadata.annotations["${key}"]`;
  const bakeTimeMs =
    readDuration(
      annotationText(annotations[ROLLOUT_ANNOTATIONS.bakeTime]),
      annotation(ROLLOUT_ANNOTATIONS.bakeTime),
      report,
    ) ?? 0;
  const progressDeadlineMs = readDeadline(
    annotationText(annotations[ROLLOUT_ANNOTATIONS.progressDeadline]),
    annotation(ROLLOUT_ANNOTATIONS.progressDeadline),
    report,
  );
  const rollback = readRollbackAnnotation(
    annotationText(annotations[ROLLOUT_ANNOTATIONS.rollback]),
    annotation(ROLLOUT_ANNOTATIONS.rollback),
    report,
  );
  const offline = readOfflineAnnotation(
    annotationText(annotations[ROLLOUT_ANNOTATIONS.offline]),
    annotation(ROLLOUT_ANNOTATIONS.offline),
    report,
  );
  const where = "spec.strategy.rollingSync.steps";
  const rollingSync = strategy.rollingSync;
  const written = isRecord(rollingSync) ? rollingSync.steps : undefined;
  const steps: RolloutStep[] = [];
  if (written !== undefined && written !== null && !Array.isArray(written))
    report(`${where}: must be a list`);
  else if (!Array.isArray(written) || written.length === 0) report(`${where}: at least one step is required`);
  else {
    for (const [index, step] of written.entries()) {
      const at = `${where}[${index}]`;
      if (!isRecord(step)) {
        report(`${at}: must be a mapping`);
        continue;
      }
      const expressions = step.matchExpressions;
      if (
        expressions === undefined ||
        expressions === null ||
        (Array.isArray(expressions) && expressions.length === 0)
      ) {
        report(`${at}.matchExpressions: a step needs at least one expression to select apps`);
      }
      const selector = readExpressions(expressions, `${at}.matchExpressions`, report);
      const maxUnavailable = readMaxUnavailable(step.maxUpdate, `${at}.maxUpdate`, report);
      if (selector && maxUnavailable) {
        steps.push({ name: `step-${index + 1}`, selector: { apps: selector }, maxUnavailable, bakeTimeMs });
      }
    }
  }
  if (problems.length > 0 || name === undefined || progressDeadlineMs === undefined) return { problems };
  if (rollback === undefined || offline === undefined) return { problems };
  return {
    declaration: { name, origin: "ApplicationSet", declaredBy, steps, progressDeadlineMs, rollback, offline },
    problems,
  };
}

/**
 * Flotilla's Rollout resource (`flotilla.dev/v1alpha1`): the declaration, with steps selecting
 * clusters by their labels, and which apps it takes (`apps`, to be matched over the whole fleet).
 */
export function readRolloutResource(
  obj: KubeObject,
  declaredBy: string,
): RolloutReading & { apps?: RolloutAppMatcher } {
  const problems: string[] = [];
  const report = (message: string) => problems.push(`Rollout ${nameOf(obj)}: ${message}`);
  if (obj.apiVersion !== ROLLOUT_API_VERSION) {
    report(`apiVersion ${JSON.stringify(obj.apiVersion)} is not supported (${ROLLOUT_API_VERSION})`);
    return { problems };
  }
  const name = readName(obj, report);
  const spec = obj.spec;
  if (!isRecord(spec)) {
    report("spec is required");
    return { problems };
  }
  const apps = readAppMatcher(spec.apps, report);
  const steps = readRolloutSteps(spec.steps, report);
  const progressDeadlineMs = readDeadline(
    durationText(spec.progressDeadline),
    "spec.progressDeadline",
    report,
  );
  let rollback = false;
  if (spec.rollback !== undefined && spec.rollback !== null) {
    if (typeof spec.rollback === "boolean") rollback = spec.rollback;
    else report(`spec.rollback: ${JSON.stringify(spec.rollback)} is not true or false`);
  }
  const offline = readOfflineClusters(spec.offlineClusters, report);
  if (problems.length > 0 || name === undefined || !apps || !steps) return { problems };
  if (progressDeadlineMs === undefined || offline === undefined) return { problems };
  return {
    declaration: { name, origin: "Rollout", declaredBy, steps, progressDeadlineMs, rollback, offline },
    apps,
    problems,
  };
}

/**
 * True when `labels` satisfy every term of a valid selector (one readRollingSync or
 * readRolloutResource returned): matchLabels and matchExpressions are ANDed, an empty selector
 * matches everything.
 */
export function matchesSelector(selector: LabelSelectorSpec, labels: Labels): boolean {
  return matchesRequirements({ requirements: requirementsOf(selector) }, labels);
}

/** A test of (app name, Application labels) for a valid RolloutAppMatcher; globs are compiled once. */
export function compileAppMatcher(apps: RolloutAppMatcher): (name: string, labels: Labels) => boolean {
  const globs = (apps.names ?? []).map((pattern) => compileGlob(pattern, "gobwas")).filter(isGlob);
  const selector = apps.selector ? { requirements: requirementsOf(apps.selector) } : undefined;
  return (name, labels) =>
    (globs.length === 0 || globs.some((glob) => glob.test(name))) &&
    (!selector || matchesRequirements(selector, labels));
}

/** An Application's labels that are strings (a YAML number or mapping is no label value). */
export function readAppLabels(app: Pick<KubeObject, "metadata">): Labels {
  const labels = app.metadata.labels;
  if (!isRecord(labels)) return NO_LABELS;
  const entries = Object.entries(labels);
  if (entries.length === 0) return NO_LABELS;
  if (entries.every(([, value]) => typeof value === "string")) return labels as Labels;
  return Object.fromEntries(entries.filter(([, value]) => typeof value === "string"));
}

function readRolloutSteps(value: unknown, report: (message: string) => void): RolloutStep[] | undefined {
  if (value !== undefined && value !== null && !Array.isArray(value)) {
    report("spec.steps: must be a list");
    return undefined;
  }
  if (!Array.isArray(value) || value.length === 0) {
    report("spec.steps: at least one step is required");
    return undefined;
  }
  const steps: RolloutStep[] = [];
  const names = new Map<string, number>();
  let valid = true;
  for (const [index, step] of value.entries()) {
    const at = `spec.steps[${index}]`;
    if (!isRecord(step)) {
      report(`${at}: must be a mapping`);
      valid = false;
      continue;
    }
    let name = `step-${index + 1}`;
    if (step.name !== undefined && step.name !== null) {
      if (typeof step.name !== "string" || step.name === "") {
        report(`${at}.name: must be a non-empty string`);
        valid = false;
      } else name = step.name;
    }
    const earlier = names.get(name);
    if (earlier !== undefined) {
      report(`${at}.name: "${name}" is already the name of spec.steps[${earlier}]`);
      valid = false;
    } else names.set(name, index);
    let clusters: LabelSelectorSpec | undefined;
    if (step.clusters === undefined || step.clusters === null) {
      report(`${at}.clusters: a step needs a cluster selector ({} selects every cluster)`);
    } else clusters = readSelector(step.clusters, `${at}.clusters`, report);
    const maxUnavailable = readMaxUnavailable(step.maxUnavailable, `${at}.maxUnavailable`, report);
    const bakeTimeMs = readDuration(durationText(step.bakeTime), `${at}.bakeTime`, report);
    if (!clusters || !maxUnavailable || bakeTimeMs === undefined) {
      valid = false;
      continue;
    }
    steps.push({ name, selector: { clusters }, maxUnavailable, bakeTimeMs });
  }
  return valid ? steps : undefined;
}

function readAppMatcher(value: unknown, report: (message: string) => void): RolloutAppMatcher | undefined {
  if (value !== undefined && value !== null && !isRecord(value)) {
    report("spec.apps: must be a mapping of names and selector");
    return undefined;
  }
  const names = isRecord(value) ? value.names : undefined;
  const selector = isRecord(value) ? value.selector : undefined;
  const hasNames = Array.isArray(names) ? names.length > 0 : names !== undefined && names !== null;
  const hasSelector = selector !== undefined && selector !== null;
  if (!hasNames && !hasSelector) {
    report("spec.apps: names or selector is required");
    return undefined;
  }
  const matcher: RolloutAppMatcher = {};
  let valid = true;
  if (hasNames) {
    if (!Array.isArray(names)) {
      report("spec.apps.names: must be a list of globs");
      valid = false;
    } else {
      for (const [index, pattern] of names.entries()) {
        if (typeof pattern !== "string" || compileGlob(pattern, "gobwas") === undefined) {
          report(`spec.apps.names[${index}]: ${JSON.stringify(pattern)} is not a glob`);
          valid = false;
        }
      }
      if (valid) matcher.names = names as string[];
    }
  }
  if (hasSelector) {
    const read = readSelector(selector, "spec.apps.selector", report);
    if (read) matcher.selector = read;
    else valid = false;
  }
  return valid ? matcher : undefined;
}

function readOfflineClusters(value: unknown, report: (message: string) => void): OfflinePolicy | undefined {
  if (value === undefined || value === null) return { policy: "wait" };
  if (!isRecord(value)) {
    report("spec.offlineClusters: must be a mapping of policy and timeout");
    return undefined;
  }
  const policy = value.policy ?? "Wait";
  if (policy === "Wait") return { policy: "wait" };
  if (policy !== "Skip") {
    report(`spec.offlineClusters.policy: ${JSON.stringify(policy)} is not Wait or Skip`);
    return undefined;
  }
  if (value.timeout === undefined || value.timeout === null) {
    report("spec.offlineClusters.timeout: is required with policy Skip");
    return undefined;
  }
  const timeoutMs = readDuration(durationText(value.timeout), "spec.offlineClusters.timeout", report);
  return timeoutMs === undefined ? undefined : { policy: "skip", timeoutMs };
}

function readOfflineAnnotation(
  text: string | undefined | null,
  what: string,
  report: (message: string) => void,
): OfflinePolicy | undefined {
  if (text === undefined) return { policy: "wait" };
  const trimmed = text?.trim();
  if (trimmed === "wait") return { policy: "wait" };
  if (trimmed?.startsWith("skip-after=")) {
    const timeoutMs = readDuration(trimmed.slice("skip-after=".length), what, report);
    return timeoutMs === undefined ? undefined : { policy: "skip", timeoutMs };
  }
  report(`${what}: ${JSON.stringify(text)} is not "wait" or "skip-after=<duration>"`);
  return undefined;
}

function readRollbackAnnotation(
  text: string | undefined | null,
  what: string,
  report: (message: string) => void,
): boolean | undefined {
  if (text === undefined) return false;
  const trimmed = text?.trim();
  if (trimmed === "true" || trimmed === "false") return trimmed === "true";
  report(`${what}: ${JSON.stringify(text)} is not "true" or "false"`);
  return undefined;
}

/** A progress deadline: default 10 minutes, and never 0 (every release would fail at once). */
function readDeadline(
  text: string | undefined | null,
  what: string,
  report: (message: string) => void,
): number | undefined {
  if (text === undefined) return DEFAULT_PROGRESS_DEADLINE_MS;
  const ms = readDuration(text, what, report);
  if (ms === 0) {
    report(`${what}: must be longer than 0`);
    return undefined;
  }
  return ms;
}

/**
 * Milliseconds of a written duration: undefined text is 0, null text (a value of another type)
 * and unparsable text are reported.
 */
function readDuration(
  text: string | undefined | null,
  what: string,
  report: (message: string) => void,
): number | undefined {
  if (text === undefined) return 0;
  if (text === null) {
    report(`${what}: must be a duration such as 30s or 5m`);
    return undefined;
  }
  try {
    return parseDuration(text, what);
  } catch (error) {
    report((error as Error).message);
    return undefined;
  }
}

/** A duration field as text: absent is undefined, a number is seconds, another type is null. */
function durationText(value: unknown): string | undefined | null {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isFinite(value) && value >= 0) return String(value);
  return null;
}

/** An annotation's text: absent is undefined, an unquoted YAML boolean or number is its text, another type is null. */
function annotationText(value: unknown): string | undefined | null {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (typeof value === "boolean" || (typeof value === "number" && Number.isFinite(value)))
    return String(value);
  return null;
}

/** Argo CD's maxUpdate and Flotilla's maxUnavailable: a count, or "N%" up to 100%; absent is 100%. */
function readMaxUnavailable(
  value: unknown,
  what: string,
  report: (message: string) => void,
): MaxUnavailable | undefined {
  if (value === undefined || value === null) return ALL;
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return { count: value };
  const percent = typeof value === "string" ? /^(\d{1,3})%$/.exec(value.trim()) : null;
  if (percent && Number(percent[1]) <= 100) return { percent: Number(percent[1]) };
  report(`${what}: ${JSON.stringify(value)} is not a count or a percentage up to 100%`);
  return undefined;
}

/** A metav1.LabelSelector (matchLabels and matchExpressions); `{}` selects everything. */
function readSelector(
  value: unknown,
  what: string,
  report: (message: string) => void,
): LabelSelectorSpec | undefined {
  if (!isRecord(value)) {
    report(`${what}: must be a label selector (matchLabels, matchExpressions)`);
    return undefined;
  }
  const selector: LabelSelectorSpec = {};
  let valid = true;
  const { matchLabels, matchExpressions } = value;
  if (matchLabels !== undefined && matchLabels !== null) {
    if (!isRecord(matchLabels)) {
      report(`${what}.matchLabels: must be a map of label values`);
      valid = false;
    } else {
      const labels: Record<string, string> = {};
      for (const [key, label] of Object.entries(matchLabels)) {
        const problem =
          qualifiedNameProblem(key) ??
          (typeof label === "string"
            ? labelValueProblem(label)
            : `value of ${JSON.stringify(key)} must be a string`);
        if (problem) {
          report(`${what}.matchLabels: ${problem}`);
          valid = false;
        } else labels[key] = label as string;
      }
      if (Object.keys(labels).length > 0) selector.matchLabels = labels;
    }
  }
  const expressions = readExpressions(matchExpressions, `${what}.matchExpressions`, report);
  if (!expressions) valid = false;
  else if (expressions.matchExpressions) selector.matchExpressions = expressions.matchExpressions;
  return valid ? selector : undefined;
}

/** A list of {key, operator, values}, as a selector of matchExpressions only (absent: `{}`). */
function readExpressions(
  value: unknown,
  what: string,
  report: (message: string) => void,
): LabelSelectorSpec | undefined {
  if (value === undefined || value === null) return {};
  if (!Array.isArray(value)) {
    report(`${what}: must be a list`);
    return undefined;
  }
  const expressions: NonNullable<LabelSelectorSpec["matchExpressions"]> = [];
  let valid = true;
  for (const [index, expression] of value.entries()) {
    const at = `${what}[${index}]`;
    const fail = (message: string) => {
      report(message);
      valid = false;
    };
    if (!isRecord(expression)) {
      fail(`${at}: must be a mapping of key, operator and values`);
      continue;
    }
    const { key, operator, values } = expression;
    if (typeof key !== "string") {
      fail(`${at}.key: must be a string`);
      continue;
    }
    const keyProblem = qualifiedNameProblem(key);
    if (keyProblem) fail(`${at}.key: ${keyProblem}`);
    const op = OPERATORS.find((known) => known === operator);
    if (!op) fail(`${at}.operator: ${JSON.stringify(operator)} is not In, NotIn, Exists or DoesNotExist`);
    const list = values === undefined || values === null ? [] : values;
    if (!Array.isArray(list) || list.some((item) => typeof item !== "string")) {
      fail(`${at}.values: must be a list of strings`);
      continue;
    }
    const valueProblem = (list as string[]).map(labelValueProblem).find(Boolean);
    if (valueProblem) fail(`${at}.values: ${valueProblem}`);
    if ((op === "In" || op === "NotIn") && list.length === 0)
      fail(`${at}.values: ${op} needs at least one value`);
    if ((op === "Exists" || op === "DoesNotExist") && list.length > 0)
      fail(`${at}.values: ${op} takes no values`);
    if (op) expressions.push({ key, operator: op, ...(list.length > 0 ? { values: list as string[] } : {}) });
  }
  if (!valid) return undefined;
  return expressions.length > 0 ? { matchExpressions: expressions } : {};
}

function requirementsOf(selector: LabelSelectorSpec): Requirement[] {
  const requirements: Requirement[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {}))
    requirements.push({ key, operator: "Equals", values: [value] });
  for (const { key, operator, values } of selector.matchExpressions ?? [])
    requirements.push({ key, operator, values: values ?? [] });
  return requirements;
}

function readName(obj: KubeObject, report: (message: string) => void): string | undefined {
  const name = obj.metadata.name;
  if (typeof name === "string" && name !== "") return name;
  report("metadata.name is required");
  return undefined;
}

function nameOf(obj: KubeObject): string {
  const name = obj.metadata.name;
  return typeof name === "string" && name !== "" ? name : "<unnamed>";
}

function isGlob(glob: GlobMatcher | undefined): glob is GlobMatcher {
  return glob !== undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
