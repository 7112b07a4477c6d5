// A Go text/template interpreter for ApplicationSet templates: execution (text/template exec.go)
// and the built-in functions (funcs.go), over trees from parse-go-template.ts. Templates render to
// the same text as in Go and fail with the same kind of error, with the same message where
// practical. Execution is bounded: output size, evaluation steps, range iterations and template
// call depth are limited, and hitting a limit is a TemplateError with reason "limit".

import { sprint, sprintf, sprintln } from "./go-printf.js";
import {
  compareGoStrings,
  countUtf8Bytes,
  describeGoType,
  encodeUtf8,
  formatGoValue,
  GoInt,
  type GoValue,
  getKey,
  isGoMap,
  isGoPrintable,
  isStringMap,
  isTruthy,
  sortKeys,
} from "./go-value.js";
import {
  type ArgNode,
  type CommandNode,
  describeNode,
  type Node,
  type NumberNode,
  type ParsedTemplate,
  type PipeNode,
  parseGoTemplate,
  TEMPLATE_NAME,
} from "./parse-go-template.js";
import { TemplateError, type TemplateErrorReason } from "./template-error.js";

/** How a parameter of a template function receives its argument (Go's parameter types). */
export type ParamKind = "any" | "value" | "string" | "int" | "bool" | "float64" | "map";

export type CallContext = { limits: TemplateLimits };

export type TemplateFunction = {
  params: ParamKind[];
  variadic?: ParamKind;
  /** Throws an Error for a failed call; Go reports it as `error calling <name>: <message>`. */
  call: (args: GoValue[], context: CallContext) => GoValue;
};

export type FunctionTable = Readonly<Record<string, TemplateFunction>>;

export type TemplateLimits = {
  /** Output of one execution, in UTF-8 bytes. */
  maxOutputBytes: number;
  /** Evaluation steps (nodes walked, commands run) of one execution. */
  maxSteps: number;
  /** Range iterations of one execution, all ranges together. */
  maxRangeIterations: number;
  /** Nested {{template}} calls. */
  maxTemplateDepth: number;
};

export const DEFAULT_TEMPLATE_LIMITS: TemplateLimits = {
  maxOutputBytes: 1024 * 1024,
  maxSteps: 1_000_000,
  maxRangeIterations: 100_000,
  maxTemplateDepth: 100,
};

export type MissingKeyMode = "default" | "zero" | "error";

export type ExecuteOptions = {
  functions: FunctionTable;
  /** Names Flotilla knows but refuses (nondeterministic or not implemented): name -> why. */
  unsupported?: Readonly<Record<string, string>>;
  missingKey?: MissingKeyMode;
  limits?: TemplateLimits;
};

/** Parses and executes `source` with `data` as dot; throws TemplateError. */
export function renderGoTemplate(source: string, data: GoValue, options: ExecuteOptions): string {
  if (!source.includes("{{")) return source;
  const functions = withBuiltins(options.functions);
  const parsed = parseGoTemplate(source, { functions, unsupported: options.unsupported });
  return new Executor(parsed, { ...options, functions }).run(data);
}

const withBuiltinsCache = new WeakMap<FunctionTable, FunctionTable>();

/** The function table plus Go's built-ins; the table's own functions win, as in Go. */
function withBuiltins(functions: FunctionTable): FunctionTable {
  let merged = withBuiltinsCache.get(functions);
  if (!merged) {
    merged = { ...BUILTINS, ...functions };
    withBuiltinsCache.set(functions, merged);
  }
  return merged;
}

// ---- Execution ----

/**
 * Lists (template bodies, if/with/range branches) nested at once while executing, counting every
 * {{template}} call: each template may nest MAX_TEMPLATE_NESTING levels and call 100 deep, which
 * would overflow the stack long before.
 */
const MAX_EXECUTION_NESTING = 400;

const MISSING = Symbol("missing");
type Final = GoValue | typeof MISSING;

class BreakSignal {}
class ContinueSignal {}

const PARAM_TYPE_NAMES: Record<ParamKind, string> = {
  any: "interface {}",
  value: "reflect.Value",
  string: "string",
  int: "int",
  bool: "bool",
  float64: "float64",
  map: "map[string]interface {}",
};

