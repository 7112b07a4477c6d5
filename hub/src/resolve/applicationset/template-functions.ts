// The template functions of Argo CD's goTemplate mode: Sprig v3.3.0's generic functions (without
// env, expandenv and getHostByName, which Argo removes) plus Argo's normalize, slugify, toYaml,
// fromYaml and fromYamlArray. Signatures follow Go's, so a template that passes the wrong type fails
// as it does in Argo CD. Sprig functions whose result changes from one render to the next (dates,
// random values, generated keys) and the few not implemented here are listed in
// UNSUPPORTED_FUNCTIONS; a template that calls one fails with a message that names it.

import { createHash } from "node:crypto";
import {
  compileGoRegexp,
  findAllGoRegexp,
  findGoRegexp,
  type GoRegexp,
  matchGoRegexp,
  quoteGoRegexpMeta,
  RegexpRefusedError,
  replaceAllGoRegexp,
  splitGoRegexp,
} from "./go-regexp.js";
import type { CallContext, FunctionTable, TemplateFunction } from "./go-template.js";
import {
  cloneGoValue,
  compareGoStrings,
  countUtf8Bytes,
  describeGoKind,
  describeGoType,
  encodeGoJson,
  encodeUtf8,
  formatFloat,
  formatGoValue,
  GoInt,
  type GoMap,
  type GoValue,
  getKey,
  isDeepEqual,
  isGoMap,
  isStringSlice,
  isTruthy,
  putKey,
  quoteGoString,
  sliceUtf8,
  sortKeys,
  tagGoType,
} from "./go-value.js";
import { formatYamlLikeGo, parseYamlLikeGo } from "./go-yaml.js";
import { normalizeName, slugifyName } from "./normalize-name.js";
import { parseGoInteger } from "./parse-go-template.js";
import { checkSemverConstraint } from "./semver-constraint.js";
import { TemplateError } from "./template-error.js";

// ---- Conversions (spf13/cast, as Sprig uses it: errors become zero) ----

function castInt64(value: GoValue): bigint {
  if (value instanceof GoInt) return BigInt.asIntN(64, value.value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return -(2n ** 63n);
    return BigInt.asIntN(64, BigInt(Math.trunc(value)));
  }
  if (typeof value === "boolean") return value ? 1n : 0n;
  if (typeof value === "string") return parseCastInteger(value) ?? 0n;
  return 0n;
}

/** strconv.ParseInt(trimZeroDecimal(s), 0, 64). */
function parseCastInteger(text: string): bigint | undefined {
  const zeroDecimal = /^(.*)\.0+$/.exec(text);
  const value = parseGoInteger(zeroDecimal ? (zeroDecimal[1] ?? "") : text);
  return value !== undefined && value >= -(2n ** 63n) && value < 2n ** 63n ? value : undefined;
}

function castFloat64(value: GoValue): number {
  if (typeof value === "number") return value;
  if (value instanceof GoInt) return Number(value.value);
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "string") {
    const clean = value.trim() === value ? value : "";
    if (/^[+-]?(inf|infinity)$/i.test(clean)) return clean.startsWith("-") ? -Infinity : Infinity;
    if (/^nan$/i.test(clean)) return Number.NaN;
    if (/^[+-]?(?:[0-9][0-9_]*\.?[0-9_]*|\.[0-9_]+)(?:[eE][+-]?[0-9]+)?$/.test(clean))
      return Number(clean.replace(/_/g, ""));
    return 0;
  }
  return 0;
}

const makeInt = (value: bigint | number) => new GoInt(BigInt(value));
const makeInt64 = (value: bigint) => new GoInt(BigInt.asIntN(64, value), "int64");

/** Sprig's strval: strings as they are, anything else as fmt's %v. */
function formatStrval(value: GoValue): string {
  return typeof value === "string" ? value : formatGoValue(value);
}

/** Sprig's strslice. */
function castStrings(value: GoValue): string[] {
  if (Array.isArray(value)) {
    return value.filter((item) => item !== null && item !== undefined).map(formatStrval);
  }
  if (value === null || value === undefined) return [];
  return [formatStrval(value)];
}

function readInt(value: GoValue): number {
  return value instanceof GoInt ? Number(value.value) : 0;
}

function readString(value: GoValue): string {
  return typeof value === "string" ? value : "";
}

function readMap(value: GoValue): GoMap | null {
  return isGoMap(value) ? value : null;
}

function requireList(value: GoValue, what: string): GoValue[] {
  if (value === null || value === undefined) {
    throw new Error("runtime error: invalid memory address or nil pointer dereference");
  }
  if (!Array.isArray(value)) throw new Error(`Cannot ${what} on type ${describeGoKind(value)}`);
  return value;
}

function checkSize(bytes: number, context: CallContext, what: string): void {
  if (bytes > context.limits.maxOutputBytes) {
    throw new TemplateError(
      `${what} of ${bytes} bytes is over the output limit of ${context.limits.maxOutputBytes} bytes`,
      "limit",
    );
  }
}

function checkLength(length: number, context: CallContext, what: string): void {
  if (length > context.limits.maxRangeIterations) {
    throw new TemplateError(
      `${what} of ${length} elements is over the limit of ${context.limits.maxRangeIterations}`,
      "limit",
    );
  }
}

// ---- Strings ----

const GO_SPACE = "\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const LEADING_SPACE = new RegExp(`^[${GO_SPACE}]+`, "u");
const TRAILING_SPACE = new RegExp(`[${GO_SPACE}]+$`, "u");
const ANY_SPACE = new RegExp(`[${GO_SPACE}]`, "gu");

function mapRunes(text: string, mapRune: (char: string) => string): string {
  let out = "";
  for (const char of text) {
    const mapped = mapRune(char);
    out += Array.from(mapped).length === 1 ? mapped : char;
  }
  return out;
}

const upcase = (text: string) => mapRunes(text, (c) => c.toUpperCase());
const downcase = (text: string) => mapRunes(text, (c) => c.toLowerCase());

