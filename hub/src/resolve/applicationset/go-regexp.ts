// Go's regexp: RE2 syntax, leftmost-first matching, in linear time. Patterns are parsed the way
// Go's regexp/syntax parses them (Perl flags, named groups, classes, \pN, \Q...\E, repetition
// limits) and run on a Pike VM over code points, so no pattern or subject can make matching
// backtrack without bound. Matching loops follow Go's rules for empty matches and `$1`/`${name}`
// expansion. Program size and subject length are bounded; over either is a RegexpRefusedError.

/** Subjects longer than this, in UTF-16 code units, are refused. */
export const MAX_SUBJECT_CHARS = 256 * 1024;
/** Subject code points times program instructions one match may cost; a match does at most this many steps per character pass. */
const MAX_MATCH_WORK = 20_000_000;
/** Compiled programs larger than this, in instructions, are refused (Go: "expression too large"). */
const MAX_PROGRAM_INSTRUCTIONS = 50_000;
const MAX_REPEAT = 1000;

/** A pattern or subject refused because it is too large to match in bounded time. */
export class RegexpRefusedError extends Error {}

type Flags = { i: boolean; m: boolean; s: boolean; U: boolean };
type Predicate = (cp: number) => boolean;

type Node =
  | { type: "empty" }
  | { type: "char"; test: Predicate }
  | { type: "assert"; kind: Assertion }
  | { type: "cat"; items: Node[] }
  | { type: "alt"; items: Node[] }
  | { type: "group"; index: number | undefined; node: Node }
  | { type: "repeat"; node: Node; min: number; max: number; greedy: boolean };

type Assertion = "bol" | "eol" | "bot" | "eot" | "word" | "nonword";

type Instruction =
  | { op: "char"; test: Predicate }
  | { op: "split"; x: number; y: number }
  | { op: "jmp"; x: number }
  | { op: "save"; slot: number }
  | { op: "assert"; kind: Assertion }
  | { op: "match" };

export type GoRegexp = { source: string; program: Instruction[]; names: (string | undefined)[] };

// ---- Character predicates ----

const isWordChar = (cp: number) =>
  (cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a) || cp === 0x5f;

function rangePredicate(ranges: [number, number][]): Predicate {
  return (cp) => ranges.some(([lo, hi]) => cp >= lo && cp <= hi);
}

const PERL_CLASSES: Record<string, [number, number][]> = {
  d: [[0x30, 0x39]],
  s: [
    [0x09, 0x0a],
    [0x0c, 0x0d],
    [0x20, 0x20],
  ],
  w: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x5f, 0x5f],
    [0x61, 0x7a],
  ],
};

