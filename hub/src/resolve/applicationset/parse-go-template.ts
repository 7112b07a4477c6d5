// Go text/template's lexer and parser (text/template/parse lex.go, parse.go, node.go): a template
// to a tree of nodes, with Go's parse-time checks (undefined functions and variables, misplaced
// {{break}}, {{else}} and {{end}}) and Go's error messages.

import type { ExecuteOptions, FunctionTable } from "./go-template.js";
import { TemplateError } from "./template-error.js";

/** The name of the main template, as Argo CD names it; parse and execution errors start with it. */
export const TEMPLATE_NAME = "base";

// ---- Lexer ----

type TokenType =
  | "text"
  | "leftDelim"
  | "rightDelim"
  | "space"
  | "identifier"
  | "keyword"
  | "field"
  | "variable"
  | "dot"
  | "bool"
  | "number"
  | "string"
  | "rawString"
  | "charConstant"
  | "declare"
  | "assign"
  | "pipe"
  | "leftParen"
  | "rightParen"
  | "char"
  | "eof";

type Token = { type: TokenType; value: string; pos: number };

const KEYWORDS = new Set([
  "block",
  "break",
  "continue",
  "define",
  "else",
  "end",
  "if",
  "range",
  "nil",
  "template",
  "with",
]);
const SPACE_CHARS = " \t\r\n";

function isSpace(char: string | undefined): boolean {
  return char !== undefined && char !== "" && SPACE_CHARS.includes(char);
}

function isAlphaNumeric(char: string | undefined): boolean {
  return char !== undefined && /^[\p{L}\p{Nd}_]$/u.test(char);
}

function createParseError(source: string, pos: number, message: string): TemplateError {
  const line = 1 + (source.slice(0, pos).match(/\n/g)?.length ?? 0);
  return new TemplateError(`template: ${TEMPLATE_NAME}:${line}: ${message}`, "parse");
}

