/**
 * The jq subset Argo CD users write in `ignoreDifferences.jqPathExpressions`, evaluated as
 * `path(expression)`: field access (`.a`, `."a-b"`, `.["a"]`), indexes (`.[2]`, `.[-1]`),
 * iteration (`.[]`), `?`, pipes, commas, parentheses and `select(condition)`, where a condition
 * may use paths, literals, `==` `!=` `<` `<=` `>` `>=`, `and`, `or`, `not`, and the functions
 * `startswith`, `endswith`, `test`, `has`, `contains` and `length`.
 */

export type JqPath = (string | number)[];

type Node =
  | { type: "identity" }
  | { type: "field"; target: Node; key: string | number }
  | { type: "iterate"; target: Node }
  | { type: "try"; body: Node }
  | { type: "pipe"; left: Node; right: Node }
  | { type: "comma"; left: Node; right: Node }
  | { type: "literal"; value: unknown }
  | { type: "binary"; op: BinaryOp; left: Node; right: Node }
  | { type: "call"; name: string; args: Node[]; column: number };

type BinaryOp = "==" | "!=" | "<" | "<=" | ">" | ">=" | "and" | "or";

type Token = {
  kind: "punct" | "ident" | "string" | "number" | "end";
  text: string;
  value?: unknown;
  column: number;
};

/** A jq runtime error (such as iterating over null); `?` suppresses it. */
class JqEvalError extends Error {}

/** Functions the subset knows, with their arity. */
const FUNCTIONS: Record<string, number[]> = {
  select: [1],
  not: [0],
  startswith: [1],
  endswith: [1],
  test: [1, 2],
  has: [1],
  contains: [1],
  length: [0],
};

const PUNCTUATION = [
  "==",
  "!=",
  "<=",
  ">=",
  "..",
  "//",
  "?//",
  "|=",
  "+=",
  "-=",
  "<",
  ">",
  ".",
  "[",
  "]",
  "(",
  ")",
  "|",
  ",",
  "?",
  ";",
  "-",
];

function tokenize(expression: string, fail: (what: string, column: number) => never): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < expression.length) {
    const char = expression[i] ?? "";
    const column = i + 1;
    if (/\s/.test(char)) {
      i++;
    } else if (/[A-Za-z_]/.test(char)) {
      const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(expression.slice(i))?.[0] ?? char;
      tokens.push({ kind: "ident", text: match, column });
      i += match.length;
    } else if (/[0-9]/.test(char)) {
      const match = /^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(expression.slice(i))?.[0] ?? char;
      tokens.push({ kind: "number", text: match, value: Number(match), column });
      i += match.length;
    } else if (char === '"') {
      let j = i + 1;
      while (j < expression.length && expression[j] !== '"') {
        if (expression[j] === "\\") {
          if (expression[j + 1] === "(") fail("string interpolation is not supported", j + 1);
          j++;
        }
        j++;
      }
      if (j >= expression.length) fail("unterminated string", column);
      const text = expression.slice(i, j + 1);
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        fail("invalid string escape", column);
      }
      tokens.push({ kind: "string", text, value, column });
      i = j + 1;
    } else {
      const punct = PUNCTUATION.find((p) => expression.startsWith(p, i));
      if (!punct) fail(`unexpected character "${char}"`, column);
      tokens.push({ kind: "punct", text: punct, column });
      i += punct.length;
    }
  }
  tokens.push({ kind: "end", text: "end of expression", column: expression.length + 1 });
  return tokens;
}

