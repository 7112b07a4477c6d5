// Kubernetes label selectors (matchLabels and matchExpressions with In, NotIn, Exists and
// DoesNotExist), as the clusters generator and the generators' post-filter `selector` use them.

export type LabelMatcher = (labels: Readonly<Record<string, string>>) => boolean;

type Requirement = {
  key: string;
  operator: "Equals" | "In" | "NotIn" | "Exists" | "DoesNotExist";
  values: string[];
};

const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** validation.IsQualifiedName: an optional DNS subdomain prefix and "/", then a name of at most 63 characters. */
function checkQualifiedName(key: string): void {
  const parts = key.split("/");
  const [prefix, name] = parts.length === 2 ? parts : [undefined, parts[0]];
  if (parts.length > 2 || name === undefined || name === "") {
    throw new Error(
      `key ${JSON.stringify(key)}: a qualified name must be a name with an optional DNS subdomain prefix and "/"`,
    );
  }
  if (prefix !== undefined && (prefix === "" || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    throw new Error(`key ${JSON.stringify(key)}: prefix part must be a lowercase RFC 1123 subdomain`);
  }
  if (name.length > 63 || !NAME.test(name)) {
    throw new Error(
      `key ${JSON.stringify(key)}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63 characters)`,
    );
  }
}

function checkLabelValue(value: string): void {
  if (value.length > 63 || !LABEL_VALUE.test(value)) {
    throw new Error(
      `value ${JSON.stringify(value)}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63 characters)`,
    );
  }
}

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
    checkQualifiedName(key);
    if ((operator === "In" || operator === "NotIn") && values.length === 0) {
      throw new Error(`key ${JSON.stringify(key)}: for 'in', 'notin' operators, values set can't be empty`);
    }
    if ((operator === "Exists" || operator === "DoesNotExist") && values.length > 0) {
      throw new Error(`key ${JSON.stringify(key)}: values set must be empty for exists and does not exist`);
    }
    if (options.validateValues) values.forEach(checkLabelValue);
  }
  return (labels) =>
    requirements.every(({ key, operator, values }) => {
      const has = Object.hasOwn(labels, key);
      const value = has ? labels[key] : undefined;
      switch (operator) {
        case "Equals":
        case "In":
          return has && values.includes(value ?? "");
        case "NotIn":
          return !has || !values.includes(value ?? "");
        case "Exists":
          return has;
        case "DoesNotExist":
          return !has;
      }
      return false;
    });
}
