import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { renderGoTemplate } from "./go-template.js";
import { type GoValue, tagGoType } from "./go-value.js";
import { TemplateError } from "./template-error.js";
import { TEMPLATE_FUNCTIONS, UNSUPPORTED_FUNCTIONS } from "./template-functions.js";

function render(source: string, data: GoValue = {}): string {
  return renderGoTemplate(source, data, {
    functions: TEMPLATE_FUNCTIONS,
    unsupported: UNSUPPORTED_FUNCTIONS,
  });
}

function renderError(source: string, data: GoValue = {}): TemplateError {
  try {
    render(source, data);
  } catch (error) {
    assert.ok(error instanceof TemplateError);
    return error;
  }
  assert.fail(`${source} rendered without an error`);
}

describe("sprig string functions", () => {
  it("changes case, trims and tests strings", () => {
    assert.equal(
      render('{{ upper "abc" }} {{ lower "ÀB" }} {{ title "hello wORLD-x_y" }} {{ untitle "Hello" }}'),
      "ABC àb Hello WORLD-X_y hello",
    );
    assert.equal(
      render(
        '[{{ trim "  a b \\n" }}] [{{ trimAll "$" "$$5$" }}] [{{ trimPrefix "a-" "a-b" }}] [{{ trimSuffix ".git" "repo.git" }}] [{{ nospace " a b\\tc " }}]',
      ),
      "[a b] [5] [b] [repo] [abc]",
    );
    assert.equal(
      render(
        '{{ contains "b" "abc" }} {{ hasPrefix "a" "abc" }} {{ hasSuffix "c" "abc" }} {{ "abc" | contains "z" }}',
      ),
      "true true true false",
    );
  });

  it("cuts strings by bytes: trunc, substr, and repeats and replaces", () => {
    assert.equal(
      render(
        '{{ trunc 3 "abcdef" }} {{ trunc -2 "abcdef" }} {{ trunc 10 "ab" }} {{ substr 1 3 "abcdef" }} {{ substr 2 -1 "abcdef" }}',
      ),
      "abc ef ab bc cdef",
    );
    assert.equal(
      render('{{ repeat 3 "ab" }} {{ replace "-" "_" "a-b-c" }} {{ "a.b" | replace "." "" }}'),
      "ababab a_b_c ab",
    );
    assert.match(renderError('{{ substr 4 2 "abcdef" }}').message, /slice bounds out of range/);
  });

  it("quotes, concatenates and indents", () => {
    assert.equal(
      render('{{ quote "a\\"b" 1 }} {{ squote "x" 2 }} {{ cat "a" 1 nil "b" }}'),
      '"a\\"b" "1" \'x\' \'2\' a 1 b',
    );
    assert.equal(render('{{ indent 2 "a\\nb" }}|{{ nindent 4 "x" }}'), "  a\n  b|\n    x");
  });

  it("splits and joins", () => {
    assert.equal(
      render(
        '{{ splitList "," "a,b,c" | join "+" }} {{ (split "/" "x/y")._1 }} {{ (splitn "-" 2 "a-b-c")._1 }} {{ join "," (list 1 "a" nil 2.5) }}',
      ),
      "a+b+c y b-c 1,a,2.5",
    );
    assert.equal(render('{{ splitList "" "héj" }} {{ sortAlpha (list "b" "a" "C") }}'), "[h é j] [C a b]");
  });

  it("converts to strings and numbers as Sprig does (cast, errors become zero)", () => {
    assert.equal(
      render(
        '{{ toString 1.5 }} {{ toString .x }} {{ atoi "42" }} {{ atoi "4x" }} {{ int "0x10" }} {{ int64 "12.0" }} {{ int 3.9 }} {{ float64 "2.5" }} {{ int "abc" }}',
        { x: true },
      ),
      "1.5 true 42 0 16 12 3 2.5 0",
    );
    assert.equal(
      render(
        "{{ typeOf (int 1) }} {{ typeOf (int64 1) }} {{ typeOf (add 1 1) }} {{ typeOf .f }} {{ typeOf (list) }} {{ kindOf (dict) }}",
        { f: 1 },
      ),
      "int int64 int64 float64 []interface {} map",
    );
  });
});