class Executor {
  private vars: { name: string; value: GoValue }[] = [];
  private out: string[] = [];
  private outputBytes = 0;
  private steps = 0;
  private rangeIterations = 0;
  private depth = 0;
  /** Lists being walked, across template calls: bounded so that recursion cannot overflow the stack. */
  private nesting = 0;
  /** The node being evaluated, for the location and context of an error. */
  private node: ArgNode | CommandNode | Node | undefined;
  private readonly limits: TemplateLimits;
  private readonly missingKey: MissingKeyMode;

  constructor(
    private readonly template: ParsedTemplate,
    private readonly options: ExecuteOptions,
  ) {
    this.limits = options.limits ?? DEFAULT_TEMPLATE_LIMITS;
    this.missingKey = options.missingKey ?? "default";
  }

  run(data: GoValue): string {
    this.vars = [{ name: "$", value: data }];
    this.walk(data, this.template.root);
    return this.out.join("");
  }

  private at(node: ArgNode | CommandNode | Node): void {
    this.node = node;
  }

  private fail(message: string, reason: TemplateErrorReason = "exec"): never {
    if (!this.node) throw new TemplateError(`template: ${TEMPLATE_NAME}: ${message}`, reason);
    const before = this.template.source.slice(0, this.node.pos);
    const line = 1 + (before.match(/\n/g)?.length ?? 0);
    const column = countUtf8Bytes(before.slice(before.lastIndexOf("\n") + 1));
    const text = describeNode(this.node);
    const context = text.length > 20 ? `${text.slice(0, 20)}...` : text;
    throw new TemplateError(
      `template: ${TEMPLATE_NAME}:${line}:${column}: executing ${JSON.stringify(TEMPLATE_NAME)} at <${context}>: ${message}`,
      reason,
    );
  }

  private step(): void {
    if (++this.steps > this.limits.maxSteps) {
      this.fail(`evaluation exceeded ${this.limits.maxSteps} steps`, "limit");
    }
  }

  private write(text: string): void {
    this.outputBytes += countUtf8Bytes(text);
    if (this.outputBytes > this.limits.maxOutputBytes) {
      this.fail(`output exceeded ${this.limits.maxOutputBytes} bytes`, "limit");
    }
    this.out.push(text);
  }