class Parser {
  private position = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly fail: (what: string, column: number) => never,
  ) {}

  parse(): Node {
    const node = this.parsePipe();
    const next = this.peek();
    if (next.kind !== "end") this.unexpected(next);
    return node;
  }

  private peek(): Token {
    return this.tokens[this.position] ?? { kind: "end", text: "end of expression", column: 0 };
  }

  private next(): Token {
    const token = this.peek();
    this.position++;
    return token;
  }

  private isPunct(text: string): boolean {
    const token = this.peek();
    return token.kind === "punct" && token.text === text;
  }

  private isIdent(text: string): boolean {
    const token = this.peek();
    return token.kind === "ident" && token.text === text;
  }

  private expect(text: string): void {
    if (!this.isPunct(text))
      this.fail(`expected "${text}" but found ${describe(this.peek())}`, this.peek().column);
    this.position++;
  }

  private unexpected(token: Token): never {
    const reason = UNSUPPORTED[token.text];
    if (reason) this.fail(reason, token.column);
    this.fail(`unexpected ${describe(token)}`, token.column);
  }

  private parsePipe(): Node {
    const left = this.parseComma();
    if (!this.isPunct("|")) return left;
    this.position++;
    return { type: "pipe", left, right: this.parsePipe() };
  }

  private parseComma(): Node {
    let left = this.parseOr();
    while (this.isPunct(",")) {
      this.position++;
      left = { type: "comma", left, right: this.parseOr() };
    }
    return left;
  }

  private parseOr(): Node {
    let left = this.parseAnd();
    while (this.isIdent("or")) {
      this.position++;
      left = { type: "binary", op: "or", left, right: this.parseAnd() };
    }
    return left;
  }

  private parseAnd(): Node {
    let left = this.parseComparison();
    while (this.isIdent("and")) {
      this.position++;
      left = { type: "binary", op: "and", left, right: this.parseComparison() };
    }
    return left;
  }

  private parseComparison(): Node {
    const left = this.parsePostfix();
    const token = this.peek();
    if (token.kind === "punct" && ["==", "!=", "<", "<=", ">", ">="].includes(token.text)) {
      this.position++;
      return { type: "binary", op: token.text as BinaryOp, left, right: this.parsePostfix() };
    }
    return left;
  }

  private parsePostfix(): Node {
    let node = this.parsePrimary();
    for (;;) {
      if (this.isPunct("?")) {
        this.position++;
        // Like gojq, `?` after an index or iteration guards only that step: `.a[].b[]?` is `.a[].b | try .[]`.
        node =
          node.type === "field" || node.type === "iterate"
            ? {
                type: "pipe",
                left: node.target,
                right: { type: "try", body: { ...node, target: { type: "identity" } } },
              }
            : { type: "try", body: node };
      } else if (this.isPunct("[")) {
        node = this.parseBracket(node);
      } else if (this.isPunct(".") && this.canFollowDot()) {
        this.position++;
        node = this.parseDotSuffix(node);
      } else {
        return node;
      }
    }
  }

  /** True when the token after "." continues a path (a name, string or bracket). */
  private canFollowDot(): boolean {
    const after = this.tokens[this.position + 1];
    return after !== undefined && (after.kind === "ident" || after.kind === "string" || after.text === "[");
  }

  private parseDotSuffix(target: Node): Node {
    const token = this.peek();
    if (token.kind === "ident" || token.kind === "string") {
      this.position++;
      return { type: "field", target, key: token.kind === "ident" ? token.text : String(token.value) };
    }
    if (this.isPunct("[")) return this.parseBracket(target);
    this.unexpected(token);
  }

  private parseBracket(target: Node): Node {
    this.expect("[");
    if (this.isPunct("]")) {
      this.position++;
      return { type: "iterate", target };
    }
    const negative = this.isPunct("-");
    if (negative) this.position++;
    const token = this.next();
    if (token.kind === "string" && !negative) {
      this.expect("]");
      return { type: "field", target, key: String(token.value) };
    }
    if (token.kind === "number" && Number.isInteger(token.value)) {
      if (this.isPunct(":")) this.fail("array slices are not supported", this.peek().column);
      this.expect("]");
      return { type: "field", target, key: negative ? -(token.value as number) : (token.value as number) };
    }
    this.fail("only a string or integer literal is supported inside [ ]", token.column);
  }

  private parsePrimary(): Node {
    const token = this.next();
    if (token.kind === "punct" && token.text === ".") {
      const after = this.peek();
      if (after.kind === "ident" || after.kind === "string") return this.parseDotSuffix({ type: "identity" });
      if (after.kind === "punct" && after.text === "[") return this.parseBracket({ type: "identity" });
      return { type: "identity" };
    }
    if (token.kind === "punct" && token.text === "(") {
      const node = this.parsePipe();
      this.expect(")");
      return node;
    }
    if (token.kind === "punct" && token.text === "-" && this.peek().kind === "number") {
      return { type: "literal", value: -(this.next().value as number) };
    }
    if (token.kind === "string" || token.kind === "number") return { type: "literal", value: token.value };
    if (token.kind === "ident") {
      if (token.text === "true" || token.text === "false")
        return { type: "literal", value: token.text === "true" };
      if (token.text === "null") return { type: "literal", value: null };
      return this.parseCall(token);
    }
    this.unexpected(token);
  }

  private parseCall(token: Token): Node {
    const arities = FUNCTIONS[token.text];
    if (!arities) this.fail(`function ${token.text} is not supported`, token.column);
    const args: Node[] = [];
    if (this.isPunct("(")) {
      this.position++;
      args.push(this.parsePipe());
      while (this.isPunct(";")) {
        this.position++;
        args.push(this.parsePipe());
      }
      this.expect(")");
    }
    if (!arities.includes(args.length)) {
      this.fail(`${token.text} takes ${arities.join(" or ")} argument(s), not ${args.length}`, token.column);
    }
    return { type: "call", name: token.text, args, column: token.column };
  }
}

