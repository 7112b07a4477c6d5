// node:test reporter that picks out the scenarios of the reliability report (docs/reliability.md)
// and writes one JSON line per scenario: {area, file, suite, name, passed, durationMs, exercised,
// error}. A test is a scenario when an enclosing suite is named "reliability: <area>" or when the
// test itself emits the diagnostic "reliability: <area>" (call it first, so a test that fails
// early is still reported). Its other diagnostics (`t.diagnostic(...)`) say what was exercised.
const MARKER = /^reliability: (.+)$/;

export default async function* reliabilityReporter(source) {
  const stacks = new Map(); // file -> names of the running tests and suites by nesting
  const last = new Map(); // `${file}\0${nesting}` -> the entry whose diagnostics come next
  const entries = [];
  for await (const event of source) {
    const data = event.data ?? {};
    const file = data.file ?? "";
    if (event.type === "test:start") {
      const stack = stacks.get(file) ?? [];
      stack.length = data.nesting;
      stack[data.nesting] = data.name;
      stacks.set(file, stack);
    } else if ((event.type === "test:pass" || event.type === "test:fail") && data.details?.type !== "suite") {
      const ancestors = (stacks.get(file) ?? []).slice(0, data.nesting);
      const area = ancestors.map((name) => MARKER.exec(name ?? "")?.[1]).findLast(Boolean);
      const entry = {
        area,
        file,
        suite: ancestors.filter((name) => !MARKER.test(name ?? "")).join(" > "),
        name: data.name,
        passed: event.type === "test:pass" && !data.skip && !data.todo,
        skipped: Boolean(data.skip || data.todo),
        durationMs: Math.round(data.details?.duration_ms ?? 0),
        exercised: [],
        error: event.type === "test:fail" ? errorText(data.details?.error) : undefined,
      };
      entries.push(entry);
      last.set(`${file}\0${data.nesting}`, entry);
    } else if (event.type === "test:diagnostic" && file) {
      const entry = last.get(`${file}\0${data.nesting}`);
      if (!entry) continue;
      const marker = MARKER.exec(data.message ?? "");
      if (marker) entry.area = marker[1];
      else entry.exercised.push(data.message);
    }
  }
  for (const entry of entries) if (entry.area) yield `${JSON.stringify(entry)}\n`;
}

function errorText(error) {
  const cause = error?.cause ?? error;
  const text = typeof cause?.message === "string" ? cause.message : String(cause ?? "failed");
  return text.split("\n").slice(0, 3).join(" ").slice(0, 300);
}
