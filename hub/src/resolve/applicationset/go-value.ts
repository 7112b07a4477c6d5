// Go values as Argo CD's ApplicationSet templates see them, in plain JavaScript.
//
// JSON and YAML data decode to the same shapes Go's encoding/json gives an `interface{}`: strings,
// booleans, float64 numbers (a JavaScript number), nil (null), []interface{} (an array) and
// map[string]interface{} (a plain object). Go integers, which only template literals and functions
// produce, are GoInt. `undefined` is Go's invalid reflect.Value: a key that is missing from a map.
// A few Go container types that behave differently (map[string]string is refused where
// map[string]interface{} is expected; []string is a leaf when params are flattened) carry a type tag.

export type GoIntType = "int" | "int64" | "uint8";

/** A Go integer (int, int64 or a byte), kept apart from float64 as Go keeps it. */
export class GoInt {
  constructor(
    readonly value: bigint,
    readonly type: GoIntType = "int",
  ) {}
}

export type GoMap = { [key: string]: GoValue };
export type GoValue = undefined | null | string | boolean | number | GoInt | GoValue[] | GoMap;

export type GoContainerType = "map[string]string" | "[]string" | "[]int";

const containerTypes = new WeakMap<object, GoContainerType>();

/** Marks a map or slice with its Go type; returns it. */
export function tagGoType<T extends GoMap | GoValue[]>(value: T, type: GoContainerType): T {
  containerTypes.set(value, type);
  return value;
}

export function isGoMap(value: GoValue): value is GoMap {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof GoInt);
}

export function isStringMap(value: GoValue): boolean {
  return isGoMap(value) && containerTypes.get(value) === "map[string]string";
}

export function isStringSlice(value: GoValue): boolean {
  return Array.isArray(value) && containerTypes.get(value) === "[]string";
}

/** Go's `%T`: the dynamic type name of a value. */
export function describeGoType(value: GoValue): string {
  if (value === undefined || value === null) return "<nil>";
  if (typeof value === "string") return "string";
  if (typeof value === "boolean") return "bool";
  if (typeof value === "number") return "float64";
  if (value instanceof GoInt) return value.type;
  if (Array.isArray(value)) return containerTypes.get(value) ?? "[]interface {}";
  return containerTypes.get(value) ?? "map[string]interface {}";
}

/** Go's reflect Kind name, as Sprig's kindOf reports it. */
export function describeGoKind(value: GoValue): string {
  if (value === undefined || value === null) return "invalid";
  if (typeof value === "string") return "string";
  if (typeof value === "boolean") return "bool";
  if (typeof value === "number") return "float64";
  if (value instanceof GoInt) return value.type;
  return Array.isArray(value) ? "slice" : "map";
}

/** Reads a map entry without ever reaching Object.prototype. */
export function getKey(map: GoMap, key: string): GoValue {
  return Object.hasOwn(map, key) ? map[key] : undefined;
}

/** Sets a map entry; `__proto__` becomes an ordinary key, as in a Go map. */
export function putKey(map: GoMap, key: string, value: GoValue): void {
  if (key === "__proto__") {
    Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    map[key] = value;
  }
}

/** Go string order: by UTF-8 bytes, which is code point order. */
export function compareGoStrings(a: string, b: string): number {
  if (a === b) return 0;
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.codePointAt(i) ?? 0;
    const y = b.codePointAt(i) ?? 0;
    if (x !== y) return x < y ? -1 : 1;
    if (x > 0xffff) i++;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

export function sortKeys(map: GoMap): string[] {
  return Object.keys(map).sort(compareGoStrings);
}

/** Go's template truth: false, 0, nil and empty strings, slices and maps are false. */
export function isTruthy(value: GoValue): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === "string") return value.length > 0;
  if (typeof value === "boolean") return value;
  if (typeof value === "number") return value !== 0;
  if (value instanceof GoInt) return value.value !== 0n;
  if (Array.isArray(value)) return value.length > 0;
  return Object.keys(value).length > 0;
}

/** Copies maps and slices (keeping their Go types); scalars are shared. */
export function cloneGoValue(value: GoValue): GoValue {
  if (Array.isArray(value)) {
    const copy = value.map(cloneGoValue);
    const type = containerTypes.get(value);
    return type ? tagGoType(copy, type) : copy;
  }
  if (isGoMap(value)) {
    const copy: GoMap = {};
    for (const key of Object.keys(value)) putKey(copy, key, cloneGoValue(value[key]));
    const type = containerTypes.get(value);
    return type ? tagGoType(copy, type) : copy;
  }
  return value;
}