const POSIX_CLASSES: Record<string, [number, number][]> = {
  alnum: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  alpha: [
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  ascii: [[0x00, 0x7f]],
  blank: [
    [0x09, 0x09],
    [0x20, 0x20],
  ],
  cntrl: [
    [0x00, 0x1f],
    [0x7f, 0x7f],
  ],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [
    [0x21, 0x2f],
    [0x3a, 0x40],
    [0x5b, 0x60],
    [0x7b, 0x7e],
  ],
  space: [
    [0x09, 0x0d],
    [0x20, 0x20],
  ],
  upper: [[0x41, 0x5a]],
  word: PERL_CLASSES.w ?? [],
  xdigit: [
    [0x30, 0x39],
    [0x41, 0x46],
    [0x61, 0x66],
  ],
};

function unicodePredicate(name: string): Predicate | undefined {
  if (name === "Any") return () => true;
  for (const source of [`\\p{${name}}`, `\\p{Script=${name}}`]) {
    try {
      const regex = new RegExp(`^${source}$`, "u");
      return (cp) => regex.test(String.fromCodePoint(cp));
    } catch {
      // Not a property JavaScript knows under this spelling; try the next.
    }
  }
  return undefined;
}

/** Go's simple case folding, approximated with JavaScript's single-character case mappings. */
function foldVariants(cp: number): number[] {
  const char = String.fromCodePoint(cp);
  const variants = new Set([cp]);
  for (const mapped of [char.toLowerCase(), char.toUpperCase()]) {
    const points = Array.from(mapped);
    if (points.length === 1) variants.add(points[0]?.codePointAt(0) ?? cp);
  }
  return [...variants];
}

function withFolding(test: Predicate, fold: boolean): Predicate {
  if (!fold) return test;
  return (cp) => foldVariants(cp).some(test);
}

// ---- Parser (regexp/syntax) ----

class Parser {
  private pos = 0;
  private readonly chars: string[];
  readonly names: (string | undefined)[] = [undefined];

  constructor(private readonly pattern: string) {
    this.chars = Array.from(pattern);
  }

  private fail(what: string, detail = this.pattern): never {
    throw new Error(`error parsing regexp: ${what}: \`${detail}\``);
  }

  private peek(offset = 0): string | undefined {
    return this.chars[this.pos + offset];
  }

  parse(): Node {
    const node = this.parseAlternation({ i: false, m: false, s: false, U: false }, 0);
    if (this.pos < this.chars.length) this.fail("unexpected )");
    return node;
  }

  private parseAlternation(flags: Flags, depth: number): Node {
    if (depth > 1000) this.fail("expression nests too deeply");
    const branches: Node[] = [];
    const current: Flags = { ...flags };
    let items: Node[] = [];
    while (this.pos < this.chars.length) {
      const c = this.peek();
      if (c === ")") break;
      if (c === "|") {
        this.pos++;
        branches.push(this.concat(items));
        items = [];
        continue;
      }
      const atom = this.parseAtom(current, depth);
      if (atom === null) continue;
      items.push(this.parseRepetition(atom, current));
    }
    branches.push(this.concat(items));
    return branches.length === 1 ? (branches[0] as Node) : { type: "alt", items: branches };
  }

  private concat(items: Node[]): Node {
    if (items.length === 0) return { type: "empty" };
    return items.length === 1 ? (items[0] as Node) : { type: "cat", items };
  }

  private parseRepetition(atom: Node, flags: Flags): Node {
    let node = atom;
    let repeated = false;
    while (true) {
      const c = this.peek();
      let min: number;
      let max: number;
      const start = this.pos;
      if (c === "*" || c === "+" || c === "?") {
        this.pos++;
        [min, max] =
          c === "*" ? [0, Number.POSITIVE_INFINITY] : c === "+" ? [1, Number.POSITIVE_INFINITY] : [0, 1];
      } else if (c === "{") {
        const match = /^\{(\d+)(,(\d*))?\}/.exec(this.chars.slice(this.pos, this.pos + 24).join(""));
        if (!match) return node;
        this.pos += Array.from(match[0]).length;
        min = Number(match[1]);
        max = match[2] === undefined ? min : match[3] === "" ? Number.POSITIVE_INFINITY : Number(match[3]);
        if (min > MAX_REPEAT || (Number.isFinite(max) && max > MAX_REPEAT) || max < min) {
          this.fail("invalid repeat count", this.chars.slice(start, this.pos).join(""));
        }
      } else return node;
      const operator = this.chars.slice(start, this.pos).join("");
      if (repeated)
        this.fail("invalid nested repetition operator", `${this.chars[start - 1] ?? ""}${operator}`);
      if (node.type === "empty") this.fail("missing argument to repetition operator", operator);
      let greedy = !flags.U;
      if (this.peek() === "?") {
        this.pos++;
        greedy = !greedy;
      }
      node = { type: "repeat", node, min, max, greedy };
      repeated = true;
    }
  }

  private parseFlags(flags: Flags, depth: number): Node | null {
    // At "(?"; either flags for the rest of the group, or a group with flags.
    let i = this.pos + 2;
    const set: Flags = { ...flags };
    let negate = false;
    let sawFlag = false;
    for (; i < this.chars.length; i++) {
      const c = this.chars[i];
      if (c === "-") {
        if (negate) break;
        negate = true;
        sawFlag = false;
      } else if (c === "i" || c === "m" || c === "s" || c === "U") {
        set[c] = !negate;
        sawFlag = true;
      } else if (c === ")" || c === ":") {
        if ((negate && !sawFlag) || (c === ")" && !sawFlag)) break;
        if (c === ")") {
          this.pos = i + 1;
          Object.assign(flags, set);
          return null;
        }
        this.pos = i + 1;
        const node = this.parseAlternation(set, depth + 1);
        if (this.peek() !== ")") this.fail("missing closing )");
        this.pos++;
        return { type: "group", index: undefined, node };
      } else break;
    }
    return this.fail("invalid or unsupported Perl syntax", this.chars.slice(this.pos, i + 1).join(""));
  }

  private parseAtom(flags: Flags, depth: number): Node | null {
    const c = this.peek() as string;
    switch (c) {
      case "(": {
        if (this.peek(1) === "?") {
          const named = this.peek(2) === "P" && this.peek(3) === "<" ? 4 : this.peek(2) === "<" ? 3 : 0;
          if (named === 0) return this.parseFlags(flags, depth);
          const close = this.chars.indexOf(">", this.pos + named);
          const name = close < 0 ? "" : this.chars.slice(this.pos + named, close).join("");
          if (close < 0 || !/^[A-Za-z0-9_]+$/.test(name)) {
            this.fail(
              "invalid named capture",
              this.chars.slice(this.pos, close < 0 ? undefined : close + 1).join(""),
            );
          }
          if (this.names.includes(name)) this.fail("duplicate capture group name", name);
          this.pos = close + 1;
          return this.parseGroup(flags, depth, name);
        }
        this.pos++;
        return this.parseGroup(flags, depth, undefined);
      }
      case "*":
      case "+":
      case "?":
        return this.fail("missing argument to repetition operator", c);
      case "[":
        return { type: "char", test: withFolding(this.parseClass(), flags.i) };
      case ".":
        this.pos++;
        return { type: "char", test: flags.s ? () => true : (cp) => cp !== 0x0a };
      case "^":
        this.pos++;
        return { type: "assert", kind: flags.m ? "bol" : "bot" };
      case "$":
        this.pos++;
        return { type: "assert", kind: flags.m ? "eol" : "eot" };
      case "\\":
        return this.parseEscape(flags);
      default: {
        this.pos++;
        const cp = c.codePointAt(0) ?? 0;
        return { type: "char", test: withFolding((x) => x === cp, flags.i) };
      }
    }
  }

  private parseGroup(flags: Flags, depth: number, name: string | undefined): Node {
    this.names.push(name);
    const index = this.names.length - 1;
    const node = this.parseAlternation(flags, depth + 1);
    if (this.peek() !== ")") this.fail("missing closing )");
    this.pos++;
    return { type: "group", index, node };
  }

  private parseEscape(flags: Flags): Node {
    const next = this.peek(1);
    if (next === undefined) this.fail("trailing backslash at end of expression", "");
    switch (next) {
      case "A":
        this.pos += 2;
        return { type: "assert", kind: "bot" };
      case "z":
        this.pos += 2;
        return { type: "assert", kind: "eot" };
      case "b":
        this.pos += 2;
        return { type: "assert", kind: "word" };
      case "B":
        this.pos += 2;
        return { type: "assert", kind: "nonword" };
      case "Q": {
        this.pos += 2;
        let end = this.pos;
        while (end < this.chars.length && !(this.chars[end] === "\\" && this.chars[end + 1] === "E")) end++;
        const literal = this.chars.slice(this.pos, end);
        this.pos = end < this.chars.length ? end + 2 : end;
        const items: Node[] = literal.map((char) => {
          const cp = char.codePointAt(0) ?? 0;
          return { type: "char", test: withFolding((x) => x === cp, flags.i) };
        });
        return this.concat(items);
      }
    }
    const test = this.parseClassEscape();
    return { type: "char", test: withFolding(test, flags.i) };
  }

  /** An escape that stands for characters (at "\\"); used inside and outside classes. */
  private parseClassEscape(): Predicate {
    const start = this.pos;
    this.pos++;
    const c = this.chars[this.pos++] as string;
    const perl = PERL_CLASSES[c.toLowerCase()];
    if (perl && /[dswDSW]/.test(c)) {
      const test = rangePredicate(perl);
      return c === c.toLowerCase() ? test : (cp) => !test(cp);
    }
    if (c === "p" || c === "P") {
      let name: string;
      if (this.peek() === "{") {
        const close = this.chars.indexOf("}", this.pos);
        if (close < 0) this.fail("invalid character class range", this.chars.slice(start).join(""));
        name = this.chars.slice(this.pos + 1, close).join("");
        this.pos = close + 1;
      } else name = this.chars[this.pos++] ?? "";
      let negated = c === "P";
      if (name.startsWith("^")) {
        negated = !negated;
        name = name.slice(1);
      }
      const test = unicodePredicate(name);
      if (!test) this.fail("invalid character class range", this.chars.slice(start, this.pos).join(""));
      return negated ? (cp) => !test(cp) : test;
    }
    const cp = this.parseEscapedCodePoint(c, start);
    return (x) => x === cp;
  }

  private parseEscapedCodePoint(c: string, start: number): number {
    const simple: Record<string, number> = { a: 7, f: 12, t: 9, n: 10, r: 13, v: 11 };
    if (c in simple) return simple[c] as number;
    if (c >= "0" && c <= "7") {
      if (c !== "0" && !(this.peek() !== undefined && /[0-7]/.test(this.peek() ?? ""))) {
        this.fail("invalid escape sequence", `\\${c}`);
      }
      let digits = c;
      while (digits.length < 3 && /[0-7]/.test(this.peek() ?? "")) digits += this.chars[this.pos++];
      return Number.parseInt(digits, 8);
    }
    if (c === "x") {
      if (this.peek() === "{") {
        const close = this.chars.indexOf("}", this.pos);
        const hex = close < 0 ? "" : this.chars.slice(this.pos + 1, close).join("");
        if (!/^[0-9a-fA-F]{1,8}$/.test(hex) || Number.parseInt(hex, 16) > 0x10ffff) {
          this.fail("invalid escape sequence", this.chars.slice(start, close + 1).join(""));
        }
        this.pos = close + 1;
        return Number.parseInt(hex, 16);
      }
      const hex = this.chars.slice(this.pos, this.pos + 2).join("");
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) this.fail("invalid escape sequence", `\\x${hex}`);
      this.pos += 2;
      return Number.parseInt(hex, 16);
    }
    const cp = c.codePointAt(0) ?? 0;
    if (cp < 0x80 && !/[0-9A-Za-z]/.test(c)) return cp;
    return this.fail("invalid escape sequence", `\\${c}`);
  }

  /** A bracket class, at "[". */
  private parseClass(): Predicate {
    const start = this.pos;
    this.pos++;
    let negated = false;
    if (this.peek() === "^") {
      negated = true;
      this.pos++;
    }
    const tests: Predicate[] = [];
    const ranges: [number, number][] = [];
    let first = true;
    while (true) {
      const c = this.peek();
      if (c === undefined) this.fail("missing closing ]", this.chars.slice(start).join(""));
      if (c === "]" && !first) {
        this.pos++;
        break;
      }
      first = false;
      if (c === "[" && this.peek(1) === ":") {
        const close = this.chars.indexOf("]", this.pos + 2);
        const body = close < 0 ? "" : this.chars.slice(this.pos + 2, close).join("");
        if (body.endsWith(":")) {
          const inner = body.slice(0, -1);
          const name = inner.startsWith("^") ? inner.slice(1) : inner;
          const posix = POSIX_CLASSES[name];
          if (!posix) this.fail("invalid character class range", `[:${body}]`);
          const test = rangePredicate(posix);
          tests.push(inner.startsWith("^") ? (cp) => !test(cp) : test);
          this.pos = close + 1;
          continue;
        }
      }
      if (c === "\\") {
        const next = this.peek(1) ?? "";
        if (/[dswDSWpP]/.test(next)) {
          tests.push(this.parseClassEscape());
          continue;
        }
      }
      const lo = this.parseClassChar();
      let hi = lo;
      if (this.peek() === "-" && this.peek(1) !== "]" && this.peek(1) !== undefined) {
        this.pos++;
        hi = this.parseClassChar();
        if (hi < lo)
          this.fail(
            "invalid character class range",
            `${String.fromCodePoint(lo)}-${String.fromCodePoint(hi)}`,
          );
      }
      ranges.push([lo, hi]);
    }
    const rangeTest = rangePredicate(ranges);
    const test: Predicate = (cp) => rangeTest(cp) || tests.some((t) => t(cp));
    return negated ? (cp) => !test(cp) : test;
  }

  private parseClassChar(): number {
    const c = this.chars[this.pos] as string;
    if (c !== "\\") {
      this.pos++;
      return c.codePointAt(0) ?? 0;
    }
    const start = this.pos;
    this.pos += 2;
    const escaped = this.chars[this.pos - 1];
    if (escaped === undefined) this.fail("missing closing ]");
    return this.parseEscapedCodePoint(escaped as string, start);
  }
}

