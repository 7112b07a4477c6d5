// Argo CD's Render.Replace and deeplyReplace: every string of a template (and every map key) is
// rendered on its own with the ApplicationSet's engine, fasttemplate or Go text/template + Sprig.

import { renderFastTemplate } from "./fast-template.js";
import {
  DEFAULT_TEMPLATE_LIMITS,
  type MissingKeyMode,
  renderGoTemplate,
  type TemplateLimits,
} from "./go-template.js";
import { type GoValue, isGoMap } from "./go-value.js";
import type { ParamSet } from "./param-set.js";
import { TemplateError } from "./template-error.js";
import { TEMPLATE_FUNCTIONS, UNSUPPORTED_FUNCTIONS } from "./template-functions.js";

export type TemplateEngine = {
  goTemplate: boolean;
  missingKey: MissingKeyMode;
  limits: TemplateLimits;
};

const MISSING_KEY_OPTIONS: Record<string, MissingKeyMode> = {
  "missingkey=default": "default",
  "missingkey=invalid": "default",
  "missingkey=zero": "zero",
  "missingkey=error": "error",
};

/** The engine an ApplicationSet asks for; throws on an option Go's text/template does not know. */
export function selectTemplateEngine(
  goTemplate: boolean,
  goTemplateOptions: readonly string[],
  limits: TemplateLimits = DEFAULT_TEMPLATE_LIMITS,
): TemplateEngine {
  let missingKey: MissingKeyMode = "default";
  for (const option of goTemplateOptions) {
    const mode = MISSING_KEY_OPTIONS[option];
    if (!mode) throw new Error(`unrecognized goTemplateOptions entry ${JSON.stringify(option)}`);
    missingKey = mode;
  }
  return { goTemplate, missingKey, limits };
}

const MAX_QUOTED_TEMPLATE_CHARS = 200;

/**
 * Render.Replace: one string. Throws TemplateError (goTemplate) or Error (fasttemplate) whose
 * message quotes the template, as Argo CD's does.
 */
export function replaceTemplate(text: string, params: ParamSet, engine: TemplateEngine): string {
  if (!engine.goTemplate) return renderFastTemplate(text, params);
  try {
    return renderGoTemplate(text, params, {
      functions: TEMPLATE_FUNCTIONS,
      unsupported: UNSUPPORTED_FUNCTIONS,
      missingKey: engine.missingKey,
      limits: engine.limits,
    });
  } catch (error) {
    if (!(error instanceof TemplateError)) throw error;
    const quoted =
      text.length > MAX_QUOTED_TEMPLATE_CHARS ? `${text.slice(0, MAX_QUOTED_TEMPLATE_CHARS)}...` : text;
    const stage = error.reason === "parse" ? "failed to parse template" : "failed to execute go template";
    throw new TemplateError(`${stage} ${quoted}: ${error.message}`, error.reason, error.functionName);
  }
}

/**
 * deeplyReplace over JSON: strings and map keys are rendered, other scalars are kept, and a map
 * entry whose value is null is dropped (Argo skips nil map values). Returns a new value, except
 * that a part of the template holding no `{{` (in any string or key) and no null map value
 * renders to itself, and is shared by every value rendered from that template: never change a
 * rendered value in place.
 */
export function renderTemplateValue(value: unknown, params: ParamSet, engine: TemplateEngine): unknown {
  if (typeof value === "string") return replaceTemplate(value, params, engine);
  if (typeof value !== "object" || value === null || isConstant(value)) return value;
  if (Array.isArray(value)) {
    const out: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) out[i] = renderTemplateValue(value[i], params, engine);
    return out;
  }
  if (isGoMap(value as GoValue)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      const item = (value as Record<string, unknown>)[key];
      if (item === null || item === undefined) continue;
      const renderedKey = replaceTemplate(key, params, engine);
      const rendered = renderTemplateValue(item, params, engine);
      // A rendered key may be "__proto__": define it as data, never as the prototype.
      if (renderedKey === "__proto__") {
        Object.defineProperty(out, renderedKey, {
          value: rendered,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else out[renderedKey] = rendered;
    }
    return out;
  }
  return value;
}

/** Whether a template part renders to itself, by identity: templates are rendered once per param set. */
const constantParts = new WeakMap<object, boolean>();

function isConstant(value: object): boolean {
  let known = constantParts.get(value);
  if (known === undefined) {
    known = Array.isArray(value)
      ? value.every(isConstantItem)
      : isGoMap(value as GoValue) &&
        Object.keys(value).every(
          (key) => !key.includes("{{") && isConstantField((value as Record<string, unknown>)[key]),
        );
    constantParts.set(value, known);
  }
  return known;
}

function isConstantItem(item: unknown): boolean {
  if (typeof item === "string") return !item.includes("{{");
  if (typeof item === "object" && item !== null) return isConstant(item);
  return item !== undefined;
}

function isConstantField(item: unknown): boolean {
  return item !== null && item !== undefined && isConstantItem(item);
}
