// The two glob dialects of the git generator: Go's path.Match for `directories` (`*` stops at "/")
// and git's pathspec glob for `files` (`git ls-files -- <pattern>`: `*` and `?` also match "/",
// `**` is `*`, and a literal pattern also matches everything below it as a directory).

/** One literal character for a `u` regex, inside or outside a class. */
function escapeRegex(char: string): string {
  return /^[\p{L}\p{N}]$/u.test(char) ? char : `\\u{${(char.codePointAt(0) ?? 0).toString(16)}}`;
}

const goPathCache = new Map<string, RegExp | null>();

/** Go's path.Match: true on a match; a malformed pattern (Go's ErrBadPattern) matches nothing. */
export function matchGoPath(pattern: string, name: string): boolean {
  let regex = goPathCache.get(pattern);
  if (regex === undefined) {
    regex = compileGoPath(pattern);
    if (goPathCache.size > 1024) goPathCache.clear();
    goPathCache.set(pattern, regex);
  }
  return regex?.test(name) ?? false;
}

function compileGoPath(pattern: string): RegExp | null {
  const chars = Array.from(pattern);
  let out = "";
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] ?? "";
    if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else if (c === "\\") {
      const next = chars[++i];
      if (next === undefined) return null;
      out += escapeRegex(next);
    } else if (c === "[") {
      const parsed = parseClass(chars, i + 1, "^", true);
      if (!parsed) return null;
      out += parsed.regex;
      i = parsed.end;
    } else out += escapeRegex(c);
  }
  return new RegExp(`^${out}$`, "u");
}

/**
 * A bracket class starting after "["; null when malformed. Go (path.Match) refuses a class that
 * starts with "]" or has an unescaped "-" where a character belongs; git takes a first "]" as a
 * member and knows [:alpha:] classes. A reversed range matches nothing in both.
 */
function parseClass(
  chars: string[],
  start: number,
  negators: string,
  goStyle: boolean,
): { regex: string; end: number } | null {
  let i = start;
  let negated = false;
  if (negators.includes(chars[i] ?? "\u0000")) {
    negated = true;
    i++;
  }
  let body = "";
  let count = 0;
  const readChar = (): string | null => {
    let c = chars[i];
    if (c === undefined || (goStyle && (c === "-" || c === "]"))) return null;
    if (c === "\\") c = chars[++i];
    if (c === undefined) return null;
    i++;
    return c;
  };
  while (true) {
    const c = chars[i];
    if (c === undefined) return null;
    if (c === "]" && count > 0)
      return { regex: body === "" && !negated ? "(?!)" : `[${negated ? "^" : ""}${body}]`, end: i };
    count++;
    if (!goStyle && c === "[" && chars[i + 1] === ":") {
      const close = chars.indexOf("]", i + 2);
      const name = close > 0 ? chars.slice(i + 2, close).join("") : "";
      const cls = POSIX_CLASSES[name.replace(/:$/, "")];
      if (!name.endsWith(":") || cls === undefined) return null;
      body += cls;
      i = close + 1;
      continue;
    }
    const lo = readChar();
    if (lo === null) return null;
    let hi = lo;
    if (chars[i] === "-" && (goStyle || (chars[i + 1] !== "]" && chars[i + 1] !== undefined))) {
      i++;
      const end = readChar();
      if (end === null) return null;
      hi = end;
    }
    if ((hi.codePointAt(0) ?? 0) >= (lo.codePointAt(0) ?? 0))
      body += hi === lo ? escapeRegex(lo) : `${escapeRegex(lo)}-${escapeRegex(hi)}`;
  }
}

const POSIX_CLASSES: Record<string, string> = {
  alnum: "0-9A-Za-z",
  alpha: "A-Za-z",
  blank: " \\t",
  cntrl: "\\x00-\\x1f\\x7f",
  digit: "0-9",
  graph: "!-~",
  lower: "a-z",
  print: " -~",
  punct: "!-\\/:-@\\[-`{-~",
  space: " \\t\\n\\v\\f\\r",
  upper: "A-Z",
  xdigit: "0-9A-Fa-f",
};

const pathspecCache = new Map<string, RegExp | null>();

/** Git's default pathspec matching of one path (no pathspec magic, case-sensitive). */
export function matchGitPathspec(pattern: string, path: string): boolean {
  if (pattern === "" || pattern === ".") return true;
  if (path === pattern) return true;
  if (path.startsWith(pattern) && (pattern.endsWith("/") || path[pattern.length] === "/")) return true;
  if (!/[*?[\\]/.test(pattern)) return false;
  let regex = pathspecCache.get(pattern);
  if (regex === undefined) {
    regex = compileWildmatch(pattern);
    if (pathspecCache.size > 1024) pathspecCache.clear();
    pathspecCache.set(pattern, regex);
  }
  return regex?.test(path) ?? false;
}

/** git's wildmatch without WM_PATHNAME: `*` (and `**`) match anything, "/" included. */
function compileWildmatch(pattern: string): RegExp | null {
  const chars = Array.from(pattern);
  let out = "";
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] ?? "";
    if (c === "*") {
      while (chars[i + 1] === "*") i++;
      out += "[\\s\\S]*";
    } else if (c === "?") out += "[\\s\\S]";
    else if (c === "\\") {
      const next = chars[++i];
      if (next === undefined) return null;
      out += escapeRegex(next);
    } else if (c === "[") {
      const parsed = parseClass(chars, i + 1, "!^", false);
      if (!parsed) return null;
      out += parsed.regex;
      i = parsed.end;
    } else out += escapeRegex(c);
  }
  return new RegExp(`^${out}$`, "u");
}