function isTitleSeparator(char: string): boolean {
  if (char.charCodeAt(0) < 0x80) return !/[0-9A-Za-z_]/.test(char);
  if (/[\p{L}\p{Nd}]/u.test(char)) return false;
  return new RegExp(`^[${GO_SPACE}]$`, "u").test(char);
}

/** strings.Title. */
function titlecase(text: string): string {
  let previous = " ";
  return mapRunes(text, (char) => {
    const out = isTitleSeparator(previous) ? char.toUpperCase() : char;
    previous = char;
    return out;
  });
}

function trimCutset(text: string, cutset: string): string {
  const cut = new Set(Array.from(cutset));
  const chars = Array.from(text);
  let start = 0;
  let end = chars.length;
  while (start < end && cut.has(chars[start] ?? "")) start++;
  while (end > start && cut.has(chars[end - 1] ?? "")) end--;
  return chars.slice(start, end).join("");
}

function replaceAll(src: string, old: string, replacement: string): string {
  if (old === "")
    return (
      replacement +
      Array.from(src)
        .map((char) => char + replacement)
        .join("")
    );
  return src.split(old).join(replacement);
}

function splitGo(text: string, sep: string, limit = -1): string[] {
  if (limit === 0) return [];
  const parts = sep === "" ? Array.from(text) : text.split(sep);
  if (limit < 0 || parts.length <= limit) return parts;
  if (sep === "") return [...parts.slice(0, limit - 1), parts.slice(limit - 1).join("")];
  return [...parts.slice(0, limit - 1), parts.slice(limit - 1).join(sep)];
}

function splitToMap(parts: string[]): GoMap {
  const map: GoMap = {};
  parts.forEach((part, i) => {
    map[`_${i}`] = part;
  });
  return tagGoType(map, "map[string]string");
}

function cutSubstring(start: number, end: number, text: string): string {
  const length = countUtf8Bytes(text);
  const bounds = (from: number, to: number) => {
    if (from < 0 || to > length || from > to) {
      throw new Error(`runtime error: slice bounds out of range [${from}:${to}] with length ${length}`);
    }
    return sliceUtf8(text, from, to);
  };
  if (start < 0) return bounds(0, end);
  if (end < 0 || end > length) return bounds(start, length);
  return bounds(start, end);
}

function truncate(count: number, text: string): string {
  const length = countUtf8Bytes(text);
  if (count < 0 && length + count > 0) return sliceUtf8(text, length + count);
  if (count >= 0 && length > count) return sliceUtf8(text, 0, count);
  return text;
}

function repeat(count: number, text: string, context: CallContext): string {
  if (count < 0) throw new Error("strings: negative Repeat count");
  checkSize(count * countUtf8Bytes(text), context, "repeat result");
  return text.repeat(count);
}

function indent(spaces: number, text: string, context: CallContext): string {
  if (spaces < 0) throw new Error("strings: negative Repeat count");
  const lines = text.split("\n").length;
  checkSize(spaces * lines + countUtf8Bytes(text), context, "indent result");
  const pad = " ".repeat(spaces);
  return pad + text.replaceAll("\n", `\n${pad}`);
}

// ---- Encodings and hashes ----

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function decodeBase64(text: string): string {
  const clean = text.replace(/[\r\n]/g, "");
  const bad = (index: number) => `illegal base64 data at input byte ${index}`;
  const invalid = /[^A-Za-z0-9+/=]/.exec(clean);
  if (invalid) return bad(invalid.index);
  const padding = clean.indexOf("=");
  if (padding >= 0 && !/^=*$/.test(clean.slice(padding))) return bad(padding);
  if (clean.length % 4 !== 0) return bad(clean.length - (clean.length % 4) + (padding >= 0 ? 0 : 0));
  if (padding >= 0 && clean.length - padding > 2) return bad(padding);
  return new TextDecoder().decode(Buffer.from(clean, "base64"));
}

function encodeBase32(text: string): string {
  const bytes = encodeUtf8(text);
  let out = "";
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  while (out.length % 8 !== 0) out += "=";
  return out;
}