function lex(source: string): Token[] {
  const tokens: Token[] = [];
  let pos = 0;
  let start = 0;
  const emit = (type: TokenType, value = source.slice(start, pos)) => {
    tokens.push({ type, value, pos: start });
    start = pos;
  };
  const fail: (message: string) => never = (message) => {
    throw createParseError(source, start, message);
  };
  const hasLeftTrim = (at: number) => source[at] === "-" && isSpace(source[at + 1]);
  const hasRightTrim = (at: number) => isSpace(source[at]) && source[at + 1] === "-";
  const atRightDelim = (): { delim: boolean; trim: boolean } => {
    if (source.startsWith("}}", pos)) return { delim: true, trim: false };
    if (hasRightTrim(pos) && source.startsWith("}}", pos + 2)) return { delim: true, trim: true };
    return { delim: false, trim: false };
  };
  const skipLeadingSpace = () => {
    while (isSpace(source[pos])) pos++;
    start = pos;
  };
  const atTerminator = () => {
    const next = source[pos];
    return next === undefined || isSpace(next) || ".,|:)(}".includes(next);
  };

  while (true) {
    // Text up to the next "{{".
    const open = source.indexOf("{{", pos);
    if (open < 0) {
      pos = source.length;
      if (pos > start) emit("text");
      emit("eof", "");
      return tokens;
    }
    pos = open;
    let textEnd = pos;
    if (hasLeftTrim(open + 2)) {
      while (textEnd > start && isSpace(source[textEnd - 1])) textEnd--;
    }
    if (textEnd > start) tokens.push({ type: "text", value: source.slice(start, textEnd), pos: start });
    start = pos;
    pos += 2;
    const trimLeft = hasLeftTrim(pos);
    const afterMarker = trimLeft ? 2 : 0;
    if (source.startsWith("/*", pos + afterMarker)) {
      pos += afterMarker;
      start = pos;
      const close = source.indexOf("*/", pos + 2);
      if (close < 0) fail("unclosed comment");
      pos = close + 2;
      const { delim, trim } = atRightDelim();
      if (!delim) fail("comment ends before closing delimiter");
      pos += (trim ? 2 : 0) + 2;
      if (trim) skipLeadingSpace();
      start = pos;
      continue;
    }
    emit("leftDelim", "{{");
    pos += afterMarker;
    start = pos;
    let parenDepth = 0;
    // Inside an action.
    while (true) {
      const { delim, trim } = atRightDelim();
      if (delim) {
        if (parenDepth !== 0) fail("unclosed left paren");
        if (trim) pos += 2;
        start = pos;
        pos += 2;
        emit("rightDelim", "}}");
        if (trim) skipLeadingSpace();
        break;
      }
      const char = source[pos];
      if (char === undefined) fail("unclosed action");
      pos++;
      if (isSpace(char)) {
        let count = 1;
        while (isSpace(source[pos])) {
          pos++;
          count++;
        }
        // A trim-marked closing delimiter starts with a space; leave that space to it.
        if (hasRightTrim(pos - 1) && source.startsWith("}}", pos + 1)) {
          pos--;
          if (count === 1) {
            start = pos;
            continue;
          }
        }
        emit("space");
        continue;
      }
      switch (char) {
        case "=":
          emit("assign");
          continue;
        case ":":
          if (source[pos] !== "=") fail("expected :=");
          pos++;
          emit("declare");
          continue;
        case "|":
          emit("pipe");
          continue;
        case '"':
          while (true) {
            const c = source[pos++];
            if (c === "\\") {
              const escaped = source[pos++];
              if (escaped === undefined || escaped === "\n") fail("unterminated quoted string");
            } else if (c === undefined || c === "\n") fail("unterminated quoted string");
            else if (c === '"') break;
          }
          emit("string");
          continue;
        case "`": {
          const close = source.indexOf("`", pos);
          if (close < 0) fail("unterminated raw quoted string");
          pos = close + 1;
          emit("rawString");
          continue;
        }
        case "'":
          while (true) {
            const c = source[pos++];
            if (c === "\\") {
              const escaped = source[pos++];
              if (escaped === undefined || escaped === "\n") fail("unterminated character constant");
            } else if (c === undefined || c === "\n") fail("unterminated character constant");
            else if (c === "'") break;
          }
          emit("charConstant");
          continue;
        case "$":
        case ".": {
          if (char === "." && /[0-9]/.test(source[pos] ?? "")) {
            pos--;
            scanNumberToken();
            continue;
          }
          if (atTerminator()) {
            emit(char === "$" ? "variable" : "dot");
            continue;
          }
          while (isAlphaNumeric(source[pos])) pos++;
          if (!atTerminator()) fail(`bad character ${describeChar(source[pos] ?? "")}`);
          emit(char === "$" ? "variable" : "field");
          continue;
        }
        case "(":
          emit("leftParen");
          parenDepth++;
          continue;
        case ")":
          emit("rightParen");
          parenDepth--;
          if (parenDepth < 0) fail(`unexpected right paren ${describeChar(")")}`);
          continue;
      }
      if (char === "+" || char === "-" || /[0-9]/.test(char)) {
        pos--;
        scanNumberToken();
        continue;
      }
      if (isAlphaNumeric(char)) {
        while (isAlphaNumeric(source[pos])) pos++;
        if (!atTerminator()) fail(`bad character ${describeChar(source[pos] ?? "")}`);
        const word = source.slice(start, pos);
        if (KEYWORDS.has(word)) emit("keyword");
        else if (word === "true" || word === "false") emit("bool");
        else emit("identifier");
        continue;
      }
      if (char.charCodeAt(0) < 0x80 && char >= " " && char !== "\x7f") {
        emit("char");
        continue;
      }
      fail(`unrecognized character in action: ${describeChar(char)}`);
    }
  }

  function scanNumberToken(): void {
    const accept = (valid: string) => {
      const c = source[pos];
      if (c !== undefined && c !== "" && valid.includes(c)) {
        pos++;
        return true;
      }
      return false;
    };
    const acceptRun = (valid: string) => {
      while (accept(valid)) {}
    };
    accept("+-");
    let digits = "0123456789_";
    if (accept("0")) {
      if (accept("xX")) digits = "0123456789abcdefABCDEF_";
      else if (accept("oO")) digits = "01234567_";
      else if (accept("bB")) digits = "01_";
    }
    acceptRun(digits);
    if (accept(".")) acceptRun(digits);
    if (digits.length === 11 && accept("eE")) {
      accept("+-");
      acceptRun("0123456789_");
    }
    if (digits.length === 23 && accept("pP")) {
      accept("+-");
      acceptRun("0123456789_");
    }
    accept("i");
    if (isAlphaNumeric(source[pos])) {
      pos++;
      fail(`bad number syntax: ${JSON.stringify(source.slice(start, pos))}`);
    }
    if (source[pos] === "+" || source[pos] === "-") fail("complex numbers are not supported");
    emit("number");
  }
}

