import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  DEFAULT_TEMPLATE_LIMITS,
  type ExecuteOptions,
  type MissingKeyMode,
  renderGoTemplate,
} from "./go-template.js";
import { GoInt, type GoValue, tagGoType } from "./go-value.js";
import { TemplateError } from "./template-error.js";
import { TEMPLATE_FUNCTIONS, UNSUPPORTED_FUNCTIONS } from "./template-functions.js";

const OPTIONS: ExecuteOptions = { functions: TEMPLATE_FUNCTIONS, unsupported: UNSUPPORTED_FUNCTIONS };

const DATA = {
  name: "Guestbook",
  port: 8080,
  ratio: 0.5,
  enabled: true,
  nothing: null,
  list: ["a", "b", "c"],
  nested: { b: { c: "deep" }, a: 1 },
  path: { path: "apps/web", basename: "web", segments: tagGoType(["apps", "web"], "[]string") },
  labels: tagGoType({ env: "prod" }, "map[string]string"),
};

function render(source: string, data: GoValue = DATA, missingKey: MissingKeyMode = "default"): string {
  return renderGoTemplate(source, data, { ...OPTIONS, missingKey });
}

function renderError(
  source: string,
  data: GoValue = DATA,
  missingKey: MissingKeyMode = "default",
): TemplateError {
  try {
    render(source, data, missingKey);
  } catch (error) {
    assert.ok(error instanceof TemplateError, `expected a TemplateError, got ${error}`);
    return error;
  }
  assert.fail(`${source} rendered without an error`);
}

