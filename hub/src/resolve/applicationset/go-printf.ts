// Go's fmt.Sprintf, Sprint and Sprintln for the values a template sees (see go-value.ts). Covers the
// verbs templates use (%v %s %d %q %t %x %X %o %b %c %e %f %g %T %%), flags (+ - # 0 space), width
// and precision, and Go's inline error forms: %!d(string=x), %!s(MISSING), %!(EXTRA ...).

import {
  describeGoType,
  encodeUtf8,
  formatFloat,
  formatGoValue,
  GoInt,
  type GoValue,
  isGoMap,
  quoteGoString,
  sortKeys,
} from "./go-value.js";

/** Width and precision are capped so a format string cannot ask for a gigabyte of padding. */
const MAX_PAD_CHARS = 10_000;

type Spec = {
  plus: boolean;
  minus: boolean;
  sharp: boolean;
  zero: boolean;
  space: boolean;
  width: number;
  precision: number;
  verb: string;
};

export function sprintf(format: string, args: GoValue[]): string {
  let out = "";
  let argIndex = 0;
  let i = 0;
  while (i < format.length) {
    const percent = format.indexOf("%", i);
    if (percent < 0) {
      out += format.slice(i);
      break;
    }
    out += format.slice(i, percent);
    i = percent + 1;
    const spec: Spec = {
      plus: false,
      minus: false,
      sharp: false,
      zero: false,
      space: false,
      width: -1,
      precision: -1,
      verb: "",
    };
    flags: for (; i < format.length; i++) {
      switch (format[i]) {
        case "+":
          spec.plus = true;
          break;
        case "-":
          spec.minus = true;
          break;
        case "#":
          spec.sharp = true;
          break;
        case "0":
          spec.zero = true;
          break;
        case " ":
          spec.space = true;
          break;
        default:
          break flags;
      }
    }
    if (format[i] === "*") {
      i++;
      const width = args[argIndex++];
      spec.width = width instanceof GoInt ? Math.min(Math.abs(Number(width.value)), MAX_PAD_CHARS) : -1;
      if (width instanceof GoInt && width.value < 0n) spec.minus = true;
      if (!(width instanceof GoInt)) out += "%!(BADWIDTH)";
    } else {
      const start = i;
      while (i < format.length && /[0-9]/.test(format[i] ?? "")) i++;
      if (i > start) spec.width = Math.min(Number(format.slice(start, i)), MAX_PAD_CHARS);
    }
    if (format[i] === ".") {
      i++;
      if (format[i] === "*") {
        i++;
        const precision = args[argIndex++];
        spec.precision = precision instanceof GoInt ? Math.min(Number(precision.value), MAX_PAD_CHARS) : -1;
        if (!(precision instanceof GoInt)) out += "%!(BADPREC)";
      } else {
        const start = i;
        while (i < format.length && /[0-9]/.test(format[i] ?? "")) i++;
        spec.precision = Math.min(Number(format.slice(start, i) || "0"), MAX_PAD_CHARS);
      }
    }
    if (i >= format.length) {
      out += "%!(NOVERB)";
      break;
    }
    const verb = String.fromCodePoint(format.codePointAt(i) ?? 0);
    i += verb.length;
    spec.verb = verb;
    if (verb === "%") {
      out += "%";
      continue;
    }
    if (argIndex >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    out += formatArg(args[argIndex++], spec);
  }
  if (argIndex < args.length) {
    const extra = args.slice(argIndex).map((arg) => `${describeGoType(arg)}=${formatGoValue(arg)}`);
    out += `%!(EXTRA ${extra.join(", ")})`;
  }
  return out;
}

/** fmt.Sprint: spaces between operands when neither is a string. */
export function sprint(args: GoValue[]): string {
  let out = "";
  args.forEach((arg, i) => {
    if (i > 0 && typeof arg !== "string" && typeof args[i - 1] !== "string") out += " ";
    out += formatGoValue(arg);
  });
  return out;
}

/** fmt.Sprintln: spaces between all operands and a final newline. */
export function sprintln(args: GoValue[]): string {
  return `${args.map(formatGoValue).join(" ")}\n`;
}

function formatBadVerb(arg: GoValue, spec: Spec): string {
  if (arg === undefined || arg === null) return `%!${spec.verb}(<nil>)`;
  return `%!${spec.verb}(${describeGoType(arg)}=${formatGoValue(arg)})`;
}

function formatArg(arg: GoValue, spec: Spec): string {
  if (spec.verb === "T") return pad(describeGoType(arg), spec, false);
  if (arg === undefined || arg === null) {
    return spec.verb === "v" ? pad("<nil>", spec, false) : formatBadVerb(arg, spec);
  }
  if (typeof arg === "boolean") {
    return spec.verb === "v" || spec.verb === "t" ? pad(String(arg), spec, false) : formatBadVerb(arg, spec);
  }
  if (arg instanceof GoInt) return formatInteger(arg, spec);
  if (typeof arg === "number") return formatFloatArg(arg, spec);
  if (typeof arg === "string") return formatString(arg, spec);
  if (Array.isArray(arg)) {
    const items = arg.map((item) => formatArg(item, { ...spec, width: -1 }));
    return pad(`[${items.join(" ")}]`, spec, false);
  }
  if (isGoMap(arg)) {
    const entries = sortKeys(arg).map(
      (key) => `${formatString(key, { ...spec, width: -1 })}:${formatArg(arg[key], { ...spec, width: -1 })}`,
    );
    return pad(`map[${entries.join(" ")}]`, spec, false);
  }
  return formatBadVerb(arg, spec);
}

function formatString(text: string, spec: Spec): string {
  switch (spec.verb) {
    case "v":
    case "s": {
      const cut = spec.precision >= 0 ? Array.from(text).slice(0, spec.precision).join("") : text;
      return pad(cut, spec, false);
    }
    case "q":
      if (spec.sharp && !text.includes("`") && !hasControlCharacter(text)) {
        return pad(`\`${text}\``, spec, false);
      }
      return pad(spec.plus ? quoteAscii(text) : quoteGoString(text), spec, false);
    case "x":
    case "X": {
      const bytes = Array.from(encodeUtf8(text), (b) => b.toString(16).padStart(2, "0"));
      let hex = bytes.map((b) => (spec.sharp ? `0x${b}` : b)).join(spec.space ? " " : "");
      if (spec.verb === "X") hex = hex.toUpperCase();
      return pad(hex, spec, false);
    }
    default:
      return formatBadVerb(text, spec);
  }
}

/** A control character other than tab, which a Go raw string cannot hold. */
function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if ((code < 0x20 && code !== 0x09) || code === 0x7f) return true;
  }
  return false;
}

