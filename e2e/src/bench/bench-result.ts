/**
 * What every benchmark returns, how several runs become one figure (the median, with min and
 * max), and how `pnpm bench` prints the table and writes `--json`.
 *
 * JSON shape (issue 9): `{"results": [{"name", "value", "unit", "target", "ok", "limit", "ratio"}]}`,
 * `limit` and `ratio` only where a limit is measured. Each result also carries `min`, `max`,
 * `runs`, `samples`, `notes` and, where the budget has more than one figure (resolve cold and
 * after a change, agent writes and RSS), `extra` rows with their own target and `ok`.
 */

/** `<=`: the value must not exceed the target; `>=`: it must reach it. */
export type Comparison = "<=" | ">=";

export type Figure = {
  /** The median of `samples`. */
  value: number;
  min: number;
  max: number;
  samples: number[];
};

export type ExtraFigure = Figure & {
  label: string;
  unit: string;
  target?: number;
  comparison?: Comparison;
  ok: boolean;
};

export type BenchResult = Figure & {
  name: string;
  unit: string;
  target: number;
  comparison: Comparison;
  /** The value meets the target and every extra meets its own. */
  ok: boolean;
  /** The baseline measured in the same run (for example a bare grpc-js server); `ratio` = value / limit. */
  limit?: number;
  ratio?: number;
  runs: number;
  /** Scale and method, for the table and the JSON: "1,000 agents in 4 processes, 5 commits". */
  notes: string;
  extra?: ExtraFigure[];
};

/** Median, min and max of a non-empty list of samples. */
export function summarize(samples: readonly number[]): Figure {
  if (samples.length === 0) throw new Error("summarize: no samples");
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const value =
    sorted.length % 2 === 1
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { value, min: sorted[0] as number, max: sorted[sorted.length - 1] as number, samples: [...samples] };
}

/** The q-quantile (0..1) of samples, nearest-rank: p99 of 1,000 samples is the 990th smallest. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) throw new Error("quantile: no samples");
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] as number;
}

export function meets(value: number, comparison: Comparison, target: number): boolean {
  return comparison === "<=" ? value <= target : value >= target;
}

/** Builds a result from its samples; `limitSamples` (same run, same count) give `limit` and `ratio`. */
export function result(args: {
  name: string;
  unit: string;
  target: number;
  comparison?: Comparison;
  samples: readonly number[];
  limitSamples?: readonly number[];
  notes: string;
  extra?: ExtraFigure[];
}): BenchResult {
  const figure = summarize(args.samples);
  const comparison = args.comparison ?? "<=";
  const extra = args.extra ?? [];
  const out: BenchResult = {
    name: args.name,
    ...figure,
    unit: args.unit,
    target: args.target,
    comparison,
    ok: meets(figure.value, comparison, args.target) && extra.every((row) => row.ok),
    runs: args.samples.length,
    notes: args.notes,
  };
  if (args.limitSamples && args.limitSamples.length > 0) {
    const limit = summarize(args.limitSamples).value;
    out.limit = limit;
    // The ratio of the medians: both come from the same run, on the same connections.
    out.ratio = limit > 0 ? figure.value / limit : Number.POSITIVE_INFINITY;
  }
  if (extra.length > 0) out.extra = extra;
  return out;
}

export function extraFigure(args: {
  label: string;
  unit: string;
  samples: readonly number[];
  target?: number;
  comparison?: Comparison;
}): ExtraFigure {
  const figure = summarize(args.samples);
  const comparison = args.comparison ?? "<=";
  const row: ExtraFigure = {
    label: args.label,
    ...figure,
    unit: args.unit,
    ok: args.target === undefined ? true : meets(figure.value, comparison, args.target),
  };
  if (args.target !== undefined) {
    row.target = args.target;
    row.comparison = comparison;
  }
  return row;
}

/** A number for the table: three significant digits, no exponent. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 100) return Math.round(value).toLocaleString("en-US");
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  if (abs === 0) return "0";
  return value.toPrecision(2);
}

/** The table `pnpm bench` prints: one row per result and one per extra figure. */
export function renderTable(results: readonly BenchResult[]): string {
  const rows: string[][] = [["result", "median", "min", "max", "target", "limit", "ratio", "ok", "notes"]];
  for (const r of results) {
    rows.push([
      r.name,
      `${formatNumber(r.value)} ${r.unit}`,
      formatNumber(r.min),
      formatNumber(r.max),
      `${r.comparison} ${formatNumber(r.target)}`,
      r.limit === undefined ? "" : `${formatNumber(r.limit)} ${r.unit}`,
      r.ratio === undefined ? "" : `${r.ratio.toFixed(2)}x`,
      r.ok ? "yes" : "NO",
      `${r.runs} runs; ${r.notes}`,
    ]);
    for (const row of r.extra ?? []) {
      rows.push([
        `  ${row.label}`,
        `${formatNumber(row.value)} ${row.unit}`,
        formatNumber(row.min),
        formatNumber(row.max),
        row.target === undefined ? "" : `${row.comparison} ${formatNumber(row.target)}`,
        "",
        "",
        row.target === undefined ? "" : row.ok ? "yes" : "NO",
        "",
      ]);
    }
  }
  const widths = (rows[0] ?? []).map((_, c) => Math.max(...rows.map((row) => (row[c] ?? "").length)));
  return rows
    .map((row) =>
      row
        .map((cell, c) => cell.padEnd(widths[c] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** The `--json` document. */
export function toJson(results: readonly BenchResult[], meta: Record<string, unknown>): string {
  return `${JSON.stringify({ ...meta, results }, null, 2)}\n`;
}
