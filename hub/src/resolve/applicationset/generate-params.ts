// From one entry of `spec.generators` to param sets and the template to render them with
// (argo-cd applicationset/generators/generator_spec_processor.go Transform, matrix.go, merge.go):
// run the generator, filter by its `selector`, and merge its own `template` over the
// ApplicationSet's. Matrix and merge combine the param sets of their children.

import { generateClusterParams } from "./clusters-generator.js";
import { classifyError, type GeneratorContext, GeneratorError, wrapError } from "./generator-context.js";
import { generateGitParams } from "./git-generator.js";
import { encodeGoJson, type GoValue, getKey } from "./go-value.js";
import { compileLabelSelector, type LabelMatcher } from "./label-selector.js";
import { generateListParams } from "./list-generator.js";
import { combineStringParams, flattenParams, mergeParamsOverride, type ParamSet } from "./param-set.js";
import { renderTemplateValue, replaceTemplate, type TemplateEngine } from "./render-template.js";

export type JsonObject = Record<string, unknown>;

/** The param sets one generator produced and the template they are rendered with. */
export type TransformResult = { params: ParamSet[]; template: JsonObject };

/** Generator kinds in the order Argo CD's ApplicationSetGenerator struct declares them. */
const GENERATOR_KINDS = [
  "list",
  "clusters",
  "git",
  "scmProvider",
  "clusterDecisionResource",
  "pullRequest",
  "matrix",
  "merge",
  "plugin",
] as const;
type GeneratorKind = (typeof GENERATOR_KINDS)[number];

const UNSUPPORTED_KINDS: Partial<Record<GeneratorKind, string>> = {
  scmProvider: "it queries an SCM provider's API",
  clusterDecisionResource: "it reads a duck-typed resource from a live cluster",
  pullRequest: "it queries an SCM provider's pull requests",
  plugin: "it calls a plugin service over HTTP",
};

// Template fields mergo treats as one opaque value (runtime.RawExtension) rather than a map.
const OPAQUE_TEMPLATE_FIELDS = new Set(["valuesObject"]);

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** mergo's isEmptyValue on JSON: "", 0, false, null, [] and {} are empty. */
function isEmptyJson(value: unknown): boolean {
  if (value === undefined || value === null || value === "" || value === 0 || value === false) return true;
  if (Array.isArray(value)) return value.length === 0;
  return isObject(value) && Object.keys(value).length === 0;
}

/**
 * mergo.Merge(generatorTemplate, appSetTemplate): the generator's template wins; every field it
 * leaves empty (including false and 0) is filled from the ApplicationSet's, maps key by key.
 */
export function mergeTemplates(generatorTemplate: unknown, appSetTemplate: unknown, key = ""): unknown {
  if (isEmptyJson(generatorTemplate)) return structuredClone(appSetTemplate);
  if (OPAQUE_TEMPLATE_FIELDS.has(key)) return generatorTemplate;
  if (isObject(generatorTemplate) && isObject(appSetTemplate)) {
    const out: JsonObject = { ...generatorTemplate };
    for (const [k, value] of Object.entries(appSetTemplate)) {
      out[k] = mergeTemplates(generatorTemplate[k], value, k);
    }
    return out;
  }
  return generatorTemplate;
}

function listGeneratorKinds(generator: JsonObject): GeneratorKind[] {
  return GENERATOR_KINDS.filter((kind) => generator[kind] !== undefined && generator[kind] !== null);
}

/**
 * RenderGeneratorParams: the second child of a matrix, rendered with a param set of the first.
 * `values` of typed generators are pre-resolved leniently: a value that needs a key the params lack
 * stays as written, to be rendered later against the child's own params.
 */