// ---- Compiler ----

function compile(node: Node, program: Instruction[]): void {
  const emit = (instruction: Instruction): number => {
    if (program.length >= MAX_PROGRAM_INSTRUCTIONS) {
      throw new RegexpRefusedError(
        `regular expression is too large (over ${MAX_PROGRAM_INSTRUCTIONS} instructions)`,
      );
    }
    program.push(instruction);
    return program.length - 1;
  };
  const patch = (at: number, field: "x" | "y", target: number) => {
    const instruction = program[at] as { x: number; y: number };
    instruction[field] = target;
  };
  switch (node.type) {
    case "empty":
      return;
    case "char":
      emit({ op: "char", test: node.test });
      return;
    case "assert":
      emit({ op: "assert", kind: node.kind });
      return;
    case "cat":
      for (const item of node.items) compile(item, program);
      return;
    case "group":
      if (node.index !== undefined) emit({ op: "save", slot: node.index * 2 });
      compile(node.node, program);
      if (node.index !== undefined) emit({ op: "save", slot: node.index * 2 + 1 });
      return;
    case "alt": {
      const jumps: number[] = [];
      node.items.forEach((item, i) => {
        if (i < node.items.length - 1) {
          const split = emit({ op: "split", x: 0, y: 0 });
          patch(split, "x", program.length);
          compile(item, program);
          jumps.push(emit({ op: "jmp", x: 0 }));
          patch(split, "y", program.length);
        } else compile(item, program);
      });
      for (const jump of jumps) patch(jump, "x", program.length);
      return;
    }
    case "repeat": {
      for (let i = 0; i < node.min; i++) compile(node.node, program);
      if (!Number.isFinite(node.max)) {
        const split = emit({ op: "split", x: 0, y: 0 });
        const body = program.length;
        compile(node.node, program);
        emit({ op: "jmp", x: split });
        const after = program.length;
        patch(split, node.greedy ? "x" : "y", body);
        patch(split, node.greedy ? "y" : "x", after);
        return;
      }
      const splits: number[] = [];
      for (let i = node.min; i < node.max; i++) {
        const split = emit({ op: "split", x: 0, y: 0 });
        splits.push(split);
        patch(split, node.greedy ? "x" : "y", program.length);
        compile(node.node, program);
      }
      for (const split of splits) patch(split, node.greedy ? "y" : "x", program.length);
      return;
    }
  }
}