function decodeBase32(text: string): string {
  const clean = text.replace(/[\r\n]/g, "");
  if (clean.length % 8 !== 0) return `illegal base32 data at input byte ${clean.length - (clean.length % 8)}`;
  const body = clean.replace(/=+$/, "");
  const bytes: number[] = [];
  let bits = 0;
  let value = 0;
  for (let i = 0; i < body.length; i++) {
    const index = BASE32.indexOf(body[i] ?? "");
    if (index < 0) return `illegal base32 data at input byte ${i}`;
    value = ((value << 5) | index) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

function checksumAdler32(text: string): number {
  let a = 1;
  let b = 0;
  for (const byte of encodeUtf8(text)) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

const hashToHex = (algorithm: string) => (text: string) =>
  createHash(algorithm).update(encodeUtf8(text)).digest("hex");

// ---- JSON ----

function parseJson(text: string): GoValue {
  return JSON.parse(text, (_key, value) => value) as GoValue;
}

// ---- Maps (Sprig's dict functions, mergo for merge) ----

function isEmptyForMerge(value: GoValue): boolean {
  return !isTruthy(value);
}

/** mergo.Merge (overwrite false) or mergo.MergeWithOverwrite on map[string]interface{}, in place. */
function mergeInto(dst: GoMap, src: GoMap, overwrite: boolean): void {
  for (const key of Object.keys(src)) {
    const from = src[key];
    const to = getKey(dst, key);
    if (isGoMap(from) && isGoMap(to)) {
      mergeInto(to, from, overwrite);
      continue;
    }
    if (from === null && !overwrite) continue;
    if (overwrite || to === undefined || isEmptyForMerge(to)) putKey(dst, key, from);
  }
}

function dig(args: GoValue[]): GoValue {
  if (args.length < 3) throw new Error("dig needs at least three arguments");
  const dict = args[args.length - 1];
  const fallback = args[args.length - 2];
  const keys = args.slice(0, -2);
  if (!isGoMap(dict) || describeGoType(dict) !== "map[string]interface {}") {
    throw new Error(
      `interface conversion: interface {} is ${describeGoType(dict ?? null)}, not map[string]interface {}`,
    );
  }
  let current: GoMap = dict;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (typeof key !== "string") {
      throw new Error(`interface conversion: interface {} is ${describeGoType(key ?? null)}, not string`);
    }
    const step = getKey(current, key);
    if (step === undefined) return fallback ?? null;
    if (i === keys.length - 1) return step;
    if (!isGoMap(step) || describeGoType(step) !== "map[string]interface {}") {
      throw new Error(
        `interface conversion: interface {} is ${describeGoType(step)}, not map[string]interface {}`,
      );
    }
    current = step;
  }
  return null;
}

// ---- Lists ----

function sliceList(list: GoValue, indices: GoValue[]): GoValue {
  if (list === null || list === undefined) {
    throw new Error("runtime error: invalid memory address or nil pointer dereference");
  }
  if (!Array.isArray(list))
    throw new Error(`list should be type of slice or array but ${describeGoKind(list)}`);
  if (list.length === 0) return null;
  const start = indices.length > 0 ? Number(castInt64(indices[0])) : 0;
  const end = indices.length >= 2 ? Number(castInt64(indices[1])) : list.length;
  if (start < 0 || end > list.length || start > end) throw new Error("reflect: slice index out of range");
  const out = list.slice(start, end);
  return isStringSlice(list) ? tagGoType(out, "[]string") : out;
}

function rangeInts(start: number, stop: number, step: number, context: CallContext): GoValue[] {
  const values: GoValue[] = [];
  if (stop < start) {
    if (step >= 0) return tagGoType(values, "[]int");
    checkLength(Math.ceil((start - stop) / -step), context, "untilStep result");
    for (let i = start; i > stop; i += step) values.push(makeInt(i));
    return tagGoType(values, "[]int");
  }
  if (step <= 0) return tagGoType(values, "[]int");
  checkLength(Math.ceil((stop - start) / step), context, "untilStep result");
  for (let i = start; i < stop; i += step) values.push(makeInt(i));
  return tagGoType(values, "[]int");
}

function formatSeq(params: number[], context: CallContext): string {
  let start: number;
  let end: number;
  let step: number;
  switch (params.length) {
    case 1:
      start = 1;
      end = params[0] ?? 0;
      step = end < start ? -1 : 1;
      break;
    case 2:
      start = params[0] ?? 0;
      end = params[1] ?? 0;
      step = end < start ? -1 : 1;
      break;
    case 3: {
      start = params[0] ?? 0;
      end = params[2] ?? 0;
      step = params[1] ?? 0;
      if (end < start && step > 0) return "";
      break;
    }
    default:
      return "";
  }
  const increment = end < start ? -1 : 1;
  return rangeInts(start, end + increment, step, context)
    .map((value) => formatGoValue(value))
    .join(" ");
}

// ---- Numbers (Sprig's decimal-based float ops) ----

function pickBigInt(a: bigint, b: bigint, which: "min" | "max"): bigint {
  if (which === "max") return b > a ? b : a;
  return b < a ? b : a;
}

type Decimal = { coef: bigint; exp: number };

function convertToDecimal(value: number): Decimal {
  if (!Number.isFinite(value)) throw new Error(`Cannot create a Decimal from ${formatFloat(value, "g", -1)}`);
  if (value === 0) return { coef: 0n, exp: 0 };
  const [mantissa = "0", exponent = "0"] = value.toExponential().split("e");
  const negative = mantissa.startsWith("-");
  const digits = mantissa.replace("-", "").replace(".", "");
  const exp = Number(exponent) - (digits.length - 1);
  const coef = BigInt(digits);
  return { coef: negative ? -coef : coef, exp };
}

function alignDecimals(a: Decimal, b: Decimal): [bigint, bigint, number] {
  const exp = Math.min(a.exp, b.exp);
  return [a.coef * 10n ** BigInt(a.exp - exp), b.coef * 10n ** BigInt(b.exp - exp), exp];
}

function convertDecimalToFloat(d: Decimal): number {
  return Number(`${d.coef}e${d.exp}`);
}

const DECIMAL_OPS: Record<string, (a: Decimal, b: Decimal) => Decimal> = {
  add: (a, b) => {
    const [x, y, exp] = alignDecimals(a, b);
    return { coef: x + y, exp };
  },
  sub: (a, b) => {
    const [x, y, exp] = alignDecimals(a, b);
    return { coef: x - y, exp };
  },
  mul: (a, b) => ({ coef: a.coef * b.coef, exp: a.exp + b.exp }),
  div: (a, b) => {
    if (b.coef === 0n) throw new Error("decimal division by 0");
    // Sixteen decimal places, rounded half away from zero (shopspring/decimal's DivRound).
    const precision = 16;
    const scale = a.exp - b.exp + precision;
    let numerator = a.coef;
    let denominator = b.coef;
    if (scale > 0) numerator *= 10n ** BigInt(scale);
    else denominator *= 10n ** BigInt(-scale);
    const negative = numerator < 0n !== denominator < 0n;
    const n = numerator < 0n ? -numerator : numerator;
    const d = denominator < 0n ? -denominator : denominator;
    let q = n / d;
    if ((n % d) * 2n >= d) q += 1n;
    return { coef: negative ? -q : q, exp: -precision };
  },
};

function applyDecimalOp(op: string, first: GoValue, rest: GoValue[]): number {
  const operate = DECIMAL_OPS[op];
  if (!operate) throw new Error(`unknown operation ${op}`);
  let result = convertToDecimal(castFloat64(first));
  for (const value of rest) result = operate(result, convertToDecimal(castFloat64(value)));
  return convertDecimalToFloat(result);
}

function round(value: GoValue, places: number, roundOn = 0.5): number {
  const pow = 10 ** places;
  const digit = pow * castFloat64(value);
  const fraction = digit - Math.trunc(digit);
  return (fraction >= roundOn ? Math.ceil(digit) : Math.floor(digit)) / pow;
}

/** time.Duration(n * time.Second).String(). */
function formatDuration(seconds: bigint): string {
  if (seconds === 0n) return "0s";
  const negative = seconds < 0n;
  let rest = negative ? -seconds : seconds;
  const hours = rest / 3600n;
  rest %= 3600n;
  const minutes = rest / 60n;
  const secs = rest % 60n;
  let out = "";
  if (hours > 0n) out += `${hours}h`;
  if (hours > 0n || minutes > 0n) out += `${minutes}m`;
  out += `${secs}s`;
  return (negative ? "-" : "") + out;
}

// ---- Paths (Go's path package) ----

function cleanPath(path: string): string {
  if (path === "") return ".";
  const rooted = path.startsWith("/");
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.length > 0 && parts[parts.length - 1] !== "..") parts.pop();
      else if (!rooted) parts.push("..");
      continue;
    }
    parts.push(part);
  }
  const joined = parts.join("/");
  if (rooted) return `/${joined}`;
  return joined === "" ? "." : joined;
}

