// The list generator (argo-cd applicationset/generators/list.go): one param set per element, then
// one per entry of `elementsYaml`.

import { GeneratorError } from "./generator-context.js";
import { cloneGoValue, type GoValue, isGoMap, putKey } from "./go-value.js";
import { parseYamlLikeGo } from "./go-yaml.js";
import type { ParamSet } from "./param-set.js";

function describe(value: unknown): string {
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return "number";
  if (typeof value === "boolean") return "bool";
  if (typeof value === "string") return "string";
  return "object";
}

/**
 * goTemplate: each element as it is (nested values allowed). fasttemplate: every value must be a
 * string, and `values: {k: v}` becomes `values.k`. `elementsYaml` entries are appended as parsed,
 * in both modes. An element that is null yields an empty param set, as in Argo CD.
 */
export function generateListParams(spec: Record<string, unknown>, goTemplate: boolean): ParamSet[] {
  const elements = spec.elements ?? [];
  if (!Array.isArray(elements)) throw new GeneratorError("elements must be a list", "invalid");
  const result: ParamSet[] = elements.map((element, i) => {
    if (element === null || element === undefined) return {};
    if (!isGoMap(element as GoValue)) {
      throw new GeneratorError(
        `error unmarshling list element ${i}: json: cannot unmarshal ${describe(element)} into Go value of type map[string]interface {}`,
        "invalid",
      );
    }
    if (goTemplate) return cloneGoValue(element as GoValue) as ParamSet;
    const params: ParamSet = {};
    for (const [key, value] of Object.entries(element as Record<string, unknown>)) {
      if (key === "values") {
        if (!isGoMap(value as GoValue))
          throw new GeneratorError(`element ${i}: error parsing values map`, "invalid");
        for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
          if (typeof v !== "string") {
            throw new GeneratorError(
              `element ${i}: error parsing value as string: values.${k} is a ${describe(v)}`,
              "invalid",
            );
          }
          putKey(params, `values.${k}`, v);
        }
      } else {
        if (typeof value !== "string") {
          throw new GeneratorError(
            `element ${i}: error parsing value as string: ${key} is a ${describe(value)}`,
            "invalid",
          );
        }
        putKey(params, key, value);
      }
    }
    return params;
  });
  const elementsYaml = spec.elementsYaml;
  if (typeof elementsYaml === "string" && elementsYaml !== "") {
    let parsed: GoValue;
    try {
      parsed = parseYamlLikeGo(elementsYaml);
    } catch (error) {
      throw new GeneratorError(
        `error unmarshling decoded ElementsYaml: ${(error as Error).message}`,
        "invalid",
      );
    }
    if (parsed !== null && !Array.isArray(parsed)) {
      throw new GeneratorError(
        `error unmarshling decoded ElementsYaml: cannot unmarshal ${describe(parsed)} into Go value of type []map[string]interface {}`,
        "invalid",
      );
    }
    for (const item of parsed ?? []) {
      if (item !== null && !isGoMap(item)) {
        throw new GeneratorError(
          `error unmarshling decoded ElementsYaml: cannot unmarshal ${describe(item)} into Go value of type map[string]interface {}`,
          "invalid",
        );
      }
      result.push(item === null ? {} : item);
    }
  } else if (elementsYaml !== undefined && elementsYaml !== null && typeof elementsYaml !== "string") {
    throw new GeneratorError("elementsYaml must be a string", "invalid");
  }
  return result;
}