const compiled = new Map<string, GoRegexp>();

/** regexp.Compile; throws an Error with Go's wording where practical, RegexpRefusedError when too large. */
export function compileGoRegexp(pattern: string): GoRegexp {
  const cached = compiled.get(pattern);
  if (cached) return cached;
  const parser = new Parser(pattern);
  const ast = parser.parse();
  const program: Instruction[] = [];
  compile({ type: "group", index: 0, node: ast }, program);
  program.push({ op: "match" });
  const result = { source: pattern, program, names: parser.names };
  if (compiled.size > 1024) compiled.clear();
  compiled.set(pattern, result);
  return result;
}

// ---- Pike VM ----

type Thread = { pc: number; caps: number[] };

/** Code points of the subject with their UTF-16 offsets; offsets[length] is the subject's length. */
type Subject = { points: number[]; offsets: number[] };

function toSubject(text: string): Subject {
  if (text.length > MAX_SUBJECT_CHARS) {
    throw new RegexpRefusedError(
      `regular expression subject of ${text.length} characters is over the limit of ${MAX_SUBJECT_CHARS}`,
    );
  }
  const points: number[] = [];
  const offsets: number[] = [];
  for (let i = 0; i < text.length; ) {
    const cp = text.codePointAt(i) ?? 0;
    points.push(cp);
    offsets.push(i);
    i += cp > 0xffff ? 2 : 1;
  }
  offsets.push(text.length);
  return { points, offsets };
}