/** reflect.DeepEqual: equal types and equal contents. */
export function isDeepEqual(a: GoValue, b: GoValue): boolean {
  if (a === b) return true;
  if (describeGoType(a) !== describeGoType(b)) return false;
  if (a instanceof GoInt && b instanceof GoInt) return a.value === b.value;
  if (typeof a === "number" && typeof b === "number") return a === b;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => isDeepEqual(item, b[i]));
  }
  if (isGoMap(a) && isGoMap(b)) {
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length &&
      keys.every((key) => Object.hasOwn(b, key) && isDeepEqual(a[key], b[key]))
    );
  }
  return false;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: false });

export function encodeUtf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

export function countUtf8Bytes(text: string): number {
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) length += 1;
    else if (code < 0x800) length += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      length += 4;
      i++;
    } else length += 3;
  }
  return length;
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Go's s[start:end] on the UTF-8 bytes; a cut through a character decodes as U+FFFD, as Go's JSON does. */
export function sliceUtf8(text: string, start: number, end?: number): string {
  if (isAscii(text)) return text.slice(start, end);
  return utf8Decoder.decode(encodeUtf8(text).slice(start, end));
}

// ---- Printing (fmt's %v) ----

/** fmt.Sprint of one value, as `{{ . }}` prints it (a top-level nil prints "<no value>" elsewhere). */
export function formatGoValue(value: GoValue): string {
  if (value === undefined || value === null) return "<nil>";
  if (typeof value === "string") return value;
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return formatFloat(value, "g", -1);
  if (value instanceof GoInt) return value.value.toString();
  if (Array.isArray(value)) return `[${value.map(formatGoValue).join(" ")}]`;
  return `map[${sortKeys(value)
    .map((key) => `${key}:${formatGoValue(value[key])}`)
    .join(" ")}]`;
}

type Digits = { negative: boolean; digits: string; point: number };

/** The exact decimal expansion of a finite double: value = 0.digits × 10^point. */
function exactDigits(value: number): Digits {
  const negative = value < 0 || Object.is(value, -0);
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, Math.abs(value));
  const bits = view.getBigUint64(0);
  const exponentBits = Number((bits >> 52n) & 0x7ffn);
  let mantissa = bits & 0xfffffffffffffn;
  let exponent: number;
  if (exponentBits === 0) exponent = -1074;
  else {
    mantissa |= 1n << 52n;
    exponent = exponentBits - 1075;
  }
  if (mantissa === 0n) return { negative, digits: "", point: 0 };
  let text: string;
  let fraction = 0;
  if (exponent >= 0) text = (mantissa << BigInt(exponent)).toString();
  else {
    fraction = -exponent;
    text = (mantissa * 5n ** BigInt(fraction)).toString();
  }
  const trimmed = text.replace(/0+$/, "");
  return { negative, digits: trimmed.replace(/^0+/, ""), point: text.length - fraction };
}

/** Rounds to `count` significant digits, half to even on the exact value (as strconv does). */
function roundDigits(d: Digits, count: number): Digits {
  if (count < 0) return { ...d, digits: "" };
  if (d.digits.length <= count) return d;
  const kept = d.digits.slice(0, count);
  const rest = d.digits.slice(count);
  const first = rest.charCodeAt(0) - 48;
  const exactHalf = first === 5 && /^50*$/.test(rest);
  const lastKept = count > 0 ? kept.charCodeAt(count - 1) - 48 : 0;
  const roundUp = first > 5 || (first === 5 && (!exactHalf || lastKept % 2 === 1));
  if (!roundUp) return { ...d, digits: kept.replace(/0+$/, "") };
  if (kept === "") return { ...d, digits: "1", point: d.point + 1 };
  const bumped = (BigInt(kept) + 1n).toString();
  const point = bumped.length > kept.length ? d.point + 1 : d.point;
  return { ...d, digits: bumped.replace(/0+$/, ""), point };
}

function shortestDigits(value: number): Digits {
  const negative = value < 0 || Object.is(value, -0);
  if (value === 0) return { negative, digits: "", point: 0 };
  const [mantissa = "", exponent = "0"] = Math.abs(value).toExponential().split("e");
  return { negative, digits: mantissa.replace(".", "").replace(/0+$/, ""), point: Number(exponent) + 1 };
}

