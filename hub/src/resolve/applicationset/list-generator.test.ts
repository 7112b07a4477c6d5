import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GeneratorError } from "./generator-context.js";
import { generateListParams } from "./list-generator.js";

describe("generateListParams", () => {
  it("uses goTemplate elements as they are, nested values included", () => {
    const elements = [{ cluster: "dev", config: { replicas: 2, tags: ["a"] } }];
    assert.deepEqual(generateListParams({ elements }, true), elements);
  });

  it("flattens `values` to values.<key> in fasttemplate mode", () => {
    assert.deepEqual(
      generateListParams({ elements: [{ cluster: "dev", values: { project: "p" } }] }, false),
      [{ cluster: "dev", "values.project": "p" }],
    );
  });

  it("refuses non-string values in fasttemplate mode", () => {
    assert.throws(
      () => generateListParams({ elements: [{ replicas: 2 }] }, false),
      (error: unknown) => {
        assert.ok(error instanceof GeneratorError);
        assert.equal(error.kind, "invalid");
        assert.match(error.message, /error parsing value as string: replicas/);
        return true;
      },
    );
  });

  it("appends elementsYaml entries after the elements, unflattened, in both modes", () => {
    const spec = { elements: [{ a: "1" }], elementsYaml: "- name: x\n  count: 2\n- name: z\n" };
    assert.deepEqual(generateListParams(spec, false), [{ a: "1" }, { name: "x", count: 2 }, { name: "z" }]);
  });

  it("gives an empty param set for a null element and fails for a scalar one", () => {
    assert.deepEqual(generateListParams({ elements: [null] }, true), [{}]);
    assert.throws(() => generateListParams({ elements: ["x"] }, true), /cannot unmarshal string/);
    assert.throws(() => generateListParams({ elementsYaml: "a: b" }, true), /ElementsYaml/);
  });
});