function assertionHolds(kind: Assertion, subject: Subject, at: number): boolean {
  const before = at > 0 ? subject.points[at - 1] : undefined;
  const after = subject.points[at];
  switch (kind) {
    case "bot":
      return at === 0;
    case "eot":
      return at === subject.points.length;
    case "bol":
      return at === 0 || before === 0x0a;
    case "eol":
      return at === subject.points.length || after === 0x0a;
    case "word":
    case "nonword": {
      const boundary =
        (before !== undefined && isWordChar(before)) !== (after !== undefined && isWordChar(after));
      return kind === "word" ? boundary : !boundary;
    }
  }
}

/** The leftmost-first match starting at or after code point `start`: capture slots in code points, or null. */
function execute(re: GoRegexp, subject: Subject, start: number): number[] | null {
  const program = re.program;
  const slots = re.names.length * 2;
  // seen[pc] === step marks an instruction already on this step's list, keeping each list within the program's size.
  const seen = new Int32Array(program.length).fill(-1);
  let current: Thread[] = [];
  let matched: number[] | null = null;
  const addThread = (list: Thread[], step: number, pc: number, caps: number[], at: number) => {
    // An explicit stack keeps long epsilon chains off the call stack; pushing y before x keeps priority.
    const stack: Thread[] = [{ pc, caps }];
    while (stack.length > 0) {
      const { pc: p, caps: c } = stack.pop() as Thread;
      if (seen[p] === step) continue;
      seen[p] = step;
      const instruction = program[p] as Instruction;
      switch (instruction.op) {
        case "jmp":
          stack.push({ pc: instruction.x, caps: c });
          break;
        case "split":
          stack.push({ pc: instruction.y, caps: c });
          stack.push({ pc: instruction.x, caps: c });
          break;
        case "save": {
          const copy = c.slice();
          copy[instruction.slot] = at;
          stack.push({ pc: p + 1, caps: copy });
          break;
        }
        case "assert":
          if (assertionHolds(instruction.kind, subject, at)) stack.push({ pc: p + 1, caps: c });
          break;
        default:
          list.push({ pc: p, caps: c });
      }
    }
  };
  const length = subject.points.length;
  for (let at = start; at <= length; at++) {
    const threads: Thread[] = [];
    // Surviving threads first, in priority order; a new attempt starts here only while nothing matched.
    for (const thread of current) addThread(threads, at, thread.pc, thread.caps, at);
    if (matched === null) addThread(threads, at, 0, new Array(slots).fill(-1), at);
    const cp = subject.points[at];
    const next: Thread[] = [];
    for (const thread of threads) {
      const instruction = program[thread.pc] as Instruction;
      if (instruction.op === "match") {
        matched = thread.caps;
        break; // Lower-priority threads lose to this match.
      }
      if (instruction.op === "char" && cp !== undefined && instruction.test(cp)) {
        next.push({ pc: thread.pc + 1, caps: thread.caps });
      }
    }
    current = next;
    if (current.length === 0 && matched !== null) break;
  }
  return matched;
}