function quoteAscii(text: string): string {
  return quoteGoString(text).replace(/[\u0080-\u{10ffff}]/gu, (char) => {
    const code = char.codePointAt(0) ?? 0;
    return code < 0x10000
      ? `\\u${code.toString(16).padStart(4, "0")}`
      : `\\U${code.toString(16).padStart(8, "0")}`;
  });
}

const INTEGER_BASES: Record<string, number> = { d: 10, v: 10, b: 2, o: 8, O: 8, x: 16, X: 16 };

function formatInteger(arg: GoInt, spec: Spec): string {
  const verb = spec.verb;
  if (verb === "c") return pad(String.fromCodePoint(Number(arg.value)), spec, false);
  if (verb === "q")
    return pad(quoteGoString(String.fromCodePoint(Number(arg.value))).replace(/^"|"$/g, "'"), spec, false);
  if (verb === "U") {
    return pad(`U+${arg.value.toString(16).toUpperCase().padStart(4, "0")}`, spec, false);
  }
  if (verb === "e" || verb === "E" || verb === "f" || verb === "g" || verb === "G")
    return formatBadVerb(arg, spec);
  const base = INTEGER_BASES[verb];
  if (base === undefined) return formatBadVerb(arg, spec);
  const negative = arg.value < 0n;
  let digits = (negative ? -arg.value : arg.value).toString(base);
  if (verb === "X") digits = digits.toUpperCase();
  if (spec.precision >= 0) digits = digits.padStart(spec.precision, "0");
  if (spec.precision === 0 && arg.value === 0n) digits = "";
  let prefix = "";
  if (spec.sharp) prefix = { b: "0b", o: "0", x: "0x", X: "0X" }[verb] ?? "";
  if (verb === "O") prefix = "0o";
  const sign = negative ? "-" : spec.plus ? "+" : spec.space ? " " : "";
  return padNumber(sign, prefix + digits, spec, spec.precision < 0);
}

function formatFloatArg(arg: number, spec: Spec): string {
  const verb = spec.verb;
  let text: string;
  switch (verb) {
    case "v":
      text = formatFloat(arg, "g", spec.precision);
      break;
    case "g":
    case "G":
    case "e":
    case "E":
      text = formatFloat(arg, verb, verb === "g" || verb === "G" ? spec.precision : precisionOr6(spec));
      break;
    case "f":
    case "F":
      text = formatFloat(arg, "f", precisionOr6(spec));
      break;
    default:
      return formatBadVerb(arg, spec);
  }
  if (!Number.isFinite(arg)) {
    // Go keeps the sign of +Inf, drops zero padding, and shows NaN's sign only when asked.
    let shown = text;
    if (Number.isNaN(arg)) shown = `${spec.plus ? "+" : spec.space ? " " : ""}NaN`;
    else if (arg > 0 && spec.space && !spec.plus) shown = " Inf";
    return pad(shown, { ...spec, zero: false }, false);
  }
  const negative = text.startsWith("-");
  const sign = negative ? "-" : spec.plus ? "+" : spec.space ? " " : "";
  return padNumber(sign, negative ? text.slice(1) : text, spec, true);
}

function precisionOr6(spec: Spec): number {
  return spec.precision >= 0 ? spec.precision : 6;
}

function padNumber(sign: string, body: string, spec: Spec, zeroAllowed: boolean): string {
  if (spec.zero && zeroAllowed && !spec.minus && spec.width > 0) {
    const length = Array.from(sign + body).length;
    if (length < spec.width) return sign + "0".repeat(spec.width - length) + body;
  }
  return pad(sign + body, spec, true);
}

function pad(text: string, spec: Spec, isNumber: boolean): string {
  if (spec.width < 0) return text;
  const length = Array.from(text).length;
  if (length >= spec.width) return text;
  const fill = spec.width - length;
  if (spec.minus) return text + " ".repeat(fill);
  if (spec.zero && !isNumber) return "0".repeat(fill) + text;
  return " ".repeat(fill) + text;
}