function formatE(d: Digits, precision: number, upper: boolean): string {
  let out = d.negative ? "-" : "";
  out += d.digits[0] ?? "0";
  if (precision > 0) out += `.${d.digits.slice(1, precision + 1).padEnd(precision, "0")}`;
  const exponent = d.digits.length === 0 ? 0 : d.point - 1;
  const magnitude = Math.abs(exponent).toString().padStart(2, "0");
  return `${out}${upper ? "E" : "e"}${exponent < 0 ? "-" : "+"}${magnitude}`;
}

function formatF(d: Digits, precision: number): string {
  let out = d.negative ? "-" : "";
  if (d.point > 0) out += d.digits.slice(0, d.point).padEnd(d.point, "0");
  else out += "0";
  if (precision > 0) {
    out += ".";
    for (let i = 1; i <= precision; i++) {
      const j = d.point + i - 1;
      out += j >= 0 && j < d.digits.length ? d.digits[j] : "0";
    }
  }
  return out;
}

/** strconv.FormatFloat(value, verb, precision, 64); precision -1 means the shortest exact form. */
export function formatFloat(value: number, verb: "e" | "E" | "f" | "g" | "G", precision: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  const shortest = precision < 0;
  let d: Digits;
  let prec = precision;
  if (shortest) {
    d = shortestDigits(value);
    if (verb === "e" || verb === "E") prec = Math.max(d.digits.length - 1, 0);
    else if (verb === "f") prec = Math.max(d.digits.length - d.point, 0);
    else prec = d.digits.length;
  } else {
    const exact = exactDigits(value);
    if (verb === "e" || verb === "E") d = roundDigits(exact, prec + 1);
    else if (verb === "f") d = roundDigits(exact, exact.point + prec);
    else {
      if (prec === 0) prec = 1;
      d = roundDigits(exact, prec);
    }
  }
  if (verb === "e" || verb === "E") return formatE(d, prec, verb === "E");
  if (verb === "f") return formatF(d, prec);
  let eprec = prec;
  if (eprec > d.digits.length && d.digits.length >= d.point) eprec = d.digits.length;
  if (shortest) eprec = 6;
  const exponent = d.point - 1;
  if (exponent < -4 || exponent >= eprec) {
    if (prec > d.digits.length) prec = d.digits.length;
    return formatE(d, prec - 1, verb === "G");
  }
  if (prec > d.point) prec = d.digits.length;
  return formatF(d, Math.max(prec - d.point, 0));
}

// ---- JSON (encoding/json) ----

export type JsonOptions = { escapeHTML: boolean; indent?: string };

/** Go's encoding/json: sorted map keys, HTML-safe escaping unless turned off; throws on NaN or Inf. */
export function encodeGoJson(value: GoValue, options: JsonOptions, depth = 0): string {
  if (value === undefined || value === null) return "null";
  if (typeof value === "string") return quoteJsonString(value, options.escapeHTML);
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`json: unsupported value: ${formatFloat(value, "g", -1)}`);
    return JSON.stringify(value);
  }
  if (value instanceof GoInt) return value.value.toString();
  const indent = options.indent;
  const inner = indent === undefined ? "" : `\n${indent.repeat(depth + 1)}`;
  const outer = indent === undefined ? "" : `\n${indent.repeat(depth)}`;
  const colon = indent === undefined ? ":" : ": ";
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return `[${value.map((item) => inner + encodeGoJson(item, options, depth + 1)).join(",")}${outer}]`;
  }
  const keys = sortKeys(value);
  if (keys.length === 0) return "{}";
  const entries = keys.map(
    (key) =>
      `${inner}${quoteJsonString(key, options.escapeHTML)}${colon}${encodeGoJson(value[key], options, depth + 1)}`,
  );
  return `{${entries.join(",")}${outer}}`;
}

function quoteJsonString(text: string, escapeHTML: boolean): string {
  let out = JSON.stringify(text).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
  if (escapeHTML) out = out.replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);
  return out;
}

/** Go's strconv.Quote (`%q`): printable characters kept, others escaped. */
export function quoteGoString(text: string): string {
  let out = '"';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    const escaped = GO_ESCAPES[char];
    if (escaped) out += escaped;
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else if (code === 0xfffd || isGoPrintable(char)) out += char;
    else if (code < 0x10000) out += `\\u${code.toString(16).padStart(4, "0")}`;
    else out += `\\U${code.toString(16).padStart(8, "0")}`;
  }
  return `${out}"`;
}

const GO_ESCAPES: Record<string, string> = {
  "\x07": "\\a",
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\v": "\\v",
  "\\": "\\\\",
  '"': '\\"',
};

const printable = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

export function isGoPrintable(char: string): boolean {
  return printable.test(char);
}
