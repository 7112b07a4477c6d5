// Argo CD's default template mode (`goTemplate: false`): valyala/fasttemplate with `{{` and `}}`.
// Each tag is trimmed and looked up as a flat key ("metadata.labels.env", "path[0]", "values.x");
// only string values substitute, and a tag with no string value stays in the output as written.

import { type GoMap, getKey, quoteGoString } from "./go-value.js";

// Go's `.*{{.*}}.*` without the s flag: a "{{" and a later "}}" on one line.
const TEMPLATED = /\{\{[^\n]*\}\}/;
const GO_SPACE =
  /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/gu;

/** Renders one string; throws when a "{{" has no "}}" after it (fasttemplate's parse error). */
export function renderFastTemplate(text: string, params: GoMap): string {
  if (!TEMPLATED.test(text)) return text;
  let out = "";
  let rest = text;
  while (true) {
    const open = rest.indexOf("{{");
    if (open < 0) break;
    out += rest.slice(0, open);
    const afterOpen = rest.slice(open + 2);
    const close = afterOpen.indexOf("}}");
    if (close < 0) {
      throw new Error(
        `invalid template: Cannot find end tag="}}" in the template=${quoteGoString(text)} starting from ${quoteGoString(afterOpen)}`,
      );
    }
    const tag = afterOpen.slice(0, close);
    const key = tag.replace(GO_SPACE, "");
    const value = key === "" ? undefined : getKey(params, key);
    out += typeof value === "string" ? value : `{{${tag}}}`;
    rest = afterOpen.slice(close + 2);
  }
  return out + rest;
}