export function getPathBase(path: string): string {
  if (path === "") return ".";
  const trimmed = path.replace(/\/+$/, "");
  if (trimmed === "") return "/";
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

export function getPathDir(path: string): string {
  return cleanPath(path.slice(0, path.lastIndexOf("/") + 1));
}

function getPathExt(path: string): string {
  for (let i = path.length - 1; i >= 0 && path[i] !== "/"; i--) {
    if (path[i] === ".") return path.slice(i);
  }
  return "";
}

// ---- Regular expressions ----

function compileOrThrow(pattern: string): GoRegexp {
  try {
    return compileGoRegexp(pattern);
  } catch (error) {
    if (error instanceof RegexpRefusedError) throw new TemplateError(error.message, "limit");
    throw new Error(`regexp: Compile(${quoteGoString(pattern)}): ${(error as Error).message}`);
  }
}

/** Runs a match, turning a refused subject into a limit error. */
function runWithRegexpLimits<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof RegexpRefusedError) throw new TemplateError(error.message, "limit");
    throw error;
  }
}

function createRegexFunctions(): Record<string, TemplateFunction> {
  const s = (value: GoValue) => readString(value);
  const lenient = (
    run: (re: GoRegexp, args: GoValue[]) => GoValue,
    fallback: GoValue,
  ): TemplateFunction["call"] => {
    return (args) => {
      let re: GoRegexp;
      try {
        re = compileGoRegexp(s(args[0] ?? null));
      } catch (error) {
        if (error instanceof RegexpRefusedError) throw new TemplateError(error.message, "limit");
        return fallback;
      }
      return runWithRegexpLimits(() => run(re, args));
    };
  };
  const strict = (run: (re: GoRegexp, args: GoValue[]) => GoValue): TemplateFunction["call"] => {
    return (args) => {
      const re = compileOrThrow(s(args[0] ?? null));
      return runWithRegexpLimits(() => run(re, args));
    };
  };
  const findAll = (re: GoRegexp, args: GoValue[]) =>
    tagGoType(findAllGoRegexp(re, s(args[1] ?? null), readInt(args[2] ?? null)), "[]string");
  const find = (re: GoRegexp, args: GoValue[]) => findGoRegexp(re, s(args[1] ?? null));
  const replace = (literal: boolean) => (re: GoRegexp, args: GoValue[]) =>
    replaceAllGoRegexp(re, s(args[1] ?? null), s(args[2] ?? null), literal);
  const split = (re: GoRegexp, args: GoValue[]) =>
    tagGoType(splitGoRegexp(re, s(args[1] ?? null), readInt(args[2] ?? null)), "[]string");
  const match = (re: GoRegexp, args: GoValue[]) => matchGoRegexp(re, s(args[1] ?? null));
  return {
    regexMatch: { params: ["string", "string"], call: lenient(match, false) },
    mustRegexMatch: { params: ["string", "string"], call: strict(match) },
    regexFindAll: { params: ["string", "string", "int"], call: strict(findAll) },
    mustRegexFindAll: { params: ["string", "string", "int"], call: strict(findAll) },
    regexFind: { params: ["string", "string"], call: strict(find) },
    mustRegexFind: { params: ["string", "string"], call: strict(find) },
    regexReplaceAll: { params: ["string", "string", "string"], call: strict(replace(false)) },
    mustRegexReplaceAll: { params: ["string", "string", "string"], call: strict(replace(false)) },
    regexReplaceAllLiteral: { params: ["string", "string", "string"], call: strict(replace(true)) },
    mustRegexReplaceAllLiteral: { params: ["string", "string", "string"], call: strict(replace(true)) },
    regexSplit: { params: ["string", "string", "int"], call: strict(split) },
    mustRegexSplit: { params: ["string", "string", "int"], call: strict(split) },
    regexQuoteMeta: { params: ["string"], call: ([text]) => quoteGoRegexpMeta(s(text ?? null)) },
  };
}

// ---- The table ----

type Call = TemplateFunction["call"];
const define = (
  params: TemplateFunction["params"],
  call: Call,
  variadic?: TemplateFunction["variadic"],
): TemplateFunction => (variadic ? { params, variadic, call } : { params, call });
const defineStr = (f: (text: string) => GoValue) =>
  define(["string"], ([text]) => f(readString(text ?? null)));
const defineStr2 = (f: (a: string, b: string) => GoValue) =>
  define(["string", "string"], ([a, b]) => f(readString(a ?? null), readString(b ?? null)));

function callOnList(what: string, f: (list: GoValue[], args: GoValue[]) => GoValue): Call {
  return ([list, ...args]) => f(requireList(list ?? null, what), args);
}

