// Glob matching as Argo CD does it. Directory include/exclude use gobwas/glob compiled without
// separators (argo-cd util/glob), so `*` also matches "/"; Helm valueFiles globs use doublestar
// (`*` stops at "/", `**` spans directories). Both support `?`, `[abc]`, `[a-z]`, `[!abc]`,
// `{a,b}` alternation (nestable) and `\` escapes.

export type GlobDialect = "gobwas" | "doublestar";

/** Compiles a glob to an anchored RegExp, or undefined when the pattern is malformed. */
export function compileGlob(pattern: string, dialect: GlobDialect): RegExp | undefined {
  const parser = { pattern, at: 0, dialect };
  try {
    const source = parseSequence(parser, false);
    if (parser.at !== pattern.length) return undefined;
    return new RegExp(`^${source}$`, "su");
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

type GlobParser = { pattern: string; at: number; dialect: GlobDialect };

const REGEX_SYNTAX = /[\\^$.*+?()[\]{}|/]/g;
const CLASS_SYNTAX = /[\\\][^-]/g;

function escapeLiteral(char: string): string {
  return char.replace(REGEX_SYNTAX, "\\$&");
}

function parseSequence(p: GlobParser, inAlternation: boolean): string {
  let out = "";
  while (p.at < p.pattern.length) {
    const char = p.pattern[p.at] as string;
    if (inAlternation && (char === "," || char === "}")) return out;
    p.at += 1;
    switch (char) {
      case "\\": {
        const next = p.pattern[p.at];
        if (next === undefined) throw new Error("trailing escape");
        p.at += 1;
        out += escapeLiteral(next);
        break;
      }
      case "*":
        out += parseStar(p);
        break;
      case "?":
        out += p.dialect === "doublestar" ? "[^/]" : ".";
        break;
      case "[":
        out += parseClass(p);
        break;
      case "{":
        out += parseAlternation(p);
        break;
      default:
        out += escapeLiteral(char);
    }
  }
  if (inAlternation) throw new Error("unterminated {");
  return out;
}

function parseStar(p: GlobParser): string {
  const double = p.pattern[p.at] === "*";
  if (double) p.at += 1;
  if (p.dialect === "gobwas") return ".*";
  if (!double) return "[^/]*";
  // doublestar: `**` is special only as a whole path segment; elsewhere it is a plain `*`.
  const start = p.at - 2;
  const segmentStart = start === 0 || p.pattern[start - 1] === "/";
  const next = p.pattern[p.at];
  if (!segmentStart || (next !== undefined && next !== "/")) return "[^/]*";
  if (next === "/") {
    p.at += 1;
    return "(?:.*/)?";
  }
  return ".*";
}

function parseClass(p: GlobParser): string {
  let negate = false;
  if (p.pattern[p.at] === "!") {
    negate = true;
    p.at += 1;
  }
  let body = "";
  let count = 0;
  while (p.at < p.pattern.length && p.pattern[p.at] !== "]") {
    let char = p.pattern[p.at] as string;
    if (char === "\\") {
      p.at += 1;
      char = p.pattern[p.at] ?? "";
      if (char === "") throw new Error("trailing escape");
    }
    p.at += 1;
    body += char.replace(CLASS_SYNTAX, "\\$&");
    count += 1;
    if (p.pattern[p.at] === "-" && p.pattern[p.at + 1] !== undefined && p.pattern[p.at + 1] !== "]") {
      const to = p.pattern[p.at + 1] as string;
      p.at += 2;
      if (to < char) throw new Error("bad range");
      body += `-${to.replace(CLASS_SYNTAX, "\\$&")}`;
    }
  }
  if (p.pattern[p.at] !== "]" || count === 0) throw new Error("unterminated [");
  p.at += 1;
  if (negate) return p.dialect === "doublestar" ? `[^/${body}]` : `[^${body}]`;
  return `[${body}]`;
}

function parseAlternation(p: GlobParser): string {
  const options: string[] = [];
  for (;;) {
    options.push(parseSequence(p, true));
    const char = p.pattern[p.at];
    p.at += 1;
    if (char === "}") break;
    if (char !== ",") throw new Error("unterminated {");
  }
  return `(?:${options.join("|")})`;
}
