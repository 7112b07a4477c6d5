/**
 * A unified diff of two texts, line by line, with `context` unchanged lines around each change
 * (default 3). Empty when the texts are equal. Uses the LCS table, fine for manifests of a few
 * thousand lines; longer inputs fall back to replacing the whole text.
 */
export function formatUnifiedDiff(before: string, after: string, context = 3): string {
  if (before === after) return "";
  const a = splitLines(before);
  const b = splitLines(after);
  const ops = a.length * b.length > 25_000_000 ? replaceAll(a, b) : diffLines(a, b);
  return formatHunks(ops, context);
}

type Op = { type: " " | "-" | "+"; line: string; aLine: number; bLine: number };

function splitLines(text: string): string[] {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines;
}

function replaceAll(a: string[], b: string[]): Op[] {
  return [
    ...a.map((line, i) => ({ type: "-" as const, line, aLine: i, bLine: 0 })),
    ...b.map((line, i) => ({ type: "+" as const, line, aLine: a.length, bLine: i })),
  ];
}

function diffLines(a: string[], b: string[]): Op[] {
  const n = a.length;
  const m = b.length;
  // lcs[i][j] = length of the LCS of a[i..] and b[j..], flattened.
  const lcs = new Uint32Array((n + 1) * (m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * (m + 1) + j] =
        a[i] === b[j]
          ? (lcs[(i + 1) * (m + 1) + j + 1] ?? 0) + 1
          : Math.max(lcs[(i + 1) * (m + 1) + j] ?? 0, lcs[i * (m + 1) + j + 1] ?? 0);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      ops.push({ type: " ", line: a[i] as string, aLine: i++, bLine: j++ });
    } else if (i < n && (j >= m || (lcs[(i + 1) * (m + 1) + j] ?? 0) >= (lcs[i * (m + 1) + j + 1] ?? 0))) {
      // Deletions before insertions, as `diff -u` prints them.
      ops.push({ type: "-", line: a[i] as string, aLine: i++, bLine: j });
    } else {
      ops.push({ type: "+", line: b[j] as string, aLine: i, bLine: j++ });
    }
  }
  return ops;
}

function formatHunks(ops: Op[], context: number): string {
  const out: string[] = [];
  let index = 0;
  while (index < ops.length) {
    while (index < ops.length && ops[index]?.type === " ") index++;
    if (index >= ops.length) break;
    const start = Math.max(0, index - context);
    let end = index;
    // Extend the hunk while the next change is within 2*context unchanged lines.
    for (let k = index; k < ops.length; k++) {
      if (ops[k]?.type !== " ") end = k;
      else if (k - end > 2 * context) break;
    }
    const stop = Math.min(ops.length, end + context + 1);
    const hunk = ops.slice(start, stop);
    const first = hunk[0] as Op;
    const aCount = hunk.filter((o) => o.type !== "+").length;
    const bCount = hunk.filter((o) => o.type !== "-").length;
    out.push(`@@ -${first.aLine + 1},${aCount} +${first.bLine + 1},${bCount} @@`);
    for (const op of hunk) out.push(`${op.type}${op.line}`);
    index = stop;
  }
  return `${out.join("\n")}\n`;
}