function slugifyArgs(args: GoValue[]): string {
  let maxLength = 50;
  let smart = true;
  let name = "";
  args.forEach((arg, i) => {
    if (i === args.length - 1) {
      if (typeof arg !== "string")
        throw new Error(`interface conversion: interface {} is ${describeGoType(arg)}, not string`);
      name = arg;
    } else if (i === 0) {
      if (!(arg instanceof GoInt) || arg.type !== "int") {
        throw new Error(`interface conversion: interface {} is ${describeGoType(arg)}, not makeInt`);
      }
      maxLength = Number(arg.value);
    } else if (i === 1) {
      if (typeof arg !== "boolean")
        throw new Error(`interface conversion: interface {} is ${describeGoType(arg)}, not bool`);
      smart = arg;
    }
  });
  return slugifyName(name, maxLength, smart);
}

function mergeMaps(overwrite: boolean): Call {
  return ([dst, ...srcs]) => {
    const target = readMap(dst ?? null) ?? {};
    for (const src of srcs) {
      const from = readMap(src ?? null);
      if (from) mergeInto(target, from, overwrite);
    }
    return target;
  };
}

export const TEMPLATE_FUNCTIONS: FunctionTable = {
  hello: define([], () => "Hello!"),

  // Strings
  trunc: define(["int", "string"], ([c, s]) => truncate(readInt(c ?? null), readString(s ?? null))),
  trim: defineStr((s) => s.replace(LEADING_SPACE, "").replace(TRAILING_SPACE, "")),
  upper: defineStr(upcase),
  lower: defineStr(downcase),
  title: defineStr(titlecase),
  untitle: defineStr((s) => {
    const [first = "", ...rest] = Array.from(s);
    return downcase(first) + rest.join("");
  }),
  substr: define(["int", "int", "string"], ([a, b, s]) =>
    cutSubstring(readInt(a ?? null), readInt(b ?? null), readString(s ?? null)),
  ),
  repeat: define(["int", "string"], ([count, s], context) =>
    repeat(readInt(count ?? null), readString(s ?? null), context),
  ),
  trimall: defineStr2((a, b) => trimCutset(b, a)),
  trimAll: defineStr2((a, b) => trimCutset(b, a)),
  trimSuffix: defineStr2((a, b) => (a !== "" && b.endsWith(a) ? b.slice(0, b.length - a.length) : b)),
  trimPrefix: defineStr2((a, b) => (a !== "" && b.startsWith(a) ? b.slice(a.length) : b)),
  nospace: defineStr((s) => s.replace(ANY_SPACE, "")),
  contains: defineStr2((a, b) => b.includes(a)),
  hasPrefix: defineStr2((a, b) => b.startsWith(a)),
  hasSuffix: defineStr2((a, b) => b.endsWith(a)),
  quote: define(
    [],
    (args) =>
      args
        .filter((arg) => arg !== null && arg !== undefined)
        .map((arg) => quoteGoString(formatStrval(arg)))
        .join(" "),
    "any",
  ),
  squote: define(
    [],
    (args) =>
      args
        .filter((arg) => arg !== null && arg !== undefined)
        .map((arg) => `'${formatGoValue(arg)}'`)
        .join(" "),
    "any",
  ),
  cat: define(
    [],
    (args) =>
      args
        .filter((arg) => arg !== null && arg !== undefined)
        .map(formatGoValue)
        .join(" "),
    "any",
  ),
  indent: define(["int", "string"], ([n, s], context) =>
    indent(readInt(n ?? null), readString(s ?? null), context),
  ),
  nindent: define(
    ["int", "string"],
    ([n, s], context) => `\n${indent(readInt(n ?? null), readString(s ?? null), context)}`,
  ),
  replace: define(["string", "string", "string"], ([old, replacement, src]) =>
    replaceAll(readString(src ?? null), readString(old ?? null), readString(replacement ?? null)),
  ),
  plural: define(
    ["string", "string", "int"],
    ([one, many, count]) => (readInt(count ?? null) === 1 ? one : many) ?? "",
  ),
  sha1sum: defineStr(hashToHex("sha1")),
  sha256sum: defineStr(hashToHex("sha256")),
  sha512sum: defineStr(hashToHex("sha512")),
  adler32sum: defineStr((s) => String(checksumAdler32(s))),
  toString: define(["any"], ([value]) => formatStrval(value ?? null)),

  // Numbers
  atoi: defineStr((s) =>
    /^[+-]?[0-9]+$/.test(s) && BigInt(s) >= -(2n ** 63n) && BigInt(s) < 2n ** 63n
      ? makeInt(BigInt(s))
      : makeInt(0),
  ),
  int64: define(["any"], ([value]) => makeInt64(castInt64(value ?? null))),
  int: define(["any"], ([value]) => makeInt(castInt64(value ?? null))),
  float64: define(["any"], ([value]) => castFloat64(value ?? null)),
  seq: define(
    [],
    (args, context) =>
      formatSeq(
        args.map((arg) => readInt(arg)),
        context,
      ),
    "int",
  ),
  toDecimal: define(["any"], ([value]) => {
    const text = formatGoValue(value ?? null);
    if (!/^[+-]?[0-7]+$/.test(text)) return makeInt64(0n);
    const magnitude = BigInt(`0o${text.replace(/^[+-]/, "")}`);
    const parsed = text.startsWith("-") ? -magnitude : magnitude;
    return makeInt64(parsed >= -(2n ** 63n) && parsed < 2n ** 63n ? parsed : 0n);
  }),
  add1: define(["any"], ([value]) => makeInt64(castInt64(value ?? null) + 1n)),
  add: define(
    [],
    (args) => makeInt64(args.reduce<bigint>((sum, value) => sum + castInt64(value), 0n)),
    "any",
  ),
  sub: define(["any", "any"], ([a, b]) => makeInt64(castInt64(a ?? null) - castInt64(b ?? null))),
  div: define(["any", "any"], ([a, b]) => {
    const divisor = castInt64(b ?? null);
    if (divisor === 0n) throw new Error("runtime error: integer divide by zero");
    return makeInt64(castInt64(a ?? null) / divisor);
  }),
  mod: define(["any", "any"], ([a, b]) => {
    const divisor = castInt64(b ?? null);
    if (divisor === 0n) throw new Error("runtime error: integer divide by zero");
    return makeInt64(castInt64(a ?? null) % divisor);
  }),
  mul: define(
    ["any"],
    ([a, ...rest]) =>
      makeInt64(rest.reduce<bigint>((product, value) => product * castInt64(value), castInt64(a ?? null))),
    "any",
  ),
  biggest: define(
    ["any"],
    ([a, ...rest]) =>
      makeInt64(rest.reduce<bigint>((max, v) => pickBigInt(max, castInt64(v), "max"), castInt64(a ?? null))),
    "any",
  ),
  max: define(
    ["any"],
    ([a, ...rest]) =>
      makeInt64(rest.reduce<bigint>((max, v) => pickBigInt(max, castInt64(v), "max"), castInt64(a ?? null))),
    "any",
  ),
  min: define(
    ["any"],
    ([a, ...rest]) =>
      makeInt64(rest.reduce<bigint>((min, v) => pickBigInt(min, castInt64(v), "min"), castInt64(a ?? null))),
    "any",
  ),
  maxf: define(
    ["any"],
    ([a, ...rest]) => rest.reduce<number>((max, v) => Math.max(max, castFloat64(v)), castFloat64(a ?? null)),
    "any",
  ),
  minf: define(
    ["any"],
    ([a, ...rest]) => rest.reduce<number>((min, v) => Math.min(min, castFloat64(v)), castFloat64(a ?? null)),
    "any",
  ),
  add1f: define(["any"], ([a]) => applyDecimalOp("add", a ?? null, [1])),
  addf: define([], (args) => applyDecimalOp("add", 0, args), "any"),
  subf: define(["any"], ([a, ...rest]) => applyDecimalOp("sub", a ?? null, rest), "any"),
  mulf: define(["any"], ([a, ...rest]) => applyDecimalOp("mul", a ?? null, rest), "any"),
  divf: define(["any"], ([a, ...rest]) => applyDecimalOp("div", a ?? null, rest), "any"),
  floor: define(["any"], ([a]) => Math.floor(castFloat64(a ?? null))),
  ceil: define(["any"], ([a]) => Math.ceil(castFloat64(a ?? null))),
  round: define(
    ["any", "int"],
    ([a, p, roundOn]) => round(a ?? null, readInt(p ?? null), typeof roundOn === "number" ? roundOn : 0.5),
    "float64",
  ),
  until: define(["int"], ([count], context) => {
    const n = readInt(count ?? null);
    return rangeInts(0, n, n < 0 ? -1 : 1, context);
  }),
  untilStep: define(["int", "int", "int"], ([a, b, c], context) =>
    rangeInts(readInt(a ?? null), readInt(b ?? null), readInt(c ?? null), context),
  ),
  duration: define(["any"], ([value]) => formatDuration(castInt64(value ?? null))),

  // String slices
  split: defineStr2((sep, orig) => splitToMap(splitGo(orig, sep))),
  splitList: defineStr2((sep, orig) => tagGoType(splitGo(orig, sep), "[]string")),
  splitn: define(["string", "int", "string"], ([sep, n, orig]) =>
    splitToMap(splitGo(readString(orig ?? null), readString(sep ?? null), readInt(n ?? null))),
  ),
  toStrings: define(["any"], ([value]) => tagGoType(castStrings(value ?? null), "[]string")),
  join: define(["string", "any"], ([sep, value]) => castStrings(value ?? null).join(readString(sep ?? null))),
  sortAlpha: define(["any"], ([value]) =>
    tagGoType(
      Array.isArray(value) ? castStrings(value).sort(compareGoStrings) : [formatStrval(value ?? null)],
      "[]string",
    ),
  ),

  // Defaults and JSON
  default: define(
    ["any"],
    ([d, ...given]) => (given.length === 0 || !isTruthy(given[0]) ? (d ?? null) : (given[0] ?? null)),
    "any",
  ),
  empty: define(["any"], ([value]) => !isTruthy(value)),
  coalesce: define([], (args) => args.find((value) => isTruthy(value)) ?? null, "any"),
  all: define([], (args) => args.every((value) => isTruthy(value)), "any"),
  any: define([], (args) => args.some((value) => isTruthy(value)), "any"),
  compact: define(
    ["any"],
    callOnList("compact", (list) => list.filter((value) => isTruthy(value))),
  ),
  mustCompact: define(
    ["any"],
    callOnList("compact", (list) => list.filter((value) => isTruthy(value))),
  ),
  fromJson: defineStr((s) => {
    try {
      return parseJson(s);
    } catch {
      return null;
    }
  }),
  mustFromJson: defineStr((s) => parseJson(s)),
  toJson: define(["any"], ([value]) => {
    try {
      return encodeGoJson(value ?? null, { escapeHTML: true });
    } catch {
      return "";
    }
  }),
  mustToJson: define(["any"], ([value]) => encodeGoJson(value ?? null, { escapeHTML: true })),
  toPrettyJson: define(["any"], ([value]) => {
    try {
      return encodeGoJson(value ?? null, { escapeHTML: true, indent: "  " });
    } catch {
      return "";
    }
  }),
  mustToPrettyJson: define(["any"], ([value]) =>
    encodeGoJson(value ?? null, { escapeHTML: true, indent: "  " }),
  ),
  toRawJson: define(["any"], ([value]) => encodeGoJson(value ?? null, { escapeHTML: false })),
  mustToRawJson: define(["any"], ([value]) => encodeGoJson(value ?? null, { escapeHTML: false })),
  ternary: define(
    ["any", "any", "bool"],
    ([whenTrue, whenFalse, condition]) => (condition ? whenTrue : whenFalse) ?? null,
  ),
  deepCopy: define(["any"], ([value]) => cloneGoValue(value ?? null)),
  mustDeepCopy: define(["any"], ([value]) => cloneGoValue(value ?? null)),

  // Reflection
  typeOf: define(["any"], ([value]) => describeGoType(value ?? null)),
  typeIs: define(["string", "any"], ([target, value]) => target === describeGoType(value ?? null)),
  typeIsLike: define(["string", "any"], ([target, value]) => {
    const type = describeGoType(value ?? null);
    return target === type || `*${target}` === type;
  }),
  kindOf: define(["any"], ([value]) => describeGoKind(value ?? null)),
  kindIs: define(["string", "any"], ([target, value]) => target === describeGoKind(value ?? null)),
  deepEqual: define(["any", "any"], ([a, b]) => isDeepEqual(a ?? null, b ?? null)),

  // Paths
  base: defineStr(getPathBase),
  dir: defineStr(getPathDir),
  clean: defineStr(cleanPath),
  ext: defineStr(getPathExt),
  isAbs: defineStr((s) => s.startsWith("/")),
  osBase: defineStr(getPathBase),
  osClean: defineStr(cleanPath),
  osDir: defineStr(getPathDir),
  osExt: defineStr(getPathExt),
  osIsAbs: defineStr((s) => s.startsWith("/")),

  // Encodings
  b64enc: defineStr((s) => Buffer.from(encodeUtf8(s)).toString("base64")),
  b64dec: defineStr(decodeBase64),
  b32enc: defineStr(encodeBase32),
  b32dec: defineStr(decodeBase32),

  // Dicts
  tuple: define([], (args) => [...args], "any"),
  list: define([], (args) => [...args], "any"),
  dict: define(
    [],
    (args) => {
      const map: GoMap = {};
      for (let i = 0; i < args.length; i += 2) {
        putKey(map, formatStrval(args[i] ?? null), i + 1 < args.length ? (args[i + 1] ?? null) : "");
      }
      return map;
    },
    "any",
  ),
  get: define(["map", "string"], ([d, key]) => {
    const value = readMap(d ?? null) ? getKey(d as GoMap, readString(key ?? null)) : undefined;
    return value === undefined ? "" : value;
  }),
  set: define(["map", "string", "any"], ([d, key, value]) => {
    const map = readMap(d ?? null);
    if (!map) throw new Error("assignment to entry in nil map");
    putKey(map, readString(key ?? null), value ?? null);
    return map;
  }),
  unset: define(["map", "string"], ([d, key]) => {
    const map = readMap(d ?? null);
    if (map) delete map[readString(key ?? null)];
    return map;
  }),
  hasKey: define(["map", "string"], ([d, key]) => {
    const map = readMap(d ?? null);
    return map !== null && Object.hasOwn(map, readString(key ?? null));
  }),
  pluck: define(
    ["string"],
    ([key, ...dicts]) =>
      dicts
        .map((d) => (isGoMap(d) ? getKey(d, readString(key ?? null)) : undefined))
        .filter((value) => value !== undefined),
    "map",
  ),
  keys: define(
    [],
    (dicts) =>
      tagGoType(
        dicts.flatMap((d) => (isGoMap(d) ? sortKeys(d) : [])),
        "[]string",
      ),
    "map",
  ),
  pick: define(
    ["map"],
    ([d, ...keys]) => {
      const out: GoMap = {};
      const map = readMap(d ?? null);
      for (const key of keys) {
        const value = map ? getKey(map, readString(key)) : undefined;
        if (value !== undefined) putKey(out, readString(key), value);
      }
      return out;
    },
    "string",
  ),
  omit: define(
    ["map"],
    ([d, ...keys]) => {
      const out: GoMap = {};
      const omitted = new Set(keys.map((key) => readString(key)));
      const map = readMap(d ?? null) ?? {};
      for (const key of Object.keys(map)) if (!omitted.has(key)) putKey(out, key, map[key]);
      return out;
    },
    "string",
  ),
  merge: define(["map"], mergeMaps(false), "map"),
  mergeOverwrite: define(["map"], mergeMaps(true), "map"),
  mustMerge: define(["map"], mergeMaps(false), "map"),
  mustMergeOverwrite: define(["map"], mergeMaps(true), "map"),
  values: define(["map"], ([d]) => {
    const map = readMap(d ?? null) ?? {};
    return sortKeys(map).map((key) => map[key] ?? null);
  }),
  dig: define([], (args) => dig(args), "any"),

  // Lists
  append: define(
    ["any", "any"],
    callOnList("push", (list, [value]) => [...list, value ?? null]),
  ),
  push: define(
    ["any", "any"],
    callOnList("push", (list, [value]) => [...list, value ?? null]),
  ),
  mustAppend: define(
    ["any", "any"],
    callOnList("push", (list, [value]) => [...list, value ?? null]),
  ),
  mustPush: define(
    ["any", "any"],
    callOnList("push", (list, [value]) => [...list, value ?? null]),
  ),
  prepend: define(
    ["any", "any"],
    callOnList("prepend", (list, [value]) => [value ?? null, ...list]),
  ),
  mustPrepend: define(
    ["any", "any"],
    callOnList("prepend", (list, [value]) => [value ?? null, ...list]),
  ),
  first: define(
    ["any"],
    callOnList("find first", (list) => list[0] ?? null),
  ),
  mustFirst: define(
    ["any"],
    callOnList("find first", (list) => list[0] ?? null),
  ),
  last: define(
    ["any"],
    callOnList("find last", (list) => list[list.length - 1] ?? null),
  ),
  mustLast: define(
    ["any"],
    callOnList("find last", (list) => list[list.length - 1] ?? null),
  ),
  rest: define(
    ["any"],
    callOnList("find rest", (list) => (list.length === 0 ? null : list.slice(1))),
  ),
  mustRest: define(
    ["any"],
    callOnList("find rest", (list) => (list.length === 0 ? null : list.slice(1))),
  ),
  initial: define(
    ["any"],
    callOnList("find initial", (list) => (list.length === 0 ? null : list.slice(0, -1))),
  ),
  mustInitial: define(
    ["any"],
    callOnList("find initial", (list) => (list.length === 0 ? null : list.slice(0, -1))),
  ),
  reverse: define(
    ["any"],
    callOnList("find reverse", (list) => [...list].reverse()),
  ),
  mustReverse: define(
    ["any"],
    callOnList("find reverse", (list) => [...list].reverse()),
  ),
  uniq: define(
    ["any"],
    callOnList("find uniq", (list) =>
      list.filter((item, i) => list.findIndex((other) => isDeepEqual(other, item)) === i),
    ),
  ),
  mustUniq: define(
    ["any"],
    callOnList("find uniq", (list) =>
      list.filter((item, i) => list.findIndex((other) => isDeepEqual(other, item)) === i),
    ),
  ),
  without: define(
    ["any"],
    callOnList("find without", (list, omit) =>
      list.filter((item) => !omit.some((o) => isDeepEqual(o, item))),
    ),
    "any",
  ),
  mustWithout: define(
    ["any"],
    callOnList("find without", (list, omit) =>
      list.filter((item) => !omit.some((o) => isDeepEqual(o, item))),
    ),
    "any",
  ),
  has: define(["any", "any"], ([needle, haystack]) =>
    haystack === null || haystack === undefined
      ? false
      : requireList(haystack, "find has").some((item) => isDeepEqual(needle ?? null, item)),
  ),
  mustHas: define(["any", "any"], ([needle, haystack]) =>
    haystack === null || haystack === undefined
      ? false
      : requireList(haystack, "find has").some((item) => isDeepEqual(needle ?? null, item)),
  ),
  slice: define(["any"], ([list, ...indices]) => sliceList(list ?? null, indices), "any"),
  mustSlice: define(["any"], ([list, ...indices]) => sliceList(list ?? null, indices), "any"),
  concat: define(
    [],
    (lists) =>
      lists.flatMap((list) => {
        if (!Array.isArray(list))
          throw new Error(`Cannot concat type ${describeGoKind(list ?? null)} as list`);
        return list;
      }),
    "any",
  ),
  chunk: define(["int", "any"], ([size, list]) => {
    const n = readInt(size ?? null);
    const items = requireList(list ?? null, "chunk");
    if (n <= 0) throw new Error("runtime error: makeslice: len out of range");
    const chunks: GoValue[] = [];
    for (let i = 0; i < items.length; i += n) chunks.push(items.slice(i, i + n));
    return chunks;
  }),

  // Versions, flow control
  semverCompare: defineStr2((constraint, version) => checkSemverConstraint(constraint, version)),
  fail: defineStr((message) => {
    throw new Error(message);
  }),

  ...createRegexFunctions(),

  // Argo CD's additions
  normalize: defineStr(normalizeName),
  slugify: define([], (args) => slugifyArgs(args), "any"),
  toYaml: define(["any"], ([value]) => formatYamlLikeGo(value ?? null)),
  fromYaml: defineStr((s) => {
    const value = parseYamlLikeGo(s);
    if (value === null) return {};
    if (!isGoMap(value)) {
      throw new Error(
        `error unmarshaling JSON: while decoding JSON: json: cannot unmarshal ${describeJsonKind(value)} into Go value of type map[string]interface {}`,
      );
    }
    return value;
  }),
  fromYamlArray: defineStr((s) => {
    const value = parseYamlLikeGo(s);
    if (value === null) return [];
    if (!Array.isArray(value)) {
      throw new Error(
        `error unmarshaling JSON: while decoding JSON: json: cannot unmarshal ${describeJsonKind(value)} into Go value of type []interface {}`,
      );
    }
    return value;
  }),
};