const UNSUPPORTED: Record<string, string> = {
  "..": "recursive descent (..) is not supported",
  "//": "the alternative operator (//) is not supported",
  "?//": "destructuring alternatives (?//) are not supported",
  "|=": "update assignment is not supported",
  "+=": "arithmetic update is not supported",
  "-=": "arithmetic update is not supported",
  "-": "arithmetic is not supported",
};

function describe(token: Token): string {
  return token.kind === "end" ? "end of expression" : `"${token.text}"`;
}

/** The column of the first node that cannot produce paths, or undefined when all can. */
function nonPathColumn(node: Node): number | undefined {
  switch (node.type) {
    case "identity":
      return undefined;
    case "field":
    case "iterate":
      return nonPathColumn(node.target);
    case "try":
      return nonPathColumn(node.body);
    case "pipe":
    case "comma":
      return nonPathColumn(node.left) ?? nonPathColumn(node.right);
    case "call":
      return node.name === "select" ? undefined : node.column;
    default:
      return 0;
  }
}

function parseExpression(expression: string): Node {
  const fail = (what: string, column: number): never => {
    throw new Error(`jq path expression "${expression}": ${what} at column ${column}`);
  };
  const node = new Parser(tokenize(expression, fail), fail).parse();
  const column = nonPathColumn(node);
  if (column !== undefined) {
    fail("only paths and select() can be used as a path expression", column || 1);
  }
  return node;
}

/** A value with the path it was read from; `path` is undefined for computed values. Absent fields have value undefined. */
type Item = { value: unknown; path: JqPath | undefined };