describe("sprig math functions", () => {
  it("does integer arithmetic in int64, taking any number", () => {
    assert.equal(
      render(
        "{{ add 1 2 3 }} {{ add1 .n }} {{ sub 10 3 }} {{ mul 2 3 4 }} {{ div 7 2 }} {{ mod -7 3 }} {{ max 1 9 3 }} {{ min 4 2 8 }}",
        { n: 4 },
      ),
      "6 5 7 24 3 -1 9 2",
    );
    assert.match(
      renderError("{{ div 1 0 }}").message,
      /error calling div: runtime error: integer divide by zero/,
    );
  });

  it("does float arithmetic with Sprig's decimal rounding", () => {
    assert.equal(
      render(
        "{{ addf 0.1 0.2 }} {{ subf 1 0.9 }} {{ mulf 1.1 3 }} {{ divf 1 3 }} {{ floor 1.7 }} {{ ceil 1.2 }} {{ round 2.567 2 }} {{ maxf 1 2.5 }}",
      ),
      "0.3 0.1 3.3 0.3333333333333333 1 2 2.57 2.5",
    );
  });

  it("makes ranges of integers", () => {
    assert.equal(
      render("{{ until 3 }} {{ until -2 }} {{ untilStep 0 10 4 }} {{ seq 3 }} {{ seq 5 2 }} {{ seq 0 2 6 }}"),
      "[0 1 2] [0 -1] [0 4 8] 1 2 3 5 4 3 2 0 2 4 6",
    );
  });

  it("limits the size of generated lists and strings", () => {
    assert.equal(renderError("{{ until 100000000 }}").reason, "limit");
    assert.equal(renderError('{{ repeat 100000000 "ab" }}').reason, "limit");
  });
});

describe("sprig lists and dicts", () => {
  it("builds and reads lists", () => {
    assert.equal(
      render(
        "{{ $l := list 1 2 3 }}{{ first $l }} {{ last $l }} {{ rest $l }} {{ initial $l }} {{ append $l 4 }} {{ prepend $l 0 }} {{ reverse $l }}",
      ),
      "1 3 [2 3] [1 2] [1 2 3 4] [0 1 2 3] [3 2 1]",
    );
    assert.equal(
      render(
        '{{ uniq (list 1 1 "a" "a") }} {{ without (list 1 2 3) 2 }} {{ has "b" (list "a" "b") }} {{ has 1 (list 1.0) }} {{ compact (list 0 "" "x" nil) }} {{ slice (list 1 2 3) 1 }} {{ concat (list 1) (list 2) }}',
      ),
      "[1 a] [1 3] true false [x] [2 3] [1 2]",
    );
    assert.equal(render("{{ first (list) }}"), "<no value>");
    assert.match(renderError('{{ first "abc" }}').message, /Cannot find first on type string/);
  });

  it("builds, reads and changes dicts", () => {
    assert.equal(
      render(
        '{{ $d := dict "b" 2 "a" 1 "odd" }}{{ toJson $d }} {{ get $d "a" }} [{{ get $d "zz" }}] {{ hasKey $d "b" }} {{ keys $d }} {{ values $d }}',
      ),
      '{"a":1,"b":2,"odd":""} 1 [] true [a b odd] [1 2 ]',
    );
    assert.equal(
      render(
        '{{ $d := dict "a" 1 }}{{ $_ := set $d "b" 2 }}{{ $_ := unset $d "a" }}{{ toJson $d }} {{ toJson (pick (dict "a" 1 "b" 2) "b") }} {{ toJson (omit (dict "a" 1 "b" 2) "b") }}',
      ),
      '{"b":2} {"b":2} {"a":1}',
    );
    assert.equal(
      render(
        '{{ pluck "a" (dict "a" 1) (dict "b" 2) (dict "a" 3) }} {{ dig "x" "y" "def" (dict "x" (dict "y" "found")) }} {{ dig "x" "z" "def" (dict "x" (dict)) }}',
      ),
      "[1 3] found def",
    );
  });

  it("merges dicts deeply, with and without overwriting", () => {
    const data = {
      dst: { a: 1, n: { x: "dst", y: "" } },
      src: { a: 2, b: 3, n: { x: "src", y: "src", z: "src" } },
    };
    assert.equal(
      render("{{ toJson (merge (deepCopy .dst) .src) }}", data),
      '{"a":1,"b":3,"n":{"x":"dst","y":"src","z":"src"}}',
    );
    assert.equal(
      render("{{ toJson (mergeOverwrite (deepCopy .dst) .src) }}", data),
      '{"a":2,"b":3,"n":{"x":"src","y":"src","z":"src"}}',
    );
  });

  it("refuses a map[string]string (cluster labels) where Sprig wants map[string]interface{}", () => {
    const labels = tagGoType({ env: "prod" }, "map[string]string");
    assert.match(renderError('{{ get .labels "env" }}', { labels }).message, /wrong type for value/);
    assert.equal(render('{{ index .labels "env" }} {{ .labels.env }}', { labels }), "prod prod");
  });

  it("answers empty, default, coalesce, ternary, all and any", () => {
    assert.equal(
      render(
        '{{ default "d" .missing }} {{ default "d" "" }} {{ default "d" 0 }} {{ default "d" "x" }} {{ .missing | default "p" }}',
      ),
      "d d d x p",
    );
    assert.equal(
      render(
        '{{ empty 0 }} {{ empty (list) }} {{ empty "a" }} {{ coalesce .missing "" "c" }} {{ ternary "y" "n" true }} {{ all 1 "a" }} {{ any 0 "" }}',
      ),
      "true true false c y true false",
    );
  });
});

