// Glob matching as Argo CD does it. Directory include/exclude use gobwas/glob compiled without
// separators (argo-cd util/glob), so `*` also matches "/"; Helm valueFiles globs use doublestar
// (`*` stops at "/", `**` spans directories). Both support `?`, `[abc]`, `[a-z]`, `[!abc]`,
// `{a,b}` alternation (nestable) and `\` escapes.
//
// Patterns come from repositories, so matching must stay cheap whatever they hold: a glob is
// compiled to a small automaton and run over the text once (time proportional to text length
// times pattern length). A regular expression would backtrack: `*a*a*a*a*a*a*b` against a long
// file name takes minutes in V8 and blocks the hub's event loop meanwhile.

export type GlobDialect = "gobwas" | "doublestar";

/** A compiled glob: `test` is true when the whole text matches. */
export type GlobMatcher = { test(text: string): boolean };

/** Compiles a glob, or returns undefined when the pattern is malformed. */
export function compileGlob(pattern: string, dialect: GlobDialect): GlobMatcher | undefined {
  const parser: GlobParser = { pattern, at: 0, dialect, states: [] };
  try {
    const start = newState(parser);
    const end = parseSequence(parser, start, false);
    if (parser.at !== pattern.length) return undefined;
    const { states } = parser;
    return { test: (text) => run(states, start, end, text) };
  } catch {
    return undefined;
  }
}

/**
 * Argo CD's `glob.Match(pattern, text)`: true when the whole text matches; a pattern that does
 * not compile matches nothing.
 */
export function matchGlob(pattern: string, text: string): boolean {
  return compileGlob(pattern, "gobwas")?.test(text) ?? false;
}