describe("go template fields and pipelines", () => {
  it("reads nested fields with and without spaces inside the braces", () => {
    assert.equal(render("{{.name}}/{{ .nested.b.c }}/{{ .path.basename }}"), "Guestbook/deep/web");
  });

  it("prints <no value> for a missing key by default and for null", () => {
    assert.equal(
      render("{{ .missing }}|{{ .nested.missing.deeper }}|{{ .nothing }}"),
      "<no value>|<no value>|<no value>",
    );
  });

  it("fails on a missing key with missingkey=error, naming the key and the position", () => {
    const error = renderError("x {{ .nested.nope }}", DATA, "error");
    assert.equal(
      error.message,
      'template: base:1:5: executing "base" at <.nested.nope>: map has no entry for key "nope"',
    );
  });

  it("gives the map's zero value for a missing key with missingkey=zero", () => {
    assert.equal(render("[{{ .labels.team }}][{{ .nested.x }}]", DATA, "zero"), "[][<no value>]");
  });

  it("fails when a field is read from nil or from a string", () => {
    assert.match(renderError("{{ .nothing.x }}").message, /nil pointer evaluating interface \{\}\.x/);
    assert.match(renderError("{{ .name.x }}").message, /can't evaluate field x in type string/);
  });

  it("prints numbers as Go's %v does: float64 from JSON, int from literals", () => {
    assert.equal(
      render("{{ .port }} {{ 1e6 }} {{ 1234567.0 }} {{ 123456.0 }} {{ 0.00001 }} {{ .ratio }} {{ 42 }}"),
      "8080 1e+06 1.234567e+06 123456 1e-05 0.5 42",
    );
  });

  it("prints maps with sorted keys and slices with spaces", () => {
    assert.equal(render("{{ .path }}"), "map[basename:web path:apps/web segments:[apps web]]");
    assert.equal(render("{{ .list }} {{ .nested }}"), "[a b c] map[a:1 b:map[c:deep]]");
  });

  it("chains pipelines, parenthesized calls and fields of a call's result", () => {
    assert.equal(render('{{ .name | lower | printf "%s-%s" "app" }}'), "app-guestbook");
    assert.equal(render('{{ (dict "a" (dict "b" "x")).a.b }}'), "x");
    assert.equal(render("{{ len (slice .list 1) }}"), "2");
  });

  it("parses string, raw string, char, number, bool and nil literals", () => {
    assert.equal(
      render("{{ \"a\\tb\\u00e9\\x41\" }}|{{ `raw\\n` }}|{{ 'a' }}|{{ 0x1F }}|{{ 1_000 }}|{{ true }}"),
      "a\tbéA|raw\\n|97|31|1000|true",
    );
    assert.equal(render("{{ print nil }}"), "<nil>");
  });
});

describe("go template actions", () => {
  it("chooses branches with if, else if and else", () => {
    const source = '{{ if eq .name "x" }}x{{ else if .enabled }}enabled{{ else }}no{{ end }}';
    assert.equal(render(source), "enabled");
    assert.equal(render(source, { name: "x" }), "x");
    assert.equal(render(source, { name: "y", enabled: false }), "no");
  });

  it("treats 0, empty strings, empty lists, nil and missing keys as false", () => {
    const data = { zero: 0, empty: "", list: [], map: {}, nothing: null };
    assert.equal(
      render("{{ if or .zero .empty .list .map .nothing .missing }}t{{ else }}f{{ end }}", data),
      "f",
    );
  });

  it("sets dot with `with` and falls back with else", () => {
    assert.equal(
      render("{{ with .nested.b }}{{ .c }}{{ end }}{{ with .missing }}x{{ else }}-{{ end }}"),
      "deep-",
    );
  });

  it("ranges over slices with index and element, over maps by sorted key, and over integers", () => {
    assert.equal(render("{{ range $i, $v := .list }}{{ $i }}{{ $v }}{{ end }}"), "0a1b2c");
    assert.equal(render("{{ range $k, $v := .nested }}{{ $k }};{{ end }}"), "a;b;");
    assert.equal(render("{{ range $v := .list }}{{ $v }}{{ end }}"), "abc");
    assert.equal(render("{{ range 3 }}{{ . }}{{ end }}"), "012");
    assert.equal(render("{{ range .missing }}x{{ else }}empty{{ end }}"), "empty");
  });

  it("stops with break and skips with continue", () => {
    assert.equal(render('{{ range .list }}{{ if eq . "b" }}{{ continue }}{{ end }}{{ . }}{{ end }}'), "ac");
    assert.equal(render('{{ range .list }}{{ if eq . "b" }}{{ break }}{{ end }}{{ . }}{{ end }}'), "a");
  });

  it("declares and assigns variables, scoped to the enclosing block", () => {
    assert.equal(render('{{ $x := "a" }}{{ if true }}{{ $x = "b" }}{{ $y := 1 }}{{ end }}{{ $x }}'), "b");
    assert.match(
      renderError("{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}").message,
      /undefined variable "\$y"/,
    );
    assert.equal(render("{{ range .list }}{{ $.name }}{{ end }}"), "GuestbookGuestbookGuestbook");
  });

  it("defines and calls templates, with no variables inherited", () => {
    assert.equal(
      render('{{ define "item" }}<{{ . }}>{{ end }}{{ range .list }}{{ template "item" . }}{{ end }}'),
      "<a><b><c>",
    );
    assert.equal(render('{{ block "b" .name }}[{{ . }}]{{ end }}'), "[Guestbook]");
  });

  it("trims whitespace with {{- and -}} and drops comments", () => {
    assert.equal(
      render("a  \n {{- .name -}} \n  b {{/* a comment */}}c {{- /* trimmed */ -}} d"),
      "aGuestbookb cd",
    );
    assert.equal(render("{{ -3 }}"), "-3");
  });

  it('stops the main template calling itself as "base" at the depth limit', () => {
    assert.equal(renderError('{{ template "base" . }}').reason, "limit");
  });

  it("stops a template that calls itself at the depth limit", () => {
    const error = renderError('{{ define "loop" }}{{ template "loop" . }}{{ end }}{{ template "loop" . }}');
    assert.equal(error.reason, "limit");
    assert.match(error.message, /exceeded maximum template depth \(100\)/);
  });

  it("stops output, steps and range iterations at their limits", () => {
    const limits = { ...DEFAULT_TEMPLATE_LIMITS, maxOutputBytes: 10, maxRangeIterations: 5 };
    const output = (() => {
      try {
        renderGoTemplate('{{ repeat 20 "x" }}', {}, { ...OPTIONS, limits });
      } catch (error) {
        return error as TemplateError;
      }
    })();
    assert.equal(output?.reason, "limit");
    const ranges = (() => {
      try {
        renderGoTemplate(
          "{{ range until 3 }}{{ range until 3 }}{{ end }}{{ end }}",
          {},
          { ...OPTIONS, limits },
        );
      } catch (error) {
        return error as TemplateError;
      }
    })();
    assert.equal(ranges?.reason, "limit");
    assert.match(ranges?.message ?? "", /range exceeded 5 iterations/);
  });
});

describe("go template built-ins", () => {
  it("compares with eq (several candidates), ne, lt, le, gt, ge", () => {
    assert.equal(
      render(
        '{{ eq .name "a" "Guestbook" }} {{ ne 1 2 }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt "b" "a" }} {{ ge 1.5 2.5 }}',
      ),
      "true true true true true false",
    );
  });

  it("refuses to compare a JSON number (float64) with an int literal, as Go does", () => {
    assert.match(
      renderError("{{ eq .port 8080 }}").message,
      /incompatible types for comparison: float64 and int/,
    );
    assert.equal(render("{{ eq .port 8080.0 }} {{ eq .missing 1 }}"), "true false");
  });

  it("short-circuits and/or and returns the deciding value", () => {
    assert.equal(
      render('{{ and .name .list }} {{ or .missing "" "z" }} {{ and 0 (fail "never") }}'),
      "[a b c] z 0",
    );
    assert.equal(render("{{ not .enabled }}"), "false");
  });

  it("indexes slices, maps and strings and measures length in bytes", () => {
    assert.equal(
      render(
        '{{ index .list 1 }} {{ index .nested "b" "c" }} {{ index .labels "x" }}| {{ index "abc" 0 }} {{ len "é" }}',
      ),
      "b deep | 97 2",
    );
    assert.match(renderError("{{ index .list 5 }}").message, /index out of range: 5/);
  });

  it("formats with printf verbs, padding and Go's error forms", () => {
    assert.equal(
      render(
        '{{ printf "%s|%5s|%-5s|%d|%05d|%x|%X|%q|%t|%v|%.2f|%e|%g|%c|%%" "a" "b" "c" 7 42 255 255 "q\\"" true .list 3.14159 1234.5 0.5 65 }}',
      ),
      'a|    b|c    |7|00042|ff|FF|"q\\""|true|[a b c]|3.14|1.234500e+03|0.5|A|%',
    );
    assert.equal(render('{{ printf "%d %s" .port }}'), "%!d(float64=8080) %!s(MISSING)");
    assert.equal(render('{{ printf "%s" 1 2 }}'), "%!s(int=1)%!(EXTRA int=2)");
  });

  it("rounds printf floats half to even on the exact value, as strconv does", () => {
    assert.equal(render('{{ printf "%.0f %.0f %.0f %.1f %.2f" 0.5 1.5 2.5 0.25 1.005 }}'), "0 2 2 0.2 1.00");
  });

  it("prints with print and println, and escapes with html, js and urlquery", () => {
    assert.equal(render('{{ print "a" 1 2 "b" }}|{{ println "x" 1 }}'), "a1 2b|x 1\n");
    assert.equal(
      render(`{{ html "<a href='x'>&" }} {{ js "it's <b>" }} {{ urlquery "a b&c/é" }}`),
      "&lt;a href=&#39;x&#39;&gt;&amp; it\\'s \\u003Cb\\u003E a+b%26c%2F%C3%A9",
    );
  });
});

describe("go template errors", () => {
  it("names an undefined function in a parse error", () => {
    const error = renderError("{{ frobnicate .name }}");
    assert.equal(error.reason, "parse");
    assert.equal(error.functionName, "frobnicate");
    assert.equal(error.message, 'template: base:1: function "frobnicate" not defined');
  });

  it("leaves out env, expandenv and getHostByName, as Argo CD does", () => {
    for (const name of ["env", "expandenv", "getHostByName"]) {
      assert.equal(renderError(`{{ ${name} "x" }}`).functionName, name);
    }
  });

  it("refuses functions whose result changes between renders, naming them", () => {
    const error = renderError('{{ now | date "2006" }}');
    assert.equal(error.reason, "unsupported");
    assert.equal(error.functionName, "now");
  });

  it("reports argument type errors as Go does", () => {
    assert.match(
      renderError("{{ lower .port }}").message,
      /wrong type for value; expected string; got float64/,
    );
    assert.match(renderError("{{ lower .missing }}").message, /invalid value; expected string/);
    assert.match(renderError('{{ trunc "3" .name }}').message, /expected integer; found "3"/);
    assert.match(
      renderError('{{ hasKey .labels "env" }}').message,
      /expected map\[string\]interface \{\}; got map\[string\]string/,
    );
    assert.match(renderError("{{ until (add 1 2) }}").message, /expected int; got int64/);
  });

  it("reports syntax errors", () => {
    assert.match(renderError("{{ .name ").message, /unclosed action/);
    assert.match(renderError("{{ if .name }}x").message, /unexpected EOF/);
    assert.match(renderError("{{ end }}").message, /unexpected \{\{end\}\}/);
    assert.match(renderError('{{ "x" | "y" }}').message, /non executable command in pipeline stage 2/);
    assert.match(renderError("{{ break }}").message, /\{\{break\}\} outside \{\{range\}\}/);
    assert.match(renderError("{{ .a b }}").message, /function "b" not defined/);
  });
});

describe("go template properties", () => {
  it("renders {{.x}} as the string x exactly, whatever it holds", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (text) => {
        assert.equal(render("{{.x}}", { x: text }), text);
        assert.equal(render("[{{ .x }}]", { x: text }), `[${text}]`);
      }),
    );
  });

  it("passes text without actions through unchanged", () => {
    fc.assert(
      fc.property(
        fc.string().filter((text) => !text.includes("{{")),
        (text) => render(text) === text,
      ),
    );
  });

  it("prints any Go integer as its decimal digits", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (value) => {
        assert.equal(render("{{ .n }}", { n: new GoInt(value, "int64") }), value.toString());
      }),
    );
  });
});