function describeJsonKind(value: GoValue): string {
  if (Array.isArray(value)) return "array";
  if (isGoMap(value)) return "object";
  if (typeof value === "string") return "string";
  if (typeof value === "boolean") return "bool";
  return "number";
}

const NONDETERMINISTIC =
  "its result changes from one render to the next, so the same commit would not give the same applications";
const NOT_IMPLEMENTED = "Flotilla does not implement it yet";

/** Sprig functions Argo CD offers that Flotilla refuses, with the reason. */
export const UNSUPPORTED_FUNCTIONS: Readonly<Record<string, string>> = {
  ...Object.fromEntries(
    [
      "now",
      "date",
      "date_in_zone",
      "dateInZone",
      "date_modify",
      "dateModify",
      "must_date_modify",
      "mustDateModify",
      "ago",
      "htmlDate",
      "htmlDateInZone",
      "toDate",
      "mustToDate",
      "unixEpoch",
      "durationRound",
      "randAlphaNum",
      "randAlpha",
      "randAscii",
      "randNumeric",
      "randInt",
      "randBytes",
      "shuffle",
      "uuidv4",
      "bcrypt",
      "htpasswd",
      "genPrivateKey",
      "buildCustomCert",
      "genCA",
      "genCAWithKey",
      "genSelfSignedCert",
      "genSelfSignedCertWithKey",
      "genSignedCert",
      "genSignedCertWithKey",
      "encryptAES",
      "decryptAES",
    ].map((name) => [name, NONDETERMINISTIC]),
  ),
  ...Object.fromEntries(
    [
      "abbrev",
      "abbrevboth",
      "initials",
      "wrap",
      "wrapWith",
      "swapcase",
      "snakecase",
      "camelcase",
      "kebabcase",
      "semver",
      "urlParse",
      "urlJoin",
      "derivePassword",
    ].map((name) => [name, NOT_IMPLEMENTED]),
  ),
};
