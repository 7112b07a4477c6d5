// node:test reporter that counts passed, failed and skipped tests (suites excluded) and writes
// them as one JSON line, so scripts/test.mjs can print one total for several runs.
export default async function* countReporter(source) {
  const counts = { passed: 0, failed: 0, skipped: 0 };
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    if (event.data.details?.type === "suite") continue;
    if (event.data.skip || event.data.todo) counts.skipped += 1;
    else if (event.type === "test:pass") counts.passed += 1;
    else counts.failed += 1;
  }
  yield `${JSON.stringify(counts)}\n`;
}
