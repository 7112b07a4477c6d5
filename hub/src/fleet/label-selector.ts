// Kubernetes label selectors in their string form (`env=prod,tier in (web,api),!legacy`), as
// `kubectl get -l` and `labels.Parse` read them: API tokens limited to some clusters, and
// `flotilla status --selector`. The requirements use the metav1 operator names so the structured
// form (matchLabels / matchExpressions) can be built on the same matcher.

export type SelectorOperator =
  | "Equals"
  | "NotEquals"
  | "In"
  | "NotIn"
  | "Exists"
  | "DoesNotExist"
  | "GreaterThan"
  | "LessThan";

export type Requirement = {
  key: string;
  operator: SelectorOperator;
  /** One value for Equals, NotEquals, GreaterThan and LessThan; one or more for In and NotIn; none otherwise. */
  values: readonly string[];
};

/** Every requirement must hold (comma = AND); no requirements match every label set. */
export type LabelSelector = { requirements: readonly Requirement[] };

export type Labels = Readonly<Record<string, string>>;

const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const INTEGER = /^-?[0-9]+$/;

/** Why `key` is not a qualified name (optional DNS-subdomain prefix and "/", then a name of at most 63 characters), or undefined. */
export function qualifiedNameProblem(key: string): string | undefined {
  const parts = key.split("/");
  const [prefix, name] = parts.length === 2 ? parts : [undefined, parts[0]];
  if (parts.length > 2 || name === undefined || name === "") {
    return `key ${JSON.stringify(key)}: a qualified name must be a name with an optional DNS subdomain prefix and "/"`;
  }
  if (prefix !== undefined && (prefix === "" || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return `key ${JSON.stringify(key)}: prefix part must be a lowercase RFC 1123 subdomain`;
  }
  if (name.length > 63 || !NAME.test(name)) {
    return `key ${JSON.stringify(key)}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63 characters)`;
  }
  return undefined;
}

/** Why `value` is not a label value (empty, or at most 63 alphanumerics, '-', '_', '.' starting and ending alphanumeric), or undefined. */
export function labelValueProblem(value: string): string | undefined {
  if (value.length > 63 || !LABEL_VALUE.test(value)) {
    return `value ${JSON.stringify(value)}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63 characters)`;
  }
  return undefined;
}

type Token =
  | { kind: "word"; text: string; column: number }
  | { kind: "!" | "=" | "==" | "!=" | "," | "(" | ")" | ">" | "<"; column: number }
  | { kind: "end"; column: number };

// Any character that is not whitespace or punctuation belongs to a word, as in labels.Parse;
// the words are validated as keys and values afterwards, so the error can say which rule failed.
const PUNCTUATION = new Set(["!", "=", ",", "(", ")", ">", "<"]);

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  while (at < text.length) {
    const char = text[at] as string;
    if (/\s/.test(char)) {
      at += 1;
      continue;
    }
    const column = at + 1;
    const two = text.slice(at, at + 2);
    if (two === "==" || two === "!=") {
      tokens.push({ kind: two, column });
      at += 2;
    } else if (PUNCTUATION.has(char)) {
      tokens.push({ kind: char as "!" | "=" | "," | "(" | ")" | ">" | "<", column });
      at += 1;
    } else {
      let end = at;
      while (end < text.length && !/\s/.test(text[end] as string) && !PUNCTUATION.has(text[end] as string))
        end += 1;
      tokens.push({ kind: "word", text: text.slice(at, end), column });
      at = end;
    }
  }
  tokens.push({ kind: "end", column: text.length + 1 });
  return tokens;
}

function describe(token: Token): string {
  if (token.kind === "end") return "the end";
  if (token.kind === "word") return JSON.stringify(token.text);
  return `"${token.kind}"`;
}

/**
 * Parses a selector in Kubernetes string syntax: `a=b` (or `a==b`), `a!=b`, `a in (x,y)`,
 * `a notin (x)`, `a` (exists), `!a` (does not exist), `a>1`, `a<1` (integer values), joined by
 * commas (AND). Whitespace between tokens is ignored; the empty string matches everything.
 * `a=` means the label is present with an empty value. Keys must be qualified names and values
 * label values, as Kubernetes checks them.
 * Throws an Error that quotes the selector and names the 1-based column of the problem.
 */
