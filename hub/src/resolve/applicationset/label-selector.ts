// Kubernetes label selectors (matchLabels and matchExpressions with In, NotIn, Exists and
// DoesNotExist), as the clusters generator and the generators' post-filter `selector` use them.

import {
  labelValueProblem,
  matchesSelector,
  qualifiedNameProblem,
  type Requirement,
} from "../../fleet/label-selector.js";

export type LabelMatcher = (labels: Readonly<Record<string, string>>) => boolean;

const OPERATORS: Record<string, Requirement["operator"]> = {
  In: "In",
  NotIn: "NotIn",
  Exists: "Exists",
  DoesNotExist: "DoesNotExist",
};

/**
 * Compiles a metav1.LabelSelector; an empty selector matches everything. `validateValues` checks
 * values as label values, as Kubernetes does for the clusters generator (Argo's post-filter does not).
 * Throws an Error naming the bad key, operator or value.
 */
export function compileLabelSelector(selector: unknown, options: { validateValues: boolean }): LabelMatcher {
  if (selector === null || selector === undefined) return () => true;
  if (typeof selector !== "object" || Array.isArray(selector)) throw new Error("selector must be an object");
  const { matchLabels, matchExpressions } = selector as { matchLabels?: unknown; matchExpressions?: unknown };
  const requirements: Requirement[] = [];
  if (matchLabels !== undefined && matchLabels !== null) {
    if (typeof matchLabels !== "object" || Array.isArray(matchLabels))
      throw new Error("matchLabels must be a map");
    for (const [key, value] of Object.entries(matchLabels)) {
      if (typeof value !== "string") throw new Error(`matchLabels.${key} must be a string`);
      requirements.push({ key, operator: "Equals", values: [value] });
    }
  }
  if (matchExpressions !== undefined && matchExpressions !== null) {
    if (!Array.isArray(matchExpressions)) throw new Error("matchExpressions must be a list");
    for (const expression of matchExpressions as unknown[]) {
      const { key, operator, values } = (expression ?? {}) as {
        key?: unknown;
        operator?: unknown;
        values?: unknown;
      };
      if (typeof key !== "string") throw new Error("matchExpressions[].key must be a string");
      const op = typeof operator === "string" ? OPERATORS[operator] : undefined;
      if (!op) throw new Error(`${JSON.stringify(operator)} is not a valid label selector operator`);
      const list = values === undefined || values === null ? [] : values;
      if (!Array.isArray(list) || list.some((v) => typeof v !== "string")) {
        throw new Error(`matchExpressions values of ${JSON.stringify(key)} must be strings`);
      }
      requirements.push({ key, operator: op, values: list as string[] });
    }
  }
  for (const { key, operator, values } of requirements) {
    const keyProblem = qualifiedNameProblem(key);
    if (keyProblem) throw new Error(keyProblem);
    if ((operator === "In" || operator === "NotIn") && values.length === 0) {
      throw new Error(`key ${JSON.stringify(key)}: for 'in', 'notin' operators, values set can't be empty`);
    }
    if ((operator === "Exists" || operator === "DoesNotExist") && values.length > 0) {
      throw new Error(`key ${JSON.stringify(key)}: values set must be empty for exists and does not exist`);
    }
    const valueProblem = options.validateValues ? values.map(labelValueProblem).find(Boolean) : undefined;
    if (valueProblem) throw new Error(valueProblem);
  }
  const compiled = { requirements };
  return (labels) => matchesSelector(compiled, labels);
}