function interpolateGenerator(generator: JsonObject, params: ParamSet, engine: TemplateEngine): JsonObject {
  const out: JsonObject = {};
  const strict: TemplateEngine = { ...engine, missingKey: "error" };
  for (const [key, value] of Object.entries(generator)) {
    const typedWithValues = (key === "clusters" || key === "git" || key === "plugin") && isObject(value);
    if (!typedWithValues || !isObject(value.values)) {
      if (value !== null && value !== undefined) out[key] = renderTemplateValue(value, params, engine);
      continue;
    }
    const { values, ...rest } = value as JsonObject & { values: JsonObject };
    const rendered = renderTemplateValue(rest, params, engine) as JsonObject;
    const resolved: JsonObject = {};
    for (const [name, template] of Object.entries(values)) {
      if (typeof template !== "string") {
        resolved[name] = template;
        continue;
      }
      try {
        resolved[name] = replaceTemplate(template, params, engine.goTemplate ? strict : engine);
      } catch (error) {
        const message = (error as Error).message;
        if (/map has no entry for key|can't evaluate field|nil data; no entry for key/.test(message)) {
          resolved[name] = template;
        } else {
          throw wrapError(`failed to pre-resolve Values key ${JSON.stringify(name)}`, error);
        }
      }
    }
    out[key] = { ...rendered, values: resolved };
  }
  return out;
}

/** Generates one entry of `spec.generators` (or a matrix/merge child). Throws GeneratorError. */
export async function transformGenerator(
  generator: unknown,
  baseTemplate: JsonObject,
  context: GeneratorContext,
  options: { level: number; params?: ParamSet },
): Promise<TransformResult[]> {
  if (!isObject(generator)) throw new GeneratorError("a generator must be an object", "invalid");
  let matcher: LabelMatcher | undefined;
  if (generator.selector !== undefined && generator.selector !== null) {
    try {
      matcher = compileLabelSelector(generator.selector, { validateValues: false });
    } catch (error) {
      throw new GeneratorError(`error parsing label selector: ${(error as Error).message}`, "invalid");
    }
  }
  const results: TransformResult[] = [];
  for (const kind of listGeneratorKinds(generator)) {
    const spec = generator[kind];
    if (!isObject(spec)) throw new GeneratorError(`${kind} must be an object`, "invalid");
    const template = mergeTemplates(spec.template ?? {}, baseTemplate) as JsonObject;
    let effective = generator;
    if (options.params && Object.keys(options.params).length > 0) {
      try {
        effective = interpolateGenerator(generator, options.params, context.engine);
      } catch (error) {
        throw wrapError(`${kind}: failed to replace parameters in generator`, error);
      }
    }
    let params: ParamSet[];
    try {
      params = await runGenerator(kind, effective[kind] as JsonObject, context, options.level);
    } catch (error) {
      throw wrapError(kind, error);
    }
    if (matcher) {
      const match = matcher;
      params = params.filter((set) => match(flattenParams(set)));
    }
    results.push({ params, template });
  }
  return results;
}

async function runGenerator(
  kind: GeneratorKind,
  spec: JsonObject,
  context: GeneratorContext,
  level: number,
): Promise<ParamSet[]> {
  if (!isObject(spec)) throw new GeneratorError("must be an object", "invalid");
  const unsupported = UNSUPPORTED_KINDS[kind];
  if (unsupported)
    throw new GeneratorError(`the ${kind} generator is not supported: ${unsupported}`, "unsupported");
  let params: ParamSet[];
  switch (kind) {
    case "list":
      params = generateListParams(spec, context.engine.goTemplate);
      break;
    case "clusters":
      params = generateClusterParams(spec, context);
      break;
    case "git":
      params = await generateGitParams(spec, context);
      break;
    case "matrix":
    case "merge":
      if (level >= 2) {
        throw new GeneratorError(
          `a ${kind} nested inside a nested matrix or merge is not supported (one level of nesting only)`,
          "invalid",
        );
      }
      params =
        kind === "matrix"
          ? await generateMatrixParams(spec, context, level)
          : await generateMergeParams(spec, context, level);
      break;
    default:
      throw new GeneratorError(`unknown generator ${kind}`, "invalid");
  }
  checkParamCount(params.length, context);
  return params;
}

function checkParamCount(count: number, context: GeneratorContext): void {
  if (count > context.limits.maxParamSets) {
    throw new GeneratorError(
      `generated ${count} param sets, over the limit of ${context.limits.maxParamSets}`,
      "limit",
    );
  }
}

function readChildGenerators(spec: JsonObject): unknown[] {
  const generators = spec.generators ?? [];
  if (!Array.isArray(generators)) throw new GeneratorError("generators must be a list", "invalid");
  return generators;
}