export function parseLabelSelector(text: string): LabelSelector {
  const tokens = tokenize(text);
  let index = 0;
  const peek = () => tokens[index] as Token;
  const next = () => tokens[index++] as Token;
  const fail = (token: Token, message: string): never => {
    throw new Error(`label selector ${JSON.stringify(text)} at column ${token.column}: ${message}`);
  };
  const expectWord = (what: string): Extract<Token, { kind: "word" }> => {
    const token = next();
    if (token.kind !== "word") return fail(token, `expected ${what}, found ${describe(token)}`);
    return token;
  };
  const readKey = () => {
    const token = expectWord("a label key");
    const problem = qualifiedNameProblem(token.text);
    if (problem) fail(token, problem);
    return token.text;
  };
  const readValue = (token: Extract<Token, { kind: "word" }>) => {
    const problem = labelValueProblem(token.text);
    if (problem) fail(token, problem);
    return token.text;
  };

  const requirements: Requirement[] = [];
  if (peek().kind === "end") return { requirements };
  for (;;) {
    if (peek().kind === "!") {
      next();
      requirements.push({ key: readKey(), operator: "DoesNotExist", values: [] });
    } else {
      const key = readKey();
      const operator = peek();
      if (operator.kind === "," || operator.kind === "end") {
        requirements.push({ key, operator: "Exists", values: [] });
      } else if (operator.kind === "=" || operator.kind === "==" || operator.kind === "!=") {
        next();
        const value = peek();
        // `a=` with nothing after it selects the empty value, as labels.Parse does.
        const values = value.kind === "word" ? [readValue(next() as typeof value)] : [""];
        requirements.push({ key, operator: operator.kind === "!=" ? "NotEquals" : "Equals", values });
      } else if (operator.kind === ">" || operator.kind === "<") {
        next();
        const value = expectWord("an integer");
        if (!INTEGER.test(value.text)) fail(value, `${JSON.stringify(value.text)} is not an integer`);
        requirements.push({
          key,
          operator: operator.kind === ">" ? "GreaterThan" : "LessThan",
          values: [value.text],
        });
      } else if (operator.kind === "word" && (operator.text === "in" || operator.text === "notin")) {
        next();
        const open = next();
        if (open.kind !== "(") fail(open, `expected "(" after ${operator.text}, found ${describe(open)}`);
        const values: string[] = [];
        for (;;) {
          values.push(readValue(expectWord("a value")));
          const separator = next();
          if (separator.kind === ")") break;
          if (separator.kind !== ",") fail(separator, `expected "," or ")", found ${describe(separator)}`);
        }
        requirements.push({ key, operator: operator.text === "in" ? "In" : "NotIn", values });
      } else {
        fail(
          operator,
          `expected an operator (=, ==, !=, in, notin, >, <) or ",", found ${describe(operator)}`,
        );
      }
    }
    const separator = next();
    if (separator.kind === "end") return { requirements };
    if (separator.kind !== ",") fail(separator, `expected "," or the end, found ${describe(separator)}`);
  }
}

/** Whether every requirement of `selector` holds for `labels`. NotEquals and NotIn hold when the key is absent. */
export function matchesSelector(selector: LabelSelector, labels: Labels): boolean {
  return selector.requirements.every((requirement) => matchesRequirement(requirement, labels));
}

function matchesRequirement({ key, operator, values }: Requirement, labels: Labels): boolean {
  const has = Object.hasOwn(labels, key);
  const value = has ? (labels[key] as string) : undefined;
  switch (operator) {
    case "Equals":
    case "In":
      return value !== undefined && values.includes(value);
    case "NotEquals":
    case "NotIn":
      return value === undefined || !values.includes(value);
    case "Exists":
      return has;
    case "DoesNotExist":
      return !has;
    case "GreaterThan":
    case "LessThan": {
      // A label value that is not an integer never matches, as in Kubernetes.
      if (value === undefined || !INTEGER.test(value)) return false;
      const [label, bound] = [BigInt(value), BigInt(values[0] ?? "0")];
      return operator === "GreaterThan" ? label > bound : label < bound;
    }
  }
}

const FORMAT: Record<SelectorOperator, (key: string, values: readonly string[]) => string> = {
  Equals: (key, [value = ""]) => `${key}=${value}`,
  NotEquals: (key, [value = ""]) => `${key}!=${value}`,
  In: (key, values) => `${key} in (${values.join(",")})`,
  NotIn: (key, values) => `${key} notin (${values.join(",")})`,
  Exists: (key) => key,
  DoesNotExist: (key) => `!${key}`,
  GreaterThan: (key, [value = ""]) => `${key}>${value}`,
  LessThan: (key, [value = ""]) => `${key}<${value}`,
};

/** Renders a selector back in string syntax, e.g. for an authorization message. */
export function formatLabelSelector(selector: LabelSelector): string {
  return selector.requirements.map(({ key, operator, values }) => FORMAT[operator](key, values)).join(",");
}
