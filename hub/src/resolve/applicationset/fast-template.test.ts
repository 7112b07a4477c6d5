import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { renderFastTemplate } from "./fast-template.js";

describe("renderFastTemplate", () => {
  it("replaces {{key}} and {{ key }} from flat string params", () => {
    const params = { name: "dev", "metadata.labels.env": "prod", "path[0]": "apps", "values.x": "1" };
    assert.equal(
      renderFastTemplate("{{name}}-{{ metadata.labels.env }}/{{path[0]}}/{{  values.x\t}}", params),
      "dev-prod/apps/1",
    );
  });

  it("keeps a tag whose key is missing, empty or not a string, exactly as written", () => {
    const params = { list: ["a"], n: 1 } as never;
    assert.equal(
      renderFastTemplate("{{ missing }}|{{}}|{{list}}|{{ n }}", params),
      "{{ missing }}|{{}}|{{list}}|{{ n }}",
    );
  });

  it("leaves a string alone unless a {{ and a later }} share a line", () => {
    assert.equal(renderFastTemplate("{{name\n}}", { name: "x" }), "{{name\n}}");
    assert.equal(renderFastTemplate("}} {{", { name: "x" }), "}} {{");
  });

  it("fails when a {{ has no }} after it", () => {
    assert.throws(() => renderFastTemplate("{{name}} {{oops", { name: "x" }), /Cannot find end tag="}}"/);
  });

  it("reads only own keys, never Object.prototype", () => {
    assert.equal(renderFastTemplate("{{constructor}}{{__proto__}}", {}), "{{constructor}}{{__proto__}}");
  });

  it("substitutes every present key and nothing else", () => {
    const key = fc.stringMatching(/^[a-zA-Z0-9_.[\]-]{1,12}$/);
    const text = fc.string().map((s) => s.replaceAll("{", "").replaceAll("}", ""));
    fc.assert(
      fc.property(
        fc.dictionary(key, text, { maxKeys: 6 }),
        fc.array(
          fc.oneof(
            text.map((t) => ({ text: t })),
            key.map((k) => ({ key: k })),
          ),
          { maxLength: 8 },
        ),
        (params, parts) => {
          const template = parts.map((p) => ("key" in p ? `{{ ${p.key} }}` : p.text)).join("");
          const expected = parts
            .map((p) =>
              "key" in p ? (Object.hasOwn(params, p.key) ? params[p.key] : `{{ ${p.key} }}`) : p.text,
            )
            .join("");
          assert.equal(renderFastTemplate(template, params), expected);
        },
      ),
    );
  });
});