describe("sprig encodings, regex, semver", () => {
  it("encodes and hashes", () => {
    assert.equal(
      render('{{ b64enc "hello" }} {{ b64dec "aGVsbG8=" }} {{ b32enc "hi" }} {{ b32dec "NBUQ====" }}'),
      "aGVsbG8= hello NBUQ==== hi",
    );
    assert.equal(render('{{ b64dec "!!" }}'), "illegal base64 data at input byte 0");
    assert.equal(
      render('{{ sha256sum "abc" }}'),
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    assert.equal(
      render('{{ sha1sum "abc" }} {{ adler32sum "abc" }}'),
      "a9993e364706816aba3e25717850c26c9cd0d89d 38600999",
    );
  });

  it("writes and reads JSON as Go does: sorted keys, HTML-safe unless raw", () => {
    assert.equal(
      render('{{ toJson (dict "b" "<x>" "a" (list 1 2.5)) }} {{ toRawJson (dict "a" "<&>") }}'),
      '{"a":[1,2.5],"b":"\\u003cx\\u003e"} {"a":"<&>"}',
    );
    assert.equal(render('{{ toPrettyJson (dict "a" (list 1)) }}'), '{\n  "a": [\n    1\n  ]\n}');
    assert.equal(
      render('{{ (fromJson "{\\"a\\":{\\"b\\":3}}").a.b }} {{ fromJson "not json" }}'),
      "3 <no value>",
    );
  });

  it("matches, finds, replaces and splits with Go's regexp rules", () => {
    assert.equal(
      render(
        '{{ regexMatch "^[a-z]+$" "abc" }} {{ regexMatch "[" "x" }} {{ regexFind "[0-9]+" "ab12cd34" }} {{ regexFindAll "[0-9]" "a1b2c3" 2 }}',
      ),
      "true false 12 [1 2]",
    );
    assert.equal(
      render(
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Go regexp replacement syntax, not a JavaScript template
        '{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "${1}W" }} {{ regexReplaceAll "a(x*)b" "-axb-" "$1W" }} {{ regexReplaceAllLiteral "a(x*)b" "-ab-" "$1" }}',
      ),
      "-W-xxW- -- -$1-",
    );
    assert.equal(
      render(
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Go regexp replacement syntax, not a JavaScript template
        '{{ regexReplaceAll "(?P<first>\\\\w+) (?P<last>\\\\w+)" "Ada Lovelace" "${last}, ${first}" }} {{ regexSplit "z+" "pizza" -1 }} {{ regexQuoteMeta "a.b" }}',
      ),
      "Lovelace, Ada [pi a] a\\.b",
    );
    assert.equal(
      render('{{ regexReplaceAll "a*" "baaac" "-" }} {{ regexFindAll "a*" "baaac" -1 }}'),
      "-b-c- [ aaa ]",
    );
    assert.match(renderError('{{ regexFind "(" "x" }}').message, /error calling regexFind: regexp: Compile/);
  });

  it("matches in linear time, so nested repetition cannot hang a render", () => {
    const subject = `${"a".repeat(5000)}!`;
    assert.equal(
      render(`{{ regexMatch "^(a+)+$" .s }} {{ regexMatch "^(a|aa)+$" .s }}`, { s: subject }),
      "false false",
    );
  });

  it("compares semantic versions with Masterminds constraints", () => {
    const checks = [
      [">=1.2.3", "1.3.0", true],
      ["^1.2", "2.0.0", false],
      ["~1.2.3", "1.2.9", true],
      ["~1.2.3", "1.3.0", false],
      ["1.2.x", "1.2.7", true],
      [">=1.0 <2.0", "1.5.0", true],
      ["1.0 - 2.0", "2.0.1", true],
      ["1.0 - 2.0", "2.1.0", false],
      [">1.0 || <0.5", "0.4.0", true],
      [">=1.0", "1.1.0-rc.1", false],
      [">=1.0-0", "1.1.0-rc.1", true],
      ["!=1.2.3", "v1.2.4", true],
    ] as const;
    for (const [constraint, version, expected] of checks) {
      assert.equal(
        render(`{{ semverCompare "${constraint}" "${version}" }}`),
        String(expected),
        `${constraint} ${version}`,
      );
    }
    assert.match(
      renderError('{{ semverCompare ">=1" "not-a-version" }}').message,
      /Invalid Semantic Version/,
    );
  });
});

describe("argo cd template functions", () => {
  it("normalizes and slugifies names", () => {
    assert.equal(
      render(
        '{{ normalize "My_Cluster.Name-" }} {{ slugify "Hello World.Example" }} {{ slugify 10 "hello-wonderful-world" }} {{ slugify 10 false "hello-wonderful-world" }}',
      ),
      "my-cluster.name hello-world-example hello hello-wond",
    );
  });

  it("writes and reads YAML like sigs.k8s.io/yaml", () => {
    assert.equal(
      render('{{ toYaml (dict "b" (list "x" "true") "a" (dict "c" 1)) }}'),
      'a:\n  c: 1\nb:\n- x\n- "true"',
    );
    // YAML 1.1 as go-yaml v2 reads it: yes and the key n are booleans, 0777 is octal.
    assert.equal(
      render('{{ (fromYaml "a:\\n  b: yes\\n  mode: 0777\\n  n: x").a }} {{ fromYamlArray "- 1\\n- two" }}'),
      "map[b:true false:x mode:511] [1 two]",
    );
    assert.match(
      renderError('{{ fromYaml "- a" }}').message,
      /cannot unmarshal array into Go value of type map/,
    );
  });

  it("fails with fail and names unsupported functions", () => {
    assert.match(renderError('{{ fail "stop here" }}').message, /error calling fail: stop here/);
    assert.equal(renderError("{{ randAlphaNum 5 }}").functionName, "randAlphaNum");
    assert.equal(renderError('{{ snakecase "x" }}').reason, "unsupported");
  });

  it("offers every Sprig function name except the ones Argo CD removes", () => {
    const removed = ["env", "expandenv", "getHostByName"];
    for (const name of removed)
      assert.ok(!(name in TEMPLATE_FUNCTIONS) && !(name in UNSUPPORTED_FUNCTIONS), name);
    for (const name of [
      "default",
      "toYaml",
      "fromYaml",
      "fromYamlArray",
      "normalize",
      "slugify",
      "semverCompare",
      "regexReplaceAll",
    ]) {
      assert.ok(name in TEMPLATE_FUNCTIONS, name);
    }
  });
});