function describeChar(char: string): string {
  const code = char.codePointAt(0) ?? 0;
  return `U+${code.toString(16).toUpperCase().padStart(4, "0")} '${char}'`;
}

// ---- Parse tree ----

export type NumberNode = {
  kind: "number";
  pos: number;
  text: string;
  isInt: boolean;
  isUint: boolean;
  isFloat: boolean;
  int: bigint;
  float: number;
};

export type ArgNode =
  | { kind: "field"; pos: number; idents: string[] }
  | { kind: "variable"; pos: number; idents: string[] }
  | { kind: "dot"; pos: number }
  | { kind: "nil"; pos: number }
  | { kind: "bool"; pos: number; value: boolean }
  | NumberNode
  | { kind: "string"; pos: number; quoted: string; text: string }
  | { kind: "identifier"; pos: number; name: string }
  | PipeNode
  | { kind: "chain"; pos: number; node: ArgNode; fields: string[] };

export type CommandNode = { kind: "command"; pos: number; args: ArgNode[] };
export type PipeNode = { kind: "pipe"; pos: number; decl: string[]; isAssign: boolean; cmds: CommandNode[] };

export type Node =
  | { kind: "text"; pos: number; text: string }
  | { kind: "action"; pos: number; pipe: PipeNode }
  | { kind: "if" | "with"; pos: number; pipe: PipeNode; list: ListNode; elseList?: ListNode }
  | { kind: "range"; pos: number; pipe: PipeNode; list: ListNode; elseList?: ListNode }
  | { kind: "template"; pos: number; name: string; pipe?: PipeNode }
  | { kind: "break" | "continue"; pos: number }
  | ListNode;

export type ListNode = { kind: "list"; pos: number; nodes: Node[] };
type Marker = { kind: "end" | "else"; pos: number };

/** A parsed template: the main body and the templates it defines. */
export type ParsedTemplate = { source: string; root: ListNode; defined: Map<string, ListNode> };

export function describeNode(node: ArgNode | CommandNode | Node): string {
  switch (node.kind) {
    case "field":
      return `.${node.idents.join(".")}`;
    case "variable":
      return node.idents.join(".");
    case "dot":
      return ".";
    case "nil":
      return "nil";
    case "bool":
      return String(node.value);
    case "number":
      return node.text;
    case "string":
      return node.quoted;
    case "identifier":
      return node.name;
    case "chain":
      return `${node.node.kind === "pipe" ? `(${describeNode(node.node)})` : describeNode(node.node)}.${node.fields.join(".")}`;
    case "command":
      return node.args
        .map((arg) => (arg.kind === "pipe" ? `(${describeNode(arg)})` : describeNode(arg)))
        .join(" ");
    case "pipe": {
      const decl = node.decl.length > 0 ? `${node.decl.join(", ")} ${node.isAssign ? "=" : ":="} ` : "";
      return decl + node.cmds.map(describeNode).join(" | ");
    }
    case "action":
      return `{{${describeNode(node.pipe)}}}`;
    case "template":
      return `{{template ${JSON.stringify(node.name)}${node.pipe ? ` ${describeNode(node.pipe)}` : ""}}}`;
    case "if":
    case "with":
    case "range":
      return `{{${node.kind} ${describeNode(node.pipe)}}}`;
    case "break":
    case "continue":
      return `{{${node.kind}}}`;
    case "text":
      return node.text;
    case "list":
      return node.nodes.map(describeNode).join("");
  }
}

/**
 * Control structures and parenthesized pipelines one template may nest. Parser and executor
 * recurse per level and would overflow the stack near 1,700 levels (Go allows 10,000
 * parentheses on its growable stacks); ApplicationSet templates nest a handful.
 */