function findAt(re: GoRegexp, subject: Subject, start: number): number[] | null {
  const work = (subject.points.length - start + 1) * re.program.length;
  if (work > MAX_MATCH_WORK) {
    throw new RegexpRefusedError(
      `regular expression of ${re.program.length} instructions over ${subject.points.length} characters is over the matching budget`,
    );
  }
  return execute(re, subject, start);
}

/** All matches (up to `limit`, or all when negative), with Go's rule that an empty match right after a match is skipped. */
function findAll(re: GoRegexp, text: string, limit: number): { subject: Subject; matches: number[][] } {
  const subject = toSubject(text);
  const matches: number[][] = [];
  let pos = 0;
  let prevMatchEnd = -1;
  while ((limit < 0 || matches.length < limit) && pos <= subject.points.length) {
    const match = findAt(re, subject, pos);
    if (!match) break;
    const [start = 0, end = 0] = match;
    let accept = true;
    if (end === start) {
      if (start === prevMatchEnd) accept = false;
      pos = start + 1;
    } else pos = end;
    prevMatchEnd = end;
    if (accept) matches.push(match);
  }
  return { subject, matches };
}

function sliceSubject(text: string, subject: Subject, from: number, to: number): string {
  return text.slice(subject.offsets[from], subject.offsets[to]);
}

