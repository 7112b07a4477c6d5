// Fuzz tests of glob matching (directory include/exclude, Helm valueFiles globs): random patterns
// from glob syntax against random paths must match as the regular expression a glob stands for
// (checked on short paths, where backtracking is cheap), and patterns built to backtrack
// (`*a*a*a...b`) must be decided within a bounded time on long paths. fast-check prints the seed
// of a failing run.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { compileGlob, type GlobDialect } from "./match-glob.js";

/** One match may take this long on a slow, shared machine before it counts as a hang. */
const MAX_MATCH_MS = 1_000;

const PATTERN_PIECES = [
  "a",
  "b",
  "/",
  ".",
  "*",
  "**",
  "?",
  "[ab]",
  "[!a]",
  "[a-c]",
  "{a,b}",
  "{a,{b,*}}",
  "\\*",
  "-",
  "é",
];
const TEXT_CHARS = ["a", "b", "c", "/", ".", "*", "-", "é", "\n"];

const pattern = fc
  .array(fc.constantFrom(...PATTERN_PIECES), { maxLength: 8 })
  .map((pieces) => pieces.join(""));
const text = fc.array(fc.constantFrom(...TEXT_CHARS), { maxLength: 12 }).map((chars) => chars.join(""));

/**
 * The regular expression a glob stands for, for comparison on short texts: how the matcher
 * worked before it became an automaton. Undefined for a malformed pattern.
 */
function referenceRegExp(glob: string, dialect: GlobDialect): RegExp | undefined {
  let at = 0;
  const literal = (char: string) => char.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
  const sequence = (inAlternation: boolean): string => {
    let out = "";
    while (at < glob.length) {
      const char = glob[at] as string;
      if (inAlternation && (char === "," || char === "}")) return out;
      at += 1;
      if (char === "\\") {
        const next = glob[at];
        if (next === undefined) throw new Error("trailing escape");
        at += 1;
        out += literal(next);
      } else if (char === "*") {
        const double = glob[at] === "*";
        if (double) at += 1;
        if (dialect === "gobwas") out += ".*";
        else if (!double) out += "[^/]*";
        else {
          const segmentStart = at - 2 === 0 || glob[at - 3] === "/";
          const next = glob[at];
          if (!segmentStart || (next !== undefined && next !== "/")) out += "[^/]*";
          else if (next === "/") {
            at += 1;
            out += "(?:.*/)?";
          } else out += ".*";
        }
      } else if (char === "?") out += dialect === "doublestar" ? "[^/]" : ".";
      else if (char === "[") {
        const close = glob.indexOf("]", at);
        if (close <= at) throw new Error("unterminated [");
        const body = glob.slice(at, close);
        at = close + 1;
        const negate = body.startsWith("!");
        const inner = (negate ? body.slice(1) : body).replace(/[\\\]^]/g, "\\$&");
        if (inner === "") throw new Error("empty class");
        out += negate ? (dialect === "doublestar" ? `[^/${inner}]` : `[^${inner}]`) : `[${inner}]`;
      } else if (char === "{") {
        const options: string[] = [];
        for (;;) {
          options.push(sequence(true));
          const close = glob[at];
          at += 1;
          if (close === "}") break;
          if (close !== ",") throw new Error("unterminated {");
        }
        out += `(?:${options.join("|")})`;
      } else out += literal(char);
    }
    if (inAlternation) throw new Error("unterminated {");
    return out;
  };
  try {
    const source = sequence(false);
    return at === glob.length ? new RegExp(`^${source}$`, "su") : undefined;
  } catch {
    return undefined;
  }
}

describe("reliability: fuzz", () => {
  it("random globs match random paths as the regular expression they stand for, in both dialects", (t) => {
    let compared = 0;
    let matched = 0;
    fc.assert(
      fc.property(
        pattern,
        fc.array(text, { minLength: 1, maxLength: 5 }),
        fc.constantFrom<GlobDialect>("gobwas", "doublestar"),
        (glob, texts, dialect) => {
          const matcher = compileGlob(glob, dialect);
          const reference = referenceRegExp(glob, dialect);
          assert.equal(matcher === undefined, reference === undefined, `${glob}: compiles differently`);
          for (const path of texts) {
            const expected = reference?.test(path) ?? false;
            assert.equal(
              matcher?.test(path) ?? false,
              expected,
              `${dialect} ${JSON.stringify(glob)} on ${JSON.stringify(path)}`,
            );
            compared += 1;
            if (expected) matched += 1;
          }
        },
      ),
      { numRuns: 2_000 },
    );
    t.diagnostic(
      `${compared} random (glob, path) pairs in both dialects: all agreed with the reference; ${matched} matched`,
    );
  });

  it("globs built to backtrack are decided within a bounded time on 250-character paths", (t) => {
    let slowestMs = 0;
    let cases = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.constantFrom("*a", "*?", "**/a", "{*a,*b}", "[a-z]*"),
        fc.constantFrom<GlobDialect>("gobwas", "doublestar"),
        (stars, piece, dialect) => {
          const glob = `${piece.repeat(stars)}*x`;
          const path = "a/".repeat(125);
          const started = performance.now();
          const matches = compileGlob(glob, dialect)?.test(path) ?? false;
          const ms = performance.now() - started;
          slowestMs = Math.max(slowestMs, ms);
          cases += 1;
          assert.equal(matches, false, glob);
          assert.ok(ms < MAX_MATCH_MS, `${glob} took ${Math.round(ms)} ms`);
        },
      ),
      { numRuns: 300 },
    );
    t.diagnostic(
      `${cases} globs with up to 60 stars against a 250-character path: decided in at most ${Math.round(slowestMs)} ms each (a backtracking regex takes minutes from 8 stars on)`,
    );
  });
});