export const MAX_TEMPLATE_NESTING = 100;

class Parser {
  private index = 0;
  private vars: string[] = ["$"];
  private rangeDepth = 0;
  private nesting = 0;
  readonly defined = new Map<string, ListNode>();

  constructor(
    private readonly source: string,
    private readonly tokens: Token[],
    private readonly hasFunction: (name: string) => boolean,
  ) {}

  parse(): ListNode {
    const root: ListNode = { kind: "list", pos: 0, nodes: [] };
    while (this.peek().type !== "eof") {
      if (this.peek().type === "leftDelim") {
        const delim = this.next();
        const word = this.nextNonSpace();
        if (word.type === "keyword" && word.value === "define") {
          this.parseDefinition();
          continue;
        }
        this.index = this.tokens.indexOf(delim);
      }
      const node = this.textOrAction();
      if (node.kind === "end" || node.kind === "else") this.fail(node.pos, `unexpected {{${node.kind}}}`);
      root.nodes.push(node as Node);
    }
    return root;
  }

  private fail(pos: number, message: string): never {
    throw createParseError(this.source, pos, message);
  }

  private peek(): Token {
    return this.tokens[this.index] ?? { type: "eof", value: "", pos: this.source.length };
  }

  private next(): Token {
    const token = this.peek();
    if (this.index < this.tokens.length) this.index++;
    return token;
  }

  private nextNonSpace(): Token {
    let token = this.next();
    while (token.type === "space") token = this.next();
    return token;
  }

  private peekNonSpace(): Token {
    const token = this.nextNonSpace();
    this.index--;
    return token;
  }

  private expect(type: TokenType, context: string): Token {
    const token = this.nextNonSpace();
    if (token.type !== type) this.unexpected(token, context);
    return token;
  }

  private unexpected(token: Token, context: string): never {
    const shown = token.type === "eof" ? "EOF" : `<${token.value}>`;
    if (token.type === "eof") this.fail(token.pos, `unexpected EOF in ${context}`);
    this.fail(token.pos, `unexpected ${shown} in ${context}`);
  }

  private parseDefinition(): void {
    const nameToken = this.nextNonSpace();
    const name = this.templateName(nameToken, "define clause");
    this.expect("rightDelim", "define clause");
    const savedVars = this.vars;
    this.vars = ["$"];
    const [list, end] = this.itemList();
    this.vars = savedVars;
    if (end.kind !== "end") this.fail(end.pos, `unexpected {{${end.kind}}} in define clause`);
    this.addDefinition(name, list, nameToken.pos);
  }

  private addDefinition(name: string, list: ListNode, pos: number): void {
    const existing = this.defined.get(name);
    if (existing && !isEmptyTree(existing) && !isEmptyTree(list)) {
      this.fail(pos, `template: multiple definition of template ${JSON.stringify(name)}`);
    }
    if (!existing || !isEmptyTree(list)) this.defined.set(name, list);
  }

  private templateName(token: Token, context: string): string {
    if (token.type !== "string" && token.type !== "rawString") this.unexpected(token, context);
    return this.unquote(token);
  }

  private itemList(): [ListNode, Marker] {
    const list: ListNode = { kind: "list", pos: this.peekNonSpace().pos, nodes: [] };
    this.enter(list.pos);
    while (this.peekNonSpace().type !== "eof") {
      const node = this.textOrAction();
      if (node.kind === "end" || node.kind === "else") {
        this.nesting--;
        return [list, node as Marker];
      }
      list.nodes.push(node as Node);
    }
    this.fail(this.peek().pos, "unexpected EOF");
  }

  /** One level deeper; fails past MAX_TEMPLATE_NESTING (the caller steps back out). */
  private enter(pos: number): void {
    if (++this.nesting > MAX_TEMPLATE_NESTING)
      this.fail(pos, `max nesting depth of ${MAX_TEMPLATE_NESTING} exceeded`);
  }

  private textOrAction(): Node | Marker {
    const token = this.nextNonSpace();
    if (token.type === "text") return { kind: "text", pos: token.pos, text: token.value };
    if (token.type === "leftDelim") return this.action();
    this.unexpected(token, "input");
  }

