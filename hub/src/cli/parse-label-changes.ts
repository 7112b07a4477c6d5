import { labelValueProblem, qualifiedNameProblem } from "../fleet/label-selector.js";
import { UsageError } from "./command.js";

/** Labels to set and label keys to remove, as `kubectl label` takes them. */
export type LabelChanges = { set: Record<string, string>; remove: string[] };

/**
 * Reads `key=value` (set; the value may be empty) and `key-` (remove) arguments. Throws a
 * UsageError naming the argument when it is neither, a key or value is not a valid Kubernetes
 * label, or a key appears twice.
 */
export function parseLabelChanges(args: readonly string[], what = "label"): LabelChanges {
  const set: Record<string, string> = {};
  const remove: string[] = [];
  const seen = new Set<string>();
  for (const arg of args) {
    const equals = arg.indexOf("=");
    let key: string;
    if (equals >= 0) {
      key = arg.slice(0, equals);
      const value = arg.slice(equals + 1);
      const problem = qualifiedNameProblem(key) ?? labelValueProblem(value);
      if (problem) throw new UsageError(`${what} "${arg}": ${problem}`);
      set[key] = value;
    } else if (arg.endsWith("-")) {
      key = arg.slice(0, -1);
      const problem = qualifiedNameProblem(key);
      if (problem) throw new UsageError(`${what} "${arg}": ${problem}`);
      remove.push(key);
    } else {
      throw new UsageError(`${what} "${arg}" must look like key=value (set) or key- (remove)`);
    }
    if (seen.has(key)) throw new UsageError(`${what} key "${key}" is given twice`);
    seen.add(key);
  }
  return { set, remove };
}