export function matchGoRegexp(re: GoRegexp, text: string): boolean {
  return findAt(re, toSubject(text), 0) !== null;
}

export function findGoRegexp(re: GoRegexp, text: string): string {
  const subject = toSubject(text);
  const match = findAt(re, subject, 0);
  return match ? sliceSubject(text, subject, match[0] ?? 0, match[1] ?? 0) : "";
}

export function findAllGoRegexp(re: GoRegexp, text: string, limit: number): string[] {
  const { subject, matches } = findAll(re, text, limit);
  return matches.map((match) => sliceSubject(text, subject, match[0] ?? 0, match[1] ?? 0));
}

/** Go's Regexp.Expand of `$1`, `${1}`, `$name`, `${name}` and `$$`. */
function expand(template: string, group: (index: number) => string, names: (string | undefined)[]): string {
  let out = "";
  let rest = template;
  while (rest.length > 0) {
    const dollar = rest.indexOf("$");
    if (dollar < 0) break;
    out += rest.slice(0, dollar);
    rest = rest.slice(dollar + 1);
    if (rest.startsWith("$")) {
      out += "$";
      rest = rest.slice(1);
      continue;
    }
    const braced = /^\{([A-Za-z0-9_]+)\}/.exec(rest);
    const bare = braced ? undefined : /^[A-Za-z0-9_]+/.exec(rest);
    const name = braced?.[1] ?? bare?.[0];
    if (!name) {
      out += "$";
      continue;
    }
    rest = rest.slice((braced ?? bare)?.[0].length ?? 0);
    const index = /^[0-9]+$/.test(name) ? Number(name) : names.indexOf(name);
    if (index >= 0 && index < names.length) out += group(index);
  }
  return out + rest;
}

/** ReplaceAllString (with expansion) or ReplaceAllLiteralString. */
export function replaceAllGoRegexp(
  re: GoRegexp,
  text: string,
  replacement: string,
  literal: boolean,
): string {
  const subject = toSubject(text);
  const length = subject.points.length;
  let out = "";
  let lastMatchEnd = 0;
  let searchPos = 0;
  while (searchPos <= length) {
    const match = findAt(re, subject, searchPos);
    if (!match) break;
    const [start = 0, end = 0] = match;
    out += sliceSubject(text, subject, lastMatchEnd, start);
    if (end > lastMatchEnd || start === 0) {
      const group = (index: number) => {
        const from = match[index * 2] ?? -1;
        const to = match[index * 2 + 1] ?? -1;
        return from < 0 || to < 0 ? "" : sliceSubject(text, subject, from, to);
      };
      out += literal ? replacement : expand(replacement, group, re.names);
    }
    lastMatchEnd = end;
    searchPos = end > searchPos ? end : searchPos + 1;
  }
  return out + sliceSubject(text, subject, lastMatchEnd, length);
}

/** Regexp.Split. */
export function splitGoRegexp(re: GoRegexp, text: string, limit: number): string[] {
  if (limit === 0) return [];
  if (re.source.length > 0 && text.length === 0) return [""];
  const { subject, matches } = findAll(re, text, limit);
  const parts: string[] = [];
  let begin = 0;
  let end = 0;
  for (const match of matches) {
    if (limit > 0 && parts.length === limit - 1) break;
    end = match[0] ?? 0;
    if ((match[1] ?? 0) !== 0) parts.push(sliceSubject(text, subject, begin, end));
    begin = match[1] ?? 0;
  }
  if (end !== subject.points.length) parts.push(sliceSubject(text, subject, begin, subject.points.length));
  return parts;
}

/** regexp.QuoteMeta. */
export function quoteGoRegexpMeta(text: string): string {
  return text.replace(/[\\.+*?()|[\]{}^$]/g, "\\$&");
}