  private action(): Node | Marker {
    const token = this.nextNonSpace();
    if (token.type === "keyword") {
      switch (token.value) {
        case "block":
          return this.blockControl();
        case "break":
        case "continue":
          if (this.rangeDepth === 0) this.fail(token.pos, `{{${token.value}}} outside {{range}}`);
          this.expect("rightDelim", `{{${token.value}}}`);
          return { kind: token.value, pos: token.pos };
        case "else": {
          const peek = this.peekNonSpace();
          if (peek.type === "keyword" && (peek.value === "if" || peek.value === "with")) {
            return { kind: "else", pos: peek.pos };
          }
          this.expect("rightDelim", "else");
          return { kind: "else", pos: token.pos };
        }
        case "end":
          this.expect("rightDelim", "end");
          return { kind: "end", pos: token.pos };
        case "if":
        case "with":
        case "range":
          return this.control(token.value);
        case "template":
          return this.templateControl();
      }
    }
    this.index--;
    const pipe = this.pipeline("command", "rightDelim");
    return { kind: "action", pos: pipe.pos, pipe };
  }

  private control(context: "if" | "with" | "range"): Node {
    const mark = this.vars.length;
    const pipe = this.pipeline(context, "rightDelim");
    if (context === "range") this.rangeDepth++;
    const [list, firstEnd] = this.itemList();
    let next = firstEnd;
    if (context === "range") this.rangeDepth--;
    let elseList: ListNode | undefined;
    if (next.kind === "else") {
      const peek = this.peek();
      if ((context === "if" || context === "with") && peek.type === "keyword" && peek.value === context) {
        this.next();
        elseList = { kind: "list", pos: next.pos, nodes: [this.control(context)] };
      } else {
        [elseList, next] = this.itemList();
        if (next.kind !== "end") this.fail(next.pos, `expected end; found {{${next.kind}}}`);
      }
    }
    this.vars.length = mark;
    return { kind: context, pos: pipe.pos, pipe, list, elseList };
  }

  private blockControl(): Node {
    const context = "block clause";
    const nameToken = this.nextNonSpace();
    const name = this.templateName(nameToken, context);
    const pipe = this.pipeline(context, "rightDelim");
    const savedVars = this.vars;
    this.vars = ["$"];
    const [list, end] = this.itemList();
    this.vars = savedVars;
    if (end.kind !== "end") this.fail(end.pos, `unexpected {{${end.kind}}} in ${context}`);
    this.addDefinition(name, list, nameToken.pos);
    return { kind: "template", pos: nameToken.pos, name, pipe };
  }

  private templateControl(): Node {
    const context = "template clause";
    const nameToken = this.nextNonSpace();
    const name = this.templateName(nameToken, context);
    let pipe: PipeNode | undefined;
    if (this.nextNonSpace().type !== "rightDelim") {
      this.index--;
      pipe = this.pipeline(context, "rightDelim");
    }
    return { kind: "template", pos: nameToken.pos, name, pipe };
  }

  private pipeline(context: string, end: "rightDelim" | "rightParen"): PipeNode {
    const pipe: PipeNode = {
      kind: "pipe",
      pos: this.peekNonSpace().pos,
      decl: [],
      isAssign: false,
      cmds: [],
    };
    while (this.peekNonSpace().type === "variable") {
      const variableIndex = this.tokens.indexOf(this.peekNonSpace());
      const variable = this.nextNonSpace();
      const next = this.peekNonSpace();
      if (next.type === "assign" || next.type === "declare") {
        pipe.isAssign = next.type === "assign";
        this.nextNonSpace();
        pipe.decl.push(variable.value);
        this.vars.push(variable.value);
        break;
      }
      if (next.type === "char" && next.value === ",") {
        this.nextNonSpace();
        pipe.decl.push(variable.value);
        this.vars.push(variable.value);
        if (context === "range" && pipe.decl.length < 2) {
          const after = this.peekNonSpace().type;
          if (after === "variable" || after === "rightDelim" || after === "rightParen") continue;
          this.fail(next.pos, "range can only initialize variables");
        }
        this.fail(next.pos, `too many declarations in ${context}`);
      }
      this.index = variableIndex;
      break;
    }
    while (true) {
      const token = this.nextNonSpace();
      if (token.type === end) {
        if (pipe.cmds.length === 0) this.fail(token.pos, `missing value for ${context}`);
        pipe.cmds.slice(1).forEach((cmd, i) => {
          const first = cmd.args[0];
          if (first && ["bool", "dot", "nil", "number", "string"].includes(first.kind)) {
            this.fail(cmd.pos, `non executable command in pipeline stage ${i + 2}`);
          }
        });
        return pipe;
      }
      switch (token.type) {
        case "bool":
        case "charConstant":
        case "dot":
        case "field":
        case "identifier":
        case "number":
        case "rawString":
        case "string":
        case "variable":
        case "leftParen":
          this.index--;
          pipe.cmds.push(this.command());
          break;
        case "keyword":
          if (token.value === "nil") {
            this.index--;
            pipe.cmds.push(this.command());
            break;
          }
          this.unexpected(token, context);
          break;
        default:
          this.unexpected(token, context);
      }
    }
  }

