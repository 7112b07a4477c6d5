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
 * entry whose value is null is dropped (Argo skips nil map values). Returns a new value.
 */
export function renderTemplateValue(value: unknown, params: ParamSet, engine: TemplateEngine): unknown {
  if (typeof value === "string") return replaceTemplate(value, params, engine);
  if (Array.isArray(value)) return value.map((item) => renderTemplateValue(item, params, engine));
  if (isGoMap(value as GoValue)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      if (item === null || item === undefined) continue;
      const renderedKey = replaceTemplate(key, params, engine);
      Object.defineProperty(out, renderedKey, {
        value: renderTemplateValue(item, params, engine),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}
