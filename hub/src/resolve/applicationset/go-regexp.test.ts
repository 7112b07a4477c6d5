import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  compileGoRegexp,
  findAllGoRegexp,
  findGoRegexp,
  matchGoRegexp,
  RegexpRefusedError,
  replaceAllGoRegexp,
  splitGoRegexp,
} from "./go-regexp.js";

const find = (pattern: string, text: string) => findGoRegexp(compileGoRegexp(pattern), text);
const findAll = (pattern: string, text: string, n = -1) => findAllGoRegexp(compileGoRegexp(pattern), text, n);
const replace = (pattern: string, text: string, repl: string) =>
  replaceAllGoRegexp(compileGoRegexp(pattern), text, repl, false);

describe("Go regexp", () => {
  it("prefers the leftmost match, then the first alternative (leftmost-first, not longest)", () => {
    assert.equal(find("a|ab", "xab"), "a");
    assert.equal(find("ab|a", "xab"), "ab");
    assert.equal(find("a+?", "aaa"), "a");
    assert.equal(find("a*", "baaa"), "");
    assert.equal(find("(?U)a+", "aaa"), "a");
  });

  it("captures groups, named groups and expands them in replacements", () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Go regexp replacement syntax, not a JavaScript template
    assert.equal(replace("(?P<key>\\w+)=(?<value>\\w+)", "a=1 b=2", "${value}:${key}"), "1:a 2:b");
    assert.equal(replace("a(x*)b", "-ab-axxb-", "$1W"), "---");
    assert.equal(replace("a(x*)b", "-ab-axxb-", "$$"), "-$-$-");
    assert.equal(replace("(a)|(b)", "ab", "[$1$2]"), "[a][b]");
  });

  it("supports flags, anchors, word boundaries and classes", () => {
    assert.equal(find("(?i)HELLO", "say hello"), "hello");
    assert.equal(find("(?i:a)b", "Ab AB"), "Ab");
    assert.equal(findAll("(?m)^\\w+$", "one\ntwo").join(","), "one,two");
    assert.equal(findAll("^\\w+$", "one\ntwo").join(","), "");
    assert.equal(find("(?s)a.b", "a\nb"), "a\nb");
    assert.equal(find("a.b", "a\rb"), "a\rb");
    assert.equal(findAll("\\bcat\\b", "cat concat cat").length, 2);
    assert.equal(find("[[:upper:]][[:digit:]]+", "x A12"), "A12");
    assert.equal(find("[^\\s]+", "  word "), "word");
    assert.equal(find("\\pL+", "12 héllo"), "héllo");
    assert.equal(find("\\p{Greek}+", "abc αβγ"), "αβγ");
    assert.equal(find("\\Qa.b\\E", "axb a.b"), "a.b");
    assert.equal(find("\\x{e9}\\x41", "éA"), "éA");
    assert.equal(find("x{2,3}", "xxxx"), "xxx");
    assert.equal(find("a{,2}", "a{,2}"), "a{,2}");
  });

  it("treats \\s as Go does: no vertical tab", () => {
    assert.equal(matchGoRegexp(compileGoRegexp("\\s"), "\v"), false);
  });

  it("skips an empty match right after a match, as Go's FindAll and ReplaceAll do", () => {
    assert.deepEqual(findAll("a*", "baaac"), ["", "aaa", ""]);
    assert.equal(replace("a*", "baaac", "-"), "-b-c-");
    assert.deepEqual(splitGoRegexp(compileGoRegexp(","), "a,b,,c", -1), ["a", "b", "", "c"]);
    assert.deepEqual(splitGoRegexp(compileGoRegexp(","), "a,b,c", 2), ["a", "b,c"]);
  });

  it("reports syntax errors with Go's wording", () => {
    const cases: [string, RegExp][] = [
      ["(", /missing closing \)/],
      [")", /unexpected \)/],
      ["*", /missing argument to repetition operator/],
      ["a**", /invalid nested repetition operator/],
      ["a{1001}", /invalid repeat count/],
      ["[a", /missing closing \]/],
      ["[z-a]", /invalid character class range/],
      ["\\1", /invalid escape sequence/],
      ["(?=a)", /invalid or unsupported Perl syntax/],
      ["\\p{NoSuchThing}", /invalid character class range/],
    ];
    for (const [pattern, message] of cases) assert.throws(() => compileGoRegexp(pattern), message, pattern);
  });

  it("matches nested repetition in linear time and refuses oversized programs", () => {
    const subject = `${"a".repeat(20_000)}!`;
    assert.equal(matchGoRegexp(compileGoRegexp("^(a|aa)+$"), subject), false);
    assert.equal(matchGoRegexp(compileGoRegexp("^(a+)+$"), subject), false);
    assert.throws(() => compileGoRegexp("((a{1000}){1000}){1000}"), RegexpRefusedError);
  });
});