  private command(): CommandNode {
    const cmd: CommandNode = { kind: "command", pos: this.peekNonSpace().pos, args: [] };
    while (true) {
      this.peekNonSpace();
      const operand = this.operand();
      if (operand) cmd.args.push(operand);
      const token = this.next();
      if (token.type === "space") continue;
      if (token.type === "rightDelim" || token.type === "rightParen") this.index--;
      else if (token.type !== "pipe") this.unexpected(token, "operand");
      break;
    }
    if (cmd.args.length === 0) this.fail(cmd.pos, "empty command");
    return cmd;
  }

  private operand(): ArgNode | undefined {
    const node = this.term();
    if (!node) return undefined;
    if (this.peek().type !== "field") return node;
    const fields: string[] = [];
    while (this.peek().type === "field") fields.push(this.next().value.slice(1));
    switch (node.kind) {
      case "field":
        return { kind: "field", pos: node.pos, idents: [...node.idents, ...fields] };
      case "variable":
        return { kind: "variable", pos: node.pos, idents: [...node.idents, ...fields] };
      case "bool":
      case "string":
      case "number":
      case "nil":
      case "dot":
        this.fail(node.pos, `unexpected . after term ${JSON.stringify(describeNode(node))}`);
        break;
      default:
        return { kind: "chain", pos: node.pos, node, fields };
    }
  }

  private term(): ArgNode | undefined {
    const token = this.nextNonSpace();
    switch (token.type) {
      case "identifier":
        if (!this.hasFunction(token.value)) {
          throw Object.assign(
            createParseError(this.source, token.pos, `function ${JSON.stringify(token.value)} not defined`),
            {
              functionName: token.value,
            },
          );
        }
        return { kind: "identifier", pos: token.pos, name: token.value };
      case "dot":
        return { kind: "dot", pos: token.pos };
      case "keyword":
        if (token.value === "nil") return { kind: "nil", pos: token.pos };
        break;
      case "variable": {
        const [name = "", ...fields] = token.value.split(".");
        if (!this.vars.includes(name)) this.fail(token.pos, `undefined variable ${JSON.stringify(name)}`);
        return { kind: "variable", pos: token.pos, idents: [name, ...fields] };
      }
      case "field":
        return { kind: "field", pos: token.pos, idents: [token.value.slice(1)] };
      case "bool":
        return { kind: "bool", pos: token.pos, value: token.value === "true" };
      case "charConstant":
      case "number":
        return this.number(token);
      case "leftParen": {
        this.enter(token.pos);
        const pipe = this.pipeline("parenthesized pipeline", "rightParen");
        this.nesting--;
        return pipe;
      }
      case "string":
      case "rawString":
        return { kind: "string", pos: token.pos, quoted: token.value, text: this.unquote(token) };
    }
    this.index--;
    return undefined;
  }

  private unquote(token: Token): string {
    if (token.type === "rawString") return token.value.slice(1, -1).replace(/\r/g, "");
    try {
      return unquoteGoString(token.value.slice(1, -1));
    } catch (cause) {
      this.fail(token.pos, (cause as Error).message);
    }
  }