/** True when a path contains glob metacharacters (Argo CD's isGlobPath: `*`, `?` or `[`). */
export function isGlobPath(path: string): boolean {
  return /[*?[]/.test(path);
}

/**
 * One state of the automaton: it moves to `on` when the next character passes `accepts`, and
 * without reading to every state in `free`.
 */
type State = { accepts?: (char: string) => boolean; on?: number; free: number[] };

type GlobParser = { pattern: string; at: number; dialect: GlobDialect; states: State[] };

const anyChar = () => true;
const notSlash = (char: string) => char !== "/";

function newState(p: GlobParser): number {
  p.states.push({ free: [] });
  return p.states.length - 1;
}

/** A state at `from` that reads one character passing `accepts`; returns the state after it. */
function addChar(p: GlobParser, from: number, accepts: (char: string) => boolean): number {
  const to = newState(p);
  Object.assign(p.states[from] as State, { accepts, on: to });
  return to;
}

/** Any number of characters passing `accepts` at `from`; returns the state after them. */
function addStar(p: GlobParser, from: number, accepts: (char: string) => boolean): number {
  const loop = newState(p);
  const to = newState(p);
  (p.states[from] as State).free.push(loop);
  Object.assign(p.states[loop] as State, { accepts, on: loop, free: [to] });
  return to;
}

/** Parses a sequence into states from `from`; returns the state after it. */
function parseSequence(p: GlobParser, from: number, inAlternation: boolean): number {
  let at = from;
  while (p.at < p.pattern.length) {
    const char = p.pattern[p.at] as string;
    if (inAlternation && (char === "," || char === "}")) return at;
    const point = String.fromCodePoint(p.pattern.codePointAt(p.at) as number);
    p.at += point.length;
    switch (char) {
      case "\\": {
        const next = p.pattern.codePointAt(p.at);
        if (next === undefined) throw new Error("trailing escape");
        const literal = String.fromCodePoint(next);
        p.at += literal.length;
        at = addChar(p, at, (c) => c === literal);
        break;
      }
      case "*":
        at = parseStar(p, at);
        break;
      case "?":
        at = addChar(p, at, p.dialect === "doublestar" ? notSlash : anyChar);
        break;
      case "[":
        at = addChar(p, at, parseClass(p));
        break;
      case "{":
        at = parseAlternation(p, at);
        break;
      default:
        at = addChar(p, at, (c) => c === point);
    }
  }
  if (inAlternation) throw new Error("unterminated {");
  return at;
}

function parseStar(p: GlobParser, from: number): number {
  const double = p.pattern[p.at] === "*";
  if (double) p.at += 1;
  if (p.dialect === "gobwas") return addStar(p, from, anyChar);
  if (!double) return addStar(p, from, notSlash);
  // doublestar: `**` is special only as a whole path segment; elsewhere it is a plain `*`.
  const start = p.at - 2;
  const segmentStart = start === 0 || p.pattern[start - 1] === "/";
  const next = p.pattern[p.at];
  if (!segmentStart || (next !== undefined && next !== "/")) return addStar(p, from, notSlash);
  if (next !== "/") return addStar(p, from, anyChar);
  // `**/`: nothing, or any path ending in "/".
  p.at += 1;
  const afterDirs = addChar(p, addStar(p, from, anyChar), (c) => c === "/");
  (p.states[from] as State).free.push(afterDirs);
  return afterDirs;
}

/** A bracket expression as the test of one character. */
function parseClass(p: GlobParser): (char: string) => boolean {
  let negate = false;
  if (p.pattern[p.at] === "!") {
    negate = true;
    p.at += 1;
  }
  const ranges: [string, string][] = [];
  const readChar = (): string => {
    let point = p.pattern.codePointAt(p.at);
    if (point === 92) {
      p.at += 1;
      point = p.pattern.codePointAt(p.at);
      if (point === undefined) throw new Error("trailing escape");
    }
    if (point === undefined) throw new Error("unterminated [");
    const char = String.fromCodePoint(point);
    p.at += char.length;
    return char;
  };
  while (p.at < p.pattern.length && p.pattern[p.at] !== "]") {
    const from = readChar();
    let to = from;
    if (p.pattern[p.at] === "-" && p.pattern[p.at + 1] !== undefined && p.pattern[p.at + 1] !== "]") {
      p.at += 1;
      to = readChar();
      if ((to.codePointAt(0) as number) < (from.codePointAt(0) as number)) throw new Error("bad range");
    }
    ranges.push([from, to]);
  }
  if (p.pattern[p.at] !== "]" || ranges.length === 0) throw new Error("unterminated [");
  p.at += 1;
  const inRanges = (char: string) => {
    const point = char.codePointAt(0) as number;
    return ranges.some(
      ([from, to]) => point >= (from.codePointAt(0) as number) && point <= (to.codePointAt(0) as number),
    );
  };
  if (!negate) return inRanges;
  return p.dialect === "doublestar" ? (char) => char !== "/" && !inRanges(char) : (char) => !inRanges(char);
}

function parseAlternation(p: GlobParser, from: number): number {
  const end = newState(p);
  for (;;) {
    const option = newState(p);
    (p.states[from] as State).free.push(option);
    (p.states[parseSequence(p, option, true)] as State).free.push(end);
    const char = p.pattern[p.at];
    p.at += 1;
    if (char === "}") break;
    if (char !== ",") throw new Error("unterminated {");
  }
  return end;
}

/** Runs the automaton over `text`, all paths at once, one code point at a time. */
function run(states: readonly State[], start: number, end: number, text: string): boolean {
  let current = closure(states, [start]);
  for (const char of text) {
    const next: number[] = [];
    for (const index of current) {
      const state = states[index] as State;
      if (state.on !== undefined && state.accepts?.(char)) next.push(state.on);
    }
    if (next.length === 0) return false;
    current = closure(states, next);
  }
  return current.has(end);
}

/** The states reachable from `from` without reading. */
function closure(states: readonly State[], from: number[]): Set<number> {
  const reached = new Set(from);
  const pending = [...from];
  for (let index = pending.pop(); index !== undefined; index = pending.pop()) {
    for (const next of (states[index] as State).free) {
      if (!reached.has(next)) {
        reached.add(next);
        pending.push(next);
      }
    }
  }
  return reached;
}