  private varValue(name: string): GoValue {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      const variable = this.vars[i];
      if (variable?.name === name) return variable.value;
    }
    this.fail(`undefined variable: ${name}`);
  }

  private setVar(name: string, value: GoValue): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      const variable = this.vars[i];
      if (variable?.name === name) {
        variable.value = value;
        return;
      }
    }
    this.fail(`undefined variable: ${name}`);
  }

  private walk(dot: GoValue, node: Node): void {
    this.step();
    this.at(node);
    switch (node.kind) {
      case "text":
        this.write(node.text);
        return;
      case "action": {
        const value = this.evalPipeline(dot, node.pipe);
        if (node.pipe.decl.length === 0) {
          this.at(node);
          this.write(value === undefined || value === null ? "<no value>" : formatGoValue(value));
        }
        return;
      }
      case "list":
        if (this.nesting >= MAX_EXECUTION_NESTING) {
          this.fail(`nesting exceeded ${MAX_EXECUTION_NESTING} levels across template calls`, "limit");
        }
        this.nesting++;
        try {
          for (const child of node.nodes) this.walk(dot, child);
        } finally {
          this.nesting--;
        }
        return;
      case "if":
      case "with": {
        const mark = this.vars.length;
        const value = this.evalPipeline(dot, node.pipe);
        if (isTruthy(value)) this.walk(node.kind === "with" ? value : dot, node.list);
        else if (node.elseList) this.walk(dot, node.elseList);
        this.vars.length = mark;
        return;
      }
      case "range":
        this.walkRange(dot, node);
        return;
      case "template":
        this.walkTemplate(dot, node);
        return;
      case "break":
        throw new BreakSignal();
      case "continue":
        throw new ContinueSignal();
    }
  }

  private walkRange(dot: GoValue, node: Extract<Node, { kind: "range" }>): void {
    const outerMark = this.vars.length;
    const value = this.evalPipeline(dot, node.pipe);
    const mark = this.vars.length;
    const decl = node.pipe.decl;
    const iterate = (index: GoValue, element: GoValue): boolean => {
      if (++this.rangeIterations > this.limits.maxRangeIterations) {
        this.at(node);
        this.fail(`range exceeded ${this.limits.maxRangeIterations} iterations`, "limit");
      }
      if (decl.length > 0) {
        if (node.pipe.isAssign) this.setVar(decl[0] ?? "", decl.length > 1 ? index : element);
        else this.setTop(1, element);
      }
      if (decl.length > 1) {
        if (node.pipe.isAssign) this.setVar(decl[1] ?? "", element);
        else this.setTop(2, index);
      }
      try {
        this.walk(element, node.list);
      } catch (signal) {
        if (signal instanceof BreakSignal) return false;
        if (!(signal instanceof ContinueSignal)) throw signal;
      } finally {
        this.vars.length = mark;
      }
      return true;
    };
    let ran = false;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        ran = true;
        if (!iterate(new GoInt(BigInt(i)), value[i])) break;
      }
    } else if (isGoMap(value)) {
      for (const key of sortKeys(value)) {
        ran = true;
        if (!iterate(key, value[key])) break;
      }
    } else if (value instanceof GoInt) {
      if (decl.length > 1) {
        this.at(node);
        this.fail(`can't use ${formatGoValue(value)} to iterate over more than one variable`);
      }
      for (let i = 0n; i < value.value; i++) {
        ran = true;
        if (!iterate(undefined, new GoInt(i, value.type))) break;
      }
    } else if (value !== undefined && value !== null) {
      this.at(node);
      this.fail(`range can't iterate over ${formatGoValue(value)}`);
    }
    if (!ran && node.elseList) this.walk(dot, node.elseList);
    this.vars.length = outerMark;
  }

  private setTop(n: number, value: GoValue): void {
    const variable = this.vars[this.vars.length - n];
    if (variable) variable.value = value;
  }

  private walkTemplate(dot: GoValue, node: Extract<Node, { kind: "template" }>): void {
    const body = this.template.defined.get(node.name);
    if (!body) this.fail(`template ${JSON.stringify(node.name)} not defined`);
    if (this.depth >= this.limits.maxTemplateDepth) {
      this.fail(`exceeded maximum template depth (${this.limits.maxTemplateDepth})`, "limit");
    }
    const value = node.pipe ? this.evalPipeline(dot, node.pipe) : undefined;
    const savedVars = this.vars;
    this.vars = [{ name: "$", value }];
    this.depth++;
    try {
      this.walk(value, body);
    } finally {
      this.depth--;
      this.vars = savedVars;
    }
  }

  private evalPipeline(dot: GoValue, pipe: PipeNode): GoValue {
    this.at(pipe);
    let value: Final = MISSING;
    for (const cmd of pipe.cmds) {
      value = this.evalCommand(dot, cmd, value);
      // An interface holding nil is no value at all once a pipeline stage is done.
      if (value === null) value = undefined;
    }
    const result = value === MISSING ? undefined : value;
    for (const name of pipe.decl) {
      if (pipe.isAssign) this.setVar(name, result);
      else this.vars.push({ name, value: result });
    }
    return result;
  }

  private notAFunction(args: ArgNode[], final: Final): void {
    if (args.length > 1 || final !== MISSING) {
      this.fail(`can't give argument to non-function ${args[0] ? describeNode(args[0]) : ""}`);
    }
  }

  private evalCommand(dot: GoValue, cmd: CommandNode, final: Final): GoValue {
    this.step();
    const first = cmd.args[0];
    if (!first) return this.fail("empty command");
    switch (first.kind) {
      case "field":
        this.at(first);
        return this.evalFieldChain(dot, first.idents, cmd.args, final);
      case "chain":
        return this.evalChain(dot, first, cmd.args, final);
      case "identifier":
        return this.evalFunction(dot, first, cmd.args, final);
      case "pipe":
        this.notAFunction(cmd.args, final);
        return this.evalPipeline(dot, first);
      case "variable":
        return this.evalVariable(first, cmd.args, final);
    }
    this.at(first);
    this.notAFunction(cmd.args, final);
    switch (first.kind) {
      case "bool":
        return first.value;
      case "dot":
        return dot;
      case "nil":
        this.fail("nil is not a command");
        break;
      case "number":
        return this.idealConstant(first);
      case "string":
        return first.text;
    }
    return this.fail(`can't evaluate command ${JSON.stringify(describeNode(first as ArgNode))}`);
  }

  private idealConstant(node: NumberNode): GoValue {
    this.at(node);
    const isHexInt = /^[+-]?0[xX]/.test(node.text) && !/[pP]/.test(node.text);
    if (node.isFloat && !isHexInt && !node.text.startsWith("'") && /[.eEpP]/.test(node.text))
      return node.float;
    if (node.isInt) return new GoInt(node.int);
    this.fail(`${node.text} overflows int`);
  }

  private evalChain(
    dot: GoValue,
    chain: Extract<ArgNode, { kind: "chain" }>,
    args: ArgNode[],
    final: Final,
  ): GoValue {
    this.at(chain);
    if (chain.node.kind === "nil") this.fail(`indirection through explicit nil in ${describeNode(chain)}`);
    const receiver = this.evalArg(dot, undefined, chain.node);
    return this.evalFieldChain(receiver, chain.fields, args, final);
  }

  private evalVariable(
    variable: Extract<ArgNode, { kind: "variable" }>,
    args: ArgNode[],
    final: Final,
  ): GoValue {
    this.at(variable);
    const value = this.varValue(variable.idents[0] ?? "$");
    if (variable.idents.length === 1) {
      this.notAFunction(args, final);
      return value;
    }
    return this.evalFieldChain(value, variable.idents.slice(1), args, final);
  }

  private evalFieldChain(receiver: GoValue, idents: string[], args: ArgNode[], final: Final): GoValue {
    let current = receiver;
    idents.forEach((ident, i) => {
      const last = i === idents.length - 1;
      current = this.evalField(ident, last ? args : [], last ? final : MISSING, current);
    });
    return current;
  }

  private evalField(name: string, args: ArgNode[], final: Final, receiver: GoValue): GoValue {
    if (receiver === undefined) {
      if (this.missingKey === "error") this.fail(`nil data; no entry for key ${JSON.stringify(name)}`);
      return undefined;
    }
    if (receiver === null) this.fail(`nil pointer evaluating interface {}.${name}`);
    const hasArgs = args.length > 1 || final !== MISSING;
    if (isGoMap(receiver)) {
      if (hasArgs) this.fail(`${name} is not a method but has arguments`);
      const value = getKey(receiver, name);
      if (value !== undefined) return value;
      switch (this.missingKey) {
        case "zero":
          return isStringMap(receiver) ? "" : null;
        case "error":
          this.fail(`map has no entry for key ${JSON.stringify(name)}`);
          break;
        default:
          return undefined;
      }
    }
    this.fail(`can't evaluate field ${name} in type ${describeGoType(receiver)}`);
  }

  private evalFunction(
    dot: GoValue,
    node: Extract<ArgNode, { kind: "identifier" }>,
    args: ArgNode[],
    final: Final,
  ): GoValue {
    this.at(node);
    const name = node.name;
    const fn = Object.hasOwn(this.options.functions, name) ? this.options.functions[name] : undefined;
    if (!fn) this.fail(`${JSON.stringify(name)} is not a defined function`);
    return this.evalCall(dot, fn, name, args.slice(1), final, node);
  }

  private evalCall(
    dot: GoValue,
    fn: TemplateFunction,
    name: string,
    args: ArgNode[],
    final: Final,
    node: ArgNode,
  ): GoValue {
    const numIn = args.length + (final === MISSING ? 0 : 1);
    const numFixed = fn.params.length;
    if (fn.variadic) {
      if (numIn < numFixed)
        this.fail(`wrong number of args for ${name}: want at least ${numFixed} got ${args.length}`);
    } else if (numIn !== numFixed) {
      this.fail(`wrong number of args for ${name}: want ${numFixed} got ${numIn}`);
    }
    if (fn === BUILTINS.and || fn === BUILTINS.or) {
      const wantTrue = fn === BUILTINS.or;
      let value: GoValue;
      for (const arg of args) {
        value = this.evalArg(dot, "value", arg);
        if (isTruthy(value) === wantTrue) return value;
      }
      if (final !== MISSING) value = final;
      return value;
    }
    const argv: GoValue[] = [];
    args.forEach((arg, i) => {
      const kind = i < numFixed ? fn.params[i] : fn.variadic;
      argv.push(this.evalArg(dot, kind ?? "any", arg));
    });
    if (final !== MISSING) {
      const index = numIn - 1;
      const kind = fn.variadic && index >= numFixed ? fn.variadic : fn.params[index];
      argv.push(this.validateType(final, kind ?? "any"));
    }
    this.step();
    try {
      return fn.call(argv, { limits: this.limits });
    } catch (error) {
      this.at(node);
      if (error instanceof TemplateError) {
        // A limit hit inside a function gets the location and the function's name here.
        if (error.message.startsWith("template:")) throw error;
        this.fail(`error calling ${name}: ${error.message}`, error.reason);
      }
      this.fail(`error calling ${name}: ${(error as Error).message}`);
    }
  }

  private validateType(value: GoValue, kind: ParamKind | undefined): GoValue {
    if (value === undefined) {
      if (kind === undefined || kind === "value") return undefined;
      if (kind === "any" || kind === "map") return null;
      this.fail(`invalid value; expected ${PARAM_TYPE_NAMES[kind]}`);
    }
    if (kind === undefined || kind === "any" || kind === "value") return value;
    const ok =
      (kind === "string" && typeof value === "string") ||
      (kind === "int" && value instanceof GoInt && value.type === "int") ||
      (kind === "bool" && typeof value === "boolean") ||
      (kind === "float64" && typeof value === "number") ||
      (kind === "map" && isGoMap(value) && describeGoType(value) === PARAM_TYPE_NAMES.map);
    if (ok) return value;
    const got = value === null ? "interface {}" : describeGoType(value);
    this.fail(`wrong type for value; expected ${PARAM_TYPE_NAMES[kind]}; got ${got}`);
  }

  private evalArg(dot: GoValue, kind: ParamKind | undefined, node: ArgNode): GoValue {
    this.at(node);
    switch (node.kind) {
      case "dot":
        return this.validateType(dot, kind);
      case "nil":
        if (kind === undefined || kind === "value") return undefined;
        if (kind === "any" || kind === "map") return null;
        this.fail(`cannot assign nil to ${PARAM_TYPE_NAMES[kind]}`);
        break;
      case "field":
        return this.validateType(this.evalFieldChain(dot, node.idents, [node], MISSING), kind);
      case "variable":
        return this.validateType(this.evalVariable(node, [], MISSING), kind);
      case "pipe":
        return this.validateType(this.evalPipeline(dot, node), kind);
      case "identifier":
        return this.validateType(this.evalFunction(dot, node, [node], MISSING), kind);
      case "chain":
        return this.validateType(this.evalChain(dot, node, [], MISSING), kind);
    }
    switch (kind) {
      case "bool":
        if (node.kind === "bool") return node.value;
        this.fail(`expected bool; found ${describeNode(node)}`);
        break;
      case "float64":
        if (node.kind === "number" && node.isFloat) return node.float;
        this.fail(`expected float; found ${describeNode(node)}`);
        break;
      case "int":
        if (node.kind === "number" && node.isInt) return new GoInt(node.int);
        this.fail(`expected integer; found ${describeNode(node)}`);
        break;
      case "string":
        if (node.kind === "string") return node.text;
        this.fail(`expected string; found ${describeNode(node)}`);
        break;
      case "map":
        this.fail(`can't handle ${describeNode(node)} for arg of type ${PARAM_TYPE_NAMES.map}`);
        break;
      default:
        if (node.kind === "bool") return node.value;
        if (node.kind === "number") return this.idealConstant(node);
        if (node.kind === "string") return node.text;
    }
    this.fail(`can't handle assignment of ${describeNode(node)} to empty interface argument`);
  }
}