/** A matrix or merge child's params; its own template is ignored. */
async function generateChildParams(
  child: unknown,
  index: number,
  context: GeneratorContext,
  level: number,
  params?: ParamSet,
): Promise<ParamSet[]> {
  let results: TransformResult[];
  try {
    results = await transformGenerator(child, {}, context, { level: level + 1, params });
  } catch (error) {
    throw wrapError(`generators[${index}]: child generator returned an error on parameter generation`, error);
  }
  if (results.length === 0)
    throw new GeneratorError(`generators[${index}]: child generator generated no parameters`, "invalid");
  if (results.length > 1)
    throw new GeneratorError(
      `generators[${index}]: found more than one generator in matrix.Generators`,
      "invalid",
    );
  return results[0]?.params ?? [];
}

/**
 * Exactly two children; the second is re-rendered with each param set of the first. goTemplate:
 * the two sets are deep-merged with the first winning; fasttemplate: their union, where one key
 * with two different values is an error.
 */
async function generateMatrixParams(
  spec: JsonObject,
  context: GeneratorContext,
  level: number,
): Promise<ParamSet[]> {
  const generators = readChildGenerators(spec);
  if (generators.length < 2)
    throw new GeneratorError("found less than two generators, Matrix support only two", "invalid");
  if (generators.length > 2)
    throw new GeneratorError("found more than two generators, Matrix support only two", "invalid");
  const first = await generateChildParams(generators[0], 0, context, level);
  const result: ParamSet[] = [];
  for (const a of first) {
    const second = await generateChildParams(generators[1], 1, context, level, a);
    for (const b of second) {
      if (context.engine.goTemplate) result.push(mergeParamsOverride(mergeParamsOverride({}, b), a));
      else {
        try {
          result.push(combineStringParams(a, b));
        } catch (error) {
          throw new GeneratorError(
            `failed to combine string maps with merging params for the matrix generator: ${(error as Error).message}`,
            "invalid",
          );
        }
      }
      checkParamCount(result.length, context);
    }
  }
  return result;
}

function encodeMergeKey(params: ParamSet, keys: string[]): string {
  const key: Record<string, GoValue> = {};
  for (const name of keys) key[name] = getKey(params, name) ?? null;
  return encodeGoJson(key, { escapeHTML: true });
}

function indexByMergeKey(sets: ParamSet[], keys: string[]): Map<string, ParamSet> {
  const byKey = new Map<string, ParamSet>();
  for (const set of sets) {
    const key = encodeMergeKey(set, keys);
    if (byKey.has(key)) {
      throw new GeneratorError(
        `the parameters from a generator were not unique by the given mergeKeys, Merge requires all param sets to be unique. Duplicate key was ${key}`,
        "invalid",
      );
    }
    byKey.set(key, set);
  }
  return byKey;
}

/**
 * Two or more children and `mergeKeys`. The first child's sets are the base, in their order; a
 * later child's set with the same merge key values is merged over the base set (deep in
 * goTemplate, key by key in fasttemplate); later sets with no base set are dropped.
 */
async function generateMergeParams(
  spec: JsonObject,
  context: GeneratorContext,
  level: number,
): Promise<ParamSet[]> {
  const generators = readChildGenerators(spec);
  if (generators.length < 2)
    throw new GeneratorError("found less than two generators, Merge requires two or more", "invalid");
  const sets: ParamSet[][] = [];
  for (const [i, child] of generators.entries()) {
    try {
      sets.push(await generateChildParams(child, i, context, level));
    } catch (error) {
      throw new GeneratorError(
        `error getting params from generator ${i + 1} of ${generators.length}: ${(error as Error).message}`,
        classifyError(error),
        {
          cause: error,
        },
      );
    }
  }
  const mergeKeys = spec.mergeKeys ?? [];
  if (!Array.isArray(mergeKeys) || mergeKeys.some((key) => typeof key !== "string")) {
    throw new GeneratorError("mergeKeys must be a list of strings", "invalid");
  }
  if (mergeKeys.length === 0)
    throw new GeneratorError("no merge keys were specified, Merge requires at least one", "invalid");
  const keys = [...new Set(mergeKeys as string[])];
  const [base = [], ...others] = sets;
  const merged = new Map(indexByMergeKey(base, keys));
  for (const other of others) {
    const overrides = indexByMergeKey(other, keys);
    for (const [key, set] of merged) {
      const override = overrides.get(key);
      if (!override) continue;
      merged.set(
        key,
        context.engine.goTemplate ? mergeParamsOverride(set, override) : { ...set, ...override },
      );
    }
  }
  return [...merged.values()];
}