  private number(token: Token): NumberNode {
    const node: NumberNode = {
      kind: "number",
      pos: token.pos,
      text: token.value,
      isInt: false,
      isUint: false,
      isFloat: false,
      int: 0n,
      float: 0,
    };
    if (token.type === "charConstant") {
      let rune: number;
      try {
        const text = unquoteGoString(token.value.slice(1, -1));
        if (Array.from(text).length !== 1) throw new Error("malformed character constant");
        rune = text.codePointAt(0) ?? 0;
      } catch {
        this.fail(token.pos, `malformed character constant: ${token.value}`);
      }
      return { ...node, isInt: true, isUint: true, isFloat: true, int: BigInt(rune), float: rune };
    }
    const text = token.value;
    if (text.endsWith("i")) this.fail(token.pos, "complex numbers are not supported");
    const integer = parseGoInteger(text);
    if (integer !== undefined) {
      const inInt64 = integer >= -(2n ** 63n) && integer < 2n ** 63n;
      const inUint64 = integer >= 0n && integer < 2n ** 64n;
      if (inInt64 || inUint64) {
        return {
          ...node,
          isInt: inInt64,
          isUint: inUint64,
          isFloat: true,
          int: integer,
          float: Number(integer),
        };
      }
    }
    const float = parseGoFloat(text);
    if (float === undefined) this.fail(token.pos, `illegal number syntax: ${JSON.stringify(text)}`);
    if (!/[.eEpP]/.test(text)) this.fail(token.pos, `integer overflow: ${JSON.stringify(text)}`);
    node.isFloat = true;
    node.float = float;
    if (Number.isInteger(float) && Math.abs(float) < 2 ** 63) {
      node.isInt = true;
      node.int = BigInt(float);
      node.isUint = float >= 0;
    }
    return node;
  }
}

function isEmptyTree(list: ListNode): boolean {
  return list.nodes.every((node) => node.kind === "text" && node.text.trim() === "");
}

/** strconv.ParseInt(text, 0, 64) without the range check: base prefixes, a leading 0 for octal, `_`. */
export function parseGoInteger(text: string): bigint | undefined {
  const sign = text.startsWith("-") || text.startsWith("+") ? text.slice(0, 1) : "";
  const body = text.slice(sign.length);
  const prefixes: [RegExp, number, number][] = [
    [/^0[xX]/, 16, 2],
    [/^0[oO]/, 8, 2],
    [/^0[bB]/, 2, 2],
    [/^0(?=.)/, 8, 1],
  ];
  const [, base, skip] = prefixes.find(([pattern]) => pattern.test(body)) ?? [undefined, 10, 0];
  const hasPrefix = skip > 0;
  let digits = body.slice(skip);
  // Underscores only between digits, or right after a base prefix.
  if (hasPrefix && digits.startsWith("_")) digits = digits.slice(1);
  if (!/^[0-9a-zA-Z]+(?:_[0-9a-zA-Z]+)*$/.test(digits)) return undefined;
  digits = digits.replace(/_/g, "");
  const valid = { 2: /^[01]+$/, 8: /^[0-7]+$/, 10: /^[0-9]+$/, 16: /^[0-9a-fA-F]+$/ }[
    base as 2 | 8 | 10 | 16
  ];
  if (!valid.test(digits)) return undefined;
  const prefix = { 2: "0b", 8: "0o", 10: "", 16: "0x" }[base as 2 | 8 | 10 | 16];
  const value = BigInt(prefix + digits);
  return sign === "-" ? -value : value;
}

function parseGoFloat(text: string): number | undefined {
  const clean = text.replace(/_/g, "");
  if (/^[+-]?0[xX]/.test(clean)) {
    const match = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?[pP]([+-]?[0-9]+)$/.exec(clean);
    if (!match) return undefined;
    const [, sign, whole = "", fraction = "", exponent = "0"] = match;
    if (whole === "" && fraction === "") return undefined;
    const mantissa = Number.parseInt(whole + fraction || "0", 16) / 16 ** fraction.length;
    const value = mantissa * 2 ** Number(exponent);
    return sign === "-" ? -value : value;
  }
  if (!/^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/.test(clean)) return undefined;
  return Number(clean);
}