function typeName(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function truthy(value: unknown): boolean {
  return value !== false && value !== null && value !== undefined;
}

function extend(path: JqPath | undefined, key: string | number): JqPath | undefined {
  return path ? [...path, key] : undefined;
}

function* evaluate(node: Node, input: Item): Generator<Item> {
  switch (node.type) {
    case "identity":
      yield input;
      return;
    case "literal":
      yield { value: node.value, path: undefined };
      return;
    case "field":
      for (const item of evaluate(node.target, input)) yield index(item, node.key);
      return;
    case "iterate":
      for (const item of evaluate(node.target, input)) yield* iterate(item);
      return;
    case "try":
      try {
        yield* evaluate(node.body, input);
      } catch (error) {
        if (!(error instanceof JqEvalError)) throw error;
      }
      return;
    case "pipe":
      for (const item of evaluate(node.left, input)) yield* evaluate(node.right, item);
      return;
    case "comma":
      yield* evaluate(node.left, input);
      yield* evaluate(node.right, input);
      return;
    case "binary":
      yield* binary(node.op, node.left, node.right, input);
      return;
    case "call":
      yield* call(node.name, node.args, input);
      return;
  }
}

function index(item: Item, key: string | number): Item {
  const { value } = item;
  if (value === null || value === undefined) return { value: undefined, path: extend(item.path, key) };
  if (typeof key === "string") {
    if (!isObject(value)) throw new JqEvalError(`cannot index ${typeName(value)} with "${key}"`);
    return { value: Object.hasOwn(value, key) ? value[key] : undefined, path: extend(item.path, key) };
  }
  if (!Array.isArray(value)) throw new JqEvalError(`cannot index ${typeName(value)} with number`);
  const at = key < 0 ? value.length + key : key;
  return { value: at >= 0 && at < value.length ? value[at] : undefined, path: extend(item.path, at) };
}

function* iterate(item: Item): Generator<Item> {
  const { value } = item;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) yield { value: value[i], path: extend(item.path, i) };
  } else if (isObject(value)) {
    for (const key of Object.keys(value)) yield { value: value[key], path: extend(item.path, key) };
  } else {
    throw new JqEvalError(`cannot iterate over ${typeName(value)}`);
  }
}

function* binary(op: BinaryOp, left: Node, right: Node, input: Item): Generator<Item> {
  if (op === "and" || op === "or") {
    for (const l of evaluate(left, input)) {
      if (op === "and" ? !truthy(l.value) : truthy(l.value)) {
        yield { value: op === "or", path: undefined };
        continue;
      }
      for (const r of evaluate(right, input)) yield { value: truthy(r.value), path: undefined };
    }
    return;
  }
  // jq evaluates the right operand in the outer loop.
  for (const r of evaluate(right, input)) {
    for (const l of evaluate(left, input)) {
      const order = compareValues(l.value ?? null, r.value ?? null);
      const result =
        op === "=="
          ? order === 0
          : op === "!="
            ? order !== 0
            : op === "<"
              ? order < 0
              : op === "<="
                ? order <= 0
                : op === ">"
                  ? order > 0
                  : order >= 0;
      yield { value: result, path: undefined };
    }
  }
}

const TYPE_ORDER = ["null", "false", "true", "number", "string", "array", "object"];

function typeRank(value: unknown): number {
  if (value === false) return 1;
  if (value === true) return 2;
  return TYPE_ORDER.indexOf(typeName(value));
}

/** jq's total order: null < false < true < numbers < strings < arrays < objects. */
function compareValues(a: unknown, b: unknown): number {
  const rank = typeRank(a) - typeRank(b);
  if (rank !== 0) return rank;
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "string" && typeof b === "string") return a < b ? -1 : a > b ? 1 : 0;
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const order = compareValues(a[i] ?? null, b[i] ?? null);
      if (order !== 0) return order;
    }
    return a.length - b.length;
  }
  if (isObject(a) && isObject(b)) {
    const keysA = Object.keys(a).sort();
    const keysB = Object.keys(b).sort();
    const keyOrder = compareValues(keysA, keysB);
    if (keyOrder !== 0) return keyOrder;
    for (const key of keysA) {
      const order = compareValues(a[key] ?? null, b[key] ?? null);
      if (order !== 0) return order;
    }
  }
  return 0;
}

function contains(a: unknown, b: unknown): boolean {
  if (typeName(a) !== typeName(b)) {
    throw new JqEvalError(`${typeName(a)} and ${typeName(b)} cannot have their containment checked`);
  }
  if (typeof a === "string" && typeof b === "string") return a.includes(b);
  if (Array.isArray(a) && Array.isArray(b))
    return b.every((y) => a.some((x) => typeName(x) === typeName(y) && contains(x, y)));
  if (isObject(a) && isObject(b)) {
    return Object.keys(b).every(
      (key) => Object.hasOwn(a, key) && typeName(a[key]) === typeName(b[key]) && contains(a[key], b[key]),
    );
  }
  return compareValues(a ?? null, b ?? null) === 0;
}

const REGEX_FLAGS: Record<string, string> = { i: "i", s: "s", g: "", n: "" };

