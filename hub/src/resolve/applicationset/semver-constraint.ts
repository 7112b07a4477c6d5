// Sprig's semverCompare: Masterminds/semver v3.3.0 constraints (=, !=, >, <, >=, <=, ~, ~>, ^,
// x-ranges, hyphen ranges, `,`/space for AND and `||` for OR) checked against a version.

type Version = { major: number; minor: number; patch: number; pre: string };

const VERSION =
  /^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*))?(\+([0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*))?$/;
const CV = String.raw`v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?`;
const OPS = String.raw`=||!=|>|<|>=|=>|<=|=<|~|~>|\^`;
const CONSTRAINT = new RegExp(String.raw`^\s*(${OPS})\s*(${CV})\s*$`);
const RANGE = new RegExp(String.raw`\s*(${CV})\s+-\s+(${CV})\s*`, "g");
const FIND = new RegExp(String.raw`(${OPS})\s*(${CV})`, "g");
const VALID = new RegExp(String.raw`^(\s*(${OPS})\s*(${CV})\s*)((?:\s+|,\s*)(${OPS})\s*(${CV})\s*)*$`);

function parseVersion(text: string): Version {
  const m = VERSION.exec(text);
  if (!m) throw new Error("Invalid Semantic Version");
  const pre = m[5] ?? "";
  for (const part of pre ? pre.split(".") : []) {
    if (/^[0-9]+$/.test(part) && part.length > 1 && part.startsWith("0")) {
      throw new Error("Version segment starts with 0");
    }
  }
  return {
    major: Number(m[1]),
    minor: m[2] ? Number(m[2].slice(1)) : 0,
    patch: m[3] ? Number(m[3].slice(1)) : 0,
    pre,
  };
}

function comparePrePart(s: string, o: string): number {
  if (s === o) return 0;
  if (s === "") return -1;
  if (o === "") return 1;
  const sNum = /^[0-9]+$/.test(s);
  const oNum = /^[0-9]+$/.test(o);
  if (!sNum && !oNum) return s > o ? 1 : -1;
  if (!oNum) return -1;
  if (!sNum) return 1;
  return BigInt(s) > BigInt(o) ? 1 : -1;
}

function compareVersions(v: Version, o: Version): number {
  for (const key of ["major", "minor", "patch"] as const) {
    if (v[key] !== o[key]) return v[key] < o[key] ? -1 : 1;
  }
  if (v.pre === o.pre) return 0;
  if (v.pre === "") return 1;
  if (o.pre === "") return -1;
  const sp = v.pre.split(".");
  const op = o.pre.split(".");
  for (let i = 0; i < Math.max(sp.length, op.length); i++) {
    const d = comparePrePart(sp[i] ?? "", op[i] ?? "");
    if (d !== 0) return d;
  }
  return 0;
}

type Constraint = { op: string; con: Version; dirty: boolean; minorDirty: boolean; patchDirty: boolean };

const isX = (text: string | undefined) => text === "x" || text === "X" || text === "*";

function parseConstraint(text: string): Constraint {
  if (text.length === 0) {
    return { op: "", con: parseVersion("0.0.0"), dirty: true, minorDirty: false, patchDirty: false };
  }
  const m = CONSTRAINT.exec(text);
  if (!m) throw new Error(`improper constraint: ${text}`);
  const [, op = "", , major = "", minorPart = "", patchPart = "", pre = ""] = m;
  let version = m[2] ?? "";
  let dirty = false;
  let minorDirty = false;
  let patchDirty = false;
  if (isX(major) || major === "") {
    version = `0.0.0${pre}`;
    dirty = true;
  } else if (isX(minorPart.slice(1)) || minorPart === "") {
    minorDirty = true;
    dirty = true;
    version = `${major}.0.0${pre}`;
  } else if (isX(patchPart.slice(1)) || patchPart === "") {
    dirty = true;
    patchDirty = true;
    version = `${major}${minorPart}.0${pre}`;
  }
  let con: Version;
  try {
    con = parseVersion(version);
  } catch {
    throw new Error("constraint Parser Error");
  }
  return { op, con, dirty, minorDirty, patchDirty };
}

function checkTilde(v: Version, c: Constraint): boolean {
  if (compareVersions(v, c.con) < 0) return false;
  if (c.con.major === 0 && c.con.minor === 0 && c.con.patch === 0 && !c.minorDirty && !c.patchDirty)
    return true;
  if (v.major !== c.con.major) return false;
  return v.minor === c.con.minor || c.minorDirty;
}

const CHECKS: Record<string, (v: Version, c: Constraint) => boolean> = {
  "": (v, c) => (c.dirty ? checkTilde(v, c) : compareVersions(v, c.con) === 0),
  "!=": (v, c) => {
    if (c.dirty) {
      if (v.pre !== "" && c.con.pre === "") return false;
      if (c.con.major !== v.major) return true;
      if (c.con.minor !== v.minor && !c.minorDirty) return true;
      if (c.minorDirty) return false;
      if (c.con.patch !== v.patch && !c.patchDirty) return true;
      if (c.patchDirty) {
        if (v.pre !== "" || c.con.pre !== "") return comparePrePart(v.pre, c.con.pre) !== 0;
        return false;
      }
    }
    return compareVersions(v, c.con) !== 0;
  },
  ">": (v, c) => {
    if (!c.dirty) return compareVersions(v, c.con) === 1;
    if (v.major > c.con.major) return true;
    if (v.major < c.con.major || c.minorDirty) return false;
    if (c.patchDirty) return v.minor > c.con.minor;
    return compareVersions(v, c.con) === 1;
  },
  "<": (v, c) => compareVersions(v, c.con) < 0,
  ">=": (v, c) => compareVersions(v, c.con) >= 0,
  "<=": (v, c) => {
    if (!c.dirty) return compareVersions(v, c.con) <= 0;
    if (v.major > c.con.major) return false;
    return !(v.major === c.con.major && v.minor > c.con.minor && !c.minorDirty);
  },
  "~": checkTilde,
  "^": (v, c) => {
    if (compareVersions(v, c.con) < 0) return false;
    if (c.con.major > 0 || c.minorDirty) return v.major === c.con.major;
    if (v.major > 0) return false;
    if (c.con.minor > 0 || c.patchDirty) return v.minor === c.con.minor;
    if (v.minor > 0) return false;
    return c.con.patch === v.patch;
  },
};

const OP_ALIASES: Record<string, string> = { "=": "", "=>": ">=", "=<": "<=", "~>": "~" };

function check(v: Version, c: Constraint): boolean {
  const op = OP_ALIASES[c.op] ?? c.op;
  if (v.pre !== "" && c.con.pre === "" && op !== "!=") return false;
  const fn = CHECKS[op];
  return fn ? fn(v, c) : false;
}

/** semverCompare(constraint, version): throws on a malformed constraint or version, as Sprig does. */
export function checkSemverConstraint(constraint: string, version: string): boolean {
  const rewritten = constraint.replace(
    RANGE,
    (_match, ...groups: string[]) => `>= ${groups[0]}, <= ${groups[10]} `,
  );
  const alternatives = rewritten.split("||").map((part) => {
    if (!VALID.test(part)) throw new Error(`improper constraint: ${part}`);
    const found = part.match(FIND) ?? [part];
    return found.map(parseConstraint);
  });
  const v = parseVersion(version);
  return alternatives.some((all) => all.every((c) => check(v, c)));
}