// ---- Built-in functions (text/template's funcs.go) ----

type Kind = "invalid" | "bool" | "int" | "uint" | "float" | "string";

/** text/template's classifyForComparison; nil, maps and slices are all "invalid" for comparison. */
function classifyForComparison(value: GoValue): Kind {
  if (typeof value === "boolean") return "bool";
  if (typeof value === "number") return "float";
  if (typeof value === "string") return "string";
  if (value instanceof GoInt) return value.type === "uint8" ? "uint" : "int";
  return "invalid";
}

function isValid(value: GoValue): boolean {
  return value !== undefined && value !== null;
}

function describeType(value: GoValue): string {
  return isValid(value) ? describeGoType(value) : "<nil>";
}

function isEqual(a: GoValue, b: GoValue): boolean {
  const ka = classifyForComparison(a);
  const kb = classifyForComparison(b);
  if (ka !== kb) {
    if ((ka === "int" || ka === "uint") && (kb === "int" || kb === "uint")) {
      return (a as GoInt).value === (b as GoInt).value;
    }
    if (isValid(a) && isValid(b)) {
      throw new Error(`incompatible types for comparison: ${describeType(a)} and ${describeType(b)}`);
    }
    return false;
  }
  if (ka === "int" || ka === "uint") return (a as GoInt).value === (b as GoInt).value;
  if (ka !== "invalid") return a === b;
  if (!isValid(a) || !isValid(b)) return isValid(a) === isValid(b);
  if (Array.isArray(a) !== Array.isArray(b)) {
    throw new Error(
      `non-comparable types ${formatGoValue(a)}: ${describeType(a)}, ${describeType(b)}: ${formatGoValue(b)}`,
    );
  }
  throw new Error(`non-comparable type ${formatGoValue(b)}: ${describeType(b)}`);
}

