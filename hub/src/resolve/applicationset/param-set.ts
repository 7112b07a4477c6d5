// Parameter sets: what a generator produces for one application. In fasttemplate mode every value
// is a string under a flat key ("path[0]", "metadata.labels.env"); in goTemplate mode values nest.

import {
  cloneGoValue,
  formatGoValue,
  type GoMap,
  type GoValue,
  getKey,
  isGoMap,
  isStringSlice,
  putKey,
} from "./go-value.js";

export type ParamSet = GoMap;

/**
 * Flattens a param set the way Argo CD does before matching a generator's `selector`
 * (jeremywohl/flatten with dots): nested maps and []interface{} recurse, []string is one value,
 * and every leaf is printed with Go's %v.
 */
export function flattenParams(params: ParamSet): Record<string, string> {
  const flat: Record<string, string> = {};
  const visit = (value: GoValue, key: string, top: boolean) => {
    const join = (sub: string) => (top ? sub : `${key}.${sub}`);
    if (isGoMap(value)) {
      for (const sub of Object.keys(value)) visit(value[sub], join(sub), false);
    } else if (Array.isArray(value) && !isStringSlice(value)) {
      value.forEach((item, i) => {
        visit(item, join(String(i)), false);
      });
    } else if (!top) {
      Object.defineProperty(flat, key, { value: formatGoValue(value), enumerable: true, writable: true });
    }
  };
  visit(params, "", true);
  return flat;
}

/** mergo.Merge(&dst, src, mergo.WithOverride) on param sets: maps merge key by key, src wins. */
export function mergeParamsOverride(dst: ParamSet, src: ParamSet): ParamSet {
  const out = cloneGoValue(dst) as ParamSet;
  mergeInto(out, src);
  return out;
}

function mergeInto(dst: GoMap, src: GoMap): void {
  for (const key of Object.keys(src)) {
    const from = src[key];
    const to = getKey(dst, key);
    if (isGoMap(from) && isGoMap(to)) mergeInto(to, from);
    else putKey(dst, key, cloneGoValue(from));
  }
}

/** utils.CombineStringMaps: the union of two flat param sets; a key with two different values is an error. */
export function combineStringParams(a: ParamSet, b: ParamSet): ParamSet {
  const out: ParamSet = {};
  for (const key of Object.keys(a)) putKey(out, key, formatGoValue(a[key]));
  for (const key of Object.keys(b)) {
    const value = formatGoValue(b[key]);
    const current = getKey(out, key);
    if (current !== undefined && current !== value) {
      throw new Error(`found duplicate key ${key} with different value, a: ${current} ,b: ${value}`);
    }
    putKey(out, key, value);
  }
  return out;
}