function toRegExp(pattern: unknown, flags: unknown): RegExp {
  if (typeof pattern !== "string")
    throw new JqEvalError(`${typeName(pattern)} cannot be matched, as it is not a string`);
  let jsFlags = "u";
  for (const flag of typeof flags === "string" ? flags : "") {
    const mapped = REGEX_FLAGS[flag];
    if (mapped === undefined) throw new JqEvalError(`regex flag ${flag} is not supported`);
    if (!jsFlags.includes(mapped)) jsFlags += mapped;
  }
  try {
    return new RegExp(pattern, jsFlags);
  } catch (cause) {
    throw new JqEvalError(`invalid regex ${JSON.stringify(pattern)}`, { cause });
  }
}

function computed(value: unknown): Item {
  return { value, path: undefined };
}

function* argumentValues(arg: Node | undefined, input: Item): Generator<unknown> {
  if (!arg) return;
  for (const item of evaluate(arg, input)) yield item.value ?? null;
}

function* call(name: string, args: Node[], input: Item): Generator<Item> {
  const value = input.value ?? null;
  switch (name) {
    case "select":
      for (const condition of argumentValues(args[0], input)) if (truthy(condition)) yield input;
      return;
    case "not":
      yield computed(!truthy(value));
      return;
    case "length":
      if (typeof value === "string" || Array.isArray(value)) yield computed(value.length);
      else if (isObject(value)) yield computed(Object.keys(value).length);
      else if (value === null) yield computed(0);
      else if (typeof value === "number") yield computed(Math.abs(value));
      else throw new JqEvalError(`${typeName(value)} has no length`);
      return;
    case "startswith":
    case "endswith":
      for (const arg of argumentValues(args[0], input)) {
        if (typeof value !== "string" || typeof arg !== "string")
          throw new JqEvalError(`${name}() requires string inputs`);
        yield computed(name === "startswith" ? value.startsWith(arg) : value.endsWith(arg));
      }
      return;
    case "test": {
      const flagValues = args[1] ? [...argumentValues(args[1], input)] : [null];
      for (const flags of flagValues) {
        for (const pattern of argumentValues(args[0], input)) {
          if (typeof value !== "string")
            throw new JqEvalError(`${typeName(value)} cannot be matched, as it is not a string`);
          yield computed(toRegExp(pattern, flags).test(value));
        }
      }
      return;
    }
    case "has":
      for (const key of argumentValues(args[0], input)) {
        if (isObject(value) && typeof key === "string") yield computed(Object.hasOwn(value, key));
        else if (Array.isArray(value) && typeof key === "number")
          yield computed(key >= 0 && key < value.length);
        else throw new JqEvalError(`cannot check whether ${typeName(value)} has a ${typeName(key)} key`);
      }
      return;
    case "contains":
      for (const arg of argumentValues(args[0], input)) yield computed(contains(value, arg));
      return;
  }
}

/**
 * The concrete paths `expression` selects in `value`, as jq's `path(expression)` would list them,
 * without duplicates and without paths to absent fields or elements. A runtime error that `?` does
 * not catch (such as `.a[]` when `.a` is absent) selects nothing, as Argo CD then skips the whole
 * expression. Throws Error(`jq path expression "<expr>": <what> at column N`) for syntax outside
 * the supported subset.
 */
export function jqPaths(expression: string, value: unknown): JqPath[] {
  const node = parseExpression(expression);
  const paths: JqPath[] = [];
  const seen = new Set<string>();
  try {
    for (const item of evaluate(node, { value, path: [] })) {
      if (item.value === undefined || !item.path) continue;
      const key = JSON.stringify(item.path);
      if (seen.has(key)) continue;
      seen.add(key);
      paths.push(item.path);
    }
  } catch (error) {
    if (error instanceof JqEvalError) return [];
    throw error;
  }
  return paths;
}

/** Throws the same Error as jqPaths when `expression` is outside the supported subset; for validating configuration early. */
export function checkJqPathExpression(expression: string): void {
  parseExpression(expression);
}