/** The body of a Go double-quoted string literal, unescaped (strconv.Unquote). */
function unquoteGoString(body: string): string {
  let out = "";
  const bytes: number[] = [];
  const flushBytes = () => {
    if (bytes.length > 0) {
      out += new TextDecoder().decode(new Uint8Array(bytes));
      bytes.length = 0;
    }
  };
  for (let i = 0; i < body.length; i++) {
    const char = body[i] ?? "";
    if (char !== "\\") {
      flushBytes();
      out += char;
      continue;
    }
    const escaped = body[++i] ?? "";
    const simple: Record<string, string> = {
      a: "\x07",
      b: "\b",
      f: "\f",
      n: "\n",
      r: "\r",
      t: "\t",
      v: "\v",
      "\\": "\\",
      '"': '"',
      "'": "'",
    };
    if (escaped in simple) {
      flushBytes();
      out += simple[escaped];
    } else if (escaped === "x") {
      const hex = body.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new Error("invalid syntax");
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else if (/[0-7]/.test(escaped)) {
      const octal = body.slice(i, i + 3);
      if (!/^[0-7]{3}$/.test(octal) || Number.parseInt(octal, 8) > 255) throw new Error("invalid syntax");
      bytes.push(Number.parseInt(octal, 8));
      i += 2;
    } else if (escaped === "u" || escaped === "U") {
      const length = escaped === "u" ? 4 : 8;
      const hex = body.slice(i + 1, i + 1 + length);
      if (!new RegExp(`^[0-9a-fA-F]{${length}}$`).test(hex)) throw new Error("invalid syntax");
      const code = Number.parseInt(hex, 16);
      if (code > 0x10ffff || (code >= 0xd800 && code < 0xe000)) throw new Error("invalid syntax");
      flushBytes();
      out += String.fromCodePoint(code);
      i += length;
    } else throw new Error("invalid syntax");
  }
  flushBytes();
  return out;
}

// ---- Parsing with a cache ----

const PARSE_CACHE_ENTRIES = 4096;
const parseCache = new WeakMap<FunctionTable, Map<string, ParsedTemplate | TemplateError>>();

/**
 * Parses a template; throws TemplateError. `options.functions` must hold every function the
 * template may call, built-ins included. Results are cached per function table.
 */
export function parseGoTemplate(
  source: string,
  options: Pick<ExecuteOptions, "functions" | "unsupported">,
): ParsedTemplate {
  let cache = parseCache.get(options.functions);
  if (!cache) {
    cache = new Map();
    parseCache.set(options.functions, cache);
  }
  const cached = cache.get(source);
  if (cached instanceof TemplateError) throw cached;
  if (cached) return cached;
  let result: ParsedTemplate | TemplateError;
  try {
    result = parseUncached(source, options);
  } catch (error) {
    if (!(error instanceof TemplateError)) throw error;
    result = error;
  }
  if (cache.size >= PARSE_CACHE_ENTRIES) {
    const oldest = cache.keys().next().value;
    if (oldest !== undefined) cache.delete(oldest);
  }
  cache.set(source, result);
  if (result instanceof TemplateError) throw result;
  return result;
}

function parseUncached(
  source: string,
  options: Pick<ExecuteOptions, "functions" | "unsupported">,
): ParsedTemplate {
  const hasFunction = (name: string) => Object.hasOwn(options.functions, name);
  const parser = new Parser(source, lex(source), hasFunction);
  try {
    const root = parser.parse();
    // The main template is itself a template named "base", so `{{ template "base" }}` recurses as in Go.
    if (!parser.defined.has(TEMPLATE_NAME)) parser.defined.set(TEMPLATE_NAME, root);
    return { source, root, defined: parser.defined };
  } catch (error) {
    const name = (error as { functionName?: string }).functionName;
    if (name !== undefined && options.unsupported && Object.hasOwn(options.unsupported, name)) {
      throw new TemplateError(
        `function ${JSON.stringify(name)} is not supported: ${options.unsupported[name]}`,
        "unsupported",
        name,
      );
    }
    if (error instanceof TemplateError && name !== undefined) {
      throw new TemplateError(error.message, "parse", name);
    }
    throw error;
  }
}