function isLess(a: GoValue, b: GoValue): boolean {
  const ka = classifyForComparison(a);
  const kb = classifyForComparison(b);
  if (ka === "invalid" || kb === "invalid") {
    throw new Error("invalid type for comparison");
  }
  if (ka !== kb) {
    if ((ka === "int" || ka === "uint") && (kb === "int" || kb === "uint")) {
      return (a as GoInt).value < (b as GoInt).value;
    }
    throw new Error(`incompatible types for comparison: ${describeType(a)} and ${describeType(b)}`);
  }
  switch (ka) {
    case "bool":
      throw new Error("invalid type for comparison");
    case "int":
    case "uint":
      return (a as GoInt).value < (b as GoInt).value;
    case "string":
      return compareGoStrings(a as string, b as string) < 0;
    default:
      return (a as number) < (b as number);
  }
}

/** Like fmt.Sprint, but a lone string is taken as is and no value prints "<no value>" (evalArgs). */
function formatArgsText(args: GoValue[]): string {
  const [first] = args;
  if (args.length === 1 && typeof first === "string") return first;
  return sprint(args.map((arg) => (arg === undefined || arg === null ? "<no value>" : arg)));
}

function escapeHtml(text: string): string {
  return text.replace(/[\0"'&<>]/g, (c) => HTML_ESCAPES[c] ?? c);
}

const HTML_ESCAPES: Record<string, string> = {
  "\0": "\uFFFD",
  '"': "&#34;",
  "'": "&#39;",
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
};

const JS_ESCAPES: Record<string, string> = {
  "\\": "\\\\",
  "'": "\\'",
  '"': '\\"',
  "<": "\\u003C",
  ">": "\\u003E",
  "&": "\\u0026",
  "=": "\\u003D",
};

function escapeJs(text: string): string {
  let out = "";
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    const escaped = JS_ESCAPES[char];
    if (escaped) out += escaped;
    else if (code < 0x20) out += `\\u00${code.toString(16).toUpperCase().padStart(2, "0")}`;
    else if (code < 0x80 || isGoPrintable(char)) out += char;
    else out += `\\u${code.toString(16).toUpperCase().padStart(4, "0")}`;
  }
  return out;
}

/** url.QueryEscape. */
export function escapeQuery(text: string): string {
  let out = "";
  for (const byte of encodeUtf8(text)) {
    const char = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-_.~]/.test(char)) out += char;
    else if (char === " ") out += "+";
    else out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

function indexValue(item: GoValue, indexes: GoValue[]): GoValue {
  if (item === undefined || item === null) throw new Error("index of untyped nil");
  let current: GoValue = item;
  for (const index of indexes) {
    if (current === null) throw new Error("index of nil pointer");
    if (Array.isArray(current) || typeof current === "string") {
      if (index === undefined || index === null) throw new Error("cannot index slice/array with nil");
      if (!(index instanceof GoInt))
        throw new Error(`cannot index slice/array with type ${describeGoType(index)}`);
      const bytes: Uint8Array | undefined = typeof current === "string" ? encodeUtf8(current) : undefined;
      const length = bytes ? bytes.length : (current as GoValue[]).length;
      if (index.value < 0n || index.value >= BigInt(length))
        throw new Error(`index out of range: ${index.value}`);
      const i = Number(index.value);
      current = bytes ? new GoInt(BigInt(bytes[i] ?? 0), "uint8") : (current as GoValue[])[i];
    } else if (isGoMap(current)) {
      if (index !== undefined && index !== null && typeof index !== "string") {
        throw new Error(`value has type ${describeGoType(index)}; should be string`);
      }
      const value = getKey(current, index ?? "");
      current = value !== undefined ? value : isStringMap(current) ? "" : null;
    } else if (current === undefined) {
      throw new Error("index of untyped nil");
    } else {
      throw new Error(`can't index item of type ${describeGoType(current)}`);
    }
  }
  return current;
}

function measureLength(item: GoValue): GoInt {
  if (item === undefined || item === null) throw new Error("len of nil pointer");
  if (typeof item === "string") return new GoInt(BigInt(countUtf8Bytes(item)));
  if (Array.isArray(item)) return new GoInt(BigInt(item.length));
  if (isGoMap(item)) return new GoInt(BigInt(Object.keys(item).length));
  throw new Error(`len of type ${describeGoType(item)}`);
}

const BUILTINS: Record<string, TemplateFunction> = {
  and: { params: ["value"], variadic: "value", call: () => undefined },
  or: { params: ["value"], variadic: "value", call: () => undefined },
  not: { params: ["value"], call: ([value]) => !isTruthy(value) },
  len: { params: ["value"], call: ([item]) => measureLength(item) },
  index: { params: ["value"], variadic: "value", call: ([item, ...indexes]) => indexValue(item, indexes) },
  print: { params: [], variadic: "any", call: (args) => sprint(args) },
  printf: {
    params: ["string"],
    variadic: "any",
    call: ([format, ...args]) => sprintf(format as string, args),
  },
  println: { params: [], variadic: "any", call: (args) => sprintln(args) },
  html: { params: [], variadic: "any", call: (args) => escapeHtml(formatArgsText(args)) },
  js: { params: [], variadic: "any", call: (args) => escapeJs(formatArgsText(args)) },
  urlquery: { params: [], variadic: "any", call: (args) => escapeQuery(formatArgsText(args)) },
  call: {
    params: ["value"],
    variadic: "value",
    call: ([fn]) => {
      throw new Error(fn === undefined ? "call of nil" : `non-function of type ${describeGoType(fn)}`);
    },
  },
  eq: {
    params: ["value"],
    variadic: "value",
    call: ([a, ...rest]) => {
      if (rest.length === 0) throw new Error("missing argument for comparison");
      return rest.some((b) => isEqual(a, b));
    },
  },
  ne: { params: ["value", "value"], call: ([a, b]) => !isEqual(a, b) },
  lt: { params: ["value", "value"], call: ([a, b]) => isLess(a, b) },
  le: { params: ["value", "value"], call: ([a, b]) => isLess(a, b) || isEqual(a, b) },
  gt: { params: ["value", "value"], call: ([a, b]) => !(isLess(a, b) || isEqual(a, b)) },
  ge: { params: ["value", "value"], call: ([a, b]) => !isLess(a, b) },
};
